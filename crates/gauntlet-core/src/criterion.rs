//! Criteria — what counts as a successful attack — as values, not subclasses.

use serde::{Deserialize, Serialize};

/// When is an input adversarial?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Criterion {
    /// The prediction differs from the true label.
    Untargeted,
    /// The prediction equals the sample's target class (one target per sample).
    Targeted(Vec<i64>),
}

impl Criterion {
    /// Is `prediction` adversarial for sample `index` with true label `label`?
    pub fn is_adversarial(&self, index: usize, label: i64, prediction: i64) -> bool {
        match self {
            Criterion::Untargeted => prediction != label,
            Criterion::Targeted(targets) => prediction == targets[index],
        }
    }

    /// The criterion restricted to the samples at `indices` (in that order).
    pub fn subset(&self, indices: &[usize]) -> Criterion {
        match self {
            Criterion::Untargeted => Criterion::Untargeted,
            Criterion::Targeted(t) => Criterion::Targeted(indices.iter().map(|&i| t[i]).collect()),
        }
    }

    /// Success mask for a batch of predictions.
    pub fn success(&self, labels: &[i64], predictions: &[i64]) -> Vec<bool> {
        labels
            .iter()
            .zip(predictions)
            .enumerate()
            .map(|(i, (&y, &p))| self.is_adversarial(i, y, p))
            .collect()
    }

    /// Per-sample target classes, for targeted criteria.
    pub fn targets(&self) -> Option<Vec<i64>> {
        match self {
            Criterion::Untargeted => None,
            Criterion::Targeted(t) => Some(t.clone()),
        }
    }

    /// True for [`Criterion::Targeted`]: success means reaching a given class, not just leaving
    /// the true one (targeted losses and reports depend on it).
    pub fn is_targeted(&self) -> bool {
        matches!(self, Criterion::Targeted(_))
    }
}
