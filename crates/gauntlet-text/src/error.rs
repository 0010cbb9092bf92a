//! Error values for the text-audit pipeline. Every message says what went wrong
//! and, where there is one, what to do about it.

use std::path::PathBuf;

/// Anything that can go wrong in gauntlet-text.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
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
    /// An edit budget or other setting is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// An external filter command could not be started.
    #[error("cannot start filter command `{command}`: {source} (is it installed and on PATH?)")]
    CommandSpawn {
        /// The command line.
        command: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external filter command exited or stopped answering.
    #[error("filter command `{command}` failed: {detail}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// What happened (exit status, stderr tail, timeout).
        detail: String,
    },
    /// An external filter answered something that is not a score or label.
    #[error("filter command `{command}` answered garbage {answer:?}: expected a JSON line like {{\"score\": 0.93}} or {{\"label\": \"spam\"}}")]
    BadAnswer {
        /// The command line.
        command: String,
        /// The offending line (truncated).
        answer: String,
    },
    /// An HTTP filter endpoint could not be used (a bad setting, or an exchange that failed
    /// after every retry); the message names the endpoint, never a secret.
    #[error("filter endpoint: {0}")]
    Transport(#[from] gauntlet_transport::TransportError),
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
pub type Result<T, E = TextError> = std::result::Result<T, E>;

impl TextError {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        TextError::InvalidConfig { field: field.to_string(), reason: reason.into() }
    }
}
