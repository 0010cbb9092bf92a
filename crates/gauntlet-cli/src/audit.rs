//! `gauntlet audit`: flags (and `--config gauntlet.toml`) → [`AuditConfig`] → the library's
//! audit → the terminal. Every flag is a key of `AuditConfig` with `-` for `_`: the flags that
//! were given are serialized over the file's keys and the result is deserialized once, so a flag
//! without a key cannot exist (the test `every_audit_flag_is_a_config_key` holds it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use gauntlet_audit::{AuditConfig, AuditRun};
use gauntlet_eval::diagnostics::Status;
use gauntlet_run::gate::summary_json;

use crate::progress::{interrupted, Bar};
use crate::settings::flags_over_file;

/// The flags of `gauntlet audit`. Absent options take the value in `--config`, else the
/// library's default (shown in brackets).
#[derive(Args, Debug, Clone, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct AuditArgs {
    /// Read settings from a gauntlet.toml; flags given on the command line override it.
    #[arg(long, value_name = "gauntlet.toml")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The ONNX classifier (exported with torch.onnx.export or any ONNX exporter).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Attack a live HTTP(S) prediction endpoint by queries (in place of --model).
    #[arg(long, value_name = "URL", conflicts_with = "model")]
    pub target: Option<String>,
    /// Attack an external command speaking JSON Lines on stdin/stdout (in place of --model):
    /// one request line in, one answer line out.
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["model", "target"])]
    pub target_cmd: Option<String>,
    /// Classes the remote target predicts (required with --target/--target-cmd).
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// What the target answers: scores, label, or topk:K [scores].
    #[arg(long)]
    pub answer: Option<String>,
    /// JSON pointer to the answer in the response (default /scores, or /labels for label).
    #[arg(long, value_name = "POINTER")]
    pub answer_pointer: Option<String>,
    /// Request body template; "{{inputs}}" is replaced by the batch as nested arrays
    /// (default {"inputs": "{{inputs}}"}).
    #[arg(long, value_name = "JSON")]
    pub request_template: Option<String>,
    /// HTTP header 'Name: value', repeatable; ${ENV_VAR} in the value is read from the
    /// environment and never written to reports or logs.
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub header: Vec<String>,
    /// HTTP method [POST].
    #[arg(long)]
    pub method: Option<String>,
    /// Seconds to wait for one answer [30].
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Retries of a failed request (5xx, 429, timeouts, malformed answers), with exponential
    /// backoff [3].
    #[arg(long)]
    pub retries: Option<u32>,
    /// Client-side rate limit, requests per second.
    #[arg(long, value_name = "REQ/S")]
    pub rate_limit: Option<f64>,
    /// Requests in flight at once [4].
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Inputs per request [64].
    #[arg(long)]
    pub rows_per_request: Option<usize>,
    /// Attack the ONNX model through queries only (as a deployed model would be): gradient
    /// attacks are refused, queries are counted and cached.
    #[arg(long)]
    pub black_box: bool,
    /// Surrogate ONNX model for transfer attacks (`--attacks transfer-pgd`, `transfer-apgd-ce`,
    /// …: crafted with the named white-box attack on the surrogate, evaluated on the target).
    #[arg(long, value_name = "SURROGATE.onnx")]
    pub surrogate: Option<PathBuf>,
    /// Confine every attack to a region: a black-and-white PNG at the model's input resolution
    /// (white: may change, every channel; black: never changes).
    #[arg(long, value_name = "FILE.png")]
    pub mask: Option<PathBuf>,
    /// Total queries a black-box target may receive over the whole run (after the cache);
    /// once spent, the remaining samples are recorded as not attacked.
    #[arg(long, value_name = "N")]
    pub max_queries: Option<u64>,
    /// Bound of a black-box target's answer cache, MiB; the least recently used answers are
    /// evicted first, and the report gives the hit rate (0: no cache) [256].
    #[arg(long, value_name = "MIB")]
    pub query_cache_mb: Option<u64>,
    /// Discard the checkpoint an interrupted run left in the output directory instead of
    /// resuming from it.
    #[arg(long)]
    pub fresh: bool,
    /// Run part of the samples: I/N (part I of N, counted from 0), or auto (a Kubernetes
    /// Indexed Job's JOB_COMPLETION_INDEX, with the count in GAUNTLET_SHARDS, or a Slurm job
    /// array's SLURM_ARRAY_TASK_ID). `gauntlet merge` combines the parts' output folders into
    /// the report of the whole run.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
    /// Inputs: .npy (float32 N×C×H×W or N×D in the valid box; uint8 is scaled to [0,1]) or MNIST IDX.
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Labels: .npy integer class indices (N) or MNIST IDX.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Perturbation norm: linf, l2 or l1 [linf].
    #[arg(long)]
    pub norm: Option<String>,
    /// Budgets, comma-separated; fractions allowed (e.g. 0.1,0.3 or 2/255,8/255).
    #[arg(long)]
    pub eps: Option<String>,
    /// Attacks, comma-separated (white-box: fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, fab, fab-t,
    /// cw, deepfool, uap (one perturbation for a whole batch); black-box: square, simba,
    /// simba-dct, hsj, boundary, transfer-<attack>), or a suite run as an ensemble: auto
    /// (= standard: apgd-ce, apgd-t, fab-t, square) or fast (apgd-ce, apgd-t) [auto].
    #[arg(long)]
    pub attacks: Option<String>,
    /// Iterations of iterative attacks (defaults: 40 for pgd, 50 for deepfool, 100 otherwise).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Query budget of black-box attacks (see gauntlet_attacks::AttackSettings for what one
    /// query budget covers; defaults: 5000 for square, 10000 otherwise).
    #[arg(long)]
    pub queries: Option<u64>,
    /// Random restarts [1].
    #[arg(long)]
    pub restarts: Option<usize>,
    /// PGD step size as a fraction of ε (default 2.5/steps).
    #[arg(long)]
    pub rel_step: Option<f32>,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub samples: Option<usize>,
    /// Samples per batch [128].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed for every random choice (recorded in the report) [0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory [gauntlet-report].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Per-channel mean the model expects, applied inside the model (e.g. 0.485,0.456,0.406).
    #[arg(long)]
    pub mean: Option<String>,
    /// Per-channel std the model expects, applied inside the model.
    #[arg(long)]
    pub std: Option<String>,
    /// Per-sample input shape, when the ONNX file does not declare it (e.g. 3,32,32), in the
    /// model's own layout.
    #[arg(long)]
    pub input_shape: Option<String>,
    /// The ONNX output holding the class scores, for models with several outputs (e.g.
    /// probabilities of a scikit-learn export) [the only float N×classes output].
    #[arg(long)]
    pub output: Option<String>,
    /// Input layout of the ONNX model: nchw or nhwc (Keras/TensorFlow); data files are in that
    /// layout [read off the model's input shape].
    #[arg(long)]
    pub layout: Option<String>,
    /// Targeted attack: every sample is pushed toward this class.
    #[arg(long)]
    pub target_class: Option<i64>,
    /// Valid input box, min,max [0,1].
    #[arg(long)]
    pub bounds: Option<String>,
    /// After the Lp attacks, search every picture's rotations and translations (Engstrom et
    /// al. 2019: grid search, verified by re-applying the worst transformation; random and
    /// worst-of-k random baselines). Pictures (C×H×W) only; not with --mask or --shard.
    #[arg(long)]
    pub spatial: bool,
    /// Spatial stage: largest rotation either way, degrees [30].
    #[arg(long, value_name = "DEGREES")]
    pub spatial_rotation: Option<f32>,
    /// Spatial stage: angles tried, evenly spaced over ±--spatial-rotation [31].
    #[arg(long, value_name = "N")]
    pub spatial_rotation_steps: Option<usize>,
    /// Spatial stage: largest shift either way on each axis, pixels [3].
    #[arg(long, value_name = "PIXELS")]
    pub spatial_translation: Option<f32>,
    /// Spatial stage: shifts tried per axis, evenly spaced over ±--spatial-translation [7].
    #[arg(long, value_name = "N")]
    pub spatial_translation_steps: Option<usize>,
    /// Spatial stage: random transformations per sample of the worst-of-k baseline [10].
    #[arg(long, value_name = "K")]
    pub spatial_random_draws: Option<usize>,
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

