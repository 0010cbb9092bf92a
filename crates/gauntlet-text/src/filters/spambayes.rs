//! A SpamBayes-style filter: the one Nelson et al. 2008 poisoned. Tokens are counted by
//! *presence* (a word repeated in one message counts once), each token gets Robinson's
//! smoothed spam probability, and the most extreme tokens are combined by Fisher's
//! chi-squared method into a score with ham / unsure / spam cut-offs.
//!
//! Followed (not copied): SpamBayes 1.1's `spambayes/classifier.py` (`Classifier.probability`,
//! `Classifier._getclues`, `Classifier.chi2_spamprob`, `_add_msg` counting `set(wordstream)`),
//! `spambayes/chi2.py` (`chi2Q`) and the `[Classifier]` / `[Categorization]` defaults in
//! `spambayes/Options.py`; Robinson, "A Statistical Approach to the Spam Problem" (Linux
//! Journal, 2003). SpamBayes' own tokenizer is not reproduced: words come from the crate's
//! tokenizer, as for the other built-in filters.

use std::collections::{HashMap, HashSet};

use super::shared::{check_training_set, score_batch};
use crate::classifier::Classifier;
use crate::corpus::{Label, Message};
use crate::error::Result;
use crate::mime::extract_text;
use crate::tokenize::word_tokens;

/// Options.py `unknown_word_prob`: the probability of a word never seen.
pub const UNKNOWN_WORD_PROB: f64 = 0.5;
/// Options.py `unknown_word_strength` (Robinson's s): how many messages' worth of weight the
/// unknown-word prior carries.
pub const UNKNOWN_WORD_STRENGTH: f64 = 0.45;
/// Options.py `minimum_prob_strength`: a token is a clue only if |f(w) − 0.5| ≥ this.
pub const MINIMUM_PROB_STRENGTH: f64 = 0.1;
/// Options.py `max_discriminators`: at most this many (the most extreme) clues are combined.
pub const MAX_DISCRIMINATORS: usize = 150;
/// Options.py `ham_cutoff`: scores below are ham.
pub const HAM_CUTOFF: f64 = 0.20;
/// Options.py `spam_cutoff`: scores at or above are spam; between the cut-offs, unsure.
pub const SPAM_CUTOFF: f64 = 0.90;

/// SpamBayes' three verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Below the ham cut-off.
    Ham,
    /// Between the cut-offs.
    Unsure,
    /// At or above the spam cut-off.
    Spam,
}

impl Verdict {
    /// The verdict for a chi-squared combined score at the default cut-offs.
    pub fn of(score: f64) -> Self {
        if score >= SPAM_CUTOFF {
            Verdict::Spam
        } else if score >= HAM_CUTOFF {
            Verdict::Unsure
        } else {
            Verdict::Ham
        }
    }
}

/// A trained SpamBayes-style filter.
#[derive(Debug, Clone)]
pub struct SpamBayes {
    name: String,
    /// Training messages per class, [ham, spam].
    docs: [usize; 2],
    /// Per word: the number of [ham, spam] training messages containing it.
    counts: HashMap<String, [u32; 2]>,
}

impl SpamBayes {
    /// Train on raw messages (MIME-extracted, then tokenized; each word once per message).
    pub fn train(name: &str, messages: &[Message]) -> Result<Self> {
        check_training_set(name, messages.iter().map(|m| m.label))?;
        let mut counts: HashMap<String, [u32; 2]> = HashMap::new();
        let mut docs = [0usize; 2];
        for m in messages {
            let c = usize::from(m.label.is_spam());
            docs[c] += 1;
            for w in distinct_words(&m.text) {
                counts.entry(w).or_default()[c] += 1;
            }
        }
        Ok(SpamBayes {
            name: name.to_string(),
            docs,
            counts,
        })
    }

    /// Robinson's f(w) of one word (0.5 for a word never seen).
    pub fn word_prob(&self, word: &str) -> f64 {
        self.counts
            .get(word)
            .map_or(UNKNOWN_WORD_PROB, |&c| token_prob(c, self.docs))
    }

