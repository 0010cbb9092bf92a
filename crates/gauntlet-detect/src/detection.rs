//! What every detector returns: which inputs it flags, a score per input, and the decision in
//! words, plus per-class notes; and how it compares with the truth when a manifest is given.

use serde::Serialize;

/// One detector's verdict on a set of inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// Indices of the flagged inputs, ascending.
    pub flagged: Vec<usize>,
    /// One score per input, in input order (see `score` for what it measures and which way
    /// is suspicious).
    pub scores: Vec<f32>,
    /// What the score is, e.g. "squared projection on the top singular vector (high =
    /// suspicious)".
    pub score: String,
    /// The decision rule as applied, with its numbers.
    pub rule: String,
    /// Per-class details (class-wise detectors), in class order.
    pub classes: Vec<ClassNote>,
}

/// The seed a class-wise detector uses for `class`: distinct per class, the same every run.
pub fn class_seed(seed: u64, class: i64) -> u64 {
    seed ^ (class as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// What a class-wise detector saw in one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassNote {
    /// The class (the given label).
    pub class: i64,
    /// Inputs with that label.
    pub size: usize,
    /// Inputs of the class flagged.
    pub flagged: usize,
    /// Detector-specific measurements (cluster sizes, silhouette, threshold).
    pub details: serde_json::Value,
}

impl ClassNote {
    /// A class a robust detector left alone: too few rows (or no variation) to estimate its
    /// clean core.
    pub fn too_small_for_a_core(class: i64, size: usize) -> ClassNote {
        ClassNote {
            class,
            size,
            flagged: 0,
            details: serde_json::json!({
                "skipped": "too few rows or no variation to estimate a core"
            }),
        }
    }
}

/// Precision and recall of a set of flags against the truly poisoned indices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Accuracy {
    /// Share of the flagged inputs that are poisoned; `None` when nothing was flagged.
    pub precision: Option<f64>,
    /// Share of the poisoned inputs that were flagged; `None` when nothing is poisoned.
    pub recall: Option<f64>,
    /// Poisoned inputs flagged.
    pub true_positives: usize,
    /// Clean inputs flagged.
    pub false_positives: usize,
    /// Share of the clean inputs flagged (the clean samples a removal would lose).
    pub false_positive_rate: Option<f64>,
}

impl Accuracy {
    /// Compares `flagged` with `poisoned` (both index lists) over `n` inputs.
    pub fn of(flagged: &[usize], poisoned: &[usize], n: usize) -> Accuracy {
        let truth: std::collections::HashSet<usize> = poisoned.iter().copied().collect();
        let true_positives = flagged.iter().filter(|i| truth.contains(i)).count();
        let false_positives = flagged.len() - true_positives;
        let clean = n.saturating_sub(truth.len());
        let share = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        Accuracy {
            precision: share(true_positives, flagged.len()),
            recall: share(true_positives, truth.len()),
            true_positives,
            false_positives,
            false_positive_rate: share(false_positives, clean),
        }
    }
}

/// The indices of each class, classes ascending.
pub fn by_class(labels: &[i64]) -> Vec<(i64, Vec<usize>)> {
    let mut groups: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        groups.entry(l).or_default().push(i);
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_recall_count_the_overlap() {
        let a = Accuracy::of(&[1, 2, 3, 4], &[2, 4, 6], 10);
        assert_eq!(a.precision, Some(0.5));
        assert_eq!(a.recall, Some(2.0 / 3.0));
        assert_eq!((a.true_positives, a.false_positives), (2, 2));
        assert_eq!(a.false_positive_rate, Some(2.0 / 7.0));
        assert_eq!(Accuracy::of(&[], &[1], 3).precision, None);
        assert_eq!(by_class(&[2, 0, 2]), vec![(0, vec![1]), (2, vec![0, 2])]);
    }
}
