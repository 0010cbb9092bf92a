//! [`LruAnswers`]: answers keyed by an input's hash, bounded by bytes, evicting the least
//! recently used first — the store behind the black-box answer cache, so a long run's memory
//! stays bounded whatever number of distinct inputs it queries.

use std::collections::{BTreeMap, HashMap};

/// An input's key: the SHA-256 of its bytes.
pub type Key = [u8; 32];

/// Bytes an entry costs beyond its answer's values: its key twice (the map and the recency
/// order), its recency stamp twice and the answer vector's header.
const ENTRY_OVERHEAD: usize = 2 * 32 + 2 * 8 + 24;

/// A byte-bounded map from input keys to answers with least-recently-used eviction. A read
/// and a write both count as a use.
#[derive(Debug)]
pub struct LruAnswers {
    entries: HashMap<Key, (Vec<f32>, u64)>,
    /// Recency order: stamp → key, oldest first.
    order: BTreeMap<u64, Key>,
    clock: u64,
    bytes: usize,
    limit: usize,
    evictions: u64,
}

impl LruAnswers {
    /// An empty store that never holds more than `limit` bytes (0: it holds nothing).
    pub fn new(limit: usize) -> Self {
        LruAnswers {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
            bytes: 0,
            limit,
            evictions: 0,
        }
    }

    /// What one entry with an answer of `values` numbers costs against the bound.
    pub fn entry_bytes(values: usize) -> usize {
        values * std::mem::size_of::<f32>() + ENTRY_OVERHEAD
    }

    fn stamp(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The answer stored for `key`, marked as just used.
    pub fn get(&mut self, key: &Key) -> Option<&[f32]> {
        let stamp = self.stamp();
        let (answer, used) = self.entries.get_mut(key)?;
        self.order.remove(used);
        *used = stamp;
        self.order.insert(stamp, *key);
        Some(answer)
    }

    /// Stores `answer` under `key` as the most recently used entry, evicting the least
    /// recently used ones until it fits. An answer larger than the whole bound is not stored.
    pub fn insert(&mut self, key: Key, answer: Vec<f32>) {
        if let Some((old, used)) = self.entries.remove(&key) {
            self.order.remove(&used);
            self.bytes -= Self::entry_bytes(old.len());
        }
        let cost = Self::entry_bytes(answer.len());
        if cost > self.limit {
            return;
        }
        while self.bytes + cost > self.limit {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = self.entries.remove(&oldest) {
                self.bytes -= Self::entry_bytes(evicted.len());
                self.evictions += 1;
            }
        }
        let stamp = self.stamp();
        self.order.insert(stamp, key);
        self.entries.insert(key, (answer, stamp));
        self.bytes += cost;
    }

    /// Whether `key` is stored (without marking it used).
    pub fn contains(&self, key: &Key) -> bool {
        self.entries.contains_key(key)
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes the stored entries cost (never above [`LruAnswers::limit`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The bound, bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Entries evicted to make room so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> Key {
        [i; 32]
    }

    /// Room for exactly `entries` answers of 4 values.
    fn store(entries: usize) -> LruAnswers {
        LruAnswers::new(entries * LruAnswers::entry_bytes(4))
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_and_a_read_counts_as_a_use() {
        let mut lru = store(3);
        for i in 0..3 {
            lru.insert(key(i), vec![i as f32; 4]);
        }
        // 0 is the oldest, but reading it makes 1 the oldest.
        assert_eq!(lru.get(&key(0)), Some(&[0.0; 4][..]));
        lru.insert(key(3), vec![3.0; 4]);
        assert!(lru.contains(&key(0)), "used recently: kept");
        assert!(!lru.contains(&key(1)), "the oldest: evicted");
        assert!(lru.contains(&key(2)) && lru.contains(&key(3)));
        assert_eq!(lru.evictions(), 1);
        // Now 2 is the oldest.
        lru.insert(key(4), vec![4.0; 4]);
        assert!(!lru.contains(&key(2)));
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.evictions(), 2);
    }

    #[test]
    fn the_byte_bound_is_never_exceeded() {
        let limit = 10 * LruAnswers::entry_bytes(4) + 7;
        let mut lru = LruAnswers::new(limit);
        for i in 0..200u32 {
            // Answers of different sizes, some keys written twice.
            let k = (i % 37) as u8;
            lru.insert(key(k), vec![0.5; 1 + (i as usize * 7) % 13]);
            assert!(lru.bytes() <= limit, "{} > {limit} after {i}", lru.bytes());
            let held: usize = lru
                .entries
                .values()
                .map(|(a, _)| LruAnswers::entry_bytes(a.len()))
                .sum();
            assert_eq!(held, lru.bytes(), "the count matches what is held");
            assert_eq!(lru.order.len(), lru.len());
        }
        assert!(lru.evictions() > 0);
    }

    #[test]
    fn a_zero_bound_holds_nothing_and_a_rewrite_replaces() {
        let mut lru = LruAnswers::new(0);
        lru.insert(key(1), vec![1.0]);
        assert!(lru.is_empty());
        assert_eq!((lru.bytes(), lru.evictions()), (0, 0));

        let mut lru = store(2);
        lru.insert(key(1), vec![1.0; 4]);
        lru.insert(key(1), vec![2.0; 4]);
        assert_eq!(lru.len(), 1);
        assert_eq!(lru.bytes(), LruAnswers::entry_bytes(4));
        assert_eq!(lru.get(&key(1)), Some(&[2.0; 4][..]));
    }
}
