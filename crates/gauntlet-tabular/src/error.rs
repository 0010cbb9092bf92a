//! Error values of the tabular audit. Every message says what is wrong and what to do.

use std::path::PathBuf;

/// Anything that can go wrong in gauntlet-tabular.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: cannot {action}: {source} (check the path and its permissions)")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("read it", "write it").
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The schema file is not valid.
    #[error("schema {origin}: {reason}")]
    Schema {
        /// The schema file (or "schema" for one given as text).
        origin: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A rule of the schema does not parse.
    #[error("schema {origin}: rule '{rule}': {reason}")]
    Rule {
        /// The schema file.
        origin: String,
        /// The rule's text.
        rule: String,
        /// What is wrong, at which position.
        reason: String,
    },
    /// The data file does not fit the schema or cannot be parsed.
    #[error("data {path}: {reason}")]
    Data {
        /// The CSV file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The model cannot be used on this table.
    #[error("model {model}: {reason}")]
    Model {
        /// The model file.
        model: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A setting is missing or out of range; `field` is its name in the audit's configuration.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting (its configuration key; the CLI shows it as its flag).
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The engine shared with the image audit failed (the ONNX interpreter, HopSkipJump).
    #[error(transparent)]
    Engine(#[from] gauntlet_core::Error),
    /// The resume journal could not be used.
    #[error(transparent)]
    Journal(#[from] gauntlet_run::journal::JournalError),
    /// The CI gate's settings do not fit the audit.
    #[error(transparent)]
    Gate(#[from] gauntlet_run::gate::GateError),
    /// A sharded run or its merge cannot go on (see the message).
    #[error(transparent)]
    Shard(#[from] gauntlet_run::ShardError),
}

/// Results of gauntlet-tabular.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An `Io` error with the action that failed.
    pub fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            path,
            action,
            source,
        }
    }

    /// An `InvalidConfig` error.
    pub fn config(field: &str, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}
