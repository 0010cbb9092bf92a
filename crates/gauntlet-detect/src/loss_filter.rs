//! The loss filter: a model trained on mislabelled rows keeps a high loss on many of them (it
//! cannot fit a label that contradicts the input without memorizing it), so the rows whose
//! given label the model finds least likely are the first suspects. It is the natural
//! detector for label flipping, and a weak one for backdoors (a triggered row is fitted: its
//! loss is low).
//!
//! Score: the cross-entropy `−ln softmax(logits)[label]` of each row under its given label.
//! Decision rule: the `⌈1.5 · ε̂ · n⌉` highest-loss rows of the whole set (ε̂ = the expected
//! poisoned share, the same budget as spectral signatures, but over all rows: flipped labels
//! are spread over every class).

use crate::detection::Detection;
use crate::spectral::{removal_budget, REMOVAL_MULTIPLIER};

/// Per-row cross-entropy of `logits` (`n × classes`, row-major) under `labels`.
pub fn cross_entropy(logits: &[f32], classes: usize, labels: &[i64]) -> Vec<f32> {
    logits
        .chunks(classes)
        .zip(labels)
        .map(|(row, &label)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
            let log_p = (row[label as usize] - max) as f64 - sum.ln();
            (-log_p) as f32
        })
        .collect()
}

/// Flags the highest-loss share of `losses` (one per row).
pub fn detect(losses: Vec<f32>, expected_fraction: f64) -> Detection {
    let n = losses.len();
    let budget = removal_budget(expected_fraction, n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| losses[b].total_cmp(&losses[a]));
    let mut flagged = order[..budget].to_vec();
    let threshold = order[..budget].last().map(|&i| losses[i]);
    flagged.sort_unstable();
    Detection {
        flagged,
        scores: losses,
        score: "cross-entropy of the model's prediction under the given label (high = \
                suspicious)"
            .into(),
        rule: format!(
            "the ⌈{REMOVAL_MULTIPLIER} · ε̂ · n⌉ = {budget} highest losses of all {n} rows, ε̂ = \
             {expected_fraction}{}",
            threshold.map_or(String::new(), |t| format!(" (loss ≥ {t:.4})"))
        ),
        classes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_matches_the_closed_form_and_the_filter_takes_the_top() {
        let losses = cross_entropy(&[0.0, 0.0, 2.0, 0.0], 2, &[0, 1]);
        assert!((losses[0] - 2f32.ln()).abs() < 1e-6);
        assert!((losses[1] - (1.0 + (-2f32).exp()).ln() - 2.0).abs() < 1e-5);
        let d = detect(vec![0.1, 5.0, 0.2, 3.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1], 0.1);
        assert_eq!(d.flagged, vec![1, 3], "⌈1.5 · 0.1 · 10⌉ = 2 highest");
    }
}
