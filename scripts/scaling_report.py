#!/usr/bin/env python3
"""Summary of scripts/scaling_study.sh's OUT/results.csv: speed-up and efficiency tables, the
fitted cost exponents (OUT/exponents.csv), the plot data and the gnuplot script (OUT/plots.gp).

  scripts/scaling_report.py --out OUT [--note TEXT]...

Speed-up (strong) = T(stage, smallest ranks x threads) / T(ranks x threads); efficiency = speed-up
divided by the ratio of cores asked for (ranks x threads). Weak efficiency = T(1 rank) / T(N ranks)
at the same threads, each rank holding the same number of chips. Exponent b: least-squares fit
of log(seconds) = log(a) + b log(size) over the `size` rows (1 rank x 1 thread).
Standard library only.
"""
import argparse
import csv
import math
import os
from collections import defaultdict


def fit_power(points):
    """(a, b, r2) of seconds = a * size^b, least squares on the logs; None below 2 sizes."""
    pts = [(math.log(n), math.log(s)) for n, s in points if n > 0 and s > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    b = sxy / sxx
    a = math.exp(my - b * mx)
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    ss_res = sum((y - (my + b * (x - mx))) ** 2 for x, y in pts)
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return a, b, r2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", action="append", default=[])
    opt = ap.parse_args()
    out = opt.out
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    for r in rows:
        for k in ("ranks", "threads", "size"):
            r[k] = int(r[k])
        r["seconds"] = float(r["seconds"])
    stages = list(dict.fromkeys(r["stage"] for r in rows))
    md = ["# Scaling study", ""] + [f"- {n}" for n in opt.note] + [""]

    # Strong scaling.
    pdir = os.path.join(out, "plotdata")
    os.makedirs(pdir, exist_ok=True)
    strong = [r for r in rows if r["mode"] == "strong"]
    strong_series, weak_series, size_series = [], [], []
    if strong:
        md += [f"## Strong scaling ({strong[0]['size']} chips)", "",
               "| stage | ranks x threads | seconds | speed-up | efficiency | throughput (chips/s) | peak RSS/rank (MB) |",
               "|---|---|---|---|---|---|---|"]
        for st in stages:
            rs = [r for r in strong if r["stage"] == st]
            if not rs:
                continue
            base = min(rs, key=lambda r: (r["ranks"] * r["threads"], r["ranks"]))
            by_t = defaultdict(list)
            for r in sorted(rs, key=lambda r: (r["threads"], r["ranks"])):
                sp = base["seconds"] / r["seconds"] if r["seconds"] > 0 else float("nan")
                eff = sp * base["ranks"] * base["threads"] / (r["ranks"] * r["threads"])
                md.append(f"| {st} | {r['ranks']} x {r['threads']} | {r['seconds']:.3f} | {sp:.2f} | "
                          f"{eff:.2f} | {r['throughput']} | {r['peak_rss_mb']} |")
                by_t[r["threads"]].append((r["ranks"], r["seconds"], sp, eff))
            for t, pts in by_t.items():
                name = f"strong-{st}-t{t}.dat"
                with open(os.path.join(pdir, name), "w") as f:
                    f.write("# ranks seconds speedup efficiency\n")
                    f.writelines(f"{a} {b} {c} {d}\n" for a, b, c, d in pts)
                strong_series.append((name, f"{st}, {t} thr"))
        md.append("")

    # Weak scaling.
    weak = [r for r in rows if r["mode"] == "weak"]
    if weak:
        per_rank = min(r["size"] // r["ranks"] for r in weak)
        md += [f"## Weak scaling ({per_rank} chips per rank)", "",
               "| stage | ranks x threads | chips | seconds | weak efficiency | throughput (chips/s) | peak RSS/rank (MB) |",
               "|---|---|---|---|---|---|---|"]
        for st in stages:
            by_t = defaultdict(list)
            for r in sorted((r for r in weak if r["stage"] == st), key=lambda r: (r["threads"], r["ranks"])):
                by_t[r["threads"]].append(r)
            for t, rs in by_t.items():
                base = min(rs, key=lambda r: r["ranks"])
                pts = []
                for r in rs:
                    eff = base["seconds"] / r["seconds"] if r["seconds"] > 0 else float("nan")
                    md.append(f"| {st} | {r['ranks']} x {t} | {r['size']} | {r['seconds']:.3f} | {eff:.2f} | "
                              f"{r['throughput']} | {r['peak_rss_mb']} |")
                    pts.append((r["ranks"], r["seconds"], eff))
                name = f"weak-{st}-t{t}.dat"
                with open(os.path.join(pdir, name), "w") as f:
                    f.write("# ranks seconds weak_efficiency\n")
                    f.writelines(f"{a} {b} {c}\n" for a, b, c in pts)
                weak_series.append((name, f"{st}, {t} thr"))
        md.append("")

    # Cost against size: seconds = a * size^b.
    fits = {}
    md += ["## Cost against archive size (1 rank x 1 thread): seconds = a * size^b", "",
           "| stage | sizes | seconds | b (exponent) | a | R^2 |", "|---|---|---|---|---|---|"]
    with open(os.path.join(out, "exponents.csv"), "w") as f:
        f.write("stage,sizes,exponent_b,coefficient_a,r2\n")
        for st in stages:
            rs = sorted((r for r in rows if r["mode"] == "size" and r["stage"] == st), key=lambda r: r["size"])
            if not rs:
                continue
            fit = fit_power([(r["size"], r["seconds"]) for r in rs])
            sizes = ";".join(str(r["size"]) for r in rs)
            secs = "; ".join(f"{r['seconds']:.3f}" for r in rs)
            if fit:
                a, b, r2 = fit
                fits[st] = fit
                f.write(f"{st},{sizes},{b:.3f},{a:.4g},{r2:.4f}\n")
                md.append(f"| {st} | {sizes.replace(';', ', ')} | {secs} | {b:.2f} | {a:.3g} | {r2:.3f} |")
            else:
                f.write(f"{st},{sizes},nan,nan,nan\n")
                md.append(f"| {st} | {sizes} | {secs} | n/a (one size) | | |")
            name = f"size-{st}.dat"
            with open(os.path.join(pdir, name), "w") as g:
                g.write("# size seconds\n")
                g.writelines(f"{r['size']} {r['seconds']}\n" for r in rs)
            size_series.append((name, st))
    md.append("")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md))

    # gnuplot script: PNGs beside the CSV.
    gp = ["# Written by scripts/scaling_report.py; run from OUT: gnuplot plots.gp",
          "set terminal pngcairo size 900,600 noenhanced", "set grid", "set key outside right",
          "set xlabel 'MPI ranks'"]

    def plot(png, title, ylabel, series, col, extra=None, logy=False):
        if not series:
            return
        gp.extend([f"set output '{png}'", f"set title '{title}'", f"set ylabel '{ylabel}'",
                   "set logscale x 2", "set logscale y" if logy else "unset logscale y"])
        parts = [f"'plotdata/{n}' using 1:{col} with linespoints title '{t}'" for n, t in series]
        if extra:
            parts.insert(0, extra)
        gp.append("plot " + ", \\\n     ".join(parts))

    plot("strong_time.png", "Strong scaling: time", "seconds", strong_series, 2, logy=True)
    plot("strong_speedup.png", "Strong scaling: speed-up over the smallest run", "speed-up",
         strong_series, 3, extra="x with lines dt 2 lc 'black' title 'ideal (1 thread)'")
    plot("strong_efficiency.png", "Strong scaling: parallel efficiency", "speed-up / (ranks x threads)",
         strong_series, 4, extra="1 with lines dt 2 lc 'black' title 'ideal'")
    plot("weak_time.png", "Weak scaling: time (chips per rank fixed)", "seconds", weak_series, 2, logy=True)
    plot("weak_efficiency.png", "Weak scaling: efficiency T(1 rank) / T(N ranks)", "efficiency",
         weak_series, 3, extra="1 with lines dt 2 lc 'black' title 'ideal'")
    if size_series:
        gp.extend(["set output 'size_loglog.png'", "set title 'Cost against archive size (1 rank x 1 thread)'",
                   "set xlabel 'chips'", "set ylabel 'seconds'", "set logscale xy"])
        parts = []
        for i, (n, st) in enumerate(size_series, 1):
            parts.append(f"'plotdata/{n}' using 1:2 with points pt 7 lc {i} title '{st}'")
            if st in fits:
                a, b, _ = fits[st]
                parts.append(f"{a:.6g} * x**{b:.4f} with lines lc {i} dt 2 title 'fit b = {b:.2f}'")
        gp.append("plot " + ", \\\n     ".join(parts))
    with open(os.path.join(out, "plots.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")


if __name__ == "__main__":
    main()