impl AuditArgs {
    /// The config: `--config`'s keys (if any), overridden by every flag given.
    pub fn to_config(&self) -> Result<AuditConfig> {
        flags_over_file(
            self.config.as_deref(),
            self,
            &[("fail_under", "thresholds"), ("header", "headers")],
        )
    }
}

/// Rewrites the library's `` `key` `` mentions into this command's `--key` flags.
pub fn with_flag_names(error: anyhow::Error) -> anyhow::Error {
    anyhow::anyhow!(flag_names(&format!("{error:#}")))
}

fn flag_names(text: &str) -> String {
    let mut text = text.to_string();
    for key in AuditConfig::keys() {
        text = text.replace(&format!("`{key}`"), &format!("--{}", key.replace('_', "-")));
    }
    text
}

/// Runs `gauntlet audit`.
pub fn run(args: AuditArgs) -> Result<ExitCode> {
    let config = args.to_config().map_err(with_flag_names)?;
    run_config(config, std::env::args().collect())
}

/// Checks and runs a config, then prints what the terminal shows.
pub fn run_config(config: AuditConfig, command: Vec<String>) -> Result<ExitCode> {
    let (quiet, json) = (config.quiet, config.json);
    let audit = config
        .check()
        .map_err(with_flag_names)?
        .with_stop(Arc::new(interrupted))
        .with_command(redact_command(command));
    let progress = Bar::new(quiet);
    let run = audit.run(&progress).map_err(with_flag_names)?;
    Ok(show_run(&run, quiet, json))
}

