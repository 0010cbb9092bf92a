#!/usr/bin/env bash
# gauntlet's AutoAttack (`audit --attacks auto`, and `--attacks fast`) against torchattacks'
# AutoAttack(version='standard') (and APGD + APGD-T, 100 steps) on the same models, samples
# and threat models: both MNIST CNNs (models/mnist_cnn, models/mnist_cnn_adv), L∞ ε ∈ {0.1,
# 0.2, 0.3}, L2 ε ∈ {1.0, 2.0}, seed 0. Writes out/autoattack-comparison.md (docs/autoattack-comparison.md holds the
# N = 1,000 tables from tools/time_autoattack.sh, which runs the tools one at a time).
# Needs the venv of tools/requirements.txt (.venv).
#
# Usage: tools/compare_autoattack.sh [--n N] [--skip-gauntlet] [--skip-reference]
#   --n N             samples (default 200; the issue's full run is --n 1000)
#   --skip-gauntlet   reuse out/autoattack-gauntlet/ from an earlier run
#   --skip-reference  reuse out/torchattacks_autoattack_{standard,fast}.json from an earlier run
# Environment: GAUNTLET_SUITES (default "auto fast"), REFERENCE_SUITES (default "standard fast"),
#   MODELS (default "mnist_cnn mnist_cnn_adv"), NORMS (default "linf l2").
set -euo pipefail
cd "$(dirname "$0")/.."

n=200
run_gauntlet=1
run_reference=1
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n="$2"; shift 2 ;;
    --n=*) n="${1#--n=}"; shift ;;
    --skip-gauntlet) run_gauntlet=0; shift ;;
    --skip-reference) run_reference=0; shift ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
gauntlet_suites="${GAUNTLET_SUITES:-auto fast}"
reference_suites="${REFERENCE_SUITES:-standard fast}"
models="${MODELS:-mnist_cnn mnist_cnn_adv}"
norms="${NORMS:-linf l2}"
linf_eps="0.1,0.2,0.3"
l2_eps="1.0,2.0"
mkdir -p out/autoattack-gauntlet

if [ "$run_gauntlet" = 1 ]; then
  # Build once and run a frozen copy, so that concurrent edits to the crates cannot change
  # the binary between configurations.
  cargo build -q -p gauntlet-cli
  cp target/debug/gauntlet out/autoattack-gauntlet/gauntlet
  {
    echo "commit $(git rev-parse HEAD)"
    echo "uncommitted changes under crates/: $(git status --porcelain -- crates Cargo.toml Cargo.lock | wc -l) files"
    echo "built $(date -u '+%Y-%m-%d %H:%M UTC')"
    rustc --version
  } > out/autoattack-gauntlet/build.txt
  for suite in $gauntlet_suites; do
    for model in $models; do
      for norm in $norms; do
        if [ "$norm" = linf ]; then eps="$linf_eps"; else eps="$l2_eps"; fi
        dir="out/autoattack-gauntlet/$suite/$model-$norm"
        start=$(date +%s.%N)
        out/autoattack-gauntlet/gauntlet audit --model "models/$model.onnx" \
          --inputs data/mnist-demo/x.npy --labels data/mnist-demo/y.npy --samples "$n" \
          --norm "$norm" --eps "$eps" --attacks "$suite" --seed 0 --out "$dir" --quiet
        end=$(date +%s.%N)
        echo "{\"process_seconds\": $(echo "$end - $start" | bc), \"loadavg_1min_after\": $(cut -d' ' -f1 /proc/loadavg)}" > "$dir/wall.json"
        echo "gauntlet $suite $model $norm: done in $(echo "$end - $start" | bc) s" >&2
      done
    done
  done
fi

