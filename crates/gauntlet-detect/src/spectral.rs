//! Spectral signatures (Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS
//! 2018). Within one class, the representations of poisoned inputs differ from the clean ones
//! along one direction, strongly enough that it becomes the top singular direction of the
//! class's centred representations. Per class: centre the activations, find the top right
//! singular vector `v` (seeded power iteration, [`crate::linalg`]), score each input by its
//! squared projection `((r − mean) · v)²`.
//!
//! Decision rule (the paper's Algorithm 1): in every class, remove the `⌈1.5 · ε̂ · n_class⌉`
//! highest-scoring inputs, where `ε̂` is an upper bound on the poisoned share *of a class*
//! (the paper's ε; its experiments poison 5 % and 10 % of one class and remove 1.5ε). Note
//! that an all-to-one attack poisoning a fraction `f` of the whole set puts a share of about
//! `f / (f + 1/classes)` of the target class's rows in poison (10 % of MNIST: ≈ 50 %).

use serde_json::json;

use crate::detection::{by_class, ClassNote, Detection};
use crate::linalg::{top_right_singular_vectors, Matrix};

/// The paper's multiplier on ε: 1.5ε of each class is removed.
pub const REMOVAL_MULTIPLIER: f64 = 1.5;

/// `⌈1.5 · ε̂ · n⌉`, at most `n`: how many of `n` inputs the paper's rule removes. (The
/// product is rounded first, so that 1.5 · 0.05 · 1000 is 75, not 76.)
pub fn removal_budget(expected_fraction: f64, n: usize) -> usize {
    let product = REMOVAL_MULTIPLIER * expected_fraction * n as f64;
    ((product * 1e9).round() / 1e9).ceil().min(n as f64) as usize
}

/// Spectral-signature scores and flags for `activations` (one row per input) labelled
/// `labels`, with `expected_fraction` the bound ε̂ on a class's poisoned share.
pub fn detect(
    activations: &Matrix,
    labels: &[i64],
    expected_fraction: f64,
    seed: u64,
) -> Detection {
    let mut scores = vec![0f32; labels.len()];
    let mut flagged = Vec::new();
    let mut classes = Vec::new();
    for (class, rows) in by_class(labels) {
        let x = activations.select_rows(&rows).centred();
        let v = top_right_singular_vectors(&x, 1, seed ^ class as u64);
        let class_scores: Vec<f64> = match v.first() {
            Some(v) => x.times(v).into_iter().map(|p| p * p).collect(),
            None => vec![0.0; rows.len()],
        };
        for (&i, s) in rows.iter().zip(&class_scores) {
            scores[i] = *s as f32;
        }
        let budget = removal_budget(expected_fraction, rows.len());
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| class_scores[b].total_cmp(&class_scores[a]));
        flagged.extend(order[..budget].iter().map(|&k| rows[k]));
        let threshold = order[..budget].last().map(|&k| class_scores[k]);
        classes.push(ClassNote {
            class,
            size: rows.len(),
            flagged: budget,
            details: json!({
                "top_singular_value": v.first().map(|v| crate::linalg::norm(&x.times(v))),
                "lowest_flagged_score": threshold,
            }),
        });
    }
    flagged.sort_unstable();
    Detection {
        flagged,
        scores,
        score: "squared projection of the centred activation on its class's top singular \
                vector (high = suspicious)"
            .into(),
        rule: format!(
            "per class, the ⌈{REMOVAL_MULTIPLIER} · ε̂ · n_class⌉ highest scores, ε̂ = \
             {expected_fraction} (Tran et al. 2018, Algorithm 1)"
        ),
        classes,
    }
}
