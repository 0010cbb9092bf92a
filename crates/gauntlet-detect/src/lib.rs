//! gauntlet-detect: finds poisoned training data and triggered inputs.
//!
//! In gauntlet's training-data flow (poison → train → audit → **scan** → drop → retrain →
//! re-audit) this crate is the scan. Five detectors look at a training set through the model
//! trained on it — [`spectral`] signatures (Tran et al. 2018), their [`robust_spectral`]
//! variant measured against each class's clean core ([`robust_core`]), and
//! [`activation_clustering`] (Chen et al. 2018) with its [`robust_clustering`] variant, on the
//! activations of any named value of the ONNX graph (by default the
//! input of the last linear layer, [`gauntlet_onnx::OnnxModel::last_linear_input`]), and the
//! [`loss_filter`] — and one, [`strip`] (Gao et al. 2019), checks inputs at inference time.
//! Each returns a [`Detection`]: the flagged indices, a score per input and the decision rule
//! in words; given the poisoning manifest, [`Accuracy`] says how many poisons were found.
//!
//! [`ScanJob::run`] is the whole scan as a library call (what `gauntlet scan` and the closed
//! loop call); the detectors are also plain functions over in-memory activations.

pub mod activation_clustering;
pub mod detection;
pub mod job;
pub mod kmeans;
pub mod linalg;
pub mod loss_filter;
pub mod outcome;
mod report;
pub mod robust_clustering;
pub mod robust_core;
pub mod robust_spectral;
pub mod spectral;
pub mod strip;

pub use activation_clustering::ClusterRule;
pub use detection::{Accuracy, ClassNote, Detection};
pub use job::{extract_activations, read_manifest, ScanJob, DEFAULT_EXPECTED_FRACTION};
pub use outcome::{Method, MethodOutcome, ScanOutcome, METHOD_NAMES};
pub use robust_spectral::RobustRule;
pub use strip::StripSettings;
