//! # gauntlet-audit: the image audit as one library call
//!
//! Data flows one way: data + model + threat model → attacks → per-sample outcomes →
//! evaluation → report (and the CI gate's verdict). This crate is the front door to that flow:
//!
//! 1. an [`AuditConfig`] holds every setting as plain data (`gauntlet.toml` deserializes into
//!    it; the `gauntlet audit` flags are its keys);
//! 2. [`AuditConfig::check`] validates it once into an [`Audit`], before anything is loaded;
//! 3. [`Audit::run`] loads the target (ONNX file, black-box ONNX, HTTP endpoint or external
//!    command) and the data, runs the attacks batch by batch with a checkpoint (a rerun
//!    resumes), reruns them with BPDA where the model blocks gradients, runs the
//!    gradient-masking diagnostics, writes `report.json`/`.md`/`.html`, `samples.jsonl` and the
//!    adversarial examples, and judges the gate ([`AuditRun::exit_code`]).
//!
//! ```no_run
//! use gauntlet_audit::{AuditConfig, Silent};
//!
//! let mut config = AuditConfig::new("models/mnist_cnn.onnx", "data/mnist-demo/x.npy", "data/mnist-demo/y.npy", &[0.1, 0.3]);
//! config.attacks = "fgsm,pgd".into();
//! config.samples = Some(100);
//! config.out = "my-report".into();
//! let run = config.check()?.run(&Silent)?;
//! for row in &run.evaluation.results {
//!     println!("{} ε = {}: robust accuracy {:.1} %", row.attack, row.eps, 100.0 * row.robust_accuracy);
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! Errors name the config key in backticks (`` `eps` ``) and say what to do; the CLI shows them
//! with its flag names.

mod check;
pub mod config;
pub mod mask;
pub mod merge;
mod rows;
mod run;
mod shard_record;
pub mod target;

use std::sync::Arc;

use gauntlet_attacks::spatial::SpatialGrid;
use gauntlet_attacks::AttackSettings;
use gauntlet_core::threat::ThreatModel;
use gauntlet_run::gate::Gate;

pub use config::{AuditConfig, List};
pub use gauntlet_eval::{Evaluation, Progress, Silent};
pub use merge::merge;
pub use run::AuditRun;
pub use target::{OnnxOptions, StopSignal};

/// The prefix that makes an attack craft on the surrogate and run on the target
/// (`transfer-pgd`).
pub(crate) const TRANSFER: &str = "transfer-";

/// A checked audit, ready to run: built only by [`AuditConfig::check`].
pub struct Audit {
    config: AuditConfig,
    threat: ThreatModel,
    /// Attack names in run order (suites expanded).
    attacks: Vec<String>,
    /// Run as an ensemble (a suite was asked for).
    ensemble: bool,
    settings: AttackSettings,
    onnx: OnnxOptions,
    gate: Gate,
    stop: StopSignal,
    command: Vec<String>,
    /// The part of the samples this process runs.
    shard: gauntlet_run::Shard,
    /// Merging shards: every batch comes from the shards' checkpoints, none is computed.
    restore_only: bool,
    /// The spatial stage's grid, when the audit runs it.
    spatial: Option<SpatialGrid>,
}

impl Audit {
    /// The settings this audit was checked from.
    pub fn config(&self) -> &AuditConfig {
        &self.config
    }

    /// The threat model: norm, budgets and valid box.
    pub fn threat(&self) -> &ThreatModel {
        &self.threat
    }

    /// The attacks in run order, suites expanded.
    pub fn attacks(&self) -> &[String] {
        &self.attacks
    }

    /// The part of the samples this audit runs (`0/1`: all of them).
    pub fn shard(&self) -> gauntlet_run::Shard {
        self.shard
    }

    /// Whether the attacks run as an ensemble (each only where every earlier one failed).
    pub fn ensemble(&self) -> bool {
        self.ensemble
    }

    /// Asked before every query to a black-box target: returning true stops it between
    /// queries (the CLI wires Ctrl-C here). Gradient attacks stop between batches through
    /// [`Progress::cancelled`].
    pub fn with_stop(mut self, stop: StopSignal) -> Self {
        self.stop = stop;
        self
    }

    /// The command line (or any description of the invocation) recorded in the report's
    /// manifest. Give it without secrets.
    pub fn with_command(mut self, command: Vec<String>) -> Self {
        self.command = command;
        self
    }
}

/// Versions recorded in every report: gauntlet's, and those of the tensor library and the
/// ONNX parser it was built with (read from the workspace lock file at build time).
pub fn versions() -> Vec<(String, String)> {
    vec![
        ("gauntlet".into(), env!("CARGO_PKG_VERSION").into()),
        ("burn".into(), env!("GAUNTLET_BURN_VERSION").into()),
        ("onnx-ir".into(), env!("GAUNTLET_ONNX_IR_VERSION").into()),
    ]
}

/// A stop signal that never fires.
pub fn never_stop() -> StopSignal {
    Arc::new(|| false)
}
