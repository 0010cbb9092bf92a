//! What an attack hands back, and the single place where success is decided: by the model's
//! own prediction on the final, projected and clipped adversarial input.
//!
//! Attacks never verify anything themselves. A fixed-budget attack returns
//! [`BudgetCandidates`], a minimum-norm attack [`SampleCandidates`]; [`Attack::run`] turns
//! either into an [`AttackOutcome`] with their `verify` methods.
//!
//! [`Attack::run`]: crate::Attack::run

use gauntlet_core::model::predict;
use gauntlet_core::tensor::from_rows;
use gauntlet_core::{Error, Result};

use crate::AttackInput;

/// What an attack achieved at one budget, per sample.
#[derive(Debug, Clone)]
pub struct EpsilonOutcome {
    /// The budget.
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

/// What a fixed-budget attack found: for every budget of the threat model (ascending), one
/// candidate row per sample, searched inside that budget.
#[derive(Debug, Clone)]
pub struct BudgetCandidates {
    /// `rows[e]` holds `n` flat rows for the `e`-th budget: the adversarial point found, or
    /// whatever the attack ended on (the clean input at worst).
    pub rows: Vec<Vec<f32>>,
    /// Per-sample gradient evaluations spent.
    pub gradient_evals: u64,
    /// Black-box attacks: the queries each (sample, ε) pair cost, entry `e·n + i`; their sum
    /// is the attack's total. `None` for gradient attacks.
    pub queries: Option<Vec<u64>>,
}

/// What a minimum-norm attack found: one point per sample, the smallest adversarial
/// perturbation it could find, searched once for all budgets.
#[derive(Debug, Clone)]
pub struct SampleCandidates {
    /// `n` flat rows: each sample's best adversarial point (or, where none was found, the
    /// point the search ended on, the clean input at worst).
    pub points: Vec<f32>,
    /// Per-sample gradient evaluations spent.
    pub gradient_evals: u64,
    /// Black-box attacks: what each sample cost. `None` for gradient attacks.
    pub queries: Option<SampleQueries>,
}

/// The queries of a minimum-norm black-box attack, which spends one search per sample on
/// every budget at once.
#[derive(Debug, Clone)]
pub struct SampleQueries {
    /// Queries sample `i` used in all.
    pub used: Vec<u64>,
    /// Entry `e·n + i`: the queries spent when sample `i`'s best point first came within the
    /// `e`-th budget; `None` if it never did.
    pub reached: Vec<Option<u64>>,
}

impl BudgetCandidates {
    /// Projects, clips and verifies the rows with the model, carries success upward in ε and
    /// attaches the query counts: what [`Attack::run`](crate::Attack::run) does with them.
    pub fn verify(self, input: &AttackInput) -> Result<AttackOutcome> {
        let (budgets, n, f) = (
            input.threat().epsilons().len(),
            input.len(),
            input.features(),
        );
        let well_formed = self.rows.len() == budgets
            && self.rows.iter().all(|r| r.len() == n * f)
            && self.queries.as_ref().is_none_or(|q| q.len() == budgets * n);
        if !well_formed {
            return Err(malformed(input));
        }
        let mut per_eps = verify(input, self.rows)?;
        let queries = match self.queries {
            Some(used) => {
                attach_queries(&mut per_eps, &used);
                used.iter().sum()
            }
            None => 0,
        };
        Ok(AttackOutcome {
            per_eps,
            gradient_evals: self.gradient_evals,
            queries,
        })
    }
}

impl SampleCandidates {
    /// Proposes each sample's point at every budget, then as [`BudgetCandidates::verify`]. The
    /// queries reported at ε are those spent until the point first came within ε (all the
    /// sample used, where it never did).
    pub fn verify(self, input: &AttackInput) -> Result<AttackOutcome> {
        let (budgets, n, f) = (
            input.threat().epsilons().len(),
            input.len(),
            input.features(),
        );
        let well_formed = self.points.len() == n * f
            && self
                .queries
                .as_ref()
                .is_none_or(|q| q.used.len() == n && q.reached.len() == budgets * n);
        if !well_formed {
            return Err(malformed(input));
        }
        let mut per_eps = verify(input, vec![self.points; budgets])?;
        let queries = match self.queries {
            Some(q) => {
                let per_row: Vec<u64> = (0..budgets * n)
                    .map(|r| q.reached[r].unwrap_or(q.used[r % n.max(1)]))
                    .collect();
                attach_queries(&mut per_eps, &per_row);
                q.used.iter().sum()
            }
            None => 0,
        };
        Ok(AttackOutcome {
            per_eps,
            gradient_evals: self.gradient_evals,
            queries,
        })
    }
}

/// An attack that returns rows or counts of the wrong shape is a bug in that attack.
fn malformed(input: &AttackInput) -> Error {
    Error::Parameter(format!(
        "an attack returned candidates or query counts of the wrong shape for {} samples of {} \
         features at {} budgets; this is a bug in the attack",
        input.len(),
        input.features(),
        input.threat().epsilons().len()
    ))
}

/// Projects candidate adversarials into each budget and the box, queries the model once for
/// all budgets, and decides success. `candidates[e]` holds the rows proposed for budget `e`.
///
/// A sample broken at a smaller budget stays broken at every larger one: its adversarial input
/// is also inside the larger ball, so it is carried over. Reported robustness therefore never
/// rises with ε.
fn verify(input: &AttackInput, candidates: Vec<Vec<f32>>) -> Result<Vec<EpsilonOutcome>> {
    let threat = input.threat();
    let norm = threat.norm();
    let bounds = threat.bounds();
    let f = input.features();
    let n = input.len();
    let x = input.x();
    let mut all_rows = Vec::with_capacity(candidates.len() * n * f);
    let mut per_eps = Vec::with_capacity(candidates.len());
    for (rows, &eps) in candidates.into_iter().zip(threat.epsilons()) {
        let mut delta: Vec<f32> = rows.iter().zip(x).map(|(a, x)| a - x).collect();
        // A region-confined threat: nothing outside the mask changes, whatever the attack did.
        threat.confine(&mut delta, f);
        norm.project_rows(&mut delta, f, eps);
        let adversarial: Vec<f32> = delta
            .iter()
            .zip(x)
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
        predict(input.model(), from_rows(all_rows, total, f, &device))?
    };
    let mut outcomes: Vec<EpsilonOutcome> = Vec::with_capacity(per_eps.len());
    for (e, (eps, adversarial)) in per_eps.into_iter().enumerate() {
        let preds = predictions[e * n..(e + 1) * n].to_vec();
        let success = input.criterion().success(input.labels(), &preds);
        let delta: Vec<f32> = adversarial.iter().zip(x).map(|(a, x)| a - x).collect();
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
/// the `e`-th budget.
fn attach_queries(per_eps: &mut [EpsilonOutcome], used: &[u64]) {
    let n = per_eps.first().map_or(0, |o| o.success.len());
    for (e, outcome) in per_eps.iter_mut().enumerate() {
        outcome.queries = used[e * n..(e + 1) * n].to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Identity;
    use gauntlet_core::criterion::Criterion;
    use gauntlet_core::threat::{Bounds, Norm, ThreatModel};

    #[test]
    fn budget_candidates_are_projected_verified_and_carried_upward() {
        let model = Identity::new(3);
        let threat = ThreatModel::new(Norm::Linf, &[0.3, 0.6], Bounds::default()).unwrap();
        let criterion = Criterion::Untargeted;
        // Sample 0 (label 0): broken at 0.3, nothing proposed at 0.6 → carried upward.
        // Sample 1 (label 2): a far point, projected into each ball; broken only at 0.6.
        let x = [0.6f32, 0.2, 0.0, 0.0, 0.0, 0.8];
        let input = AttackInput::new(&model, &x, &[0, 2], &criterion, &threat).unwrap();
        let found = BudgetCandidates {
            rows: vec![
                vec![0.3, 0.5, 0.0, 0.0, 0.9, 0.0],
                vec![0.6, 0.2, 0.0, 0.0, 1.0, -1.0],
            ],
            gradient_evals: 4,
            queries: Some(vec![5, 6, 7, 8]),
        };
        let outcome = found.verify(&input).unwrap();
        let (small, large) = (&outcome.per_eps[0], &outcome.per_eps[1]);
        assert_eq!(small.success, vec![true, false]);
        assert_eq!(small.predictions, vec![1, 2]);
        assert_eq!(
            &small.adversarial[3..],
            &[0.0, 0.3, 0.5],
            "projected into ε = 0.3"
        );
        assert_eq!(large.success, vec![true, true]);
        assert_eq!(
            &large.adversarial[..3],
            &small.adversarial[..3],
            "carried upward"
        );
        assert_eq!(large.perturbation[0], small.perturbation[0]);
        let expected = [0.0f32, 0.6, 0.2];
        for (a, b) in large.adversarial[3..].iter().zip(expected) {
            assert!(
                (a - b).abs() < 1e-6,
                "projected into ε = 0.6: {:?}",
                &large.adversarial[3..]
            );
        }
        assert_eq!(
            (small.queries.clone(), large.queries.clone()),
            (vec![5, 6], vec![7, 8])
        );
        assert_eq!((outcome.gradient_evals, outcome.queries), (4, 26));
    }

    #[test]
    fn sample_candidates_report_queries_until_each_budget_was_reached() {
        let model = Identity::new(2);
        let threat = ThreatModel::new(Norm::L2, &[0.1, 1.0], Bounds::default()).unwrap();
        let criterion = Criterion::Untargeted;
        let x = [0.9f32, 0.1];
        let input = AttackInput::new(&model, &x, &[0], &criterion, &threat).unwrap();
        let found = SampleCandidates {
            points: vec![0.4, 0.6],
            gradient_evals: 0,
            queries: Some(SampleQueries {
                used: vec![9],
                reached: vec![None, Some(3)],
            }),
        };
        let outcome = found.verify(&input).unwrap();
        assert_eq!(outcome.per_eps[0].success, vec![false]);
        assert_eq!(outcome.per_eps[1].success, vec![true]);
        assert_eq!(
            outcome.per_eps[0].queries,
            vec![9],
            "never reached: all it used"
        );
        assert_eq!(outcome.per_eps[1].queries, vec![3]);
        assert_eq!(outcome.queries, 9, "one search served both budgets");

        // Gradient attacks report no queries; a wrong shape is refused, not truncated.
        let white = SampleCandidates {
            points: vec![0.4, 0.6],
            gradient_evals: 2,
            queries: None,
        };
        let outcome = white.verify(&input).unwrap();
        assert!(outcome.per_eps.iter().all(|o| o.queries.is_empty()));
        assert_eq!((outcome.gradient_evals, outcome.queries), (2, 0));
        let short = SampleCandidates {
            points: vec![0.4],
            gradient_evals: 0,
            queries: None,
        };
        assert!(short.verify(&input).is_err());
        let one_budget = BudgetCandidates {
            rows: vec![x.to_vec()],
            gradient_evals: 0,
            queries: None,
        };
        assert!(one_budget.verify(&input).is_err());
    }
}
