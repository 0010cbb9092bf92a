//! The report of a hardening run: how training went (per-epoch curves) and what it bought
//! (robust accuracy vs ε of the original and the hardened model, audited the same way on the
//! same held-out samples).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use gauntlet_core::threat::decimal;
use gauntlet_core::{Error, Result};
use gauntlet_eval::Evaluation;
use gauntlet_run::fs::write_atomic;

use crate::html::{escape, pct, plot, Axes, Series, STYLE};

/// One epoch's figures.
#[derive(Debug, Clone, Serialize)]
pub struct EpochPoint {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Accuracy on what was trained on (adversarial inputs for adversarial methods).
    pub train_accuracy: f64,
    /// Held-out clean accuracy.
    pub clean_accuracy: f64,
    /// Held-out PGD accuracy, for adversarial methods.
    pub robust_accuracy: Option<f64>,
    /// Seconds of training.
    pub seconds: f64,
}

/// What a hardening report shows.
pub struct HardeningReport<'a> {
    /// E.g. `fast-at`.
    pub method: &'a str,
    /// How training ended (`finished`, `collapsed`, `interrupted`).
    pub status: &'a str,
    /// Per-epoch figures.
    pub epochs: &'a [EpochPoint],
    /// The audit of the original model on the held-out samples.
    pub before: Option<&'a Evaluation>,
    /// The same audit of the hardened model.
    pub after: Option<&'a Evaluation>,
    /// Settings, hashes, seed and versions (written as given).
    pub provenance: Value,
}

/// The files written.
#[derive(Debug, Clone)]
pub struct HardeningWritten {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
}

/// Worst-case robust accuracy per (norm, ε), with ε = 0 as the clean accuracy.
fn worst(e: &Evaluation) -> Vec<(String, f64, f64)> {
    let mut rows: Vec<(String, f64, f64)> = e
        .worst_case
        .iter()
        .map(|w| (w.norm.to_string(), decimal(w.eps), w.robust_accuracy))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    rows
}

/// Writes `report.json`, `report.md` and `report.html` into `dir`.
pub fn write_hardening_report(dir: &Path, r: &HardeningReport) -> Result<HardeningWritten> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let side = |e: Option<&Evaluation>| -> Value {
        e.map(|e| {
            json!({
                "clean_accuracy": e.clean_accuracy,
                "worst_case": worst(e).iter().map(|(n, eps, a)| json!({"norm": n, "eps": eps, "robust_accuracy": a})).collect::<Vec<_>>(),
            })
        })
        .unwrap_or(Value::Null)
    };
    let gain: Vec<Value> = match (r.before, r.after) {
        (Some(b), Some(a)) => worst(b)
            .iter()
            .zip(worst(a))
            .map(|((n, eps, before), (_, _, after))| {
                json!({"norm": n, "eps": eps, "before": before, "after": after, "gain": after - before})
            })
            .collect(),
        _ => Vec::new(),
    };
    let report = json!({
        "kind": "hardening",
        "method": r.method,
        "status": r.status,
        "epochs": r.epochs,
        "before": side(r.before),
        "after": side(r.after),
        "gain": gain,
        "provenance": r.provenance,
    });
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let path = dir.join(name);
        write_atomic(&path, bytes).map_err(Error::Write)?;
        Ok(path)
    };
    let json_text = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::Model(format!("cannot encode report.json: {e}")))?;
    Ok(HardeningWritten {
        json: write("report.json", &json_text)?,
        markdown: write("report.md", markdown(r, &gain).as_bytes())?,
        html: write("report.html", html(r, &gain).as_bytes())?,
    })
}

