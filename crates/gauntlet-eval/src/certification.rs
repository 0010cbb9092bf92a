//! Certified and empirical robustness of a smoothed classifier over a data set.
//!
//! Per sample: CERTIFY (the certified class and L2 radius), PREDICT on the clean input, then
//! the SmoothAdv attack at every radius, each adversarial point judged by PREDICT. The
//! reduction gives, per radius `r`, the **certified accuracy** (certified, correct, radius ≥
//! `r`: a lower bound on the smoothed classifier's robust accuracy, each certificate holding
//! with probability ≥ 1 − α) and the **empirical accuracy** (the smoothed prediction stays
//! correct, not abstaining, under every attack of budget ≤ `r`: an upper bound).
//!
//! A certificate that an attack breaks — the attack within a budget smaller than the
//! certified radius makes PREDICT return another class, and a rerun of PREDICT with
//! `confirm_draws` draws agrees — contradicts the theorem (up to the two tests' α) and means
//! a bug: it is recorded in [`Certification::broken_certificates`], never dropped.
//!
//! Every sample draws its noise from its own generator, seeded by the run's seed and its
//! index, so results do not depend on the batch size or on how many samples run.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use gauntlet_attacks::smooth_adv::SmoothAdv;
use gauntlet_core::data::Dataset;
use gauntlet_core::model::Differentiable;
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_core::{Error, Result};

pub use crate::certified::{Attacked, BrokenCertificate, SampleResult};
use crate::certify_journal::{NoJournal, SampleJournal};
use crate::smoothing::{check_alpha, Certificate, Smoothing};
use crate::Progress;

/// The radii every report shows, besides those asked for.
pub const STANDARD_RADII: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// What to run: the smoothing, CERTIFY's and PREDICT's draws, the radii and the attack.
#[derive(Debug, Clone)]
pub struct CertifyPlan {
    /// The noise and the batch size of noisy copies.
    pub smoothing: Smoothing,
    /// CERTIFY's selection draws.
    pub n0: u64,
    /// CERTIFY's estimation draws.
    pub n: u64,
    /// Failure probability of each certificate and each PREDICT.
    pub alpha: f64,
    /// PREDICT's draws, on clean and attacked inputs.
    pub predict_draws: u64,
    /// PREDICT's draws when confirming that an attack broke a certificate.
    pub confirm_draws: u64,
    /// Radii of the report's rows, ascending, starting at 0.
    pub radii: Vec<f32>,
    /// The attack on the smoothed classifier.
    pub attack: SmoothAdv,
    /// The valid input box the attack stays in.
    pub bounds: Bounds,
    /// Seed of every draw.
    pub seed: u64,
}

impl CertifyPlan {
    /// Rejects values CERTIFY cannot run with, naming the setting.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("n0", self.n0),
            ("n", self.n),
            ("predict_n", self.predict_draws),
            ("confirm_draws", self.confirm_draws),
        ] {
            if v == 0 {
                return Err(Error::Parameter(format!(
                    "`{name}` must be at least 1 (noise draws)"
                )));
            }
        }
        check_alpha(self.alpha)?;
        if self.radii.first() != Some(&0.0)
            || self.radii.windows(2).any(|w| w[0] >= w[1])
            || self.radii.iter().any(|r| !r.is_finite())
        {
            return Err(Error::Parameter(
                "`radii` must be finite, ascending and start at 0".into(),
            ));
        }
        Ok(())
    }

    /// The plan's settings, for a report's manifest.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "sigma": self.smoothing.sigma(),
            "n0": self.n0,
            "n": self.n,
            "alpha": self.alpha,
            "predict_n": self.predict_draws,
            "confirm_n": self.confirm_draws,
            "radii": self.radii,
            "attack": self.attack.describe(),
            "bounds": [self.bounds.min, self.bounds.max],
        })
    }
}

/// Certified and empirical accuracy at one radius.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RadiusRow {
    /// L2 radius.
    pub radius: f64,
    /// Share of samples certified correctly with a radius ≥ `radius` (a lower bound).
    pub certified_accuracy: f64,
    /// Share of samples whose smoothed prediction stays correct under the SmoothAdv attack of
    /// every budget ≤ `radius` (an upper bound); at 0, the clean smoothed accuracy.
    pub empirical_accuracy: f64,
}

