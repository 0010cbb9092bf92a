//! What an audit measured: per-attack, per-budget results with their per-sample outcomes, and
//! the worst case over attacks.

use serde::Serialize;

use gauntlet_core::threat::Norm;

use crate::AdversarialRows;

/// One attack at one budget, over all evaluated samples.
#[derive(Debug, Clone, Serialize)]
pub struct AttackResult {
    /// The attack's report name (`pgd`, `apgd-ce+bpda`).
    pub attack: String,
    /// The threat model's norm.
    pub norm: Norm,
    /// The budget.
    pub eps: f32,
    /// Correct on the clean input and on the adversarial input, over all samples. In an
    /// ensemble: correct under this attack and every earlier one (cumulative).
    pub robust_accuracy: f64,
    /// Samples this attack broke over clean-correct samples (in an ensemble: those it broke
    /// after every earlier attack failed).
    pub attack_success_rate: f64,
    /// Mean perturbation norm of the successful adversarial inputs (0 when none).
    pub mean_perturbation: f64,
    /// Time the attack's batches took (all budgets together; batches restored from a
    /// checkpoint count with the time they took when they ran).
    pub seconds: f64,
    /// Per-sample gradient evaluations of the attack (all budgets together).
    pub gradient_evals: u64,
    /// Per-sample model queries of black-box attacks (all budgets together).
    pub queries: u64,
    /// Samples the attack could not be run on (their batch failed; see the errors). They
    /// count as robust for this attack, so robust accuracy is an upper bound when this is > 0.
    pub unattacked: usize,
    /// Per sample: queries a black-box attack spent at this budget (0 where not attacked;
    /// empty for gradient attacks).
    #[serde(skip)]
    pub sample_queries: Vec<u64>,
    /// Per sample: the attack broke it at this budget.
    #[serde(skip)]
    pub success: Vec<bool>,
    /// Per sample: prediction on the adversarial input (clean prediction if not attacked).
    #[serde(skip)]
    pub predictions: Vec<i64>,
    /// Per sample: perturbation norm (0 if not attacked).
    #[serde(skip)]
    pub perturbation: Vec<f32>,
    /// Adversarial rows for every sample (clean rows where not attacked): in memory, or in
    /// the report's `.npy` file when streamed there.
    #[serde(skip)]
    pub adversarial: AdversarialRows,
}

/// Worst case over all attacks at one budget.
#[derive(Debug, Clone, Serialize)]
pub struct WorstCase {
    /// The threat model's norm.
    pub norm: Norm,
    /// The budget.
    pub eps: f32,
    /// Clean-correct samples no attack broke, over all samples.
    pub robust_accuracy: f64,
    /// Per sample: the first attack (in plan order) that broke it, if any.
    #[serde(skip)]
    pub broken_by: Vec<Option<String>>,
}

/// Everything an audit measured.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Samples evaluated.
    pub samples: usize,
    /// Their true classes.
    pub labels: Vec<i64>,
    /// Values per sample (the length of each adversarial row).
    pub features: usize,
    /// The model's prediction on each clean input.
    pub clean_predictions: Vec<i64>,
    /// Share of samples classified correctly without attack.
    pub clean_accuracy: f64,
    /// One entry per (attack, budget), in plan order.
    pub results: Vec<AttackResult>,
    /// One entry per budget.
    pub worst_case: Vec<WorstCase>,
    /// Errors of attacks that failed after the run started: batches whose samples went
    /// unattacked, and attacks that stopped (their results are absent).
    pub errors: Vec<String>,
    /// Batches restored from a checkpoint instead of being recomputed.
    pub resumed_batches: usize,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// The spatial stage (rotations and translations), when the audit asked for it.
    pub spatial: Option<crate::SpatialEvaluation>,
}

impl Evaluation {
    /// Adds the results of a second run on the same samples (e.g. with BPDA), renaming its
    /// attacks with `suffix`; the worst case then covers both runs.
    pub fn combine(mut self, other: Evaluation, suffix: &str) -> Evaluation {
        for mut r in other.results {
            r.attack = format!("{}{suffix}", r.attack);
            self.results.push(r);
        }
        for (mine, theirs) in self.worst_case.iter_mut().zip(other.worst_case) {
            for (b, t) in mine.broken_by.iter_mut().zip(theirs.broken_by) {
                if b.is_none() {
                    *b = t.map(|name| format!("{name}{suffix}"));
                }
            }
            let n = self.samples;
            let robust = (0..n)
                .filter(|&i| {
                    self.clean_predictions[i] == self.labels[i] && mine.broken_by[i].is_none()
                })
                .count();
            mine.robust_accuracy = robust as f64 / n as f64;
        }
        self.errors.extend(other.errors);
        self.resumed_batches += other.resumed_batches;
        self.seconds += other.seconds;
        self
    }
}
