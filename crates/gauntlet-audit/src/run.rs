//! [`Audit::run`]: load the target and the data, run the plan (resuming from a checkpoint), rerun
//! with BPDA where gradients are blocked, diagnose, write the report and judge the gate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use gauntlet_attacks::spatial::{Picture, SpatialGrid};
use gauntlet_attacks::transfer::Transfer;
use gauntlet_attacks::{by_name, Attack};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::masked::MaskedGradients;
use gauntlet_core::model::Differentiable;
use gauntlet_core::sample_set::SampleSet;
use gauntlet_core::samples::Samples;
use gauntlet_core::threat::ThreatModel;
use gauntlet_eval::diagnostics::{diagnose, Diagnostic};
use gauntlet_eval::{
    run_audit_to, run_spatial, AdversarialStore, AuditPlan, Blocks, Checkpoint, Evaluation,
    Progress, SpatialPlan,
};
use gauntlet_report::{write_report, DataInfo, Manifest, Traffic, Written};
use gauntlet_run::gate::{Gate, Judgement, Verdict};

use crate::rows::rows;
use crate::shard_record::{self, ShardRecord};
use crate::target::Target;
use crate::{Audit, TRANSFER};

/// The attacks of a plan, in run order.
type Attacks = Vec<Box<dyn Attack>>;

/// Everything a finished (or interrupted) audit produced.
pub struct AuditRun {
    /// Per-sample outcomes and their reduction to robust accuracy.
    pub evaluation: Evaluation,
    /// The gradient-masking checks (empty when skipped or interrupted).
    pub diagnostics: Vec<Diagnostic>,
    /// The report files.
    pub written: Written,
    /// The gate's verdict per (attack, norm, ε) row and per worst case, and on the run.
    pub judgement: Judgement,
    /// Gradient-blocking operators found in the model (`(op, node)`); when non-empty and BPDA
    /// was not turned off, the report holds `+bpda` rows.
    pub blockers: Vec<(String, String)>,
    /// Where the checkpoint lives (removed after a complete run).
    pub checkpoint: PathBuf,
}

impl AuditRun {
    /// Pass, fail (a threshold or the baseline check), or incomplete (the run stopped early,
    /// or a threshold matched no result).
    pub fn verdict(&self) -> Verdict {
        self.judgement.verdict()
    }

    /// The process exit code a front end should return: 0 pass, 1 a threshold failed, 2 the
    /// run is incomplete.
    pub fn exit_code(&self) -> u8 {
        self.verdict().code()
    }
}

/// What identifies a run's results: a checkpoint written under another fingerprint is
/// discarded, never mixed in. Built from the checked settings and the content hashes.
#[derive(Serialize)]
struct Fingerprint<'a> {
    gauntlet: &'static str,
    target: &'a str,
    target_sha256: &'a str,
    data_sha256: &'a str,
    samples: usize,
    threat: &'a ThreatModel,
    criterion: &'a Criterion,
    attacks: Vec<serde_json::Value>,
    ensemble: bool,
    batch_size: usize,
    seed: u64,
    surrogate_sha256: Option<String>,
    bpda: bool,
    max_queries: Option<u64>,
}

