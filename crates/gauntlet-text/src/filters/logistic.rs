//! Logistic regression over hashed word uni/bigrams and character n-grams.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::shared::{check_training_set, score_batch, sigmoid};
use crate::classifier::Classifier;
use crate::corpus::Message;
use crate::error::{Error, Result};
use crate::mime::extract_text;
use crate::tokenize::word_tokens;

/// Training settings for [`LogisticRegression`].
#[derive(Debug, Clone)]
pub struct LogisticOptions {
    /// log2 of the number of hash buckets.
    pub hash_bits: u32,
    /// Passes over the training set.
    pub epochs: usize,
    /// Initial learning rate (AdaGrad).
    pub learning_rate: f64,
    /// L2 penalty per update.
    pub l2: f64,
    /// Character n-gram lengths (within words, with boundary markers).
    pub char_ngrams: std::ops::RangeInclusive<usize>,
    /// Only the first this-many characters of a message are featurized
    /// (bounds the cost of huge messages).
    pub max_chars: usize,
    /// Shuffling seed.
    pub seed: u64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions {
            hash_bits: 20,
            epochs: 8,
            learning_rate: 0.5,
            l2: 1e-6,
            char_ngrams: 3..=5,
            max_chars: 20_000,
            seed: 0,
        }
    }
}

impl LogisticOptions {
    /// Rejects settings the trainer cannot use.
    pub(crate) fn check(&self) -> Result<()> {
        if !(8..=26).contains(&self.hash_bits)
            || self.char_ngrams.is_empty()
            || self.learning_rate <= 0.0
        {
            return Err(Error::invalid(
                "logistic options",
                "hash_bits must be 8..=26, char_ngrams non-empty, learning_rate > 0",
            ));
        }
        Ok(())
    }
}

/// A trained logistic-regression filter over hashed n-gram features.
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    name: String,
    opts: LogisticOptions,
    weights: Vec<f32>,
    bias: f64,
}

fn fnv1a(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf29ce484222325u64 ^ seed.wrapping_mul(0x100000001b3);
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Sparse, L2-normalized feature vector (bucket, value), sorted by bucket.
pub(crate) fn featurize(text: &str, opts: &LogisticOptions) -> Vec<(u32, f32)> {
    let text = extract_text(text);
    let cut = text
        .char_indices()
        .nth(opts.max_chars)
        .map_or(text.len(), |(i, _)| i);
    let toks = word_tokens(&text[..cut]);
    let mask = (1u64 << opts.hash_bits) - 1;
    let mut idx: Vec<u32> = Vec::with_capacity(toks.len() * 8);
    for (i, t) in toks.iter().enumerate() {
        idx.push((fnv1a(1, &[t.as_bytes()]) & mask) as u32);
        if i > 0 {
            idx.push((fnv1a(2, &[toks[i - 1].as_bytes(), t.as_bytes()]) & mask) as u32);
        }
        let chars: Vec<char> = std::iter::once('^')
            .chain(t.chars())
            .chain(std::iter::once('$'))
            .collect();
        for n in opts.char_ngrams.clone() {
            for w in chars.windows(n) {
                let s: String = w.iter().collect();
                idx.push((fnv1a(3 + n as u64, &[s.as_bytes()]) & mask) as u32);
            }
        }
    }
    idx.sort_unstable();
    let mut feats: Vec<(u32, f32)> = Vec::new();
    for i in idx {
        match feats.last_mut() {
            Some((j, c)) if *j == i => *c += 1.0,
            _ => feats.push((i, 1.0)),
        }
    }
    // Sublinear term frequency, then unit length: long and short messages comparable.
    let mut norm = 0f32;
    for (_, v) in feats.iter_mut() {
        *v = 1.0 + v.ln();
        norm += *v * *v;
    }
    let norm = norm.sqrt().max(1e-6);
    feats.iter_mut().for_each(|(_, v)| *v /= norm);
    feats
}

impl LogisticRegression {
    /// Train with AdaGrad SGD on the logistic loss (deterministic for a seed).
    pub fn train(name: &str, messages: &[Message], opts: LogisticOptions) -> Result<Self> {
        check_training_set(name, messages.iter().map(|m| m.label))?;
        opts.check()?;
        let data: Vec<(Vec<(u32, f32)>, f64)> = messages
            .iter()
            .map(|m| {
                (
                    featurize(&m.text, &opts),
                    if m.label.is_spam() { 1.0 } else { 0.0 },
                )
            })
            .collect();
        let dim = 1usize << opts.hash_bits;
        let mut w = vec![0f32; dim];
        let mut g2 = vec![ADAGRAD_START; dim];
        let rows: Vec<(&[(u32, f32)], f64)> =
            data.iter().map(|(x, y)| (x.as_slice(), *y)).collect();
        let b = sgd(&rows, &opts, &mut w, &mut g2);
        Ok(LogisticRegression {
            name: name.to_string(),
            opts,
            weights: w,
            bias: b,
        })
    }

    /// Spam probability of one text.
    pub fn score(&self, text: &str) -> f64 {
        linear_score(&self.weights, self.bias, &featurize(text, &self.opts))
    }
}

/// AdaGrad's initial squared-gradient sum (keeps the first step finite).
pub(crate) const ADAGRAD_START: f32 = 1e-8;

/// The training loop, once: AdaGrad SGD on the logistic loss over `(features, 1.0 spam / 0.0
/// ham)` rows, updating `w` and its squared-gradient sums `g2` (fresh: zeros and
/// [`ADAGRAD_START`]) in place; returns the bias. Only the buckets the rows touch are read or
/// written, so retraining on a few messages (`crate::poison`) can reuse and reset the buffers.
pub(crate) fn sgd(
    rows: &[(&[(u32, f32)], f64)],
    opts: &LogisticOptions,
    w: &mut [f32],
    g2: &mut [f32],
) -> f64 {
    let (mut b, mut gb2) = (0f64, 1e-8f64);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    for _ in 0..opts.epochs {
        order.shuffle(&mut rng);
        for &k in &order {
            let (x, y) = rows[k];
            let z = b + x
                .iter()
                .map(|&(i, v)| w[i as usize] as f64 * v as f64)
                .sum::<f64>();
            let g = sigmoid(z) - y;
            for &(i, v) in x {
                let i = i as usize;
                let gi = (g * v as f64) as f32 + opts.l2 as f32 * w[i];
                g2[i] += gi * gi;
                w[i] -= opts.learning_rate as f32 * gi / g2[i].sqrt();
            }
            gb2 += g * g;
            b -= opts.learning_rate * g / gb2.sqrt();
        }
    }
    b
}

/// Spam probability of a featurized text under weights `w` and bias `b`.
pub(crate) fn linear_score(w: &[f32], b: f64, x: &[(u32, f32)]) -> f64 {
    sigmoid(
        b + x
            .iter()
            .map(|&(i, v)| w[i as usize] as f64 * v as f64)
            .sum::<f64>(),
    )
}

impl Classifier for LogisticRegression {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        Ok(score_batch(texts, |t| self.score(t)))
    }
}
