//! gauntlet-eval: runs every attack of a plan over a data set, batch by batch, and keeps the
//! per-sample outcomes; then reduces them to robust accuracy per attack and budget, and to the
//! worst case over attacks (a sample counts as robust only if every attack failed on it).
//!
//! Attack failures after work has started do not lose what was computed: the evaluation
//! records the error and keeps the finished attacks.

pub mod checkpoint;
pub mod diagnostics;

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use gauntlet_attacks::{Attack, AttackInput, AttackOutcome};

pub use checkpoint::{BatchRecord, BudgetRecord, Checkpoint};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::Dataset;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Differentiable};
use gauntlet_core::tensor::from_rows;
use gauntlet_core::threat::{Norm, ThreatModel};
use gauntlet_core::{Error, Result};

/// Receives progress as samples are attacked (a terminal bar, a log, or nothing).
pub trait Progress {
    fn begin(&self, attack: &str, samples: u64);
    fn advance(&self, samples: u64);
    fn end(&self);
    /// True once the user asked to stop (Ctrl-C): the audit finishes the batch in hand and
    /// returns what is done.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// What to run: attacks, one threat model, a criterion, batching and the seed.
pub struct AuditPlan {
    pub attacks: Vec<Box<dyn Attack>>,
    pub threat: ThreatModel,
    pub criterion: Criterion,
    pub batch_size: usize,
    pub seed: u64,
    /// Run as an ensemble (AutoAttack-style): each attack only on the (sample, ε) pairs every
    /// earlier attack failed on; results then report robust accuracy *after* each attack.
    pub ensemble: bool,
}

impl AuditPlan {
    /// Checks every attack against the threat model before any work is done.
    pub fn validate(&self) -> Result<()> {
        if self.attacks.is_empty() {
            return Err(Error::Parameter("no attack selected; pass e.g. --attacks fgsm,pgd".into()));
        }
        if self.batch_size == 0 {
            return Err(Error::Parameter("--batch-size must be at least 1".into()));
        }
        for attack in &self.attacks {
            attack.check(&self.threat)?;
        }
        Ok(())
    }
}

/// One attack at one budget, over all evaluated samples.
#[derive(Debug, Clone, Serialize)]
pub struct AttackResult {
    pub attack: String,
    pub norm: Norm,
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
    /// Flat adversarial rows for every sample (clean rows where not attacked).
    #[serde(skip)]
    pub adversarial: Vec<f32>,
}

/// Worst case over all attacks at one budget.
#[derive(Debug, Clone, Serialize)]
pub struct WorstCase {
    pub norm: Norm,
    pub eps: f32,
    pub robust_accuracy: f64,
    /// Per sample: the first attack (in plan order) that broke it, if any.
    #[serde(skip)]
    pub broken_by: Vec<Option<String>>,
}

/// Everything an audit measured.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub samples: usize,
    pub labels: Vec<i64>,
    /// The evaluated inputs, flat rows (for pictures of clean vs adversarial).
    pub clean_inputs: Vec<f32>,
    pub clean_predictions: Vec<i64>,
    pub clean_accuracy: f64,
    pub results: Vec<AttackResult>,
    pub worst_case: Vec<WorstCase>,
    /// Errors of attacks that failed after the run started: batches whose samples went
    /// unattacked, and attacks that stopped (their results are absent).
    pub errors: Vec<String>,
    /// Batches restored from a checkpoint instead of being recomputed.
    pub resumed_batches: usize,
    pub seconds: f64,
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
                .filter(|&i| self.clean_predictions[i] == self.labels[i] && mine.broken_by[i].is_none())
                .count();
            mine.robust_accuracy = robust as f64 / n as f64;
        }
        self.errors.extend(other.errors);
        self.resumed_batches += other.resumed_batches;
        self.seconds += other.seconds;
        self
    }
}

/// An attack stops after this many failed batches in a row (a target that is down for good).
const MAX_CONSECUTIVE_FAILURES: usize = 3;

