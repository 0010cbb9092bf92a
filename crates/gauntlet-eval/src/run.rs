//! Running a plan, in stages: check the data against the model, predict the clean inputs,
//! group the samples each attack still has to work on, run the attack batch by batch (with the
//! checkpoint), and reduce the per-sample outcomes to robust accuracy.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_attacks::{Attack, AttackInput};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Differentiable};
use gauntlet_core::samples::Samples;
use gauntlet_core::tensor::from_rows;
use gauntlet_core::threat::ThreatModel;
use gauntlet_core::{Error, Result};

use crate::checkpoint::{BatchRecord, BudgetRecord, Checkpoint};
use crate::{
    AdversarialRows, AdversarialStore, AttackResult, AuditPlan, Evaluation, Progress, WorstCase,
};

/// An attack stops after this many failed batches in a row (a target that is down for good).
pub const MAX_CONSECUTIVE_FAILURES: usize = 3;

/// Runs the plan on the data set.
pub fn run_audit(
    model: &dyn Differentiable,
    data: &dyn Samples,
    plan: &AuditPlan,
    progress: &dyn Progress,
) -> Result<Evaluation> {
    run_audit_with(model, data, plan, progress, None)
}

/// Checks that the data fit the model and the threat model: sample shape, labels within the
/// model's classes, values inside the valid box.
pub fn check_data(
    model: &dyn Differentiable,
    data: &dyn Samples,
    threat: &ThreatModel,
) -> Result<()> {
    if data.features() != model.features() {
        return Err(Error::Data(format!(
            "samples have shape {:?} ({} values) but the model expects {:?} ({} values); export \
             the data in the model's input layout (N×C×H×W), or give the model's per-sample \
             input shape if its file does not declare one",
            data.sample_shape(),
            data.features(),
            model.sample_shape(),
            model.features()
        )));
    }
    let classes = model.num_classes() as i64;
    if let Some(bad) = data.labels().iter().find(|&&l| l >= classes) {
        return Err(Error::Data(format!(
            "label {bad} is out of range for a model with {classes} classes; labels must be 0…{}",
            classes - 1
        )));
    }
    let (lo, hi) = data.value_range();
    let b = threat.bounds();
    if lo < b.min - 1e-6 || hi > b.max + 1e-6 {
        return Err(Error::Data(format!(
            "input values span [{lo}, {hi}], outside the valid box [{}, {}]; give raw inputs in \
             the box and the model's normalization (mean/std) separately, or widen the bounds",
            b.min, b.max
        )));
    }
    Ok(())
}

/// Runs the plan, writing every finished batch to `checkpoint` and restoring the batches an
/// earlier, interrupted run of the same plan finished.
pub fn run_audit_with(
    model: &dyn Differentiable,
    data: &dyn Samples,
    plan: &AuditPlan,
    progress: &dyn Progress,
    checkpoint: Option<&Checkpoint>,
) -> Result<Evaluation> {
    run_audit_to(model, data, plan, progress, checkpoint, None)
}

