//! One ONNX file holding a tree ensemble: the ensemble node, the graph input it reads and
//! the post-processing between its scores and the graph output.

use std::collections::HashSet;
use std::path::Path;

use onnx_ir::{Message, ModelProto, NodeProto};
use rayon::prelude::*;

use crate::build::{ensemble_from_node, Built};
use crate::build_v5::ensemble_from_tree_ensemble;
use crate::ensemble::{Ensemble, EnsembleKind, Precision};
use crate::error::TreeError;
use crate::postprocess::{PostProcess, Value};
use crate::proto::{data_type, node_label};
use crate::tree::Node;

/// Rows per parallel task: small batches stay on the calling thread.
const ROWS_PER_TASK: usize = 256;

/// A tree-ensemble model from one ONNX file: the ensemble plus the graph around it.
#[derive(Debug, Clone)]
pub struct TreeModel {
    ensemble: Ensemble,
    labels: Vec<String>,
    n_features: usize,
    post: PostProcess,
}

impl TreeModel {
    /// Reads an ONNX file.
    pub fn from_file(path: &Path) -> Result<Self, TreeError> {
        let bytes = std::fs::read(path).map_err(|source| TreeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Reads ONNX bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TreeError> {
        let model = ModelProto::parse_from_bytes(bytes).map_err(|e| {
            TreeError::Model(format!(
                "not a valid ONNX file ({e}); it may be truncated — export it again"
            ))
        })?;
        let graph = model.graph.as_ref().ok_or_else(|| {
            TreeError::Model("the file holds no graph; it is not a model — export it again".into())
        })?;
        let nodes: Vec<&NodeProto> = graph.node.iter().collect();
        let is_ml = |n: &NodeProto| n.domain == "ai.onnx.ml";
        let ensembles: Vec<&NodeProto> = nodes
            .iter()
            .copied()
            .filter(|n| {
                is_ml(n)
                    && matches!(
                        n.op_type.as_str(),
                        "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble"
                    )
            })
            .collect();
        let node =
            match ensembles.as_slice() {
                [one] => *one,
                [] => return Err(TreeError::Model(
                    "the graph has no ai.onnx.ml TreeEnsembleClassifier, TreeEnsembleRegressor or \
                     TreeEnsemble node; for neural networks use gauntlet-onnx"
                        .into(),
                )),
                many => {
                    return Err(TreeError::Model(format!(
                    "the graph has {} tree-ensemble nodes ({}); gauntlet-trees evaluates models \
                     with exactly one",
                    many.len(),
                    many.iter().map(|n| node_label(n)).collect::<Vec<_>>().join(", ")
                )))
                }
            };

        let initializer_names: HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !initializer_names.contains(i.name.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(TreeError::Model(format!(
                "the graph has {} inputs; gauntlet-trees evaluates models with one input (the \
                 feature rows)",
                inputs.len()
            )));
        };
        let tensor_type = input.type_.as_ref().map(|t| t.tensor_type());
        let precision = match tensor_type.map(|t| t.elem_type) {
            Some(data_type::FLOAT) | None => Precision::Float,
            Some(data_type::DOUBLE) => Precision::Double,
            Some(other) => {
                return Err(TreeError::Model(format!(
                    "input '{}' has element type {other}; gauntlet-trees reads float or double \
                     feature rows",
                    input.name
                )))
            }
        };
        let declared_width = tensor_type
            .and_then(|t| t.shape.as_ref())
            .filter(|s| s.dim.len() == 2)
            .and_then(|s| {
                let d = &s.dim[1];
                (d.has_dim_value() && d.dim_value() > 0).then(|| d.dim_value() as usize)
            });
        if node.input.first() != Some(&input.name) {
            return Err(TreeError::Model(format!(
                "node '{}' reads '{}', not the graph input '{}'; gauntlet-trees evaluates \
                 ensembles that read the feature rows directly (no preprocessing in the graph)",
                node_label(node),
                node.input.first().map_or("", |s| s.as_str()),
                input.name
            )));
        }

        let built = if node.op_type == "TreeEnsemble" {
            Built {
                ensemble: ensemble_from_tree_ensemble(node, declared_width, precision)?,
                labels: Vec::new(),
            }
        } else {
            ensemble_from_node(node, declared_width, precision)?
        };
        let max_feature = built
            .ensemble
            .trees
            .iter()
            .flat_map(|t| &t.nodes)
            .filter_map(|n| match n {
                Node::Branch { feature, .. } => Some(*feature),
                Node::Leaf { .. } => None,
            })
            .max();
        let n_features = declared_width.unwrap_or(max_feature.map_or(1, |f| f + 1));

        let classifier = matches!(built.ensemble.kind, EnsembleKind::Classifier { .. });
        let source = node
            .output
            .get(usize::from(classifier))
            .cloned()
            .unwrap_or_default();
        if source.is_empty() {
            return Err(TreeError::Model(format!(
                "node '{}' does not name its {} output",
                node_label(node),
                if classifier {
                    "probability (second)"
                } else {
                    "prediction"
                }
            )));
        }
        let output = choose_output(graph, &nodes, &source)?;
        let needed = needed_nodes(&nodes, node, &source, &output, &initializer_names)?;
        let initializers: Vec<_> = graph.initializer.iter().collect();
        let post = PostProcess::new(&needed, &initializers, &source, &output)?;
        Ok(TreeModel {
            ensemble: built.ensemble,
            labels: built.labels,
            n_features,
            post,
        })
    }

    /// Width of a row: the input's declared width, or one past the highest feature read.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Classes (classifier) or targets (regressor).
    pub fn n_outputs(&self) -> usize {
        self.ensemble.n_outputs
    }

    /// Whether the model is a `TreeEnsembleClassifier`.
    pub fn is_classifier(&self) -> bool {
        matches!(self.ensemble.kind, EnsembleKind::Classifier { .. })
    }

    /// The class labels in output order (int64 labels as decimal text); empty for a
    /// regressor.
    pub fn class_labels(&self) -> &[String] {
        &self.labels
    }

    /// The ensemble's structure, read-only.
    pub fn ensemble(&self) -> &Ensemble {
        &self.ensemble
    }

    /// Per feature: the sorted distinct thresholds its splits use.
    pub fn split_thresholds(&self) -> Vec<Vec<f32>> {
        self.ensemble.split_thresholds(self.n_features)
    }

    /// Scores `rows` (`n × n_features`, row-major): `n × n_outputs` values, what onnxruntime
    /// returns as the probability (classifier) or prediction (regressor) output. Big batches
    /// run on all cores.
    pub fn predict(&self, rows: &[f32]) -> Result<Vec<f32>, TreeError> {
        let n = self.check_rows(rows)?;
        let k = self.ensemble.n_outputs;
        let scores = self.per_row(rows, |row| self.ensemble.predict_row(row).0);
        let (values, shape) = self
            .post
            .run(Value::matrix(scores.concat(), n, k))?
            .into_f32();
        if values.len() != n * k {
            return Err(TreeError::Model(format!(
                "the graph's output has shape {shape:?}, not {n} rows × {k} outputs"
            )));
        }
        Ok(values)
    }

    /// The label onnxruntime's classifier predicts for each row (its label output).
    pub fn predict_labels(&self, rows: &[f32]) -> Result<Vec<String>, TreeError> {
        if !self.is_classifier() {
            return Err(TreeError::Input(
                "a regressor predicts no labels; use predict".into(),
            ));
        }
        self.check_rows(rows)?;
        Ok(self.per_row(rows, |row| {
            self.labels[self.ensemble.predict_row(row).1].clone()
        }))
    }

    fn check_rows(&self, rows: &[f32]) -> Result<usize, TreeError> {
        if !rows.len().is_multiple_of(self.n_features) {
            return Err(TreeError::Input(format!(
                "{} values do not make whole rows of {} features; pass n × {} values, row-major",
                rows.len(),
                self.n_features,
                self.n_features
            )));
        }
        Ok(rows.len() / self.n_features)
    }

    fn per_row<T: Send>(&self, rows: &[f32], f: impl Fn(&[f32]) -> T + Sync + Send) -> Vec<T> {
        let n = rows.len() / self.n_features;
        if n >= 4 * ROWS_PER_TASK {
            rows.par_chunks(self.n_features)
                .with_min_len(ROWS_PER_TASK)
                .map(f)
                .collect()
        } else {
            rows.chunks(self.n_features).map(f).collect()
        }
    }
}

/// The graph output computed from the ensemble's scores (the probabilities, not the label).
fn choose_output(
    graph: &onnx_ir::GraphProto,
    nodes: &[&NodeProto],
    source: &str,
) -> Result<String, TreeError> {
    let mut reach: HashSet<&str> = HashSet::from([source]);
    for n in nodes {
        if n.input.iter().any(|i| reach.contains(i.as_str())) {
            reach.extend(n.output.iter().map(|s| s.as_str()));
        }
    }
    let outputs: Vec<&str> = graph
        .output
        .iter()
        .map(|o| o.name.as_str())
        .filter(|o| reach.contains(o))
        .collect();
    match outputs.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(TreeError::Model(format!(
            "no graph output is computed from the ensemble's scores ('{source}')"
        ))),
        many => Err(TreeError::Model(format!(
            "several graph outputs ({}) are computed from the ensemble's scores; gauntlet-trees \
             needs one probability / prediction output",
            many.join(", ")
        ))),
    }
}

/// The nodes `output` depends on after the ensemble, in file order; refuses a dependence on
/// anything but the scores and constants.
fn needed_nodes<'a>(
    nodes: &[&'a NodeProto],
    ensemble: &NodeProto,
    source: &str,
    output: &str,
    initializers: &HashSet<&str>,
) -> Result<Vec<&'a NodeProto>, TreeError> {
    let mut want: HashSet<String> = HashSet::from([output.to_string()]);
    let mut keep = vec![false; nodes.len()];
    for (i, n) in nodes.iter().enumerate().rev() {
        if std::ptr::eq(*n, ensemble) || !n.output.iter().any(|o| want.contains(o)) {
            continue;
        }
        keep[i] = true;
        for input in &n.input {
            if input != source && !input.is_empty() && !initializers.contains(input.as_str()) {
                want.insert(input.clone());
            }
        }
    }
    let kept: Vec<&NodeProto> = nodes
        .iter()
        .zip(&keep)
        .filter(|(_, &k)| k)
        .map(|(n, _)| *n)
        .collect();
    let produced: HashSet<&str> = kept
        .iter()
        .flat_map(|n| n.output.iter().map(|s| s.as_str()))
        .collect();
    for name in &want {
        if name != output && !produced.contains(name.as_str()) {
            return Err(TreeError::Model(format!(
                "the output '{output}' also depends on '{name}', which is neither the \
                 ensemble's scores nor a constant; gauntlet-trees evaluates only elementwise \
                 post-processing of the scores"
            )));
        }
    }
    if output != source && !produced.contains(output) {
        return Err(TreeError::Model(format!(
            "graph output '{output}' is not produced by any node"
        )));
    }
    Ok(kept)
}
