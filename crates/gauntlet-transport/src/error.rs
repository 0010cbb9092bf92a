//! What can go wrong moving a request to a target and its answer back.

/// An error of a transport. Every message says what happened and what to check, and never
/// contains a secret expanded from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A setting is wrong (a URL, a header, a missing environment variable, a zero timeout);
    /// nothing was sent.
    #[error("{0}")]
    Settings(String),
    /// The exchange failed: the target could not be reached, refused the request, did not
    /// answer in time, or answered something that could not be used, after every retry.
    #[error("{0}")]
    Failed(String),
}

impl TransportError {
    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            TransportError::Settings(m) | TransportError::Failed(m) => m,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;
