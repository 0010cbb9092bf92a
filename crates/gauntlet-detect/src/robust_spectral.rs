//! Robust spectral signatures: Tran et al.'s spectral signature measured against the class's
//! *clean core* rather than its mean, in the spirit of SPECTRE (Hayase, Kong, Somani & Oh,
//! "Defending Against Backdoor Attacks Using Robust Statistics", ICML 2021).
//!
//! Why: [`crate::spectral`] centres a class at its mean and removes a fixed share `1.5·ε̂`. An
//! all-to-one attack on 10 % of MNIST makes the target class half poison, so the mean sits
//! between the two halves and both score high; at 1 % the poison's shift hides among the
//! class's large clean directions. Whitening by the covariance of the clean core turns the
//! poison's shift — along directions in which clean members hardly vary — into the dominant
//! one, and a threshold in units of the core's spread needs no guess of ε.
//!
//! Per class:
//! 1. centre and reduce the activations to [`DIMENSIONS`](crate::robust_core::DIMENSIONS)
//!    principal directions;
//! 2. the core: the half of the class with the smallest covariance determinant, found by
//!    concentration steps (Rousseeuw & Van Driessen's FAST-MCD C-steps) from the rows nearest
//!    the coordinate-wise median and [`STARTS`] seeded random starts; it holds while the poison
//!    is less than half of the class;
//! 3. scale the core covariance by the theoretical consistency factor (Croux & Haesbroeck),
//!    then reweight: every row inside the core's 97.5 % χ² region joins it and the estimate is
//!    made again (the usual reweighted MCD) — so the poisoned share sets nothing but which
//!    rows are left out;
//! 4. whiten every row by that estimate; the spectral signature is each row's projection `p`
//!    on the top right singular vector of the whitened rows; flag `|p| > z` (default 6 core
//!    standard deviations: a Gaussian core would almost never cross it, and real activations'
//!    heavier tails lose a few per cent of a class — measured in `docs/poisoning-detection.md`).
//!
//! Score: `p²`, high = suspicious. Classes too small to estimate a core (fewer than
//! `4·(DIMENSIONS + 1)` rows) are left unflagged, and the class note says so.

use serde_json::json;

use crate::detection::{ClassNote, Detection};
use crate::linalg::{top_right_singular_vectors, Matrix};
use crate::robust_core::{
    whiten_classes, WhitenedClass, CORE_SHARE, DIMENSIONS, REWEIGHT_QUANTILE, STARTS,
};

/// The decision threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobustRule {
    /// Flag a row whose whitened projection on the signature exceeds this many core standard
    /// deviations.
    pub z: f64,
}

impl Default for RobustRule {
    fn default() -> Self {
        RobustRule { z: 6.0 }
    }
}

/// Robust spectral-signature flags for `activations` (one row per input) labelled `labels`.
pub fn detect(activations: &Matrix, labels: &[i64], rule: RobustRule, seed: u64) -> Detection {
    detect_whitened(
        &whiten_classes(activations, labels, seed),
        labels.len(),
        rule,
    )
}

