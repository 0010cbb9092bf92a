//! The report of a poisoning loop (poison → train → audit → scan → drop → retrain → re-audit):
//! one before/after table — clean accuracy, attack success, poisons found, clean samples lost,
//! time — for the model trained on clean data, on the poisoned data, and on the data each
//! detector left; the time of every stage; and the triggered test images with what each model
//! predicted for them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde::Serialize;
use serde_json::{json, Value};

use gauntlet_core::{Error, Result};
use gauntlet_run::fs::write_atomic;

use crate::grid::{encode_png, paint, GAP, SCALE};
use crate::html::{base64, escape, pct, STYLE};

/// One trained model and what it does.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// `clean data`, `poisoned data`, `after spectral`, …
    pub name: String,
    /// Samples it was trained on.
    pub training_samples: usize,
    /// Accuracy on the clean test set.
    pub clean_accuracy: f64,
    /// Share of the triggered (or, for a targeted flip, source-class) test inputs classified
    /// as the attacker wants.
    pub attack_success: Option<f64>,
    /// Training samples the detector flagged (repaired rows only).
    pub flagged: Option<usize>,
    /// Flagged samples that were poisoned.
    pub poisons_found: Option<usize>,
    /// Poisoned samples in the training set.
    pub poisons_total: Option<usize>,
    /// Flagged samples that were clean (dropped for nothing).
    pub clean_lost: Option<usize>,
    /// Seconds to train it.
    pub train_seconds: f64,
    /// Seconds of its audits.
    pub audit_seconds: f64,
    /// Seconds of the scan that chose its training set (repaired rows only).
    pub scan_seconds: Option<f64>,
}

/// A triggered test image and each model's prediction for it.
#[derive(Debug, Clone, Serialize)]
pub struct Picture {
    /// Index in the triggered test set.
    pub index: usize,
    /// Flat `C×H×W` values in [0, 1].
    #[serde(skip)]
    pub values: Vec<f32>,
    /// Its true class.
    pub label: i64,
    /// `(model name, predicted class)` per model, in table order.
    pub predictions: Vec<(String, i64)>,
}

/// What a poisoning report shows.
pub struct PoisoningReport<'a> {
    /// `badnets`, `label-flip`, `clean-label`.
    pub attack: &'a str,
    /// `all-to-one`, `all-to-all`, `random`, `targeted`, `clean-label`.
    pub variant: &'a str,
    /// Share of the training set poisoned.
    pub fraction: f64,
    /// The attacker's class.
    pub target_class: Option<i64>,
    /// Shape of one image (`[C, H, W]`).
    pub sample_shape: &'a [usize],
    /// The models, clean-data model first.
    pub rows: &'a [ModelRow],
    /// Stage names and their seconds, in order.
    pub stages: &'a [(String, f64)],
    /// Triggered test images with predictions.
    pub pictures: &'a [Picture],
    /// Settings, hashes, seed and versions (written as given).
    pub provenance: Value,
}

/// The files written.
#[derive(Debug, Clone)]
pub struct PoisoningWritten {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// `triggered_examples.png`, when there are pictures of images.
    pub examples: Option<PathBuf>,
}

/// Writes `report.json`, `report.md`, `report.html` (and `triggered_examples.png`) into `dir`.
pub fn write_poisoning_report(dir: &Path, r: &PoisoningReport) -> Result<PoisoningWritten> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let path = dir.join(name);
        write_atomic(&path, bytes).map_err(Error::Write)?;
        Ok(path)
    };
    let strip = examples_png(r.pictures, r.sample_shape)?;
    let examples = match &strip {
        Some((png, _)) => Some(write("triggered_examples.png", png)?),
        None => None,
    };
    let report = json!({
        "kind": "poisoning",
        "attack": r.attack,
        "variant": r.variant,
        "fraction": r.fraction,
        "target_class": r.target_class,
        "models": r.rows,
        "stages": r.stages.iter().map(|(n, s)| json!({"stage": n, "seconds": s})).collect::<Vec<_>>(),
        "pictures": r.pictures,
        "provenance": r.provenance,
    });
    let json_text = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::Model(format!("cannot encode report.json: {e}")))?;
    Ok(PoisoningWritten {
        json: write("report.json", &json_text)?,
        markdown: write("report.md", markdown(r, examples.is_some()).as_bytes())?,
        html: write("report.html", html(r, strip.as_ref()).as_bytes())?,
        examples,
    })
}

