//! gauntlet-core: the few types every part of gauntlet meets.
//!
//! Data flows one way: [`data`] + a model implementing [`model::Classifier`] /
//! [`model::Differentiable`] + a [`threat::ThreatModel`] and a [`criterion::Criterion`]
//! go into an attack (crate `gauntlet-attacks`), which returns per-sample outcomes.
//!
//! Every attack works on *flat* batches: a `Tensor<2>` of shape `[N, F]` in input space
//! (the valid box, usually [0, 1]); models reshape to their own sample shape internally.

pub mod criterion;
pub mod data;
pub mod device;
pub mod error;
pub mod guard;
pub mod hash;
pub mod loss;
pub mod model;
pub mod preprocess;
pub mod query;
pub mod tensor;
pub mod threat;

pub use burn::tensor::{Int, Tensor, TensorData};
pub use device::Device;
pub use error::{Error, Result};
