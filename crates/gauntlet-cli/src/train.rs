//! `gauntlet train` and `gauntlet harden`: flags → the library's [`TrainJob`] (and, for
//! `harden`, the library audit of the original and the hardened model) → the terminal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use gauntlet_audit::{AuditConfig, Silent};
use gauntlet_core::threat::{decimal, Bounds, Norm};
use gauntlet_report::hardening::{write_hardening_report, EpochPoint, HardeningReport};
use gauntlet_train::{Method, OptimizerKind, Schedule, Status, TrainJob, TrainSettings};

use crate::progress::{interrupted, Bar};

/// Flags shared by `train` and `harden`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The ONNX model to train: its graph is kept, its weights are trained.
    #[arg(long)]
    pub model: PathBuf,
    /// Training inputs (.npy float32 in [0, 1] or uint8, or MNIST IDX, .gz allowed).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Training labels (.npy integers or MNIST IDX).
    #[arg(long)]
    pub labels: PathBuf,
    /// A separate held-out set for the per-epoch check and the audits (inputs).
    #[arg(long, requires = "eval_labels")]
    pub eval_inputs: Option<PathBuf>,
    /// Labels of --eval-inputs.
    #[arg(long, requires = "eval_inputs")]
    pub eval_labels: Option<PathBuf>,
    /// Held-out samples: without --eval-inputs the last N training samples are set aside
    /// [10 %, at most 1000]; with it, its first N [all].
    #[arg(long)]
    pub holdout: Option<usize>,
    /// Train on only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Shape of one sample when the model's input dimensions are symbolic, e.g. 3,32,32.
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Base learning rate [adam/adamw 1e-3; sgd/nesterov 0.05].
    #[arg(long)]
    pub lr: Option<f32>,
    /// sgd, nesterov, adam or adamw.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Weight decay [sgd 5e-4, adamw 0.01, adam 0].
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// constant, step[:EVERY:GAMMA], cosine or one-cycle[:PEAK] [one-cycle for fast-at,
    /// cosine otherwise].
    #[arg(long)]
    pub schedule: Option<String>,
    /// Start from fresh weights (Kaiming/Glorot) instead of the file's.
    #[arg(long)]
    pub from_scratch: bool,
    /// Seed of initialization, shuffling, random starts, noise and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Discard a checkpoint in --out instead of resuming it.
    #[arg(long)]
    pub fresh: bool,
    /// No progress bar or epoch lines.
    #[arg(long)]
    pub quiet: bool,
    /// Output folder: model.onnx, training.json (and the reports for harden).
    #[arg(long)]
    pub out: PathBuf,
}

