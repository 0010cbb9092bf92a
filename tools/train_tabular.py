"""Train the tabular models on data/tabular/<dataset>/train.csv and export them to ONNX.

    .venv/bin/python tools/train_tabular.py [--only DATASET[_MODEL]] [--threads 1]

Writes, for every (dataset, model):
  models/tabular/<dataset>_<model>.onnx          input `input` float32 [N, n_features] in the schema's
                                                   feature order (raw values, as in the CSV)
  fixtures/tabular/<dataset>_<model>.expected.npy onnxruntime on data/tabular/<dataset>/test.csv:
                                                   class probabilities float32 [n_test, n_classes] for
                                                   tree models; the raw logits (NOT softmaxed) for MLPs
and, over all of them, fixtures/tabular/expected.json (hashes, outputs, accuracy, ops, TreeEnsemble
attributes) and models/tabular/README.md. Seeded and single-threaded: a rerun gives the same models.
Classes are the schema's `classes` order (class index = position), so ONNX labels are int64 indices.
"""
import argparse
import collections
import csv
import hashlib
import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_tabular_schema import load_schema  # noqa: E402
from onnx_export_util import export_legacy  # noqa: E402

SEED = 0
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MAX_BYTES = 2 * 1024 * 1024
MLP_OPSET = 13
# Explicit opsets, so that the files do not change with skl2onnx's default.
SKL_OPSET = {"": 17, "ai.onnx.ml": 3}
ONNXMLTOOLS_OPSET = 15  # the highest onnxmltools 1.16 converts to


def load_split(dataset, part):
    """(X float32 [n, n_features] in schema order, y class indices, schema)."""
    schema = load_schema(os.path.join(ROOT, "data", "tabular", dataset, "schema.toml"))
    with open(os.path.join(ROOT, "data", "tabular", dataset, part + ".csv"), newline="") as f:
        rows = list(csv.reader(f))
    col = {h: i for i, h in enumerate(rows[0])}
    names = [ft["name"] for ft in schema["features"]]
    X = np.array([[float(r[col[n]]) for n in names] for r in rows[1:]], dtype=np.float32)
    y = np.array([schema["classes"].index(r[col[schema["label"]]]) for r in rows[1:]], dtype=np.int64)
    return X, y, schema


# ---------------------------------------------------------------- model builders


def sk_tree(kind, **hp):
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    cls = dict(
        decision_tree=DecisionTreeClassifier,
        random_forest=RandomForestClassifier,
        gradient_boosting=GradientBoostingClassifier,
        hist_gradient_boosting=HistGradientBoostingClassifier,
    )[kind]
    if kind == "random_forest":
        hp.setdefault("n_jobs", 1)
    return cls(random_state=SEED, **hp)


def export_skl2onnx(model, n_features, path, zipmap):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = None if zipmap else {id(model): {"zipmap": False}}
    onx = convert_sklearn(
        model, initial_types=[("input", FloatTensorType([None, n_features]))], options=options, target_opset=SKL_OPSET
    )
    save_reproducibly(onx, path)


def save_reproducibly(onx, path):
    """Both converters name the graph with a fresh uuid and list the opsets in set order (which
    varies with Python's hash seed); a fixed name and sorted opsets make reruns byte-identical."""
    onx.graph.name = os.path.splitext(os.path.basename(path))[0]
    opsets = sorted(((o.domain, o.version) for o in onx.opset_import))
    del onx.opset_import[:]
    onx.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets)
    onnx.save(onx, path)


def export_onnxmltools(model, n_features, path, which):
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, n_features]))]
    if which == "xgboost":
        onx = onnxmltools.convert_xgboost(model, initial_types=types, target_opset=ONNXMLTOOLS_OPSET)
    else:
        onx = onnxmltools.convert_lightgbm(model, initial_types=types, target_opset=ONNXMLTOOLS_OPSET, zipmap=False)
    save_reproducibly(onx, path)