    /// The chi-squared combined spam probability of one text.
    pub fn score(&self, text: &str) -> f64 {
        chi2_combine(distinct_words(text).iter().map(|w| self.word_prob(w)))
    }

    /// Classify one text as ham, unsure or spam.
    pub fn verdict(&self, text: &str) -> Verdict {
        Verdict::of(self.score(text))
    }

    /// Classify one text, unsure counted as spam (the crate's two-way label at the ham
    /// cut-off would flag unsure mail; this uses the spam cut-off, as a user's inbox does).
    pub fn label(&self, text: &str) -> Label {
        if self.score(text) >= SPAM_CUTOFF {
            Label::Spam
        } else {
            Label::Ham
        }
    }
}

/// The words of a raw message, each once (SpamBayes counts presence).
fn distinct_words(text: &str) -> HashSet<String> {
    word_tokens(&extract_text(text)).into_iter().collect()
}

// The arithmetic, once: `SpamBayes::train` and retraining on pre-encoded mail
// (`crate::poison::learner`) both use it.

/// Robinson's smoothed probability f(w) = (s·x + n·p(w)) / (s + n) for a word in
/// `counts` = [ham, spam] training messages out of `docs` = [ham, spam] messages, where
/// p(w) = spamratio / (hamratio + spamratio) (each class's share of messages containing w,
/// so unequal class sizes do not bias it), n = the messages containing w, x =
/// [`UNKNOWN_WORD_PROB`], s = [`UNKNOWN_WORD_STRENGTH`]. An empty class counts as one message,
/// as `classifier.py` does.
pub(crate) fn token_prob(counts: [u32; 2], docs: [usize; 2]) -> f64 {
    let n = (counts[0] + counts[1]) as f64;
    if n == 0.0 {
        return UNKNOWN_WORD_PROB;
    }
    let ham_ratio = counts[0] as f64 / docs[0].max(1) as f64;
    let spam_ratio = counts[1] as f64 / docs[1].max(1) as f64;
    let p = spam_ratio / (ham_ratio + spam_ratio);
    let s = UNKNOWN_WORD_STRENGTH;
    (s * UNKNOWN_WORD_PROB + n * p) / (s + n)
}

/// Fisher's chi-squared combining of the distinct tokens' probabilities: keep those with
/// |f − 0.5| ≥ [`MINIMUM_PROB_STRENGTH`], at most [`MAX_DISCRIMINATORS`] of the most extreme;
/// S = 1 − χ²Q(−2 Σ ln(1 − f), 2n) and H = 1 − χ²Q(−2 Σ ln f, 2n) measure how unlikely the
/// clues are as random ham and as random spam evidence, and the score is (S − H + 1) / 2.
/// No clue: 0.5. Logs are summed directly (SpamBayes multiplies and rescales with `frexp`
/// to the same end: no underflow).
pub(crate) fn chi2_combine(probs: impl Iterator<Item = f64>) -> f64 {
    let mut clues: Vec<f64> = probs
        .filter(|p| (p - 0.5).abs() >= MINIMUM_PROB_STRENGTH)
        .collect();
    if clues.is_empty() {
        return 0.5;
    }
    if clues.len() > MAX_DISCRIMINATORS {
        // Most extreme first; ties broken by the probability itself so the pick is
        // deterministic whatever order the tokens came in.
        clues.sort_by(|a, b| {
            (b - 0.5)
                .abs()
                .total_cmp(&(a - 0.5).abs())
                .then(a.total_cmp(b))
        });
        clues.truncate(MAX_DISCRIMINATORS);
    }
    let (mut ln_s, mut ln_h) = (0.0f64, 0.0f64);
    for &p in &clues {
        ln_s += (1.0 - p).ln();
        ln_h += p.ln();
    }
    let v = 2 * clues.len();
    let s = 1.0 - chi2q(-2.0 * ln_s, v);
    let h = 1.0 - chi2q(-2.0 * ln_h, v);
    (s - h + 1.0) / 2.0
}

