//! `gauntlet bench`: throughput of the engine — forward, forward + input gradient and PGD — on
//! the embedded MNIST CNN, or on any ONNX classifier (`--model`) with seeded random inputs,
//! each measurement with the cores it kept busy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use gauntlet_attacks::pgd::Pgd;
use gauntlet_attacks::{by_name, default_queries, Attack, AttackInput, AttackSettings};
use gauntlet_audit::{List, OnnxOptions};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::{parse_inputs, parse_labels};
use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, predict, Classifier};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_onnx::OnnxModel;
use gauntlet_train::{Method, OptimizerKind, Schedule, TrainSettings, Trainer};

use crate::audit::with_flag_names;
use crate::demo::{INPUTS, LABELS, MODEL};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// ONNX classifier to measure; without it, the embedded MNIST CNN on embedded digits.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Per-sample input shape, when the ONNX file does not declare it (e.g. 3,224,224).
    #[arg(long)]
    pub input_shape: Option<String>,
    /// Batch size [default: 256 on the embedded CNN, 16 with --model].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Timed repetitions of forward and forward+gradient [default: 20 on the embedded CNN, 3
    /// with --model].
    #[arg(long)]
    pub repeats: Option<usize>,
    /// PGD iterations; 0 skips the PGD measurement [default: 40 on the embedded CNN, 10 with
    /// --model].
    #[arg(long)]
    pub pgd_steps: Option<usize>,
    /// Batch of the training-step measurement (forward, backward to every weight, Adam)
    /// [default: 128 on the embedded CNN, the batch size with --model]; 0 skips it.
    #[arg(long)]
    pub train_batch_size: Option<usize>,
    /// Attacks measured one by one (samples/s and cores busy), comma separated; "none" skips
    /// them [default: AutoAttack's apgd-ce, apgd-t, fab-t, square].
    #[arg(long, value_delimiter = ',')]
    pub attacks: Vec<String>,
    /// Samples each attack of --attacks runs on [default: 64 on the embedded CNN, 8 with
    /// --model].
    #[arg(long)]
    pub attack_samples: Option<usize>,
    /// Iterations of each iterative attack of --attacks.
    #[arg(long, default_value_t = 20)]
    pub attack_steps: usize,
    /// Queries per sample of each black-box attack of --attacks.
    #[arg(long, default_value_t = 500)]
    pub attack_queries: u64,
    /// Seed of the random inputs used with --model (uniform in [0, 1]).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Wall time and the process's CPU time (user + system, all threads) of one measurement.
struct Usage {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Usage {
    /// Cores kept busy on average: CPU time over wall time.
    fn cores(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        self.cpu.map(|c| c.as_secs_f64() / wall.max(1e-9))
    }
}

/// CPU time this process has used so far, all threads, user and system.
#[cfg(unix)]
fn process_cpu_time() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given a valid pointer to; it is read only when
    // the call reports success.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu_time() -> Option<Duration> {
    None
}

/// Runs `work` and measures it.
fn measure<T>(work: impl FnOnce() -> Result<T>) -> Result<(T, Usage)> {
    let (cpu, start) = (process_cpu_time(), Instant::now());
    let out = work()?;
    let wall = start.elapsed();
    let cpu = process_cpu_time().zip(cpu).map(|(end, start)| end - start);
    Ok((out, Usage { wall, cpu }))
}

/// The build this binary came from: profile, optimization level and debug assertions.
fn build_profile() -> String {
    format!(
        "{} build (opt-level {}, debug assertions {})",
        env!("GAUNTLET_BUILD_PROFILE"),
        env!("GAUNTLET_BUILD_OPT_LEVEL"),
        if cfg!(debug_assertions) { "on" } else { "off" }
    )
}

/// The model, a flat batch of `n` samples and their labels, and a line naming them.
struct Workload {
    model: OnnxModel,
    x: Vec<f32>,
    labels: Vec<i64>,
    n: usize,
    title: String,
}

