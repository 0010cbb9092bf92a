//! Query accounting for black-box targets: a cache keyed by input hash, so an input already
//! answered is not sent again, and counters of what was really sent.
//!
//! Attacks count their own queries (what an attacker would pay); [`CachedTarget`] counts what
//! reached the target, which is what a rate-limited or billed endpoint sees. The cache is
//! bounded by bytes and evicts the least recently used answers ([`LruAnswers`]), so a long
//! run's memory does not grow with the number of queries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use burn::tensor::Tensor;
use sha2::{Digest, Sha256};

use crate::lru::{Key, LruAnswers};
use crate::model::{AnswerKind, Classifier};
use crate::tensor::{from_rows, to_vec};
use crate::Result;

/// The answer cache's default bound: 256 MiB (about 2.6 million answers of 10 classes).
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// Counts of one target's traffic and of its answer cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Rows sent to the target.
    pub sent: u64,
    /// Rows answered without reaching the target: cache hits, and repeats of a row inside one
    /// query (sent once).
    pub cached: u64,
    /// Rows whose answer was found in the cache.
    pub hits: u64,
    /// Rows whose answer was not in the cache (sent, or a repeat of one sent with them).
    pub misses: u64,
    /// Answers evicted from the cache to make room.
    pub evictions: u64,
    /// Bytes the cache holds now.
    pub cache_bytes: u64,
    /// The cache's bound, bytes (0: no cache).
    pub cache_limit: u64,
}

impl QueryStats {
    /// Hits over lookups (0 before any lookup).
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

/// Wraps a target with an answer cache keyed by the SHA-256 of each row's bytes (bounded by
/// bytes, least recently used answers evicted first), and an optional total query budget
/// (rows actually sent).
pub struct CachedTarget<C> {
    inner: C,
    answers: Mutex<LruAnswers>,
    sent: AtomicU64,
    cached: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    limit: Option<u64>,
}

impl<C: Classifier> CachedTarget<C> {
    /// Wraps `inner` with an empty cache of [`DEFAULT_CACHE_BYTES`] and no query limit.
    pub fn new(inner: C) -> Self {
        CachedTarget {
            inner,
            answers: Mutex::new(LruAnswers::new(DEFAULT_CACHE_BYTES)),
            sent: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            limit: None,
        }
    }

    /// Bounds the cache to `bytes` (0: no cache; repeats inside one query are still sent
    /// once).
    pub fn with_cache_bytes(self, bytes: usize) -> Self {
        CachedTarget {
            answers: Mutex::new(LruAnswers::new(bytes)),
            ..self
        }
    }

    /// Refuses to send more than `total` rows over the target's lifetime: a call that would
    /// go over fails (its samples are recorded as failed; what was computed is kept).
    pub fn with_limit(mut self, total: u64) -> Self {
        self.limit = Some(total);
        self
    }

    /// The traffic and the cache's counters so far.
    pub fn stats(&self) -> QueryStats {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        QueryStats {
            sent: self.sent.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: answers.evictions(),
            cache_bytes: answers.bytes() as u64,
            cache_limit: answers.limit() as u64,
        }
    }

