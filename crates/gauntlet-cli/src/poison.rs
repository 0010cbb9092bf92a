//! `gauntlet poison`: flags → the library's [`PoisonJob`] → the poisoned training set on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::Args;

use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_poison::{default_perturbation, AttackKind, Perturbation, PoisonJob};

use crate::progress::Bar;

/// Flags of `poison` (and of the poisoning stage of `poison-loop`).
#[derive(Args, Debug, Clone)]
pub struct PoisonArgs {
    /// Training inputs (.npy float32 N×C×H×W channels first, or uint8, or MNIST IDX, .gz
    /// allowed).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Training labels (.npy integers or MNIST IDX).
    #[arg(long)]
    pub labels: PathBuf,
    /// badnets, label-flip or clean-label.
    #[arg(long)]
    pub attack: String,
    /// corner:SIZE[@tl|tr|bl|br], square:SIZE[@POS], pattern:SIZE@X,Y or FILE.png[@POS]
    /// [corner:4].
    #[arg(long)]
    pub trigger: Option<String>,
    /// BadNets all-to-all: label y becomes (y + 1) mod classes (no --target-class).
    #[arg(long)]
    pub all_to_all: bool,
    /// Share of the training set to poison, in (0, 1]; exactly round(F·n) samples.
    #[arg(long)]
    pub fraction: f64,
    /// The attacker's class (BadNets all-to-one, targeted label flip, clean-label).
    #[arg(long)]
    pub target_class: Option<i64>,
    /// Label flip: relabel only this class as --target-class (random flipping without it).
    #[arg(long)]
    pub source_class: Option<i64>,
    /// Clean-label: the model the perturbation is computed against (an adversarially
    /// trained one, e.g. models/mnist_cnn_adv.onnx).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Clean-label perturbation norm: linf or l2.
    #[arg(long, default_value = "linf")]
    pub norm: String,
    /// Clean-label perturbation radius [0.3].
    #[arg(long)]
    pub eps: Option<f32>,
    /// Clean-label PGD steps [40].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Test inputs: every non-target one is written with the trigger (true labels).
    #[arg(long, requires = "test_labels")]
    pub test_inputs: Option<PathBuf>,
    /// Labels of --test-inputs.
    #[arg(long, requires = "test_inputs")]
    pub test_labels: Option<PathBuf>,
    /// Valid input box min,max.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub bounds: Vec<f32>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `gauntlet poison` itself: the poisoning flags and the output folder.
#[derive(Args, Debug, Clone)]
pub struct PoisonCommand {
    #[command(flatten)]
    pub poison: PoisonArgs,
    /// Output folder: x.npy, y.npy, manifest.json, trigger.png (and test_triggered_*.npy).
    #[arg(long)]
    pub out: PathBuf,
}

impl PoisonArgs {
    /// The library job writing into `out`.
    pub fn job(&self, out: PathBuf) -> Result<PoisonJob> {
        let attack: AttackKind = self.attack.parse()?;
        let norm: Norm = self.norm.parse().map_err(|e| anyhow!("--norm: {e}"))?;
        let defaults = default_perturbation();
        let perturbation = Perturbation {
            norm,
            eps: self.eps.unwrap_or(defaults.eps),
            steps: self.steps.unwrap_or(defaults.steps),
            rel_step: None,
        };
        if attack == AttackKind::CleanLabel {
            perturbation.check()?;
        } else if self.model.is_some() || self.eps.is_some() || self.steps.is_some() {
            return Err(anyhow!(
                "--model, --eps and --steps set the clean-label perturbation; they do nothing \
                 with --attack {attack}"
            ));
        }
        if attack == AttackKind::LabelFlip && self.trigger.is_some() {
            return Err(anyhow!(
                "--trigger does nothing with --attack label-flip (labels only)"
            ));
        }
        let bounds = match self.bounds.as_slice() {
            [min, max] if min < max => Bounds {
                min: *min,
                max: *max,
            },
            other => {
                return Err(anyhow!(
                    "--bounds {other:?} must be two numbers min,max with min < max"
                ))
            }
        };
        Ok(PoisonJob {
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            attack,
            trigger: self.trigger.clone(),
            all_to_all: self.all_to_all,
            fraction: self.fraction,
            target_class: self.target_class,
            source_class: self.source_class,
            model: self.model.clone(),
            perturbation,
            test: self.test_inputs.clone().zip(self.test_labels.clone()),
            bounds,
            seed: self.seed,
            out,
        })
    }
}

/// Runs `gauntlet poison`.
pub fn run(args: PoisonCommand) -> Result<ExitCode> {
    let job = args.poison.job(args.out.clone())?;
    let bar = Bar::new(args.poison.quiet);
    let outcome = job.run(&bar)?;
    if !args.poison.quiet {
        let m = &outcome.manifest;
        println!(
            "{} ({}): poisoned {} of {} training samples{}",
            m.attack,
            m.variant,
            m.poisoned.len(),
            m.samples,
            m.target_class
                .map(|k| format!(", target class {k}"))
                .unwrap_or_default()
        );
        for f in &outcome.files {
            println!("wrote {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
