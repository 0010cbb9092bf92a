//! Activation clustering in the clean core's coordinates: Chen et al. 2018's per-class 2-means
//! and silhouette analysis, on activations whitened by the class's robust clean core
//! ([`crate::robust_core`]) instead of by the whole class.
//!
//! Why: the paper reduces with ICA, whose first step whitens by the covariance of the whole
//! class — poison included, so a poison that is half the class, or a small one hidden among
//! the class's loud clean directions, stays a minor axis and 2-means splits the clean digits
//! instead (measured in `docs/poisoning-detection.md`). Whitened by the clean core, the poison
//! is the class's farthest-out group and 2-means separates it.
//!
//! Decision: per class, the cluster whose centre lies farther from the core's centre is
//! flagged when the split's silhouette is at least `min_silhouette` (the paper's silhouette
//! analysis). The core replaces the paper's relative-size analysis (poison is the smaller
//! cluster): it says which side is clean even when the poison is nearly half the class. A
//! clean class with a distinct tail of unusual members (MNIST's slanted ones) also splits
//! with a high silhouette, so this detector loses some clean rows that the plain one keeps —
//! the closed loop's exclusionary reclassification (`poison-loop --reclassify`) gives those
//! back.
//!
//! Score: each row's whitened distance from the core's centre (high = far outside it).

use serde_json::json;

use crate::detection::{ClassNote, Detection};
use crate::kmeans::{kmeans, silhouette};
use crate::linalg::{norm, Matrix};
use crate::robust_core::{whiten_classes, WhitenedClass, DIMENSIONS};

/// k-means restarts per class (as activation clustering's).
pub const RESTARTS: usize = crate::activation_clustering::RESTARTS;

/// Robust activation-clustering flags for `activations` (one row per input) labelled
/// `labels`; a class's far cluster is flagged when its 2-means silhouette is at least
/// `min_silhouette`.
pub fn detect(activations: &Matrix, labels: &[i64], min_silhouette: f64, seed: u64) -> Detection {
    detect_whitened(
        &whiten_classes(activations, labels, seed),
        labels.len(),
        min_silhouette,
    )
}

/// [`detect`] on classes already whitened ([`whiten_classes`]) from `samples` inputs.
pub fn detect_whitened(
    classes_in: &[WhitenedClass],
    samples: usize,
    min_silhouette: f64,
) -> Detection {
    let mut scores = vec![0f32; samples];
    let mut flagged = Vec::new();
    let mut classes = Vec::new();
    for c in classes_in {
        let (class, rows, class_seed) = (c.class, &c.rows, c.seed);
        let Some((whitened, core)) = &c.whitened else {
            classes.push(ClassNote::too_small_for_a_core(class, rows.len()));
            continue;
        };
        let k = whitened.cols;
        for (j, &i) in rows.iter().enumerate() {
            scores[i] = norm(whitened.row(j)) as f32;
        }
        let clustering = kmeans(whitened, 2, RESTARTS, class_seed);
        let sizes = clustering.sizes();
        let fit = silhouette(whitened, &clustering.assignment, class_seed);
        let distances: Vec<f64> = clustering.centres.iter().map(|c| norm(c)).collect();
        let far = usize::from(distances.len() == 2 && distances[1] > distances[0]);
        let poisoned = sizes.len() == 2 && fit >= min_silhouette;
        let mut count = 0;
        if poisoned {
            for (&i, &a) in rows.iter().zip(&clustering.assignment) {
                if a == far {
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
                "far_cluster": far,
                "centre_distances": distances,
                "silhouette": fit,
                "core_size": core.size,
                "dimensions": k,
            }),
        });
    }
    flagged.sort_unstable();
    Detection {
        flagged,
        scores,
        score: "whitened distance from the class's clean core (high = far outside it)".into(),
        rule: format!(
            "per class, PCA to {DIMENSIONS} dims, whitened by the clean core (reweighted MCD), \
             2-means ({RESTARTS} seeded restarts); the cluster farther from the core is \
             flagged when the silhouette score is ≥ {min_silhouette} (Chen et al. 2018's \
             clustering and silhouette analysis in the core's coordinates)"
        ),
        classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::robust_spectral::tests::class;

    #[test]
    fn the_far_cluster_is_flagged_even_when_it_is_nearly_half_the_class() {
        for (clean, poison) in [(2000, 100), (1100, 900)] {
            let (m, truth) = class(clean, poison, 11);
            let labels = vec![0i64; truth.len()];
            let d = detect(&m, &labels, 0.45, 2);
            let hits = d.flagged.iter().filter(|&&i| truth[i]).count();
            assert!(
                hits as f64 >= 0.95 * poison as f64,
                "{poison} poisons: {hits} found"
            );
            assert!(
                d.flagged.len() - hits <= clean / 100,
                "{poison} poisons: {} clean rows flagged",
                d.flagged.len() - hits
            );
            // The plain rule refuses a near-even split, and the plain reduction splits the
            // loud clean directions instead of isolating a small poison.
            let plain =
                crate::activation_clustering::detect(&m, &labels, crate::ClusterRule::default(), 2);
            let plain_hits = plain.flagged.iter().filter(|&&i| truth[i]).count();
            assert!(
                (plain_hits as f64) < 0.8 * poison as f64,
                "plain clustering found {plain_hits} of {poison}: the case shows no difference"
            );
        }
    }

    #[test]
    fn a_single_gaussian_class_is_left_whole() {
        let (m, truth) = class(3000, 0, 13);
        let labels = vec![0i64; truth.len()];
        let d = detect(&m, &labels, 0.45, 3);
        assert!(d.flagged.is_empty(), "{:?}", d.classes);
    }
}