impl Audit {
    /// Runs the audit and writes its report into `out`. Progress goes to `progress`, which may
    /// also stop the run (finished batches are kept in the checkpoint; a rerun resumes).
    pub fn run(&self, progress: &dyn Progress) -> Result<AuditRun> {
        let config = &self.config;
        let target = Target::load(config, &self.onnx, self.stop.clone())?;
        let model = target.model();
        // A region-confined audit: the threat model carries the mask (the verification removes
        // every change outside it) and gradient attacks see gradients only inside it.
        let (threat, masked) = match &config.mask {
            Some(path) => {
                let mask = crate::mask::load_mask(path, model.sample_shape())?;
                let threat = self.threat.clone().with_mask(mask.clone())?;
                (threat, Some(MaskedGradients::new(model, mask)))
            }
            None => (self.threat.clone(), None),
        };
        let model: &dyn Differentiable = match &masked {
            Some(m) => m,
            None => model,
        };
        // The spatial stage needs pictures: refuse any other input before the attacks run.
        if self.spatial.is_some() {
            Picture::from_sample_shape(model.sample_shape())
                .map_err(|e| anyhow!("`spatial`: {e}"))?;
        }
        let inputs = config.inputs.as_ref().expect("checked");
        let labels = config.labels.as_ref().expect("checked");
        // Uncompressed inputs stay on disk and are read a batch at a time (memory is bounded
        // by the batch, not the data set).
        let mut data = SampleSet::open(inputs, labels)?;
        // A channels-last model's data comes in its own layout; gauntlet works channels first.
        let model_layout = target.info.layout;
        if data.sample_shape() == model_layout.from_channels_first(model.sample_shape()) {
            data = data.into_channels_first(model_layout);
        }
        if let Some(n) = config.samples {
            data.truncate(n);
        }
        // A shard runs whole blocks of the samples; the rest belong to other shards.
        let total = data.len();
        let own = self.shard.samples(total, config.batch_size);
        if own.is_empty() {
            bail!(
                "`shard` {} has no samples: {total} samples make only {} blocks of `batch_size` \
                 {}; use at most that many shards (or a smaller `batch_size`)",
                self.shard,
                total.div_ceil(config.batch_size.max(1)),
                config.batch_size
            );
        }
        if !self.shard.is_whole() {
            data = data.subset(&own);
        }
        let criterion = match config.target_class {
            Some(t) if t as usize >= model.num_classes() => {
                bail!(
                    "`target_class` {t} is out of range for a model with {} classes",
                    model.num_classes()
                )
            }
            Some(t) => Criterion::Targeted(vec![t; data.len()]),
            None => Criterion::Untargeted,
        };
        let (attacks, surrogate_sha256) = self.build_attacks()?;
        let plan = AuditPlan {
            attacks,
            threat: threat.clone(),
            criterion: criterion.clone(),
            batch_size: config.batch_size,
            seed: config.seed,
            ensemble: self.ensemble,
            blocks: Blocks {
                global: (!self.shard.is_whole()).then(|| own.clone()),
                restore_only: self.restore_only,
            },
        };
        plan.validate()?;
        for attack in &plan.attacks {
            attack.check_target(model)?;
        }
        eval_data_check(model, &data, &plan)?;

        let blockers = target.blockers();
        let bpda = !blockers.is_empty() && !config.no_bpda;
        let fingerprint = Fingerprint {
            gauntlet: env!("CARGO_PKG_VERSION"),
            target: &target.info.path,
            target_sha256: &target.info.sha256,
            data_sha256: data.sha256(),
            samples: total,
            threat: &threat,
            criterion: &criterion,
            attacks: plan.attacks.iter().map(|a| a.describe()).collect(),
            ensemble: self.ensemble,
            batch_size: config.batch_size,
            seed: config.seed,
            surrogate_sha256,
            bpda,
            max_queries: config.max_queries,
        };
        // The whole run's fingerprint: every shard of one run has the same, and merging
        // checks it. A shard's checkpoint also names the shard, so another shard's never
        // resumes in its folder.
        let run_fingerprint = serde_json::to_string_pretty(&fingerprint)
            .context("cannot serialize the run's fingerprint")?;
        let checkpoint_dir = config.out.join("checkpoint");
        let fingerprint = if self.shard.is_whole() {
            run_fingerprint.clone()
        } else {
            format!("{run_fingerprint}\nshard {}", self.shard)
        };
        if self.restore_only {
            shard_record::check_fingerprint(&checkpoint_dir, &run_fingerprint)?;
        }
        let checkpoint = Checkpoint::open(&checkpoint_dir, &fingerprint, config.fresh)?;

        // Adversarial rows go into the report's files as batches finish.
        let adversarial_dir = config.out.join("adversarial");
        std::fs::create_dir_all(&adversarial_dir).with_context(|| {
            format!(
                "cannot create the directory '{}'",
                adversarial_dir.display()
            )
        })?;
        let store = AdversarialStore::new(&adversarial_dir, model_layout, model.sample_shape());
        let mut evaluation = run_audit_to(
            model,
            &data,
            &plan,
            progress,
            Some(&checkpoint),
            Some(&store),
        )?;
        // Gradient-blocking operators (input quantization, Sign, …) mask gradients: rerun the
        // attacks with BPDA and keep the worst case over both runs.
        let bpda = bpda && !progress.cancelled();
        if bpda {
            if let Some(bpda_model) = target.with_bpda(&self.onnx)? {
                let rerun = run_audit_to(
                    &bpda_model,
                    &data,
                    &plan,
                    progress,
                    Some(&checkpoint.nested("bpda")?),
                    Some(&store.with_suffix("+bpda")),
                )?;
                evaluation = evaluation.combine(rerun, "+bpda");
            }
        }
        if let Some(grid) = self.spatial {
            let journal = checkpoint.dir().join("spatial.jsonl");
            self.run_spatial_stage(
                model,
                &data,
                &threat,
                &criterion,
                grid,
                &journal,
                &mut evaluation,
                progress,
            )?;
        }
        let diagnostics = if config.no_diagnostics || progress.cancelled() {
            Vec::new()
        } else {
            diagnose(model, &data, &plan, &evaluation, &blockers, bpda)?
        };

        let manifest = self.manifest(&target, &data, &criterion, &plan);
        std::fs::create_dir_all(&config.out).with_context(|| {
            format!(
                "cannot create the output directory '{}'",
                config.out.display()
            )
        })?;
        let written = write_report(
            &config.out,
            &evaluation,
            &data,
            &manifest,
            &diagnostics,
            model.sample_shape(),
        )?;
        let complete = evaluation.errors.is_empty();
        // The gate judges the whole run: a shard's own report covers only its part, so only
        // whether it finished counts (the thresholds apply to the merged report).
        let no_thresholds = Gate::new(Vec::new(), None);
        let gate = if self.shard.is_whole() {
            &self.gate
        } else {
            shard_record::write_shard_record(
                &config.out,
                &ShardRecord {
                    shard: self.shard,
                    run_fingerprint,
                    samples: total,
                    batch_size: config.batch_size,
                    complete,
                    config: config.clone(),
                },
            )?;
            &no_thresholds
        };
        if complete && self.shard.is_whole() {
            // Complete and reported: nothing to resume, and the next run measures afresh. A
            // shard keeps its checkpoint: it is what `gauntlet merge` reads.
            checkpoint.finish()?;
        }

        let judgement = gate.judge(&rows(&evaluation), complete);
        if let Some(path) = &config.junit {
            let xml = gauntlet_run::gate::junit(&judgement, "gauntlet", evaluation.seconds);
            gauntlet_run::fs::write_atomic(path, xml.as_bytes()).with_context(|| {
                format!(
                    "cannot write the JUnit file '{}'; check the directory exists",
                    path.display()
                )
            })?;
        }
        Ok(AuditRun {
            evaluation,
            diagnostics,
            written,
            judgement,
            blockers,
            checkpoint: checkpoint_dir,
        })
    }