class Standardize(torch.nn.Module):
    """(x - mean) / std with the training set's statistics, inside the graph (Sub, Div)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, -1))

    def forward(self, x):
        return (x - self.mean) / self.std


def train_mlp(X, y, n_classes, standardize, epochs, lr=1e-3, batch=64, weight_decay=0.0):
    """n_features -> 64 -> 64 -> n_classes ReLU MLP, Adam, seeded minibatches; returns the module."""
    torch.manual_seed(SEED)
    layers = []
    if standardize:
        mean = X.mean(0)
        std = X.std(0)
        std[std < 1e-6] = 1.0  # a constant column stays constant instead of dividing by 0
        layers.append(Standardize(mean, std))
    layers += [
        torch.nn.Linear(X.shape[1], 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, n_classes),
    ]
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    net.eval()
    return net


# ---------------------------------------------------------------- what to train

# Models the issue asks for only where the installed exporter converts them cleanly.
OPTIONAL = ("spambase_hist_gradient_boosting", "spambase_lightgbm")


# (dataset, model) -> (description of hyperparameters, builder(X, y, n_classes, path, n_features))
def plan():
    def skl(kind, zipmap=False, **hp):
        def build(X, y, k, path):
            m = sk_tree(kind, **hp).fit(X, y)
            export_skl2onnx(m, X.shape[1], path, zipmap)
            return m

        name = dict(
            decision_tree="DecisionTreeClassifier",
            random_forest="RandomForestClassifier",
            gradient_boosting="GradientBoostingClassifier",
            hist_gradient_boosting="HistGradientBoostingClassifier",
        )[kind]
        desc = f"sklearn {name}({''.join(f'{k}={v}, ' for k, v in hp.items())}random_state={SEED})"
        return desc, ("skl2onnx" + (" (default options: ZipMap)" if zipmap else " (zipmap=False)")), build

    def xgb(**hp):
        def build(X, y, k, path):
            from xgboost import XGBClassifier

            m = XGBClassifier(random_state=SEED, n_jobs=1, **hp).fit(X, y)
            export_onnxmltools(m, X.shape[1], path, "xgboost")
            return m

        return f"xgboost XGBClassifier({', '.join(f'{k}={v}' for k, v in hp.items())}, random_state={SEED}, n_jobs=1)", "onnxmltools convert_xgboost", build

    def lgbm(**hp):
        def build(X, y, k, path):
            from lightgbm import LGBMClassifier

            m = LGBMClassifier(random_state=SEED, n_jobs=1, deterministic=True, verbose=-1, **hp).fit(X, y)
            export_onnxmltools(m, X.shape[1], path, "lightgbm")
            return m

        return f"lightgbm LGBMClassifier({', '.join(f'{k}={v}' for k, v in hp.items())}, random_state={SEED}, n_jobs=1, deterministic=True)", "onnxmltools convert_lightgbm (zipmap=False)", build

    def mlp(standardize, epochs, **kw):
        def build(X, y, k, path):
            net = train_mlp(X, y, k, standardize, epochs, **kw)
            export_legacy(net, torch.from_numpy(X[:2]), path, MLP_OPSET, output_names=("logits",))
            return net

        arch = ("standardize(train mean/std) -> " if standardize else "") + "Linear(n,64) ReLU Linear(64,64) ReLU Linear(64,k)"
        opts = ", ".join(f"{k}={v}" for k, v in kw.items())
        return f"torch MLP {arch}; Adam lr 1e-3, batch 64, {epochs} epochs{', ' + opts if opts else ''}, seed {SEED}", f"torch.onnx.export (TorchScript exporter, opset {MLP_OPSET}, dynamic batch)", build

    return {
        ("phishing", "decision_tree"): skl("decision_tree", zipmap=True),
        ("phishing", "random_forest"): skl("random_forest", n_estimators=100, max_depth=8),
        ("phishing", "gradient_boosting"): skl("gradient_boosting", n_estimators=100),
        ("phishing", "xgboost"): xgb(n_estimators=100, max_depth=4),
        ("phishing", "mlp"): mlp(False, 100),
        ("spambase", "gradient_boosting"): skl("gradient_boosting", n_estimators=100, max_depth=3),
        ("spambase", "random_forest"): skl("random_forest", n_estimators=50, max_depth=10),
        ("spambase", "xgboost"): xgb(n_estimators=100),
        ("spambase", "hist_gradient_boosting"): skl("hist_gradient_boosting", max_iter=100),
        ("spambase", "lightgbm"): lgbm(n_estimators=100),
        ("spambase", "mlp"): mlp(True, 60),
        ("breast_cancer", "gradient_boosting"): skl("gradient_boosting", n_estimators=100),
        ("breast_cancer", "random_forest"): skl("random_forest", n_estimators=100, max_depth=8),
        ("breast_cancer", "mlp"): mlp(True, 100),
    }


# ---------------------------------------------------------------- inspection of the exported graph


def graph_facts(path):
    """Ops (domain, type, count), opsets, outputs and the TreeEnsemble attributes of an ONNX file."""
    m = onnx.load(path)
    ops = collections.Counter((n.domain or "ai.onnx", n.op_type) for n in m.graph.node)
    trees = []
    for n in m.graph.node:
        if not n.op_type.startswith("TreeEnsemble"):
            continue
        a = {at.name: helper.get_attribute_value(at) for at in n.attribute}
        t = {"op_type": n.op_type, "domain": n.domain, "attributes": sorted(a)}
        t["post_transform"] = a.get("post_transform", b"NONE").decode()
        for key in ("base_values", "base_values_as_tensor"):
            if key in a:
                v = a[key] if key == "base_values" else numpy_helper.to_array(a[key]).tolist()
                t[key] = [float(x) for x in v]
        tree_ids = a.get("nodes_treeids", [])
        t["n_trees"] = len(set(tree_ids))
        t["n_nodes"] = len(tree_ids)
        t["nodes_modes"] = sorted(collections.Counter(x.decode() for x in a.get("nodes_modes", [])).items())
        t["nodes_values_as_tensor"] = "nodes_values_as_tensor" in a
        t["nodes_hitrates_present"] = "nodes_hitrates" in a or "nodes_hitrates_as_tensor" in a
        t["nodes_missing_value_tracks_true"] = sorted(set(a.get("nodes_missing_value_tracks_true", [])))
        if "classlabels_int64s" in a:
            t["classlabels_int64s"] = list(a["classlabels_int64s"])
        if "classlabels_strings" in a:
            t["classlabels_strings"] = [s.decode() for s in a["classlabels_strings"]]
        leaf_ids = a.get("class_ids", a.get("target_ids", []))
        weights = np.asarray(a.get("class_weights", a.get("target_weights", [])), dtype=np.float64)
        t["leaf_weight_targets"] = sorted(set(int(x) for x in leaf_ids))
        t["n_leaf_weights"] = len(leaf_ids)
        t["leaf_weights_min_max"] = [float(weights.min()), float(weights.max())] if len(weights) else None
        # onnxruntime's binary case: 2 class labels, weights for one class id only (see reference_tree_scores).
        labels = a.get("classlabels_int64s", a.get("classlabels_strings", []))
        t["binary_case"] = len(labels) == 2 and len(t["leaf_weight_targets"]) == 1
        t["leaf_weights_all_nonnegative"] = bool((weights >= 0).all()) if len(weights) else None
        t["aggregate_function"] = a["aggregate_function"].decode() if "aggregate_function" in a else None
        trees.append(t)
    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    outputs = []
    for o in m.graph.output:
        outputs.append(dict(name=o.name, type=str(o.type).replace("\n", " ").strip()))
    return dict(
        ops=[dict(domain=d, op_type=t, count=c) for (d, t), c in sorted(ops.items())],
        opsets=opsets,
        outputs=[o["name"] for o in outputs],
        output_types={o["name"]: " ".join(o["type"].split()) for o in outputs},
        producer=f"{m.producer_name} {m.producer_version}",
        tree_ensembles=trees,
    )


def reference_tree_scores(path, X):
    """A plain evaluation of the graph's one TreeEnsembleClassifier (binary case, as these files use
    it), to pin down the semantics the Rust evaluator must reproduce: every tree is walked with float32
    comparisons (BRANCH_LEQ: x <= t, BRANCH_LT: x < t, true branch when the test holds); the leaves'
    class weights are summed in float32 tree by tree onto base_values; with weights for one class id
    only (onnxruntime's binary case) the sum s gives probabilities [1 - s, s] (post_transform NONE,
    all weights >= 0, label 1 iff s > 0.5) or [sigmoid(-s), sigmoid(s)] (LOGISTIC; label 1 iff s > 0
    when some weight is negative). Returns (probabilities float32 [n, 2], labels)."""
    m = onnx.load(path)
    (node,) = [n for n in m.graph.node if n.op_type == "TreeEnsembleClassifier"]
    a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
    tree, nid = np.asarray(a["nodes_treeids"]), np.asarray(a["nodes_nodeids"])
    index = {(int(t), int(n)): i for i, (t, n) in enumerate(zip(tree, nid))}
    feat = np.asarray(a["nodes_featureids"])
    thr = np.asarray(a["nodes_values"], dtype=np.float32)
    modes = [x.decode() for x in a["nodes_modes"]]
    true_id, false_id = np.asarray(a["nodes_truenodeids"]), np.asarray(a["nodes_falsenodeids"])
    if set(modes) - {"BRANCH_LEQ", "BRANCH_LT", "LEAF"} or len(set(a["class_ids"])) != 1:
        raise NotImplementedError(f"{path}: only the binary case with LEQ/LT branches is covered here")
    leaf_weight = collections.defaultdict(lambda: np.float32(0))
    for t, n, w in zip(a["class_treeids"], a["class_nodeids"], a["class_weights"]):
        leaf_weight[(int(t), int(n))] = np.float32(leaf_weight[(int(t), int(n))] + np.float32(w))
    roots = sorted(set(int(t) for t in tree))
    base = np.float32(a.get("base_values", [0.0])[0])
    post = a.get("post_transform", b"NONE").decode()
    nonneg = all(w >= 0 for w in a["class_weights"])
    probs, labels = np.zeros((len(X), 2), dtype=np.float32), np.zeros(len(X), dtype=np.int64)
    for r, x in enumerate(X.astype(np.float32)):
        s = base
        for t in roots:
            i = index[(t, 0)]
            while modes[i] != "LEAF":
                v, th = x[feat[i]], thr[i]
                go_true = v <= th if modes[i] == "BRANCH_LEQ" else v < th
                i = index[(t, int(true_id[i] if go_true else false_id[i]))]
            s = np.float32(s + leaf_weight[(t, int(nid[i]))])
        if post == "NONE" and nonneg:
            probs[r] = [np.float32(1) - s, s]
            labels[r] = int(s > 0.5)
        elif post == "LOGISTIC" and not nonneg:
            probs[r] = [1 / (1 + np.exp(np.float32(s))), 1 / (1 + np.exp(-np.float32(s)))]
            labels[r] = int(s > 0)
        else:
            raise NotImplementedError(f"{path}: post_transform {post} with nonnegative weights {nonneg}")
    return probs, labels


def run_ort(path, X, n_classes):
    """onnxruntime's scores as float32 [n, n_classes] and the name of the output that holds them,
    plus the predicted class indices (the graph's label output where it has one)."""
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: X})))
    if names == ["logits"]:
        logits = outs["logits"].astype(np.float32)
        return logits, "logits", logits.argmax(1)
    label_name, score_name = names[0], names[1]
    scores = outs[score_name]
    if isinstance(scores, list):  # ZipMap: a sequence of {class: probability}
        scores = np.array([[d[c] for c in range(n_classes)] for d in scores], dtype=np.float32)
    return np.asarray(scores, dtype=np.float32), score_name, np.asarray(outs[label_name]).astype(np.int64)


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def versions():
    import lightgbm
    import onnxmltools
    import skl2onnx
    import sklearn
    import xgboost

    return {
        "python": sys.version.split()[0],
        "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "xgboost": xgboost.__version__,
        "lightgbm": lightgbm.__version__,
        "onnxmltools": onnxmltools.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
    }


