#!/usr/bin/env bash
# Same-run comparison of gauntlet `audit --attacks auto` with torchattacks
# AutoAttack(version='standard') on one model and norm: the two tools run one after the other
# (never at the same time: torch's thread pool collapses when it shares the cores), on the same
# first N digits of data/mnist-demo, seed 0. Prints a Markdown table of robust accuracy and wall
# time per ε, and the load average around each run (run it on an otherwise idle machine).
# Needs the venv of tools/requirements.txt (.venv).
#
# Usage: tools/time_autoattack.sh N MODEL NORM [OUT]
#   N      samples (the issue's comparison: 1000)
#   MODEL  mnist_cnn or mnist_cnn_adv (models/MODEL.onnx and models/MODEL.pt)
#   NORM   linf (ε 0.1, 0.2, 0.3) or l2 (ε 1.0, 2.0)
#   OUT    output folder (default out/timing)
# Environment: REFERENCE_SUITE (default standard; standard100 = the same torchattacks ensemble
#   with the original AutoAttack's 100 iterations; original = the original AutoAttack code,
#   pyautoattack), GAUNTLET (binary; default: built from this checkout).
# Both wall time and CPU time (user + system over all threads, the issue's measure) are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: tools/time_autoattack.sh N MODEL NORM [OUT]}
model=${2:?model}
norm=${3:?norm}
out=${4:-out/timing}
suite=${REFERENCE_SUITE:-standard}
case "$norm" in
  linf) eps="0.1 0.2 0.3" ;;
  l2) eps="1.0 2.0" ;;
  *) echo "NORM must be linf or l2" >&2; exit 2 ;;
esac
mkdir -p "$out"
if [ -z "${GAUNTLET:-}" ]; then
  cargo build -q -p gauntlet-cli
  cp target/debug/gauntlet "$out/gauntlet"
  GAUNTLET="$out/gauntlet"
fi
g_dir="$out/g-$model-$norm-$n"
t_json="$out/t-$suite-$model-$norm-$n.json"
load() { cut -d' ' -f1 /proc/loadavg; }

# CPU seconds (user + system, all threads) of a command, written to the file named first.
cpu_of() {
  python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[2:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime:.1f}\n")
sys.exit(rc)' "$@"
}

load_before_g=$(load)
start=$(date +%s.%N)
cpu_of "$out/cpu-g" "$GAUNTLET" audit --model "models/$model.onnx" --inputs data/mnist-demo/x.npy --labels data/mnist-demo/y.npy \
  --samples "$n" --norm "$norm" --eps "${eps// /,}" --attacks auto --seed 0 --out "$g_dir" --quiet --fresh
g_seconds=$(echo "$(date +%s.%N) - $start" | bc)
load_after_g=$(load)

if [ "$norm" = linf ]; then eps_args=(--linf-eps $eps --l2-eps); else eps_args=(--linf-eps --l2-eps $eps); fi
load_before_t=$(load)
start=$(date +%s.%N)
cpu_of "$out/cpu-t" .venv/bin/python tools/compare_autoattack.py --n "$n" --suites "$suite" --models "models/$model.pt" \
  "${eps_args[@]}" --out "$t_json" > /dev/null
t_seconds=$(echo "$(date +%s.%N) - $start" | bc)
load_after_t=$(load)

python3 - "$g_dir/report.json" "$t_json" "$g_seconds" "$t_seconds" "$load_before_g" "$load_after_g" "$load_before_t" "$load_after_t" "$suite" "$(cat "$out/cpu-g")" "$(cat "$out/cpu-t")" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
t = json.load(open(sys.argv[2]))
g_s, t_s = float(sys.argv[3]), float(sys.argv[4])
lb_g, la_g, lb_t, la_t, suite = sys.argv[5:10]
g_cpu, t_cpu = float(sys.argv[10]), float(sys.argv[11])
model = t["runs"][0]["model"]
print(f"{model}, {g['samples']} samples, clean accuracy gauntlet {g['clean_accuracy'] * 100:.1f} % / "
      f"reference ({suite}) {t['runs'][0]['clean_accuracy'] * 100:.1f} %")
print()
print(f"| norm | ε | gauntlet robust acc | reference ({suite}) robust acc | Δ (points) |")
print("|---|---|---|---|---|")
for run in t["runs"]:
    wc = [w for w in g["worst_case"] if w["norm"] == run["norm"] and abs(w["eps"] - run["eps"]) < 1e-6][0]
    delta = (wc["robust_accuracy"] - run["robust_accuracy"]) * 100
    print(f"| {run['norm']} | {run['eps']} | {wc['robust_accuracy'] * 100:.1f} % | "
          f"{run['robust_accuracy'] * 100:.1f} % | {delta:+.1f} |")
print()
stages = {}
for r in g["results"]:
    stages.setdefault(r["attack"], r["seconds"])
ref_stages = {}
for run in t["runs"]:
    for s in run["stages"]:
        ref_stages[s["attack"]] = ref_stages.get(s["attack"], 0) + s["seconds"]
print(f"| | gauntlet s | reference ({suite}) s |")
print("|---|---|---|")
for name in ["apgd-ce", "apgd-t", "fab-t", "square"]:
    print(f"| {name} | {stages.get(name, 0):.1f} | {ref_stages.get(name, 0):.1f} |")
print(f"| whole process (wall) | {g_s:.1f} | {t_s:.1f} |")
print(f"| whole process (CPU: user + system, all threads) | {g_cpu:.1f} | {t_cpu:.1f} |")
print()
print(f"time ratio gauntlet / reference: wall {g_s / t_s:.2f}, CPU {g_cpu / t_cpu:.2f}; load average (1 min) before/after: "
      f"gauntlet {lb_g}/{la_g}, reference {lb_t}/{la_t}")
PY
