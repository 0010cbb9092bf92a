//! `gauntlet tabular-audit`: evasion of a model on table rows (crate gauntlet-tabular). The
//! flags and `--config gauntlet.toml` become one `TabularAuditConfig` (keys named like the
//! flags; flags win); the library checks it, runs the audit with checkpoint and resume,
//! writes the reports and judges the gate; this prints and returns the gate's exit code
//! (0 pass, 1 a threshold failed, 2 usage error or incomplete run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use gauntlet_tabular::{Error, TabularAuditConfig, TabularRun};

use crate::progress::Bar;
use crate::settings::flags_over_file;

/// Flags of `gauntlet tabular-audit`. Each has a `gauntlet.toml` key of the same name with `_`
/// for `-`; defaults are `TabularAuditConfig::default()`'s.
#[derive(Args, Debug, Default, Serialize)]
pub struct TabularAuditArgs {
    /// Read settings from a gauntlet.toml (keys named like the flags); flags override it.
    #[arg(long, value_name = "gauntlet.toml")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The model: an ONNX file — a network (MLP …) or an ai.onnx.ml tree ensemble
    /// (skl2onnx, onnxmltools).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The rows to attack: CSV (or .csv.gz) with a header row.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The schema (TOML): feature kinds and bounds, immutables, costs, one-hot groups, rules.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// The CSV column holding the class (overrides the schema's `label`).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Attacks, comma separated: tree (tree ensembles), cpgd (networks), beam (any model), hsj
    /// (HopSkipJump, the decision-based fallback) [default: tree, beam and cpgd where the
    /// model supports them].
    #[arg(long, value_delimiter = ',')]
    pub attacks: Vec<String>,
    /// FROM:TO — attack only rows of class FROM, toward TO (label texts or indices), e.g.
    /// 1:0 or spam:nonspam [default: every correct row, any other class].
    #[arg(long, value_name = "FROM:TO")]
    pub direction: Option<String>,
    /// Attack at most N rows (the first eligible ones in file order).
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Seed of every random choice [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder [default: gauntlet-tabular-out].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the unconstrained twin of each attack (the baseline that shows how many of a
    /// standard attack's results break the rules).
    #[arg(long)]
    pub constrained_only: bool,
    /// Rows per batch and per checkpoint record [default: 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Rows kept per level by beam and tree [default: 16].
    #[arg(long)]
    pub beam_width: Option<usize>,
    /// Most features beam and tree change [default: 6].
    #[arg(long)]
    pub max_changes: Option<usize>,
    /// Most rows beam and tree score per attacked row [default: 200000].
    #[arg(long)]
    pub max_queries: Option<u64>,
    /// cpgd: gradient steps per restart [default: 50].
    #[arg(long)]
    pub steps: Option<usize>,
    /// cpgd: restarts [default: 2].
    #[arg(long)]
    pub restarts: Option<usize>,
    /// cpgd: L∞ radius in units of each column's spread in the data [default: the schema's
    /// bounds only].
    #[arg(long)]
    pub eps: Option<f64>,
    /// hsj: queries per row [default: 5000].
    #[arg(long)]
    pub queries: Option<u64>,
    /// Gate: ATTACK=MIN, the least share of attacked rows not evaded (repeatable), e.g.
    /// worst=0.5.
    #[arg(long, value_name = "ATTACK=MIN")]
    pub fail_under: Vec<String>,
    /// Gate: an earlier report.json (or its folder) to compare with.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Gate: the largest drop from --baseline, a fraction.
    #[arg(long)]
    pub max_drop: Option<f64>,
    /// Gate: write a JUnit XML file here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Start afresh instead of resuming from the checkpoint in --out.
    #[arg(long)]
    pub fresh: bool,
    /// Attack part of the rows, by whole batches: I/N (batch b when b mod N = I, counted from
    /// 0), or auto (a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, with the count in
    /// GAUNTLET_SHARDS, or a Slurm job array's SLURM_ARRAY_TASK_ID). `gauntlet merge` combines
    /// the parts' output folders into the report of the whole run.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
    /// Print only errors (and --json).
    #[arg(long)]
    pub quiet: bool,
    /// Print the gate's summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A library error, with the flag (and config key) a setting error is about.
fn with_flag(e: Error) -> anyhow::Error {
    match &e {
        Error::InvalidConfig { field, .. } => anyhow::anyhow!(
            "{e} (the flag --{}, or `{field}` in --config)",
            field.replace('_', "-")
        ),
        _ => anyhow::Error::new(e),
    }
}

/// Runs `gauntlet tabular-audit`.
pub fn run(args: TabularAuditArgs) -> Result<ExitCode> {
    let config: TabularAuditConfig = flags_over_file(args.config.as_deref(), &args, &[])?;
    let quiet = config.quiet || config.json;
    let audit = config.check().map_err(with_flag)?;
    let run = audit.run(&Bar::new(quiet)).map_err(with_flag)?;
    if run.resumed > 0 && !quiet {
        eprintln!(
            "resumed {} finished row outcomes from {} (pass --fresh to recompute)",
            run.resumed,
            run.out.display()
        );
    }
    if !audit.shard.is_whole() && !quiet {
        eprintln!(
            "shard {} of the run written to {}; `gauntlet merge` its output folder with the \
             other shards' for the whole run's report",
            audit.shard,
            run.out.display()
        );
    }
    Ok(show(&run, quiet, config.json))
}

/// `gauntlet merge` of tabular-audit shards: the whole run's report, files and gate.
/// `shards`, `out`, `quiet`, `json`: the flags of `gauntlet merge`.
pub fn merge(shards: &[PathBuf], out: &Path, quiet: bool, json: bool) -> Result<ExitCode> {
    let silent = quiet || json;
    let run = gauntlet_tabular::shard::merge(shards, out, quiet, json, &Bar::new(silent))
        .map_err(with_flag)?;
    Ok(show(&run, silent, json))
}

/// Prints a finished (or stopped) run — its tables, files, gate problems, the JSON summary —
/// and returns the gate's exit code.
fn show(run: &TabularRun, quiet: bool, json: bool) -> ExitCode {
    if !quiet {
        println!("{}", gauntlet_tabular::markdown::markdown(&run.report));
        for file in [
            "report.json",
            "report.md",
            "report.html",
            "samples.jsonl",
            "adversarial.csv",
        ] {
            println!("wrote {}", run.out.join(file).display());
        }
    }
    for line in run.judgement.problems() {
        eprintln!("{line}");
    }
    if !run.report.complete {
        eprintln!("the report holds what finished (incomplete); rerun the same command to resume");
    }
    if json {
        println!(
            "{}",
            gauntlet_run::gate::summary_json(&run.judgement, &run.out.join("report.json"))
        );
    }
    ExitCode::from(run.exit_code())
}