if [ "$run_reference" = 1 ]; then
  for suite in $reference_suites; do
    ref_models=""
    for model in $models; do ref_models="$ref_models models/$model.pt"; done
    linf_args="--linf-eps"; l2_args="--l2-eps"
    case " $norms " in *" linf "*) linf_args="--linf-eps ${linf_eps//,/ }" ;; esac
    case " $norms " in *" l2 "*) l2_args="--l2-eps ${l2_eps//,/ }" ;; esac
    # shellcheck disable=SC2086
    .venv/bin/python tools/compare_autoattack.py --n "$n" --suites "$suite" --models $ref_models \
      $linf_args $l2_args --out "out/torchattacks_autoattack_$suite.json" > /dev/null
  done
fi

.venv/bin/python - "$n" <<'PY'
import glob, json, os, platform, subprocess, sys

n_arg = int(sys.argv[1])
MODELS = ["mnist_cnn", "mnist_cnn_adv"]
CONFIGS = [("linf", 0.1), ("linf", 0.2), ("linf", 0.3), ("l2", 1.0), ("l2", 2.0)]


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def gauntlet_row(suite, model, norm, eps):
    rep = load(f"out/autoattack-gauntlet/{suite}/{model}-{norm}/report.json")
    if rep is None:
        return None
    wc = [w for w in rep["worst_case"] if w["norm"] == norm and abs(w["eps"] - eps) < 1e-6]
    res = [r for r in rep["results"] if r["norm"] == norm and abs(r["eps"] - eps) < 1e-6]
    if not wc:
        return None
    return {
        "robust": wc[0]["robust_accuracy"],
        "total_seconds": rep["seconds"],
        "stages": [(r["attack"], r["robust_accuracy"], r["seconds"]) for r in res],
        "samples": rep["samples"],
        "clean": rep["clean_accuracy"],
        "status": rep.get("status"),
    }


def reference_row(ref, model, norm, eps):
    if ref is None:
        return None
    for r in ref["runs"]:
        if r["model"] == f"models/{model}.pt" and r["norm"] == norm and abs(r["eps"] - eps) < 1e-6:
            return {
                "robust": r["robust_accuracy"],
                "seconds": r["seconds"],
                "stages": [(s["attack"], s["cumulative_robust_accuracy"], s["seconds"]) for s in r["stages"]],
                "clean": r["clean_accuracy"],
                "load": r.get("loadavg_1min_after"),
            }
    return None


def pct(v):
    return "–" if v is None else f"{v * 100:.1f} %"


def num(v, spec):
    return "–" if v is None else format(v, spec)


def table(g_suite, ref, title_ref):
    # gauntlet runs all ε of one norm in one process and reports each attack's seconds summed
    # over those ε, so its time is per (model, norm); it is compared with the sum of the
    # reference's per-ε times over the same ε.
    lines = [
        f"| model | norm | ε | gauntlet robust acc | {title_ref} robust acc | Δ (points) | gauntlet s | {title_ref} s | accuracy target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    tlines = [
        f"| model | norm | ε | gauntlet s (one run, all ε) | {title_ref} s (sum over ε) | time ratio | time target |",
        "|---|---|---|---|---|---|---|",
    ]
    misses = []
    incomplete = []
    for model in MODELS:
        for norm in ("linf", "l2"):
            group = [e for no, e in CONFIGS if no == norm]
            g_total = None
            r_total = 0.0
            r_complete = True
            for eps in group:
                g = gauntlet_row(g_suite, model, norm, eps)
                r = reference_row(ref, model, norm, eps)
                if g is not None:
                    g_total = g["total_seconds"]
                if r is None:
                    r_complete = False
                else:
                    r_total += r["seconds"]
                d = None if g is None or r is None else (g["robust"] - r["robust"]) * 100
                if d is None:
                    verdict = "not completed (time)"
                    incomplete.append(f"{model} {norm} ε {eps}")
                elif d <= 0.5 + 1e-9:
                    verdict = "✓"
                else:
                    verdict = "**✗**"
                    misses.append(f"{model} {norm} ε {eps}: robust accuracy Δ {d:+.1f} points (> +0.5)")
                g_s = "–" if g is None else f"{g['total_seconds']:.1f} (all ε)"
                lines.append(
                    f"| {model} | {'L∞' if norm == 'linf' else 'L2'} | {eps} | {pct(g and g['robust'])} | "
                    f"{pct(r and r['robust'])} | {num(d, '+.1f')} | {g_s} | {num(r and r['seconds'], '.1f')} | {verdict} |")
            eps_s = ", ".join(str(e) for e in group)
            if g_total is not None and r_complete and r_total > 0:
                ratio = g_total / r_total
                tv = "✓" if ratio <= 0.5 else "**✗**"
                if ratio > 0.5:
                    misses.append(f"{model} {norm} (ε {eps_s}): time ratio {ratio:.2f} (> 0.5)")
                tlines.append(f"| {model} | {'L∞' if norm == 'linf' else 'L2'} | {eps_s} | {g_total:.1f} | "
                              f"{r_total:.1f} | {ratio:.2f} | {tv} |")
            else:
                partial = "" if r_complete or r_total == 0 else f"≥ {r_total:.1f} (not all ε finished)"
                bound = "–" if not partial or g_total is None else f"≤ {g_total / r_total:.2f} (upper bound)"
                tlines.append(f"| {model} | {'L∞' if norm == 'linf' else 'L2'} | {eps_s} | "
                              f"{num(g_total, '.1f')} | {partial or '–'} | {bound} | not completed (time) |")
    return "\n".join(lines) + "\n\nWall time per (model, norm):\n\n" + "\n".join(tlines), misses, incomplete


