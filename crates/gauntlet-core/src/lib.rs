//! gauntlet-core: the few types every part of gauntlet meets.
//!
//! An audit flows one way: **data + model + threat model → attack → per-sample outcomes →
//! evaluation → report**. This crate holds the vocabulary of the first stage, which every
//! later stage speaks:
//!
//! * data: [`data::Dataset`] (inputs and labels from `.npy` / IDX files, checked, in memory)
//!   and [`sample_set::SampleSet`] (the same files, their rows read from disk a batch at a time
//!   when they are not compressed), both read through the [`samples::Samples`] trait;
//! * model: the [`model::Classifier`] (black-box: scores out) and [`model::Differentiable`]
//!   (white-box: input gradients through [`model::loss_and_grad`]) traits, implemented by
//!   `gauntlet-onnx` for ONNX files and by `gauntlet-remote` for HTTP endpoints and external
//!   programs; [`query::CachedTarget`] counts and caches a black-box target's queries;
//! * threat model: [`threat::ThreatModel`] (a norm, budgets ε and the valid input box),
//!   validated once, and [`criterion::Criterion`], what counts as a successful attack;
//! * the objectives attacks maximize ([`loss::Objective`]), errors that say how to fix the
//!   problem ([`Error`]), and where tensors live ([`device`]).
//!
//! Attacks (`gauntlet-attacks`) take these and return per-sample outcomes; `gauntlet-eval`
//! reduces them to robust accuracy per budget; `gauntlet-report` writes the report.
//!
//! Every attack works on *flat* batches: a `Tensor<2>` of shape `[N, F]` in input space
//! (the valid box, usually [0, 1]); models reshape to their own sample shape internally.
//!
//! ```
//! use gauntlet_core::criterion::Criterion;
//! use gauntlet_core::threat::{parse_epsilons, Bounds, Norm, ThreatModel};
//!
//! // L∞ budgets 2/255 and 8/255 for images in [0, 1]; budgets come out sorted.
//! let eps = parse_epsilons("8/255, 2/255")?;
//! let threat = ThreatModel::new(Norm::Linf, &eps, Bounds::default())?;
//! assert_eq!(threat.epsilons(), &[2.0 / 255.0, 8.0 / 255.0]);
//! // A budget wider than the box is refused with an explanation, not clamped.
//! assert!(ThreatModel::new(Norm::Linf, &[1.5], Bounds::default()).is_err());
//!
//! // Success: the prediction leaves the true label, or reaches each sample's target.
//! let (labels, predictions) = ([3, 7], [3, 1]);
//! assert_eq!(Criterion::Untargeted.success(&labels, &predictions), [false, true]);
//! assert_eq!(Criterion::Targeted(vec![5, 1]).success(&labels, &predictions), [false, true]);
//! # Ok::<(), gauntlet_core::Error>(())
//! ```

pub mod criterion;
pub mod data;
pub mod device;
pub mod error;
pub mod guard;
pub mod hash;
pub mod layout;
pub mod loss;
pub mod lru;
pub mod masked;
pub mod model;
pub mod npy_rows;
pub mod preprocess;
pub mod query;
pub mod row_file;
pub mod sample_set;
pub mod samples;
pub mod tensor;
pub mod threat;

pub use burn::tensor::{Int, Tensor, TensorData};
pub use device::Device;
pub use error::{Error, Result};
