//! Builds an [`Ensemble`] from the `ai.onnx.ml` opset-5 `TreeEnsemble` node, the way
//! onnxruntime reads it: as the opset-3 regressor (trees from `tree_roots`, leaves from
//! `nodes_trueleafs`/`nodes_falseleafs`, integer codes for the aggregate and transform).
//! `BRANCH_MEMBER` (set membership) is refused: onnxruntime 1.32 evaluates it with its own
//! integer rule, which the fixtures showed is not a chain of `BRANCH_EQ`.

use onnx_ir::NodeProto;

use crate::ensemble::{Aggregate, Ensemble, EnsembleKind, Precision};
use crate::error::TreeError;
use crate::proto::Attributes;
use crate::transform::PostTransform;
use crate::tree::{BranchMode, Node, Tree};

/// `nodes_modes` code of `BRANCH_MEMBER` (codes 0–5 are LEQ, LT, GTE, GT, EQ, NEQ).
const BRANCH_MEMBER: i64 = 6;

/// The columns of a `TreeEnsemble` node, one entry per interior node (`nodes_*`) or leaf
/// (`leaf_*`).
struct Columns {
    features: Vec<i64>,
    modes: Vec<i64>,
    splits: Vec<f64>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    true_leafs: Vec<i64>,
    false_leafs: Vec<i64>,
    missing: Vec<i64>,
    leaf_targets: Vec<i64>,
    leaf_weights: Vec<f64>,
}

/// Reads a `TreeEnsemble` (opset 5) node as a regressor with `n_targets` outputs.
pub(crate) fn ensemble_from_tree_ensemble(
    node: &NodeProto,
    n_features: Option<usize>,
    precision: Precision,
) -> Result<Ensemble, TreeError> {
    let a = Attributes::new(node);
    let round = |v: f64| match precision {
        Precision::Float => f64::from(v as f32),
        Precision::Double => v,
    };
    let reals = |name: &str| -> Result<Vec<f64>, TreeError> {
        Ok(a.tensor_reals(name)?
            .unwrap_or_default()
            .into_iter()
            .map(round)
            .collect())
    };
    let features = a.ints("nodes_featureids")?;
    let n = features.len();
    let modes = a.tensor_ints("nodes_modes")?;
    let columns = Columns {
        splits: reals("nodes_splits")?,
        true_ids: a.ints("nodes_truenodeids")?,
        false_ids: a.ints("nodes_falsenodeids")?,
        true_leafs: a.ints("nodes_trueleafs")?,
        false_leafs: a.ints("nodes_falseleafs")?,
        missing: a.ints("nodes_missing_value_tracks_true")?,
        leaf_targets: a.ints("leaf_targetids")?,
        leaf_weights: reals("leaf_weights")?,
        features,
        modes,
    };
    for (name, len) in [
        ("nodes_modes", columns.modes.len()),
        ("nodes_splits", columns.splits.len()),
        ("nodes_truenodeids", columns.true_ids.len()),
        ("nodes_falsenodeids", columns.false_ids.len()),
        ("nodes_trueleafs", columns.true_leafs.len()),
        ("nodes_falseleafs", columns.false_leafs.len()),
    ] {
        if len != n {
            return Err(a.error(format!(
                "attribute '{name}' has {len} entries but nodes_featureids has {n}; every \
                 nodes_* attribute needs one entry per interior node — the file is malformed"
            )));
        }
    }
    if !columns.missing.is_empty() && columns.missing.len() != n {
        return Err(a.error(format!(
            "attribute 'nodes_missing_value_tracks_true' has {} entries, not {n}",
            columns.missing.len()
        )));
    }
    if columns.leaf_targets.len() != columns.leaf_weights.len() {
        return Err(a.error(format!(
            "leaf_targetids has {} entries but leaf_weights has {}",
            columns.leaf_targets.len(),
            columns.leaf_weights.len()
        )));
    }
    if let Some(id) = columns.modes.iter().position(|&m| m == BRANCH_MEMBER) {
        return Err(a.error(format!(
            "interior node {id} is a BRANCH_MEMBER (set membership) split, which gauntlet-trees \
             does not evaluate; export with ai.onnx.ml opset 3 (TreeEnsembleRegressor / \
             TreeEnsembleClassifier) instead"
        )));
    }
    let n_outputs = a.int("n_targets", 0)?;
    if n_outputs <= 0 {
        return Err(a.error(format!(
            "n_targets is {n_outputs}; TreeEnsemble needs at least one target"
        )));
    }
    let n_outputs = n_outputs as usize;
    // onnxruntime's enum order: AVERAGE, SUM, MIN, MAX and NONE, LOGISTIC, SOFTMAX,
    // SOFTMAX_ZERO, PROBIT.
    let aggregate = match a.int("aggregate_function", 1)? {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        other => return Err(a.error(format!("aggregate_function {other} is not 0–3"))),
    };
    let post_transform = match a.int("post_transform", 0)? {
        0 => PostTransform::None,
        1 => PostTransform::Logistic,
        2 => PostTransform::Softmax,
        3 => PostTransform::SoftmaxZero,
        4 => PostTransform::Probit,
        other => return Err(a.error(format!("post_transform {other} is not 0–4"))),
    };
    let roots = a.ints("tree_roots")?;
    let mut trees = Vec::with_capacity(roots.len());
    for (t, &root) in roots.iter().enumerate() {
        let r = index(&a, root, n, "tree_roots", t)?;
        let root_is_leaf = columns.false_ids[r] == columns.true_ids[r];
        let mut nodes = Vec::new();
        let mut path = Vec::new();
        let grow = Grow {
            a: &a,
            c: &columns,
            n_outputs,
            n_features,
            tree: t,
        };
        grow.node(r, root_is_leaf, &mut nodes, &mut path)?;
        trees.push(Tree { nodes });
    }
    Ok(Ensemble {
        trees,
        aggregate,
        post_transform,
        base_values: Vec::new(),
        n_outputs,
        precision,
        kind: EnsembleKind::Regressor,
    })
}

