"""The exact minimum-L0 evasion of a tree ensemble by mixed-integer programming, beside gauntlet's
`tree` attack on the same rows: how far above the optimum is gauntlet's answer?

    .venv/bin/python tools/tree_milp.py --samples-jsonl OUT/samples.jsonl --rows 30 --json out.json

The formulation follows Kantchelian, Tygar, Joseph (2016), "Evasion and Hardening of Tree Ensemble
Classifiers" (ICML), with the L0 objective, written here from the paper, plus the schema:

- predicate variables p[j,k] in {0,1}, one per (feature j, distinct split threshold t[j,k]),
  p[j,k] = 1 iff x_j <= t[j,k]; ordered thresholds give p[j,k] <= p[j,k+1] (BRANCH_LT splits
  x < t are the same as x <= the float32 just below t);
- leaf variables l[i] in [0,1], sum 1 per tree; for every internal node on predicate (j,k) the
  leaves under its true branch sum to at most p[j,k] and those under its false branch to at most
  1 - p[j,k] (with p integral this leaves exactly the leaf the row reaches);
- the ensemble's raw margin, base_values + sum of leaf weights (the binary case of
  ai.onnx.ml.TreeEnsembleClassifier, weights for one class id; LOGISTIC post-transform: class 1
  iff margin > 0), kept at <= -MARGIN_EPS to reach class 0, or >= +MARGIN_EPS for class 1;
- value variables x_j (continuous, or integer for the schema's integer/binary kinds) within the
  schema's bounds (an open upper bound becomes max(data, thresholds, x) + 1 + its size: any solution
  can be moved there without crossing a split or breaking an order rule), tied to the predicates:
  p = 1 -> x <= t; p = 0 -> x >= t + gap (gap: the next whole number for integer columns, else
  1e-5 relative, less where the row itself sits closer above t);
- immutable features fixed; the schema's rules: a plain linear comparison as a constraint; an
  implication `if A == B then C op D` with A - B integral (integer columns, whole coefficients)
  by an indicator e (e = 1 -> A - B = 0 and the consequent holds; e = 0 -> |A - B| >= 1);
  rules with ratios are refused;
- c_j in {0,1} with |x_j - x0_j| <= M_j c_j; the objective is sum c_j (the L0 of the change,
  every changed column counted, including those a rule forces along).

CBC (bundled with PuLP) solves each row with a time limit; a solution counts only after
onnxruntime classifies it as the target class and tools/check_tabular_schema.py finds no violation.
Unchanged columns are copied exactly from the row and changed ones are nudged into the interval
their predicates chose, so the solver's tolerances cannot move a value across a split.
"""
import argparse
import collections
import json
import os
import platform
import sys
import time

import numpy as np
import onnx
from onnx import helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tabular_eval import OnnxLabels, add_task_args, changed, distance, eligible, violation_kinds  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MARGIN_EPS = 1e-5
GAP_REL = 1e-5


def next_down(t):
    return np.nextafter(np.float32(t), np.float32(-np.inf), dtype=np.float32)


