"""Writes the tree-ensemble fixtures of `crates/gauntlet-trees` into `fixtures/trees/`.

Each fixture is `NAME.onnx` (the model), `NAME.x.npy` (float32 rows, NaN included where
the model should see missing values), `NAME.expected.npy` (float32: what onnxruntime returns
as the probability / prediction output, ZipMap turned back into a matrix) and
`NAME.labels.txt` (classifiers: onnxruntime's label per row, one a line).

Two families:
- hand-built graphs (onnx.helper) that cover every branch mode, NaN with missing values
  tracked true and false, every post_transform, SUM/AVERAGE/MIN/MAX, the binary case in
  each of its forms, multiclass, several regression targets, int64 and string labels,
  ZipMap, Cast, Identity and the elementwise ops;
- real exports: scikit-learn (skl2onnx) DecisionTree, RandomForest, ExtraTrees,
  GradientBoosting, HistGradientBoosting, and XGBoost / LightGBM (onnxmltools), on
  scikit-learn's breast cancer, iris and diabetes data.

onnxruntime runs with one thread, so its sums over trees follow the trees' order (with
several threads it adds per-thread partial sums, a different rounding).

Run: /work/main/.venv/bin/python tools/export_tree_fixtures.py
(scikit-learn, skl2onnx, xgboost, lightgbm, onnxmltools, onnx, onnxruntime).
"""

import os
import sys

import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
from onnx import TensorProto

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "trees")
ML = "ai.onnx.ml"
RNG = np.random.default_rng(20261207)


