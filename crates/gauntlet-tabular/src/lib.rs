//! Tabular evasion audits: a table (CSV) with a schema that says what each feature is and
//! which rules every real row satisfies; attacks that change only what an attacker can
//! change and keep every rule; an evasion counts only if the model is fooled *and* the row
//! could occur.
//!
//! The flow is the image audit's: table + model + schema (the threat model) → attack →
//! per-row outcomes (verified in [`outcome`], not by the attack) → summaries → report and
//! gate. [`TabularAuditConfig::check`] → [`TabularAudit::run`] is the whole audit as a
//! library call; [`shard`] splits it over processes or machines and merges it back.

pub mod attacks;
pub mod audit;
pub mod config;
pub mod error;
pub mod feasibility;
pub mod files;
pub mod html;
pub mod loader;
pub mod markdown;
pub mod model;
pub mod onnx_model;
pub mod outcome;
pub mod report;
pub mod rule;
pub mod schema;
pub mod shard;
mod shard_record;
pub mod space;
pub mod summary;
pub mod table;
pub mod tree_model;

pub use audit::{TabularAudit, TabularRun};
pub use config::TabularAuditConfig;
pub use error::{Error, Result};
pub use model::{Goal, TabularModel};
pub use schema::Schema;
pub use space::Space;
pub use table::Table;
