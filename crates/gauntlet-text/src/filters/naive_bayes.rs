//! Multinomial Naive Bayes over word tokens: the classic Bayesian spam filter.

use std::collections::HashMap;

use super::shared::{check_training_set, score_batch, sigmoid};
use crate::classifier::Classifier;
use crate::corpus::{Label, Message};
use crate::error::Result;
use crate::mime::extract_text;
use crate::tokenize::{for_each_token, word_tokens};

/// A trained multinomial Naive Bayes filter.
#[derive(Debug, Clone)]
pub struct NaiveBayes {
    name: String,
    log_prior_ratio: f64,
    /// log P(w | spam) - log P(w | ham) per vocabulary word.
    word_llr: HashMap<String, f64>,
}

impl NaiveBayes {
    /// Laplace smoothing constant.
    pub const ALPHA: f64 = 1.0;
    /// Words seen fewer times than this in training are dropped (noise).
    pub const MIN_COUNT: u32 = 2;

    /// Train on raw messages (MIME-extracted, then tokenized).
    pub fn train(name: &str, messages: &[Message]) -> Result<Self> {
        check_training_set(name, messages.iter().map(|m| m.label))?;
        let mut counts: HashMap<String, [u32; 2]> = HashMap::new();
        let mut docs = [0usize; 2];
        for m in messages {
            let c = usize::from(m.label.is_spam());
            docs[c] += 1;
            for t in word_tokens(&extract_text(&m.text)) {
                counts.entry(t).or_default()[c] += 1;
            }
        }
        counts.retain(|_, c| kept(*c));
        let smoothing = Smoothing::new(counts.values().copied());
        let word_llr = counts
            .into_iter()
            .map(|(w, c)| (w, smoothing.llr(c)))
            .collect();
        Ok(NaiveBayes {
            name: name.to_string(),
            log_prior_ratio: log_prior_ratio(docs),
            word_llr,
        })
    }

    /// Posterior log-odds log P(spam | text) / P(ham | text); unknown words are ignored.
    pub fn log_odds(&self, text: &str) -> (f64, usize) {
        let mut z = self.log_prior_ratio;
        let mut n = 0;
        for_each_token(&extract_text(text), |t| {
            if let Some(l) = self.word_llr.get(t) {
                z += l;
                n += 1;
            }
        });
        (z, n)
    }

    /// Per-word log-likelihood ratio, if the word is in the vocabulary (for tests
    /// and diagnostics; attacks never read it).
    pub fn word_llr(&self, word: &str) -> Option<f64> {
        self.word_llr.get(word).copied()
    }

    /// Vocabulary size.
    pub fn vocab_len(&self) -> usize {
        self.word_llr.len()
    }

    /// Classify one text.
    pub fn label(&self, text: &str) -> Label {
        Label::from_score(self.score(text))
    }

    /// Spam score of one text: the posterior log-odds divided by
    /// sqrt(known tokens) and squashed. The sign — hence the decision — is the
    /// Naive Bayes posterior's; the scaling only keeps long messages from
    /// saturating at exactly 0.0 or 1.0 so that score changes stay visible.
    pub fn score(&self, text: &str) -> f64 {
        let (z, n) = self.log_odds(text);
        squash(z, n)
    }
}

// The training arithmetic, once: `NaiveBayes::train` and retraining on pre-counted mail
// (`crate::poison`, which refits thousands of times) both use it.

/// Whether a word with these [ham, spam] counts stays in the vocabulary.
pub(crate) fn kept(counts: [u32; 2]) -> bool {
    counts[0] + counts[1] >= NaiveBayes::MIN_COUNT
}

/// log P(spam) / P(ham) from the number of [ham, spam] training messages.
pub(crate) fn log_prior_ratio(docs: [usize; 2]) -> f64 {
    (docs[1] as f64 / docs[0] as f64).ln()
}

/// The spam score of posterior log-odds `z` over `n` known tokens (see [`NaiveBayes::score`]).
pub(crate) fn squash(z: f64, n: usize) -> f64 {
    sigmoid(z / (n.max(1) as f64).sqrt())
}

/// Laplace smoothing over a vocabulary: the per-class denominators.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Smoothing {
    den: [f64; 2],
}

impl Smoothing {
    /// From the [ham, spam] counts of every kept word.
    pub(crate) fn new(kept_counts: impl Iterator<Item = [u32; 2]>) -> Self {
        let (mut totals, mut v) = ([0f64; 2], 0usize);
        for c in kept_counts {
            totals[0] += c[0] as f64;
            totals[1] += c[1] as f64;
            v += 1;
        }
        Self::from_totals(totals, v)
    }

    /// From the kept words' per-class token totals and their number.
    pub(crate) fn from_totals(totals: [f64; 2], vocab: usize) -> Self {
        let v = vocab as f64;
        Smoothing {
            den: [
                totals[0] + NaiveBayes::ALPHA * v,
                totals[1] + NaiveBayes::ALPHA * v,
            ],
        }
    }

    /// log P(w | spam) - log P(w | ham) of a kept word with these [ham, spam] counts.
    pub(crate) fn llr(&self, c: [u32; 2]) -> f64 {
        let ls = ((c[1] as f64 + NaiveBayes::ALPHA) / self.den[1]).ln();
        let lh = ((c[0] as f64 + NaiveBayes::ALPHA) / self.den[0]).ln();
        ls - lh
    }
}

impl Classifier for NaiveBayes {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        Ok(score_batch(texts, |t| self.score(t)))
    }
}
