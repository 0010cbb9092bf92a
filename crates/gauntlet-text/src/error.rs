//! Error values for the text-audit pipeline. Every message says what went wrong
//! and, where there is one, what to do about it.

use std::path::PathBuf;

/// Anything that can go wrong in gauntlet-text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source} (check the path and its permissions)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The corpus held no usable message.
    #[error("corpus {path} has no usable message ({detail}); expected JSON Lines with fields id, label (\"spam\"/\"ham\") and text")]
    EmptyCorpus {
        /// The corpus file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// A split has no message of a class the run needs.
    #[error("{what}: the {split} split has no {label} message; use a larger corpus or another split fraction")]
    MissingClass {
        /// What needed it.
        what: String,
        /// "train" or "test".
        split: String,
        /// "spam" or "ham".
        label: String,
    },
    /// A setting is missing or out of range. `field` is the setting's name in the audit's
    /// configuration ([`TextAuditConfig`](crate::config::TextAuditConfig)) or the API.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// An external filter (HTTP endpoint or command) could not be used: a bad setting, a
    /// program that cannot start, or an exchange that failed after every retry. The message
    /// names the endpoint or command (never a secret) and what happened.
    #[error("filter: {0}")]
    Transport(#[from] gauntlet_transport::TransportError),
    /// The filter under audit failed on every held-out message (e.g. a command that
    /// cannot run): a setup problem, not a per-message one.
    #[error(
        "filter {filter} failed on every one of the first {count} held-out messages it was sent, so \
         the audit stops here; the first failure ({id}): {reason}"
    )]
    FilterUnusable {
        /// The filter's name.
        filter: String,
        /// Held-out messages sent, all failed.
        count: usize,
        /// Id of the first message that failed.
        id: String,
        /// Why it failed.
        reason: String,
    },
    /// A classifier returned the wrong number of results.
    #[error("classifier {name} returned {got} results for {expected} texts")]
    BatchMismatch {
        /// Classifier name.
        name: String,
        /// Texts sent.
        expected: usize,
        /// Results received.
        got: usize,
    },
    /// A model cannot be trained on the given data.
    #[error("cannot train {model}: {reason}")]
    Training {
        /// Which model.
        model: String,
        /// Why.
        reason: String,
    },
    /// The per-message query allowance ran out.
    #[error("query limit of {limit} reached")]
    QueryLimit {
        /// The limit.
        limit: u64,
    },
    /// A check of the CI gate cannot be used (a malformed threshold, an unreadable baseline, a
    /// threshold on a result the audit will not produce).
    #[error("{0}")]
    Gate(#[from] gauntlet_run::GateError),
    /// The checkpoint journal of the audit could not be read or written.
    #[error("{0}")]
    Checkpoint(#[from] gauntlet_run::JournalError),
    /// A sharded run or its merge cannot go on (see the message).
    #[error("{0}")]
    Shard(#[from] gauntlet_run::ShardError),
    /// Writing the report failed.
    #[error("cannot write report {path}: {detail}")]
    Report {
        /// Target file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}
