#!/usr/bin/env python3
"""The leave-one-scene-out table of scripts/opensarship_study.sh (standard library only).

Usage: opensarship_table.py STUDY_DIR [--json OUT.json]
       opensarship_table.py --summary STUDY_DIR...   (one row per configuration, from results.json)

STUDY_DIR is what the study wrote for one configuration:
  scenes/<scene>.json           `sarscale info --json` of the scene's own archive (its classes)
  loso/<scene>/report/predictions.csv   the split that tests on <scene> (trained on the others)
  cv.json                       optional: the train stage's JSON line on every scene (random folds)
Prints a Markdown table: per split the test chips per class, the chips evaluated and flagged,
accuracy and macro-F1, and beside them the majority-class baseline (every test chip predicted as
the training split's most frequent class; ties: the first class in sorted order); then the pooled
figures over every split's predictions. Macro-F1 averages the F1 of the classes present in the
split's truth or predictions (scikit-learn's f1_score(average='macro')). Flagged chips (no usable
features, e.g. no ship found) are not evaluated; they are counted, and a second pooled accuracy
counts them as errors.
"""
import csv
import json
import os
import sys


def macro_f1(truth, predicted):
    classes = sorted(set(truth) | set(predicted))
    if not classes:
        return 0.0
    total = 0.0
    for c in classes:
        tp = sum(1 for t, p in zip(truth, predicted) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted) if t == c and p != c)
        total += 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return total / len(classes)


def accuracy(truth, predicted):
    return sum(1 for t, p in zip(truth, predicted) if t == p) / len(truth) if truth else 0.0


def majority(counts):
    best = max(counts.values())
    return sorted(c for c, n in counts.items() if n == best)[0]


def read_split(path):
    truth, predicted, flagged = [], [], 0
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] == "evaluated":
                truth.append(row["true_class"])
                predicted.append(row["predicted_class"])
            elif row["status"] == "flagged chip":
                flagged += 1
    return truth, predicted, flagged


def summary(dirs):
    print("| configuration | scenes | chips | LOSO pooled accuracy | majority baseline | macro-F1 | baseline macro-F1 "
          "| random CV (optimistic) |")
    print("|---|---|---|---|---|---|---|---|")
    for d in dirs:
        with open(os.path.join(d, "results.json")) as f:
            r = json.load(f)
        p, cv = r["pooled"], r["cv"]
        print("| %s | %d | %d | %.1f%% (%d) | %.1f%% (%d) | %.3f | %.3f | %s |" % (
            os.path.basename(os.path.normpath(d)), len(r["splits"]), p["evaluated"], 100 * p["accuracy"],
            round(p["accuracy"] * p["evaluated"]), 100 * p["baseline_accuracy"],
            round(p["baseline_accuracy"] * p["evaluated"]), p["macro_f1"], p["baseline_macro_f1"],
            "%.1f%%" % (100 * cv["cv_accuracy"]) if cv else "-"))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--summary":
        summary(sys.argv[2:])
        return
    study = sys.argv[1]
    json_out = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    scenes = {}
    for name in sorted(os.listdir(os.path.join(study, "scenes"))):
        if name.endswith(".json") and not name.endswith(".ingest.json"):
            with open(os.path.join(study, "scenes", name)) as f:
                info = json.load(f)
            scenes[name[:-5]] = {c: n for c, n in info["classes"].items() if n > 0}
    classes = sorted({c for counts in scenes.values() for c in counts})
    rows, pooled_t, pooled_p, pooled_b, pooled_flagged = [], [], [], [], 0
    for scene in sorted(scenes):
        path = os.path.join(study, "loso", scene, "report", "predictions.csv")
        if not os.path.exists(path):
            continue
        train = {}
        for other, counts in scenes.items():
            if other != scene:
                for c, n in counts.items():
                    train[c] = train.get(c, 0) + n
        truth, predicted, flagged = read_split(path)
        base = majority(train)
        baseline = [base] * len(truth)
        rows.append({"scene": scene, "test": {c: truth.count(c) for c in classes}, "evaluated": len(truth),
                     "flagged": flagged, "accuracy": accuracy(truth, predicted), "macro_f1": macro_f1(truth, predicted),
                     "majority_class": base, "baseline_accuracy": accuracy(truth, baseline),
                     "baseline_macro_f1": macro_f1(truth, baseline)})
        pooled_t += truth
        pooled_p += predicted
        pooled_b += baseline
        pooled_flagged += flagged
    pooled = {"evaluated": len(pooled_t), "flagged": pooled_flagged, "accuracy": accuracy(pooled_t, pooled_p),
              "accuracy_flagged_as_errors": (accuracy(pooled_t, pooled_p) * len(pooled_t) /
                                             max(1, len(pooled_t) + pooled_flagged)),
              "macro_f1": macro_f1(pooled_t, pooled_p), "baseline_accuracy": accuracy(pooled_t, pooled_b),
              "baseline_macro_f1": macro_f1(pooled_t, pooled_b),
              "test": {c: pooled_t.count(c) for c in classes}}
    cv = None
    if os.path.exists(os.path.join(study, "cv.json")):
        with open(os.path.join(study, "cv.json")) as f:
            cv = json.load(f)

    short = lambda s: s[7:32] if s.startswith("S1") and len(s) > 40 else s  # product, mode, start time
    head = "| test scene | " + " | ".join(classes) + " | evaluated | flagged | accuracy | macro-F1 | majority (train) " \
           "| baseline accuracy | baseline macro-F1 |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        print("| %s | %s | %d | %d | %.1f%% | %.3f | %s | %.1f%% | %.3f |" % (
            short(r["scene"]), " | ".join(str(r["test"][c]) for c in classes), r["evaluated"], r["flagged"],
            100 * r["accuracy"], r["macro_f1"], r["majority_class"], 100 * r["baseline_accuracy"],
            r["baseline_macro_f1"]))
    print("| **pooled** | %s | %d | %d | **%.1f%%** | **%.3f** | | %.1f%% | %.3f |" % (
        " | ".join(str(pooled["test"][c]) for c in classes), pooled["evaluated"], pooled["flagged"],
        100 * pooled["accuracy"], pooled["macro_f1"], 100 * pooled["baseline_accuracy"], pooled["baseline_macro_f1"]))
    if pooled["flagged"]:
        print("\nPooled accuracy counting the %d flagged chips as errors: %.1f%%" % (
            pooled["flagged"], 100 * pooled["accuracy_flagged_as_errors"]))
    if cv:
        print("\nOptimistic (random stratified %s-fold CV over the chips of every scene, best grid point): %.1f%% "
              "(C = %g, gamma = %g, %d chips)" % (cv.get("folds", "k"), 100 * cv["cv_accuracy"], cv["C"], cv["gamma"],
                                                   cv["cv_rows"]))
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"splits": rows, "pooled": pooled, "cv": cv}, f, indent=1)


if __name__ == "__main__":
    main()
