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
        counts.retain(|_, c| c[0] + c[1] >= Self::MIN_COUNT);
        let totals = counts.values().fold([0f64; 2], |acc, c| {
            [acc[0] + c[0] as f64, acc[1] + c[1] as f64]
        });
        let v = counts.len() as f64;
        let (den_h, den_s) = (totals[0] + Self::ALPHA * v, totals[1] + Self::ALPHA * v);
        let word_llr = counts
            .into_iter()
            .map(|(w, c)| {
                let ls = ((c[1] as f64 + Self::ALPHA) / den_s).ln();
                let lh = ((c[0] as f64 + Self::ALPHA) / den_h).ln();
                (w, ls - lh)
            })
            .collect();
        Ok(NaiveBayes {
            name: name.to_string(),
            log_prior_ratio: (docs[1] as f64 / docs[0] as f64).ln(),
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
        sigmoid(z / (n.max(1) as f64).sqrt())
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