fn index(
    a: &Attributes<'_>,
    id: i64,
    len: usize,
    what: &str,
    tree: usize,
) -> Result<usize, TreeError> {
    if id < 0 || id as usize >= len {
        Err(a.error(format!(
            "tree {tree}: {what} refers to index {id}, outside 0..{len} (child index out of range)"
        )))
    } else {
        Ok(id as usize)
    }
}

struct Grow<'a, 'b> {
    a: &'a Attributes<'b>,
    c: &'a Columns,
    n_outputs: usize,
    n_features: Option<usize>,
    tree: usize,
}

impl Grow<'_, '_> {
    /// Appends node `id` (a leaf index when `leaf`) and its subtree, preorder, and returns
    /// its index in `nodes`.
    fn node(
        &self,
        id: usize,
        leaf: bool,
        nodes: &mut Vec<Node>,
        path: &mut Vec<usize>,
    ) -> Result<usize, TreeError> {
        let (a, c, tree) = (self.a, self.c, self.tree);
        let at = nodes.len();
        if leaf {
            let k = index(a, id as i64, c.leaf_weights.len(), "a leaf", tree)?;
            let target = c.leaf_targets[k];
            if target < 0 || target as usize >= self.n_outputs {
                return Err(a.error(format!(
                    "leaf_targetids[{k}] = {target}, outside 0..{} (n_targets)",
                    self.n_outputs
                )));
            }
            nodes.push(Node::Leaf {
                weights: vec![(target as usize, c.leaf_weights[k])],
            });
            return Ok(at);
        }
        if path.contains(&id) {
            return Err(a.error(format!(
                "tree {tree} has a cycle through interior node {id}"
            )));
        }
        let feature = c.features[id];
        if feature < 0 || self.n_features.is_some_and(|nf| feature as usize >= nf) {
            return Err(a.error(format!(
                "interior node {id} of tree {tree} reads feature {feature}, but the input has {} \
                 features (feature index ≥ n_features)",
                self.n_features.map_or("?".into(), |nf| nf.to_string())
            )));
        }
        let (mode, threshold) = match c.modes[id] {
            code @ 0..=5 => (
                [
                    BranchMode::Leq,
                    BranchMode::Lt,
                    BranchMode::Gte,
                    BranchMode::Gt,
                    BranchMode::Eq,
                    BranchMode::Neq,
                ][code as usize],
                c.splits[id],
            ),
            other => return Err(a.error(format!("nodes_modes[{id}] = {other} is not 0–5"))),
        };
        nodes.push(Node::Leaf {
            weights: Vec::new(),
        }); // replaced below
        path.push(id);
        let true_child = self.node(
            index(
                a,
                c.true_ids[id],
                if c.true_leafs[id] != 0 {
                    c.leaf_weights.len()
                } else {
                    c.features.len()
                },
                "nodes_truenodeids",
                tree,
            )?,
            c.true_leafs[id] != 0,
            nodes,
            path,
        )?;
        let false_child = self.node(
            index(
                a,
                c.false_ids[id],
                if c.false_leafs[id] != 0 {
                    c.leaf_weights.len()
                } else {
                    c.features.len()
                },
                "nodes_falsenodeids",
                tree,
            )?,
            c.false_leafs[id] != 0,
            nodes,
            path,
        )?;
        path.pop();
        nodes[at] = Node::Branch {
            feature: feature as usize,
            threshold,
            mode,
            true_child,
            false_child,
            missing_goes_true: c.missing.get(id).is_some_and(|&m| m == 1),
        };
        Ok(at)
    }
}
