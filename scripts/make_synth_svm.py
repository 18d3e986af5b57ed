#!/usr/bin/python3
"""Deterministic synthetic binary SVM data in LIBSVM text format, for scripts/bench_cascade.sh.

  make_synth_svm.py --train N --test M --out-train FILE --out-test FILE [--dim 16] [--centres 8]
                    [--spread 1.3] [--seed 20261125]

Each class is a mixture of --centres unit-variance Gaussians in --dim dimensions whose centres
are drawn once from N(0, spread^2). The two mixtures overlap (Bayes error about 0.4% at the
defaults, measured with the true densities), so an RBF SVM needs thousands of support vectors
(bounded ones in the overlap, free ones along a curved boundary) without being hopeless.
The same seed gives the same centres; training and test rows come from separate streams, so a
larger --train does not change the test set. Labels are +1 / -1, every feature is written
(dense rows), six significant digits.
Needs numpy (Debian: python3-numpy)."""
import argparse
import sys

import numpy as np


def draw(rng, centres, n):
    y = rng.integers(0, 2, n)
    k = rng.integers(0, centres.shape[1], n)
    return centres[y, k] + rng.normal(size=(n, centres.shape[2])), np.where(y == 1, 1, -1)


def write(path, X, y):
    # One format string per row: numpy's savetxt formats whole rows, fast enough for 10^6 rows.
    fmt = "%d " + " ".join(f"{j + 1}:%.6g" for j in range(X.shape[1]))
    with open(path, "w") as out:
        np.savetxt(out, np.column_stack([y, X]), fmt=fmt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, required=True, help="training rows")
    ap.add_argument("--test", type=int, required=True, help="test rows")
    ap.add_argument("--out-train", required=True)
    ap.add_argument("--out-test", required=True)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--centres", type=int, default=8, help="Gaussians per class")
    ap.add_argument("--spread", type=float, default=1.3, help="standard deviation of the centres")
    ap.add_argument("--seed", type=int, default=20261125)
    a = ap.parse_args()
    if a.train < 1 or a.test < 1 or a.dim < 1 or a.centres < 1:
        sys.exit("make_synth_svm: --train, --test, --dim and --centres must be positive")
    centres = np.random.default_rng(a.seed).normal(0.0, a.spread, size=(2, a.centres, a.dim))
    write(a.out_train, *draw(np.random.default_rng([a.seed, 1]), centres, a.train))
    write(a.out_test, *draw(np.random.default_rng([a.seed, 2]), centres, a.test))


if __name__ == "__main__":
    main()
