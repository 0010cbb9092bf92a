//! Errors are values that say what went wrong and what to do about it.

use std::path::PathBuf;

/// Result alias used across gauntlet's libraries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong before or during an audit. Every message names the problem
/// and the fix; none of them is a panic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("cannot access '{path}': {source}. Check the path and its permissions.")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// Input data (inputs or labels) is malformed or inconsistent.
    #[error("{0}")]
    Data(String),
    /// A file could not be written (atomically); the message names the file and the step that
    /// failed.
    #[error("{0}")]
    Write(#[source] std::io::Error),
    /// The model file is corrupt, unsupported, or does not fit the data.
    #[error("{0}")]
    Model(String),
    /// A threat model or attack parameter is out of range.
    #[error("{0}")]
    Parameter(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