class Ensemble:
    """The binary TreeEnsembleClassifier of an ONNX file: trees as nested node tables."""

    def __init__(self, path):
        m = onnx.load(path)
        nodes = [n for n in m.graph.node if n.op_type == "TreeEnsembleClassifier"]
        if len(nodes) != 1:
            raise SystemExit(f"{path}: expected one TreeEnsembleClassifier, found {len(nodes)}")
        a = {at.name: helper.get_attribute_value(at) for at in nodes[0].attribute}
        if len(set(a["class_ids"])) != 1:
            raise SystemExit(f"{path}: leaf weights for several class ids; only the binary case is handled")
        self.post = a.get("post_transform", b"NONE").decode()
        if self.post != "LOGISTIC":
            raise SystemExit(f"{path}: post_transform {self.post}; only LOGISTIC (margin > 0 -> class 1) is handled")
        self.base = float(np.float32(a.get("base_values", [0.0])[0]))
        weight = collections.defaultdict(float)
        for t, n, w in zip(a["class_treeids"], a["class_nodeids"], a["class_weights"]):
            weight[(int(t), int(n))] += float(np.float32(w))
        self.trees = collections.defaultdict(dict)  # tree -> node id -> node
        for i, (t, n) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"])):
            mode = a["nodes_modes"][i].decode()
            node = dict(mode=mode)
            if mode == "LEAF":
                node["weight"] = weight[(int(t), int(n))]
            elif mode in ("BRANCH_LEQ", "BRANCH_LT"):
                thr = np.float32(a["nodes_values"][i])
                # x < t on float32 values is x <= the float just below t.
                node["feature"] = int(a["nodes_featureids"][i])
                node["threshold"] = float(thr if mode == "BRANCH_LEQ" else next_down(thr))
                node["true"], node["false"] = int(a["nodes_truenodeids"][i]), int(a["nodes_falsenodeids"][i])
            else:
                raise SystemExit(f"{path}: node mode {mode} is not handled")
            self.trees[int(t)][int(n)] = node
        self.thresholds = collections.defaultdict(set)
        for tree in self.trees.values():
            for node in tree.values():
                if node["mode"] != "LEAF":
                    self.thresholds[node["feature"]].add(node["threshold"])
        self.thresholds = {j: sorted(ts) for j, ts in self.thresholds.items()}

    def margin(self, x):
        """The raw margin of one row, walked in float32 (a check of the parse)."""
        s = np.float32(self.base)
        for tree in self.trees.values():
            node = tree[0]
            while node["mode"] != "LEAF":
                node = tree[node["true"] if np.float32(x[node["feature"]]) <= np.float32(node["threshold"]) else node["false"]]
            s = np.float32(s + np.float32(node["weight"]))
        return float(s)

    def leaves_under(self, tree, nid):
        node = tree[nid]
        if node["mode"] == "LEAF":
            return [nid]
        return self.leaves_under(tree, node["true"]) + self.leaves_under(tree, node["false"])


def linear_of(terms, features):
    """A parsed expression (check_tabular_schema's list of (sign, term)) as ({column: coef}, const)."""
    index = {f["name"]: j for j, f in enumerate(features)}
    coef, const = collections.defaultdict(float), 0.0
    for sign, term in terms:
        if term[0] == "const":
            const += sign * term[1]
        elif term[0] == "lin":
            for name in term[2]:
                coef[index[name]] += sign * term[1]
        else:
            raise NotImplementedError("ratios in rules are not handled by the MILP")
    return coef, const