fn count(v: Option<usize>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

fn found(row: &ModelRow) -> String {
    match (row.poisons_found, row.poisons_total) {
        (Some(f), Some(t)) if t > 0 => format!("{f}/{t} ({})", pct(f as f64 / t as f64)),
        (Some(f), _) => f.to_string(),
        _ => "–".into(),
    }
}

fn title(r: &PoisoningReport) -> String {
    format!(
        "{} ({}), {} of the training set{}",
        r.attack,
        r.variant,
        pct(r.fraction),
        r.target_class
            .map(|k| format!(", target class {k}"))
            .unwrap_or_default()
    )
}

/// The before/after table's cells per row.
fn cells(row: &ModelRow) -> [String; 8] {
    [
        row.name.clone(),
        row.training_samples.to_string(),
        pct(row.clean_accuracy),
        row.attack_success.map_or_else(|| "–".into(), pct),
        found(row),
        count(row.clean_lost),
        format!("{:.1}", row.train_seconds),
        format!("{:.1}", row.audit_seconds + row.scan_seconds.unwrap_or(0.0)),
    ]
}

const HEADER: [&str; 8] = [
    "model",
    "trained on",
    "clean accuracy",
    "attack success",
    "poisons found",
    "clean samples lost",
    "train s",
    "scan + audit s",
];

fn markdown(r: &PoisoningReport, examples: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# gauntlet poisoning loop: {}\n", title(r));
    let _ = writeln!(s, "| {} |", HEADER.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(HEADER.len()));
    for row in r.rows {
        let _ = writeln!(s, "| {} |", cells(row).join(" | "));
    }
    let _ = writeln!(
        s,
        "\nAttack success: share of the triggered test inputs (every test input outside the \
         target class, trigger stamped) the model puts in the attacker's class.\n"
    );
    let _ = writeln!(s, "| stage | seconds |\n|---|---|");
    for (name, secs) in r.stages {
        let _ = writeln!(s, "| {name} | {secs:.1} |");
    }
    if examples {
        let _ = writeln!(s, "\n![triggered test images](triggered_examples.png)\n");
        for p in r.pictures {
            let preds: Vec<String> = p
                .predictions
                .iter()
                .map(|(m, c)| format!("{m}: {c}"))
                .collect();
            let _ = writeln!(s, "- #{} (true {}): {}", p.index, p.label, preds.join(", "));
        }
    }
    s
}

/// One row of triggered images as a PNG, and the width of a column.
fn examples_png(pictures: &[Picture], shape: &[usize]) -> Result<Option<(Vec<u8>, u32)>> {
    let (c, h, w) = match shape {
        [c, h, w] if (*c == 1 || *c == 3) && *h >= 4 && *w >= 4 => (*c, *h, *w),
        [h, w] if *h >= 4 && *w >= 4 => (1, *h, *w),
        _ => return Ok(None),
    };
    if pictures.is_empty() {
        return Ok(None);
    }
    // One row without a gap below it.
    let cell_w = w as u32 * SCALE + GAP;
    let mut img = RgbImage::from_pixel(
        cell_w * pictures.len() as u32,
        h as u32 * SCALE,
        Rgb([255, 255, 255]),
    );
    for (col, p) in pictures.iter().enumerate() {
        paint(&mut img, &p.values, c, h, w, col as u32 * cell_w, 0);
    }
    Ok(Some((encode_png(&img, "the example images")?, cell_w)))
}

fn html(r: &PoisoningReport, strip: Option<&(Vec<u8>, u32)>) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<title>gauntlet poisoning loop</title>\n<style>{STYLE}</style>\n</head>\n<body>"
    );
    let _ = writeln!(
        s,
        "<h1>gauntlet poisoning loop</h1>\n<p>{}</p>",
        escape(&title(r))
    );
    let _ = writeln!(
        s,
        "<h2>Before and after</h2>\n<p>Every model has the same architecture and training \
         settings and is audited the same way on the same test sets. Attack success: share of \
         the triggered test inputs (outside the target class) classified as the attacker \
         wants; poisons found and clean samples lost: what dropping the detector's flagged \
         samples removed.</p>"
    );
    s.push_str("<table><tr>");
    for h in HEADER {
        let _ = write!(s, "<th>{h}</th>");
    }
    s.push_str("</tr>\n");
    for row in r.rows {
        s.push_str("<tr>");
        for (k, cell) in cells(row).iter().enumerate() {
            let class = if k == 0 { "" } else { " class=\"num\"" };
            let _ = write!(s, "<td{class}>{}</td>", escape(cell));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n<h2>Stages</h2>\n<table><tr><th>stage</th><th>seconds</th></tr>\n");
    for (name, secs) in r.stages {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"num\">{secs:.1}</td></tr>",
            escape(name)
        );
    }
    s.push_str("</table>\n");
    if let Some((png, column_width)) = strip {
        let _ = writeln!(
            s,
            "<h2>Triggered test images</h2>\n<p>Under each image: its true class and each \
             model's prediction.</p>\n<div class=\"grid\"><img alt=\"triggered test images\" \
             src=\"data:image/png;base64,{}\">",
            base64(png)
        );
        s.push_str("<div class=\"captions\">");
        for p in r.pictures {
            let _ = write!(
                s,
                "<div style=\"width:{column_width}px\">#{}<br>true {}",
                p.index, p.label
            );
            for (model, class) in &p.predictions {
                let _ = write!(s, "<br>{}: <strong>{class}</strong>", escape(model));
            }
            s.push_str("</div>");
        }
        s.push_str("</div></div>\n");
    }
    let _ = writeln!(
        s,
        "<h2>Reproducibility</h2>\n<pre>{}</pre>\n</body>\n</html>",
        escape(&serde_json::to_string_pretty(&r.provenance).unwrap_or_default())
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_holds_the_table_the_stages_and_the_pictures() {
        let dir =
            std::env::temp_dir().join(format!("gauntlet-poison-report-{}", std::process::id()));
        let row = |name: &str, asr: f64| ModelRow {
            name: name.into(),
            training_samples: 100,
            clean_accuracy: 0.98,
            attack_success: Some(asr),
            flagged: None,
            poisons_found: None,
            poisons_total: None,
            clean_lost: None,
            train_seconds: 1.0,
            audit_seconds: 0.5,
            scan_seconds: None,
        };
        let mut repaired = row("after spectral", 0.02);
        repaired.poisons_found = Some(9);
        repaired.poisons_total = Some(10);
        repaired.clean_lost = Some(3);
        let rows = [row("poisoned data", 0.99), repaired];
        let pictures = [Picture {
            index: 4,
            values: vec![0.5; 16],
            label: 3,
            predictions: vec![("poisoned data".into(), 7)],
        }];
        let stages = [("poison".to_string(), 0.1)];
        let r = PoisoningReport {
            attack: "badnets",
            variant: "all-to-one",
            fraction: 0.1,
            target_class: Some(7),
            sample_shape: &[1, 4, 4],
            rows: &rows,
            stages: &stages,
            pictures: &pictures,
            provenance: json!({"seed": 0}),
        };
        let written = write_poisoning_report(&dir, &r).unwrap();
        let md = std::fs::read_to_string(&written.markdown).unwrap();
        assert!(
            md.contains("| after spectral | 100 | 98.0 % | 2.0 % | 9/10 (90.0 %) | 3 |"),
            "{md}"
        );
        let html = std::fs::read_to_string(&written.html).unwrap();
        assert!(html.contains("data:image/png;base64,"));
        assert!(html.contains("poisoned data: <strong>7</strong>"));
        let json: Value = serde_json::from_slice(&std::fs::read(&written.json).unwrap()).unwrap();
        assert_eq!(json["models"][1]["poisons_found"], 9);
        assert!(written.examples.unwrap().is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
