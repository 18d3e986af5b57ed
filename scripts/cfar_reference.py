#!/usr/bin/python3
"""Reference CA-CFAR on OpenCV's boxFilter, for scripts/bench_cfar.sh.

The same rule as sarscale's detect::Cfar (cell averaging, exponential clutter): the background
ring is the (2R+1)^2 box minus the (2g+1)^2 guard box, R = guard + background, clipped to the
scene (boxFilter with a zero constant border), counting only valid pixels (finite, >= 0); N valid
ring cells of sum S; a pixel is tested when valid with N >= min_cells (default: 1/8 of the full
ring, at least 2) and detected when x > T_N S, T_N = Pfa^(-1/N) - 1. Then 8-connected components
(cv2.connectedComponentsWithStats). Sums in float64.

Usage: cfar_reference.py --input scene.npy [--guard 4] [--background 8] [--pfa 1e-6]
                         [--repeat 1] [--threads 1] [--detections out.npy]
Prints the median time of CFAR + components (the file read not included); --detections writes
the detected pixels' flat row-major indices (int64), as cfar_bench does.
"""
import argparse
import sys
import time

import cv2
import numpy as np


def ca_cfar(x, guard, background, pfa, min_cells):
    valid = np.isfinite(x) & (x >= 0)
    values = np.where(valid, x, 0).astype(np.float64)
    counts = valid.astype(np.float64)
    outer = (2 * (guard + background) + 1,) * 2
    inner = (2 * guard + 1,) * 2

    def box(a, k):
        return cv2.boxFilter(a, -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)

    ring_sum = box(values, outer) - box(values, inner)
    cells = np.rint(box(counts, outer) - box(counts, inner))
    tested = valid & (cells >= min_cells)
    factor = np.expm1(-np.log(pfa) / np.maximum(cells, 1))
    detected = tested & (x > factor * ring_sum)
    n, _, stats, _ = cv2.connectedComponentsWithStats(detected.view(np.uint8), connectivity=8)
    return detected, n - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--guard", type=int, default=4)
    ap.add_argument("--background", type=int, default=8)
    ap.add_argument("--pfa", type=float, default=1e-6)
    ap.add_argument("--min-cells", type=int, default=-1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--detections")
    a = ap.parse_args()
    cv2.setNumThreads(a.threads)
    x = np.load(a.input)
    if x.dtype != np.float32 or x.ndim != 2:
        sys.exit("cfar_reference: expected a 2-D float32 array")
    side, guard_side = 2 * (a.guard + a.background) + 1, 2 * a.guard + 1
    full = side * side - guard_side * guard_side
    min_cells = a.min_cells if a.min_cells >= 0 else max(2, full // 8)
    seconds, cpu = [], []
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        detected, components = ca_cfar(x, a.guard, a.background, a.pfa, min_cells)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    wall, cpu_s = float(np.median(seconds)), float(np.median(cpu))
    mpix = x.size / 1e6
    print(f"OpenCV boxFilter CA-CFAR+components: {x.shape[0]}x{x.shape[1]}, guard {a.guard}, "
          f"background {a.background}, pfa {a.pfa:g}, {a.threads} thread(s): {int(detected.sum())} detections, "
          f"{components} candidates; median of {a.repeat}: {wall:.4f} s wall ({mpix / wall:.1f} Mpixel/s), "
          f"{cpu_s:.4f} s CPU ({mpix / cpu_s:.1f} Mpixel per CPU second)")
    if a.detections:
        np.save(a.detections, np.flatnonzero(detected).astype(np.int64))


if __name__ == "__main__":
    main()
