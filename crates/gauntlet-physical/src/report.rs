//! What a patch run leaves behind: the patch (printable PNG, `.npy` values and mask), the
//! success table per transformation setting in `report.json` (the contract), `report.md`, a
//! self-contained `report.html` with the patch, the table, the curves and patched examples,
//! and those examples as `examples.png` (one row per patch compared).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use image::{Rgba, RgbaImage};
use serde::Serialize;

use gauntlet_core::data::write_npy_f32;
use gauntlet_core::{Error, Result};
use gauntlet_report::html::{base64, escape, pct, STYLE};
use gauntlet_report::{blank_grid, encode_png, paint, DataInfo, ModelInfo};
use gauntlet_run::fs::write_atomic;
use gauntlet_run::plot::{plot, Axes, Series};

use crate::evaluate::SettingResult;
use crate::job::{PatchOutcome, PatchSettings};
use crate::optimize::CurvePoint;
use crate::placement::Canvas;
use crate::scene::Goal;

/// Longest side of `patch.png`, at least: one patch pixel becomes a square of printer dots.
const PRINT_PIXELS: usize = 600;

/// How the run was made.
#[derive(Debug, Clone, Serialize)]
pub struct PatchManifest {
    /// gauntlet's version.
    pub gauntlet_version: String,
    /// The command line (secrets redacted).
    pub command: Vec<String>,
    /// Seed of every draw.
    pub seed: u64,
    /// The model attacked.
    pub model: ModelInfo,
    /// Pictures the patches were made on.
    pub train_data: DataInfo,
    /// Held-out pictures they were judged on.
    pub eval_data: DataInfo,
}

/// One row of the table as written: the setting, then each patch's success by its key.
fn row_json(row: &SettingResult, outcome: &PatchOutcome) -> serde_json::Value {
    let mut out = serde_json::json!({
        "setting": row.setting,
        "eot": row.eot,
        "trials": row.trials,
    });
    for ((key, _, _), share) in outcome.columns().iter().zip(&row.success) {
        out[*key] = serde_json::json!(share);
    }
    out
}

/// The files written.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// `patch.png`.
    pub png: PathBuf,
}

fn goal_text(goal: Goal) -> String {
    match goal {
        Goal::Targeted(t) => format!("targeted: every picture read as class {t}"),
        Goal::Untargeted => "untargeted: every picture read as anything but its class".into(),
    }
}

/// Writes every output of a patch run into `dir`.
pub fn write_patch_report(
    dir: &Path,
    manifest: &PatchManifest,
    settings: &PatchSettings,
    canvas: &Canvas,
    outcome: &PatchOutcome,
) -> Result<Written> {
    let fp = &outcome.footprint;
    let (c, h, w) = (canvas.channels, fp.height, fp.width);
    let npy =
        |name: &str, values: &[f32], shape: &[usize]| write_npy_f32(&dir.join(name), values, shape);
    npy("patch.npy", outcome.patch(), &[c, h, w])?;
    if outcome.printed.is_some() {
        npy("patch_unsnapped.npy", &outcome.with_eot.patch, &[c, h, w])?;
    }
    npy("patch_mask.npy", &fp.opacity, &[h, w])?;
    npy(
        "patch_without_eot.npy",
        &outcome.without_eot.patch,
        &[c, h, w],
    )?;
    npy("patch_random.npy", &outcome.random, &[c, h, w])?;
    let png = printable(outcome.patch(), &fp.opacity, c, h, w, canvas.bounds)?;
    let png_path = dir.join("patch.png");
    write_atomic(&png_path, &png).map_err(|e| Error::io(&png_path, e))?;

    let rows: Vec<serde_json::Value> = outcome.table.iter().map(|r| row_json(r, outcome)).collect();
    let columns = outcome.columns();
    let per_picture = !outcome.per_picture.is_empty();
    if per_picture {
        let all: Vec<f32> = outcome
            .per_picture
            .iter()
            .flat_map(|r| r.patch.iter().copied())
            .collect();
        npy("patches.npy", &all, &[outcome.per_picture.len(), c, h, w])?;
    }
    let spec_row = settings.eot.spec_index();
    let pictures: Vec<serde_json::Value> = outcome
        .per_picture
        .iter()
        .map(|r| {
            let mut v = serde_json::json!({"index": r.index, "label": r.label});
            for ((key, _, _), hits) in columns
                .iter()
                .zip(r.hits.get(spec_row).into_iter().flatten())
            {
                v[*key] = serde_json::json!(*hits as f64 / r.trials[spec_row].max(1) as f64);
            }
            v
        })
        .collect();
    let plane = (canvas.height * canvas.width) as f64;
    let json = serde_json::json!({
        "status": if outcome.complete { "complete" } else { "incomplete" },
        "mode": if per_picture { "per_picture" } else { "universal" },
        "pictures": pictures,
        "manifest": manifest,
        "goal": settings.goal,
        "shape": settings.shape.describe(),
        "size": settings.size,
        "footprint": {
            "height": h,
            "width": w,
            "opaque_pixels": fp.area(),
            "share_of_picture": fp.area() as f64 / plane,
        },
        "eot": settings.eot.describe(),
        "eot_ranges": settings.eot,
        "schedule": settings.schedule,
        "draws_per_picture": settings.draws,
        "judged_pictures": outcome.judged_pictures,
        "resumed_steps": outcome.resumed_steps,
        "patches": columns.iter().map(|c| c.0).collect::<Vec<_>>(),
        "printability": {
            "tv": settings.printability.tv,
            "nps": settings.printability.nps,
            "palette": settings.printability.palette.as_ref().map(|p| &p.source),
        },
        "success": rows,
        "curves": {
            "with_eot": outcome.with_eot.curve,
            "without_eot": outcome.without_eot.curve,
        },
    });
    let json_path = dir.join("report.json");
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::Data(format!("cannot serialize the report: {e}")))?;
    write_atomic(&json_path, text.as_bytes()).map_err(|e| Error::io(&json_path, e))?;

    let md = markdown(manifest, settings, outcome);
    let md_path = dir.join("report.md");
    write_atomic(&md_path, md.as_bytes()).map_err(|e| Error::io(&md_path, e))?;
    let grid = examples_png(outcome, canvas)?;
    if let Some((png, _)) = &grid {
        let path = dir.join("examples.png");
        write_atomic(&path, png).map_err(|e| Error::io(&path, e))?;
    }
    let html = html(manifest, settings, outcome, &png, grid.as_ref());
    let html_path = dir.join("report.html");
    write_atomic(&html_path, html.as_bytes()).map_err(|e| Error::io(&html_path, e))?;
    Ok(Written {
        json: json_path,
        html: html_path,
        png: png_path,
    })
}

