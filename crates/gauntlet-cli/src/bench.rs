//! `gauntlet bench`: throughput of the engine on the embedded MNIST CNN.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_attacks::pgd::Pgd;
use gauntlet_attacks::{Attack, AttackInput};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::{parse_inputs, parse_labels};
use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Classifier};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_onnx::OnnxModel;

use crate::demo::{INPUTS, LABELS, MODEL};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Timed repetitions of forward and forward+gradient.
    #[arg(long, default_value_t = 20)]
    pub repeats: usize,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let model = OnnxModel::from_bytes(MODEL, "embedded mnist_cnn.onnx", None)?;
    let (x, _) = parse_inputs(INPUTS, "x.npy".as_ref())?;
    let y = parse_labels(LABELS, "y.npy".as_ref())?;
    let f = model.features();
    let n = args.batch_size.min(y.len()).max(1);
    let device = compute_device();
    let batch = from_rows(x[..n * f].to_vec(), n, f, &device);
    let labels = &y[..n];
    let repeats = args.repeats.max(1);

    // Warm-up, then timed runs; each result is read back to the host so work is finished.
    let _ = to_vec(model.logits(batch.clone())?);
    let t = Instant::now();
    for _ in 0..repeats {
        let _ = to_vec(model.logits(batch.clone())?);
    }
    let forward = (n * repeats) as f64 / t.elapsed().as_secs_f64();

    let objective = Objective::CrossEntropy(labels);
    let _ = to_vec(loss_and_grad(&model, &batch, &objective)?.grad);
    let t = Instant::now();
    for _ in 0..repeats {
        let _ = to_vec(loss_and_grad(&model, &batch, &objective)?.grad);
    }
    let gradient = (n * repeats) as f64 / t.elapsed().as_secs_f64();

    // PGD-40 at a budget too small to break samples, so every step is paid for.
    let threat = ThreatModel::new(Norm::Linf, &[0.01], Bounds::default())?;
    let criterion = Criterion::Untargeted;
    let input = AttackInput::new(&model, &x[..n * f], labels, &criterion, &threat)?;
    let t = Instant::now();
    let outcome = Pgd::new(40, 1, None, true)?.run(&input, &mut StdRng::seed_from_u64(0))?;
    let pgd = n as f64 / t.elapsed().as_secs_f64();

    println!(
        "gauntlet bench — embedded MNIST CNN, batch {n}, {} threads",
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    );
    println!("| measurement | samples/s |");
    println!("|---|---|");
    println!("| forward | {forward:.0} |");
    println!("| forward + input gradient | {gradient:.0} |");
    println!(
        "| PGD-40 (L∞ ε = 0.01, {} gradient evals) | {pgd:.1} |",
        outcome.gradient_evals
    );
    Ok(ExitCode::SUCCESS)
}
