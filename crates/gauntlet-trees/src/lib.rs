//! Tree ensembles from ONNX files, evaluated exactly as onnxruntime evaluates them, with
//! their structure exposed for structure-aware attacks.
//!
//! * [`TreeModel`]: one ONNX file (an `ai.onnx.ml` `TreeEnsembleClassifier`,
//!   `TreeEnsembleRegressor` or opset-5 `TreeEnsemble`, and the Cast / Identity / ZipMap / elementwise nodes the
//!   exporters put after it) — `predict` returns what onnxruntime returns as the probability
//!   (classifier) or prediction (regressor) output;
//! * [`Ensemble`], [`Tree`], [`Node`]: the trees, read-only (`leaf_of`, `raw_scores`);
//! * [`TreeError`]: malformed files and unsupported operators, with what to do.
//!
//! Exactness (onnxruntime's `tree_ensemble_common.h`, `tree_ensemble_aggregator.h`,
//! `ml_common.h`): thresholds compared in the input's precision, NaN following
//! `nodes_missing_value_tracks_true`, sums rounded to float32 after every tree in file
//! order, base values and post-transforms in float32, and the two-class rules. The fixtures
//! in `fixtures/trees/` (`tools/export_tree_fixtures.py`) hold onnxruntime's outputs;
//! `docs/tree-ensembles.md` gives the measured agreement.

mod build;
mod build_v5;
pub mod ensemble;
pub mod error;
pub mod model;
pub mod postprocess;
mod proto;
pub mod transform;
pub mod tree;

pub use ensemble::{Aggregate, Ensemble, EnsembleKind, Precision};
pub use error::TreeError;
pub use model::TreeModel;
pub use postprocess::SUPPORTED_POST_OPS;
pub use transform::PostTransform;
pub use tree::{BranchMode, Node, Tree};