def stage_table(g_suite, ref):
    lines = [
        "| model | norm | ε | gauntlet: attack robust acc (s, summed over all ε of the norm) | torchattacks: attack robust acc (s for this ε) |",
        "|---|---|---|---|---|",
    ]
    rows = 0
    for model in MODELS:
        for norm, eps in CONFIGS:
            g = gauntlet_row(g_suite, model, norm, eps)
            r = reference_row(ref, model, norm, eps)
            if g is None and r is None:
                continue
            rows += 1
            fmt = lambda row: "–" if row is None else " → ".join(f"{a} {v * 100:.1f} ({t:.0f} s)" for a, v, t in row["stages"])
            lines.append(f"| {model} | {'L∞' if norm == 'linf' else 'L2'} | {eps} | {fmt(g)} | {fmt(r)} |")
    return "\n".join(lines) if rows else "(not run)"


ref_std = load("out/torchattacks_autoattack_standard.json")
ref_fast = load("out/torchattacks_autoattack_fast.json")
have_auto = any(gauntlet_row("auto", m, no, e) for m in MODELS for no, e in CONFIGS)
have_fast = any(gauntlet_row("fast", m, no, e) for m in MODELS for no, e in CONFIGS)
build = open("out/autoattack-gauntlet/build.txt").read().strip() if os.path.exists("out/autoattack-gauntlet/build.txt") else "(gauntlet not run)"
refs = [r for r in (ref_std, ref_fast) if r]
n = refs[0]["n"] if refs else n_arg
for suite in ("auto", "fast"):
    for m in MODELS:
        for no, e in CONFIGS:
            g = gauntlet_row(suite, m, no, e)
            if g and g["samples"] != n:
                sys.exit(f"sample counts differ: gauntlet {g['samples']} vs reference {n}")

clean = {}
for m in MODELS:
    for ref in refs:
        for r in ref["runs"]:
            if r["model"] == f"models/{m}.pt":
                clean[m] = r["clean_accuracy"]
clean_g = {}
for suite in ("auto", "fast"):
    for m in MODELS:
        for no, e in CONFIGS:
            g = gauntlet_row(suite, m, no, e)
            if g:
                clean_g[m] = g["clean"]