/// What the terminal shows of a finished (or merged) audit, and its exit code.
pub fn show_run(run: &AuditRun, quiet: bool, json: bool) -> ExitCode {
    if !quiet && !json {
        print_summary(run);
    }
    for line in run.judgement.problems() {
        eprintln!("{line}");
    }
    if json {
        let mut summary = summary_json(&run.judgement, &run.written.json);
        summary["errors"] = serde_json::json!(run.evaluation.errors);
        summary["samples"] = run.evaluation.samples.into();
        summary["clean_accuracy"] = run.evaluation.clean_accuracy.into();
        println!("{summary}");
    }
    if !run.evaluation.errors.is_empty() {
        for e in &run.evaluation.errors {
            eprintln!("error: {}", flag_names(e));
        }
        eprintln!("the report holds the attacks that finished (status: incomplete)");
    }
    ExitCode::from(run.exit_code())
}

fn print_summary(run: &AuditRun) {
    let evaluation = &run.evaluation;
    if !run.blockers.is_empty() {
        let names: Vec<String> = run
            .blockers
            .iter()
            .map(|(op, node)| format!("{op} '{node}'"))
            .collect();
        eprintln!(
            "gradients are blocked at {}; the attacks were rerun with BPDA (rows +bpda)",
            names.join(", ")
        );
    }
    if evaluation.resumed_batches > 0 {
        eprintln!(
            "resumed {} finished batches from {} (pass --fresh to recompute)",
            evaluation.resumed_batches,
            run.checkpoint.display()
        );
    }
    println!(
        "\n{} samples, clean accuracy {:.1} %\n",
        evaluation.samples,
        evaluation.clean_accuracy * 100.0
    );
    print!("{}", gauntlet_report::table(evaluation));
    if let Some(spatial) = &evaluation.spatial {
        if spatial.resumed_samples > 0 {
            eprintln!(
                "spatial stage: restored {} finished samples from {}",
                spatial.resumed_samples,
                run.checkpoint.display()
            );
        }
        println!(
            "\nspatial (rotation ±{}°, translation ±{} px): robust accuracy {:.1} % under the grid \
             search ({} transformations), {:.1} % under one random transformation, {:.1} % under \
             the worst of {} random",
            spatial.grid.rotation_deg,
            spatial.grid.translation_px,
            spatial.robust_accuracy * 100.0,
            spatial.grid.len(),
            spatial.random_robust_accuracy * 100.0,
            spatial.worst_of_random_robust_accuracy * 100.0,
            spatial.random_draws
        );
    }
    if !run.diagnostics.is_empty() {
        let warned = run
            .diagnostics
            .iter()
            .filter(|d| d.status == Status::Warn)
            .count();
        println!(
            "\ndiagnostics: {} pass, {warned} warn",
            run.diagnostics.len() - warned
        );
    }
    for d in &run.diagnostics {
        if d.status == Status::Warn {
            println!("warning [{}]: {}", d.check, d.detail);
        }
    }
    println!("\nreport: {}", run.written.json.display());
    println!("        {}", run.written.markdown.display());
    println!("        {}", run.written.html.display());
    for g in &run.written.grids {
        println!("images: {}", g.display());
    }
}