/// The patch as a PNG to print: transparent outside its outline, each patch pixel a square of
/// `PRINT_PIXELS / side` dots.
fn printable(
    patch: &[f32],
    opacity: &[f32],
    c: usize,
    h: usize,
    w: usize,
    bounds: (f32, f32),
) -> Result<Vec<u8>> {
    let dots = PRINT_PIXELS.div_ceil(h.max(w)).max(1);
    let byte =
        |v: f32| (((v - bounds.0) / (bounds.1 - bounds.0)).clamp(0.0, 1.0) * 255.0).round() as u8;
    let img = RgbaImage::from_fn((w * dots) as u32, (h * dots) as u32, |x, y| {
        let (i, j) = (y as usize / dots, x as usize / dots);
        let k = i * w + j;
        let px = |ch: usize| byte(patch[ch.min(c - 1) * h * w + k]);
        Rgba([px(0), px(1), px(2), if opacity[k] > 0.5 { 255 } else { 0 }])
    });
    encode_png(&img, "the patch")
}

/// Patched held-out pictures: one row per patch, one column per picture.
fn examples_png(outcome: &PatchOutcome, canvas: &Canvas) -> Result<Option<(Vec<u8>, u32)>> {
    let (c, h, w) = (canvas.channels, canvas.height, canvas.width);
    if outcome.examples.is_empty() || !(c == 1 || c == 3) {
        return Ok(None);
    }
    let span = canvas.bounds.1 - canvas.bounds.0;
    let (mut img, cell_w, cell_h) =
        blank_grid(outcome.examples.len(), outcome.columns().len(), h, w);
    for (col, e) in outcome.examples.iter().enumerate() {
        for (row, picture) in e.pictures.iter().enumerate() {
            let unit: Vec<f32> = picture
                .iter()
                .map(|v| (v - canvas.bounds.0) / span)
                .collect();
            paint(
                &mut img,
                &unit,
                c,
                h,
                w,
                col as u32 * cell_w,
                row as u32 * cell_h,
            );
        }
    }
    Ok(Some((encode_png(&img, "the example pictures")?, cell_w)))
}

fn summary(settings: &PatchSettings, outcome: &PatchOutcome) -> String {
    let fp = &outcome.footprint;
    let (kind, judged) = if outcome.per_picture.is_empty() {
        ("one", "held-out pictures")
    } else {
        (
            "one patch per picture (the patch and curves shown are the first picture's), each a",
            "pictures, each on its own patch,",
        )
    };
    format!(
        "{}; {kind} {} patch of {}×{} pixels ({} opaque) at --size {}; EOT {}; {} steps × {} \
         draws; judged on {} {judged} × {} conditions each.",
        goal_text(settings.goal),
        settings.shape.describe(),
        fp.height,
        fp.width,
        fp.area(),
        settings.size,
        settings.eot.describe(),
        settings.schedule.steps,
        settings.schedule.batch_size,
        outcome.judged_pictures,
        settings.draws
    )
}

