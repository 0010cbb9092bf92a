//! # gauntlet-text
//!
//! Spam-filter evasion audits. The path through the crate is the same as for
//! gauntlet's image attacks: data + model + threat model → attack (+ seed) →
//! per-message outcomes → evaluation → report.
//!
//! * [`corpus`] loads a labelled JSON Lines corpus and splits it by id hash;
//!   [`mime`] turns raw bodies into text.
//! * [`classifier::TextClassifier`] is the one target interface: the built-in
//!   [`filters::NaiveBayes`] and [`filters::LogisticRegression`], any program
//!   through [`filters::ExternalCommand`], any HTTP endpoint through
//!   [`filters::HttpFilter`], and the [`normalize::Normalized`] defense wrapper
//!   all implement it. Attacks see it only through a
//!   query-counting [`classifier::Oracle`].
//! * The boundary with the image side: `gauntlet-transport` moves bytes
//!   reliably (HTTP retries, backoff, rate limits, secrets, redirects,
//!   timeouts); `gauntlet-remote` encodes images for it; this crate encodes
//!   texts ([`filters::TextRequestTemplate`]) and decodes spam scores. Neither
//!   this crate nor gauntlet-transport depends on burn.
//! * [`budget::TextBudget`] is the validated threat model (edit budget).
//! * [`attacks`] holds one file per attack.
//! * [`audit::run_text_audit`] runs the whole audit; [`report::write_text_report`]
//!   writes `text-report.json` and `text-report.md`.

pub mod attacks;
pub mod audit;
pub mod budget;
pub mod classifier;
pub mod confusables;
pub mod corpus;
pub mod error;
pub mod filters;
pub mod mime;
pub mod normalize;
pub mod report;
pub mod tokenize;

pub use audit::{run_text_audit, FilterSpec, TextAuditConfig};
pub use budget::TextBudget;
pub use classifier::{Oracle, TextClassifier};
pub use error::{Result, TextError};
pub use report::{write_text_report, TextAuditReport};