out = []
out.append("# gauntlet AutoAttack vs torchattacks AutoAttack\n")
out.append(
    "Same models (`models/mnist_cnn{,_adv}.onnx` for gauntlet, the same networks as `.pt` state_dicts for "
    "torchattacks), the same first "
    f"**N = {n}** MNIST test digits of `data/mnist-demo` (float32 x / 255), seed 0. Robust accuracy = correct on "
    f"the clean input AND on the adversarial input, over all {n} samples; both tools run their ensemble as "
    "AutoAttack does (each attack only on the samples the previous ones did not break), so the number is the "
    "worst case over the ensemble.\n")
if n != 1000:
    out.append(
        f"**N = {n}, not the issue's 1,000**: the run was reduced for time (2-core machine shared with other "
        "builds; torchattacks' Square Attack alone takes minutes per configuration). "
        f"With N = {n} one sample is "
        f"{100 / n:.2g} points, so the +0.5-point accuracy target allows {int(0.5 * n / 100 + 1e-9)} more robust "
        "sample(s) than the reference. "
        "The full run is `tools/compare_autoattack.sh --n 1000`.\n")
out.append("Targets from the issue: gauntlet robust accuracy ≤ reference + 0.5 points; gauntlet wall time ≤ 0.5 × "
           "torchattacks' CPU wall time (time ratio = gauntlet s / torchattacks s ≤ 0.5).\n")

out.append("## `--attacks auto` vs torchattacks `AutoAttack(version='standard')`\n")
misses_auto, inc_auto = [], []
if have_auto or ref_std:
    t, misses_auto, inc_auto = table("auto", ref_std, "torchattacks")
    out.append(t + "\n")
    if not have_auto:
        out.append("gauntlet's `--attacks auto` was not available when this was run; only the reference numbers are given.\n")
out.append(
    "**Not like for like in iterations**: torchattacks 3.5.1's `AutoAttack(version='standard')` builds APGD-CE, "
    "APGD-T and FAB-T with the classes' default `steps=10`, where the original AutoAttack (Croce & Hein 2020; "
    "github.com/fra31/auto-attack) and gauntlet's `auto` use 100 iterations (Square: 5000 queries in both). "
    "The torchattacks reference is therefore the weaker and cheaper ensemble on the gradient attacks; the "
    "`fast` table below compares APGD-CE + APGD-T at 100 steps on both sides.\n")

out.append("## `--attacks fast` vs torchattacks APGD-CE + APGD-T (100 steps, 1 restart, 9 target classes)\n")
misses_fast, inc_fast = [], []
if have_fast or ref_fast:
    t, misses_fast, inc_fast = table("fast", ref_fast, "torchattacks")
    out.append(t + "\n")
else:
    out.append("(not run in this session, for time: `GAUNTLET_SUITES=fast REFERENCE_SUITES=fast "
               "tools/compare_autoattack.sh` runs it.)\n")

out.append("## Where the targets are missed\n")
if misses_auto or misses_fast:
    out.append("Recorded as measured; nothing was tuned to move these numbers.\n")
    for m in misses_auto:
        out.append(f"- auto: {m}")
    for m in misses_fast:
        out.append(f"- fast: {m}")
    out.append("")
elif have_auto and not inc_auto:
    out.append("Nowhere: both targets hold in every row.\n")
elif have_auto:
    out.append("Nowhere among the completed rows.\n")
if inc_auto or inc_fast:
    out.append("Rows without both numbers did not finish within the session's time budget and are not "
               "assessed: " + "; ".join([f"auto {c}" for c in inc_auto] + [f"fast {c}" for c in inc_fast]) + ".\n")
else:
    out.append("Not assessed for `auto` (gauntlet side not run).\n")

out.append("## Per-attack cumulative robust accuracy (%)\n")
out.append("Cumulative: each attack's number is the ensemble's robust accuracy after it. gauntlet reports one "
           "time per attack for all ε of a norm together; torchattacks' times are per ε.\n")
out.append("`auto` / `standard`:\n")
out.append(stage_table("auto", ref_std) + "\n")
out.append("`fast`:\n")
out.append(stage_table("fast", ref_fast) + "\n")