/// The run's results.
#[derive(Debug, Clone, Serialize)]
pub struct Certification {
    /// Samples finished (all of them unless interrupted or failed).
    pub samples: usize,
    /// Samples asked for.
    pub samples_total: usize,
    /// One row per radius of the plan.
    pub rows: Vec<RadiusRow>,
    /// Share of samples on which CERTIFY abstained.
    pub abstain_rate: f64,
    /// Certificates the attack broke (should be empty).
    pub broken_certificates: Vec<BrokenCertificate>,
    /// Per-sample results, in order.
    pub per_sample: Vec<SampleResult>,
    /// Errors that stopped the run early.
    pub errors: Vec<String>,
    /// The user asked to stop before every sample was done.
    pub interrupted: bool,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl Certification {
    /// Every sample was done, without error.
    pub fn complete(&self) -> bool {
        self.samples == self.samples_total && self.errors.is_empty()
    }
}

/// The generator of sample `index`'s draws.
fn sample_rng(seed: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Runs the plan on every sample of `data`, one sample at a time (its noisy copies in batches);
/// stops early, keeping what is done, when `progress` is cancelled or a sample fails.
pub fn run_certification(
    model: &dyn Differentiable,
    data: &Dataset,
    plan: &CertifyPlan,
    progress: &dyn Progress,
) -> Result<Certification> {
    run_certification_resumable(model, data, plan, progress, &mut NoJournal)
}

/// [`run_certification`] with a journal: samples an earlier run finished are restored from
/// it (each sample's draws depend only on the seed and its index, so they are the same), and
/// every newly finished sample is recorded before the next starts.
pub fn run_certification_resumable(
    model: &dyn Differentiable,
    data: &Dataset,
    plan: &CertifyPlan,
    progress: &dyn Progress,
    journal: &mut dyn SampleJournal,
) -> Result<Certification> {
    plan.validate()?;
    let start = Instant::now();
    let features = data.features();
    let mut per_sample = Vec::with_capacity(data.len());
    let mut broken = Vec::new();
    let mut errors = Vec::new();
    let mut interrupted = false;
    progress.begin("certify", data.len() as u64);
    for index in 0..data.len() {
        if progress.cancelled() {
            interrupted = true;
            break;
        }
        if let Some((result, mut found)) = journal.restored(index) {
            per_sample.push(result);
            broken.append(&mut found);
            progress.advance(1);
            continue;
        }
        let x = &data.inputs[index * features..(index + 1) * features];
        let label = data.labels[index];
        match certify_sample(model, x, label, index, plan) {
            Ok((result, mut found)) => {
                if let Err(e) = journal.record(&result, &found) {
                    errors.push(format!("sample {index}: {e}"));
                    break;
                }
                per_sample.push(result);
                broken.append(&mut found);
            }
            Err(e) => {
                errors.push(format!("sample {index}: {e}"));
                break;
            }
        }
        progress.advance(1);
    }
    progress.end();
    if interrupted {
        errors.push(format!(
            "interrupted by the user after {} of {} samples",
            per_sample.len(),
            data.len()
        ));
    }
    let rows = reduce(&per_sample, &plan.radii);
    let abstained = per_sample.iter().filter(|s| s.prediction.is_none()).count();
    Ok(Certification {
        samples: per_sample.len(),
        samples_total: data.len(),
        rows,
        abstain_rate: share(abstained, per_sample.len()),
        broken_certificates: broken,
        per_sample,
        errors,
        interrupted,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn share(count: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        count as f64 / of as f64
    }
}

/// CERTIFY, PREDICT, the attack at every radius > 0 and the check of the certificate.
fn certify_sample(
    model: &dyn Differentiable,
    x: &[f32],
    label: i64,
    index: usize,
    plan: &CertifyPlan,
) -> Result<(SampleResult, Vec<BrokenCertificate>)> {
    let smoothing = &plan.smoothing;
    let mut rng = sample_rng(plan.seed, index);
    let certificate: Certificate =
        smoothing.certify(model, x, plan.n0, plan.n, plan.alpha, &mut rng)?;
    let clean_prediction = smoothing.predict(model, x, plan.predict_draws, plan.alpha, &mut rng)?;
    let mut result = SampleResult {
        index,
        label,
        prediction: certificate.prediction,
        pa_lower: certificate.pa_lower,
        radius: certificate.radius,
        correct: certificate.prediction == Some(label),
        clean_prediction,
        attacked: Vec::new(),
    };
    let mut broken = Vec::new();
    // Attack what matters: a correct smoothed prediction (empirical accuracy) or a
    // certificate (the check), away from the certified class when there is one.
    if certificate.prediction.is_none() && clean_prediction != Some(label) {
        return Ok((result, broken));
    }
    let class = certificate.prediction.unwrap_or(label);
    let radii: Vec<f32> = plan.radii.iter().copied().filter(|&r| r > 0.0).collect();
    let points = plan
        .attack
        .run(model, x, &[class], &radii, plan.bounds, &mut rng)?;
    for (&radius, point) in radii.iter().zip(&points) {
        let prediction =
            smoothing.predict(model, point, plan.predict_draws, plan.alpha, &mut rng)?;
        let perturbation = Norm::L2.distance(x, point);
        if let (Some(certified), Some(attacked)) = (certificate.prediction, prediction) {
            if attacked != certified && (perturbation as f64) < certificate.radius {
                let confirmed =
                    smoothing.predict(model, point, plan.confirm_draws, plan.alpha, &mut rng)?;
                if let Some(confirmed) = confirmed.filter(|&c| c != certified) {
                    broken.push(BrokenCertificate {
                        index,
                        certified_class: certified,
                        certified_radius: certificate.radius,
                        attack_radius: radius,
                        perturbation,
                        attacked_prediction: confirmed,
                        confirm_draws: plan.confirm_draws,
                    });
                }
            }
        }
        result.attacked.push(Attacked {
            radius,
            prediction,
            perturbation,
        });
    }
    Ok((result, broken))
}

/// Certified and empirical accuracy per radius. Empirically, a sample broken at a radius
/// stays broken at every larger one (the same point lies within the larger budget).
pub fn reduce(samples: &[SampleResult], radii: &[f32]) -> Vec<RadiusRow> {
    radii
        .iter()
        .map(|&r| {
            let certified = samples
                .iter()
                .filter(|s| s.correct && s.radius >= r as f64)
                .count();
            let empirical = samples
                .iter()
                .filter(|s| {
                    s.clean_prediction == Some(s.label)
                        && s.attacked
                            .iter()
                            .filter(|a| a.radius <= r)
                            .all(|a| a.prediction == Some(s.label))
                })
                .count();
            RadiusRow {
                radius: r as f64,
                certified_accuracy: share(certified, samples.len()),
                empirical_accuracy: share(empirical, samples.len()),
            }
        })
        .collect()
}
