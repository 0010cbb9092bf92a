//! Retraining the built-in filters on pre-encoded mail. A poisoning study refits a filter
//! hundreds of times on the full training set and tens of thousands of times on RONI's small
//! samples, so each message is tokenized (Naive Bayes) or featurized (logistic regression)
//! once, and the fits share the filters' own arithmetic (`filters::naive_bayes`'s smoothing,
//! `filters::logistic`'s SGD loop): a fit here scores exactly as the filter trained by
//! `NaiveBayes::train` / `LogisticRegression::train` on the same messages.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::filters::logistic::{featurize, linear_score, sgd, ADAGRAD_START};
use crate::filters::naive_bayes::{kept, log_prior_ratio, squash, Smoothing};
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
}

impl FilterKind {
    /// Parses `nb` or `lr`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim() {
            "nb" => Ok(FilterKind::Nb),
            "lr" => Ok(FilterKind::Lr),
            other => Err(Error::invalid(
                "filter",
                format!("unknown filter {other:?}; poisoning retrains a built-in filter: nb or lr"),
            )),
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FilterKind::Nb => "nb",
            FilterKind::Lr => "lr",
        }
    }
}

/// A message as the filter sees it: sparse (feature, value) pairs sorted by feature — for
/// Naive Bayes (token id, occurrences), for logistic regression (hash bucket, weight).
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
            FilterKind::Nb => {
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
            FilterKind::Nb => self.vocab.len(),
            FilterKind::Lr => 1usize << self.lr.hash_bits,
        }
    }

    /// Buffers for [`Learner::correct_on`], one per thread.
    pub fn scratch(&self) -> Scratch {
        match self.kind {
            FilterKind::Nb => Scratch::Nb(NbCounts::new(self.dim())),
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
    /// the 0.5 threshold; leaves `scratch` clean. `train` must hold both classes.
    pub fn correct_on(&self, scratch: &mut Scratch, train: &[Row], quiz: &[Row]) -> usize {
        match scratch {
            Scratch::Nb(counts) => {
                counts.fit(train);
                let n = count_correct(quiz, |x| counts.score(x));
                counts.reset();
                n
            }
            Scratch::Lr(buffers) => {
                let bias = buffers.fit(train, &self.lr);
                let n = count_correct(quiz, |x| linear_score(&buffers.w, bias, x));
                buffers.reset(train);
                n
            }
        }
    }
}

/// Quiz messages whose verdict at the 0.5 threshold matches their label.
fn count_correct(quiz: &[Row], score: impl Fn(&[(u32, f32)]) -> f64) -> usize {
    quiz.iter()
        .filter(|q| (score(q.x) >= 0.5) == q.spam)
        .count()
}

/// A fitted filter.
#[derive(Debug, Clone)]
pub enum Fitted {
    /// Naive Bayes: its counts (log-likelihood ratios are computed as tokens are scored).
    Nb(NbCounts),
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
    /// Logistic regression weights.
    Lr(LrBuffers),
}

/// Naive Bayes class counts per token id, dense, with the list of ids touched so that a
/// refit on a few messages costs what those messages hold, not the vocabulary.
#[derive(Debug, Clone)]
pub struct NbCounts {
    docs: [usize; 2],
    counts: Vec<[u32; 2]>,
    touched: Vec<u32>,
    prior: f64,
    smoothing: Smoothing,
}

impl NbCounts {
    fn new(dim: usize) -> Self {
        NbCounts {
            docs: [0; 2],
            counts: vec![[0; 2]; dim],
            touched: Vec::new(),
            prior: 0.0,
            smoothing: Smoothing::from_totals([0.0; 2], 0),
        }
    }

    fn fit(&mut self, rows: &[Row]) {
        for r in rows {
            let c = usize::from(r.spam);
            self.docs[c] += 1;
            for &(id, n) in r.x {
                let e = &mut self.counts[id as usize];
                if *e == [0, 0] {
                    self.touched.push(id);
                }
                e[c] += n as u32;
            }
        }
        self.smoothing = Smoothing::new(
            self.touched
                .iter()
                .map(|&id| self.counts[id as usize])
                .filter(|&c| kept(c)),
        );
        self.prior = log_prior_ratio(self.docs);
    }

    fn score(&self, x: &[(u32, f32)]) -> f64 {
        let (mut z, mut n) = (self.prior, 0usize);
        for &(id, k) in x {
            let Some(&c) = self.counts.get(id as usize) else {
                continue;
            };
            if kept(c) {
                z += k as f64 * self.smoothing.llr(c);
                n += k as usize;
            }
        }
        squash(z, n)
    }

    fn reset(&mut self) {
        for &id in &self.touched {
            self.counts[id as usize] = [0, 0];
        }
        self.touched.clear();
        self.docs = [0; 2];
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
