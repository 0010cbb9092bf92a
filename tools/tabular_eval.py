"""How the tabular peer comparisons (tools/compare_tabular_hsj.py, tools/tree_milp.py) judge an
adversarial row, computed exactly as `gauntlet tabular-audit` does, so that every method's numbers
come from one place:

- the model's decision: onnxruntime's `label` output on the float32 row;
- `distance`: L2 norm of (x' - x) / spread, spread = max - min of the column over the data file's
  rows (1 where a column is constant), as gauntlet's `Space::distance`;
- `l0`: columns with |x' - x| > 1e-6 * max(1, |x|) (gauntlet counts exact changes; its rows only
  differ where it moved a column, so both counts agree on its rows);
- schema violations: tools/check_tabular_schema.py's `row_violations` (kinds, bounds, rules),
  grouped as kind / bound / rule.
"""
import collections
import csv
import os
import re
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_tabular_schema import load_schema, row_violations  # noqa: E402

L0_TOL = 1e-6


def add_task_args(ap):
    """The model, data, schema and direction flags both comparison scripts take (spambase GBDT by default)."""
    ap.add_argument("--model", default="models/tabular/spambase_gradient_boosting.onnx")
    ap.add_argument("--data", default="data/tabular/spambase/test.csv")
    ap.add_argument("--schema", default="data/tabular/spambase/schema.toml")
    ap.add_argument("--direction", default="spam:nonspam", help="FROM:TO class labels, as gauntlet's --direction")


def eligible(a, predict):
    """(schema, X, spread, source class, target class, indices): the data file's rows of class FROM
    that the model classifies FROM, in file order -- the rows gauntlet attacks with --direction."""
    schema, X, y = load_rows(a.schema, a.data)
    src, dst = (schema["classes"].index(c) for c in a.direction.split(":"))
    pred = predict(X)
    indices = [int(i) for i in np.flatnonzero((y == src) & (pred == src))]
    return schema, X, spreads(X), src, dst, indices


def load_rows(schema_path, csv_path):
    """(schema, X float32 [n, n_features] in schema order, y class indices)."""
    schema = load_schema(schema_path)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    col = {h: i for i, h in enumerate(rows[0])}
    names = [ft["name"] for ft in schema["features"]]
    X = np.array([[float(r[col[n]]) for n in names] for r in rows[1:]], dtype=np.float32)
    y = np.array([schema["classes"].index(r[col[schema["label"]]]) for r in rows[1:]], dtype=np.int64)
    return schema, X, y


class OnnxLabels:
    """The model's predicted class (its `label` output) through onnxruntime, counting rows scored."""

    def __init__(self, path):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        names = [o.name for o in self.sess.get_outputs()]
        if "label" not in names:
            raise SystemExit(f"{path}: no `label` output (outputs: {names}); expected a tree ensemble from skl2onnx")
        self.label_index = names.index("label")
        self.queries = 0

    def __call__(self, X):
        X = np.ascontiguousarray(X, dtype=np.float32)
        self.queries += len(X)
        return np.asarray(self.sess.run(None, {self.input: X})[self.label_index]).astype(np.int64)


def spreads(X):
    """Per column max - min over the rows (1 for a constant column), float64."""
    s = X.max(0).astype(np.float64) - X.min(0).astype(np.float64)
    return np.where(s > 0, s, 1.0)


def distance(x, adv, spread):
    """gauntlet's change size: L2 of the per-column change in units of the column's spread."""
    return float(np.sqrt((((adv.astype(np.float64) - x.astype(np.float64)) / spread) ** 2).sum()))


def changed(x, adv):
    """Mask of the columns that changed by more than 1e-6 relative."""
    x64, a64 = x.astype(np.float64), adv.astype(np.float64)
    return np.abs(a64 - x64) > L0_TOL * np.maximum(1.0, np.abs(x64))


def violation_kinds(schema, adv):
    """The schema violations of a row, as (list of messages, set of kinds among kind/bound/rule)."""
    values = {f["name"]: float(v) for f, v in zip(schema["features"], adv)}
    problems = row_violations(schema, values)
    kinds = set()
    for p in problems:
        if p.startswith("rule ") or p.startswith("one-hot"):
            kinds.add("rule")
        elif "< min" in p or "> max" in p:
            kinds.add("bound")
        else:
            kinds.add("kind")
    return problems, kinds


def summarize(schema, X, spread, adv_rows, fooled):
    """Numbers over one method's answers: adv_rows float32 [n, d] (the original where none),
    fooled bool [n] (the model, re-run here, gives the target class)."""
    n = len(X)
    d, l0, broken = [], [], []
    kinds = {"kind": 0, "bound": 0, "rule": 0}
    what = collections.Counter()
    for i in np.flatnonzero(fooled):
        d.append(distance(X[i], adv_rows[i], spread))
        l0.append(int(changed(X[i], adv_rows[i]).sum()))
        problems, k = violation_kinds(schema, adv_rows[i])
        broken.append(bool(problems))
        for kind in k:
            kinds[kind] += 1
        # "capitalLong = 3.7 is not an integer" -> "capitalLong is not an integer"
        what.update(set(re.sub(r" = \S+", "", re.sub(r" fails: .*", " fails", p)) for p in problems))
    n_fooled = int(fooled.sum())
    n_broken = int(sum(broken))
    return dict(
        attacked=n,
        fooled=n_fooled,
        success_rate=n_fooled / n if n else None,
        evaded=n_fooled - n_broken,
        distance_median=float(np.median(d)) if d else None,
        distance_mean=float(np.mean(d)) if d else None,
        l0_median=float(np.median(l0)) if l0 else None,
        l0_mean=float(np.mean(l0)) if l0 else None,
        violating=n_broken,
        violation_share=n_broken / n_fooled if n_fooled else None,
        violations_by_kind=kinds,
        violations_rows_by_message=dict(what.most_common()),
    )
