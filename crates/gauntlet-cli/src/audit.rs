//! `gauntlet audit`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;

use gauntlet_attacks::transfer::Transfer;
use gauntlet_attacks::{by_name, default_steps, suite, Attack, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::Dataset;
use gauntlet_core::model::Differentiable;
use gauntlet_core::threat::{parse_epsilons, Bounds, Norm, ThreatModel};
use gauntlet_eval::diagnostics::{diagnose, Status};
use gauntlet_eval::{run_audit_with, AuditPlan, Checkpoint, Progress};
use gauntlet_onnx::OnnxModel;
use gauntlet_report::{write_report, DataInfo, Manifest, ModelInfo, Traffic};

use crate::gate::{self, Gate};
use crate::progress::Bar;
use crate::target::{onnx_from_bytes, onnx_info, parse_list, redact_command, BlackBox, OnnxOptions, RemoteArgs};

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Read settings from a gauntlet.toml; flags given on the command line override it.
    #[arg(long, value_name = "gauntlet.toml")]
    pub config: Option<PathBuf>,
    /// The ONNX classifier (exported with torch.onnx.export or any ONNX exporter).
    #[arg(long, required_unless_present_any = ["config", "target", "target_cmd"])]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Attack the ONNX model through queries only (as a deployed model would be): gradient
    /// attacks are refused, queries are counted and cached.
    #[arg(long)]
    pub black_box: bool,
    /// Surrogate ONNX model for transfer attacks (`--attacks transfer-pgd`, `transfer-apgd-ce`,
    /// …: crafted with the named white-box attack on the surrogate, evaluated on the target).
    #[arg(long, value_name = "SURROGATE.onnx")]
    pub surrogate: Option<PathBuf>,
    /// Total queries a black-box target may receive over the whole run (after the cache);
    /// once spent, the remaining samples are recorded as not attacked.
    #[arg(long, value_name = "N")]
    pub max_queries: Option<u64>,
    /// Discard the checkpoint an interrupted run left in the output directory instead of
    /// resuming from it.
    #[arg(long)]
    pub fresh: bool,
    /// Inputs: .npy (float32 N×C×H×W or N×D in the valid box; uint8 is scaled to [0,1]) or MNIST IDX.
    #[arg(long, required_unless_present = "config")]
    pub inputs: Option<PathBuf>,
    /// Labels: .npy integer class indices (N) or MNIST IDX.
    #[arg(long, required_unless_present = "config")]
    pub labels: Option<PathBuf>,
    /// Perturbation norm: linf, l2 or l1.
    #[arg(long, default_value = "linf")]
    pub norm: String,
    /// Budgets, comma-separated; fractions allowed (e.g. 0.1,0.3 or 2/255,8/255).
    #[arg(long, required_unless_present = "config")]
    pub eps: Option<String>,
    /// Attacks, comma-separated (white-box: fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, fab, fab-t,
    /// cw, deepfool; black-box: square, simba, simba-dct, hsj, boundary, transfer-<attack>), or a
    /// suite run as an ensemble: auto (= standard: apgd-ce, apgd-t, fab-t, square) or fast
    /// (apgd-ce, apgd-t).
    #[arg(long, default_value = "auto")]
    pub attacks: String,
    /// Iterations of iterative attacks, or the query budget per sample of black-box attacks
    /// (defaults: 40 for pgd, 50 for deepfool, 5000 queries for square, 100 otherwise).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Random restarts (PGD).
    #[arg(long, default_value_t = 1)]
    pub restarts: usize,
    /// PGD step size as a fraction of ε (default 2.5/steps).
    #[arg(long)]
    pub rel_step: Option<f32>,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub samples: Option<usize>,
    /// Samples per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Seed for every random choice (recorded in the report).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory.
    #[arg(long, default_value = "gauntlet-report")]
    pub out: PathBuf,
    /// Per-channel mean the model expects, applied inside the model (e.g. 0.485,0.456,0.406).
    #[arg(long)]
    pub mean: Option<String>,
    /// Per-channel std the model expects, applied inside the model.
    #[arg(long)]
    pub std: Option<String>,
    /// Per-sample input shape, when the ONNX file does not declare it (e.g. 3,32,32).
    #[arg(long)]
    pub input_shape: Option<String>,
    /// Targeted attack: every sample is pushed toward this class.
    #[arg(long)]
    pub target_class: Option<i64>,
    /// Valid input box, min,max.
    #[arg(long, default_value = "0,1")]
    pub bounds: String,
    /// Do not rerun with BPDA when the model has gradient-blocking operators.
    #[arg(long)]
    pub no_bpda: bool,
    /// Skip the gradient-masking diagnostics.
    #[arg(long)]
    pub no_diagnostics: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// CI gate: exit 1 when robust accuracy of ATTACK (or `worst`, the worst case) at NORM and
    /// EPS is below MIN, a fraction; repeatable (e.g. pgd:linf:0.1=0.80).
    #[arg(long = "fail-under", value_name = "ATTACK:NORM:EPS=MIN")]
    pub fail_under: Vec<String>,
    /// CI gate: an earlier report.json; exit 1 when robust accuracy of any attack, norm and ε in
    /// both, or of the worst case, dropped by more than --max-drop.
    #[arg(long, value_name = "OLD/report.json")]
    pub baseline: Option<PathBuf>,
    /// Largest allowed drop from --baseline, a fraction (0.02 = 2 points; default 0).
    #[arg(long, value_name = "FRACTION")]
    pub max_drop: Option<f64>,
    /// Write the gate's verdict as JUnit XML (one testcase per attack, norm and ε, and per worst case).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Print a machine-readable JSON summary on stdout, and nothing else there.
    /// Exit codes: 0 pass, 1 a threshold failed, 2 usage or input error.
    #[arg(long)]
    pub json: bool,
}

