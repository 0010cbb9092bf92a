//! Counters of one transport's traffic.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of one transport's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Exchanges asked for (one per request body).
    pub requests: u64,
    /// Tries made, retries included.
    pub attempts: u64,
    /// Tries that failed (and were retried, or ended in an error).
    pub failures: u64,
    /// Exchanges that ended with a decoded answer.
    pub answered: u64,
    /// Times an external command was (re)started.
    pub starts: u64,
}

/// Lock-free counters behind [`ExchangeStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) answered: AtomicU64,
    pub(crate) starts: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ExchangeStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ExchangeStats {
            requests: get(&self.requests),
            attempts: get(&self.attempts),
            failures: get(&self.failures),
            answered: get(&self.answered),
            starts: get(&self.starts),
        }
    }
}
