#!/usr/bin/python3
"""Cross-validated RBF-SVM accuracy of a sarscale features file (LIBSVM grid search).

Usage:
  feature_cv.py FEATURES.h5 [--folds 5] [--log2c -1,9,2] [--log2g auto|-15,3,2]
                [--scale standard|none] [--jobs 1] [--out-dir DIR] [--json]

Reads a "sarscale-features" v1 file (/features float32 [N,D], /label int32 [N],
/flag uint8 [N], /class_names [C]) and keeps the usable rows: flag == 0, label >= 0 and
all features finite. With --scale standard (the default) every feature is z-scored over
all usable rows (mean 0, population std 1; constant features become 0). This is not
svm-scale's [-1,1] min-max scaling, and like LIBSVM's guide it scales before the folds
are cut, so the test folds share the scaling statistics. The rows are written in LIBSVM
text format (label = class index, zeros omitted) and every (C, gamma) of the grid runs
  svm-train -s 0 -t 2 -v FOLDS -c C -g G -q FILE
parsing its "Cross Validation Accuracy = X%" line. Grids are log2 begin,end,step with
the end included, as in LIBSVM's tools/grid.py; --log2g auto uses log2(1/D) + {-4,-2,0,2}.

LIBSVM's -v folds are stratified for classification: svm_cross_validation() in svm.cpp
groups the rows by class (svm_group_classes) when svm_type is C_SVC or NU_SVC and
nr_fold < l, shuffles within each class and gives fold i the slice
[i*count[c]/nr_fold, (i+1)*count[c]/nr_fold) of every class c. svm-train never seeds
rand(), so every grid point sees the same folds and reruns give the same figures.

Prints a table and the best (C, gamma, accuracy); with --json the table goes to stderr
and stdout gets one JSON line:
  {"file","rows","dim","classes","folds","best_c","best_gamma","cv_accuracy","seconds",
   "grid":[{"log2c","log2g","c","gamma","accuracy","seconds"}, ...]}
Ties go to the smaller C, then the smaller gamma. Needs numpy, h5py (Debian
python3-numpy python3-h5py) and svm-train (Debian libsvm-tools). Exit status: 0 ok,
1 svm-train failed, 2 bad usage or input.
"""
import argparse
import concurrent.futures
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ACCURACY = re.compile(r"Cross Validation Accuracy = ([0-9.]+)%")


def fail(message, status=2):
    print(f"feature_cv: {message}", file=sys.stderr)
    sys.exit(status)


def log2_range(text, what):
    """'begin,end,step' -> [begin, begin+step, ..., end] (end included, as grid.py)."""
    try:
        begin, end, step = (float(v) for v in text.split(","))
    except ValueError:
        fail(f"{what} wants begin,end,step, not {text!r}")
    if step == 0 or (end - begin) * step < 0:
        fail(f"{what} {text!r}: the step does not lead from begin to end")
    count = int(math.floor((end - begin) / step + 1e-9)) + 1
    return [begin + i * step for i in range(count)]


