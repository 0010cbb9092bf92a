//! gauntlet-eval: runs every attack of a plan over a data set, batch by batch, and keeps the
//! per-sample outcomes; then reduces them to robust accuracy per attack and budget, and to the
//! worst case over attacks (a sample counts as robust only if every attack failed on it).
//!
//! The stages live in [`run`]: data checks, clean predictions, grouping of the samples each
//! attack still has open, the batched attack run (with [`Checkpoint`] resume), and the
//! reduction. Attack failures after work has started do not lose what was computed: the
//! evaluation records the error and keeps the finished attacks.
//!
//! Certified robustness lives beside it: [`smoothing`] (randomized smoothing's CERTIFY and
//! PREDICT, Cohen et al. 2019), [`stats`] (the confidence bounds they need) and
//! [`certification`] (both over a data set, with the SmoothAdv attack as the empirical side).

pub mod adversarial;
pub mod certification;
pub mod certified;
pub mod certify_journal;
pub mod checkpoint;
pub mod diagnostics;
mod evaluation;
mod plan;
pub mod run;
pub mod smoothing;
pub mod spatial;
pub mod stats;

pub use adversarial::{AdversarialRows, AdversarialStore};
pub use checkpoint::{BatchRecord, BudgetRecord, Checkpoint};
pub use evaluation::{AttackResult, Evaluation, WorstCase};
pub use plan::{AuditPlan, Blocks};
pub use run::{check_data, run_audit, run_audit_to, run_audit_with, MAX_CONSECUTIVE_FAILURES};
pub use spatial::{run_spatial, SpatialEvaluation, SpatialPlan};

/// Progress and cancellation: the trait every kind of audit shares (crate `gauntlet-run`).
pub use gauntlet_run::progress::{Progress, Silent};
