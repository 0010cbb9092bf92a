"""A peer's decision-based attack beside gauntlet's `tree` attack on a tabular tree ensemble:
ART's HopSkipJump (Chen, Jordan, Wainwright 2020) on the same ONNX model through onnxruntime,
on the same rows gauntlet attacks, judged by the same measures (tools/tabular_eval.py).

    .venv/bin/python tools/compare_tabular_hsj.py --gauntlet-bin /tmp/gauntlet-bin --json out.json

Rows: the data file's rows of class FROM that the model classifies FROM (onnxruntime's label),
in file order: gauntlet's `--direction FROM:TO` rows. With two classes, HopSkipJump untargeted
(any other class) is the same as targeted to TO.

HopSkipJump sees the model through ART's BlackBoxClassifier, whose predict_fn returns the one-hot
of onnxruntime's label (decisions only, as HopSkipJump needs). Its clip_values are the data file's
per-column min / max (the box gauntlet's unconstrained space uses; not the schema's bounds).
`--space scaled` (default) runs it on (x - min) / spread in [0, 1]^d, so that its own L2 is
gauntlet's `distance` measure; `--space raw` runs it on the raw columns (spambase's capital run
lengths span thousands, the word shares tens). Each row's queries are counted at predict_fn.

gauntlet: with --gauntlet-bin the script runs `tabular-audit --attacks tree` (constrained and
unconstrained) into --gauntlet-out and times it; without, it reads an existing --gauntlet-out.
Every adversarial row (gauntlet's too) is scored again with onnxruntime and checked against the
schema with tools/check_tabular_schema.py.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tabular_eval import OnnxLabels, add_task_args, eligible, summarize  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def run_gauntlet(a):
    cmd = [
        a.gauntlet_bin, "tabular-audit", "--model", a.model, "--data", a.data, "--schema", a.schema,
        "--direction", a.direction, "--attacks", "tree", "--out", a.gauntlet_out, "--fresh", "--quiet",
    ]
    if a.limit:
        cmd += ["--samples", str(a.limit)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    version = subprocess.run([a.gauntlet_bin, "--version"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return dict(command=" ".join(cmd), wall_s=wall, version=version)


def gauntlet_rows(out_dir, X, indices, constrained):
    """gauntlet's tree answers for `indices` (the original where it found none) and the rows' order."""
    by_row = {}
    with open(os.path.join(out_dir, "samples.jsonl")) as f:
        for line in f:
            s = json.loads(line)
            if s["attack"] == "tree" and s["constrained"] == constrained:
                by_row[s["row"]] = s
    missing = [i for i in indices if i not in by_row]
    if missing:
        raise SystemExit(f"{out_dir}/samples.jsonl lacks tree answers for rows {missing[:10]} (rerun gauntlet)")
    adv = np.array([by_row[i]["adversarial"] if by_row[i]["found"] else X[i] for i in indices], dtype=np.float32)
    return adv, [by_row[i] for i in indices]


def run_hsj(a, X_att, lo, spread, predict):
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    d = X_att.shape[1]
    hi = lo + spread
    if a.space == "scaled":
        to_model = lambda z: (lo + z.astype(np.float64) * spread).astype(np.float32)  # noqa: E731
        clip = (np.zeros(d, dtype=np.float32), ((hi - lo) / spread).astype(np.float32))
        start = ((X_att.astype(np.float64) - lo) / spread).astype(np.float32)
    else:
        to_model = lambda z: z.astype(np.float32)  # noqa: E731
        clip = (lo.astype(np.float32), hi.astype(np.float32))
        start = X_att.astype(np.float32)

    def predict_fn(z):
        labels = predict(to_model(z))
        return np.eye(2, dtype=np.float32)[labels]

    clf = BlackBoxClassifier(predict_fn, input_shape=(d,), nb_classes=2, clip_values=clip)
    attack = HopSkipJump(
        clf, batch_size=a.batch, targeted=False, norm=2, max_iter=a.max_iter, max_eval=a.max_eval,
        init_eval=a.init_eval, init_size=a.init_size, verbose=False,
    )
    # HopSkipJump's noise comes from numpy's global generator, but its random starting points come
    # from a fresh, unseeded np.random.RandomState() per row (ART 1.20.1, _init_sample): hand it one
    # seeded generator instead, so that a rerun gives the same numbers.
    np.random.seed(a.seed)
    starts = np.random.RandomState(a.seed + 1)
    unseeded = np.random.RandomState
    np.random.RandomState = lambda *args, **kw: unseeded(*args, **kw) if args or kw else starts
    advs, queries = [], []
    t0 = time.perf_counter()
    try:
        for i in range(len(start)):
            before = predict.queries
            advs.append(attack.generate(start[i : i + 1])[0])
            queries.append(predict.queries - before)
            if (i + 1) % 25 == 0 or i + 1 == len(start):
                print(f"  hopskipjump: {i + 1}/{len(start)} rows, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    finally:
        np.random.RandomState = unseeded
    wall = time.perf_counter() - t0
    return to_model(np.array(advs)), np.array(queries), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_task_args(ap)
    ap.add_argument("--gauntlet-bin", help="run this gauntlet binary (else read --gauntlet-out)")
    ap.add_argument("--gauntlet-out", default="/tmp/gauntlet-tabular-compare")
    ap.add_argument("--limit", type=int, help="attack only the first N eligible rows")
    ap.add_argument("--space", choices=("scaled", "raw"), default="scaled")
    ap.add_argument("--max-iter", type=int, default=50, help="HopSkipJump max_iter (ART default 50)")
    ap.add_argument("--max-eval", type=int, default=10000, help="ART default 10000")
    ap.add_argument("--init-eval", type=int, default=100, help="ART default 100")
    ap.add_argument("--init-size", type=int, default=100, help="ART default 100")
    ap.add_argument("--batch", type=int, default=1024, help="rows per predict call (speed only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    os.chdir(ROOT)

    predict = OnnxLabels(a.model)
    schema, X, spread, src, dst, indices = eligible(a, predict)
    if a.limit:
        indices = indices[: a.limit]
    X_att = X[indices]
    lo = X.min(0).astype(np.float64)
    print(f"{len(indices)} rows of class {schema['classes'][src]} classified correctly; attacking toward {schema['classes'][dst]}", file=sys.stderr)

    results = dict(rows=len(indices), machine=dict(platform=platform.platform(), cpus=os.cpu_count()))
    if a.gauntlet_bin:
        results["gauntlet_run"] = run_gauntlet(a)
    with open(os.path.join(a.gauntlet_out, "report.json")) as f:
        report = json.load(f)
    results["gauntlet_report_seconds"] = report["seconds"]
    for constrained in (True, False):
        adv, samples = gauntlet_rows(a.gauntlet_out, X, indices, constrained)
        fooled = predict(adv) == dst
        s = summarize(schema, X_att, spread, adv, fooled)
        s["gauntlet_evaded"] = sum(x["evaded"] for x in samples)
        s["gauntlet_l0_mean"] = float(np.mean([x["l0"] for x in samples if x["evaded"]] or [np.nan]))
        rep = next(r for r in report["attacks"] if r["attack"] == "tree" and r["constrained"] == constrained)
        s["queries_per_row"] = rep["queries"] / rep["attacked"]
        s["report_seconds"] = rep.get("seconds")
        results["gauntlet_tree_" + ("constrained" if constrained else "unconstrained")] = s

    predict.queries = 0
    adv, queries, wall = run_hsj(a, X_att, lo, spread, predict)
    fooled = predict(adv) == dst
    s = summarize(schema, X_att, spread, adv, fooled)
    s.update(
        wall_s=wall, queries_per_row_mean=float(queries.mean()), queries_per_row_median=float(np.median(queries)),
        queries_per_row_max=int(queries.max()),
        settings=dict(space=a.space, max_iter=a.max_iter, max_eval=a.max_eval, init_eval=a.init_eval,
                      init_size=a.init_size, norm=2, targeted=False, seed=a.seed,
                      clip_values="data per-column min/max"),
    )
    results["hopskipjump"] = s
    # The obvious repair a user of a continuous attack would try: integer columns rounded to
    # the nearest whole number (then the model is asked again).
    ints = [j for j, f in enumerate(schema["features"]) if f["kind"] in ("integer", "binary")]
    rounded = adv.copy()
    rounded[:, ints] = np.round(rounded[:, ints])
    s = summarize(schema, X_att, spread, rounded, predict(rounded) == dst)
    s["derived_from"] = "hopskipjump rows, integer columns rounded to the nearest integer"
    results["hopskipjump_rounded"] = s
    import art
    import onnxruntime

    results["versions"] = dict(python=platform.python_version(), art=art.__version__, onnxruntime=onnxruntime.__version__, numpy=np.__version__)
    print(json.dumps(results, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