def load(path):
    """Usable rows of a features file: (X float64 [n,D], y int [n], class names, stats)."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        fail(f"cannot open {path}: {e}")
    with f:
        fmt = f.attrs.get("format", b"")
        fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
        if fmt != "sarscale-features":
            fail(f"{path}: format is {fmt!r}, not 'sarscale-features'")
        if int(f.attrs.get("complete", 0)) != 1:
            fail(f"{path}: not complete (the run that wrote it did not finish)")
        for name in ("features", "label", "flag", "class_names"):
            if name not in f:
                fail(f"{path}: no /{name}")
        X = f["features"][...]
        y = f["label"][...].astype(np.int64)
        flag = f["flag"][...]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["class_names"][...]]
    if X.ndim != 2 or y.shape != (X.shape[0],) or flag.shape != y.shape:
        fail(f"{path}: shapes disagree: features {X.shape}, label {y.shape}, flag {flag.shape}")
    finite = np.isfinite(X).all(axis=1)
    usable = (flag == 0) & (y >= 0) & finite
    stats = {"slots": int(X.shape[0]), "flagged": int((flag != 0).sum()),
             "unlabelled": int(((flag == 0) & (y < 0)).sum()),
             "nonfinite": int(((flag == 0) & (y >= 0) & ~finite).sum())}
    return X[usable].astype(np.float64), y[usable], names, stats


def write_libsvm(path, X, y):
    with open(path, "w") as out:
        for label, row in zip(y, X):
            nz = np.flatnonzero(row)
            out.write(str(int(label)))
            out.write("".join(f" {j + 1}:{row[j]:.7g}" for j in nz))
            out.write("\n")


def run_point(train, data, folds, log2c, log2g, g):
    c = 2.0 ** log2c
    cmd = [train, "-s", "0", "-t", "2", "-v", str(folds), "-c", repr(c), "-g", repr(g), "-q", data]
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    match = ACCURACY.search(done.stdout)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"{' '.join(cmd)} failed (status {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[:300]}")
    return {"log2c": log2c, "log2g": log2g, "c": c, "gamma": g,
            "accuracy": float(match.group(1)), "seconds": round(seconds, 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features", help="sarscale-features HDF5 file")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--log2c", default="-1,9,2", help="begin,end,step (default -1,9,2)")
    ap.add_argument("--log2g", default="auto", help="auto or begin,end,step (default auto)")
    ap.add_argument("--scale", choices=("standard", "none"), default="standard")
    ap.add_argument("--jobs", type=int, default=1, help="svm-train processes at once")
    ap.add_argument("--out-dir", help="keep the LIBSVM file here (default: a temp dir)")
    ap.add_argument("--svm-train", default=os.environ.get("SVM_TRAIN", "svm-train"))
    ap.add_argument("--json", action="store_true", help="one JSON line on stdout")
    # "--log2g -15,3,2" would read -15,3,2 as an option: glue such values on with "=".
    argv = sys.argv[1:]
    for i in range(len(argv) - 1):
        if argv[i] in ("--log2c", "--log2g") and argv[i + 1].startswith("-"):
            argv[i:i + 2] = [argv[i] + "=" + argv[i + 1], ""]
    args = ap.parse_args([a for a in argv if a != ""])
    if args.folds < 2 or args.jobs < 1:
        fail("--folds must be >= 2 and --jobs >= 1")
    train = shutil.which(args.svm_train)
    if not train:
        fail(f"{args.svm_train} not found (Debian: apt-get install libsvm-tools)")

    X, y, names, stats = load(args.features)
    rows, dim = X.shape
    classes = np.unique(y)
    if rows == 0 or dim == 0 or len(classes) < 2:
        fail(f"{args.features}: {rows} usable rows of {dim} dims in {len(classes)} classes; "
             "need two classes")
    if classes.max() >= len(names):
        fail(f"{args.features}: label {classes.max()} but only {len(names)} class names")
    smallest = int(np.bincount(y)[classes].min())
    if smallest < args.folds:
        print(f"feature_cv: warning: a class has {smallest} rows, fewer than {args.folds} folds",
              file=sys.stderr)
    if args.scale == "standard":
        std = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    log2c = log2_range(args.log2c, "--log2c")
    if args.log2g == "auto":
        gammas = [2.0 ** d / dim for d in (-4, -2, 0, 2)]
    else:
        gammas = [2.0 ** e for e in log2_range(args.log2g, "--log2g")]

    report = sys.stderr if args.json else sys.stdout
    print(f"{args.features}: {rows} usable rows of {stats['slots']} ({stats['flagged']} flagged, "
          f"{stats['unlabelled']} unlabelled, {stats['nonfinite']} non-finite), {dim} dims, "
          f"{len(classes)} classes, scale {args.scale}, {args.folds}-fold CV, "
          f"{len(log2c)}x{len(gammas)} grid, {args.jobs} job(s)", file=report)

    tmp = None
    out_dir = args.out_dir
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="feature_cv.")
        out_dir = tmp
    try:
        data = os.path.join(out_dir, os.path.splitext(os.path.basename(args.features))[0] + ".libsvm")
        write_libsvm(data, X, y)
        start = time.monotonic()
        points = [(c, math.log2(g), g) for c in log2c for g in gammas]
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_point, train, data, args.folds, *p) for p in points]
            try:
                grid = [fut.result() for fut in futures]
            except RuntimeError as e:
                for fut in futures:
                    fut.cancel()
                fail(str(e), 1)
        seconds = time.monotonic() - start
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'log2C':>6} {'log2g':>7} {'C':>9} {'gamma':>10} {'CV acc %':>9} {'s':>7}", file=report)
    for p in grid:
        print(f"{p['log2c']:6g} {p['log2g']:7.3f} {p['c']:9.4g} {p['gamma']:10.4g} "
              f"{p['accuracy']:9.4f} {p['seconds']:7.2f}", file=report)
    best = min(grid, key=lambda p: (-p["accuracy"], p["c"], p["gamma"]))
    print(f"best: C = {best['c']:g}, gamma = {best['gamma']:.6g}, CV accuracy = "
          f"{best['accuracy']:.4f}% ({len(grid)} points in {seconds:.1f} s)", file=report)
    if args.json:
        print(json.dumps({"file": args.features, "rows": rows, "dim": dim,
                          "classes": int(len(classes)), "folds": args.folds,
                          "best_c": best["c"], "best_gamma": best["gamma"],
                          "cv_accuracy": best["accuracy"], "seconds": round(seconds, 3),
                          "grid": grid}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