/// Flags of `harden`.
#[derive(Args, Debug, Clone)]
pub struct HardenArgs {
    /// fast-at, pgd-at, trades or gaussian.
    #[arg(long)]
    pub method: String,
    /// Adversarial budget (fast-at, pgd-at, trades).
    #[arg(long)]
    pub eps: Option<f32>,
    /// Noise level (gaussian).
    #[arg(long)]
    pub sigma: Option<f32>,
    /// Norm of the adversarial ball: linf or l2.
    #[arg(long, default_value = "linf")]
    pub norm: String,
    /// Inner steps [pgd-at, trades: 10].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Inner step size [fast-at 1.25·ε, ε/2 with --start previous; pgd-at 2.5·ε/steps;
    /// trades ε/4].
    #[arg(long)]
    pub step_size: Option<f32>,
    /// TRADES' robustness weight [6].
    #[arg(long)]
    pub beta: Option<f32>,
    /// fast-at: where each sample's FGSM step starts: random (a fresh point of the ball, Wong
    /// et al. 2020) or previous (where its perturbation ended in the previous epoch, so the
    /// steps accumulate across epochs at one gradient per batch) [random].
    #[arg(long)]
    pub start: Option<String>,
    /// Epochs over which ε grows linearly from 0 (0: the full budget from the start).
    #[arg(long, default_value_t = 0.0)]
    pub eps_warmup: f32,
    /// PGD steps of the per-epoch held-out check (0: none).
    #[arg(long, default_value_t = 10)]
    pub eval_steps: usize,
    /// Stop when held-out PGD accuracy falls this far below its best (catastrophic
    /// overfitting) and keep the best epoch.
    #[arg(long, default_value_t = 0.2)]
    pub collapse_drop: f32,
    /// Attacks of the before/after audit.
    #[arg(long, default_value = "pgd")]
    pub audit_attacks: String,
    /// Budgets of the before/after audit [ε/4, ε/2, 3ε/4, ε; σ multiples for gaussian].
    #[arg(long, value_delimiter = ',')]
    pub audit_eps: Option<Vec<f64>>,
    /// Held-out samples the before/after audit attacks.
    #[arg(long, default_value_t = 500)]
    pub audit_samples: usize,
    /// Skip the before/after audit.
    #[arg(long)]
    pub no_audit: bool,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// `gauntlet train`: plain training (cross-entropy), no audit.
pub fn run_train(args: TrainArgs) -> Result<ExitCode> {
    let settings = settings(&args, Method::Plain, Norm::Linf, 0, 0.2, 0.0)?;
    let outcome = train(&args, settings)?;
    finish(&args, &outcome)
}

/// `gauntlet harden`: adversarial (or noise) training, then the same audit of the original
/// and the hardened model.
pub fn run_harden(args: HardenArgs) -> Result<ExitCode> {
    let method = Method::parse(
        &args.method,
        args.eps,
        args.sigma,
        args.steps,
        args.step_size,
        args.beta,
        args.start.as_deref(),
    )?;
    let norm: Norm = args
        .norm
        .parse()
        .map_err(|e| anyhow::anyhow!("--norm: {e}"))?;
    if norm == Norm::L1 {
        bail!("--norm l1 is not supported for training; use linf or l2");
    }
    let settings = settings(
        &args.train,
        method,
        norm,
        args.eval_steps,
        args.collapse_drop,
        args.eps_warmup,
    )?;
    let outcome = train(&args.train, settings.clone())?;
    let Some(hardened) = outcome.model.clone() else {
        return finish(&args.train, &outcome);
    };
    let (before, after) = if args.no_audit {
        (None, None)
    } else {
        let eps = match &args.audit_eps {
            Some(e) => e.clone(),
            None => {
                let scale = decimal(method.eps().or(args.sigma).unwrap_or(0.1));
                let round = |v: f64| (v * 1e6).round() / 1e6;
                vec![
                    round(0.25 * scale),
                    round(0.5 * scale),
                    round(0.75 * scale),
                    scale,
                ]
            }
        };
        let audit = |model: &Path, name: &str| -> Result<gauntlet_audit::AuditRun> {
            if !args.train.quiet {
                eprintln!(
                    "auditing the {name} model ({}, ε {eps:?})",
                    args.audit_attacks
                );
            }
            let mut config = AuditConfig::new(
                model,
                &outcome.holdout_files.0,
                &outcome.holdout_files.1,
                &eps,
            );
            config.norm = norm.to_string();
            config.attacks = args.audit_attacks.as_str().into();
            config.samples = Some(args.audit_samples);
            config.seed = args.train.seed;
            config.input_shape = args
                .train
                .input_shape
                .as_ref()
                .map(|s| gauntlet_audit::List::Numbers(s.iter().map(|&d| d as f64).collect()));
            config.out = args.train.out.join(format!("audit-{name}"));
            config.fresh = true;
            config.quiet = true;
            config
                .check()
                .with_context(|| format!("auditing the {name} model"))?
                .run(&Silent)
                .with_context(|| format!("auditing the {name} model"))
        };
        (
            Some(audit(&args.train.model, "original")?),
            Some(audit(&hardened, "hardened")?),
        )
    };
    let epochs: Vec<EpochPoint> = outcome
        .history
        .iter()
        .map(|e| EpochPoint {
            epoch: e.epoch,
            loss: f64::from(e.loss),
            train_accuracy: f64::from(e.train_accuracy),
            clean_accuracy: f64::from(e.clean_accuracy),
            robust_accuracy: e.robust_accuracy.map(f64::from),
            seconds: f64::from(e.seconds),
        })
        .collect();
    let training: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&outcome.training_json).context("reading training.json back")?,
    )?;
    let report = HardeningReport {
        method: method.name(),
        status: status_name(&outcome.status),
        epochs: &epochs,
        before: before.as_ref().map(|r| &r.evaluation),
        after: after.as_ref().map(|r| &r.evaluation),
        provenance: json!({
            "settings": settings,
            "model": args.train.model.display().to_string(),
            "model_sha256": training["model_sha256"],
            "data_sha256": training["data_sha256"],
            "seed": args.train.seed,
            "gauntlet_version": env!("CARGO_PKG_VERSION"),
            "audit": {"attacks": args.audit_attacks, "samples": args.audit_samples},
        }),
    };
    let written = write_hardening_report(&args.train.out, &report)?;
    if !args.train.quiet {
        if let (Some(b), Some(a)) = (&before, &after) {
            println!(
                "clean accuracy: original {:.1} %, hardened {:.1} %",
                100.0 * b.evaluation.clean_accuracy,
                100.0 * a.evaluation.clean_accuracy
            );
            for (wb, wa) in b.evaluation.worst_case.iter().zip(&a.evaluation.worst_case) {
                println!(
                    "{} ε = {}: robust accuracy original {:.1} %, hardened {:.1} %",
                    wb.norm,
                    wb.eps,
                    100.0 * wb.robust_accuracy,
                    100.0 * wa.robust_accuracy
                );
            }
        }
        println!("report: {}", written.html.display());
    }
    finish(&args.train, &outcome)
}