/// Runs the audit; `matches` tells which flags were given on the command line, so that they
/// override `--config`.
pub fn run(mut args: AuditArgs, matches: Option<&clap::ArgMatches>) -> Result<ExitCode> {
    if let Some(path) = args.config.clone() {
        let given = |id: &str| {
            matches.is_some_and(|m| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        };
        crate::config::Config::load(&path)?.apply(&mut args, &given);
    }
    run_with(args, std::env::args().collect())
}

/// The value of a required setting, or an error naming the flag and the config key.
fn required<'a, T>(value: &'a Option<T>, key: &str) -> Result<&'a T> {
    value
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--{key} is required; give it as a flag or as `{key}` in --config"))
}

pub fn run_with(args: AuditArgs, command: Vec<String>) -> Result<ExitCode> {
    // Everything is checked before anything is written.
    if !args.remote.is_remote() {
        required(&args.model, "model")?;
    }
    let inputs_path = required(&args.inputs, "inputs")?;
    let labels_path = required(&args.labels, "labels")?;
    let eps = required(&args.eps, "eps")?;
    let norm: Norm = args.norm.parse()?;
    let bounds = parse_list::<f32>(&args.bounds, "--bounds")?;
    if bounds.len() != 2 {
        bail!("--bounds needs two numbers, min,max (e.g. 0,1)");
    }
    let threat = ThreatModel::new(norm, &parse_epsilons(eps)?, Bounds { min: bounds[0], max: bounds[1] })?;
    let requested: Vec<String> = args
        .attacks
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    // A suite expands to its attacks and runs as an ensemble.
    let ensemble = requested.iter().any(|name| suite(name).is_some());
    let mut attack_names: Vec<String> = Vec::new();
    for name in &requested {
        match suite(name) {
            Some(members) => attack_names.extend(members.iter().map(|m| m.to_string())),
            None => attack_names.push(name.clone()),
        }
    }
    attack_names.dedup();
    let gate = Gate::parse(&args.fail_under, args.baseline.as_deref(), args.max_drop)?;
    gate.check_applicable(&attack_names, norm, threat.epsilons())?;
    let onnx_options = OnnxOptions {
        input_shape: args.input_shape.clone(),
        mean: args.mean.clone(),
        std: args.std.clone(),
    };
    let surrogate: Option<Arc<dyn Differentiable>> = match &args.surrogate {
        Some(path) => Some(Arc::new(crate::target::load_onnx(path, &onnx_options)?)),
        None => None,
    };
    let attacks = attack_names
        .iter()
        .map(|name| build_attack(name, &args, surrogate.as_ref()))
        .collect::<Result<Vec<_>>>()?;

    let target = load_target(&args, &onnx_options)?;
    let model = target.model();
    let mut data = Dataset::load(inputs_path, labels_path)?;
    if let Some(n) = args.samples {
        if n == 0 {
            bail!("--samples must be at least 1");
        }
        data.truncate(n);
    }
    if data.features() != model.features() {
        bail!(
            "samples in '{}' have shape {:?} ({} values) but the model expects {:?} ({} values); \
             export the data in the model's input layout",
            inputs_path.display(),
            data.sample_shape,
            data.features(),
            model.sample_shape(),
            model.features()
        );
    }
    let (lo, hi) = data.value_range();
    let b = threat.bounds();
    if lo < b.min - 1e-6 || hi > b.max + 1e-6 {
        bail!(
            "input values span [{lo}, {hi}], outside the valid box [{}, {}]; give raw inputs in \
             the box and the model's normalization with --mean/--std, or set --bounds",
            b.min,
            b.max
        );
    }
    let criterion = match args.target_class {
        Some(t) if t < 0 || t as usize >= model.num_classes() => {
            bail!("--target-class {t} is out of range for a model with {} classes", model.num_classes())
        }
        Some(t) => Criterion::Targeted(vec![t; data.len()]),
        None => Criterion::Untargeted,
    };

    let plan = AuditPlan {
        attacks,
        threat: threat.clone(),
        criterion: criterion.clone(),
        batch_size: args.batch_size,
        seed: args.seed,
        ensemble,
    };
    plan.validate()?;

    for attack in &plan.attacks {
        attack.check_target(model)?;
    }

    // Every finished batch goes to a checkpoint in the output directory; a rerun of the same
    // plan resumes from it.
    let fingerprint = format!(
        "gauntlet {}\ntarget: {} {}\ndata: {}\nsamples: {}\nattacks: {:?}\nthreat: {:?}\n\
         criterion: {:?}\nsteps: {:?} restarts: {} rel_step: {:?}\nbatch: {} seed: {}\n\
         surrogate: {:?}\nbpda: {}\nmax queries: {:?}\n",
        env!("CARGO_PKG_VERSION"),
        target.info.path,
        target.info.sha256,
        data.sha256,
        data.len(),
        attack_names,
        threat,
        criterion,
        args.steps,
        args.restarts,
        args.rel_step,
        args.batch_size,
        args.seed,
        args.surrogate,
        !args.no_bpda,
        args.max_queries,
    );
    let checkpoint = Checkpoint::open(args.out.join("checkpoint"), &fingerprint, args.fresh)?;

    let progress = Bar::new(args.quiet);
    let mut evaluation = run_audit_with(model, &data, &plan, &progress, Some(&checkpoint))?;
    // Gradient-blocking operators (input quantization, Sign, …) mask gradients: rerun the
    // attacks with BPDA and keep the worst case over both runs.
    let blockers = target.blockers();
    let bpda = !blockers.is_empty() && !args.no_bpda && !progress.cancelled();
    if bpda {
        if !args.quiet {
            let names: Vec<String> = blockers.iter().map(|(op, node)| format!("{op} '{node}'")).collect();
            eprintln!("gradients are blocked at {}; rerunning the attacks with BPDA", names.join(", "));
        }
        let bpda_model = target.with_bpda(&onnx_options)?;
        let rerun = run_audit_with(&bpda_model, &data, &plan, &progress, Some(&checkpoint.nested("bpda")?))?;
        evaluation = evaluation.combine(rerun, "+bpda");
    }
    if evaluation.resumed_batches > 0 && !args.quiet {
        eprintln!(
            "resumed {} finished batches from {} (pass --fresh to recompute)",
            evaluation.resumed_batches,
            checkpoint.dir().display()
        );
    }
    let diagnostics = if args.no_diagnostics || progress.cancelled() {
        Vec::new()
    } else {
        diagnose(model, &data, &plan, &evaluation, &blockers, bpda)?
    };

    let manifest = Manifest {
        gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
        command: redact_command(command),
        seed: args.seed,
        model: target.info.clone(),
        data: DataInfo {
            inputs: inputs_path.display().to_string(),
            labels: labels_path.display().to_string(),
            sha256: data.sha256.clone(),
        },
        threat_model: threat,
        criterion: match &criterion {
            Criterion::Untargeted => "untargeted".into(),
            Criterion::Targeted(t) => format!("targeted (class {})", t.first().copied().unwrap_or(0)),
        },
        attacks: attack_names,
        ensemble,
        steps: args.steps,
        restarts: args.restarts,
        batch_size: args.batch_size,
        versions: vec![
            ("gauntlet".into(), env!("CARGO_PKG_VERSION").into()),
            ("burn".into(), "0.22.1".into()),
            ("onnx-ir".into(), "0.22.0".into()),
        ],
        traffic: target.black_box.as_ref().map(|b| {
            let stats = b.stats();
            Traffic { sent: stats.sent, cached: stats.cached }
        }),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory '{}'", args.out.display()))?;
    let written = write_report(&args.out, &evaluation, &manifest, &diagnostics, model.sample_shape())?;
    if evaluation.errors.is_empty() {
        // Complete and reported: nothing to resume, and the next run measures afresh.
        checkpoint.finish()?;
    }

    if !args.quiet && !args.json {
        println!(
            "\n{} samples, clean accuracy {:.1} %\n",
            evaluation.samples,
            evaluation.clean_accuracy * 100.0
        );
        print!("{}", gauntlet_report::table(&evaluation));
        if !diagnostics.is_empty() {
            let warned = diagnostics.iter().filter(|d| d.status == Status::Warn).count();
            println!("\ndiagnostics: {} pass, {warned} warn", diagnostics.len() - warned);
        }
        for d in &diagnostics {
            if d.status == Status::Warn {
                println!("warning [{}]: {}", d.check, d.detail);
            }
        }
        println!("\nreport: {}", written.json.display());
        println!("        {}", written.markdown.display());
        println!("        {}", written.html.display());
        for g in &written.grids {
            println!("images: {}", g.display());
        }
    }
    let cases = gate.judge(&evaluation);
    let failed: Vec<&gate::Case> = cases.iter().filter(|c| !c.failures.is_empty()).collect();
    let code: u8 = if !evaluation.errors.is_empty() {
        2
    } else if failed.is_empty() {
        0
    } else {
        1
    };
    if let Some(path) = &args.junit {
        std::fs::write(path, gate::junit(&cases, evaluation.seconds))
            .with_context(|| format!("cannot write the JUnit file '{}'; check the directory exists", path.display()))?;
    }
    for case in &failed {
        for f in &case.failures {
            eprintln!("FAIL {} {} ε = {}: {f}", gate_name(case), case.norm, case.eps as f32);
        }
    }
    if args.json {
        println!("{}", gate::summary_json(&cases, &evaluation, &written.json, code));
    }
    if !evaluation.errors.is_empty() {
        for e in &evaluation.errors {
            eprintln!("error: {e}");
        }
        eprintln!("the report holds the attacks that finished (status: incomplete)");
    }
    Ok(ExitCode::from(code))
}

/// One attack from its command-line name; `transfer-<attack>` crafts with `<attack>` on the
/// surrogate.
fn build_attack(name: &str, args: &AuditArgs, surrogate: Option<&Arc<dyn Differentiable>>) -> Result<Box<dyn Attack>> {
    if let Some(inner) = name.strip_prefix("transfer-").or((name == "transfer").then_some("apgd-ce")) {
        let Some(surrogate) = surrogate else {
            bail!("attack '{name}' crafts on a surrogate model: pass --surrogate SURROGATE.onnx");
        };
        return Ok(Box::new(Transfer::new(surrogate.clone(), build_attack(inner, args, None)?)));
    }
    let settings = AttackSettings {
        steps: args.steps.unwrap_or_else(|| default_steps(name)),
        restarts: args.restarts,
        rel_step: args.rel_step,
    }
    .validated()?;
    Ok(by_name(name, &settings)?)
}

/// The model under audit.
struct Target {
    info: ModelInfo,
    /// The ONNX model and its bytes (to rebuild it with BPDA), when attacked white-box.
    white_box: Option<(OnnxModel, Vec<u8>)>,
    black_box: Option<BlackBox>,
}

impl Target {
    fn model(&self) -> &dyn Differentiable {
        match (&self.white_box, &self.black_box) {
            (Some((model, _)), _) => model,
            (None, Some(b)) => b.model.as_ref(),
            (None, None) => unreachable!("a target is white-box or black-box"),
        }
    }

    /// Gradient-blocking operators between input and output (white-box only).
    fn blockers(&self) -> Vec<(String, String)> {
        self.white_box.as_ref().map(|(m, _)| m.gradient_blockers()).unwrap_or_default()
    }

    fn with_bpda(&self, options: &OnnxOptions) -> Result<OnnxModel> {
        let (_, bytes) = self.white_box.as_ref().expect("BPDA runs on white-box targets only");
        onnx_from_bytes(bytes, &self.info.path, options, true)
    }
}

fn load_target(args: &AuditArgs, options: &OnnxOptions) -> Result<Target> {
    if args.remote.is_remote() {
        let (classifier, info) = args.remote.connect(args.input_shape.as_deref())?;
        return Ok(Target { info, white_box: None, black_box: Some(BlackBox::new(Arc::new(classifier), args.max_queries)) });
    }
    let path = required(&args.model, "model")?;
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the model file '{}'; check the path", path.display()))?;
    let model = onnx_from_bytes(&bytes, &path.display().to_string(), options, false)?;
    if args.black_box {
        let info = onnx_info(&model, path, "black-box (ONNX file, queries only)");
        return Ok(Target { info, white_box: None, black_box: Some(BlackBox::new(Arc::new(model), args.max_queries)) });
    }
    if args.max_queries.is_some() {
        bail!("--max-queries limits queries to a black-box target; add --black-box (or use --target/--target-cmd)");
    }
    let info = onnx_info(&model, path, "white-box (ONNX)");
    Ok(Target { info, white_box: Some((model, bytes)), black_box: None })
}

fn gate_name(case: &gate::Case) -> &str {
    match &case.target {
        gate::Target::Worst => "worst case",
        gate::Target::Attack(a) => a,
    }
}

/// Used by the demo: the embedded files are written here first, so the demo takes the same
/// path as a user's audit.
pub fn demo_args(dir: &Path, out: PathBuf, samples: usize, seed: u64, quiet: bool) -> AuditArgs {
    AuditArgs {
        config: None,
        model: Some(dir.join("mnist_cnn.onnx")),
        remote: Default::default(),
        black_box: false,
        max_queries: None,
        surrogate: None,
        fresh: true,
        inputs: Some(dir.join("x.npy")),
        labels: Some(dir.join("y.npy")),
        norm: "linf".into(),
        eps: Some("0.1,0.3".into()),
        attacks: "fgsm,pgd".into(),
        steps: None,
        restarts: 1,
        rel_step: None,
        samples: Some(samples),
        batch_size: 128,
        seed,
        out,
        mean: None,
        std: None,
        input_shape: None,
        target_class: None,
        bounds: "0,1".into(),
        no_bpda: false,
        no_diagnostics: false,
        quiet,
        fail_under: Vec::new(),
        baseline: None,
        max_drop: None,
        junit: None,
        json: false,
    }
}