def run_reference(model_bytes, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session, session.run(None, {name: x})


def to_matrix(value, class_order=None):
    """The probability / prediction output as a float32 matrix (ZipMap → rows of dicts)."""
    if isinstance(value, list):
        keys = class_order if class_order is not None else list(value[0].keys())
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
    value = np.asarray(value, dtype=np.float32)
    return value.reshape(value.shape[0], -1)


def save(name, model, x, classifier):
    data = model.SerializeToString()
    onnx.checker.check_model(model)
    double_input = model.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    session, outputs = run_reference(data, x.astype(np.float64) if double_input else x)
    names = [o.name for o in session.get_outputs()]
    if classifier:
        labels, probabilities = outputs[0], outputs[1]
        expected = to_matrix(probabilities)
        with open(os.path.join(OUT, name + ".labels.txt"), "w") as f:
            for label in np.asarray(labels).reshape(-1):
                f.write(f"{label.decode() if isinstance(label, bytes) else label}\n")
    else:
        expected = to_matrix(outputs[0])
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(data)
    np.save(os.path.join(OUT, name + ".x.npy"), x.astype(np.float32))
    np.save(os.path.join(OUT, name + ".expected.npy"), expected)
    print(f"{name}: {x.shape[0]} rows, outputs {names}, expected {expected.shape}")


# ---------------------------------------------------------------- hand-built graphs

class TreeBuilder:
    """Collects nodes of several trees in the attribute layout of the ONNX-ML ops."""

    def __init__(self):
        self.nodes = []  # (tree, node, feature, value, mode, true, false, missing_true)
        self.leaves = []  # (tree, node, output, weight)

    def branch(self, tree, node, feature, value, mode, true, false, missing_true=0):
        self.nodes.append((tree, node, feature, value, mode, true, false, missing_true))

    def leaf(self, tree, node, weights):
        self.nodes.append((tree, node, 0, 0.0, "LEAF", 0, 0, 0))
        for output, weight in weights:
            self.leaves.append((tree, node, output, weight))

    def attributes(self, prefix, values_as_tensor=False):
        cols = list(zip(*self.nodes))
        attrs = dict(
            nodes_treeids=list(cols[0]),
            nodes_nodeids=list(cols[1]),
            nodes_featureids=list(cols[2]),
            nodes_modes=list(cols[4]),
            nodes_truenodeids=list(cols[5]),
            nodes_falsenodeids=list(cols[6]),
            nodes_missing_value_tracks_true=list(cols[7]),
            nodes_hitrates=[1.0] * len(self.nodes),
        )
        if values_as_tensor:
            attrs["nodes_values_as_tensor"] = oh.make_tensor(
                "nodes_values", TensorProto.DOUBLE, [len(cols[3])], list(cols[3]))
            attrs["nodes_hitrates_as_tensor"] = oh.make_tensor(
                "nodes_hitrates", TensorProto.DOUBLE, [len(cols[3])], [1.0] * len(cols[3]))
            del attrs["nodes_hitrates"]
        else:
            attrs["nodes_values"] = list(cols[3])
        leaves = list(zip(*self.leaves))
        attrs[prefix + "_treeids"] = list(leaves[0])
        attrs[prefix + "_nodeids"] = list(leaves[1])
        attrs[prefix + "_ids"] = list(leaves[2])
        if values_as_tensor:
            attrs[prefix + "_weights_as_tensor"] = oh.make_tensor(
                "weights", TensorProto.DOUBLE, [len(leaves[3])], [w / 3.0 for w in leaves[3]])
        else:
            attrs[prefix + "_weights"] = list(leaves[3])
        return attrs


def random_tree(builder, tree, n_features, depth, n_outputs, modes, weight_range, rng,
                thresholds, outputs_per_leaf=None):
    """A complete binary tree of `depth` levels, nodes numbered breadth first."""
    next_id = [1]

    def grow(node, level):
        if level == depth:
            outs = outputs_per_leaf if outputs_per_leaf is not None else range(n_outputs)
            builder.leaf(tree, node, [(o, float(rng.uniform(*weight_range))) for o in outs])
            return
        t, f = next_id[0], next_id[0] + 1
        next_id[0] += 2
        feature = int(rng.integers(n_features))
        builder.branch(tree, node, feature, float(rng.choice(thresholds[feature])),
                       str(rng.choice(modes)), t, f, int(rng.integers(2)))
        grow(t, level + 1)
        grow(f, level + 1)

    grow(0, 0)


def grid_rows(n_rows, thresholds, rng, nan_share=0.1):
    """Rows whose values hit thresholds exactly, fall between them, or are NaN."""
    n_features = len(thresholds)
    x = np.empty((n_rows, n_features), dtype=np.float32)
    for j in range(n_features):
        t = np.asarray(thresholds[j], dtype=np.float32)
        exact = rng.choice(t, n_rows)
        near = np.nextafter(exact, rng.choice([-np.inf, np.inf], n_rows).astype(np.float32))
        spread = rng.uniform(t.min() - 1, t.max() + 1, n_rows).astype(np.float32)
        pick = rng.integers(3, size=n_rows)
        x[:, j] = np.where(pick == 0, exact, np.where(pick == 1, near, spread))
    x[rng.random(x.shape) < nan_share] = np.nan
    return x


def feature_thresholds(n_features, rng):
    # float32-representable thresholds, some of them non-round (0.1 is not exact in float32)
    return [np.unique(np.concatenate([rng.integers(-3, 4, 3), [0.1, 2.5]])).astype(np.float32)
            .tolist() for _ in range(n_features)]


def make_model(ensemble_node, n_features, outputs, extra_nodes=(), initializers=(),
               ml_opset=3, input_type=TensorProto.FLOAT):
    graph = oh.make_graph(
        [ensemble_node, *extra_nodes], "trees",
        [oh.make_tensor_value_info("X", input_type, [None, n_features])],
        outputs, initializer=list(initializers))
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17),
                                               oh.make_opsetid(ML, ml_opset)],
                         ir_version=8)


def regressor(name, builder, n_features, n_targets, x, aggregate="SUM", post="NONE",
              base_values=None, values_as_tensor=False):
    attrs = builder.attributes("target", values_as_tensor)
    attrs.update(n_targets=n_targets, aggregate_function=aggregate, post_transform=post)
    if base_values is not None:
        attrs["base_values"] = base_values
    node = oh.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, name="ensemble",
                        **attrs)
    # onnxruntime reads `*_as_tensor` doubles only for a double input, and then compares and
    # sums in double
    elem = TensorProto.DOUBLE if values_as_tensor else TensorProto.FLOAT
    out = [oh.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n_targets])]
    save(name, make_model(node, n_features, out, input_type=elem), x, classifier=False)


