//! Retraining the built-in filters on pre-encoded mail. A poisoning study refits a filter
//! hundreds of times on the full training set and tens of thousands of times on RONI's small
//! samples, so each message is tokenized (Naive Bayes) or featurized (logistic regression)
//! once, and the fits share the filters' own arithmetic (`filters::naive_bayes`'s smoothing,
//! `filters::spambayes`' token probability and chi-squared combining, `filters::logistic`'s
//! SGD loop): a fit here scores exactly as the filter trained by `NaiveBayes::train` /
//! `SpamBayes::train` / `LogisticRegression::train` on the same messages.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::filters::logistic::{featurize, linear_score, sgd, ADAGRAD_START};
use crate::filters::naive_bayes::{kept, log_prior_ratio, squash, Smoothing};
use crate::filters::spambayes::{chi2_combine, token_prob, HAM_CUTOFF, SPAM_CUTOFF};
use crate::filters::LogisticOptions;
use crate::mime::extract_text;
use crate::tokenize::word_tokens;

/// Which built-in filter is poisoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterKind {
    /// `filters::NaiveBayes`.
    Nb,
    /// `filters::LogisticRegression` with default options.
    Lr,
    /// `filters::SpamBayes` (token presence, chi-squared combining, an unsure band).
    #[serde(rename = "spambayes")]
    SpamBayes,
}

impl FilterKind {
    /// Parses `nb`, `lr` or `spambayes`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim() {
            "nb" => Ok(FilterKind::Nb),
            "lr" => Ok(FilterKind::Lr),
            "spambayes" => Ok(FilterKind::SpamBayes),
            other => Err(Error::invalid(
                "filter",
                format!(
                    "unknown filter {other:?}; poisoning retrains a built-in filter: nb, lr or spambayes"
                ),
            )),
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FilterKind::Nb => "nb",
            FilterKind::Lr => "lr",
            FilterKind::SpamBayes => "spambayes",
        }
    }

    /// The (ham, spam) cut-offs: a score at or above the ham cut-off is not called ham, at or
    /// above the spam cut-off it is called spam. SpamBayes has an unsure band between them
    /// (0.20 / 0.90); the other filters one cut-off, 0.5.
    pub fn cutoffs(self) -> (f64, f64) {
        match self {
            FilterKind::SpamBayes => (HAM_CUTOFF, SPAM_CUTOFF),
            FilterKind::Nb | FilterKind::Lr => (0.5, 0.5),
        }
    }
}

/// A message as the filter sees it: sparse (feature, value) pairs sorted by feature — for
/// Naive Bayes and SpamBayes (token id, occurrences; SpamBayes reads only presence), for
/// logistic regression (hash bucket, weight).
pub type Features = Arc<[(u32, f32)]>;

/// One training or quiz message: its features and its label as the filter is told it.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The encoded message.
    pub x: &'a [(u32, f32)],
    /// Labelled spam.
    pub spam: bool,
}

/// Encodes messages and fits one kind of built-in filter on them.
#[derive(Debug)]
pub struct Learner {
    kind: FilterKind,
    lr: LogisticOptions,
    /// Naive Bayes token ids.
    vocab: HashMap<String, u32>,
}

impl Learner {
    /// A learner for `kind` (logistic regression with `LogisticOptions::default()`, as
    /// `gauntlet text-audit` trains it).
    pub fn new(kind: FilterKind) -> Self {
        Learner {
            kind,
            lr: LogisticOptions::default(),
            vocab: HashMap::new(),
        }
    }

    /// The filter kind.
    pub fn kind(&self) -> FilterKind {
        self.kind
    }

    /// Encodes texts (tokenized or featurized on all cores; token ids assigned in order, so
    /// the encoding is deterministic).
    pub fn encode(&mut self, texts: &[&str]) -> Vec<Features> {
        match self.kind {
            FilterKind::Lr => texts
                .par_iter()
                .map(|t| Features::from(featurize(t, &self.lr)))
                .collect(),
            FilterKind::Nb | FilterKind::SpamBayes => {
                let tokens: Vec<Vec<String>> = texts
                    .par_iter()
                    .map(|t| word_tokens(&extract_text(t)))
                    .collect();
                tokens
                    .into_iter()
                    .map(|toks| {
                        let mut ids: Vec<u32> = toks
                            .into_iter()
                            .map(|t| {
                                let next = self.vocab.len() as u32;
                                *self.vocab.entry(t).or_insert(next)
                            })
                            .collect();
                        ids.sort_unstable();
                        let mut x: Vec<(u32, f32)> = Vec::new();
                        for id in ids {
                            match x.last_mut() {
                                Some((j, c)) if *j == id => *c += 1.0,
                                _ => x.push((id, 1.0)),
                            }
                        }
                        Features::from(x)
                    })
                    .collect()
            }
        }
    }

