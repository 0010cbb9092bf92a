//! The one interface every target implements ([`Classifier`]), the
//! query-counting [`Oracle`] that attacks see, and held-out evaluation.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use crate::corpus::{Label, Message};
use crate::error::{Error, Result};

/// A spam filter: a batch of texts in, one spam score in [0, 1] per text out
/// (>= 0.5 means spam). Filters that only give labels answer 0.0 or 1.0.
pub trait Classifier {
    /// Short human-readable name for reports.
    fn name(&self) -> String;
    /// Score a batch. An `Err` means the whole batch failed.
    fn scores(&self, texts: &[String]) -> Result<Vec<f64>>;
}

impl<T: Classifier + ?Sized> Classifier for &T {
    fn name(&self) -> String {
        (**self).name()
    }
    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        (**self).scores(texts)
    }
}

impl<T: Classifier + ?Sized> Classifier for Box<T> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        (**self).scores(texts)
    }
}

/// What an attack may see of the target: counts every text sent, enforces an
/// optional query limit, and in decision-only mode hides scores (answers 0/1).
pub struct Oracle<'a> {
    target: &'a dyn Classifier,
    decision_only: bool,
    limit: Option<u64>,
    queries: Cell<u64>,
}

impl<'a> Oracle<'a> {
    /// Wrap a target. `limit` caps the number of texts that may be scored.
    pub fn new(target: &'a dyn Classifier, decision_only: bool, limit: Option<u64>) -> Self {
        Oracle {
            target,
            decision_only,
            limit,
            queries: Cell::new(0),
        }
    }

    /// Scores (or 0/1 labels in decision-only mode) for a batch; each text counts
    /// as one query.
    pub fn query(&self, texts: &[String]) -> Result<Vec<f64>> {
        let used = self.queries.get() + texts.len() as u64;
        if let Some(limit) = self.limit {
            if used > limit {
                return Err(Error::QueryLimit { limit });
            }
        }
        self.queries.set(used);
        let scores = self.target.scores(texts)?;
        if scores.len() != texts.len() {
            return Err(Error::BatchMismatch {
                name: self.target.name(),
                expected: texts.len(),
                got: scores.len(),
            });
        }
        Ok(if self.decision_only {
            scores
                .into_iter()
                .map(|s| if s >= 0.5 { 1.0 } else { 0.0 })
                .collect()
        } else {
            scores
        })
    }

    /// Query a single text.
    pub fn query_one(&self, text: &str) -> Result<f64> {
        Ok(self.query(&[text.to_string()])?[0])
    }

    /// Texts scored so far.
    pub fn queries(&self) -> u64 {
        self.queries.get()
    }

    /// Queries still allowed (`u64::MAX` without a limit).
    pub fn remaining(&self) -> u64 {
        self.limit
            .map_or(u64::MAX, |l| l.saturating_sub(self.queries.get()))
    }

    /// Whether scores are hidden.
    pub fn decision_only(&self) -> bool {
        self.decision_only
    }
}

/// Held-out quality of a filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterMetrics {
    /// Filter name.
    pub filter: String,
    /// Messages scored.
    pub n: usize,
    /// Spam flagged as spam.
    pub tp: usize,
    /// Ham flagged as spam.
    pub fp: usize,
    /// Ham passed as ham.
    pub tn: usize,
    /// Spam passed as ham.
    pub fn_: usize,
    /// (tp + tn) / n.
    pub accuracy: f64,
    /// tp / (tp + fp).
    pub precision: f64,
    /// tp / (tp + fn).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Messages the filter failed on (id, error), excluded from the counts.
    pub failures: Vec<(String, String)>,
}

impl FilterMetrics {
    /// Metrics from a confusion matrix.
    pub fn from_counts(filter: String, tp: usize, fp: usize, tn: usize, fn_: usize) -> Self {
        let n = tp + fp + tn + fn_;
        let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = div(tp, tp + fp);
        let recall = div(tp, tp + fn_);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        FilterMetrics {
            filter,
            n,
            tp,
            fp,
            tn,
            fn_,
            accuracy: div(tp + tn, n),
            precision,
            recall,
            f1,
            failures: Vec::new(),
        }
    }
}

/// Score `messages` in batches and compare with their labels. A failing batch
/// is retried message by message so one bad message does not sink the rest.
/// Returns the metrics and the per-message scores (`None` where it failed).
pub fn evaluate(
    clf: &dyn Classifier,
    messages: &[Message],
    batch: usize,
) -> (FilterMetrics, Vec<Option<f64>>) {
    let mut scores: Vec<Option<f64>> = Vec::with_capacity(messages.len());
    let mut failures = Vec::new();
    for chunk in messages.chunks(batch.max(1)) {
        let texts: Vec<String> = chunk.iter().map(|m| m.text.clone()).collect();
        match clf.scores(&texts) {
            Ok(s) if s.len() == texts.len() => scores.extend(s.into_iter().map(Some)),
            _ => {
                for (m, t) in chunk.iter().zip(texts) {
                    match clf.scores(&[t]) {
                        Ok(s) if s.len() == 1 => scores.push(Some(s[0])),
                        Ok(s) => {
                            scores.push(None);
                            failures
                                .push((m.id.clone(), format!("{} results for 1 text", s.len())));
                        }
                        Err(e) => {
                            scores.push(None);
                            failures.push((m.id.clone(), e.to_string()));
                        }
                    }
                }
            }
        }
    }
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (m, s) in messages.iter().zip(&scores) {
        let Some(s) = s else { continue };
        match (m.label, Label::from_score(*s)) {
            (Label::Spam, Label::Spam) => tp += 1,
            (Label::Ham, Label::Spam) => fp += 1,
            (Label::Ham, Label::Ham) => tn += 1,
            (Label::Spam, Label::Ham) => fn_ += 1,
        }
    }
    let mut metrics = FilterMetrics::from_counts(clf.name(), tp, fp, tn, fn_);
    metrics.failures = failures;
    (metrics, scores)
}
