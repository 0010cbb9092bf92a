//! `gauntlet scan`: flags → the library's [`ScanJob`] → the terminal. Finds poisoned training
//! rows (spectral signatures, activation clustering, the loss filter) or triggered inputs
//! (STRIP) and writes `report.json`, `report.md` and `report.html`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use gauntlet_detect::{
    ClusterRule, Method, RobustRule, ScanJob, StripSettings, DEFAULT_EXPECTED_FRACTION,
};

use crate::progress::Bar;

/// Flags of `gauntlet scan`.
#[derive(Args, Debug, Clone)]
pub struct ScanArgs {
    /// The ONNX model (trained on --inputs for spectral, activation-clustering and loss).
    #[arg(long)]
    pub model: PathBuf,
    /// The inputs to check (.npy or MNIST IDX, .gz allowed): a training set, or inference
    /// inputs for strip.
    #[arg(long)]
    pub inputs: PathBuf,
    /// Their labels as given (possibly poisoned).
    #[arg(long)]
    pub labels: PathBuf,
    /// Detectors, comma separated: spectral, robust-spectral, activation-clustering,
    /// robust-activation-clustering, loss, strip.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "spectral,activation-clustering"
    )]
    pub method: Vec<String>,
    /// The graph value whose activations spectral and activation-clustering read [the input
    /// of the last linear layer].
    #[arg(long)]
    pub layer: Option<String>,
    /// A poisoning manifest (JSON with "poisoned": [indices]) for precision and recall.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// ε̂, the expected poisoned share of a class (spectral removes 1.5·ε̂ of each class) or
    /// of the whole set (loss).
    #[arg(long, default_value_t = DEFAULT_EXPECTED_FRACTION)]
    pub expected_fraction: f64,
    /// Held-out clean inputs for strip (superimposed on the inputs; calibrate the threshold).
    #[arg(long)]
    pub clean_inputs: Option<PathBuf>,
    /// strip: clean images superimposed on each input.
    #[arg(long, default_value_t = StripSettings::default().overlays)]
    pub overlays: usize,
    /// strip: share of clean inputs the threshold may reject.
    #[arg(long, default_value_t = StripSettings::default().false_rejection_rate)]
    pub false_rejection_rate: f64,
    /// activation-clustering: largest share of a class the smaller cluster may hold.
    #[arg(long, default_value_t = ClusterRule::default().max_cluster_share)]
    pub max_cluster_share: f64,
    /// activation-clustering and robust-activation-clustering: smallest silhouette score of a
    /// class's 2-means split.
    #[arg(long, default_value_t = ClusterRule::default().min_silhouette)]
    pub min_silhouette: f64,
    /// robust-spectral: flag rows further than this many core standard deviations along the
    /// whitened signature.
    #[arg(long, default_value_t = RobustRule::default().z)]
    pub robust_z: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples per model call.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `gauntlet scan`.
pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let methods = args
        .method
        .iter()
        .map(|m| m.parse::<Method>())
        .collect::<Result<Vec<_>, _>>()
        .context("--method")?;
    let mut job = ScanJob::new(args.model, args.inputs, args.labels, args.out);
    job.methods = methods;
    job.layer = args.layer;
    job.manifest = args.manifest;
    job.expected_fraction = args.expected_fraction;
    job.clean_inputs = args.clean_inputs;
    job.strip = StripSettings {
        overlays: args.overlays,
        false_rejection_rate: args.false_rejection_rate,
        ..StripSettings::default()
    };
    job.cluster_rule = ClusterRule {
        max_cluster_share: args.max_cluster_share,
        min_silhouette: args.min_silhouette,
    };
    if !(args.robust_z.is_finite() && args.robust_z > 0.0) {
        anyhow::bail!(
            "--robust-z {} is not a positive number of standard deviations; try {} (the \
             default)",
            args.robust_z,
            RobustRule::default().z
        );
    }
    job.robust_rule = RobustRule { z: args.robust_z };
    job.seed = args.seed;
    job.batch_size = args.batch_size.max(1);
    let outcome = job
        .run(&Bar::new(args.quiet))
        .map_err(|e| anyhow::anyhow!(flag_names(&e.to_string())))?;
    if let Some(layer) = &outcome.layer {
        println!("activations of '{layer}'");
    }
    for m in &outcome.methods {
        let found = match (m.precision, m.recall) {
            (p, Some(r)) => format!(
                ", precision {}, recall {:.1} %",
                p.map_or("–".into(), |p| format!("{:.1} %", 100.0 * p)),
                100.0 * r
            ),
            _ => String::new(),
        };
        println!(
            "{:<22} flagged {:>6} of {}{found}",
            m.method.name(),
            m.flagged.len(),
            m.scores.len()
        );
    }
    println!(
        "report: {} ({:.1} s)",
        outcome.report_json.display(),
        outcome.seconds
    );
    Ok(ExitCode::SUCCESS)
}

/// The library names settings as config keys in backticks; the terminal shows the flags.
fn flag_names(message: &str) -> String {
    message
        .replace("`expected_fraction`", "--expected-fraction")
        .replace("`clean_inputs`", "--clean-inputs")
}