def build(ens, schema, x0, X_data, target, time_limit):
    """The MILP for one row; returns (problem, x variables, c variables, predicate choice per feature)."""
    import pulp

    feats = schema["features"]
    d = len(feats)
    prob = pulp.LpProblem("min_l0_evasion", pulp.LpMinimize)
    lo, hi = [], []
    for j, f in enumerate(feats):
        ts = ens.thresholds.get(j, [])
        top = max([float(X_data[:, j].max()), float(x0[j])] + ts)
        lo.append(f["min"] if f["min"] is not None else min([float(X_data[:, j].min()), float(x0[j])] + ts) - 1 - abs(top))
        hi.append(f["max"] if f["max"] is not None else top + 1 + abs(top))
    cat = lambda f: "Integer" if f["kind"] in ("integer", "binary") else "Continuous"  # noqa: E731
    x = [pulp.LpVariable(f"x{j}", lo[j], hi[j], cat=cat(f)) for j, f in enumerate(feats)]
    c = [pulp.LpVariable(f"c{j}", cat="Binary") for j in range(d)]
    for j, f in enumerate(feats):
        if f["kind"] == "categorical":
            raise NotImplementedError("categorical features are not handled by this MILP")
        big = hi[j] - lo[j]
        prob += x[j] - float(x0[j]) <= big * c[j]
        prob += float(x0[j]) - x[j] <= big * c[j]
        if f["immutable"]:
            prob += c[j] == 0
    # Predicates and their link to the values.
    p = {}
    for j, ts in ens.thresholds.items():
        integer = feats[j]["kind"] in ("integer", "binary")
        prev = None
        for k, t in enumerate(ts):
            v = pulp.LpVariable(f"p{j}_{k}", cat="Binary")
            p[(j, t)] = v
            if prev is not None:
                prob += prev <= v
            prev = v
            if integer:
                below, above = np.floor(t), np.floor(t) + 1.0
            else:
                below = t
                gap = GAP_REL * max(1.0, abs(t))
                if x0[j] > t:
                    gap = min(gap, float(x0[j]) - t)
                above = t + gap
            m = hi[j] - lo[j] + abs(t) + 1.0
            prob += x[j] <= below + m * (1 - v)
            prob += x[j] >= above - m * v
    # Leaves and paths.
    score = ens.base
    for tid, tree in ens.trees.items():
        leaf = {nid: pulp.LpVariable(f"l{tid}_{nid}", 0, 1) for nid, n in tree.items() if n["mode"] == "LEAF"}
        prob += pulp.lpSum(leaf.values()) == 1
        for nid, n in tree.items():
            if n["mode"] == "LEAF":
                continue
            v = p[(n["feature"], n["threshold"])]
            prob += pulp.lpSum(leaf[i] for i in ens.leaves_under(tree, n["true"])) <= v
            prob += pulp.lpSum(leaf[i] for i in ens.leaves_under(tree, n["false"])) <= 1 - v
        score = score + pulp.lpSum(tree[i]["weight"] * leaf[i] for i in leaf)
    prob += (score <= -MARGIN_EPS) if target == 0 else (score >= MARGIN_EPS)
    # The schema's rules.
    for r_i, r in enumerate(schema["rules"]):
        parsed = r["parsed"]
        if parsed[0] == "cond":
            add_cond(prob, parsed[1], feats, x, None, lo, hi)
        else:
            (a_lhs, a_op, a_rhs), cons = parsed[1], parsed[2]
            if a_op != "==":
                raise NotImplementedError(f"rule {r['name']!r}: only `if A == B then ...` implications are handled")
            coef, const = sub(linear_of(a_lhs, feats), linear_of(a_rhs, feats))
            if any(feats[j]["kind"] not in ("integer", "binary") or float(k) != int(k) for j, k in coef.items()):
                raise NotImplementedError(f"rule {r['name']!r}: the `if` part must be whole-numbered")
            e = pulp.LpVariable(f"e{r_i}", cat="Binary")
            s = pulp.LpVariable(f"s{r_i}", cat="Binary")
            expr = pulp.lpSum(k * x[j] for j, k in coef.items()) + const
            m = bound_of(coef, const, lo, hi) + 1.0
            # e = 1: expr == 0; e = 0: expr >= 1 (s = 1) or expr <= -1 (s = 0).
            prob += expr <= m * (1 - e)
            prob += expr >= -m * (1 - e)
            prob += expr >= 1 - m * (e + 1 - s)
            prob += expr <= -1 + m * (e + s)
            add_cond(prob, cons, feats, x, e, lo, hi)
    prob += pulp.lpSum(c)
    return prob, x, c, p


def sub(a, b):
    coef = collections.defaultdict(float, a[0])
    for j, k in b[0].items():
        coef[j] -= k
    return {j: k for j, k in coef.items() if k != 0}, a[1] - b[1]


def bound_of(coef, const, lo, hi):
    return sum(abs(k) * max(abs(lo[j]), abs(hi[j])) for j, k in coef.items()) + abs(const)