def write_readme(entries, skipped, vers, path):
    lines = [
        "# models/tabular",
        "",
        "Tabular classifiers for gauntlet's tabular audit, trained by `tools/train_tabular.py` on",
        "`data/tabular/<dataset>/train.csv` (80 % stratified split, seed 0; see `data/tabular/README.md`) and",
        "exported to ONNX. Every model reads `input`: float32 `[N, n_features]`, the raw CSV values in the",
        "order of the data set's `schema.toml` (MLPs standardize inside the graph where noted). Class index =",
        "position in the schema's `classes` (phishing `0`,`1`; spambase `nonspam`,`spam`; breast cancer",
        "`malignant`,`benign`). Tree models output the label (int64) and class probabilities; MLPs output",
        "raw logits `[N, k]`.",
        "",
        "Produced with " + ", ".join(f"{k} {v}" for k, v in vers.items()) + " (Linux x86_64, CPU, one thread):",
        "",
        "```",
        ".venv/bin/python tools/train_tabular.py",
        "```",
        "",
        "Test accuracy is onnxruntime's on `data/tabular/<dataset>/test.csv`. `fixtures/tabular/expected.json`",
        "has the same facts machine-readably plus each graph's ops and TreeEnsemble attributes;",
        "`fixtures/tabular/<file>.expected.npy` holds onnxruntime's outputs on the test rows.",
        "",
        "| file | data set | model, hyperparameters | exporter | output used | test acc. | bytes | sha256 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(
            f"| `{os.path.basename(e['file'])}` | {e['dataset']} | {e['trainer']} | {e['exporter']} | "
            f"`{e['score_output']}` ({e['score_kind']}) | {100 * e['test_accuracy']:.2f} % ({e['n_test']}) | "
            f"{e['bytes']:,} | `{e['sha256']}` |"
        )
    lines += [
        "",
        "What each graph contains (ops by domain; for the TreeEnsembleClassifier: trees, nodes, branch modes,",
        "post_transform, base_values). All tree files use the binary case of `ai.onnx.ml.TreeEnsembleClassifier`",
        "(two `classlabels_int64s`, leaf weights for class id 0 only; see `reference_tree_scores` in",
        "`tools/train_tabular.py`, which reproduces onnxruntime on every train and test row), float",
        "`nodes_values` (no `nodes_values_as_tensor`), and no `aggregate_function` attribute (default SUM).",
        "",
        "| file | ops | trees / nodes | nodes_modes | post_transform | base_values |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        ops = ", ".join(f"{o['domain']}:{o['op_type']}" + (f"×{o['count']}" if o["count"] > 1 else "") for o in e["ops"])
        t = e["tree_ensembles"][0] if e["tree_ensembles"] else None
        if t:
            modes = ", ".join(f"{m} {c}" for m, c in t["nodes_modes"])
            base = ", ".join(f"{b:.9g}" for b in t.get("base_values", [])) or "absent"
            lines.append(f"| `{os.path.basename(e['file'])}` | {ops} | {t['n_trees']} / {t['n_nodes']} | {modes} | {t['post_transform']} | {base} |")
        else:
            lines.append(f"| `{os.path.basename(e['file'])}` | {ops} | – | – | – | – |")
    lines += [
        "",
        "Things an ONNX evaluator meets in these files:",
        "- `phishing_decision_tree.onnx` keeps skl2onnx's default ZipMap: `output_probability` is a sequence of",
        "  maps {int64 class: float}, `output_label` comes through a Cast (opset 9). All other tree files have",
        "  `label` int64 `[N]` and `probabilities` float32 `[N, 2]` (through an Identity in the sklearn GBDTs).",
        "- `spambase_lightgbm.onnx` (onnxmltools): probabilities pass through `Mul` by a constant `one` and",
        "  the label through `Cast`; its `label` output is *declared* with shape `[1]` but is `[N]` at run time",
        "  (onnxruntime warns), so declared output shapes are not to be trusted. It is the only file whose",
        "  `nodes_missing_value_tracks_true` holds 1s (matters for NaN inputs only; the data have none).",
        "- XGBoost (onnxmltools) uses `BRANCH_LT` (x < t); sklearn and LightGBM use `BRANCH_LEQ` (x <= t).",
        "- skl2onnx and LightGBM files carry `nodes_hitrates` (informational), XGBoost's do not.",
        "- Opsets: sklearn/skl2onnx files import ai.onnx.ml 1 and ai.onnx 9–17 (skl2onnx keeps the lowest",
        "  each op needs, under the requested 17 / ml 3); onnxmltools files request 15 (its maximum).",
    ]
    for e in skipped:
        lines.append(f"\nNot shipped: `{e['dataset']}_{e['model']}` ({e['trainer']}) — {e['exporter']} failed: `{e['error']}`.")
    lines += [
        "",
        "Data: UCI Website Phishing (Abdelhamid, Ayesh, Thabtah; via the `river` wheel), UCI Spambase (Hopkins,",
        "Reeber, Forman, Suermondt, HP Labs; CC BY 4.0; via Debian `r-cran-kernlab`), Breast Cancer Wisconsin",
        "(Diagnostic) (Wolberg, Street, Mangasarian; CC BY 4.0; via scikit-learn). Details in `data/tabular/README.md`.",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="train just these (comma-separated dataset or dataset_model); expected.json is then not rewritten")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    np.random.seed(SEED)
    model_dir = os.path.join(ROOT, "models", "tabular")
    fix_dir = os.path.join(ROOT, "fixtures", "tabular")
    os.makedirs(model_dir, exist_ok=True)
    os.makedirs(fix_dir, exist_ok=True)
    only = set(a.only.split(",")) if a.only else None
    vers = versions()
    entries, skipped = [], []
    for (dataset, model), (trainer, exporter, build) in plan().items():
        name = f"{dataset}_{model}"
        if only and dataset not in only and name not in only:
            continue
        t0 = time.time()
        Xtr, ytr, schema = load_split(dataset, "train")
        Xte, yte, _ = load_split(dataset, "test")
        k = len(schema["classes"])
        path = os.path.join(model_dir, name + ".onnx")
        try:
            fitted = build(Xtr, ytr, k, path)
        except Exception as e:  # noqa: BLE001 — only the models the plan marks optional may fail
            if name not in OPTIONAL:
                raise
            msg = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            if isinstance(e.__cause__, Exception):
                msg = f"{type(e.__cause__).__name__}: {e.__cause__} (raised as {msg})"
            print(f"{name}: SKIPPED, the exporter failed: {msg}", flush=True)
            skipped.append(dict(dataset=dataset, model=model, trainer=trainer, exporter=exporter, error=msg))
            if os.path.exists(path):
                os.remove(path)
            continue
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise SystemExit(f"{path} is {size} bytes, over the 2 MB the repository ships; shrink the model")
        scores, score_name, pred = run_ort(path, Xte, k)
        np.save(os.path.join(fix_dir, name + ".expected.npy"), scores)
        acc = float((pred == yte).mean())
        if hasattr(fitted, "predict"):
            native = np.asarray(fitted.predict(Xte)).astype(np.int64)
        else:
            with torch.no_grad():
                native = fitted(torch.from_numpy(Xte)).argmax(1).numpy()
        facts = graph_facts(path)
        reference = None
        if facts["tree_ensembles"]:
            # The reference walk must reproduce onnxruntime on train and test rows alike.
            Xall = np.concatenate([Xtr, Xte])
            ref_p, ref_l = reference_tree_scores(path, Xall)
            ort_p, _, ort_l = run_ort(path, Xall, k)
            reference = dict(
                rows=int(len(Xall)),
                label_mismatches=int((ref_l != ort_l).sum()),
                max_abs_probability_diff=float(np.abs(ref_p - ort_p).max()),
            )
        entry = dict(
            dataset=dataset,
            model=model,
            file=f"models/tabular/{name}.onnx",
            sha256=sha256(path),
            bytes=size,
            trainer=trainer,
            exporter=exporter,
            input=dict(name="input", dtype="float32", shape=["N", Xte.shape[1]]),
            features=[f["name"] for f in schema["features"]],
            classes=schema["classes"],
            n_classes=k,
            score_output=score_name,
            score_kind="logits" if score_name == "logits" else "probabilities",
            label_output=None if score_name == "logits" else facts["outputs"][0],
            expected=f"fixtures/tabular/{name}.expected.npy",
            n_test=int(len(yte)),
            test_accuracy=acc,
            predicted_counts={schema["classes"][c]: int((pred == c).sum()) for c in range(k)},
            true_counts={schema["classes"][c]: int((yte == c).sum()) for c in range(k)},
            native_vs_onnxruntime_label_mismatches=int((native != pred).sum()),
            argmax_vs_label_mismatches=int((scores.argmax(1) != pred).sum()),
            reference_walk_vs_onnxruntime=reference,
            **facts,
        )
        entries.append(entry)
        print(
            f"{name}: test acc {100 * acc:.2f} % (onnxruntime), {size:,} bytes, outputs {facts['outputs']}, "
            f"ops {[o['op_type'] for o in facts['ops']]}, native/ort label mismatches {entry['native_vs_onnxruntime_label_mismatches']}, "
            f"reference walk vs ort {reference}, "
            f"{time.time() - t0:.1f} s",
            flush=True,
        )
    if only:
        return
    doc = dict(
        about="onnxruntime's outputs of models/tabular/*.onnx on data/tabular/<dataset>/test.csv (written by tools/train_tabular.py). "
        "`expected` is float32 [n_test, n_classes]: class probabilities for tree models (the `score_output`, "
        "after ZipMap for the ZipMap model), raw logits for MLPs (no softmax). Labels are class indices into `classes`.",
        versions=vers,
        models=entries,
        skipped=skipped,
    )
    with open(os.path.join(fix_dir, "expected.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    write_readme(entries, skipped, vers, os.path.join(model_dir, "README.md"))


if __name__ == "__main__":
    main()
