//! Builds an [`Ensemble`] from a `TreeEnsembleClassifier` / `TreeEnsembleRegressor` node's
//! attributes, checking what onnxruntime checks (and a little more) with errors that say
//! which node, tree and attribute is wrong.

use std::collections::HashMap;

use onnx_ir::NodeProto;

use crate::ensemble::{Aggregate, Ensemble, EnsembleKind, Precision};
use crate::error::TreeError;
use crate::proto::Attributes;
use crate::transform::PostTransform;
use crate::tree::{BranchMode, Node, Tree};

/// An ensemble and, for a classifier, its labels as text.
pub(crate) struct Built {
    pub ensemble: Ensemble,
    pub labels: Vec<String>,
}

/// One row of the `nodes_*` attributes.
struct RawNode {
    node_id: i64,
    feature: i64,
    value: f64,
    mode: Option<BranchMode>,
    true_id: i64,
    false_id: i64,
    missing_true: bool,
}

/// Reads the ensemble of `node`. `n_features` is the input's declared width when the file
/// fixes it; `precision` follows the input's element type.
pub(crate) fn ensemble_from_node(
    node: &NodeProto,
    n_features: Option<usize>,
    precision: Precision,
) -> Result<Built, TreeError> {
    let a = Attributes::new(node);
    let classifier = node.op_type == "TreeEnsembleClassifier";
    let prefix = if classifier { "class" } else { "target" };

    let tree_ids = a.ints("nodes_treeids")?;
    let n = tree_ids.len();
    if n == 0 {
        return Err(a.error("has no nodes (nodes_treeids is empty); the export is broken"));
    }
    let same_length = |name: &str, len: usize| -> Result<(), TreeError> {
        if len == n {
            Ok(())
        } else {
            Err(a.error(format!(
                "attribute '{name}' has {len} entries but nodes_treeids has {n}; every nodes_* \
                 attribute needs one entry per node — the file is malformed, export it again"
            )))
        }
    };
    let node_ids = a.ints("nodes_nodeids")?;
    same_length("nodes_nodeids", node_ids.len())?;
    let features = a.ints("nodes_featureids")?;
    same_length("nodes_featureids", features.len())?;
    let modes = a.strings("nodes_modes")?;
    same_length("nodes_modes", modes.len())?;
    let true_ids = a.ints("nodes_truenodeids")?;
    same_length("nodes_truenodeids", true_ids.len())?;
    let false_ids = a.ints("nodes_falsenodeids")?;
    same_length("nodes_falsenodeids", false_ids.len())?;
    let values = a
        .reals("nodes_values")?
        .ok_or_else(|| a.error("has neither nodes_values nor nodes_values_as_tensor"))?;
    same_length("nodes_values", values.len())?;
    let missing = a.ints("nodes_missing_value_tracks_true")?;
    if !missing.is_empty() {
        same_length("nodes_missing_value_tracks_true", missing.len())?;
    }

    let round = |v: f64| match precision {
        Precision::Float => f64::from(v as f32),
        Precision::Double => v,
    };

    // Trees in order of first appearance; a tree's root is its first listed node.
    let mut tree_order: Vec<i64> = Vec::new();
    let mut raw_trees: HashMap<i64, Vec<RawNode>> = HashMap::new();
    for i in 0..n {
        let mode = if modes[i] == "LEAF" {
            None
        } else {
            Some(BranchMode::from_onnx(&modes[i]).ok_or_else(|| {
                a.error(format!(
                    "node {} of tree {}: mode '{}' is not one of BRANCH_LEQ, BRANCH_LT, \
                     BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF",
                    node_ids[i], tree_ids[i], modes[i]
                ))
            })?)
        };
        if !raw_trees.contains_key(&tree_ids[i]) {
            tree_order.push(tree_ids[i]);
        } else if tree_order.last() != Some(&tree_ids[i]) {
            return Err(a.error(format!(
                "the nodes of tree {} are not listed together (entry {i} returns to it after \
                 another tree); onnxruntime would split it into two trees — export it again",
                tree_ids[i]
            )));
        }
        raw_trees.entry(tree_ids[i]).or_default().push(RawNode {
            node_id: node_ids[i],
            feature: features[i],
            value: round(values[i]),
            mode,
            true_id: true_ids[i],
            false_id: false_ids[i],
            missing_true: missing.get(i).is_some_and(|&m| m == 1),
        });
    }

    let labels = read_labels(&a, classifier)?;
    let n_outputs = if classifier {
        labels.len()
    } else {
        let t = a.int("n_targets", 0)?;
        if t <= 0 {
            return Err(a.error(format!(
                "n_targets is {t}; a regressor needs at least one target"
            )));
        }
        t as usize
    };

    // Leaf weights per (tree, node), in attribute order.
    let w_trees = a.ints(&format!("{prefix}_treeids"))?;
    let w_nodes = a.ints(&format!("{prefix}_nodeids"))?;
    let w_ids = a.ints(&format!("{prefix}_ids"))?;
    let w_values = a.reals(&format!("{prefix}_weights"))?.ok_or_else(|| {
        a.error(format!(
            "has neither {prefix}_weights nor {prefix}_weights_as_tensor"
        ))
    })?;
    let m = w_ids.len();
    for (name, len) in [
        (format!("{prefix}_treeids"), w_trees.len()),
        (format!("{prefix}_nodeids"), w_nodes.len()),
        (format!("{prefix}_weights"), w_values.len()),
    ] {
        if len != m {
            return Err(a.error(format!(
                "attribute '{name}' has {len} entries but {prefix}_ids has {m}; the leaf \
                 attributes need one entry per weight — the file is malformed"
            )));
        }
    }
    let mut leaf_weights: HashMap<(i64, i64), Vec<(usize, f64)>> = HashMap::new();
    for j in 0..m {
        let id = w_ids[j];
        if id < 0 || id as usize >= n_outputs {
            return Err(a.error(format!(
                "{prefix}_ids[{j}] = {id}, outside 0..{n_outputs} (the number of {})",
                if classifier {
                    "class labels"
                } else {
                    "targets (n_targets)"
                }
            )));
        }
        leaf_weights
            .entry((w_trees[j], w_nodes[j]))
            .or_default()
            .push((id as usize, round(w_values[j])));
    }

    let mut trees = Vec::with_capacity(tree_order.len());
    for tree_id in &tree_order {
        let raw = &raw_trees[tree_id];
        trees.push(build_tree(&a, *tree_id, raw, &leaf_weights, n_features)?);
    }

    let post = a.string("post_transform", "NONE")?;
    let post_transform = PostTransform::from_onnx(&post).ok_or_else(|| {
        a.error(format!(
            "post_transform '{post}' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT"
        ))
    })?;
    let aggregate = if classifier {
        Aggregate::Sum
    } else {
        let name = a.string("aggregate_function", "SUM")?;
        Aggregate::from_onnx(&name).ok_or_else(|| {
            a.error(format!(
                "aggregate_function '{name}' is not one of SUM, AVERAGE, MIN, MAX"
            ))
        })?
    };
    let base_values: Vec<f64> = a
        .reals("base_values")?
        .unwrap_or_default()
        .into_iter()
        .map(round)
        .collect();
    if base_values.len() > 1 && base_values.len() != n_outputs {
        return Err(a.error(format!(
            "base_values has {} entries; it needs none, one, or one per output ({n_outputs})",
            base_values.len()
        )));
    }
    let kind = if classifier {
        let mut ids = w_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        EnsembleKind::Classifier {
            binary_case: n_outputs == 2 && ids.len() == 1,
            weights_all_positive: w_values.iter().all(|&w| w >= 0.0),
        }
    } else {
        EnsembleKind::Regressor
    };
    Ok(Built {
        ensemble: Ensemble {
            trees,
            aggregate,
            post_transform,
            base_values,
            n_outputs,
            precision,
            kind,
        },
        labels,
    })
}