def classifier(name, builder, n_features, labels, x, post="NONE", base_values=None,
               zipmap=False, extra=None):
    attrs = builder.attributes("class")
    attrs["post_transform"] = post
    if isinstance(labels[0], str):
        attrs["classlabels_strings"] = labels
        label_type = TensorProto.STRING
    else:
        attrs["classlabels_int64s"] = labels
        label_type = TensorProto.INT64
    if base_values is not None:
        attrs["base_values"] = base_values
    node = oh.make_node("TreeEnsembleClassifier", ["X"], ["label", "scores"], domain=ML,
                        name="ensemble", **attrs)
    nodes, inits = [], []
    outputs = [oh.make_tensor_value_info("label", label_type, [None])]
    if extra is not None:
        nodes, inits, last = extra
    else:
        last = "scores"
    if zipmap:
        nodes.append(oh.make_node("Cast", [last], ["cast_scores"], to=TensorProto.FLOAT,
                                  name="cast"))
        key = "classlabels_strings" if label_type == TensorProto.STRING else "classlabels_int64s"
        nodes.append(oh.make_node("ZipMap", ["cast_scores"], ["probabilities"], domain=ML,
                                  name="zipmap", **{key: labels}))
        key_type = TensorProto.STRING if label_type == TensorProto.STRING else TensorProto.INT64
        outputs.append(oh.make_value_info(
            "probabilities", oh.make_sequence_type_proto(
                oh.make_map_type_proto(key_type, oh.make_tensor_type_proto(TensorProto.FLOAT, [])))))
    else:
        nodes.append(oh.make_node("Identity", [last], ["probabilities"], name="identity"))
        outputs.append(oh.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, None]))
    save(name, make_model(node, n_features, outputs, nodes, inits), x, classifier=True)


