//! The spatial stage in the report: a `spatial` section in `report.json`, a table in
//! `report.md` and `report.html`, a picture grid of clean vs worst-transformed samples, and
//! each sample's verified transformations in `samples.jsonl`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use gauntlet_attacks::spatial::{Picture, SpatialGrid, Transform};
use gauntlet_core::samples::Samples;
use gauntlet_core::{Error, Result};
use gauntlet_eval::spatial::{SpatialEvaluation, SpatialVerdict};
use gauntlet_eval::Evaluation;

use crate::grid::{blank_grid, encode_png, paint};
use crate::html::{base64, escape, pct};

/// Pictures shown in the grid.
const MAX_COLUMNS: usize = 8;

/// `report.json`'s `spatial` section: what was searched and robust accuracy under each search.
#[derive(Debug, Clone, Serialize)]
pub struct SpatialSection {
    /// The grid: ranges and steps.
    pub grid: SpatialGrid,
    /// Largest rotation either way, degrees.
    pub rotation_deg: f32,
    /// Largest shift either way on each axis, pixels.
    pub translation_px: f32,
    /// Transformations the grid search tried per sample.
    pub transformations: usize,
    /// Draws of the worst-of-k random baseline.
    pub random_draws: usize,
    /// Samples attacked (correct when clean).
    pub attacked: usize,
    /// Robust accuracy under the grid search (verified).
    pub robust_accuracy: f64,
    /// Robust accuracy under one random transformation per sample.
    pub random_robust_accuracy: f64,
    /// Robust accuracy under the worst of `random_draws` random transformations.
    pub worst_of_random_robust_accuracy: f64,
    /// Proposals the verification did not confirm (not counted as broken; should be 0).
    pub unconfirmed: usize,
    /// How success was decided.
    pub verification: &'static str,
    /// Value of pixels that came from outside the picture.
    pub fill: f32,
    /// Forward rows spent (search and verification).
    pub queries: u64,
    /// Wall time of the stage, seconds.
    pub seconds: f64,
    /// False when the stage stopped before every sample was searched.
    pub complete: bool,
    /// Samples restored from an interrupted run's journal instead of searched again.
    pub resumed_samples: usize,
}

impl SpatialSection {
    /// The section of an evaluated spatial stage.
    pub fn new(e: &SpatialEvaluation) -> SpatialSection {
        SpatialSection {
            grid: e.grid,
            rotation_deg: e.grid.rotation_deg,
            translation_px: e.grid.translation_px,
            transformations: e.grid.len(),
            random_draws: e.random_draws,
            attacked: e.attacked,
            robust_accuracy: e.robust_accuracy,
            random_robust_accuracy: e.random_robust_accuracy,
            worst_of_random_robust_accuracy: e.worst_of_random_robust_accuracy,
            unconfirmed: e.unconfirmed,
            verification: "each sample's recorded transformation re-applied to the clean picture \
                           and the model asked again; only its answer counts",
            fill: e.fill,
            queries: e.queries,
            seconds: e.seconds,
            complete: e.complete,
            resumed_samples: e.resumed_samples,
        }
    }
}

/// The picture grid as written: clean pictures over their worst transformations.
#[derive(Debug, Clone)]
pub struct SpatialPictures {
    /// `adversarial/spatial_grid.png`.
    pub path: PathBuf,
    /// Sample shown in each column.
    pub columns: Vec<usize>,
    /// Width of one column in pixels (image plus gap).
    pub column_width: u32,
    /// The encoded PNG.
    pub png: Vec<u8>,
}

/// `+12.0°, dx +2.0, dy −1.0 px`.
pub fn describe(t: &Transform) -> String {
    format!(
        "{:+.1}°, dx {:+.1}, dy {:+.1} px",
        t.rotation_deg, t.dx, t.dy
    )
}

/// Writes the grid of the first samples the grid search broke (grey or colour pictures);
/// nothing when none broke or the pictures cannot be shown.
pub fn write_pictures(
    dir: &Path,
    clean: &dyn Samples,
    spatial: &SpatialEvaluation,
    sample_shape: &[usize],
) -> Result<Option<SpatialPictures>> {
    let Ok(picture) = Picture::from_sample_shape(sample_shape) else {
        return Ok(None);
    };
    let (c, h, w) = (picture.channels, picture.height, picture.width);
    if !(c == 1 || c == 3) {
        return Ok(None);
    }
    let columns: Vec<(usize, SpatialVerdict)> = spatial
        .per_sample
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.grid.filter(|v| v.fooled).map(|v| (i, v)))
        .take(MAX_COLUMNS)
        .collect();
    if columns.is_empty() {
        return Ok(None);
    }
    let (mut img, cell_w, cell_h) = blank_grid(columns.len(), 2, h, w);
    for (col, (i, verdict)) in columns.iter().enumerate() {
        let row = clean.read_rows(&[*i])?;
        let clean = row.as_slice();
        let moved = verdict.transform.apply(clean, picture, spatial.fill);
        let x0 = col as u32 * cell_w;
        paint(&mut img, clean, c, h, w, x0, 0);
        paint(&mut img, &moved, c, h, w, x0, cell_h);
    }
    let path = dir.join("spatial_grid.png");
    let png = encode_png(&img, &path.display().to_string())?;
    gauntlet_run::fs::write_atomic(&path, &png).map_err(Error::Write)?;
    Ok(Some(SpatialPictures {
        path,
        columns: columns.into_iter().map(|(i, _)| i).collect(),
        column_width: cell_w,
        png,
    }))
}

