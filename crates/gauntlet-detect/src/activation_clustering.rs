//! Activation clustering (Chen et al., "Detecting Backdoor Attacks on Deep Neural Networks by
//! Activation Clustering", 2018). Within a class whose training data was poisoned, the
//! representations split in two: the genuine members, and the triggered inputs the network
//! learned to send there for another reason. Per class: reduce the activations to
//! [`DIMENSIONS`] dimensions, split them with 2-means, and judge the split.
//!
//! Reduction: PCA (the top principal directions by seeded subspace iteration,
//! [`crate::linalg`]). The paper reduces with ICA to 10 dimensions and notes PCA works too;
//! PCA is used here because it is deterministic given its seed and needs no whitening step.
//!
//! Decision rule: the smaller cluster of a class is flagged when **both** its share of the
//! class is at most `max_cluster_share` (the paper's relative-size analysis: poison is the
//! minority; default 35 %) **and** the clustering's silhouette score is at least
//! `min_silhouette` (the paper's silhouette analysis: two clusters really fit the data better
//! than one). The silhouette test is what keeps a clean class — whose 2-means split is
//! arbitrary, silhouette typically 0.1–0.3 on a CNN's penultimate layer — from losing its
//! smaller half: ART's activation defence flags the smaller cluster of every class, the false
//! positives its users report (ART issues #1188, #593, #2313).

use serde_json::json;

use crate::detection::{by_class, class_seed, ClassNote, Detection};
use crate::kmeans::{kmeans, silhouette};
use crate::linalg::{top_right_singular_vectors, Matrix};

/// Dimensions the activations are reduced to before clustering (the paper's 10).
pub const DIMENSIONS: usize = 10;

/// k-means restarts per class.
pub const RESTARTS: usize = 10;

/// The decision thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterRule {
    /// The smaller cluster is poison only if it holds at most this share of its class.
    pub max_cluster_share: f64,
    /// ... and only if the 2-clustering's silhouette score is at least this.
    pub min_silhouette: f64,
}

impl Default for ClusterRule {
    fn default() -> Self {
        ClusterRule {
            max_cluster_share: 0.35,
            min_silhouette: 0.45,
        }
    }
}

/// Activation-clustering flags for `activations` (one row per input) labelled `labels`.
/// Each input's score is the share of its class *outside* its cluster (1 − relative size):
/// high for members of a small cluster.
pub fn detect(activations: &Matrix, labels: &[i64], rule: ClusterRule, seed: u64) -> Detection {
    let mut scores = vec![0f32; labels.len()];
    let mut flagged = Vec::new();
    let mut classes = Vec::new();
    for (class, rows) in by_class(labels) {
        let class_seed = class_seed(seed, class);
        let x = activations.select_rows(&rows).centred();
        let directions = top_right_singular_vectors(&x, DIMENSIONS, class_seed);
        let reduced = x.project(&directions);
        let clustering = kmeans(&reduced, 2, RESTARTS, class_seed);
        let sizes = clustering.sizes();
        let fit = silhouette(&reduced, &clustering.assignment, class_seed);
        let smaller = if sizes.len() == 2 && sizes[1] < sizes[0] {
            1
        } else {
            0
        };
        let share = sizes.get(smaller).copied().unwrap_or(0) as f64 / rows.len().max(1) as f64;
        for (&i, &a) in rows.iter().zip(&clustering.assignment) {
            scores[i] = (1.0 - sizes[a] as f64 / rows.len() as f64) as f32;
        }
        let poisoned =
            sizes.len() == 2 && share <= rule.max_cluster_share && fit >= rule.min_silhouette;
        let mut count = 0;
        if poisoned {
            for (&i, &a) in rows.iter().zip(&clustering.assignment) {
                if a == smaller {
                    flagged.push(i);
                    count += 1;
                }
            }
        }
        classes.push(ClassNote {
            class,
            size: rows.len(),
            flagged: count,
            details: json!({
                "cluster_sizes": sizes,
                "smaller_share": share,
                "silhouette": fit,
                "dimensions": directions.len(),
            }),
        });
    }
    flagged.sort_unstable();
    Detection {
        flagged,
        scores,
        score: "share of the class outside the input's 2-means cluster (high = member of a \
                small cluster)"
            .into(),
        rule: format!(
            "per class, PCA to {DIMENSIONS} dims, 2-means ({RESTARTS} seeded restarts); the \
             smaller cluster is flagged when it holds ≤ {} of the class and the silhouette \
             score is ≥ {} (Chen et al. 2018: relative size and silhouette analyses)",
            rule.max_cluster_share, rule.min_silhouette
        ),
        classes,
    }
}
