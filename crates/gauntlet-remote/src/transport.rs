//! What carries a batch to a remote target and its answer back.

use gauntlet_core::{Error, Result};

use crate::codec::Codec;

/// A way to reach a remote model: [`HttpEndpoint`](crate::HttpEndpoint) or
/// [`ExternalCommand`](crate::ExternalCommand). Implementations retry what is worth retrying
/// and return errors that never contain a secret.
pub trait Transport: Send + Sync {
    /// How batches are encoded and answers decoded, with the model's shape.
    fn codec(&self) -> &Codec;

    /// Scores for `n` flat rows (`rows.len() = n × features`): `n × num_classes` values,
    /// row-major, in the order of the rows, already decoded by the codec's answer spec.
    fn call(&self, rows: &[f32], n: usize) -> Result<Vec<f32>>;

    /// A one-line description safe to print or record in a report: the URL or command, with
    /// every header value redacted.
    fn describe(&self) -> String;

    /// Traffic so far.
    fn stats(&self) -> TransportStats;
}

/// Counts of one transport's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Exchanges asked for (one per request body; a batch may be split into several).
    pub requests: u64,
    /// Tries made, retries included.
    pub attempts: u64,
    /// Tries that failed (and were retried, or ended in an error).
    pub failures: u64,
    /// Rows answered successfully.
    pub rows: u64,
    /// Times an external command was (re)started.
    pub starts: u64,
}

impl TransportStats {
    /// The transport's counters, with the rows answered.
    pub(crate) fn from_exchanges(stats: gauntlet_transport::ExchangeStats, rows: u64) -> Self {
        TransportStats {
            requests: stats.requests,
            attempts: stats.attempts,
            failures: stats.failures,
            rows,
            starts: stats.starts,
        }
    }
}

/// One exchange of `n` rows: encoded by `codec`, sent by `exchange` (the HTTP client's or the
/// command runner's, which retries an answer `decode` rejects), decoded, and counted in
/// `answered`.
pub(crate) fn send_encoded(
    codec: &Codec,
    answered: &std::sync::atomic::AtomicU64,
    rows: &[f32],
    n: usize,
    exchange: impl FnOnce(
        &str,
        &dyn Fn(&str) -> std::result::Result<Vec<f32>, String>,
    ) -> std::result::Result<Vec<f32>, gauntlet_transport::TransportError>,
) -> Result<Vec<f32>> {
    let body = codec.encode(rows, n)?;
    let decode = |text: &str| codec.decode(text, n).map_err(|e| e.to_string());
    let answer = exchange(&body, &decode).map_err(core_error)?;
    answered.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(answer)
}

/// A transport error as a gauntlet error, with the same message: a bad setting is
/// [`Error::Parameter`], a failed exchange [`Error::Model`].
pub(crate) fn core_error(e: gauntlet_transport::TransportError) -> Error {
    match e {
        gauntlet_transport::TransportError::Settings(m) => Error::Parameter(m),
        gauntlet_transport::TransportError::Failed(m) => Error::Model(m),
    }
}
