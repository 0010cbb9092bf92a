//! `gauntlet certify`: flags → a [`CertifyPlan`] → the library's randomized-smoothing
//! certification → the report and the terminal. Ctrl-C stops after the sample in hand and
//! writes what is done (status `incomplete`, exit 2).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use gauntlet_attacks::smooth_adv::SmoothAdv;
use gauntlet_audit::target::onnx_info;
use gauntlet_audit::OnnxOptions;
use gauntlet_core::data::Dataset;
use gauntlet_core::model::Classifier;
use gauntlet_core::threat::{parse_epsilons, Bounds, Norm, ThreatModel};
use gauntlet_eval::certification::{
    run_certification_resumable, BrokenCertificate, CertifyPlan, SampleResult, STANDARD_RADII,
};
use gauntlet_eval::certify_journal::{SampleJournal, SampleRecord};
use gauntlet_eval::smoothing::Smoothing;
use gauntlet_report::certify::{
    certify_table, describe_broken, write_certify_report, CertifyManifest, CertifyReport,
};
use gauntlet_report::DataInfo;
use gauntlet_run::journal::Journal;

use crate::audit::redact_command;
use crate::progress::{interrupted, Bar};

/// The flags of `gauntlet certify`.
#[derive(Args, Debug, Clone)]
pub struct CertifyArgs {
    /// The ONNX base classifier (smoothed with Gaussian noise).
    #[arg(long)]
    pub model: PathBuf,
    /// Standard deviation σ of the Gaussian noise, in input units.
    #[arg(long)]
    pub sigma: f32,
    /// CERTIFY's selection draws (choose the top class).
    #[arg(long, default_value_t = 100)]
    pub n0: u64,
    /// CERTIFY's estimation draws (bound the top class's probability).
    #[arg(long, default_value_t = 10_000)]
    pub n: u64,
    /// Failure probability of each certificate and each smoothed prediction.
    #[arg(long, default_value_t = 0.001)]
    pub alpha: f64,
    /// Inputs: .npy (float32 N×C×H×W or N×D in [0,1]; uint8 is scaled) or MNIST IDX (.gz).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Labels: .npy integer class indices (N) or MNIST IDX.
    #[arg(long)]
    pub labels: PathBuf,
    /// Certify only the first K samples.
    #[arg(long, value_name = "K")]
    pub samples: Option<usize>,
    /// Seed of every noise draw (recorded in the report).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Noisy copies per forward pass.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Radii to report besides 0, 0.25, 0.5, 0.75 and 1 (comma-separated).
    #[arg(long)]
    pub radii: Option<String>,
    /// Iterations of the SmoothAdv attack on the smoothed classifier.
    #[arg(long, default_value_t = 20)]
    pub attack_steps: usize,
    /// Noise draws per SmoothAdv step (m).
    #[arg(long, default_value_t = 8)]
    pub attack_samples: usize,
    /// PREDICT's draws on clean and attacked inputs [--n].
    #[arg(long)]
    pub predict_n: Option<u64>,
    /// Per-sample input shape, when the ONNX file does not declare it (e.g. 1,28,28).
    #[arg(long)]
    pub input_shape: Option<String>,
    /// Output directory.
    #[arg(long, default_value = "gauntlet-certify")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Start afresh instead of resuming from the checkpoint an interrupted run left in --out.
    #[arg(long)]
    pub fresh: bool,
}

/// The checkpoint of finished samples inside the output directory.
const CHECKPOINT_FILE: &str = "certify-checkpoint.jsonl";

/// Finished samples restored from, and recorded to, the checkpoint journal.
struct Resume {
    journal: Journal,
    restored: HashMap<usize, SampleRecord>,
}

impl SampleJournal for Resume {
    fn restored(&mut self, index: usize) -> Option<(SampleResult, Vec<BrokenCertificate>)> {
        self.restored.remove(&index).map(|r| r.results())
    }

    fn record(
        &mut self,
        result: &SampleResult,
        broken: &[BrokenCertificate],
    ) -> gauntlet_core::Result<()> {
        self.journal
            .append(&SampleRecord::new(result, broken))
            .map_err(|e| gauntlet_core::Error::Data(e.to_string()))
    }
}