fn markdown(manifest: &PatchManifest, settings: &PatchSettings, outcome: &PatchOutcome) -> String {
    let mut s = String::from("# gauntlet patch\n\n");
    let _ = writeln!(s, "{}\n", summary(settings, outcome));
    if !outcome.complete {
        s.push_str(
            "**Incomplete**: the run was interrupted; run the same command again to resume.\n\n",
        );
    }
    let columns = outcome.columns();
    s.push_str("| setting | trials |");
    for c in &columns {
        let _ = write!(s, " {} |", c.1);
    }
    s.push_str("\n|---|---:|");
    s.push_str(&"---:|".repeat(columns.len()));
    s.push('\n');
    for r in &outcome.table {
        let _ = write!(s, "| {} | {} |", r.setting, r.trials);
        for share in &r.success {
            let _ = write!(s, " {} |", pct(*share));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\nSuccess: share of (picture, condition) trials the model answered as the attacker \
         wants. Model `{}` (sha256 {}), seed {}, gauntlet {}.",
        manifest.model.path, manifest.model.sha256, manifest.seed, manifest.gauntlet_version
    );
    s
}

fn curve_series(name: &str, curve: &[CurvePoint]) -> Series {
    Series {
        name: name.into(),
        points: curve
            .iter()
            .map(|p| (p.step as f64, f64::from(p.success)))
            .collect(),
    }
}

fn html(
    manifest: &PatchManifest,
    settings: &PatchSettings,
    outcome: &PatchOutcome,
    patch_png: &[u8],
    grid: Option<&(Vec<u8>, u32)>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>gauntlet \
         patch</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>gauntlet patch</h1>\n<p>{}</p>",
        escape(&summary(settings, outcome))
    );
    if !outcome.complete {
        s.push_str("<p class=\"warn\">Incomplete: the run was interrupted; run the same command again to resume.</p>\n");
    }
    let _ = writeln!(
        s,
        "<h2>The patch</h2>\n<p><code>patch.png</code> (print it; transparent outside the \
         outline), <code>patch.npy</code> and <code>patch_mask.npy</code> hold it at the model's \
         resolution.</p>\n<img alt=\"the patch\" style=\"width:200px;image-rendering:pixelated;\
         background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 0 0/16px 16px\" \
         src=\"data:image/png;base64,{}\">",
        base64(patch_png)
    );
    s.push_str(
        "<h2>Success per transformation setting</h2>\n<p>Each held-out picture under fresh \
         random conditions of the setting; every patch meets the same conditions. The patch \
         without EOT was made upright, at scale 1, in the middle; the random patch is noise of \
         the same size — what mere covering does.</p>\n<table><tr><th>setting</th>\
         <th>trials</th>",
    );
    let columns = outcome.columns();
    for c in &columns {
        let _ = write!(s, "<th>{}</th>", c.1);
    }
    s.push_str("</tr>\n");
    for r in &outcome.table {
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"num\">{}</td>",
            escape(&r.setting),
            r.trials
        );
        for share in &r.success {
            let _ = write!(s, "<td class=\"num\">{}</td>", pct(*share));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    if let Some((png, column_width)) = grid {
        let _ = writeln!(
            s,
            "<h2>Patched held-out pictures</h2>\n<p>Rows: {}, each under the spec's first drawn \
             condition. Under each column: the true class and \
             the model's answer per row.</p>\n<div class=\"grid\"><img alt=\"patched pictures\" \
             src=\"data:image/png;base64,{}\">\n<div class=\"captions\">",
            columns.iter().map(|c| c.1).collect::<Vec<_>>().join(", "),
            base64(png)
        );
        for e in &outcome.examples {
            let answers: Vec<String> = e.predicted.iter().map(|p| p.to_string()).collect();
            let _ = write!(
                s,
                "<div style=\"width:{column_width}px\">#{}<br>true {}<br>→ {}</div>",
                e.index,
                e.label,
                answers.join(" / ")
            );
        }
        s.push_str("</div></div>\n");
    }
    s.push_str("<h2>Optimization</h2>\n<p>Share of each training batch answered as the attacker wants, by step.</p>\n");
    plot(
        &mut s,
        &Axes {
            x_label: "step".into(),
            y_label: "batch success",
            log_x: false,
            worst_last: false,
        },
        &[
            curve_series("with EOT", &outcome.with_eot.curve),
            curve_series("without EOT", &outcome.without_eot.curve),
        ],
    );
    let command: Vec<String> = manifest.command.iter().map(|a| escape(a)).collect();
    let _ = writeln!(
        s,
        "<h2>Reproduce</h2>\n<p>gauntlet {}, seed {}; model <code>{}</code> sha256 {}; training \
         pictures sha256 {}; held-out pictures sha256 {}.</p>\n<p><code>{}</code></p>\n</body>\n</html>",
        escape(&manifest.gauntlet_version),
        manifest.seed,
        escape(&manifest.model.path),
        escape(&manifest.model.sha256),
        escape(&manifest.train_data.sha256),
        escape(&manifest.eval_data.sha256),
        command.join(" ")
    );
    s
}
