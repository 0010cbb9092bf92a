//! gauntlet-report: turns an [`Evaluation`] and its run manifest into files people and tools
//! read. It knows nothing about how attacks work.
//!
//! It is the last stage of an audit (data + model + threat model → attack → outcomes →
//! evaluation → report): `gauntlet-eval` has already reduced the attacks' per-sample outcomes
//! to robust accuracy per budget, and [`write_report`] writes, into one directory:
//!
//! - `report.json` — the contract CI and other tools read ([`Report`]);
//! - `report.md` — a readable table;
//! - `report.html` — one self-contained page: verdict, robust accuracy vs ε plots, per-class
//!   table, embedded image grids, diagnostics and the reproducibility manifest;
//! - `samples.jsonl` — one line per sample: label, clean prediction, and per budget which
//!   attack broke it and what each attack achieved;
//! - `adversarial/` — adversarial inputs as `.npy`, and PNG grids of clean / adversarial /
//!   amplified perturbation.
//!
//! [`certify`] writes the report of `gauntlet certify` (randomized smoothing) the same way.
//!
//! Files are written to a temporary name and renamed, so a report is never half-written.

pub mod certify;
mod grid;
pub mod hardening;
pub mod html;
mod manifest;
mod markdown;
pub mod poisoning;
pub mod queries;
pub mod spatial;

use std::path::{Path, PathBuf};

use serde::Serialize;

use gauntlet_core::data::{write_npy_f32, write_npy_i64};
use gauntlet_core::layout::{chw_to_hwc, Layout};
use gauntlet_core::samples::Samples;
use gauntlet_core::{Error, Result};
use gauntlet_eval::diagnostics::Diagnostic;
use gauntlet_eval::{AdversarialRows, AttackResult, Evaluation, WorstCase};

pub use grid::{blank_grid, encode_png, paint, write_grid, Grid, GAP, SCALE};
pub use manifest::{DataInfo, Manifest, ModelInfo, Traffic};
pub use queries::{query_efficiency, QueryEfficiency};

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    /// `complete`, or `incomplete` when an attack failed (see `errors`).
    pub status: &'static str,
    /// Samples evaluated.
    pub samples: usize,
    /// Share of samples classified correctly without attack, 0 to 1.
    pub clean_accuracy: f64,
    /// The run's seed (also in the manifest, here for tools that read only the top level).
    pub seed: u64,
    /// The model audited (as in the manifest).
    pub model: &'a ModelInfo,
    /// The data audited (as in the manifest).
    pub data: &'a DataInfo,
    /// One entry per attack and budget: robust accuracy, success, perturbation sizes, cost.
    pub results: &'a [AttackResult],
    /// Per budget, the worst case over all attacks: a sample counts as robust only if every
    /// attack failed on it.
    pub worst_case: &'a [WorstCase],
    /// Checks that say when these numbers should not be trusted (masked gradients, weak
    /// attacks), each pass or warn.
    pub diagnostics: &'a [Diagnostic],
    /// Errors of attacks that failed after the run started; empty for a complete run.
    pub errors: &'a [String],
    /// Black-box attacks: success rate vs queries, median and mean queries of successes.
    pub query_efficiency: Vec<QueryEfficiency>,
    /// The spatial stage (rotations and translations, Engstrom et al. 2019), when run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spatial: Option<spatial::SpatialSection>,
    /// Batches restored from a checkpoint of an interrupted run instead of recomputed.
    pub resumed_batches: usize,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// How the run was made.
    pub manifest: &'a Manifest,
}

impl<'a> Report<'a> {
    /// The report of `evaluation`; query statistics are computed here, the rest is borrowed.
    pub fn new(
        evaluation: &'a Evaluation,
        manifest: &'a Manifest,
        diagnostics: &'a [Diagnostic],
    ) -> Self {
        Report {
            status: if evaluation.errors.is_empty() {
                "complete"
            } else {
                "incomplete"
            },
            samples: evaluation.samples,
            clean_accuracy: evaluation.clean_accuracy,
            seed: manifest.seed,
            model: &manifest.model,
            data: &manifest.data,
            results: &evaluation.results,
            worst_case: &evaluation.worst_case,
            diagnostics,
            errors: &evaluation.errors,
            query_efficiency: queries::query_efficiency(evaluation),
            spatial: evaluation
                .spatial
                .as_ref()
                .map(spatial::SpatialSection::new),
            resumed_batches: evaluation.resumed_batches,
            seconds: evaluation.seconds,
            manifest,
        }
    }
}

/// Paths of what [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// `adversarial/<attack>_<norm>_eps<ε>.npy`, one per attack and budget, shaped
    /// `[samples, ...sample_shape]` in the model's layout (`[N, H, W, C]` for a channels-last
    /// model).
    pub adversarial: Vec<PathBuf>,
    /// PNG grids, one per attack that broke a sample (image-shaped samples only), and the
    /// spatial stage's `spatial_grid.png` when it broke one.
    pub grids: Vec<PathBuf>,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    gauntlet_run::fs::write_atomic(path, bytes).map_err(Error::Write)
}

fn file_stem(result: &AttackResult) -> String {
    gauntlet_eval::adversarial::file_stem(&result.attack, result.norm, result.eps)
}

