#!/bin/sh
# Peak resident memory of `gauntlet audit` on 1,000 and 10,000 MNIST test digits (FGSM at three
# budgets): the measurement behind README's "Memory" table. Two ways of giving the samples:
#   idx  the gzip-compressed IDX files with --samples N (compressed: loaded whole, then cut);
#   npy  float32 .npy files of exactly N digits (uncompressed: read a batch at a time).
#   tools/measure_memory.sh [GAUNTLET_BINARY] [MNIST_DIR]
# defaults: target/debug/gauntlet (the README's build: any `cargo test --workspace` run builds it)
# and ../shared/data/mnist (t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz).
# Needs python3 (standard library only) to write the .npy files.
set -e
BIN=${1:-target/debug/gauntlet}
DATA=${2:-../shared/data/mnist}
if [ ! -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then
  echo "no MNIST test set in $DATA (t10k-images-idx3-ubyte.gz); give its folder as the second argument" >&2
  exit 2
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# The first N test digits as float32 N×1×28×28 in [0, 1] and int64 labels (numpy's .npy v1).
python3 - "$DATA" "$OUT" <<'EOF'
import gzip, struct, sys
from array import array
data, out = sys.argv[1], sys.argv[2]
pixels = gzip.open(f"{data}/t10k-images-idx3-ubyte.gz").read()[16:]
labels = gzip.open(f"{data}/t10k-labels-idx1-ubyte.gz").read()[8:]
def npy(path, descr, shape, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join(f"{d}, " for d in shape))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        values.tofile(f)
for n in (1000, 10000):
    npy(f"{out}/x{n}.npy", "<f4", (n, 1, 28, 28), array("f", (p / 255 for p in pixels[: n * 784])))
    npy(f"{out}/y{n}.npy", "<i8", (n,), array("q", list(labels[:n])))
EOF
for N in 1000 10000; do
  /usr/bin/time -f "idx samples=$N peak_rss_kib=%M wall_s=%e" "$BIN" audit \
    --model models/mnist_cnn.onnx --inputs "$DATA/t10k-images-idx3-ubyte.gz" \
    --labels "$DATA/t10k-labels-idx1-ubyte.gz" --samples "$N" \
    --attacks fgsm --eps 0.1,0.2,0.3 --out "$OUT/idx$N" --quiet > /dev/null
done
for N in 1000 10000; do
  /usr/bin/time -f "npy samples=$N peak_rss_kib=%M wall_s=%e" "$BIN" audit \
    --model models/mnist_cnn.onnx --inputs "$OUT/x$N.npy" --labels "$OUT/y$N.npy" \
    --attacks fgsm --eps 0.1,0.2,0.3 --out "$OUT/npy$N" --quiet > /dev/null
done
# Both ways audit the same digits: the adversarial files must be the same bytes.
cmp "$OUT/idx10000/adversarial/fgsm_linf_eps0.3.npy" "$OUT/npy10000/adversarial/fgsm_linf_eps0.3.npy" \
  && echo "adversarial files of both ways identical"