    /// Engstrom et al.'s grid search and random baselines after the Lp attacks, verified by
    /// re-applying each recorded transformation (`gauntlet_eval::spatial`). Finished samples
    /// go into `journal` (in the checkpoint); a stop before or during the stage leaves the run
    /// incomplete, so the checkpoint is kept and a rerun searches only what is left.
    #[allow(clippy::too_many_arguments)]
    fn run_spatial_stage(
        &self,
        model: &dyn Differentiable,
        data: &dyn Samples,
        threat: &ThreatModel,
        criterion: &Criterion,
        grid: SpatialGrid,
        journal: &Path,
        evaluation: &mut Evaluation,
        progress: &dyn Progress,
    ) -> Result<()> {
        const STOPPED: &str = "the spatial stage was stopped before every sample was searched; \
                               rerun the same command to finish it (the samples done are kept)";
        if progress.cancelled() {
            evaluation.errors.push(STOPPED.into());
            return Ok(());
        }
        let plan = SpatialPlan {
            grid,
            random_draws: self.config.spatial_random_draws,
            rows_per_pass: self.config.batch_size,
            seed: self.config.seed,
            fill: threat.bounds().min,
        };
        let spatial = run_spatial(
            model,
            data,
            &evaluation.clean_predictions,
            criterion,
            &plan,
            progress,
            Some(journal),
        )?;
        if !spatial.complete {
            evaluation.errors.push(STOPPED.into());
        }
        evaluation.spatial = Some(spatial);
        Ok(())
    }

