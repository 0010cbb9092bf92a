"""Exact minimum-L0 evasion of the phishing test set by exhaustive search over the whole domain.

    .venv/bin/python tools/phishing_exhaustive.py [--models gradient_boosting,mlp,...] [--out PATH]

The phishing schema's features take 3 values (7 categorical: 0, 0.5, 1) or 2 (2 binary), so the
feature domain has 3^7 * 2^2 = 8,748 points. Each model (onnxruntime, models/tabular/phishing_<m>.onnx)
classifies all of them once. For every test row that is phishing (label 1) and that the model
classifies as phishing, the minimum L0 evasion is the smallest number of features in which a
domain point that the model classifies legitimate (0) differs from the row:
  - `min_l0`: only mutable features may change (the schema's immutables, age_of_domain and
    is_popular, keep the row's values); null when no such point exists;
  - `min_l0_immutables_free`: every feature may change.
The model's decision is its label output for tree models and argmax of the logits for MLPs.
Row indices are 0-based data rows of data/tabular/phishing/test.csv (row i is file line i + 2).
"""
import argparse
import itertools
import json
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_tabular import ROOT, load_split  # noqa: E402

BENIGN, PHISHING = 0, 1


def domain(schema):
    """Every point of the schema's (discrete) feature domain, float32 [n_points, n_features]."""
    axes = []
    for f in schema["features"]:
        if f["kind"] == "categorical":
            axes.append(f["values"])
        elif f["kind"] == "binary":
            axes.append([0.0, 1.0])
        else:
            raise SystemExit(f"feature {f['name']} is {f['kind']}: the domain is not finite")
    return np.array(list(itertools.product(*axes)), dtype=np.float32)


def predict(path, X):
    """Class index per row: the graph's label output, or argmax of the logits."""
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(None, {sess.get_inputs()[0].name: X})
    if names == ["logits"]:
        return outs[0].argmax(1)
    return np.asarray(outs[0]).astype(np.int64)


def min_l0(rows, benign_points, fixed_mask):
    """For each row, the fewest differing features to any benign point that agrees with the row on
    the features in fixed_mask (-1 where no benign point agrees), the number of benign points at that
    distance, and the mask of features changed by at least one of them."""
    out = np.full(len(rows), -1, dtype=np.int64)
    n_opt = np.zeros(len(rows), dtype=np.int64)
    used = np.zeros(rows.shape, dtype=bool)
    for i, r in enumerate(rows):
        same_fixed = np.all(benign_points[:, fixed_mask] == r[fixed_mask], axis=1)
        cand = benign_points[same_fixed]
        if len(cand):
            dist = (cand != r).sum(1)
            out[i] = int(dist.min())
            best = cand[dist == out[i]]
            n_opt[i] = len(best)
            used[i] = (best != r).any(0)
    return out, n_opt, used


def stats(values):
    found = [v for v in values if v is not None]
    hist = {str(k): found.count(k) for k in sorted(set(found))}
    return dict(
        evadable=len(found),
        not_evadable=len(values) - len(found),
        mean_min_l0=(sum(found) / len(found)) if found else None,
        histogram=hist,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="gradient_boosting,mlp,decision_tree,random_forest,xgboost")
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures", "tabular", "phishing_min_l0.json"))
    a = ap.parse_args()
    Xte, yte, schema = load_split("phishing", "test")
    names = [f["name"] for f in schema["features"]]
    immutable = np.array([f["immutable"] for f in schema["features"]])
    D = domain(schema)
    # Every test row must be a point of the domain, or the search would be over the wrong set.
    assert all((D == r).all(1).any() for r in Xte), "a test row lies outside the schema's domain"
    result = dict(
        about=__doc__.strip().split("\n\n", 1)[1],
        data="data/tabular/phishing/test.csv",
        features=names,
        immutable=[n for n, m in zip(names, immutable) if m],
        domain_points=len(D),
        models={},
    )
    for model in a.models.split(","):
        path = os.path.join(ROOT, "models", "tabular", f"phishing_{model}.onnx")
        pd = predict(path, D)
        pt = predict(path, Xte)
        benign = D[pd == BENIGN]
        targets = np.where((yte == PHISHING) & (pt == PHISHING))[0]
        constrained, n_opt, used = min_l0(Xte[targets], benign, immutable)
        free, _, used_free = min_l0(Xte[targets], benign, np.zeros_like(immutable))
        per_row = {}
        for j, (idx, c, fr) in enumerate(zip(targets, constrained, free)):
            per_row[str(int(idx))] = dict(
                min_l0=None if c < 0 else int(c),
                min_l0_immutables_free=None if fr < 0 else int(fr),
                optimal_points=int(n_opt[j]),
                features_in_some_optimum=[n for n, u in zip(names, used[j]) if u],
            )
        # How many rows have some minimum-L0 evasion that changes each feature (immutables fixed).
        feature_use = {n: int(used[:, k].sum()) for k, n in enumerate(names)}
        feature_use_free = {n: int(used_free[:, k].sum()) for k, n in enumerate(names)}
        s_con = stats([v["min_l0"] for v in per_row.values()])
        s_free = stats([v["min_l0_immutables_free"] for v in per_row.values()])
        result["models"][model] = dict(
            file=f"models/tabular/phishing_{model}.onnx",
            domain_points_benign=int((pd == BENIGN).sum()),
            test_phishing=int((yte == PHISHING).sum()),
            correctly_classified_phishing=len(targets),
            constrained=s_con,
            immutables_free=s_free,
            rows_with_an_optimum_changing=feature_use,
            rows_with_an_optimum_changing_immutables_free=feature_use_free,
            rows=per_row,
        )
        fmt = lambda s: (  # noqa: E731
            f"{s['evadable']}/{len(targets)} evadable, mean min L0 "
            f"{'n/a' if s['mean_min_l0'] is None else format(s['mean_min_l0'], '.4f')}, histogram {s['histogram']}"
        )
        print(f"{model}: {int((pd == BENIGN).sum())}/{len(D)} domain points benign; "
              f"{len(targets)} correctly classified phishing test rows")
        print(f"  immutables fixed: {fmt(s_con)}")
        print(f"  immutables free:  {fmt(s_free)}")
        print(f"  rows with an optimum that changes each feature: {feature_use}")
        print(f"  (immutables free): {feature_use_free}")
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(a.out)}")


if __name__ == "__main__":
    main()