    fn dim(&self) -> usize {
        match self.kind {
            FilterKind::Nb | FilterKind::SpamBayes => self.vocab.len(),
            FilterKind::Lr => 1usize << self.lr.hash_bits,
        }
    }

    /// Buffers for [`Learner::correct_on`], one per thread.
    pub fn scratch(&self) -> Scratch {
        match self.kind {
            FilterKind::Nb => Scratch::Nb(NbCounts::new(self.dim())),
            FilterKind::SpamBayes => Scratch::SpamBayes(PresenceCounts::new(self.dim())),
            FilterKind::Lr => Scratch::Lr(LrBuffers::new(self.dim())),
        }
    }

    /// Fits the filter on `rows` (both classes needed).
    pub fn fit(&self, rows: &[Row]) -> Result<Fitted> {
        let spam = rows.iter().filter(|r| r.spam).count();
        if spam == 0 || spam == rows.len() {
            return Err(Error::Training {
                model: self.kind.name().to_string(),
                reason: format!(
                    "need both classes, got {} ham and {spam} spam messages",
                    rows.len() - spam
                ),
            });
        }
        Ok(match self.kind {
            FilterKind::Nb => {
                let mut counts = NbCounts::new(self.dim());
                counts.fit(rows);
                Fitted::Nb(counts)
            }
            FilterKind::SpamBayes => {
                let mut counts = PresenceCounts::new(self.dim());
                counts.fit(rows);
                Fitted::SpamBayes(counts)
            }
            FilterKind::Lr => {
                let mut buffers = LrBuffers::new(self.dim());
                let bias = buffers.fit(rows, &self.lr);
                Fitted::Lr {
                    weights: buffers.w,
                    bias,
                }
            }
        })
    }

    /// Fits on `train` in `scratch` and counts the `quiz` messages classified correctly at
    /// the filter's cut-offs (see [`FilterKind::cutoffs`]: for SpamBayes an unsure verdict is
    /// not correct); leaves `scratch` clean. `train` must hold both classes.
    pub fn correct_on(&self, scratch: &mut Scratch, train: &[Row], quiz: &[Row]) -> usize {
        let cutoffs = self.kind.cutoffs();
        match scratch {
            Scratch::Nb(counts) => {
                counts.fit(train);
                let n = count_correct(quiz, cutoffs, |x| counts.score(x));
                counts.reset();
                n
            }
            Scratch::SpamBayes(counts) => {
                counts.fit(train);
                let n = count_correct(quiz, cutoffs, |x| counts.score(x));
                counts.reset();
                n
            }
            Scratch::Lr(buffers) => {
                let bias = buffers.fit(train, &self.lr);
                let n = count_correct(quiz, cutoffs, |x| linear_score(&buffers.w, bias, x));
                buffers.reset(train);
                n
            }
        }
    }
}

/// Quiz messages whose verdict matches their label: ham below the ham cut-off, spam at or
/// above the spam cut-off.
fn count_correct(
    quiz: &[Row],
    (ham_cutoff, spam_cutoff): (f64, f64),
    score: impl Fn(&[(u32, f32)]) -> f64,
) -> usize {
    quiz.iter()
        .filter(|q| {
            let s = score(q.x);
            if q.spam {
                s >= spam_cutoff
            } else {
                s < ham_cutoff
            }
        })
        .count()
}

/// A fitted filter.
#[derive(Debug, Clone)]
pub enum Fitted {
    /// Naive Bayes: its counts (log-likelihood ratios are computed as tokens are scored).
    Nb(NbCounts),
    /// SpamBayes: its per-token message counts.
    SpamBayes(PresenceCounts),
    /// Logistic regression: its weights.
    Lr {
        /// One weight per hash bucket.
        weights: Vec<f32>,
        /// The bias.
        bias: f64,
    },
}

impl Fitted {
    /// Spam score of an encoded message (≥ 0.5 is spam at the default threshold).
    pub fn score(&self, x: &[(u32, f32)]) -> f64 {
        match self {
            Fitted::Nb(counts) => counts.score(x),
            Fitted::SpamBayes(counts) => counts.score(x),
            Fitted::Lr { weights, bias } => linear_score(weights, *bias, x),
        }
    }

    /// Scores of many messages, on all cores.
    pub fn scores(&self, xs: &[&[(u32, f32)]]) -> Vec<f64> {
        xs.par_iter().map(|x| self.score(x)).collect()
    }
}