def add_cond(prob, cond, feats, x, e, lo, hi):
    """lhs op rhs as a constraint; enforced only where e = 1 when e is given. Strict comparisons
    keep a margin of 1e-4 (the checker's tolerance is 1e-6 relative)."""
    import pulp

    lhs, op, rhs = cond
    coef, const = sub(linear_of(lhs, feats), linear_of(rhs, feats))
    expr = pulp.lpSum(k * x[j] for j, k in coef.items()) + const
    slack = 0 if e is None else (bound_of(coef, const, lo, hi) + 1.0) * (1 - e)
    if op in ("<=", "=="):
        prob += expr <= slack
    if op in (">=", "=="):
        prob += expr >= -slack
    if op == "<":
        prob += expr <= -1e-4 + slack
    if op == ">":
        prob += expr >= 1e-4 - slack
    if op == "!=":
        raise NotImplementedError("`!=` in rules is not handled by the MILP")


def extract(x, c, p, x0, ens, schema):
    """The solver's row, float32: unchanged columns copied exactly, changed ones moved inside the
    interval their predicates chose (the solver's tolerances must not decide a split)."""
    adv = np.array(x0, dtype=np.float64)
    for j, f in enumerate(schema["features"]):
        if c[j].value() is None or c[j].value() < 0.5:
            continue
        v = float(x[j].value())
        if f["kind"] in ("integer", "binary"):
            v = float(np.round(v))
        else:
            ts = ens.thresholds.get(j, [])
            below = [t for t in ts if p[(j, t)].value() > 0.5]
            above = [t for t in ts if p[(j, t)].value() < 0.5]
            if below:
                v = min(v, min(below))
            if above:
                v = max(v, float(np.nextafter(np.float32(max(above)), np.float32(np.inf))))
        adv[j] = v
    return adv.astype(np.float32)


def main():
    import pulp

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_task_args(ap)
    ap.add_argument("--samples-jsonl", required=True, help="gauntlet tabular-audit's samples.jsonl (tree attack)")
    ap.add_argument("--rows", type=int, default=30, help="the first N eligible rows (0: all)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per row for CBC")
    ap.add_argument("--json", help="write per-row results and the summary here")
    a = ap.parse_args()
    os.chdir(ROOT)

    ens = Ensemble(a.model)
    predict = OnnxLabels(a.model)
    schema, X, spread, src, dst, indices = eligible(a, predict)
    indices = indices[: a.rows or None]
    # The parse must reproduce onnxruntime before anything is built on it.
    own = np.array([int(ens.margin(r) > 0) for r in X])
    if not np.array_equal(own, predict(X)):
        raise SystemExit(f"the parsed ensemble disagrees with onnxruntime on {int((own != predict(X)).sum())} rows")
    gauntlet = {}
    with open(a.samples_jsonl) as f:
        for line in f:
            s = json.loads(line)
            if s["attack"] == "tree" and s["constrained"]:
                gauntlet[s["row"]] = s
    out = []
    t_all = time.perf_counter()
    for n, i in enumerate(indices):
        x0 = X[i]
        t0 = time.perf_counter()
        prob, xv, cv, pv = build(ens, schema, x0, X, dst, a.time_limit)
        status, error = solve(prob, a.time_limit)
        secs = time.perf_counter() - t0
        rec = dict(row=i, status=error or pulp.LpStatus[status], seconds=secs, variables=len(prob.variables()), constraints=len(prob.constraints))
        sol_status = prob.sol_status if hasattr(prob, "sol_status") else None
        rec["optimal"] = rec["status"] == "Optimal" and sol_status in (None, pulp.LpSolutionOptimal)
        if rec["status"] == "Optimal" or sol_status == pulp.LpSolutionIntegerFeasible:
            adv = extract(xv, cv, pv, x0, ens, schema)
            problems, _ = violation_kinds(schema, adv)
            rec.update(
                objective=float(pulp.value(prob.objective)),
                l0=int(changed(x0, adv).sum()),
                changed=[schema["features"][j]["name"] for j in np.flatnonzero(changed(x0, adv))],
                distance=distance(x0, adv, spread),
                margin=ens.margin(adv),
                onnxruntime_label=int(predict(adv[None])[0]),
                violations=problems,
                adversarial=[float(v) for v in adv],
            )
            rec["verified"] = rec["onnxruntime_label"] == dst and not problems and rec["l0"] == round(rec["objective"])
        g = gauntlet.get(i)
        if g is not None:
            rec["gauntlet"] = dict(evaded=g["evaded"], l0=g["l0"] if g["evaded"] else None, changed=g["changed"], distance=g["distance"])
        out.append(rec)
        gl = rec.get("gauntlet", {}).get("l0")
        print(f"row {i} ({n + 1}/{len(indices)}): {rec['status']} L0 {rec.get('l0')} ({', '.join(rec.get('changed', []))}) "
              f"verified {rec.get('verified')} | gauntlet L0 {gl} ({', '.join(rec.get('gauntlet', {}).get('changed', []))}) | {secs:.1f} s", file=sys.stderr)
        if a.json:  # as it goes, so that an interrupted run keeps what it solved
            with open(a.json, "w") as f:
                json.dump(dict(summary=compare(out), rows=out), f, indent=1)
    summary = compare(out)
    summary.update(
        rows=len(out), seconds=time.perf_counter() - t_all, time_limit_per_row=a.time_limit, margin_eps=MARGIN_EPS,
        versions=dict(python=platform.python_version(), pulp=pulp.__version__, onnx=onnx.__version__,
                      cbc=cbc_version()),
    )
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(summary=summary, rows=out), f, indent=1)


