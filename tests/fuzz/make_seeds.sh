#!/usr/bin/env bash
# Makes the seed files of the phoenix and hdf5 corpora with the sarscale binary: small real
# files of every kind (the fuzzer mutates their bytes; small files mutate fast, and the corpus
# stays a few hundred KiB). Deterministic: synthetic chips from fixed seeds.
# Usage: tests/fuzz/make_seeds.sh SARSCALE_BINARY [CORPUS_DIR (default: tests/fuzz/corpus)]
set -euo pipefail
sarscale="$(realpath "$1")"
corpus="$(realpath "${2:-$(dirname "$0")/corpus}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMP_NUM_THREADS=1
q=(--log-level warn)

# 12 chips of 16x16 in 3 classes; the archive keeps them at 16x16.
"$sarscale" synth --kind chips --count 12 --classes 3 --chip-size 16 --seed 1 -o chips "${q[@]}" >/dev/null
"$sarscale" ingest --input chips --output archive.h5 --chip-size 16 "${q[@]}" >/dev/null
"$sarscale" features -a archive.h5 -o features.h5 --blocks "pixels(size=4); stats" --fit-pca --pca-components 3 \
  "${q[@]}" >/dev/null
"$sarscale" features -a archive.h5 -o plain.features.h5 --blocks "stats" "${q[@]}" >/dev/null
"$sarscale" train --features features.h5 --model model.h5 "${q[@]}" >/dev/null
"$sarscale" train --features plain.features.h5 --model probability.model.h5 --probability "${q[@]}" >/dev/null
mkdir -p "$corpus/hdf5" "$corpus/phoenix"
# The files exactly as sarscale writes them (HDF5 1.10 format: superblock v3, checksummed
# metadata), which is what sarscale must read safely whatever their damage. Not h5repack'ed: a
# repacked file has version-0 metadata without checksums, where HDF5 1.10.8 itself crashes on
# some damaged attribute messages (H5A__close from H5O_attr_iterate_real; docs/user-guide.md).
for f in archive.h5 features.h5 plain.features.h5 model.h5 probability.model.h5; do
  cp "$f" "$corpus/hdf5/seed-$f"
done
# Phoenix: a chip with phase, one without (magnitude-only: the declared size holds one plane).
first="$(find chips -name '*.phx' | sort | head -1)"
cp "$first" "$corpus/phoenix/seed-chip-16x16.phx"
python3 - "$first" "$corpus/phoenix/seed-magnitude-only-16x16.phx" <<'EOF'
import re, sys
data = open(sys.argv[1], 'rb').read()
end = data.index(b'[EndofPhoenixHeader]\n') + len(b'[EndofPhoenixHeader]\n')
header, pixels = data[:end].decode('ascii'), data[end:]
rows = int(re.search(r'NumberOfRows= *(\d+)', header).group(1))
cols = int(re.search(r'NumberOfColumns= *(\d+)', header).group(1))
magnitude = pixels[:rows * cols * 4]
old = re.search(r'PhoenixSigSize= *(\d+)', header).group(1)
new = str(end + len(magnitude)).zfill(len(old))
header = header.replace('PhoenixSigSize= ' + old, 'PhoenixSigSize= ' + new)
open(sys.argv[2], 'wb').write(header.encode('ascii') + magnitude)
EOF
ls -la "$corpus/hdf5" "$corpus/phoenix"
# A header declaring the largest size (65536 x 65536, 32 GiB with phase) without the pixels: the
# reader must refuse it from the header and the file size, never allocate for it.
python3 - "$first" "$corpus/phoenix/seed-header-65536x65536-no-pixels.phx" <<'EOF2'
import re, sys
data = open(sys.argv[1], 'rb').read()
end = data.index(b'[EndofPhoenixHeader]\n') + len(b'[EndofPhoenixHeader]\n')
header = data[:end].decode('ascii')
header = re.sub(r'NumberOfRows= *\d+', 'NumberOfRows= 65536', header)
header = re.sub(r'NumberOfColumns= *\d+', 'NumberOfColumns= 65536', header)
# The header's length changes with the digits of the sizes it holds: settle both (two rounds).
for _ in range(2):
    length = len(header.encode('ascii'))
    header = re.sub(r'PhoenixHeaderLength= *\d+', 'PhoenixHeaderLength= %05d' % length, header)
    header = re.sub(r'PhoenixSigSize= *\d+', 'PhoenixSigSize= %d' % (length + 2 * 65536 * 65536 * 4), header)
open(sys.argv[2], 'wb').write(header.encode('ascii'))
EOF2
