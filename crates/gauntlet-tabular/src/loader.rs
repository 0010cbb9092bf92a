//! Opens a model file as a [`TabularModel`]: an ONNX graph with an `ai.onnx.ml` tree
//! ensemble is evaluated by gauntlet-trees (exactly, with its split thresholds for the tree
//! attack); any other ONNX graph by the interpreter (with input gradients).

use std::path::Path;

use onnx_ir::{Message, ModelProto};

use crate::error::{Error, Result};
use crate::model::TabularModel;
use crate::onnx_model::OnnxTabular;

/// A loaded model and what it is.
pub struct Loaded {
    /// The model.
    pub model: Box<dyn TabularModel>,
    /// Network or tree ensemble.
    pub kind: ModelKind,
    /// SHA-256 of the file.
    pub sha256: String,
}

/// Whether an ONNX file's graph holds a tree ensemble node.
pub fn holds_tree_ensemble(bytes: &[u8], label: &str) -> Result<bool> {
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| Error::Model {
        model: label.to_string(),
        reason: format!("not a readable ONNX file ({e}); export the model to ONNX first"),
    })?;
    Ok(model
        .graph
        .as_ref()
        .is_some_and(|g| g.node.iter().any(|n| n.op_type.starts_with("TreeEnsemble"))))
}

/// Loads `path` for rows of `width` columns.
pub fn load_model(path: &Path, width: usize) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(Error::io(path, "read it"))?;
    let label = path.display().to_string();
    let sha256 = gauntlet_core::hash::sha256_hex(&bytes);
    if holds_tree_ensemble(&bytes, &label)? {
        let model = crate::tree_model::TreeTabular::from_bytes(&bytes, &label, width)?;
        return Ok(Loaded {
            model: Box::new(model),
            kind: ModelKind::TreeEnsemble,
            sha256,
        });
    }
    let network = gauntlet_onnx::OnnxModel::from_bytes(&bytes, &label, None)?;
    Ok(Loaded {
        model: Box::new(OnnxTabular::new(network, width)?),
        kind: ModelKind::Network,
        sha256,
    })
}

/// Which kind of model a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A network the interpreter runs (gradients available).
    Network,
    /// An `ai.onnx.ml` tree ensemble (split thresholds available).
    TreeEnsemble,
}

impl ModelKind {
    /// In words.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Network => "a network",
            ModelKind::TreeEnsemble => "a tree ensemble",
        }
    }
}