/// [`run_audit_with`], streaming every attack's adversarial rows into `store`'s files as its
/// batches finish or are restored (with no store they stay in memory): memory then holds a
/// batch's rows per (attack, budget), not the data set's.
pub fn run_audit_to(
    model: &dyn Differentiable,
    data: &dyn Samples,
    plan: &AuditPlan,
    progress: &dyn Progress,
    checkpoint: Option<&Checkpoint>,
    store: Option<&AdversarialStore>,
) -> Result<Evaluation> {
    plan.validate()?;
    for attack in &plan.attacks {
        attack.check_target(model)?;
    }
    check_data(model, data, &plan.threat)?;
    if let Criterion::Targeted(t) = &plan.criterion {
        if t.len() != data.len() {
            return Err(Error::Parameter(format!(
                "a targeted criterion needs one target class per sample ({} given for {} samples)",
                t.len(),
                data.len()
            )));
        }
    }
    let started = Instant::now();
    let n = data.len();
    let clean_predictions = clean_predictions(model, data, plan, checkpoint)?;
    let correct: Vec<bool> = (0..n)
        .map(|i| clean_predictions[i] == data.labels()[i])
        .collect();
    // Samples the attacks work on: correctly classified (and, when targeted, not already of
    // the target class). The rest exit early.
    let attackable: Vec<usize> = (0..n)
        .filter(|&i| {
            correct[i]
                && match &plan.criterion {
                    Criterion::Targeted(t) => t[i] != data.labels()[i],
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
        let batches = open_batches(&attackable, &broken, plan);
        let run = AttackRun {
            model,
            data,
            plan,
            attack: attack.as_ref(),
            attack_index,
            checkpoint,
            progress,
            store,
        };
        let mut state = run.run(&batches, attackable.len(), &clean_predictions)?;
        resumed_batches += state.resumed_batches;
        errors.append(&mut state.failures);
        if let Some(message) = state.stopped.take() {
            errors.push(message);
            if progress.cancelled() {
                break;
            }
            continue;
        }
        results.extend(reduce_attack(
            attack.name(),
            plan,
            &correct,
            &mut broken,
            state,
        ));
    }

    let worst_case = epsilons
        .iter()
        .zip(broken)
        .map(|(&eps, broken_by)| WorstCase {
            norm: plan.threat.norm(),
            eps,
            robust_accuracy: share(&correct, |i| broken_by[i].is_none()),
            broken_by,
        })
        .collect();
    Ok(Evaluation {
        samples: n,
        labels: data.labels().to_vec(),
        features: data.features(),
        clean_accuracy: correct.iter().filter(|&&c| c).count() as f64 / n as f64,
        clean_predictions,
        results,
        worst_case,
        errors,
        resumed_batches,
        seconds: started.elapsed().as_secs_f64(),
        spatial: None,
    })
}

/// Stage 1: clean predictions, batched by blocks (restored when a checkpoint has them: on a
/// remote target they cost queries).
fn clean_predictions(
    model: &dyn Differentiable,
    data: &dyn Samples,
    plan: &AuditPlan,
    checkpoint: Option<&Checkpoint>,
) -> Result<Vec<i64>> {
    let n = data.len();
    if let Some(p) = checkpoint.and_then(|c| c.load_clean(n)) {
        return Ok(p);
    }
    if plan.blocks.restore_only {
        return Err(Error::Data(
            "the shards hold no clean predictions for this run; merge the output folders of \
             finished shards"
                .into(),
        ));
    }
    // A shard holds whole blocks of `batch_size` and only the last may be short, so these
    // batches are the whole run's blocks.
    let batch_size = plan.batch_size;
    let f = data.features();
    let device = compute_device();
    let mut predictions = Vec::with_capacity(n);
    for start in (0..n).step_by(batch_size) {
        let end = (start + batch_size).min(n);
        let rows = data.read_range(start, end)?;
        predictions.extend(predict(model, from_rows(rows, end - start, f, &device))?);
    }
    if let Some(c) = checkpoint {
        c.save_clean(&predictions)?;
    }
    Ok(predictions)
}

/// One batch of an attack: samples of one block with the same number of open budgets.
struct Batch {
    /// Names the batch's seed and checkpoint record: its block and open budgets, the same in a
    /// shard as in the whole run.
    id: u64,
    /// Budgets still open for its samples (the smallest `open`).
    open: usize,
    /// The samples, indices into the data set.
    members: Vec<usize>,
}

/// Stage 2: the batches an attack runs. Samples it still has to work on are taken block by
/// block (see [`crate::Blocks`]) and grouped by how many budgets are open for them (largest
/// first). In an ensemble a sample already broken at budget e is broken at every larger one,
/// so what is left is a prefix of the budgets.
fn open_batches(
    attackable: &[usize],
    broken: &[Vec<Option<String>>],
    plan: &AuditPlan,
) -> Vec<Batch> {
    let budgets = broken.len();
    // Keyed by id: block first, then largest open first (ids ascend with fewer open budgets).
    let mut batches: BTreeMap<u64, Batch> = BTreeMap::new();
    for &i in attackable {
        let open = if plan.ensemble {
            (0..budgets).take_while(|&e| broken[e][i].is_none()).count()
        } else {
            budgets
        };
        if open == 0 {
            continue;
        }
        let block = plan.blocks.global(i) / plan.batch_size;
        let id = (block * budgets + (budgets - open)) as u64;
        batches
            .entry(id)
            .or_insert_with(|| Batch {
                id,
                open,
                members: Vec::new(),
            })
            .members
            .push(i);
    }
    batches.into_values().collect()
}

/// One attack's run over the data set.
struct AttackRun<'a> {
    model: &'a dyn Differentiable,
    data: &'a dyn Samples,
    plan: &'a AuditPlan,
    attack: &'a dyn Attack,
    attack_index: usize,
    checkpoint: Option<&'a Checkpoint>,
    progress: &'a dyn Progress,
    store: Option<&'a AdversarialStore>,
}

/// What an attack produced over all samples, per budget.
struct AttackState {
    success: Vec<Vec<bool>>,
    predictions: Vec<Vec<i64>>,
    perturbation: Vec<Vec<f32>>,
    adversarial: Vec<AdversarialRows>,
    sample_queries: Vec<Vec<u64>>,
    gradient_evals: u64,
    queries: u64,
    seconds: f64,
    unattacked: Vec<bool>,
    failures: Vec<String>,
    resumed_batches: usize,
    /// Why the attack stopped before finishing (interrupted, or too many failures).
    stopped: Option<String>,
}

impl AttackState {
    /// Nothing attacked yet: clean predictions and clean rows (in `store`'s files, when
    /// streamed) at every budget of `threat`.
    fn new(
        attack: &str,
        threat: &ThreatModel,
        data: &dyn Samples,
        clean_predictions: &[i64],
        store: Option<&AdversarialStore>,
    ) -> Result<Self> {
        let n = data.len();
        let budgets = threat.epsilons().len();
        let adversarial = threat
            .epsilons()
            .iter()
            .map(|&eps| match store {
                Some(store) => store.open(attack, threat.norm(), eps, data),
                None => Ok(AdversarialRows::Memory(data.read_range(0, n)?)),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AttackState {
            success: vec![vec![false; n]; budgets],
            predictions: vec![clean_predictions.to_vec(); budgets],
            perturbation: vec![vec![0f32; n]; budgets],
            adversarial,
            sample_queries: vec![Vec::new(); budgets],
            gradient_evals: 0,
            queries: 0,
            seconds: 0.0,
            unattacked: vec![false; n],
            failures: Vec::new(),
            resumed_batches: 0,
            stopped: None,
        })
    }

    /// Copies one batch's record into the per-sample arrays (its rows into their place);
    /// `members` are the data set's indices of the record's samples (the record names them in
    /// the whole run).
    fn absorb(&mut self, record: &BatchRecord, members: &[usize], features: usize) -> Result<()> {
        self.gradient_evals += record.gradient_evals;
        self.queries += record.queries;
        self.seconds += record.seconds;
        let (m, f, n) = (record.samples.len(), features, self.unattacked.len());
        for (e, budget) in record.budgets.iter().enumerate() {
            for (k, &i) in members.iter().enumerate() {
                self.success[e][i] = budget.success[k];
                self.predictions[e][i] = budget.predictions[k];
                self.perturbation[e][i] = budget.perturbation[k];
                let row = &record.adversarial[(e * m + k) * f..(e * m + k + 1) * f];
                self.adversarial[e].write_row(i, row)?;
                if !budget.queries.is_empty() {
                    if self.sample_queries[e].is_empty() {
                        self.sample_queries[e] = vec![0; n];
                    }
                    self.sample_queries[e][i] = budget.queries[k];
                }
            }
        }
        Ok(())
    }
}

impl AttackRun<'_> {
    /// Stage 3: the attack over its batches. Failed batches are recorded and the run goes on,
    /// until [`MAX_CONSECUTIVE_FAILURES`] in a row or a cancellation.
    fn run(
        &self,
        batches: &[Batch],
        attackable: usize,
        clean_predictions: &[i64],
    ) -> Result<AttackState> {
        let epsilons = self.plan.threat.epsilons();
        let name = self.attack.name();
        let features = self.data.features();
        let mut state = AttackState::new(
            name,
            &self.plan.threat,
            self.data,
            clean_predictions,
            self.store,
        )?;
        self.progress.begin(name, attackable as u64);
        let skipped = attackable - batches.iter().map(|b| b.members.len()).sum::<usize>();
        self.progress.advance(skipped as u64);
        let mut consecutive_failures = 0usize;
        for batch in batches {
            if self.progress.cancelled() {
                state.stopped = Some(format!(
                    "interrupted by the user during '{name}'; the results of finished attacks are kept"
                ));
                break;
            }
            let members = &batch.members;
            let open = &epsilons[..batch.open];
            // Records name samples by their index in the whole run, so shards' records merge.
            let global: Vec<usize> = members
                .iter()
                .map(|&i| self.plan.blocks.global(i))
                .collect();
            let restored = self
                .checkpoint
                .and_then(|c| c.load(self.attack_index, name, batch.id, &global, open, features));
            if let Some(record) = restored {
                // A restored batch succeeded when it ran: it ends a run of failures, as it
                // did then (otherwise a resumed run could stop an attack the first finished).
                consecutive_failures = 0;
                state.resumed_batches += 1;
                state.absorb(&record, members, features)?;
                self.progress.advance(members.len() as u64);
                continue;
            }
            if self.plan.blocks.restore_only {
                return Err(Error::Data(format!(
                    "no shard holds attack '{name}' on samples {}…{} (batch {}); rerun the shard \
                     that owns them with the same command to finish it, then merge again",
                    global[0],
                    global[global.len() - 1],
                    batch.id
                )));
            }
            let threat = self.plan.threat.with_epsilons(open)?;
            match self.run_batch(members, batch.id, &threat) {
                Ok(mut record) => {
                    consecutive_failures = 0;
                    if let Some(c) = self.checkpoint {
                        record.samples = global;
                        c.save(self.attack_index, name, batch.id, &record)?;
                    }
                    state.absorb(&record, members, features)?;
                }
                Err(_) if self.progress.cancelled() => {
                    state.stopped = Some(format!(
                        "interrupted by the user during '{name}'; finished batches are kept (rerun \
                         with the same output directory to resume)"
                    ));
                    break;
                }
                Err(e) => {
                    // A failed batch (an endpoint down, a model error) is recorded for its
                    // samples and the run goes on; a resumed run retries it.
                    consecutive_failures += 1;
                    for &i in members {
                        state.unattacked[i] = true;
                    }
                    state.failures.push(format!(
                        "attack '{name}' failed on {} samples (first: #{}): {e}",
                        members.len(),
                        global[0]
                    ));
                    if consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
                        self.progress.advance(members.len() as u64);
                        state.stopped = Some(format!(
                            "attack '{name}' stopped after {MAX_CONSECUTIVE_FAILURES} failed batches in a \
                             row; last error: {e}"
                        ));
                        break;
                    }
                }
            }
            self.progress.advance(members.len() as u64);
        }
        self.progress.end();
        Ok(state)
    }

    /// One batch: the attack on the samples `batch` at the budgets of `threat`.
    fn run_batch(
        &self,
        batch: &[usize],
        batch_index: u64,
        threat: &ThreatModel,
    ) -> Result<BatchRecord> {
        // A seed per (attack, batch) makes results independent of what ran before, lets a
        // resumed run reproduce the batches it did not finish, and a shard the whole run's.
        let mut rng = StdRng::seed_from_u64(
            self.plan.seed
                ^ ((self.attack_index as u64) << 48)
                ^ batch_index.wrapping_mul(0x9E37_79B9),
        );
        let x = self.data.read_rows(batch)?;
        let labels: Vec<i64> = batch.iter().map(|&i| self.data.labels()[i]).collect();
        let criterion = self.plan.criterion.subset(batch);
        let input = AttackInput::new(self.model, &x, &labels, &criterion, threat)?;
        let started = Instant::now();
        let outcome = self.attack.run(&input, &mut rng)?;
        Ok(BatchRecord::from_outcome(
            batch,
            outcome,
            started.elapsed().as_secs_f64(),
        ))
    }
}