/// Hides the values of `--header` arguments in a command line that goes into a report, in
/// case a secret was typed literally instead of as `${ENV_VAR}`.
pub fn redact_command(command: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(command.len());
    let mut hide_next = false;
    for arg in command {
        if hide_next {
            out.push(redact_header(&arg));
            hide_next = false;
        } else if arg == "--header" {
            out.push(arg);
            hide_next = true;
        } else if let Some(value) = arg.strip_prefix("--header=") {
            out.push(format!("--header={}", redact_header(value)));
        } else {
            out.push(arg);
        }
    }
    out
}

fn redact_header(header: &str) -> String {
    match header.split_once(':') {
        Some((name, _)) => format!("{name}: <redacted>"),
        None => "<redacted>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        audit: AuditArgs,
    }

    #[test]
    fn every_audit_flag_is_a_config_key() {
        let keys = AuditConfig::keys();
        for arg in Wrapper::command().get_arguments() {
            let id = arg.get_id().as_str();
            if id == "config" || id == "help" {
                continue;
            }
            assert!(
                keys.contains(&id.to_string()),
                "flag --{} has no key in AuditConfig",
                id.replace('_', "-")
            );
        }
    }

    #[test]
    fn flags_override_the_file_and_the_file_fills_the_rest() {
        let dir = std::env::temp_dir().join(format!("gauntlet-cli-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gauntlet.toml");
        std::fs::write(
            &path,
            "model = \"m.onnx\"\neps = [0.1]\nseed = 5\nthresholds = [\"worst:linf:0.1=0.5\"]\n",
        )
        .unwrap();
        let args = AuditArgs {
            config: Some(path),
            seed: Some(9),
            fresh: true,
            ..AuditArgs::default()
        };
        let config = args.to_config().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config.seed, 9, "the flag wins");
        assert!(config.fresh);
        assert_eq!(
            config.model,
            Some(PathBuf::from("m.onnx")),
            "the file fills the rest"
        );
        assert_eq!(config.fail_under, vec!["worst:linf:0.1=0.5"]);
        assert_eq!(
            config.batch_size,
            AuditConfig::default().batch_size,
            "the library default"
        );
    }

    #[test]
    fn library_keys_are_shown_as_flags() {
        let e = with_flag_names(anyhow::anyhow!(
            "`batch_size` must be at least 1; `eps` too"
        ));
        assert_eq!(e.to_string(), "--batch-size must be at least 1; --eps too");
    }

    #[test]
    fn header_values_never_reach_the_recorded_command() {
        let cmd = [
            "gauntlet",
            "audit",
            "--header",
            "Authorization: Bearer s3cret",
            "--header=X-Key: k3y",
            "--seed",
            "1",
        ]
        .map(String::from)
        .to_vec();
        let shown = redact_command(cmd).join(" ");
        assert!(
            !shown.contains("s3cret") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("Authorization: <redacted>") && shown.contains("--seed 1"));
    }
}