def hand_built():
    rng = np.random.default_rng(7)
    n_features = 4
    thresholds = feature_thresholds(n_features, rng)
    x = grid_rows(300, thresholds, rng)
    all_modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]

    # Every branch mode alone (onnxruntime's same-mode path) and all mixed, NaN tracked both ways.
    for mode in all_modes + ["MIXED"]:
        b = TreeBuilder()
        modes = all_modes if mode == "MIXED" else [mode]
        for tree in range(5):
            random_tree(b, tree, n_features, 3, 1, modes, (-2, 2), rng, thresholds)
        regressor(f"mode_{mode.lower()}", b, n_features, 1, x)

    # Thresholds stored as double (nodes_values_as_tensor): compared in double precision.
    b = TreeBuilder()
    for tree in range(4):
        random_tree(b, tree, n_features, 3, 1, all_modes, (-2, 2), rng, thresholds)
    b.nodes = [(t, n, f, v + 1e-9 if m != "LEAF" else v, m, tr, fa, mt)
               for (t, n, f, v, m, tr, fa, mt) in b.nodes]
    regressor("values_as_double", b, n_features, 1, x, values_as_tensor=True)

    # Aggregates, one target (onnxruntime's single-score path) and three targets.
    for n_targets in (1, 3):
        for aggregate in ("SUM", "AVERAGE", "MIN", "MAX"):
            b = TreeBuilder()
            for tree in range(6):
                # a leaf may miss a target (MIN/MAX then keep 'no score'); some trees skip it
                outs = None if tree % 2 == 0 or n_targets == 1 else [0, 2]
                random_tree(b, tree, n_features, 2, n_targets, all_modes, (-3, 3), rng,
                            thresholds, outputs_per_leaf=outs)
            base = [0.25 * (i + 1) for i in range(n_targets)]
            regressor(f"regressor_{n_targets}t_{aggregate.lower()}", b, n_features, n_targets, x,
                      aggregate=aggregate, base_values=base)
    # Single-target post-transforms and base value forms.
    for post in ("NONE", "LOGISTIC", "PROBIT", "SOFTMAX"):
        b = TreeBuilder()
        for tree in range(3):
            random_tree(b, tree, n_features, 2, 1, all_modes, (0.02, 0.3), rng, thresholds)
        regressor(f"regressor_1t_post_{post.lower()}", b, n_features, 1, x, post=post,
                  base_values=[0.05])
    for post in ("NONE", "LOGISTIC", "PROBIT", "SOFTMAX", "SOFTMAX_ZERO"):
        b = TreeBuilder()
        for tree in range(3):
            random_tree(b, tree, n_features, 2, 2, all_modes, (0.02, 0.3), rng, thresholds)
        regressor(f"regressor_2t_post_{post.lower()}", b, n_features, 2, x, post=post)

    # Multiclass, every post_transform (PROBIT needs scores in (0, 1)).
    for post in ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"):
        b = TreeBuilder()
        for tree in range(4):
            random_tree(b, tree, n_features, 3, 3, all_modes, (0.0, 0.2), rng, thresholds)
        # exact zeros, which SOFTMAX_ZERO skips
        b.leaves = [(t, n, o, 0.0 if (n + o) % 5 == 0 else w) for (t, n, o, w) in b.leaves]
        classifier(f"multiclass_{post.lower()}", b, n_features, [3, 7, 9], x, post=post,
                   base_values=[0.01, 0.02, 0.03] if post != "NONE" else None)
    # Multiclass without base values, string labels, ZipMap.
    b = TreeBuilder()
    for tree in range(4):
        random_tree(b, tree, n_features, 3, 3, all_modes, (-1, 1), rng, thresholds)
    classifier("multiclass_strings_zipmap", b, n_features, ["cat", "dog", "eel"], x,
               post="SOFTMAX", zipmap=True)
    classifier("multiclass_int_zipmap", b, n_features, [10, 20, 30], x, post="NONE", zipmap=True)

    # The binary case: one class id in the weights, two labels.
    for sign in ("positive", "mixed"):
        for base in ("none", "one", "two"):
            for post in ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"):
                b = TreeBuilder()
                low = 0.01 if sign == "positive" else -0.3
                for tree in range(3):
                    random_tree(b, tree, n_features, 2, 1, all_modes, (low, 0.3), rng,
                                thresholds, outputs_per_leaf=[1])
                base_values = {"none": None, "one": [0.05], "two": [0.05, 0.05]}[base]
                classifier(f"binary_{sign}_{base}_{post.lower()}", b, n_features, [0, 1], x,
                           post=post, base_values=base_values)
    # The binary case with the weights on class 0 (what skl2onnx writes for boosting).
    for post in ("NONE", "LOGISTIC"):
        b = TreeBuilder()
        for tree in range(3):
            random_tree(b, tree, n_features, 2, 1, all_modes, (-0.3, 0.3), rng, thresholds,
                        outputs_per_leaf=[0])
        classifier(f"binary_class0_{post.lower()}", b, n_features, ["no", "yes"], x, post=post,
                   base_values=[0.1], zipmap=True)
    # Binary as multiclass (both class ids). (TreeEnsembleClassifier always sums.)
    b = TreeBuilder()
    for tree in range(5):
        random_tree(b, tree, n_features, 3, 2, all_modes, (0.0, 1.0), rng, thresholds)
    classifier("binary_two_columns", b, n_features, [0, 1], x, zipmap=True)

    # Elementwise post-processing: Mul, Add, Sub, Div by constants, Sigmoid, Softmax, Cast.
    b = TreeBuilder()
    for tree in range(4):
        random_tree(b, tree, n_features, 3, 3, all_modes, (-1, 1), rng, thresholds)
    inits = [oh.make_tensor("scale", TensorProto.FLOAT, [3], [0.5, 2.0, -1.5]),
             oh.make_tensor("shift", TensorProto.FLOAT, [1], [0.25]),
             oh.make_tensor("two", TensorProto.FLOAT, [], [2.0])]
    nodes = [oh.make_node("Mul", ["scores", "scale"], ["m"], name="mul"),
             oh.make_node("Add", ["m", "shift"], ["a"], name="add"),
             oh.make_node("Sub", ["a", "shift"], ["s"], name="sub"),
             oh.make_node("Div", ["s", "two"], ["d"], name="div"),
             oh.make_node("Sigmoid", ["d"], ["g"], name="sigmoid"),
             oh.make_node("Cast", ["g"], ["gd"], to=TensorProto.DOUBLE, name="to_double"),
             oh.make_node("Cast", ["gd"], ["gf"], to=TensorProto.FLOAT, name="to_float"),
             oh.make_node("Softmax", ["gf"], ["p"], axis=-1, name="softmax")]
    classifier("elementwise_chain", b, n_features, [0, 1, 2], x, extra=(nodes, inits, "p"))


