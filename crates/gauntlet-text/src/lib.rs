//! # gauntlet-text
//!
//! Spam-filter evasion audits. The path through the crate is the same as for gauntlet's image
//! attacks, in the same words: data + target + budget (threat model) → attack (+ seed) →
//! per-message outcomes → evaluation → report → CI gate.
//!
//! * [`corpus`] loads a labelled JSON Lines corpus and splits it by id hash; [`mime`] turns
//!   raw bodies into text.
//! * [`Classifier`] is the one target interface: the built-in [`filters::NaiveBayes`] and
//!   [`filters::LogisticRegression`], any program through [`filters::ExternalCommand`], any
//!   HTTP endpoint through [`filters::HttpFilter`], and the [`normalize::Normalized`] defense
//!   wrapper all implement it. Attacks see it only through a query-counting [`Oracle`].
//! * The boundary with the image side: `gauntlet-transport` moves bytes reliably (HTTP
//!   retries, backoff, rate limits, secrets, redirects, timeouts); this crate encodes texts
//!   ([`filters::TextRequestTemplate`]) and decodes spam scores. `gauntlet-run` holds what
//!   every audit shares: [`Progress`](gauntlet_run::Progress), the CI gate, atomic writes, the
//!   resume journal. None of them depends on burn.
//! * [`Budget`] is the validated threat model (edit budget); [`attacks`] holds one file per
//!   [`Attack`].
//! * [`TextAuditConfig`] is the audit's settings (one key per `gauntlet text-audit` flag,
//!   readable from `gauntlet.toml`); [`TextAuditConfig::validate`] checks them once into a
//!   [`TextAudit`], whose [`TextAudit::run`] resumes from a [`checkpoint`], writes
//!   `text-report.{json,md,html}` ([`output`], [`html`]) and judges the [`gate`].
//! * [`shard`]: one audit split over processes or machines (`--shard I/N`) and merged back
//!   into the unsharded run's report.
//! * [`poison`] poisons the built-in filters' training mail (dictionary, focused, label-flip
//!   attacks), retrains them and measures the damage, with the RONI and dynamic-threshold
//!   defenses (`gauntlet text-poison`).
//!
//! ```no_run
//! use gauntlet_text::TextAuditConfig;
//!
//! let mut config = TextAuditConfig::new("data/spam-demo/spam-demo.jsonl.gz");
//! config.attacks = vec!["deepwordbug".into()];
//! config.fail_under = vec!["deepwordbug=0.3".into()];
//! let run = config.validate()?.run(&gauntlet_run::Silent)?;
//! println!("{}: exit code {}", run.report.filter, run.verdict().code());
//! # Ok::<(), gauntlet_text::Error>(())
//! ```

pub mod attacks;
pub mod audit;
pub mod budget;
pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod confusables;
pub mod corpus;
pub mod error;
pub mod filters;
pub mod gate;
pub mod html;
pub mod mime;
pub mod normalize;
pub mod output;
pub mod poison;
pub mod report;
pub mod shard;
mod shard_record;
pub mod tokenize;
mod validate;

pub use attacks::{Attack, AttackKind};
pub use audit::TextAuditRun;
pub use budget::Budget;
pub use classifier::{Classifier, Oracle};
pub use config::{FilterSpec, Settings, TextAudit, TextAuditConfig};
pub use error::{Error, Result};
pub use output::{write_report, ReportFiles};
pub use report::TextAuditReport;
pub use validate::http_filter;