fn status_name(status: &Status) -> &'static str {
    match status {
        Status::Finished => "finished",
        Status::Collapsed { .. } => "collapsed",
        Status::Interrupted => "interrupted",
    }
}

fn settings(
    args: &TrainArgs,
    method: Method,
    norm: Norm,
    eval_steps: usize,
    collapse_drop: f32,
    eps_warmup: f32,
) -> Result<TrainSettings> {
    let optimizer = OptimizerKind::parse(&args.optimizer, args.weight_decay)
        .map_err(|e| anyhow::anyhow!("--optimizer: {e}"))?;
    let lr = args.lr.unwrap_or(match optimizer {
        OptimizerKind::Adam { .. } => 1e-3,
        OptimizerKind::Sgd { .. } => 0.05,
    });
    let schedule_text = args.schedule.clone().unwrap_or_else(|| {
        if matches!(method, Method::FastAt { .. }) {
            "one-cycle".into()
        } else {
            "cosine".into()
        }
    });
    let schedule =
        Schedule::parse(&schedule_text).map_err(|e| anyhow::anyhow!("--schedule: {e}"))?;
    Ok(TrainSettings {
        method,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr,
        optimizer,
        schedule,
        seed: args.seed,
        from_scratch: args.from_scratch,
        norm,
        bounds: Bounds::default(),
        eval_steps,
        eps_warmup,
        collapse_drop,
    })
}

fn train(args: &TrainArgs, settings: TrainSettings) -> Result<gauntlet_train::JobOutcome> {
    let job = TrainJob {
        model: args.model.clone(),
        inputs: args.inputs.clone(),
        labels: args.labels.clone(),
        eval_data: args.eval_inputs.clone().zip(args.eval_labels.clone()),
        holdout: args.holdout,
        input_shape: args.input_shape.clone(),
        limit: args.limit,
        settings,
        out: args.out.clone(),
        fresh: args.fresh,
    };
    let bar = Bar::new(args.quiet);
    let quiet = args.quiet;
    let mut log = |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    Ok(job.run(&bar, &mut log)?)
}

fn finish(args: &TrainArgs, outcome: &gauntlet_train::JobOutcome) -> Result<ExitCode> {
    match (&outcome.status, &outcome.model) {
        (Status::Interrupted, _) => {
            eprintln!(
                "interrupted: finished epochs are in {}; run the same command again to resume",
                args.out.join("checkpoint").display()
            );
            Ok(ExitCode::from(2))
        }
        (_, Some(model)) => {
            if !args.quiet {
                println!(
                    "model: {}\ntraining: {} ({:.0} s)",
                    model.display(),
                    outcome.training_json.display(),
                    outcome.seconds
                );
            }
            // Ctrl-C during the audits: the model is written; say so with the exit code.
            Ok(if interrupted() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        (_, None) => Ok(ExitCode::from(2)),
    }
}