def tree_ensemble_v5(name, n_features, n_targets, x, thresholds, rng, aggregate=1, post=0,
                     n_trees=4, depth=3, with_member=False):
    """The opset-5 `TreeEnsemble` op: interior nodes and leaves in separate columns,
    modes as a uint8 tensor (6 = BRANCH_MEMBER, its sets in `membership_values`, NaN-ended)."""
    cols = {k: [] for k in ("feat", "mode", "split", "t", "f", "tl", "fl", "miss")}
    leaf_t, leaf_w, membership, roots = [], [], [], []

    def grow(level):
        if level == depth:
            leaf_t.append(int(rng.integers(n_targets)))
            leaf_w.append(float(rng.uniform(-1, 1)))
            return len(leaf_t) - 1, 1
        i = len(cols["feat"])
        for k in cols:
            cols[k].append(0)
        feature = int(rng.integers(n_features))
        mode = int(rng.integers(7 if with_member else 6))
        cols["feat"][i], cols["mode"][i] = feature, mode
        cols["split"][i] = float(rng.choice(thresholds[feature]))
        cols["miss"][i] = int(rng.integers(2))
        if mode == 6:
            # onnxruntime implements membership for integer values only (gauntlet-trees
            # refuses BRANCH_MEMBER; kept for experiments with with_member=True)
            k = int(rng.integers(1, 4))
            membership.extend(float(v) for v in rng.choice(np.arange(-3, 4), k, replace=False))
            membership.append(float("nan"))
        t, tl = grow(level + 1)
        f, fl = grow(level + 1)
        cols["t"][i], cols["tl"][i], cols["f"][i], cols["fl"][i] = t, tl, f, fl
        return i, 0

    for _ in range(n_trees):
        root, _ = grow(0)
        roots.append(root)
    tensor = lambda n, v: oh.make_tensor(n, TensorProto.FLOAT, [len(v)], v)
    node = oh.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain=ML, name="ensemble",
        n_targets=n_targets, aggregate_function=aggregate, post_transform=post,
        tree_roots=roots, nodes_featureids=cols["feat"],
        nodes_modes=oh.make_tensor("nodes_modes", TensorProto.UINT8, [len(cols["mode"])], cols["mode"]),
        nodes_splits=tensor("nodes_splits", cols["split"]),
        nodes_truenodeids=cols["t"], nodes_trueleafs=cols["tl"],
        nodes_falsenodeids=cols["f"], nodes_falseleafs=cols["fl"],
        nodes_missing_value_tracks_true=cols["miss"],
        membership_values=tensor("membership_values", membership),
        leaf_targetids=leaf_t, leaf_weights=tensor("leaf_weights", leaf_w))
    out = [oh.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n_targets])]
    save(name, make_model(node, n_features, out, ml_opset=5), x, classifier=False)


def opset5():
    rng = np.random.default_rng(5)
    n_features = 4
    thresholds = feature_thresholds(n_features, rng)
    x = grid_rows(300, thresholds, rng)
    for aggregate, agg_name in ((0, "average"), (1, "sum"), (2, "min"), (3, "max")):
        tree_ensemble_v5(f"v5_{agg_name}_2t", n_features, 2, x, thresholds, rng, aggregate=aggregate)
    for post, post_name in ((1, "logistic"), (2, "softmax")):
        tree_ensemble_v5(f"v5_post_{post_name}", n_features, 3, x, thresholds, rng, post=post)
    tree_ensemble_v5("v5_sum_1t", n_features, 1, x, thresholds, rng)



# ---------------------------------------------------------------- real exports

