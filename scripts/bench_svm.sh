#!/usr/bin/env bash
# sarscale's SVM against LIBSVM's svm-train / svm-predict (Debian libsvm-tools), side by side
# in one run: same data, same C, gamma, eps (1e-3) and cache size (-m 200), single rank.
#
#   scripts/bench_svm.sh [--reps 3] [--sets "mstar ijcnn1 a9a"] [--threads 2] [--dir DIR]
#
# Sets: mstar  = ../shared/reference/libsvm/mstar10_pca50.{train,val}, -c 10 -g 0.02 (10 classes)
#       ijcnn1 = ../shared/data/libsvm-benchmarks/ijcnn1{,.t}.gz, -c 32 -g 2
#       a9a    = ../shared/data/libsvm-benchmarks/a9a{,.t}.gz, -c 1 -g 0.05 (sparse: 14 of 123 nonzero)
#       w8a    = ../shared/data/libsvm-benchmarks/w8a{,.t}.gz, -c 1 -g 1/300 (sparse: 12 of 300 nonzero)
# Each figure is the median wall time of --reps runs (the two tools alternate, so machine noise
# hits both). Prints one markdown row per set: times, ratios, test accuracies.
set -euo pipefail
source "$(dirname "$0")/env.sh"

reps=3; sets="mstar ijcnn1 a9a"; threads=$(nproc); dir="$SARSCALE_ROOT/out/bench-svm"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --sets) sets="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) echo "usage: $0 [--reps N] [--sets \"mstar ijcnn1 a9a\"] [--threads N] [--dir DIR]" >&2; exit 2 ;;
  esac
done
"$SARSCALE_ROOT/scripts/install-deps.sh" --with-tools >/dev/null
"$SARSCALE_ROOT/scripts/build.sh" >/dev/null
shared="$SARSCALE_ROOT/../shared"
[[ -d "$shared" ]] || { echo "$shared is absent: the benchmark needs its data" >&2; exit 2; }
mkdir -p "$dir"

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
accuracy() { grep -o 'Accuracy = [0-9.]*%' | grep -o '[0-9.]*'; }

echo "| data | parameters | svm-train s | sarscale train s | train ratio | svm-predict s | sarscale predict s | predict speed-up | LIBSVM accuracy | sarscale accuracy |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for set in $sets; do
  case "$set" in
    mstar) train="$shared/reference/libsvm/mstar10_pca50.train"; test="$shared/reference/libsvm/mstar10_pca50.val"
           c=10; g=0.02 ;;
    ijcnn1|a9a|w8a)
      for f in "$set" "$set.t"; do
        [[ -f "$dir/$f" ]] || zcat "$shared/data/libsvm-benchmarks/$f.gz" >"$dir/$f"
      done
      train="$dir/$set"; test="$dir/$set.t"
      case "$set" in ijcnn1) c=32; g=2 ;; a9a) c=1; g=0.05 ;; w8a) c=1; g=0.0033333333333333335 ;; esac ;;
    *) echo "unknown set $set" >&2; exit 2 ;;
  esac
  lt=(); st=(); lp=(); sp=()
  for ((r = 0; r < reps; r++)); do
    t0=$(now); svm-train -q -s 0 -t 2 -c "$c" -g "$g" -e 0.001 -m 200 "$train" "$dir/$set.libsvm.model"; t1=$(now)
    lt+=("$(elapsed "$t0" "$t1")")
    t0=$(now)
    OMP_NUM_THREADS="$threads" "$SARSCALE_BIN" train --data "$train" --model "$dir/$set.sarscale.h5" --C "$c" \
      --gamma "$g" --eps 0.001 --cache-mb 200 --threads "$threads" --log-level warn >"$dir/$set.train.json" 2>/dev/null
    t1=$(now); st+=("$(elapsed "$t0" "$t1")")
    t0=$(now); lacc=$(svm-predict "$test" "$dir/$set.libsvm.model" "$dir/$set.libsvm.pred" | accuracy); t1=$(now)
    lp+=("$(elapsed "$t0" "$t1")")
    t0=$(now)
    sacc=$("$SARSCALE_BIN" predict --data "$test" --model "$dir/$set.sarscale.h5" --output "$dir/$set.sarscale.pred" \
      --threads "$threads" --log-level warn | accuracy)
    t1=$(now); sp+=("$(elapsed "$t0" "$t1")")
  done
  LT=$(printf '%s\n' "${lt[@]}" | median); ST=$(printf '%s\n' "${st[@]}" | median)
  LP=$(printf '%s\n' "${lp[@]}" | median); SP=$(printf '%s\n' "${sp[@]}" | median)
  printf '| %s | -c %s -g %s -m 200 | %.2f | %.2f | %.2f | %.2f | %.2f | %.1fx | %s%% | %s%% |\n' \
    "$set" "$c" "$g" "$LT" "$ST" "$(awk -v a="$ST" -v b="$LT" 'BEGIN { print a / b }')" "$LP" "$SP" \
    "$(awk -v a="$LP" -v b="$SP" 'BEGIN { print a / b }')" "$lacc" "$sacc"
done
echo
echo "machine: $(nproc) cores, $(uname -r); sarscale threads: $threads; reps: $reps (medians)"
