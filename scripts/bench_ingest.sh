#!/usr/bin/env bash
# Ingest throughput against the disk's own bandwidth, measured side by side in one run.
#
#   scripts/bench_ingest.sh [--gb 2.2] [--ranks "1 2"] [--reps 3] [--dir DIR] [--keep]
#
# 1. synthesise >= 2 GB of 128x128 Phoenix chips (magnitude + phase);
# 2. measure the disk with dd: sequential write (conv=fdatasync) of as many bytes of random
#    data (staged in /dev/shm: virtual disks may short-cut all-zero writes from /dev/zero),
#    and sequential read of that file;
# 3. measure a plain copy of the same chip files (16 parallel readers, cat into files, sync):
#    the least disk work any ingest must do, reading every byte and writing it once;
# 4. ingest the chips at each rank count; the time includes syncing the archive to disk.
# Page caches are dropped before every measurement when the machine allows it (root), so
# reads come from the disk. Each figure is the median of --reps runs (virtual disks are
# noisy). Prints a table and the markdown rows for docs/performance.md.
set -euo pipefail
source "$(dirname "$0")/env.sh"

gb=2.2; ranks="1 2"; reps=3; dir="$SARSCALE_ROOT/out/bench-ingest"; keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gb) gb="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--gb N] [--ranks \"1 2\"] [--reps N] [--dir DIR] [--keep]" >&2; exit 2 ;;
  esac
done
"$SARSCALE_ROOT/scripts/build.sh" >/dev/null
mkdir -p "$dir"

drop_caches() {
  sync
  if [[ -w /proc/sys/vm/drop_caches ]] && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    cache="dropped"
  else
    cache="warm (cannot drop caches: not root)"
  fi
}
now() { date +%s.%N; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }

chip_bytes=133048   # 128x128 magnitude + phase + a ~1 KB header
count=$(awk -v g="$gb" -v c="$chip_bytes" 'BEGIN { printf "%d", g * 1e9 / c + 0.999 }')
echo "== synthesising $count Phoenix chips (~$gb GB) in $dir/chips" >&2
rm -rf "$dir/chips"
t0=$(now)
sarscale_mpirun 2 "$SARSCALE_BIN" synth --kind chips --out "$dir/chips" --count "$count" --classes 10 --seed 7 \
  --log-level warn >/dev/null
t1=$(now)
input_bytes=$(du -sb "$dir/chips" | cut -f1)
echo "   synth: $(mbps "$input_bytes" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')") MB/s" >&2

echo "== disk bandwidth (dd, $((input_bytes / 1048576)) MiB of random data, median of $reps)" >&2
blocks=$((input_bytes / 4194304 + 1))
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# dd prints "N bytes (...) copied, S s, R MB/s": recompute from bytes and seconds for precision.
dd_mbps() { tail -1 | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i-1); print $1 / 1e6 / s }'; }
shm=$(mktemp -p /dev/shm sarscale-dd.XXXXXX)
trap 'rm -f "$shm"' EXIT
head -c $((blocks * 4194304)) /dev/urandom > "$shm"
w=(); r=()
for ((k = 0; k < reps; k++)); do
  drop_caches
  w+=("$(dd if="$shm" of="$dir/dd.bin" bs=4M conv=fdatasync 2>&1 | dd_mbps)")
  drop_caches
  r+=("$(dd if="$dir/dd.bin" of=/dev/null bs=4M 2>&1 | dd_mbps)")
  rm -f "$dir/dd.bin"
done
rm -f "$shm"
write_mbps=$(printf '%s\n' "${w[@]}" | median); read_mbps=$(printf '%s\n' "${r[@]}" | median)
echo "   dd write $write_mbps MB/s (runs: ${w[*]}), dd read $read_mbps MB/s (runs: ${r[*]}), caches $cache" >&2

echo "== plain copy of the chip files (median of $reps)" >&2
c=()
for ((k = 0; k < reps; k++)); do
  mkdir -p "$dir/copy"
  drop_caches
  t0=$(now)
  find "$dir/chips" -type f -print0 | xargs -0 -P 16 -n 256 sh -c 'cat "$@" > "$0/part.$$"' "$dir/copy"
  sync "$dir"/copy/part.*
  t1=$(now)
  c+=("$(mbps "$input_bytes" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')")")
  rm -rf "$dir/copy"
done
copy_mbps=$(printf '%s\n' "${c[@]}" | median)
echo "   copy $copy_mbps MB/s (runs: ${c[*]})" >&2

printf "\n%-6s %10s %10s %12s %14s %10s\n" ranks seconds "MB/s" "of dd write" "of dd read" "of copy"
rows=()
for np in $ranks; do
  times=()
  for ((k = 0; k < reps; k++)); do
    rm -f "$dir/archive.h5"
    drop_caches
    t0=$(now)
    sarscale_mpirun "$np" "$SARSCALE_BIN" ingest --input "$dir/chips" --output "$dir/archive.h5" --log-level warn >/dev/null
    sync "$dir/archive.h5"   # like dd's conv=fdatasync: the data are on disk when the clock stops
    t1=$(now)
    times+=("$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')")
  done
  secs=$(printf '%s\n' "${times[@]}" | median)
  rate=$(mbps "$input_bytes" "$secs")
  fw=$(awk -v a="$rate" -v b="$write_mbps" 'BEGIN { printf "%.2f", a / b }')
  fr=$(awk -v a="$rate" -v b="$read_mbps" 'BEGIN { printf "%.2f", a / b }')
  fc=$(awk -v a="$rate" -v b="$copy_mbps" 'BEGIN { printf "%.2f", a / b }')
  printf "%-6s %10.2f %10s %12s %14s %10s   (runs: %s)\n" "$np" "$secs" "$rate" "$fw" "$fr" "$fc" "${times[*]}"
  rows+=("| $np | $(printf %.2f "$secs") | $rate | $fw | $fr | $fc |")
done

cat <<MD

Markdown for docs/performance.md ($(date -u +%Y-%m-%d), $(nproc) cores, $((input_bytes / 1000000)) MB of chips, caches $cache):
| ranks | seconds | ingest MB/s | fraction of dd write ($write_mbps MB/s) | fraction of dd read ($read_mbps MB/s) | fraction of plain copy ($copy_mbps MB/s) |
|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")
MD
[[ $keep -eq 1 ]] || rm -rf "$dir/chips" "$dir/archive.h5"