/// The share of all samples that are clean-correct and satisfy `robust`.
fn share(correct: &[bool], robust: impl Fn(usize) -> bool) -> f64 {
    let n = correct.len();
    (0..n).filter(|&i| correct[i] && robust(i)).count() as f64 / n as f64
}

/// Stage 4: one attack's per-sample outcomes reduced to a result per budget; `broken` records
/// the samples it broke first.
fn reduce_attack(
    name: &str,
    plan: &AuditPlan,
    correct: &[bool],
    broken: &mut [Vec<Option<String>>],
    mut state: AttackState,
) -> Vec<AttackResult> {
    let n = correct.len();
    let clean_correct = correct.iter().filter(|&&c| c).count();
    let unattacked = state.unattacked.iter().filter(|&&u| u).count();
    let mut adversarial = std::mem::take(&mut state.adversarial).into_iter();
    let mut results = Vec::new();
    for (e, &eps) in plan.threat.epsilons().iter().enumerate() {
        for (slot, &hit) in broken[e].iter_mut().zip(&state.success[e]) {
            if hit && slot.is_none() {
                *slot = Some(name.to_string());
            }
        }
        let success = std::mem::take(&mut state.success[e]);
        let broken_count = success.iter().filter(|&&s| s).count();
        // In an ensemble a row reports robust accuracy after this attack and every earlier one.
        let robust_accuracy = if plan.ensemble {
            share(correct, |i| broken[e][i].is_none())
        } else {
            share(correct, |i| !success[i])
        };
        let perturbation = std::mem::take(&mut state.perturbation[e]);
        let mean_perturbation = if broken_count > 0 {
            (0..n)
                .filter(|&i| success[i])
                .map(|i| perturbation[i] as f64)
                .sum::<f64>()
                / broken_count as f64
        } else {
            0.0
        };
        results.push(AttackResult {
            attack: name.to_string(),
            norm: plan.threat.norm(),
            eps,
            robust_accuracy,
            attack_success_rate: if clean_correct > 0 {
                broken_count as f64 / clean_correct as f64
            } else {
                0.0
            },
            mean_perturbation,
            seconds: state.seconds,
            gradient_evals: state.gradient_evals,
            queries: state.queries,
            sample_queries: std::mem::take(&mut state.sample_queries[e]),
            unattacked,
            success,
            predictions: std::mem::take(&mut state.predictions[e]),
            perturbation,
            adversarial: adversarial.next().unwrap_or_default(),
        });
    }
    results
}

impl BatchRecord {
    /// Keeps what the evaluation needs of one batch's outcome.
    pub fn from_outcome(
        samples: &[usize],
        outcome: gauntlet_attacks::AttackOutcome,
        seconds: f64,
    ) -> BatchRecord {
        let m = samples.len();
        let f = outcome
            .per_eps
            .first()
            .map_or(0, |o| o.adversarial.len() / m.max(1));
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
