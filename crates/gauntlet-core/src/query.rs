//! Query accounting for black-box targets: a cache keyed by input hash, so an identical input
//! is never sent twice, and counters of what was really sent.
//!
//! Attacks count their own queries (what an attacker would pay); [`CachedTarget`] counts what
//! reached the target, which is what a rate-limited or billed endpoint sees.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use burn::tensor::Tensor;
use sha2::{Digest, Sha256};

use crate::model::{AnswerKind, Classifier};
use crate::tensor::{from_rows, to_vec};
use crate::Result;

/// Counts of one target's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Rows sent to the target.
    pub sent: u64,
    /// Rows answered from the cache (including duplicates inside one batch).
    pub cached: u64,
}

/// Wraps a target with an answer cache keyed by the SHA-256 of each row's bytes, and an
/// optional total query budget (rows actually sent).
pub struct CachedTarget<C> {
    inner: C,
    answers: Mutex<HashMap<[u8; 32], Vec<f32>>>,
    sent: AtomicU64,
    cached: AtomicU64,
    limit: Option<u64>,
}

impl<C: Classifier> CachedTarget<C> {
    /// Wraps `inner` with an empty cache and no query limit.
    pub fn new(inner: C) -> Self {
        CachedTarget {
            inner,
            answers: Mutex::new(HashMap::new()),
            sent: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            limit: None,
        }
    }

    /// Refuses to send more than `total` rows over the target's lifetime: a call that would
    /// go over fails (its samples are recorded as failed; what was computed is kept).
    pub fn with_limit(mut self, total: u64) -> Self {
        self.limit = Some(total);
        self
    }

    /// Rows sent to the target and rows answered from the cache so far.
    pub fn stats(&self) -> QueryStats {
        QueryStats {
            sent: self.sent.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
        }
    }

    /// The wrapped target.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

fn row_key(row: &[f32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for v in row {
        hasher.update(v.to_le_bytes());
    }
    hasher.finalize().into()
}

impl<C: Classifier> Classifier for CachedTarget<C> {
    fn sample_shape(&self) -> &[usize] {
        self.inner.sample_shape()
    }

    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }

    fn answer_kind(&self) -> AnswerKind {
        self.inner.answer_kind()
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [n, f] = x.dims();
        let device = x.device();
        let classes = self.num_classes();
        let rows = to_vec(x);
        let keys: Vec<[u8; 32]> = rows.chunks(f.max(1)).take(n).map(row_key).collect();
        // Rows to send: the first occurrence of every key not in the cache.
        let mut missing: Vec<usize> = Vec::new();
        {
            let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            let mut seen = std::collections::HashSet::new();
            for (i, key) in keys.iter().enumerate() {
                if !answers.contains_key(key) && seen.insert(*key) {
                    missing.push(i);
                }
            }
        }
        if let Some(limit) = self.limit {
            let sent = self.sent.load(Ordering::Relaxed);
            if sent + missing.len() as u64 > limit {
                return Err(crate::Error::Parameter(format!(
                    "the total query budget of {limit} is spent ({sent} sent, {} more needed); \
                     raise the total query budget (`max_queries`) to attack the remaining samples",
                    missing.len()
                )));
            }
        }
        if !missing.is_empty() {
            let batch: Vec<f32> = missing
                .iter()
                .flat_map(|&i| rows[i * f..(i + 1) * f].iter().copied())
                .collect();
            let answered =
                to_vec(
                    self.inner
                        .logits(from_rows(batch, missing.len(), f, &device))?,
                );
            self.sent.fetch_add(missing.len() as u64, Ordering::Relaxed);
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            for (k, &i) in missing.iter().enumerate() {
                answers.insert(keys[i], answered[k * classes..(k + 1) * classes].to_vec());
            }
        }
        self.cached
            .fetch_add((n - missing.len()) as u64, Ordering::Relaxed);
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(n * classes);
        for key in &keys {
            out.extend_from_slice(&answers[key]);
        }
        Ok(from_rows(out, n, classes, &device))
    }
}

/// Stops a slow target between queries once `stop()` says so (the user pressed Ctrl-C): the
/// query in hand fails, its batch is not recorded, and a resumed run redoes it.
pub struct Interruptible<C> {
    inner: C,
    stop: Box<dyn Fn() -> bool + Send + Sync>,
}

impl<C: Classifier> Interruptible<C> {
    /// Wraps `inner`; `stop` is asked before every query (e.g. a Ctrl-C flag) and should be
    /// cheap.
    pub fn new(inner: C, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Interruptible {
            inner,
            stop: Box::new(stop),
        }
    }
}

impl<C: Classifier> Classifier for Interruptible<C> {
    fn sample_shape(&self) -> &[usize] {
        self.inner.sample_shape()
    }

    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }

    fn answer_kind(&self) -> AnswerKind {
        self.inner.answer_kind()
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        if (self.stop)() {
            return Err(crate::Error::Parameter("interrupted by the user".into()));
        }
        self.inner.logits(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::compute_device;

    /// Doubles the first feature into two scores and counts calls.
    struct Echo(AtomicU64);

    impl Classifier for Echo {
        fn sample_shape(&self) -> &[usize] {
            &[2]
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
            self.0.fetch_add(x.dims()[0] as u64, Ordering::Relaxed);
            Ok(x.mul_scalar(2.0))
        }
    }

    #[test]
    fn identical_rows_are_sent_once_and_answers_stay_in_order() {
        let device = compute_device();
        let target = CachedTarget::new(Echo(AtomicU64::new(0)));
        let x = from_rows(vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0], 3, 2, &device);
        let y = to_vec(target.logits(x).unwrap());
        assert_eq!(y, vec![2.0, 4.0, 6.0, 8.0, 2.0, 4.0]);
        assert_eq!(target.stats(), QueryStats { sent: 2, cached: 1 });
        let again = from_rows(vec![3.0, 4.0, 5.0, 6.0], 2, 2, &device);
        let y = to_vec(target.logits(again).unwrap());
        assert_eq!(y, vec![6.0, 8.0, 10.0, 12.0]);
        assert_eq!(target.stats(), QueryStats { sent: 3, cached: 2 });
        assert_eq!(target.inner().0.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_total_budget_is_never_exceeded_and_cached_answers_stay_free() {
        let device = compute_device();
        let target = CachedTarget::new(Echo(AtomicU64::new(0))).with_limit(3);
        let x = from_rows(vec![1.0, 2.0, 3.0, 4.0], 2, 2, &device);
        target.logits(x.clone()).unwrap();
        let over = from_rows(vec![5.0, 6.0, 7.0, 8.0], 2, 2, &device);
        let err = target.logits(over).unwrap_err().to_string();
        assert!(err.contains("budget of 3"), "{err}");
        assert_eq!(target.stats().sent, 2);
        // Repeats cost nothing, and one more new row still fits.
        target.logits(x).unwrap();
        target
            .logits(from_rows(vec![5.0, 6.0], 1, 2, &device))
            .unwrap();
        assert_eq!(target.inner().0.load(Ordering::Relaxed), 3);
    }
}