/// [`detect`] on classes already whitened ([`whiten_classes`]) from `samples` inputs.
pub fn detect_whitened(
    classes_in: &[WhitenedClass],
    samples: usize,
    rule: RobustRule,
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
        let signature = top_right_singular_vectors(whitened, 1, class_seed ^ 1);
        let projection = match signature.first() {
            Some(v) => whitened.times(v),
            None => vec![0.0; rows.len()],
        };
        let mut count = 0;
        for (&i, &p) in rows.iter().zip(&projection) {
            scores[i] = (p * p) as f32;
            if p.abs() > rule.z {
                flagged.push(i);
                count += 1;
            }
        }
        let strength = signature
            .first()
            .map(|v| crate::linalg::norm(&whitened.times(v)) / (rows.len() as f64).sqrt());
        classes.push(ClassNote {
            class,
            size: rows.len(),
            flagged: count,
            details: json!({
                "dimensions": k,
                "core_size": core.size,
                "consistency_factor": core.consistency,
                "signature_rms": strength,
            }),
        });
    }
    flagged.sort_unstable();
    Detection {
        flagged,
        scores,
        score: "squared projection on the top singular vector of the activations whitened by \
                the class's clean core (in core standard deviations; high = suspicious)"
            .into(),
        rule: format!(
            "per class, PCA to {DIMENSIONS} dims; core = the {CORE_SHARE} of the class with the \
             smallest covariance determinant (C-steps, {STARTS} seeded starts and one at the \
             median), reweighted at the {REWEIGHT_QUANTILE} χ² quantile; rows whitened by its \
             consistency-scaled covariance; flagged when |projection| on the \
             whitened rows' top singular vector > {} (robust spectral signature, after Tran et \
             al. 2018 and Hayase et al. 2021)",
            rule.z
        ),
        classes,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A standard normal draw (Box–Muller; rand alone, no extra dependency).
    fn normal(rng: &mut impl Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// A class whose clean rows spread widely (standard deviation 10 to 7.5) along 6
    /// directions and little (1) along 10 more, and whose poison — inputs of several other
    /// kinds, so 1.5× as spread — is shifted by 12 along one quiet direction: less variance
    /// than the loud ones, so plain spectral signatures' top direction is a clean one, but 12
    /// core standard deviations.
    pub(crate) fn class(clean: usize, poison: usize, seed: u64) -> (Matrix, Vec<bool>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let cols = 16;
        let mut values = Vec::new();
        let mut truth = Vec::new();
        for i in 0..clean + poison {
            let poisoned = i >= clean;
            for c in 0..cols {
                let spread = if c < 6 { 10.0 - c as f64 * 0.5 } else { 1.0 };
                let spread = if poisoned { 1.5 * spread } else { spread };
                let shift = if poisoned && c == 9 { 12.0 } else { 0.0 };
                values.push(spread * normal(&mut rng) + shift + if c == 0 { 50.0 } else { 0.0 });
            }
            truth.push(poisoned);
        }
        (Matrix::new(values, clean + poison, cols), truth)
    }

    fn flags(m: &Matrix, truth: &[bool], seed: u64) -> (f64, f64) {
        let labels = vec![0i64; truth.len()];
        let d = detect(m, &labels, RobustRule::default(), seed);
        let poison = truth.iter().filter(|&&t| t).count().max(1);
        let clean = truth.len() - truth.iter().filter(|&&t| t).count();
        let hits = d.flagged.iter().filter(|&&i| truth[i]).count();
        let false_flags = d.flagged.len() - hits;
        (
            hits as f64 / poison as f64,
            false_flags as f64 / clean as f64,
        )
    }

    #[test]
    fn a_quiet_direction_shift_is_found_at_small_and_near_half_shares() {
        // Plain spectral signatures see the loud directions first; whitening by the core
        // makes the poison's shift the signature.
        for (clean, poison) in [(2000, 100), (1100, 900)] {
            let (m, truth) = class(clean, poison, 3);
            let (recall, false_rate) = flags(&m, &truth, 0);
            assert!(recall >= 0.95, "{poison} poisons: recall {recall}");
            assert!(
                false_rate <= 0.01,
                "{poison} poisons: {false_rate} of clean flagged"
            );
            // The contrast: Tran et al.'s rule, told the true share, misses most of it.
            let labels = vec![0i64; truth.len()];
            let share = poison as f64 / (clean + poison) as f64;
            let plain = crate::spectral::detect(&m, &labels, share, 0);
            let hits = plain.flagged.iter().filter(|&&i| truth[i]).count();
            assert!(
                (hits as f64) < 0.8 * poison as f64,
                "plain spectral found {hits} of {poison}: the case no longer shows the difference"
            );
        }
    }

    #[test]
    fn a_clean_gaussian_class_loses_almost_nothing() {
        let (m, truth) = class(3000, 0, 5);
        let (_, false_rate) = flags(&m, &truth, 1);
        assert!(false_rate <= 0.002, "{false_rate} of a clean class flagged");
    }
}