/// P(χ² with `v` degrees of freedom ≥ `x2`), `v` even: e^(−m) Σ_{i<v/2} m^i / i! with
/// m = x2 / 2 (capped at 1 against rounding).
pub(crate) fn chi2q(x2: f64, v: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

impl Classifier for SpamBayes {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        Ok(score_batch(texts, |t| self.score(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2q_matches_hand_values() {
        // v = 2: Q = e^(−x/2). v = 4: Q = e^(−m)(1 + m), m = x/2.
        assert!((chi2q(2.0, 2) - (-1.0f64).exp()).abs() < 1e-12);
        assert!((chi2q(6.0, 4) - 4.0 * (-3.0f64).exp()).abs() < 1e-12);
        assert_eq!(chi2q(0.0, 10), 1.0);
    }

    #[test]
    fn combining_matches_hand_values() {
        // One clue f = 0.9: S = 1 − Q(−2 ln 0.1, 2) = 1 − 0.1 = 0.9,
        // H = 1 − Q(−2 ln 0.9, 2) = 0.1, score = (0.9 − 0.1 + 1) / 2 = 0.9.
        assert!((chi2_combine([0.9].into_iter()) - 0.9).abs() < 1e-12);
        // Two clues 0.99 and 0.2: ln S = ln 0.01 + ln 0.8, ln H = ln 0.99 + ln 0.2;
        // 1 − Q(x, 4) = 1 − e^(−m)(1 + m) with m = −ln(product).
        let q4 = |prod: f64| {
            let m = -prod.ln();
            (-m).exp() * (1.0 + m)
        };
        let s = 1.0 - q4(0.01 * 0.8);
        let h = 1.0 - q4(0.99 * 0.2);
        let want = (s - h + 1.0) / 2.0;
        assert!((chi2_combine([0.99, 0.2].into_iter()) - want).abs() < 1e-12);
        // Weak tokens (|f − 0.5| < 0.1) are no clues at all: 0.5.
        assert_eq!(chi2_combine([0.45, 0.55, 0.5].into_iter()), 0.5);
        // Symmetry: mirrored evidence mirrors the score.
        let a = chi2_combine([0.95, 0.7, 0.3].into_iter());
        let b = chi2_combine([0.05, 0.3, 0.7].into_iter());
        assert!((a + b - 1.0).abs() < 1e-12);
    }

    #[test]
    fn only_the_most_extreme_discriminators_count() {
        // 150 strong spam clues and 200 mild ham clues: the mild ones are cut.
        let mut probs = vec![0.99; MAX_DISCRIMINATORS];
        probs.extend(std::iter::repeat_n(0.35, 200));
        let all_spam = chi2_combine(std::iter::repeat_n(0.99, MAX_DISCRIMINATORS));
        assert_eq!(chi2_combine(probs.into_iter()), all_spam);
    }

    #[test]
    fn robinson_probability() {
        // Seen in 1 of 10 spam and none of 10 ham: p = 1, n = 1 → (0.45·0.5 + 1) / 1.45.
        let f = token_prob([0, 1], [10, 10]);
        assert!((f - (0.225 + 1.0) / 1.45).abs() < 1e-12);
        assert!(f > 0.5);
        // Class sizes are normalized: 1 of 10 ham vs 10 of 100 spam is neutral.
        assert!((token_prob([1, 10], [10, 100]) - 0.5).abs() < 1e-12);
        assert_eq!(token_prob([0, 0], [10, 10]), UNKNOWN_WORD_PROB);
    }

    #[test]
    fn verdicts_use_the_default_cutoffs() {
        assert_eq!(Verdict::of(0.1), Verdict::Ham);
        assert_eq!(Verdict::of(0.2), Verdict::Unsure);
        assert_eq!(Verdict::of(0.899), Verdict::Unsure);
        assert_eq!(Verdict::of(0.9), Verdict::Spam);
    }
}