/// Writes the whole report into `dir` (created if needed). `clean` are the evaluated samples
/// (the pictures show a few of them beside their adversarial rows).
pub fn write_report(
    dir: &Path,
    evaluation: &Evaluation,
    clean: &dyn Samples,
    manifest: &Manifest,
    diagnostics: &[Diagnostic],
    sample_shape: &[usize],
) -> Result<Written> {
    let adv_dir = dir.join("adversarial");
    std::fs::create_dir_all(&adv_dir).map_err(|e| Error::io(&adv_dir, e))?;

    let mut adversarial = Vec::new();
    let mut grids: Vec<Grid> = Vec::new();
    let n = evaluation.samples;
    let mut shape = vec![n];
    shape.extend_from_slice(sample_shape);
    // Written in the model's own layout, so they can be fed back to it as they are.
    let layout = manifest.model.layout;
    let file_shape: Vec<usize> = std::iter::once(n)
        .chain(layout.from_channels_first(sample_shape))
        .collect();
    for result in &evaluation.results {
        let path = adv_dir.join(format!("{}.npy", file_stem(result)));
        match &result.adversarial {
            AdversarialRows::Memory(rows) => match (layout, sample_shape) {
                (Layout::Nhwc, &[c, h, w]) => {
                    let values = chw_to_hwc(rows, n, [c, h, w]);
                    write_npy_f32(&path, &values, &file_shape)?
                }
                _ => write_npy_f32(&path, rows, &shape)?,
            },
            // Rows streamed during the run are already in their file; it only moves in place.
            streamed => {
                streamed.persist(&path)?;
            }
        }
        adversarial.push(path);
    }
    if !evaluation.results.is_empty() {
        // Labels alongside, so the arrays can be re-checked without the original files.
        let labels = adv_dir.join("labels.npy");
        write_npy_i64(&labels, &evaluation.labels)?;
    }
    // One grid per attack, at the largest budget where it broke something.
    let mut seen = Vec::new();
    for result in evaluation.results.iter().rev() {
        if seen.contains(&result.attack) || !result.success.iter().any(|&s| s) {
            continue;
        }
        seen.push(result.attack.clone());
        if let Some(grid) =
            grid::write_grid(&adv_dir, clean, result, sample_shape, &file_stem(result))?
        {
            grids.push(grid);
        }
    }
    grids.reverse();
    let spatial_pictures = match &evaluation.spatial {
        Some(s) => spatial::write_pictures(&adv_dir, clean, s, sample_shape)?,
        None => None,
    };

    let json_path = dir.join("report.json");
    let report = Report::new(evaluation, manifest, diagnostics);
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::Data(format!("cannot serialize the report: {e}")))?;
    write_atomically(&json_path, &json)?;

    let md_path = dir.join("report.md");
    let grid_names: Vec<String> = grids
        .iter()
        .filter_map(|g| {
            g.path
                .file_name()
                .map(|f| format!("adversarial/{}", f.to_string_lossy()))
        })
        .collect();
    write_atomically(
        &md_path,
        markdown::render(
            evaluation,
            manifest,
            diagnostics,
            &grid_names,
            spatial_pictures.as_ref(),
        )
        .as_bytes(),
    )?;

    let html_path = dir.join("report.html");
    let spatial_html = evaluation.spatial.as_ref().map(|e| {
        let mut section = String::new();
        spatial::html(&mut section, evaluation, e, spatial_pictures.as_ref());
        section
    });
    write_atomically(
        &html_path,
        html::render(
            evaluation,
            manifest,
            diagnostics,
            &grids,
            spatial_html.as_deref(),
        )
        .as_bytes(),
    )?;

    let samples_path = dir.join("samples.jsonl");
    write_atomically(&samples_path, samples_jsonl(evaluation).as_bytes())?;

    Ok(Written {
        json: json_path,
        markdown: md_path,
        html: html_path,
        adversarial,
        grids: grids
            .into_iter()
            .map(|g| g.path)
            .chain(spatial_pictures.map(|p| p.path))
            .collect(),
    })
}

/// One JSON line per sample: label, clean prediction, and per budget which attack broke it and
/// what every attack achieved.
fn samples_jsonl(evaluation: &Evaluation) -> String {
    let mut out = String::new();
    for i in 0..evaluation.samples {
        let per_eps: Vec<serde_json::Value> = evaluation
            .worst_case
            .iter()
            .map(|w| {
                let attacks: serde_json::Map<String, serde_json::Value> = evaluation
                    .results
                    .iter()
                    .filter(|r| r.eps == w.eps)
                    .map(|r| {
                        (r.attack.clone(), {
                            let mut entry = serde_json::json!({
                                "success": r.success[i],
                                "prediction": r.predictions[i],
                                "perturbation": r.perturbation[i],
                            });
                            if let Some(&q) = r.sample_queries.get(i) {
                                entry["queries"] = q.into();
                            }
                            entry
                        })
                    })
                    .collect();
                serde_json::json!({ "eps": w.eps, "broken_by": w.broken_by[i], "attacks": attacks })
            })
            .collect();
        let mut line = serde_json::json!({
            "index": i,
            "label": evaluation.labels[i],
            "clean_prediction": evaluation.clean_predictions[i],
            "budgets": per_eps,
        });
        if let Some(s) = &evaluation.spatial {
            line["spatial"] = spatial::sample_entry(s, i);
        }
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// The results table as plain text, for the terminal.
pub fn table(evaluation: &Evaluation) -> String {
    markdown::table(evaluation)
}