def solve(prob, time_limit, tries=2):
    """CBC's status, or (None, message) when PuLP could not read CBC's answer on any try (seen once
    in ~700 solves: an IndexError in PuLP's readsol_MPS; the same row solved on a rerun)."""
    import pulp

    error = None
    for _ in range(tries):
        try:
            return prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1)), None
        except (IndexError, ValueError, pulp.PulpSolverError) as e:
            error = f"solver error: {type(e).__name__}: {e}"
            print(f"  {error}; trying again", file=sys.stderr)
    return None, error


def cbc_version():
    """The bundled CBC's version line (PuLP 3.3.2 ships CBC 2.10.3)."""
    import subprocess

    import pulp

    text = subprocess.run([pulp.PULP_CBC_CMD().path, "-quit"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Version")), None)


def compare(out):
    """Exact (proven, verified) minimum L0 against gauntlet's tree-attack L0, row by row."""
    both = [r for r in out if r.get("optimal") and r.get("verified") and r.get("gauntlet", {}).get("l0") is not None]
    diffs = [r["gauntlet"]["l0"] - r["l0"] for r in both]
    hist = collections.Counter(r["l0"] for r in both)
    return dict(
        solved_optimal=sum(1 for r in out if r.get("optimal")),
        verified=sum(1 for r in out if r.get("verified")),
        compared=len(both),
        equal=sum(1 for dd in diffs if dd == 0),
        gauntlet_above=sum(1 for dd in diffs if dd > 0),
        gauntlet_above_by=dict(collections.Counter(dd for dd in diffs if dd > 0)),
        gauntlet_below=[r["row"] for r in both if r["gauntlet"]["l0"] < r["l0"]],
        milp_l0_histogram={str(k): v for k, v in sorted(hist.items())},
        milp_l0_mean=float(np.mean([r["l0"] for r in both])) if both else None,
        gauntlet_l0_mean=float(np.mean([r["gauntlet"]["l0"] for r in both])) if both else None,
        unverified_rows=[r["row"] for r in out if r.get("optimal") and not r.get("verified")],
        not_optimal_rows=[r["row"] for r in out if not r.get("optimal")],
    )


if __name__ == "__main__":
    main()