/// Reusable buffers for small fits.
#[derive(Debug)]
pub enum Scratch {
    /// Naive Bayes counts.
    Nb(NbCounts),
    /// SpamBayes counts.
    SpamBayes(PresenceCounts),
    /// Logistic regression weights.
    Lr(LrBuffers),
}

/// Per-class counts per token id, dense, with the list of ids touched so that a refit on a
/// few messages costs what those messages hold, not the vocabulary.
#[derive(Debug, Clone)]
struct ClassCounts {
    /// Training messages, [ham, spam].
    docs: [usize; 2],
    /// Per token id, [ham, spam]: occurrences, or messages containing it (`presence`).
    counts: Vec<[u32; 2]>,
    touched: Vec<u32>,
}

impl ClassCounts {
    fn new(dim: usize) -> Self {
        ClassCounts {
            docs: [0; 2],
            counts: vec![[0; 2]; dim],
            touched: Vec::new(),
        }
    }

    /// Adds `rows`: each token's occurrences, or 1 per message with `presence` (each id
    /// appears once in a row, encoded sorted and merged).
    fn add(&mut self, rows: &[Row], presence: bool) {
        for r in rows {
            let c = usize::from(r.spam);
            self.docs[c] += 1;
            for &(id, n) in r.x {
                let e = &mut self.counts[id as usize];
                if *e == [0, 0] {
                    self.touched.push(id);
                }
                e[c] += if presence { 1 } else { n as u32 };
            }
        }
    }

    /// The counts of a token id ([0, 0] if never seen).
    fn of(&self, id: u32) -> [u32; 2] {
        self.counts.get(id as usize).copied().unwrap_or([0, 0])
    }

    fn reset(&mut self) {
        for &id in &self.touched {
            self.counts[id as usize] = [0, 0];
        }
        self.touched.clear();
        self.docs = [0; 2];
    }
}

/// Naive Bayes token occurrences per class, with the smoothing and prior they imply.
#[derive(Debug, Clone)]
pub struct NbCounts {
    counts: ClassCounts,
    prior: f64,
    smoothing: Smoothing,
}

impl NbCounts {
    fn new(dim: usize) -> Self {
        NbCounts {
            counts: ClassCounts::new(dim),
            prior: 0.0,
            smoothing: Smoothing::from_totals([0.0; 2], 0),
        }
    }

    fn fit(&mut self, rows: &[Row]) {
        self.counts.add(rows, false);
        let c = &self.counts;
        self.smoothing = Smoothing::new(
            c.touched
                .iter()
                .map(|&id| c.counts[id as usize])
                .filter(|&c| kept(c)),
        );
        self.prior = log_prior_ratio(c.docs);
    }

    fn score(&self, x: &[(u32, f32)]) -> f64 {
        let (mut z, mut n) = (self.prior, 0usize);
        for &(id, k) in x {
            let c = self.counts.of(id);
            if kept(c) {
                z += k as f64 * self.smoothing.llr(c);
                n += k as usize;
            }
        }
        squash(z, n)
    }

    fn reset(&mut self) {
        self.counts.reset();
    }
}

/// SpamBayes' per-token counts of [ham, spam] training *messages* containing the token.
#[derive(Debug, Clone)]
pub struct PresenceCounts(ClassCounts);

impl PresenceCounts {
    fn new(dim: usize) -> Self {
        PresenceCounts(ClassCounts::new(dim))
    }

    fn fit(&mut self, rows: &[Row]) {
        self.0.add(rows, true);
    }

    fn score(&self, x: &[(u32, f32)]) -> f64 {
        chi2_combine(
            x.iter()
                .map(|&(id, _)| token_prob(self.0.of(id), self.0.docs)),
        )
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

/// Logistic regression weights and AdaGrad sums, reset only where a fit touched them.
#[derive(Debug)]
pub struct LrBuffers {
    w: Vec<f32>,
    g2: Vec<f32>,
}

impl LrBuffers {
    fn new(dim: usize) -> Self {
        LrBuffers {
            w: vec![0.0; dim],
            g2: vec![ADAGRAD_START; dim],
        }
    }

    fn fit(&mut self, rows: &[Row], opts: &LogisticOptions) -> f64 {
        let rows: Vec<(&[(u32, f32)], f64)> = rows
            .iter()
            .map(|r| (r.x, if r.spam { 1.0 } else { 0.0 }))
            .collect();
        sgd(&rows, opts, &mut self.w, &mut self.g2)
    }

    fn reset(&mut self, rows: &[Row]) {
        for r in rows {
            for &(i, _) in r.x {
                self.w[i as usize] = 0.0;
                self.g2[i as usize] = ADAGRAD_START;
            }
        }
    }
}