    /// The wrapped target.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

fn row_key(row: &[f32]) -> Key {
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
        let keys: Vec<Key> = rows.chunks(f.max(1)).take(n).map(row_key).collect();
        let mut out = vec![0f32; n * classes];
        // Rows to send: the first occurrence of every key not in the cache. Every row not
        // found is answered from its key's position among them (a later insert may evict an
        // answer of this very query, so answers are copied out, never read back).
        let mut missing: Vec<usize> = Vec::new();
        let mut pending: Vec<(usize, usize)> = Vec::new();
        {
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            let mut position: HashMap<Key, usize> = HashMap::new();
            for (i, key) in keys.iter().enumerate() {
                if let Some(answer) = answers.get(key) {
                    out[i * classes..(i + 1) * classes].copy_from_slice(answer);
                    continue;
                }
                let p = *position.entry(*key).or_insert_with(|| {
                    missing.push(i);
                    missing.len() - 1
                });
                pending.push((i, p));
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
            for &(i, p) in &pending {
                out[i * classes..(i + 1) * classes]
                    .copy_from_slice(&answered[p * classes..(p + 1) * classes]);
            }
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            for (p, &i) in missing.iter().enumerate() {
                answers.insert(keys[i], answered[p * classes..(p + 1) * classes].to_vec());
            }
        }
        self.cached
            .fetch_add((n - missing.len()) as u64, Ordering::Relaxed);
        self.hits
            .fetch_add((n - pending.len()) as u64, Ordering::Relaxed);
        self.misses
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
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

    /// Sent and cached rows, the counters the first version had.
    fn traffic(target: &CachedTarget<Echo>) -> (u64, u64) {
        let s = target.stats();
        (s.sent, s.cached)
    }

    fn ask(target: &CachedTarget<Echo>, rows: &[f32]) -> Vec<f32> {
        let x = from_rows(rows.to_vec(), rows.len() / 2, 2, &compute_device());
        to_vec(target.logits(x).unwrap())
    }

    #[test]
    fn identical_rows_are_sent_once_and_answers_stay_in_order() {
        let target = CachedTarget::new(Echo(AtomicU64::new(0)));
        let y = ask(&target, &[1.0, 2.0, 3.0, 4.0, 1.0, 2.0]);
        assert_eq!(y, vec![2.0, 4.0, 6.0, 8.0, 2.0, 4.0]);
        assert_eq!(traffic(&target), (2, 1));
        let y = ask(&target, &[3.0, 4.0, 5.0, 6.0]);
        assert_eq!(y, vec![6.0, 8.0, 10.0, 12.0]);
        assert_eq!(traffic(&target), (3, 2));
        assert_eq!(target.inner().0.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn answers_from_the_cache_equal_the_targets_and_the_hit_rate_counts_lookups() {
        let target = CachedTarget::new(Echo(AtomicU64::new(0)));
        let rows = [0.5, -1.0, 2.0, 0.25, 7.0, 3.0];
        let first = ask(&target, &rows);
        let again = ask(&target, &rows);
        assert_eq!(again, first, "cached answers are the target's");
        assert_eq!(first, rows.iter().map(|v| v * 2.0).collect::<Vec<_>>());
        // 3 lookups missed, then 3 hit; a repeat inside one query is a miss sent once.
        ask(&target, &[9.0, 9.0, 9.0, 9.0]);
        let s = target.stats();
        assert_eq!((s.hits, s.misses, s.sent, s.cached), (3, 5, 4, 4));
        assert!((s.hit_rate() - 3.0 / 8.0).abs() < 1e-12);
        assert_eq!(s.cache_bytes, 4 * LruAnswers::entry_bytes(2) as u64);
        assert_eq!(
            (s.evictions, s.cache_limit),
            (0, DEFAULT_CACHE_BYTES as u64)
        );
        assert_eq!(QueryStats::default().hit_rate(), 0.0);
    }

    #[test]
    fn a_bounded_cache_keeps_the_recently_used_answers_and_counts_evictions() {
        // Room for two answers of two classes.
        let bound = 2 * LruAnswers::entry_bytes(2);
        let target = CachedTarget::new(Echo(AtomicU64::new(0))).with_cache_bytes(bound);
        ask(&target, &[1.0, 1.0]);
        ask(&target, &[2.0, 2.0]);
        ask(&target, &[1.0, 1.0]); // a hit: row 1 is now the most recent
        ask(&target, &[3.0, 3.0]); // evicts row 2, the least recently used
        let sent = target.stats().sent;
        assert_eq!(ask(&target, &[1.0, 1.0]), vec![2.0, 2.0]);
        assert_eq!(target.stats().sent, sent, "row 1 survived");
        assert_eq!(ask(&target, &[2.0, 2.0]), vec![4.0, 4.0]);
        assert_eq!(
            target.stats().sent,
            sent + 1,
            "row 2 was evicted and sent again"
        );
        let s = target.stats();
        assert!(s.cache_bytes <= bound as u64);
        assert_eq!(s.evictions, 2);
        // A query larger than the bound is still answered right, in order.
        let rows = [4.0, 0.0, 5.0, 0.0, 6.0, 0.0, 4.0, 0.0];
        assert_eq!(
            ask(&target, &rows),
            vec![8.0, 0.0, 10.0, 0.0, 12.0, 0.0, 8.0, 0.0]
        );
        assert!(target.stats().cache_bytes <= bound as u64);
    }

    #[test]
    fn a_zero_bound_disables_the_cache() {
        let target = CachedTarget::new(Echo(AtomicU64::new(0))).with_cache_bytes(0);
        assert_eq!(ask(&target, &[1.0, 2.0]), vec![2.0, 4.0]);
        assert_eq!(ask(&target, &[1.0, 2.0]), vec![2.0, 4.0]);
        let s = target.stats();
        assert_eq!((s.sent, s.hits, s.misses, s.cache_bytes), (2, 0, 2, 0));
        assert_eq!(target.inner().0.load(Ordering::Relaxed), 2);
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
