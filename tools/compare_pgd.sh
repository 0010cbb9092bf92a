#!/usr/bin/env bash
# gauntlet's PGD-40 against torchattacks' PGD on the same model, samples and settings
# (L∞, ε ∈ {0.1, 0.3}, step ε/4, random start). Needs the venv of tools/requirements.txt.
# Usage: tools/compare_pgd.sh [N]   (default 1000 samples)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
mkdir -p out
cargo run -q -p gauntlet-cli -- audit --model models/mnist_cnn.onnx \
  --inputs data/mnist-demo/x.npy --labels data/mnist-demo/y.npy --samples "$n" \
  --norm linf --eps 0.1,0.3 --attacks pgd --steps 40 --rel-step 0.25 --batch-size 256 \
  --seed 0 --out out/compare-gauntlet --quiet
.venv/bin/python tools/compare_torchattacks.py --n "$n" --eps 0.1 0.3 --steps 40 \
  --out out/torchattacks_pgd.json > /dev/null
python3 - <<'PY'
import json
g = json.load(open("out/compare-gauntlet/report.json"))
t = json.load(open("out/torchattacks_pgd.json"))
print(f"samples {g['samples']}, clean accuracy gauntlet {g['clean_accuracy']:.3f} / torchattacks {t['clean_accuracy']:.3f}")
print("| ε | gauntlet robust acc | torchattacks robust acc | Δ (points) | gauntlet s | torchattacks s |")
print("|---|---|---|---|---|---|")
for r in t["results"]:
    gr = next(x for x in g["results"] if abs(x["eps"] - r["eps"]) < 1e-6)
    print(f"| {r['eps']} | {gr['robust_accuracy']*100:.1f} % | {r['robust_accuracy']*100:.1f} % | "
          f"{(gr['robust_accuracy'] - r['robust_accuracy'])*100:+.1f} | {gr['seconds']:.1f} (both ε) | {r['wall_time_s']:.1f} |")
PY
