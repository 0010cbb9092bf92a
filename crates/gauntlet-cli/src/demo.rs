//! `gauntlet demo`: the embedded MNIST CNN and MNIST test subset, audited offline.
//!
//! MNIST — Y. LeCun, C. Cortes, C. J. C. Burges — CC BY-SA 3.0; see data/mnist-demo/README.md.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use gauntlet_audit::AuditConfig;

pub const MODEL: &[u8] = include_bytes!("../../../models/mnist_cnn.onnx");
pub const INPUTS: &[u8] = include_bytes!("../../../data/mnist-demo/x.npy");
pub const LABELS: &[u8] = include_bytes!("../../../data/mnist-demo/y.npy");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output directory.
    #[arg(long, default_value = "gauntlet-demo")]
    pub out: PathBuf,
    /// Number of test samples to audit (up to 1000).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let input_dir = args.out.join("demo-input");
    std::fs::create_dir_all(&input_dir)
        .with_context(|| format!("cannot create '{}'", input_dir.display()))?;
    for (name, bytes) in [
        ("mnist_cnn.onnx", MODEL),
        ("x.npy", INPUTS),
        ("y.npy", LABELS),
    ] {
        let path = input_dir.join(name);
        std::fs::write(&path, bytes)
            .with_context(|| format!("cannot write '{}'", path.display()))?;
    }
    println!(
        "gauntlet demo: auditing an MNIST CNN on {} MNIST test digits (L∞ ε = 0.1, 0.3; FGSM and PGD-40)",
        args.samples
    );
    let mut config = AuditConfig::new(
        input_dir.join("mnist_cnn.onnx"),
        input_dir.join("x.npy"),
        input_dir.join("y.npy"),
        &[0.1, 0.3],
    );
    config.attacks = "fgsm,pgd".into();
    config.samples = Some(args.samples);
    config.seed = args.seed;
    config.out = args.out.clone();
    config.fresh = true;
    config.quiet = args.quiet;
    crate::audit::run_config(config, vec!["gauntlet".into(), "demo".into()])
}