    /// The attacks, built; a transfer attack crafts on the loaded surrogate. Also returns the
    /// surrogate's hash for the fingerprint.
    fn build_attacks(&self) -> Result<(Attacks, Option<String>)> {
        let surrogate = self
            .config
            .surrogate
            .as_ref()
            .map(|path| self.onnx.load(path))
            .transpose()?;
        let sha256 = surrogate.as_ref().map(|m| m.sha256().to_string());
        let surrogate: Option<Arc<dyn Differentiable>> =
            surrogate.map(|m| Arc::new(m) as Arc<dyn Differentiable>);
        let mut attacks: Vec<Box<dyn Attack>> = Vec::new();
        for name in &self.attacks {
            attacks.push(match (name.strip_prefix(TRANSFER), &surrogate) {
                (Some(inner), Some(model)) => Box::new(Transfer::new(
                    model.clone(),
                    by_name(inner, &self.settings)?,
                )?),
                (Some(_), None) => unreachable!("checked: transfer attacks come with a surrogate"),
                (None, _) => by_name(name, &self.settings)?,
            });
        }
        Ok((attacks, sha256))
    }

    fn manifest(
        &self,
        target: &Target,
        data: &dyn Samples,
        criterion: &Criterion,
        plan: &AuditPlan,
    ) -> Manifest {
        let config = &self.config;
        Manifest {
            gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
            command: self.command.clone(),
            seed: config.seed,
            model: target.info.clone(),
            data: DataInfo {
                inputs: config
                    .inputs
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                labels: config
                    .labels
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                sha256: data.sha256().to_string(),
            },
            threat_model: plan.threat.clone(),
            criterion: match criterion {
                Criterion::Untargeted => "untargeted".into(),
                Criterion::Targeted(t) => {
                    format!("targeted (class {})", t.first().copied().unwrap_or(0))
                }
            },
            attacks: self.attacks.clone(),
            attack_parameters: plan.attacks.iter().map(|a| a.describe()).collect(),
            ensemble: self.ensemble,
            steps: config.steps,
            restarts: config.restarts,
            batch_size: config.batch_size,
            versions: crate::versions(),
            traffic: target.traffic().map(|stats| Traffic {
                sent: stats.sent,
                cached: stats.cached,
                cache_hits: stats.hits,
                cache_misses: stats.misses,
                cache_hit_rate: stats.hit_rate(),
                cache_evictions: stats.evictions,
                cache_bytes: stats.cache_bytes,
                cache_limit_bytes: stats.cache_limit,
            }),
        }
    }
}

/// The same check the evaluation makes, before a checkpoint directory is created: data shape,
/// labels and value range must fit the model and the box.
fn eval_data_check(model: &dyn Differentiable, data: &dyn Samples, plan: &AuditPlan) -> Result<()> {
    gauntlet_eval::check_data(model, data, &plan.threat)?;
    Ok(())
}
