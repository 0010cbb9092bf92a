//! `gauntlet`: the command line. It only parses arguments, builds the library's values and
//! calls the library; all logic lives in the crates below it.

mod audit;
mod bench;
mod certify;
mod demo;
mod merge;
mod patch;
mod poison;
mod poison_loop;
mod progress;
mod scan;
mod serve;
mod settings;
mod tabular;
mod text;
mod text_poison;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gauntlet",
    version,
    about = "Attack your own classifier before anyone else does"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Audit a classifier (an ONNX file, an HTTP endpoint or a command) with evasion attacks.
    // Boxed: the audit's flags make this variant far larger than the others.
    Audit(Box<audit::AuditArgs>),
    /// Audit the embedded MNIST CNN on the embedded MNIST test subset (runs offline).
    Demo(demo::DemoArgs),
    /// Combine the output folders of a sharded audit (`audit`, `text-audit` or `tabular-audit`
    /// with `--shard I/N`) into the report of the whole run.
    Merge(merge::MergeArgs),
    /// Spam-filter evasion: attack a text classifier with typos and word tricks.
    TextAudit(Box<text::TextAuditArgs>),
    /// Evasion of a model on table rows (network or tree ensemble) that keeps the schema's
    /// rules: immutable features, kinds, bounds, one-hot groups, relations between features.
    TabularAudit(Box<tabular::TabularAuditArgs>),
    /// Spam-filter poisoning: corrupt a built-in filter's training mail (dictionary, focused,
    /// label-flip), retrain, measure the damage, and defend (RONI, dynamic threshold).
    TextPoison(Box<text_poison::TextPoisonArgs>),
    /// Measure forward, forward+gradient and PGD throughput (embedded MNIST CNN or --model).
    Bench(bench::BenchArgs),
    /// Certified L2 robustness by randomized smoothing (CERTIFY/PREDICT, Cohen et al. 2019),
    /// next to the SmoothAdv attack on the smoothed classifier.
    Certify(Box<certify::CertifyArgs>),
    /// A physical-world patch: one sticker optimized over many pictures under random
    /// rotation, scale, position and light (EOT), judged on held-out pictures against the same
    /// patch made without EOT and a random patch; writes patch.png, patch.npy and the report.
    Patch(Box<patch::PatchArgs>),
    /// Serve an ONNX classifier over HTTP (POST /predict, GET /health) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Train an ONNX classifier's weights (cross-entropy) and write it back as ONNX.
    Train(Box<train::TrainArgs>),
    /// Harden an ONNX classifier (fast-at, pgd-at, trades, gaussian), write it back as ONNX,
    /// and audit the original and the hardened model the same way.
    Harden(Box<train::HardenArgs>),
    /// Poison a training set (BadNets, label flipping, clean-label backdoor): writes x.npy,
    /// y.npy and manifest.json (which indices were poisoned, and how).
    Poison(Box<poison::PoisonCommand>),
    /// The closed loop: poison → train → audit → scan → drop flagged → retrain → re-audit,
    /// next to a model trained on clean data; one before/after report.
    PoisonLoop(Box<poison_loop::LoopArgs>),
    /// Find poisoned training data (spectral signatures, activation clustering, loss) or
    /// triggered inputs (STRIP); precision and recall given the poisoning manifest.
    Scan(Box<scan::ScanArgs>),
}

fn main() -> ExitCode {
    gauntlet_core::device::keep_freed_memory();
    // The commands run on the pool's threads (below): give them the main thread's 8 MiB of
    // stack instead of 2 MiB. The thread count still follows RAYON_NUM_THREADS.
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .stack_size(8 << 20)
        .build_global()
    {
        eprintln!("warning: the thread pool keeps its defaults: {e}");
    }
    let cli = Cli::parse();
    // A server waits on its socket most of the time: it stays on the main thread. Everything
    // else runs on one of rayon's threads (`rayon::scope` moves it there), so the parallel
    // kernels it calls many times a second start from inside the pool. Called from the main
    // thread, each parallel call was queued into the pool and the main thread put to sleep and
    // woken again: `bench`, alternated three times on the idle machine, 2026-12-08: SimBA
    // 47.7-50.7 -> 54.2-54.5 samples/s, HopSkipJump 56.5-57.9 -> 60.6-61.9, the training step
    // 10.0-12.0k -> 13.2-13.4k (README, Speed).
    let outcome = match cli.command {
        command @ Command::Serve(_) => run(command),
        command => rayon::scope(|_| run(command)),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Audit(args) => audit::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Bench(args) => bench::run(args),
        Command::TextAudit(args) => text::run(*args),
        Command::TextPoison(args) => text_poison::run(*args),
        Command::TabularAudit(args) => tabular::run(*args),
        Command::Serve(args) => serve::run(args),
        Command::Train(args) => train::run_train(*args),
        Command::Harden(args) => train::run_harden(*args),
        Command::Certify(args) => certify::run(*args),
        Command::Patch(args) => patch::run(*args),
        Command::Poison(args) => poison::run(*args),
        Command::PoisonLoop(args) => poison_loop::run_loop(*args),
        Command::Scan(args) => scan::run(*args),
    }
}
