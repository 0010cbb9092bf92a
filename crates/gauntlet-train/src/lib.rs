//! gauntlet-train: trains the user's ONNX classifier in Rust and writes it back to ONNX.
//!
//! The interpreter of gauntlet-onnx already differentiates every node; here the graph's
//! weights ([`parameters`]: kernels, biases, normalization scales — found by where they are
//! read) become autodiff leaves of the same tape. A [`trainer::Trainer`] runs a training
//! [`method::Method`] (plain, Gaussian noise, fast-AT, PGD-AT, TRADES) with an
//! [`optimizer::Optimizer`] and a [`schedule::Schedule`], folds BatchNormalization's batch
//! statistics into the running averages, checks clean and PGD accuracy on a held-out slice
//! after each epoch, and keeps a resumable [`checkpoint::Checkpoint`]. [`export`] writes the
//! trained weights into the original file: same graph, names and opsets, new initializers,
//! provenance in `metadata_props`.
//!
//! In the audit's data flow (data + model + threat model → attack → outcomes → evaluation →
//! report) training sits before the model: it produces a new model to audit.

pub mod checkpoint;
pub mod export;
pub mod init;
pub mod job;
pub mod method;
pub mod optimizer;
pub mod parameters;
pub mod schedule;
pub mod trainer;

pub use checkpoint::Checkpoint;
pub use job::{JobOutcome, Status, TrainJob};
pub use method::Method;
pub use optimizer::OptimizerKind;
pub use schedule::Schedule;
pub use trainer::{EpochEnd, EpochRecord, TrainSettings, TrainedModel, Trainer};
