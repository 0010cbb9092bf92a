//! `gauntlet poison-loop`: flags → the library's closed loop ([`LoopJob`]: poison → train →
//! audit → scan → drop → retrain → re-audit) → the before/after table and the report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::Args;

use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_poison::closed_loop::LoopJob;

use crate::poison::PoisonArgs;
use crate::progress::Bar;

/// Flags of `poison-loop`: the poisoning, the training every model gets, the detectors.
#[derive(Args, Debug, Clone)]
pub struct LoopArgs {
    #[command(flatten)]
    pub poison: PoisonArgs,
    /// The architecture every model is trained from (an ONNX classifier, e.g.
    /// models/mnist_cnn.onnx); its weights are reinitialized unless --fine-tune.
    #[arg(long)]
    pub architecture: PathBuf,
    /// Start from the architecture file's weights instead of fresh ones.
    #[arg(long)]
    pub fine_tune: bool,
    /// Passes over the training data, per model.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Base learning rate (Adam, cosine schedule).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Test samples each training run checks per epoch.
    #[arg(long, default_value_t = 1000)]
    pub holdout: usize,
    /// Detectors whose flagged samples are dropped before retraining (spectral,
    /// robust-spectral, activation-clustering, robust-activation-clustering, loss); none: no
    /// repair.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "robust-spectral,robust-activation-clustering"
    )]
    pub methods: Vec<String>,
    /// The value whose activations the detectors read [the last linear layer's input].
    #[arg(long)]
    pub layer: Option<String>,
    /// The poisoned share the detectors assume (spectral signatures' ε̂).
    #[arg(long, default_value_t = gauntlet_detect::DEFAULT_EXPECTED_FRACTION)]
    pub expected_fraction: f64,
    /// After each detector's repair, give back the flagged rows the repaired model reads as
    /// their own label and train once more (exclusionary reclassification, Chen et al. 2018);
    /// adds one model per detector to the table.
    #[arg(long)]
    pub reclassify: bool,
    /// Triggered test images shown in the report.
    #[arg(long, default_value_t = 8)]
    pub pictures: usize,
    /// Output folder: report.json, report.md, report.html and one folder per stage.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `gauntlet poison-loop`.
pub fn run_loop(args: LoopArgs) -> Result<ExitCode> {
    let (Some(tx), Some(ty)) = (&args.poison.test_inputs, &args.poison.test_labels) else {
        return Err(anyhow!(
            "poison-loop needs --test-inputs and --test-labels: clean accuracy and attack \
             success are measured on them"
        ));
    };
    let mut methods = Vec::new();
    for m in args
        .methods
        .iter()
        .filter(|m| !m.is_empty() && *m != "none")
    {
        let method: gauntlet_detect::Method = m.parse()?;
        if method == gauntlet_detect::Method::Strip {
            return Err(anyhow!(
                "--methods strip checks inputs at inference time, not a training set; use \
                 spectral, robust-spectral, activation-clustering, \
                 robust-activation-clustering or loss"
            ));
        }
        methods.push(method);
    }
    let settings = gauntlet_train::TrainSettings {
        method: gauntlet_train::Method::Plain,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        optimizer: gauntlet_train::OptimizerKind::parse("adam", None)
            .map_err(|e| anyhow!("{e}"))?,
        schedule: gauntlet_train::Schedule::parse("cosine").map_err(|e| anyhow!("{e}"))?,
        seed: args.poison.seed,
        from_scratch: !args.fine_tune,
        norm: Norm::Linf,
        bounds: Bounds::default(),
        eval_steps: 0,
        eps_warmup: 0.0,
        collapse_drop: 0.2,
    };
    let job = LoopJob {
        poison: args.poison.job(args.out.join("poisoned-data"))?,
        architecture: args.architecture.clone(),
        test: (tx.clone(), ty.clone()),
        settings,
        holdout: args.holdout,
        methods,
        layer: args.layer.clone(),
        expected_fraction: args.expected_fraction,
        reclassify: args.reclassify,
        pictures: args.pictures,
        out: args.out.clone(),
    };
    let quiet = args.poison.quiet;
    let bar = Bar::new(quiet);
    let mut log = |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let outcome = job.run(&bar, &mut log)?;
    if !quiet {
        println!(
            "| model | clean accuracy | attack success | poisons found | clean samples lost |\n|---|---|---|---|---|"
        );
        for r in &outcome.rows {
            println!(
                "| {} | {:.2} % | {} | {} | {} |",
                r.name,
                100.0 * r.clean_accuracy,
                r.attack_success
                    .map_or("–".into(), |a| format!("{:.2} %", 100.0 * a)),
                match (r.poisons_found, r.poisons_total) {
                    (Some(f), Some(t)) => format!("{f}/{t}"),
                    _ => "–".into(),
                },
                r.clean_lost.map_or("–".into(), |c| c.to_string())
            );
        }
        println!("report: {}", outcome.written.html.display());
    }
    Ok(ExitCode::SUCCESS)
}
