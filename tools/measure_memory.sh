#!/bin/sh
# Peak resident memory of `gauntlet audit` on 1,000 and 10,000 MNIST test digits (FGSM at three
# budgets): the measurement behind README's "Memory" table.
#   tools/measure_memory.sh [GAUNTLET_BINARY] [MNIST_DIR]
# defaults: target/debug/gauntlet (build it with `cargo build -p gauntlet-cli` or any test run)
# and ../shared/data/mnist (t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz).
set -e
BIN=${1:-target/debug/gauntlet}
DATA=${2:-../shared/data/mnist}
if [ ! -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then
  echo "no MNIST test set in $DATA (t10k-images-idx3-ubyte.gz); give its folder as the second argument" >&2
  exit 2
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for N in 1000 10000; do
  /usr/bin/time -f "samples=$N peak_rss_kib=%M wall_s=%e" "$BIN" audit --model models/mnist_cnn.onnx \
    --inputs "$DATA/t10k-images-idx3-ubyte.gz" --labels "$DATA/t10k-labels-idx1-ubyte.gz" \
    --samples "$N" --attacks fgsm --eps 0.1,0.2,0.3 --out "$OUT/$N" --quiet > /dev/null
done