out.append("## How it was measured\n")
date = (ref_std or ref_fast or {}).get("date_utc", "?")
out.append(f"- Date: {date} (reference start); gauntlet build: {build.splitlines()[2] if build.count(chr(10)) >= 2 else build}.")
loads = [r["loadavg_1min_after"] for ref in refs for r in ref["runs"] if r.get("loadavg_1min_after") is not None]
loads += [json.load(open(p))["loadavg_1min_after"] for p in glob.glob("out/autoattack-gauntlet/*/*/wall.json")]
load_s = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "not recorded"
out.append(f"- Machine: {platform.platform()}, {os.cpu_count()} CPU cores, shared with other work: 1-minute load "
           f"average {load_s} at the end of the configurations (2 would be a fully busy machine). gauntlet and "
           "torchattacks ran at the same time as each other and as other developers' builds, so all seconds are "
           "noisy and inflated on both sides; the time ratio is indicative only.")
out.append("- gauntlet: " + "; ".join(build.splitlines()) + ". Dev profile (opt-level 2, dependencies opt-level 3), "
           "default thread pool; one process per (model, norm) runs all of that norm's ε, and `report.json` gives "
           "each attack's seconds summed over those ε, so gauntlet's time is the run's total `seconds` per (model, norm) "
           "and is compared with the sum of torchattacks' per-ε times.")
if refs:
    r0 = refs[0]
    out.append(f"- Reference: torchattacks {r0['torchattacks_version']}, torch {r0['torch_version']}, Python "
               f"{r0['python_version']}, CPU, float32, torch.set_num_threads({r0['threads']}); seconds = wall time "
               "of the whole ensemble call.")
out.append(f"- Clean accuracy on the {n} samples: " + ", ".join(
    f"{m} {pct(clean.get(m))} (torch) / {pct(clean_g.get(m))} (gauntlet)" for m in MODELS) + ".")
out.append("")
out.append("Commands (from the repo root):\n")
out.append("```sh")
out.append(f"tools/compare_autoattack.sh --n {n}        # everything below, then writes this file")
out.append(f"tools/compare_autoattack.sh --n 1000       # the issue's full 1,000-sample run")
out.append("# gauntlet side, per model and norm (the script runs a frozen copy of this binary):")
out.append(f"cargo run -q -p gauntlet-cli -- audit --model models/mnist_cnn.onnx --inputs data/mnist-demo/x.npy "
           f"--labels data/mnist-demo/y.npy --samples {n} --norm linf --eps 0.1,0.2,0.3 --attacks auto --seed 0 "
           f"--out out/autoattack-gauntlet/auto/mnist_cnn-linf --quiet")
out.append(f"cargo run -q -p gauntlet-cli -- audit --model models/mnist_cnn_adv.onnx --inputs data/mnist-demo/x.npy "
           f"--labels data/mnist-demo/y.npy --samples {n} --norm l2 --eps 1.0,2.0 --attacks auto --seed 0 "
           f"--out out/autoattack-gauntlet/auto/mnist_cnn_adv-l2 --quiet")
out.append("# (likewise mnist_cnn l2, mnist_cnn_adv linf, and --attacks fast into out/autoattack-gauntlet/fast/)")
out.append("# reference side:")
out.append(f".venv/bin/python tools/compare_autoattack.py --n {n} --suites standard --out out/torchattacks_autoattack_standard.json")
out.append(f".venv/bin/python tools/compare_autoattack.py --n {n} --suites fast --out out/torchattacks_autoattack_fast.json")
out.append("```\n")
out.append("`tools/compare_autoattack.py --suites standard100` runs the torchattacks ensemble with the original "
           "AutoAttack iteration counts (100 steps) for a like-for-like reference; it was not part of this run.\n")

os.makedirs("docs", exist_ok=True)
open("out/autoattack-comparison.md", "w").write("\n".join(out))
print("\n".join(out))
PY
