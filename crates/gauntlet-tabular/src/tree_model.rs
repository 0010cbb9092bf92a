//! A tree ensemble (`ai.onnx.ml`, as skl2onnx and onnxmltools write them) on table rows,
//! evaluated exactly as onnxruntime does by gauntlet-trees; its split thresholds are what the
//! `tree` attack searches over.

use gauntlet_trees::TreeModel;

use crate::error::{Error, Result};
use crate::model::TabularModel;

/// A tree-ensemble classifier.
pub struct TreeTabular {
    model: TreeModel,
    label: String,
}

impl TreeTabular {
    /// Parses an ONNX file's bytes (`label` names it in errors); its ensemble must read rows
    /// of `width` features and classify.
    pub fn from_bytes(bytes: &[u8], label: &str, width: usize) -> Result<Self> {
        let bad = |reason: String| Error::Model {
            model: label.to_string(),
            reason,
        };
        let model = TreeModel::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
        if !model.is_classifier() {
            return Err(bad(
                "is a tree-ensemble regressor; the tabular audit attacks classifiers (export \
                 the classifier, e.g. GradientBoostingClassifier)"
                    .into(),
            ));
        }
        if model.n_features() != width {
            return Err(bad(format!(
                "reads rows of {} features but the schema lists {width}; list exactly the \
                 model's input columns, in its order",
                model.n_features()
            )));
        }
        Ok(TreeTabular {
            model,
            label: label.to_string(),
        })
    }
}

impl TabularModel for TreeTabular {
    fn width(&self) -> usize {
        self.model.n_features()
    }

    fn classes(&self) -> usize {
        self.model.n_outputs()
    }

    fn scores(&self, rows: &[f32]) -> Result<Vec<f32>> {
        self.model.predict(rows).map_err(|e| Error::Model {
            model: self.label.clone(),
            reason: e.to_string(),
        })
    }

    fn split_thresholds(&self) -> Option<Vec<Vec<f32>>> {
        Some(self.model.split_thresholds())
    }

    fn describe(&self) -> String {
        let ensemble = self.model.ensemble();
        let nodes: usize = ensemble.trees.iter().map(|t| t.nodes.len()).sum();
        format!(
            "tree ensemble ({} trees, {nodes} nodes), evaluated exactly as onnxruntime does",
            ensemble.trees.len()
        )
    }
}
