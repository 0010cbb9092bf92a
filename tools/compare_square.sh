#!/usr/bin/env bash
# Square Attack query efficiency: gauntlet vs ART and torchattacks on the same MNIST CNN and
# samples (L∞ ε = 0.3, 5,000 queries). Writes docs/square-queries.md.
# Needs the venv of tools/requirements.txt (.venv) with adversarial-robustness-toolbox.
#
# Usage: tools/compare_square.sh [--n N] [--skip-reference]
set -euo pipefail
cd "$(dirname "$0")/.."
n=500
run_reference=1
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n="$2"; shift 2 ;;
    --skip-reference) run_reference=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
mkdir -p out
cargo build -q -p gauntlet-cli
start=$(date +%s.%N)
target/debug/gauntlet audit --model models/mnist_cnn.onnx --black-box --inputs data/mnist-demo/x.npy \
  --labels data/mnist-demo/y.npy --samples "$n" --eps 0.3 --attacks square --queries 5000 --seed 0 \
  --out out/square-gauntlet --fresh --quiet --no-diagnostics
end=$(date +%s.%N)
echo "$end - $start" | bc > out/square-gauntlet/wall_seconds.txt
if [ "$run_reference" = 1 ]; then
  .venv/bin/python tools/compare_square.py --n "$n" --out out/square_reference.json
fi
.venv/bin/python - <<'PY'
import json, platform, os
g = json.load(open("out/square-gauntlet/report.json"))
q = [e for e in g["query_efficiency"] if e["attack"] == "square"][0]
ref = json.load(open("out/square_reference.json"))
n = ref["n"]
assert g["samples"] == n, (g["samples"], n)
wall = float(open("out/square-gauntlet/wall_seconds.txt").read())
rows = [("gauntlet " + g["manifest"]["gauntlet_version"], q["attacked"], q["successful"], q["median_queries"], q["mean_queries"], g["seconds"])]
for name in ("torchattacks", "art"):
    t = ref["tools"].get(name)
    if t:
        rows.append((f"{name} {t['version']}", t["attacked"], t["successful_within_budget"], t["median_queries"], t["mean_queries"], t["seconds"]))
art = ref["tools"].get("art")
out = ["# Square Attack: queries to success, gauntlet vs ART and torchattacks\n",
       f"The embedded MNIST CNN (`models/mnist_cnn.onnx`; the same network as `models/mnist_cnn.pt`), the first "
       f"**{n}** digits of `data/mnist-demo`, L∞ **ε = 0.3**, a budget of **5,000 queries** per sample, p_init 0.8, "
       "one restart; only correctly classified samples are attacked. A query is one sample evaluated by the model, "
       "counted where it happens: gauntlet counts what its Square sends (`--black-box`: the model is reached by "
       "queries only); torchattacks reports its own per-sample count (one evaluation per iteration, as the "
       "reference implementation); ART is run one sample at a time with the network wrapped in a counter, and "
       "evaluates the model twice per iteration (the loss, then the adversarial check) — both are charged.\n",
       "| tool | attacked | broken within 5,000 queries | success | median queries (broken) | mean queries (broken) | seconds |",
       "|---|---|---|---|---|---|---|"]
for name, att, ok, med, mean, secs in rows:
    out.append(f"| {name} | {att} | {ok} | {100 * ok / att:.1f} % | {med:.0f} | {mean:.1f} | {secs:.1f} |")
g_med = q["median_queries"]
if art and art["median_queries"]:
    ratio = g_med / art["median_queries"]
    out.append("")
    out.append(f"gauntlet's median is **{ratio:.2f} × ART's** (target ≤ 0.7). ART's median in *iterations* is "
               f"{art['median_iterations_of_successes']:.0f}; counted in iterations instead of model evaluations, "
               f"the ratio would be {g_med / art['median_iterations_of_successes']:.2f}.")
t = ref["tools"].get("torchattacks")
if t and t["median_queries"]:
    out.append(f"Against torchattacks (the reference AutoAttack code path): {g_med / t['median_queries']:.2f} ×.")
out.append("")
out.append("Seconds are wall time of the attack on the shared 2-core machine (ART's per-sample runs ran next to other "
           "work) and are indicative only; ART's include one `generate` call per sample. gauntlet: dev profile.")
out.append("")
out.append(f"Reproduce: `tools/compare_square.sh --n {n}` (Python side: `tools/compare_square.py`; torch "
           f"{ref['torch_version']}, Python {ref['python_version']}, {platform.platform()}).")
os.makedirs("docs", exist_ok=True)
open("docs/square-queries.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
