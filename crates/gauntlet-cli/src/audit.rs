//! `gauntlet audit`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use gauntlet_attacks::{by_name, default_steps, suite, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::Dataset;
use gauntlet_core::model::Classifier;
use gauntlet_core::preprocess::Normalization;
use gauntlet_core::threat::{parse_epsilons, Bounds, Norm, ThreatModel};
use gauntlet_eval::diagnostics::{diagnose, Status};
use gauntlet_eval::{run_audit, AuditPlan};
use gauntlet_onnx::OnnxModel;
use gauntlet_report::{write_report, DataInfo, Manifest, ModelInfo};

use crate::gate::{self, Gate};
use crate::progress::Bar;

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Read settings from a gauntlet.toml; flags given on the command line override it.
    #[arg(long, value_name = "gauntlet.toml")]
    pub config: Option<PathBuf>,
    /// The ONNX classifier (exported with torch.onnx.export or any ONNX exporter).
    #[arg(long, required_unless_present = "config")]
    pub model: Option<PathBuf>,
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
    /// Attacks, comma-separated (fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square, cw,
    /// deepfool), or a suite run as an ensemble: auto (= standard: apgd-ce, apgd-t, fab-t,
    /// square) or fast (apgd-ce, apgd-t).
    #[arg(long, default_value = "auto")]
    pub attacks: String,
    /// Iterations of iterative attacks (default: 40 for pgd, 50 for deepfool, 100 otherwise).
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

fn parse_list<T: std::str::FromStr>(text: &str, what: &str) -> Result<Vec<T>> {
    text.split(',')
        .map(|s| {
            s.trim()
                .parse::<T>()
                .map_err(|_| anyhow::anyhow!("cannot read '{s}' in {what}; give comma-separated numbers"))
        })
        .collect()
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
    let model_path = required(&args.model, "model")?;
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
    let attacks = attack_names
        .iter()
        .map(|name| {
            let settings = AttackSettings {
                steps: args.steps.unwrap_or_else(|| default_steps(name)),
                restarts: args.restarts,
                rel_step: args.rel_step,
            }
            .validated()?;
            by_name(name, &settings)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let shape_override = args
        .input_shape
        .as_deref()
        .map(|s| parse_list::<usize>(s, "--input-shape"))
        .transpose()?;
    let model_bytes = std::fs::read(model_path)
        .with_context(|| format!("cannot read the model file '{}'; check the path", model_path.display()))?;
    let build_model = |bpda: bool| -> Result<OnnxModel> {
        let mut model = OnnxModel::from_bytes(&model_bytes, &model_path.display().to_string(), shape_override.clone())?;
        match (&args.mean, &args.std) {
            (Some(m), Some(s)) => {
                let norm = Normalization::new(parse_list(m, "--mean")?, parse_list(s, "--std")?, model.sample_shape())?;
                model = model.with_normalization(norm);
            }
            (None, None) => {}
            _ => bail!("--mean and --std go together; give both or neither"),
        }
        Ok(if bpda { model.with_bpda() } else { model })
    };
    let model = build_model(false)?;

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

    let progress = Bar::new(args.quiet);
    let mut evaluation = run_audit(&model, &data, &plan, &progress)?;
    // Gradient-blocking operators (input quantization, Sign, …) mask gradients: rerun the
    // attacks with BPDA and keep the worst case over both runs.
    let blockers = model.gradient_blockers();
    let bpda = !blockers.is_empty() && !args.no_bpda;
    if bpda {
        if !args.quiet {
            let names: Vec<String> = blockers.iter().map(|(op, node)| format!("{op} '{node}'")).collect();
            eprintln!("gradients are blocked at {}; rerunning the attacks with BPDA", names.join(", "));
        }
        let bpda_model = build_model(true)?;
        let rerun = run_audit(&bpda_model, &data, &plan, &progress)?;
        evaluation = evaluation.combine(rerun, "+bpda");
    }
    let diagnostics = if args.no_diagnostics {
        Vec::new()
    } else {
        diagnose(&model, &data, &plan, &evaluation, &blockers, bpda)?
    };

    let manifest = Manifest {
        gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
        command,
        seed: args.seed,
        model: ModelInfo {
            path: model_path.display().to_string(),
            sha256: model.sha256().to_string(),
            opset: model.opset(),
            sample_shape: model.sample_shape().to_vec(),
            num_classes: model.num_classes(),
            operators: model.operators(),
        },
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
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory '{}'", args.out.display()))?;
    let written = write_report(&args.out, &evaluation, &manifest, &diagnostics, model.sample_shape())?;

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
