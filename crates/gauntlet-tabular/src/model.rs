//! What the attacks see of a model on table rows: scores for a batch (the predicted class is
//! the highest), and — where the model offers them — input gradients (networks run by the
//! ONNX interpreter) or its split thresholds (tree ensembles).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;

/// What an attack pushes up: the margin of the class it wants over the best other class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Any class but the row's own (`label`).
    Untargeted {
        /// The row's class.
        label: usize,
    },
    /// This class.
    Targeted {
        /// The class the attacker wants.
        target: usize,
    },
}

impl Goal {
    /// The margin by which the goal is reached (> 0: reached), from one row's scores:
    /// untargeted, best other minus own; targeted, target minus best other.
    pub fn margin(&self, scores: &[f32]) -> f32 {
        let best_except = |skip: usize| {
            scores
                .iter()
                .enumerate()
                .filter(|&(c, _)| c != skip)
                .map(|(_, &s)| s)
                .fold(f32::NEG_INFINITY, f32::max)
        };
        match *self {
            Goal::Untargeted { label } => best_except(label) - scores[label],
            Goal::Targeted { target } => scores[target] - best_except(target),
        }
    }

    /// Whether a predicted class reaches the goal.
    pub fn reached_by(&self, predicted: usize) -> bool {
        match *self {
            Goal::Untargeted { label } => predicted != label,
            Goal::Targeted { target } => predicted == target,
        }
    }
}

/// The predicted class of one row's scores (the first of equal highest scores, as argmax
/// implementations do).
pub fn predicted(scores: &[f32]) -> usize {
    let mut best = 0;
    for (c, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = c;
        }
    }
    best
}

/// A classifier of table rows.
pub trait TabularModel: Send + Sync {
    /// Columns per row.
    fn width(&self) -> usize;
    /// Number of classes (scores per row).
    fn classes(&self) -> usize;
    /// Scores of a batch of rows (`rows.len() = n × width`), row-major `n × classes`:
    /// probabilities or logits; the predicted class is the highest.
    fn scores(&self, rows: &[f32]) -> Result<Vec<f32>>;
    /// The gradient of each row's goal margin with respect to its input, with the scores;
    /// `None` when the model has no gradients (then gradient attacks do not apply).
    fn margin_gradient(&self, _rows: &[f32], _goals: &[Goal]) -> Option<Result<Gradient>> {
        None
    }
    /// Per column, the sorted distinct thresholds at which the model's output can change
    /// (tree ensembles); `None` for models without such structure.
    fn split_thresholds(&self) -> Option<Vec<Vec<f32>>> {
        None
    }
    /// What the model is, for reports ("tree ensemble: 100 trees", "ONNX network").
    fn describe(&self) -> String;
}

/// Scores and input gradients of a batch.
#[derive(Debug, Clone)]
pub struct Gradient {
    /// Scores, `n × classes`.
    pub scores: Vec<f32>,
    /// ∂ margin / ∂ input, `n × width`.
    pub gradient: Vec<f32>,
}

/// A model that counts the rows it scores (queries) and the gradient rows it computes.
pub struct Counted<'a> {
    inner: &'a dyn TabularModel,
    queries: AtomicU64,
    gradients: AtomicU64,
}

impl<'a> Counted<'a> {
    /// Counts `inner`'s use from zero.
    pub fn new(inner: &'a dyn TabularModel) -> Self {
        Counted {
            inner,
            queries: AtomicU64::new(0),
            gradients: AtomicU64::new(0),
        }
    }

    /// Rows scored so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Gradient rows computed so far.
    pub fn gradients(&self) -> u64 {
        self.gradients.load(Ordering::Relaxed)
    }
}

impl TabularModel for Counted<'_> {
    fn width(&self) -> usize {
        self.inner.width()
    }
    fn classes(&self) -> usize {
        self.inner.classes()
    }
    fn scores(&self, rows: &[f32]) -> Result<Vec<f32>> {
        self.queries
            .fetch_add((rows.len() / self.width().max(1)) as u64, Ordering::Relaxed);
        self.inner.scores(rows)
    }
    fn margin_gradient(&self, rows: &[f32], goals: &[Goal]) -> Option<Result<Gradient>> {
        self.gradients
            .fetch_add(goals.len() as u64, Ordering::Relaxed);
        self.inner.margin_gradient(rows, goals)
    }
    fn split_thresholds(&self) -> Option<Vec<Vec<f32>>> {
        self.inner.split_thresholds()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_and_predictions() {
        let scores = [0.1, 0.7, 0.2];
        assert_eq!(predicted(&scores), 1);
        assert_eq!(predicted(&[0.5, 0.5]), 0);
        let untargeted = Goal::Untargeted { label: 1 };
        assert!((untargeted.margin(&scores) - (0.2 - 0.7)).abs() < 1e-7);
        assert!(!untargeted.reached_by(1) && untargeted.reached_by(2));
        let targeted = Goal::Targeted { target: 2 };
        assert!((targeted.margin(&scores) - (0.2 - 0.7)).abs() < 1e-7);
        assert!(targeted.reached_by(2) && !targeted.reached_by(0));
    }
}