fn read_labels(a: &Attributes<'_>, classifier: bool) -> Result<Vec<String>, TreeError> {
    if !classifier {
        return Ok(Vec::new());
    }
    let strings = a.strings("classlabels_strings")?;
    let ints = a.ints("classlabels_int64s")?;
    let labels: Vec<String> = match (strings.is_empty(), ints.is_empty()) {
        (false, true) => strings,
        (true, false) => ints.iter().map(|v| v.to_string()).collect(),
        (false, false) => {
            return Err(a.error("gives both classlabels_strings and classlabels_int64s; keep one"))
        }
        (true, true) => {
            return Err(a.error("gives no class labels (classlabels_strings or classlabels_int64s)"))
        }
    };
    if labels.len() < 2 {
        return Err(a.error(format!(
            "has {} class label(s); a classifier needs at least two",
            labels.len()
        )));
    }
    Ok(labels)
}

/// Orders a tree's nodes root first (depth first) and resolves children to indices, refusing
/// cycles, unknown children, leaves without weights and out-of-range features.
fn build_tree(
    a: &Attributes<'_>,
    tree_id: i64,
    raw: &[RawNode],
    leaf_weights: &HashMap<(i64, i64), Vec<(usize, f64)>>,
    n_features: Option<usize>,
) -> Result<Tree, TreeError> {
    let mut by_id: HashMap<i64, usize> = HashMap::with_capacity(raw.len());
    for (k, r) in raw.iter().enumerate() {
        if by_id.insert(r.node_id, k).is_some() {
            return Err(a.error(format!(
                "node {} of tree {tree_id} is listed twice (nodes_nodeids must be unique per tree)",
                r.node_id
            )));
        }
    }
    let child = |r: &RawNode, id: i64, which: &str| -> Result<usize, TreeError> {
        by_id.get(&id).copied().ok_or_else(|| {
            a.error(format!(
                "node {} of tree {tree_id}: its {which} child id {id} is not a node of tree \
                 {tree_id} (child index out of range); the file is malformed",
                r.node_id
            ))
        })
    };
    // Depth-first from the root; `state`: 0 unseen, 1 on the current path, 2 done.
    let mut new_index: Vec<Option<usize>> = vec![None; raw.len()];
    let mut order: Vec<usize> = Vec::with_capacity(raw.len());
    let mut state = vec![0u8; raw.len()];
    let mut stack: Vec<(usize, bool)> = vec![(0, false)];
    while let Some((k, expanded)) = stack.pop() {
        if expanded {
            state[k] = 2;
            continue;
        }
        match state[k] {
            1 => {
                return Err(a.error(format!(
                    "tree {tree_id} has a cycle through node {}; a tree must not lead back to \
                     a node on its own path",
                    raw[k].node_id
                )))
            }
            2 => continue, // shared by two parents: evaluated the same either way
            _ => {}
        }
        state[k] = 1;
        new_index[k] = Some(order.len());
        order.push(k);
        stack.push((k, true));
        let r = &raw[k];
        if r.mode.is_some() {
            let (t, f) = (child(r, r.true_id, "true")?, child(r, r.false_id, "false")?);
            for c in [f, t] {
                if state[c] == 1 {
                    return Err(a.error(format!(
                        "tree {tree_id} has a cycle: node {} leads back to node {}",
                        r.node_id, raw[c].node_id
                    )));
                }
                if state[c] == 0 {
                    stack.push((c, false));
                }
            }
        }
    }
    let mut nodes = Vec::with_capacity(order.len());
    for &k in &order {
        let r = &raw[k];
        nodes.push(match r.mode {
            Some(mode) => {
                if r.feature < 0 || n_features.is_some_and(|nf| r.feature as usize >= nf) {
                    return Err(a.error(format!(
                        "node {} of tree {tree_id} reads feature {}, but the input has {} \
                         features (feature index ≥ n_features)",
                        r.node_id,
                        r.feature,
                        n_features.map_or("?".to_string(), |nf| nf.to_string())
                    )));
                }
                let index = |id: i64| new_index[by_id[&id]].expect("children are visited");
                Node::Branch {
                    feature: r.feature as usize,
                    threshold: r.value,
                    mode,
                    true_child: index(r.true_id),
                    false_child: index(r.false_id),
                    missing_goes_true: r.missing_true,
                }
            }
            None => {
                let weights = leaf_weights
                    .get(&(tree_id, r.node_id))
                    .cloned()
                    .unwrap_or_default();
                if weights.is_empty() {
                    return Err(a.error(format!(
                        "leaf {} of tree {tree_id} has no weight (no class_/target_ entry); \
                         the file is malformed",
                        r.node_id
                    )));
                }
                Node::Leaf { weights }
            }
        });
    }
    Ok(Tree { nodes })
}
