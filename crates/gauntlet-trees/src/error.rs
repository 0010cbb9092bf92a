//! What can go wrong reading or running a tree-ensemble model.

use thiserror::Error;

/// An error from reading a tree-ensemble ONNX file or scoring rows with it; the message says
/// what is wrong and what to do.
#[derive(Debug, Error)]
pub enum TreeError {
    /// The file could not be read.
    #[error("cannot read '{path}': {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model, or the graph is not one gauntlet can evaluate.
    #[error("{0}")]
    Model(String),
    /// A tree-ensemble node's attributes are inconsistent (lengths, node ids, cycles, …).
    #[error("node '{node}' ({op}): {message}")]
    Attributes {
        /// The node's name.
        node: String,
        /// Its operator.
        op: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The graph uses an operator gauntlet does not evaluate.
    #[error(
        "node '{node}' uses operator '{op}', which gauntlet-trees does not evaluate (supported \
         around the ensemble: {supported}); export the model without it (e.g. skl2onnx's \
         default options) or open an issue with the file"
    )]
    UnsupportedOp {
        /// The node's name.
        node: String,
        /// The operator, with its domain when it is not the default one.
        op: String,
        /// The operators that are supported.
        supported: String,
    },
    /// The rows given do not fit the model.
    #[error("{0}")]
    Input(String),
}
