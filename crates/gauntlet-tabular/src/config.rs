//! The tabular audit's settings: plain serde data (a TOML file or the CLI's flags), checked
//! once by `TabularAuditConfig::check` (in [`crate::audit`]) into a `TabularAudit` that can run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Every setting of a tabular audit. Keys are the CLI's flags with `_` for `-`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TabularAuditConfig {
    /// The model: an ONNX file (a network, or a tree ensemble of `ai.onnx.ml`).
    pub model: PathBuf,
    /// The rows to attack: CSV (or `.csv.gz`) with a header.
    pub data: PathBuf,
    /// The schema (TOML): feature kinds, immutables, costs, rules.
    pub schema: PathBuf,
    /// The label column (overrides the schema's `label`).
    pub label_column: Option<String>,
    /// Attacks to run: `tree`, `beam`, `cpgd`, `hsj`; empty: `tree`, `beam` and `cpgd` where
    /// the model supports them (`hsj` is the decision-based fallback, asked for by name).
    pub attacks: Vec<String>,
    /// `FROM:TO`: attack only rows of class FROM, toward class TO (label texts or indices),
    /// e.g. `1:0` or `spam:nonspam`. Without it, every correctly classified row, untargeted.
    pub direction: Option<String>,
    /// Attack at most this many rows (the first eligible ones in file order).
    pub samples: Option<usize>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Output directory.
    pub out: PathBuf,
    /// Skip the unconstrained twin of each attack (run without the schema's rules, it
    /// measures how many of a standard attack's results could never occur).
    pub constrained_only: bool,
    /// Rows per batch (and per checkpoint record).
    pub batch_size: usize,
    /// Beam width of `beam` and `tree`.
    pub beam_width: usize,
    /// Most features `beam` and `tree` change.
    pub max_changes: usize,
    /// Most rows `beam` and `tree` score per attacked row.
    pub max_queries: u64,
    /// Gradient steps of `cpgd` per restart.
    pub steps: usize,
    /// Restarts of `cpgd`.
    pub restarts: usize,
    /// `cpgd`'s L∞ radius in units of each column's spread; none: the schema's bounds only.
    pub eps: Option<f64>,
    /// Queries per row of `hsj`.
    pub queries: u64,
    /// Gate thresholds `ATTACK=MIN` on robust accuracy (share of attacked rows not evaded).
    pub fail_under: Vec<String>,
    /// A previous `report.json` (or its directory) to compare with.
    pub baseline: Option<PathBuf>,
    /// Largest drop of robust accuracy from the baseline.
    pub max_drop: Option<f64>,
    /// Write a JUnit XML file of the gate here.
    pub junit: Option<PathBuf>,
    /// Start afresh instead of resuming from the checkpoint in `out`.
    pub fresh: bool,
    /// Attack only part of the rows: `I/N` (part I of N, from 0) or `auto` (a Kubernetes
    /// Indexed Job's or a Slurm job array's index), by whole batches. `gauntlet merge` combines
    /// the parts' output folders into the report the whole run would have written.
    pub shard: Option<String>,
    /// Print nothing but errors (and the JSON summary with `json`).
    pub quiet: bool,
    /// Print the gate's summary as JSON.
    pub json: bool,
}

impl Default for TabularAuditConfig {
    fn default() -> Self {
        TabularAuditConfig {
            model: PathBuf::new(),
            data: PathBuf::new(),
            schema: PathBuf::new(),
            label_column: None,
            attacks: Vec::new(),
            direction: None,
            samples: None,
            seed: 0,
            out: PathBuf::from("gauntlet-tabular-out"),
            constrained_only: false,
            batch_size: 32,
            beam_width: 16,
            max_changes: 6,
            max_queries: 200_000,
            steps: 50,
            restarts: 2,
            eps: None,
            queries: 5_000,
            fail_under: Vec::new(),
            baseline: None,
            max_drop: None,
            junit: None,
            fresh: false,
            shard: None,
            quiet: false,
            json: false,
        }
    }
}

/// Attack names the audit knows.
pub const ATTACKS: [&str; 4] = ["tree", "beam", "cpgd", "hsj"];

/// The attacks run when none are named (each where the model supports it).
pub const DEFAULT_ATTACKS: [&str; 3] = ["tree", "beam", "cpgd"];