def _bool_ints_patch():
    # skl2onnx 1.20 hands HistGradientBoosting's missing-value flags to onnx.helper as bools,
    # which onnx 1.23 refuses; they are 0/1 integers in the file either way.
    make_attribute = oh.make_attribute

    def patched(key, value, *args, **kwargs):
        if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        return make_attribute(key, value, *args, **kwargs)

    oh.make_attribute = patched


def with_missing(x, rng, share=0.05):
    x = x.copy()
    rows = np.concatenate([x, x[: max(8, len(x) // 10)]])
    mask = np.zeros(rows.shape, dtype=bool)
    mask[len(x):] = rng.random((rows.shape[0] - len(x), rows.shape[1])) < 0.3
    rows[mask] = np.nan
    return rows.astype(np.float32)


def real_exports():
    _bool_ints_patch()
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  GradientBoostingRegressor, HistGradientBoostingClassifier,
                                  HistGradientBoostingRegressor, RandomForestClassifier,
                                  RandomForestRegressor)
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from skl2onnx import to_onnx
    import lightgbm
    import xgboost
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    rng = np.random.default_rng(11)
    sets = {}
    for name, loader in (("cancer", load_breast_cancer), ("iris", load_iris),
                         ("diabetes", load_diabetes)):
        X, y = loader(return_X_y=True)
        X = X.astype(np.float32)
        Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.25, random_state=0)
        sets[name] = (Xtr, ytr, Xte)

    def skl(name, est, data, classifier, missing=False):
        Xtr, ytr, Xte = sets[data]
        est.fit(Xtr, ytr)
        model = to_onnx(est, Xtr[:1], target_opset={"": 17, ML: 3})
        x = with_missing(Xte, rng) if missing else Xte
        save(name, model, x, classifier)

    for data in ("cancer", "iris"):
        skl(f"sk_decision_tree_{data}", DecisionTreeClassifier(max_depth=6, random_state=0), data, True)
        skl(f"sk_random_forest_{data}", RandomForestClassifier(20, max_depth=6, random_state=0), data, True)
        skl(f"sk_extra_trees_{data}", ExtraTreesClassifier(20, max_depth=6, random_state=0), data, True)
        skl(f"sk_gradient_boosting_{data}", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), data, True)
        skl(f"sk_hist_gradient_boosting_{data}", HistGradientBoostingClassifier(max_iter=30, random_state=0), data, True, missing=True)
    skl("sk_decision_tree_regressor", DecisionTreeRegressor(max_depth=6, random_state=0), "diabetes", False)
    skl("sk_random_forest_regressor", RandomForestRegressor(20, max_depth=6, random_state=0), "diabetes", False)
    skl("sk_gradient_boosting_regressor", GradientBoostingRegressor(n_estimators=30, random_state=0), "diabetes", False)
    skl("sk_hist_gradient_boosting_regressor", HistGradientBoostingRegressor(max_iter=30, random_state=0), "diabetes", False, missing=True)

    def mltools(name, est, data, classifier, convert):
        Xtr, ytr, Xte = sets[data]
        est.fit(Xtr, ytr)
        types = [("input", FloatTensorType([None, Xtr.shape[1]]))]
        model = convert(est, initial_types=types, target_opset=15)
        save(name, model, with_missing(Xte, rng), classifier)

    for data in ("cancer", "iris"):
        mltools(f"xgboost_{data}", xgboost.XGBClassifier(n_estimators=30, max_depth=3, random_state=0), data, True, convert_xgboost)
        mltools(f"lightgbm_{data}", lightgbm.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1, random_state=0), data, True, convert_lightgbm)
    mltools("xgboost_regressor", xgboost.XGBRegressor(n_estimators=30, max_depth=3, random_state=0), "diabetes", False, convert_xgboost)
    mltools("lightgbm_regressor", lightgbm.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1, random_state=0), "diabetes", False, convert_lightgbm)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for stale in os.listdir(OUT):
        if stale.endswith((".onnx", ".npy", ".labels.txt")):
            os.remove(os.path.join(OUT, stale))
    hand_built()
    opset5()
    if "--hand-built-only" not in sys.argv:
        real_exports()
