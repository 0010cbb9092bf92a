//! Per-budget outcomes, and the single place where success is decided: by the model's own
//! prediction on the final, clipped adversarial input.

use gauntlet_core::model::predict;
use gauntlet_core::tensor::from_rows;
use gauntlet_core::Result;

use crate::AttackInput;

/// What an attack achieved at one budget, per sample.
#[derive(Debug, Clone)]
pub struct EpsilonOutcome {
    pub eps: f32,
    /// Adversarial inputs, flat rows, inside the ε-ball and the valid box.
    pub adversarial: Vec<f32>,
    /// The model's prediction on each adversarial input.
    pub predictions: Vec<i64>,
    /// Whether the criterion holds for that prediction.
    pub success: Vec<bool>,
    /// Perturbation size in the threat model's norm.
    pub perturbation: Vec<f32>,
    /// Per sample, the queries a black-box attack spent at this budget (up to its first
    /// success, or all it used when it failed). Empty for gradient attacks.
    pub queries: Vec<u64>,
}

/// An attack's result over all budgets.
#[derive(Debug, Clone)]
pub struct AttackOutcome {
    /// One entry per budget, ε ascending.
    pub per_eps: Vec<EpsilonOutcome>,
    /// Per-sample gradient evaluations (one forward + backward of one sample counts 1).
    pub gradient_evals: u64,
    /// Per-sample forward queries made by a black-box attack (one sample through the model
    /// counts 1; the final verification pass is not counted). 0 for gradient attacks.
    pub queries: u64,
}

/// Projects candidate adversarials into each budget and the box, queries the model once for
/// all budgets, and decides success. `candidates[e]` holds the rows proposed for budget `e`.
///
/// A sample broken at a smaller budget stays broken at every larger one: its adversarial input
/// is also inside the larger ball, so it is carried over. Reported robustness therefore never
/// rises with ε.
pub fn verify(input: &AttackInput, candidates: Vec<Vec<f32>>) -> Result<Vec<EpsilonOutcome>> {
    let threat = input.threat;
    let norm = threat.norm();
    let bounds = threat.bounds();
    let f = input.features();
    let n = input.len();
    let mut all_rows = Vec::with_capacity(candidates.len() * n * f);
    let mut per_eps = Vec::with_capacity(candidates.len());
    for (rows, &eps) in candidates.into_iter().zip(threat.epsilons()) {
        let mut delta: Vec<f32> = rows.iter().zip(input.x).map(|(a, x)| a - x).collect();
        norm.project_rows(&mut delta, f, eps);
        let adversarial: Vec<f32> = delta
            .iter()
            .zip(input.x)
            .map(|(d, x)| (x + d).clamp(bounds.min, bounds.max))
            .collect();
        all_rows.extend_from_slice(&adversarial);
        per_eps.push((eps, adversarial));
    }
    let device = gauntlet_core::device::compute_device();
    let total = per_eps.len() * n;
    let predictions = if total == 0 {
        Vec::new()
    } else {
        predict(input.model, from_rows(all_rows, total, f, &device))?
    };
    let mut outcomes: Vec<EpsilonOutcome> = Vec::with_capacity(per_eps.len());
    for (e, (eps, adversarial)) in per_eps.into_iter().enumerate() {
        let preds = predictions[e * n..(e + 1) * n].to_vec();
        let success = input.criterion.success(input.labels, &preds);
        let delta: Vec<f32> = adversarial.iter().zip(input.x).map(|(a, x)| a - x).collect();
        let perturbation = norm.measure_rows(&delta, f);
        let mut outcome = EpsilonOutcome {
            eps,
            adversarial,
            predictions: preds,
            success,
            perturbation,
            queries: Vec::new(),
        };
        if let Some(previous) = outcomes.last() {
            for i in 0..n {
                if previous.success[i] && !outcome.success[i] {
                    // Queries stay those of this budget's own run: they were spent.
                    outcome.success[i] = true;
                    outcome.predictions[i] = previous.predictions[i];
                    outcome.perturbation[i] = previous.perturbation[i];
                    outcome.adversarial[i * f..(i + 1) * f]
                        .copy_from_slice(&previous.adversarial[i * f..(i + 1) * f]);
                }
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Attaches per-sample query counts to verified outcomes: `used[e·n + i]` is sample `i` at
/// the `e`-th budget (the layout black-box attacks keep their rows in).
pub fn attach_queries(per_eps: &mut [EpsilonOutcome], used: &[u64]) {
    let n = per_eps.first().map_or(0, |o| o.success.len());
    for (e, outcome) in per_eps.iter_mut().enumerate() {
        outcome.queries = used[e * n..(e + 1) * n].to_vec();
    }
}