fn markdown(r: &HardeningReport, gain: &[Value]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# gauntlet hardening: {} ({})\n", r.method, r.status);
    if !gain.is_empty() {
        let _ = writeln!(
            s,
            "| norm | ε | original | hardened | gain |\n|---|---|---|---|---|"
        );
        if let (Some(b), Some(a)) = (r.before, r.after) {
            let _ = writeln!(
                s,
                "| clean | 0 | {} | {} | {:+.1} pts |",
                pct(b.clean_accuracy),
                pct(a.clean_accuracy),
                100.0 * (a.clean_accuracy - b.clean_accuracy)
            );
        }
        for g in gain {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:+.1} pts |",
                g["norm"].as_str().unwrap_or("?"),
                g["eps"],
                pct(g["before"].as_f64().unwrap_or(0.0)),
                pct(g["after"].as_f64().unwrap_or(0.0)),
                100.0 * g["gain"].as_f64().unwrap_or(0.0)
            );
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "| epoch | loss | trained-on accuracy | held-out clean | held-out PGD | seconds |\n|---|---|---|---|---|---|"
    );
    for e in r.epochs {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {} | {} | {} | {:.1} |",
            e.epoch,
            e.loss,
            pct(e.train_accuracy),
            pct(e.clean_accuracy),
            e.robust_accuracy.map(pct).unwrap_or_else(|| "–".into()),
            e.seconds
        );
    }
    s
}

fn html(r: &HardeningReport, gain: &[Value]) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<title>gauntlet hardening: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        escape(r.method)
    );
    let _ = writeln!(
        s,
        "<h1>gauntlet hardening: {} ({})</h1>",
        escape(r.method),
        escape(r.status)
    );
    if let (Some(b), Some(a)) = (r.before, r.after) {
        let _ = writeln!(
            s,
            "<h2>Robust accuracy vs ε, before and after</h2>\n<p>The same audit (worst case over \
             its attacks) of the original and the hardened model on the same held-out samples; \
             at ε = 0, clean accuracy.</p>"
        );
        let mut norms: Vec<String> = worst(b).into_iter().map(|w| w.0).collect();
        norms.dedup();
        for norm in norms {
            let line = |name: &str, e: &Evaluation| Series {
                name: name.to_string(),
                points: std::iter::once((0.0, e.clean_accuracy))
                    .chain(
                        worst(e)
                            .into_iter()
                            .filter(|w| w.0 == norm)
                            .map(|w| (w.1, w.2)),
                    )
                    .collect(),
            };
            let axes = Axes {
                x_label: format!("ε ({norm})"),
                y_label: "robust accuracy",
                log_x: false,
                worst_last: false,
            };
            plot(&mut s, &axes, &[line("original", b), line("hardened", a)]);
        }
        s.push_str("<table><tr><th>norm</th><th>ε</th><th>original</th><th>hardened</th><th>gain</th></tr>\n");
        for g in gain {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:+.1} pts</td></tr>",
                escape(g["norm"].as_str().unwrap_or("?")),
                g["eps"],
                pct(g["before"].as_f64().unwrap_or(0.0)),
                pct(g["after"].as_f64().unwrap_or(0.0)),
                100.0 * g["gain"].as_f64().unwrap_or(0.0)
            );
        }
        s.push_str("</table>\n");
    }
    if !r.epochs.is_empty() {
        let _ = writeln!(s, "<h2>Training curves</h2>");
        let mut series = vec![
            Series {
                name: "trained-on accuracy".into(),
                points: r
                    .epochs
                    .iter()
                    .map(|e| (e.epoch as f64, e.train_accuracy))
                    .collect(),
            },
            Series {
                name: "held-out clean".into(),
                points: r
                    .epochs
                    .iter()
                    .map(|e| (e.epoch as f64, e.clean_accuracy))
                    .collect(),
            },
        ];
        let robust: Vec<(f64, f64)> = r
            .epochs
            .iter()
            .filter_map(|e| e.robust_accuracy.map(|a| (e.epoch as f64, a)))
            .collect();
        if !robust.is_empty() {
            series.push(Series {
                name: "held-out PGD".into(),
                points: robust,
            });
        }
        let axes = Axes {
            x_label: "epoch".into(),
            y_label: "accuracy",
            log_x: false,
            worst_last: false,
        };
        plot(&mut s, &axes, &series);
        s.push_str("<table><tr><th>epoch</th><th>loss</th><th>seconds</th></tr>\n");
        for e in r.epochs {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.1}</td></tr>",
                e.epoch, e.loss, e.seconds
            );
        }
        s.push_str("</table>\n");
    }
    let _ = writeln!(
        s,
        "<h2>Reproducibility</h2>\n<pre>{}</pre>\n</body>\n</html>",
        escape(&serde_json::to_string_pretty(&r.provenance).unwrap_or_default())
    );
    s
}
