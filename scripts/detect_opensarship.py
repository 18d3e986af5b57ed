#!/usr/bin/env python3
"""Scores `sarscale detect` on OpenSARShip patches (docs/performance.md, "Detection").

Every OpenSARShip patch is cut around one AIS-matched ship, so the ship lies near the patch
centre. A patch counts as found when a detection (any candidate of --prescreen-only, or a
declared target) lies within RADIUS pixels of the centre ((rows/2, cols/2) in the r + 0.5
pixel convention of detections.csv). Every other detection of the patch is reported as an
"other detection": some are false alarms, some other ships or ship parts (AIS lists one ship
per patch, not every ship in it), so that count is an upper bound on false alarms.

Usage: detect_opensarship.py DETECT_OUTPUT [--radius 10] [--json OUT.json]
Reads DETECT_OUTPUT/detections.csv and DETECT_OUTPUT/summary.json (the patches' sizes).
"""
import argparse
import csv
import json
import math
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("detect_output")
    ap.add_argument("--radius", type=float, default=10.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    summary = json.load(open(os.path.join(a.detect_output, "summary.json")))
    scenes = {s["scene"]: s for s in summary["per_scene"] if "rejected" not in s}
    dets = {}
    with open(os.path.join(a.detect_output, "detections.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["target"] != "1":
                continue
            dets.setdefault(row["scene"], []).append((float(row["row"]), float(row["col"])))
    found = others = 0
    misses = []
    for scene, s in sorted(scenes.items()):
        cr, cc = s["rows"] / 2.0, s["cols"] / 2.0
        near = [math.hypot(r - cr, c - cc) for r, c in dets.get(scene, [])]
        hit = any(d <= a.radius for d in near)
        found += hit
        # Detections beyond the radius; with a hit, the nearest one is the ship.
        others += len(near) - (1 if hit else 0)
        if not hit:
            misses.append(os.path.basename(scene))
    n = len(scenes)
    result = {
        "patches": n,
        "rejected": len(summary["rejected"]),
        "found": found,
        "found_rate": found / n if n else 0.0,
        "other_detections": others,
        "other_per_patch": others / n if n else 0.0,
        "radius_px": a.radius,
        "misses": misses,
    }
    print(f"OpenSARShip: ship within {a.radius:g} px of the centre in {found}/{n} patches "
          f"({100.0 * result['found_rate']:.1f}%); {others} other detections ({result['other_per_patch']:.2f} per patch); "
          f"{result['rejected']} inputs rejected")
    if a.json:
        json.dump(result, open(a.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