/// Runs `gauntlet certify`.
pub fn run(args: CertifyArgs) -> Result<ExitCode> {
    let smoothing = Smoothing::new(args.sigma, args.batch_size).map_err(flag_names)?;
    if args.samples == Some(0) {
        bail!("--samples must be at least 1");
    }
    let mut radii: Vec<f32> = STANDARD_RADII.to_vec();
    if let Some(extra) = &args.radii {
        radii.extend(parse_epsilons(extra).context("--radii")?);
    }
    // Checks the radii (finite, ≥ 0), sorts and deduplicates them.
    let threat = ThreatModel::new(Norm::L2, &radii, Bounds::default())?;
    let predict_draws = args.predict_n.unwrap_or(args.n);
    let plan = CertifyPlan {
        smoothing,
        n0: args.n0,
        n: args.n,
        alpha: args.alpha,
        predict_draws,
        // Ten times PREDICT's draws before calling a certificate broken.
        confirm_draws: predict_draws.saturating_mul(10),
        radii: threat.epsilons().to_vec(),
        attack: SmoothAdv::new(args.sigma, args.attack_steps, args.attack_samples, None)
            .map_err(flag_names)?,
        bounds: threat.bounds(),
        seed: args.seed,
    };
    plan.validate().map_err(flag_names)?;

    let options = OnnxOptions {
        input_shape: args.input_shape.as_deref().map(parse_shape).transpose()?,
        ..OnnxOptions::default()
    };
    let model = options.load(&args.model)?;
    let mut data = Dataset::load(&args.inputs, &args.labels)?;
    if data.sample_shape == model.layout().from_channels_first(model.sample_shape()) {
        data = data.into_channels_first(model.layout());
    }
    if let Some(k) = args.samples {
        data.truncate(k);
    }
    gauntlet_eval::check_data(&model, &data, &threat)?;

    // Everything that decides the per-sample results: a checkpoint of another run is discarded.
    let fingerprint = gauntlet_core::hash::sha256_hex(
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "plan": plan.describe(),
            "model": model.sha256(),
            "data": data.sha256,
            "samples": data.len(),
        })
        .to_string()
        .as_bytes(),
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let opened =
        Journal::open::<SampleRecord>(&args.out.join(CHECKPOINT_FILE), &fingerprint, args.fresh)?;
    let resumed = opened.records.len();
    let mut resume = Resume {
        journal: opened.journal,
        restored: opened.records.into_iter().map(|r| (r.index(), r)).collect(),
    };
    if resumed > 0 && !args.quiet {
        eprintln!(
            "resumed {resumed} finished samples from {} (pass --fresh to recompute)",
            args.out.join(CHECKPOINT_FILE).display()
        );
    }
    let progress = Bar::new(args.quiet);
    let certification = run_certification_resumable(&model, &data, &plan, &progress, &mut resume)?;
    let manifest = CertifyManifest {
        gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
        command: redact_command(std::env::args().collect()),
        seed: args.seed,
        model: onnx_info(
            &model,
            &args.model.display().to_string(),
            "white-box (ONNX)",
        ),
        data: DataInfo {
            inputs: args.inputs.display().to_string(),
            labels: args.labels.display().to_string(),
            sha256: data.sha256.clone(),
        },
        settings: plan.describe(),
        batch_size: args.batch_size,
        versions: gauntlet_audit::versions(),
    };
    let report = CertifyReport::new(
        &certification,
        &manifest,
        args.sigma as f64,
        args.n0,
        args.n,
        args.alpha,
    );
    let written = write_certify_report(&args.out, &report)?;

    if !args.quiet {
        println!(
            "\n{} samples, σ = {}, CERTIFY abstained on {:.1} %\n",
            certification.samples,
            args.sigma,
            certification.abstain_rate * 100.0
        );
        print!("{}", certify_table(&certification.rows));
        println!("\nreport: {}", written.json.display());
        println!("        {}", written.markdown.display());
        println!("        {}", written.html.display());
    }
    for b in &certification.broken_certificates {
        eprintln!("error: broken certificate: {}", describe_broken(b));
    }
    for e in &certification.errors {
        eprintln!("error: {e}");
    }
    if !certification.complete() || interrupted() {
        eprintln!(
            "the report holds the samples that finished (status: incomplete); rerun the same \
             command to resume"
        );
        return Ok(ExitCode::from(2));
    }
    resume.journal.finish()?;
    Ok(ExitCode::from(
        if certification.broken_certificates.is_empty() {
            0
        } else {
            1
        },
    ))
}

/// Shows the library's `` `key` `` mentions as this command's flags.
fn flag_names(error: gauntlet_core::Error) -> anyhow::Error {
    let mut text = error.to_string();
    for (key, flag) in [
        ("`sigma`", "--sigma"),
        ("`batch_size`", "--batch-size"),
        ("`alpha`", "--alpha"),
        ("`n0`", "--n0"),
        ("`n`", "--n"),
        ("`predict_n`", "--predict-n"),
        ("`attack_steps`", "--attack-steps"),
        ("`attack_samples`", "--attack-samples"),
    ] {
        text = text.replace(key, flag);
    }
    anyhow::anyhow!(text)
}

pub fn parse_shape(text: &str) -> Result<Vec<usize>> {
    let shape: Vec<usize> = text
        .split(',')
        .map(|v| v.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("--input-shape '{text}' must be sizes like 1,28,28"))?;
    if shape.is_empty() || shape.contains(&0) {
        bail!("--input-shape needs positive sizes, e.g. 1,28,28");
    }
    Ok(shape)
}
