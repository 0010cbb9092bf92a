//! One decision tree: its nodes and how a row walks from the root to a leaf.

use serde::Serialize;

/// How a branch compares a feature with its threshold; the row goes to the true child when
/// the comparison holds. NaN fails every comparison but `Neq` (IEEE), unless the branch sends
/// missing values to the true child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BranchMode {
    /// `x <= threshold` (`BRANCH_LEQ`; scikit-learn, LightGBM).
    Leq,
    /// `x < threshold` (`BRANCH_LT`; XGBoost).
    Lt,
    /// `x >= threshold` (`BRANCH_GTE`).
    Gte,
    /// `x > threshold` (`BRANCH_GT`).
    Gt,
    /// `x == threshold` (`BRANCH_EQ`).
    Eq,
    /// `x != threshold` (`BRANCH_NEQ`).
    Neq,
}

impl BranchMode {
    /// The mode an ONNX `nodes_modes` entry names; `None` for `LEAF` and unknown names.
    pub fn from_onnx(name: &str) -> Option<BranchMode> {
        Some(match name {
            "BRANCH_LEQ" => BranchMode::Leq,
            "BRANCH_LT" => BranchMode::Lt,
            "BRANCH_GTE" => BranchMode::Gte,
            "BRANCH_GT" => BranchMode::Gt,
            "BRANCH_EQ" => BranchMode::Eq,
            "BRANCH_NEQ" => BranchMode::Neq,
            _ => return None,
        })
    }

    /// Whether `value` satisfies the comparison with `threshold`. Both are compared as `f64`:
    /// a float32 value against a float32 threshold widened to `f64` compares exactly as in
    /// float32, and a double threshold is compared in double, as onnxruntime does.
    #[inline]
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            BranchMode::Leq => value <= threshold,
            BranchMode::Lt => value < threshold,
            BranchMode::Gte => value >= threshold,
            BranchMode::Gt => value > threshold,
            BranchMode::Eq => value == threshold,
            BranchMode::Neq => value != threshold,
        }
    }
}

/// A node of a tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Node {
    /// A split on one feature.
    Branch {
        /// Index of the feature read (a column of the input row).
        feature: usize,
        /// The threshold, exactly as the model compares it: a float32 value (widened) for a
        /// float model, a double for a model whose input is double.
        threshold: f64,
        /// The comparison.
        mode: BranchMode,
        /// Index (into [`Tree::nodes`]) of the child taken when the comparison holds.
        true_child: usize,
        /// Index of the child taken otherwise.
        false_child: usize,
        /// Whether a missing value (NaN) goes to the true child whatever the comparison.
        missing_goes_true: bool,
    },
    /// A leaf: what it adds to each output, in the file's order.
    Leaf {
        /// `(output, weight)` pairs: the output (class or target) index and its weight
        /// (float32 widened, or double, as the model sums it).
        weights: Vec<(usize, f64)>,
    },
}

/// One tree; `nodes[0]` is the root and children are indices into `nodes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tree {
    /// The nodes reachable from the root, root first.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Index of the leaf `row` reaches. `row` must hold every feature the tree reads (the
    /// model checks this once per batch).
    pub fn leaf_of(&self, row: &[f32]) -> usize {
        let mut at = 0;
        loop {
            match &self.nodes[at] {
                Node::Leaf { .. } => return at,
                Node::Branch {
                    feature,
                    threshold,
                    mode,
                    true_child,
                    false_child,
                    missing_goes_true,
                } => {
                    let value = row[*feature];
                    let go_true = mode.holds(f64::from(value), *threshold)
                        || (*missing_goes_true && value.is_nan());
                    at = if go_true { *true_child } else { *false_child };
                }
            }
        }
    }

    /// The weights of the leaf `row` reaches.
    pub fn leaf_weights(&self, row: &[f32]) -> &[(usize, f64)] {
        match &self.nodes[self.leaf_of(row)] {
            Node::Leaf { weights } => weights,
            Node::Branch { .. } => unreachable!("leaf_of returns leaves only"),
        }
    }
}