/// One row per search: transformations per sample and robust accuracy.
fn rows(e: &SpatialEvaluation) -> [(String, usize, f64); 3] {
    [
        ("grid search".to_string(), e.grid.len(), e.robust_accuracy),
        ("random".to_string(), 1, e.random_robust_accuracy),
        (
            format!("worst of {} random", e.random_draws),
            e.random_draws,
            e.worst_of_random_robust_accuracy,
        ),
    ]
}

/// What was searched, in words.
fn space(e: &SpatialEvaluation) -> String {
    format!(
        "rotations within ±{}° ({} angles) and translations within ±{} px ({} shifts per axis): \
         {} transformations",
        e.grid.rotation_deg,
        e.grid.rotations,
        e.grid.translation_px,
        e.grid.translations,
        e.grid.len()
    )
}

/// The `## Spatial` section of `report.md`.
pub fn markdown(
    s: &mut String,
    evaluation: &Evaluation,
    e: &SpatialEvaluation,
    pictures: Option<&SpatialPictures>,
) {
    let _ = writeln!(s, "\n## Spatial: rotations and translations\n");
    let _ = writeln!(
        s,
        "Engstrom et al. (2019): {}. Each sample's worst transformation was applied again to \
         the clean picture and the model asked; only that answer counts ({} proposals not \
         confirmed). {} of {} samples attacked (correct when clean).\n",
        space(e),
        e.unconfirmed,
        e.attacked,
        e.samples
    );
    let _ = writeln!(
        s,
        "| search | transformations per sample | robust accuracy |\n|---|---|---|"
    );
    for (name, count, robust) in rows(e) {
        let _ = writeln!(s, "| {name} | {count} | {:.1} % |", robust * 100.0);
    }
    if !e.complete {
        let _ = writeln!(
            s,
            "\nThe spatial stage was stopped before every sample was searched."
        );
    }
    if let Some(p) = pictures {
        let _ = writeln!(
            s,
            "\n![clean (top) and worst-transformed (bottom)](adversarial/spatial_grid.png)\n"
        );
        let _ = writeln!(
            s,
            "| sample | label | clean | transformed | transformation |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for &i in &p.columns {
            if let Some(v) = e.per_sample[i].grid {
                let _ = writeln!(
                    s,
                    "| {i} | {} | {} | {} | {} |",
                    evaluation.labels.get(i).copied().unwrap_or(-1),
                    evaluation.clean_predictions.get(i).copied().unwrap_or(-1),
                    v.prediction,
                    describe(&v.transform)
                );
            }
        }
    }
}

/// The spatial section of `report.html`.
pub fn html(
    s: &mut String,
    evaluation: &Evaluation,
    e: &SpatialEvaluation,
    pictures: Option<&SpatialPictures>,
) {
    let _ = writeln!(
        s,
        "<h2 id=\"spatial\">Spatial: rotations and translations</h2>"
    );
    let _ = writeln!(
        s,
        "<p>Engstrom et al. (2019): {}. Each sample's worst transformation was applied again to \
         the clean picture and the model asked; only that answer counts ({} proposals not \
         confirmed). {} of {} samples attacked.</p>",
        escape(&space(e)),
        e.unconfirmed,
        e.attacked,
        e.samples
    );
    let _ = writeln!(
        s,
        "<table><tr><th>search</th><th>transformations per sample</th><th>robust accuracy</th></tr>"
    );
    for (name, count, robust) in rows(e) {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"num\">{count}</td><td class=\"num\">{}</td></tr>",
            escape(&name),
            pct(robust)
        );
    }
    s.push_str("</table>\n");
    if let Some(p) = pictures {
        let _ = writeln!(
            s,
            "<div class=\"grid\"><p>Top: clean; bottom: the worst transformation the grid search \
             found. Under each column: the true label, the clean and the transformed prediction, \
             and the transformation.</p>\n<img alt=\"adversarial/spatial_grid.png\" \
             src=\"data:image/png;base64,{}\">",
            base64(&p.png)
        );
        s.push_str("<div class=\"captions\">");
        for &i in &p.columns {
            let Some(v) = e.per_sample[i].grid else {
                continue;
            };
            let _ = write!(
                s,
                "<div style=\"width:{}px\">#{i}<br>label {}<br>clean {}<br>moved <strong>{}</strong><br>{}</div>",
                p.column_width,
                evaluation.labels.get(i).copied().unwrap_or(-1),
                evaluation.clean_predictions.get(i).copied().unwrap_or(-1),
                v.prediction,
                escape(&describe(&v.transform))
            );
        }
        s.push_str("</div></div>\n");
    }
}

/// Sample `i`'s verified transformations, for its `samples.jsonl` line.
pub fn sample_entry(e: &SpatialEvaluation, i: usize) -> Value {
    let verdict = |v: Option<SpatialVerdict>| match v {
        Some(v) => json!({
            "rotation_deg": v.transform.rotation_deg,
            "dx": v.transform.dx,
            "dy": v.transform.dy,
            "prediction": v.prediction,
            "fooled": v.fooled,
        }),
        None => Value::Null,
    };
    let s = &e.per_sample[i];
    json!({
        "grid": verdict(s.grid),
        "random": verdict(s.random),
        "worst_of_random": verdict(s.worst_of_random),
    })
}