fn embedded(batch_size: usize) -> Result<Workload> {
    let model = OnnxModel::from_bytes(MODEL, "embedded mnist_cnn.onnx", None)?;
    let (x, _) = parse_inputs(INPUTS, "x.npy".as_ref())?;
    let y = parse_labels(LABELS, "y.npy".as_ref())?;
    let n = batch_size.min(y.len()).max(1);
    let x = x[..n * model.features()].to_vec();
    Ok(Workload {
        model,
        x,
        labels: y[..n].to_vec(),
        n,
        title: format!("embedded MNIST CNN, batch {n}"),
    })
}

/// Seeded uniform inputs in [0, 1]; the labels are the model's own predictions, so PGD starts
/// from correctly classified samples.
fn random(path: &Path, input_shape: Option<&str>, n: usize, seed: u64) -> Result<Workload> {
    let options = OnnxOptions::from_lists(input_shape.map(List::from).as_ref(), None, None)
        .map_err(with_flag_names)?;
    let model = options.load(path)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let x: Vec<f32> = (0..n * model.features())
        .map(|_| rng.gen::<f32>())
        .collect();
    let batch = from_rows(x.clone(), n, model.features(), &compute_device());
    let labels = predict(&model, batch)?;
    let shape = model.sample_shape().iter().map(usize::to_string);
    let title = format!(
        "{}, batch {n} of {} random inputs (seed {seed})",
        path.display(),
        shape.collect::<Vec<_>>().join("×")
    );
    Ok(Workload {
        model,
        x,
        labels,
        n,
        title,
    })
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let custom = args.model.is_some();
    let pick = |given: Option<usize>, embedded: usize, model: usize| {
        given.unwrap_or(if custom { model } else { embedded })
    };
    let batch_size = pick(args.batch_size, 256, 16);
    let repeats = pick(args.repeats, 20, 3).max(1);
    let pgd_steps = pick(args.pgd_steps, 40, 10);
    if batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let work = match &args.model {
        Some(path) => random(path, args.input_shape.as_deref(), batch_size, args.seed)?,
        None => embedded(batch_size)?,
    };
    let (model, n) = (&work.model, work.n);
    let batch = from_rows(work.x.clone(), n, model.features(), &compute_device());
    let mut rows: Vec<(String, f64, Usage)> = Vec::new();

    // Warm-up, then timed runs; each result is read back to the host so work is finished.
    let _ = to_vec(model.logits(batch.clone())?);
    let ((), usage) = measure(|| {
        for _ in 0..repeats {
            let _ = to_vec(model.logits(batch.clone())?);
        }
        Ok(())
    })?;
    let rate = (n * repeats) as f64 / usage.wall.as_secs_f64();
    rows.push(("forward".into(), rate, usage));

    let objective = Objective::CrossEntropy(&work.labels);
    let _ = to_vec(loss_and_grad(model, &batch, &objective)?.grad);
    let ((), usage) = measure(|| {
        for _ in 0..repeats {
            let _ = to_vec(loss_and_grad(model, &batch, &objective)?.grad);
        }
        Ok(())
    })?;
    let rate = (n * repeats) as f64 / usage.wall.as_secs_f64();
    rows.push(("forward + input gradient".into(), rate, usage));

    let train_n = pick(args.train_batch_size, 128, batch_size).min(n);
    if train_n >= 2 {
        // Forward, backward to every weight, and an Adam update: what `train` and `harden`
        // pay per clean sample.
        let settings = TrainSettings {
            method: Method::Plain,
            epochs: 1,
            batch_size: train_n,
            lr: 1e-4,
            optimizer: OptimizerKind::parse("adam", None).map_err(anyhow::Error::msg)?,
            schedule: Schedule::Constant,
            seed: args.seed,
            from_scratch: false,
            norm: Norm::Linf,
            bounds: Bounds::default(),
            eval_steps: 0,
            eps_warmup: 0.0,
            collapse_drop: 1.0,
        };
        let mut trainer = Trainer::new(model, settings)?;
        let x = from_rows(
            work.x[..train_n * model.features()].to_vec(),
            train_n,
            model.features(),
            &compute_device(),
        );
        let labels = &work.labels[..train_n];
        let mut rng = StdRng::seed_from_u64(args.seed);
        trainer.step(x.clone(), labels, 1e-4, 0, &mut rng)?;
        let ((), usage) = measure(|| {
            for _ in 0..repeats {
                trainer.step(x.clone(), labels, 1e-4, 0, &mut rng)?;
            }
            Ok(())
        })?;
        let rate = (train_n * repeats) as f64 / usage.wall.as_secs_f64();
        rows.push((
            format!("training step (batch {train_n}, Adam)"),
            rate,
            usage,
        ));
    }

    if pgd_steps > 0 {
        // PGD at a budget too small to break samples, so every step is paid for.
        let threat = ThreatModel::new(Norm::Linf, &[0.01], Bounds::default())?;
        let criterion = Criterion::Untargeted;
        let input = AttackInput::new(model, &work.x, &work.labels, &criterion, &threat)?;
        let pgd = Pgd::new(pgd_steps, 1, None, true)?;
        let (outcome, usage) =
            measure(|| Ok(pgd.run(&input, &mut StdRng::seed_from_u64(args.seed))?))?;
        let rate = n as f64 / usage.wall.as_secs_f64();
        let name = format!(
            "PGD-{pgd_steps} (L∞ ε = 0.01, {} gradient evals)",
            outcome.gradient_evals
        );
        rows.push((name, rate, usage));
    }

    // Each attack at a budget too small to break samples (every iteration and query is paid
    // for), on a slice of the batch: its throughput and how many cores it keeps busy.
    let names: Vec<String> = if args.attacks.is_empty() {
        ["apgd-ce", "apgd-t", "fab-t", "square"]
            .map(String::from)
            .to_vec()
    } else if args.attacks.iter().any(|a| a == "none") {
        Vec::new()
    } else {
        args.attacks.clone()
    };
    let attack_n = pick(args.attack_samples, 64, 8).min(n);
    if !names.is_empty() && attack_n > 0 {
        let f = model.features();
        let x = &work.x[..attack_n * f];
        let labels = &work.labels[..attack_n];
        let criterion = Criterion::Untargeted;
        let settings = AttackSettings {
            steps: Some(args.attack_steps.max(1)),
            queries: Some(args.attack_queries),
            ..AttackSettings::default()
        };
        for name in &names {
            let attack = by_name(name, &settings)?;
            let norm = if attack.norms().contains(&Norm::Linf) {
                Norm::Linf
            } else {
                Norm::L2
            };
            let threat = ThreatModel::new(norm, &[0.01], Bounds::default())?;
            let input = AttackInput::new(model, x, labels, &criterion, &threat)?;
            let (_, usage) =
                measure(|| Ok(attack.run(&input, &mut StdRng::seed_from_u64(args.seed))?))?;
            let budget = if default_queries(name).is_some() {
                format!("{} queries", args.attack_queries)
            } else {
                format!("{} steps", args.attack_steps.max(1))
            };
            rows.push((
                format!("{name} ({budget}, {attack_n} samples, ε = 0.01)"),
                attack_n as f64 / usage.wall.as_secs_f64(),
                usage,
            ));
        }
    }

    println!(
        "gauntlet bench — {}, {} threads, {}",
        work.title,
        // The pool's threads (RAYON_NUM_THREADS), not the machine's cores.
        rayon::current_num_threads(),
        build_profile()
    );
    println!("| measurement | samples/s | cores busy (CPU time / wall time) |");
    println!("|---|---|---|");
    for (name, rate, usage) in rows {
        let cores = usage
            .cores()
            .map_or("n/a".to_string(), |c| format!("{c:.2}"));
        let rate = if rate >= 100.0 {
            format!("{rate:.0}")
        } else {
            format!("{rate:.1}")
        };
        println!("| {name} | {rate} | {cores} |");
    }
    Ok(ExitCode::SUCCESS)
}
