//! What carries a batch to a remote target and its answer back.

use std::sync::atomic::{AtomicU64, Ordering};

use gauntlet_core::Result;

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

/// Lock-free counters behind [`TransportStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) rows: AtomicU64,
    pub(crate) starts: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            requests: get(&self.requests),
            attempts: get(&self.attempts),
            failures: get(&self.failures),
            rows: get(&self.rows),
            starts: get(&self.starts),
        }
    }
}
