//! What certification finds per sample: the certificate, the clean smoothed prediction, the
//! smoothed predictions under attack, and any certificate an attack broke.

use serde::Serialize;

/// The smoothed prediction on the attacked input at one radius.
#[derive(Debug, Clone, Serialize)]
pub struct Attacked {
    /// The attack's L2 budget.
    pub radius: f32,
    /// PREDICT on the adversarial point; `None`: abstained.
    pub prediction: Option<i64>,
    /// L2 distance of the adversarial point from the input.
    pub perturbation: f32,
}

/// One sample's results.
#[derive(Debug, Clone, Serialize)]
pub struct SampleResult {
    /// Index in the data set.
    pub index: usize,
    /// True class.
    pub label: i64,
    /// CERTIFY's class (`None`: abstained).
    pub prediction: Option<i64>,
    /// Lower confidence bound on the top class's probability under noise.
    pub pa_lower: f64,
    /// Certified L2 radius (0 when abstaining).
    pub radius: f64,
    /// CERTIFY returned the true class.
    pub correct: bool,
    /// PREDICT on the clean input (`None`: abstained).
    pub clean_prediction: Option<i64>,
    /// PREDICT on the SmoothAdv point of each radius > 0 (empty when the sample was not
    /// attacked: neither certified nor correctly predicted).
    pub attacked: Vec<Attacked>,
}

/// A certificate an attack broke: a bug, in the model's evaluation or in gauntlet.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenCertificate {
    /// Index of the sample.
    pub index: usize,
    /// The certified class.
    pub certified_class: i64,
    /// The certified radius.
    pub certified_radius: f64,
    /// The attack's budget, smaller than the certified radius.
    pub attack_radius: f32,
    /// The adversarial point's distance from the input.
    pub perturbation: f32,
    /// What PREDICT said on the adversarial point, with `confirm_draws` draws.
    pub attacked_prediction: i64,
    /// Draws of the confirming PREDICT.
    pub confirm_draws: u64,
}