/// Runs the plan on the data set.
pub fn run_audit(
    model: &dyn Differentiable,
    data: &Dataset,
    plan: &AuditPlan,
    progress: &dyn Progress,
) -> Result<Evaluation> {
    run_audit_with(model, data, plan, progress, None)
}

/// Runs the plan, writing every finished batch to `checkpoint` and restoring the batches an
/// earlier, interrupted run of the same plan finished.
pub fn run_audit_with(
    model: &dyn Differentiable,
    data: &Dataset,
    plan: &AuditPlan,
    progress: &dyn Progress,
    checkpoint: Option<&Checkpoint>,
) -> Result<Evaluation> {
    plan.validate()?;
    for attack in &plan.attacks {
        attack.check_target(model)?;
    }
    if data.sample_shape != model.sample_shape() && data.features() != model.features() {
        return Err(Error::Data(format!(
            "samples have shape {:?} but the model expects {:?}; export the data in the model's \
             input layout (N×C×H×W) or pass the model's --input-shape",
            data.sample_shape,
            model.sample_shape()
        )));
    }
    if let Criterion::Targeted(t) = &plan.criterion {
        if t.len() != data.len() {
            return Err(Error::Parameter("one target class per sample is needed".into()));
        }
    }
    let started = Instant::now();
    let n = data.len();
    let f = data.features();
    let classes = model.num_classes() as i64;
    if let Some(bad) = data.labels.iter().find(|&&l| l >= classes) {
        return Err(Error::Data(format!(
            "label {bad} is out of range for a model with {classes} classes; labels must be \
             0…{}",
            classes - 1
        )));
    }
    let device = compute_device();

    // Clean predictions, batched (restored when a checkpoint has them: on a remote target
    // they cost queries).
    let clean_predictions = match checkpoint.and_then(|c| c.load_clean(n)) {
        Some(p) => p,
        None => {
            let mut clean_predictions = Vec::with_capacity(n);
            for start in (0..n).step_by(plan.batch_size) {
                let end = (start + plan.batch_size).min(n);
                let rows = data.inputs[start * f..end * f].to_vec();
                clean_predictions.extend(predict(model, from_rows(rows, end - start, f, &device))?);
            }
            if let Some(c) = checkpoint {
                c.save_clean(&clean_predictions)?;
            }
            clean_predictions
        }
    };
    let correct: Vec<bool> = (0..n).map(|i| clean_predictions[i] == data.labels[i]).collect();
    let clean_correct = correct.iter().filter(|&&c| c).count();
    // Samples the attacks work on: correctly classified (and, when targeted, not already
    // of the target class). The rest exit early.
    let attackable: Vec<usize> = (0..n)
        .filter(|&i| {
            correct[i]
                && match &plan.criterion {
                    Criterion::Targeted(t) => t[i] != data.labels[i],
                    Criterion::Untargeted => true,
                }
        })
        .collect();

    let epsilons = plan.threat.epsilons().to_vec();
    // Per budget and sample: the first attack (in plan order) that broke it.
    let mut broken: Vec<Vec<Option<String>>> = vec![vec![None; n]; epsilons.len()];
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut resumed_batches = 0usize;
    for (attack_index, attack) in plan.attacks.iter().enumerate() {
        progress.begin(attack.name(), attackable.len() as u64);
        let mut success = vec![vec![false; n]; epsilons.len()];
        let mut predictions = vec![clean_predictions.clone(); epsilons.len()];
        let mut perturbation = vec![vec![0f32; n]; epsilons.len()];
        let mut adversarial = vec![data.inputs.clone(); epsilons.len()];
        let mut sample_queries: Vec<Vec<u64>> = vec![Vec::new(); epsilons.len()];
        let mut gradient_evals = 0u64;
        let mut queries = 0u64;
        let mut attack_seconds = 0f64;
        let mut unattacked = vec![false; n];
        let mut consecutive_failures = 0usize;
        let mut failed = None;
        let mut failures = Vec::new();
        // In an ensemble, a sample already broken at budget e is broken at every larger one,
        // so what is left for this attack is a prefix of the budgets: group samples by it.
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for &i in &attackable {
            let open = if plan.ensemble {
                (0..epsilons.len()).take_while(|&e| broken[e][i].is_none()).count()
            } else {
                epsilons.len()
            };
            if open == 0 {
                continue;
            }
            match groups.iter_mut().find(|(m, _)| *m == open) {
                Some((_, members)) => members.push(i),
                None => groups.push((open, vec![i])),
            }
        }
        groups.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
        let skipped = attackable.len() - groups.iter().map(|(_, g)| g.len()).sum::<usize>();
        progress.advance(skipped as u64);
        let mut batch_index = 0u64;
        'groups: for (open, members) in &groups {
            let threat = if *open == epsilons.len() {
                plan.threat.clone()
            } else {
                ThreatModel::new(plan.threat.norm(), &epsilons[..*open], plan.threat.bounds())?
            };
            for batch in members.chunks(plan.batch_size) {
                if progress.cancelled() {
                    failed = Some(format!(
                        "interrupted by the user during '{}'; the results of finished attacks are kept",
                        attack.name()
                    ));
                    break 'groups;
                }
                // A seed per (attack, batch) makes results independent of what ran before,
                // and lets a resumed run reproduce the batches it did not finish.
                let mut rng = StdRng::seed_from_u64(
                    plan.seed ^ ((attack_index as u64) << 48) ^ batch_index.wrapping_mul(0x9E37_79B9),
                );
                let this_batch = batch_index;
                batch_index += 1;
                let budgets = &epsilons[..*open];
                let restored = checkpoint.and_then(|c| {
                    c.load(attack_index, attack.name(), this_batch, batch, budgets, f)
                });
                let record = match restored {
                    Some(record) => {
                        resumed_batches += 1;
                        record
                    }
                    None => {
                        let x = data.rows(batch);
                        let labels: Vec<i64> = batch.iter().map(|&i| data.labels[i]).collect();
                        let criterion = plan.criterion.subset(batch);
                        let input = AttackInput {
                            model,
                            x: &x,
                            labels: &labels,
                            criterion: &criterion,
                            threat: &threat,
                        };
                        let batch_started = Instant::now();
                        match attack.run(&input, &mut rng) {
                            Ok(outcome) => {
                                consecutive_failures = 0;
                                let record = BatchRecord::from_outcome(
                                    batch,
                                    outcome,
                                    batch_started.elapsed().as_secs_f64(),
                                );
                                if let Some(c) = checkpoint {
                                    c.save(attack_index, attack.name(), this_batch, &record)?;
                                }
                                record
                            }
                            Err(_) if progress.cancelled() => {
                                failed = Some(format!(
                                    "interrupted by the user during '{}'; finished batches are kept \
                                     (rerun with the same output directory to resume)",
                                    attack.name()
                                ));
                                break 'groups;
                            }
                            Err(e) => {
                                // A failed batch (an endpoint down, a model error) is recorded
                                // for its samples and the run goes on; a resumed run retries it.
                                consecutive_failures += 1;
                                for &i in batch {
                                    unattacked[i] = true;
                                }
                                failures.push(format!(
                                    "attack '{}' failed on {} samples (first: #{}): {e}",
                                    attack.name(),
                                    batch.len(),
                                    batch[0]
                                ));
                                progress.advance(batch.len() as u64);
                                if consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
                                    failed = Some(format!(
                                        "attack '{}' stopped after {MAX_CONSECUTIVE_FAILURES} \
                                         failed batches in a row; last error: {e}",
                                        attack.name()
                                    ));
                                    break 'groups;
                                }
                                continue;
                            }
                        }
                    }
                };
                gradient_evals += record.gradient_evals;
                queries += record.queries;
                attack_seconds += record.seconds;
                let m = batch.len();
                for (e, budget) in record.budgets.iter().enumerate() {
                    for (k, &i) in batch.iter().enumerate() {
                        success[e][i] = budget.success[k];
                        predictions[e][i] = budget.predictions[k];
                        perturbation[e][i] = budget.perturbation[k];
                        let row = &record.adversarial[(e * m + k) * f..(e * m + k + 1) * f];
                        adversarial[e][i * f..(i + 1) * f].copy_from_slice(row);
                        if !budget.queries.is_empty() {
                            if sample_queries[e].is_empty() {
                                sample_queries[e] = vec![0; n];
                            }
                            sample_queries[e][i] = budget.queries[k];
                        }
                    }
                }
                progress.advance(batch.len() as u64);
            }
        }
        progress.end();
        errors.append(&mut failures);
        if let Some(message) = failed {
            errors.push(message);
            if progress.cancelled() {
                break;
            }
            continue;
        }
        // Time spent on this attack, including batches restored from a checkpoint.
        let seconds = attack_seconds;
        let unattacked_count = unattacked.iter().filter(|&&u| u).count();
        for (e, &eps) in epsilons.iter().enumerate() {
            for i in 0..n {
                if success[e][i] && broken[e][i].is_none() {
                    broken[e][i] = Some(attack.name().to_string());
                }
            }
            let newly = success[e].iter().filter(|&&s| s).count();
            let robust = if plan.ensemble {
                (0..n).filter(|&i| correct[i] && broken[e][i].is_none()).count()
            } else {
                (0..n).filter(|&i| correct[i] && !success[e][i]).count()
            };
            let broken_count = newly;
            let mean_perturbation = if broken_count > 0 {
                (0..n)
                    .filter(|&i| success[e][i])
                    .map(|i| perturbation[e][i] as f64)
                    .sum::<f64>()
                    / broken_count as f64
            } else {
                0.0
            };
            results.push(AttackResult {
                attack: attack.name().to_string(),
                norm: plan.threat.norm(),
                eps,
                robust_accuracy: robust as f64 / n as f64,
                attack_success_rate: if clean_correct > 0 {
                    broken_count as f64 / clean_correct as f64
                } else {
                    0.0
                },
                mean_perturbation,
                seconds,
                gradient_evals,
                queries,
                sample_queries: std::mem::take(&mut sample_queries[e]),
                unattacked: unattacked_count,
                success: std::mem::take(&mut success[e]),
                predictions: std::mem::take(&mut predictions[e]),
                perturbation: std::mem::take(&mut perturbation[e]),
                adversarial: std::mem::take(&mut adversarial[e]),
            });
        }
    }

    let worst_case = epsilons
        .iter()
        .zip(broken)
        .map(|(&eps, broken_by)| {
            let robust = (0..n).filter(|&i| correct[i] && broken_by[i].is_none()).count();
            WorstCase {
                norm: plan.threat.norm(),
                eps,
                robust_accuracy: robust as f64 / n as f64,
                broken_by,
            }
        })
        .collect();

    Ok(Evaluation {
        samples: n,
        labels: data.labels.clone(),
        clean_inputs: data.inputs.clone(),
        clean_accuracy: clean_correct as f64 / n as f64,
        clean_predictions,
        results,
        worst_case,
        errors,
        resumed_batches,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl BatchRecord {
    /// Keeps what the evaluation needs of one batch's outcome.
    pub fn from_outcome(samples: &[usize], outcome: AttackOutcome, seconds: f64) -> BatchRecord {
        let m = samples.len();
        let f = outcome.per_eps.first().map_or(0, |o| o.adversarial.len() / m.max(1));
        let mut adversarial = Vec::with_capacity(outcome.per_eps.len() * m * f);
        let budgets = outcome
            .per_eps
            .into_iter()
            .map(|o| {
                adversarial.extend_from_slice(&o.adversarial);
                BudgetRecord {
                    eps: o.eps,
                    success: o.success,
                    predictions: o.predictions,
                    perturbation: o.perturbation,
                    queries: o.queries,
                }
            })
            .collect();
        BatchRecord {
            samples: samples.to_vec(),
            budgets,
            gradient_evals: outcome.gradient_evals,
            queries: outcome.queries,
            seconds,
            adversarial,
        }
    }
}
