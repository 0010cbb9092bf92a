//! `report.json`, the contract other tools and the CI gate read: what was audited (model,
//! data, schema, with hashes), the clean pass, each attack's summary and the worst case.

use std::path::Path;

use gauntlet_run::gate::Row;

use serde::{Deserialize, Serialize};

use crate::schema::Schema;
use crate::summary::AttackSummary;

/// The report's file name (a baseline directory is searched for it).
pub const REPORT_FILE: &str = "report.json";

/// The model audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Its file.
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// What it is.
    pub description: String,
    /// Scores per row.
    pub classes: usize,
}

/// The data audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// Its file.
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Rows in it.
    pub rows: usize,
    /// Label text of each class index.
    pub classes: Vec<String>,
}

/// A rule, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Its name.
    pub name: String,
    /// Its text.
    pub rule: String,
    /// Why it holds.
    pub why: Option<String>,
}

/// The schema used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaInfo {
    /// Its file.
    pub path: String,
    /// SHA-256 of its text.
    pub sha256: String,
    /// Model input columns.
    pub features: usize,
    /// Features the attacker cannot change, with the reason where given.
    pub immutable: Vec<(String, Option<String>)>,
    /// One-hot groups.
    pub onehot_groups: Vec<String>,
    /// The rules.
    pub rules: Vec<RuleInfo>,
}

impl SchemaInfo {
    /// The report's view of a schema read from `path`.
    pub fn of(path: &Path, schema: &Schema) -> SchemaInfo {
        SchemaInfo {
            path: path.display().to_string(),
            sha256: schema.sha256.clone(),
            features: schema.width(),
            immutable: schema
                .features
                .iter()
                .filter(|f| f.immutable)
                .map(|f| (f.name.clone(), f.why.clone()))
                .collect(),
            onehot_groups: schema.onehots.iter().map(|g| g.name.clone()).collect(),
            rules: schema
                .rules
                .iter()
                .map(|r| RuleInfo {
                    name: r.name.clone(),
                    rule: r.text.clone(),
                    why: r.why.clone(),
                })
                .collect(),
        }
    }
}

/// A clean row that breaks the schema (reported, not attacked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Infeasible {
    /// The row's index (0 = the first data row).
    pub row: usize,
    /// What it breaks.
    pub violations: Vec<String>,
}

/// The attack direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    /// Rows of this class are attacked…
    pub from: String,
    /// …toward this one.
    pub to: String,
}

/// The clean pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clean {
    /// Accuracy on every row.
    pub accuracy: f64,
    /// Rows classified correctly.
    pub correct: usize,
    /// Rows that break the schema.
    pub infeasible: Vec<Infeasible>,
    /// Rows that could be attacked: correct, feasible, of the direction's class.
    pub eligible: usize,
    /// Rows attacked.
    pub attacked: usize,
    /// The direction, if one was given.
    pub direction: Option<Direction>,
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The tool and its version.
    pub tool: String,
    /// False when the run was interrupted (a rerun resumes it).
    pub complete: bool,
    /// The seed.
    pub seed: u64,
    /// Wall-clock seconds of this run.
    pub seconds: f64,
    /// The model.
    pub model: ModelInfo,
    /// The data.
    pub data: DataInfo,
    /// The schema.
    pub schema: SchemaInfo,
    /// The clean pass.
    pub clean: Clean,
    /// Each attack, constrained then unconstrained.
    pub attacks: Vec<AttackSummary>,
    /// The worst case over the constrained attacks.
    pub worst: AttackSummary,
    /// The settings.
    pub settings: serde_json::Value,
}

/// The gate's rows of a `report.json` (for `--baseline`).
pub fn baseline_rows(report: &serde_json::Value) -> std::result::Result<Vec<Row>, String> {
    let report: Report = serde_json::from_value(report.clone())
        .map_err(|e| format!("it is not a gauntlet tabular report.json ({e})"))?;
    Ok(gate_rows(&report))
}

/// The gate's rows: each constrained attack and the worst case.
pub fn gate_rows(report: &Report) -> Vec<Row> {
    report
        .attacks
        .iter()
        .filter(|s| s.constrained)
        .chain([&report.worst])
        .map(|s| Row::new(s.attack.clone(), s.robust_accuracy))
        .collect()
}
