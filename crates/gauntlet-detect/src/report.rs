//! The scan's report: `report.json` (the contract: per method `flagged`, `scores`, and with a
//! manifest `precision` and `recall`; the seed, versions and input hashes), `report.md`, and
//! `report.html` with a score histogram per class (poisoned and clean apart when the manifest
//! is given).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use gauntlet_core::{Error, Result};
use gauntlet_run::fs::write_atomic;
use gauntlet_run::markup::escape;

use crate::activation_clustering::ClusterRule;
use crate::detection::by_class;
use crate::outcome::MethodOutcome;
use crate::robust_spectral::RobustRule;
use crate::strip::StripSettings;

/// Everything the report shows.
pub(crate) struct ScanReport<'a> {
    pub(crate) model: &'a Path,
    pub(crate) inputs: &'a Path,
    pub(crate) labels_path: &'a Path,
    pub(crate) clean_inputs: Option<&'a Path>,
    pub(crate) manifest: Option<&'a Path>,
    pub(crate) seed: u64,
    pub(crate) expected_fraction: f64,
    pub(crate) cluster_rule: ClusterRule,
    pub(crate) robust_rule: RobustRule,
    pub(crate) strip: StripSettings,
    pub(crate) model_sha256: &'a str,
    pub(crate) inputs_sha256: &'a str,
    pub(crate) labels_sha256: &'a str,
    pub(crate) clean_sha256: Option<&'a str>,
    pub(crate) manifest_sha256: Option<&'a str>,
    pub(crate) labels: &'a [i64],
    pub(crate) layer: Option<&'a str>,
    pub(crate) poisoned: Option<&'a [usize]>,
    pub(crate) methods: &'a [MethodOutcome],
    pub(crate) seconds: f64,
}

/// The files written.
pub(crate) struct Written {
    pub(crate) json: PathBuf,
    pub(crate) markdown: PathBuf,
    pub(crate) html: PathBuf,
}

/// Bins of each histogram.
const BINS: usize = 30;

fn file(path: &Path, sha256: &str) -> serde_json::Value {
    json!({"path": path.display().to_string(), "sha256": sha256})
}

/// Writes the three files into `dir` (created if needed).
pub(crate) fn write(dir: &Path, r: &ScanReport) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let methods: serde_json::Map<String, serde_json::Value> = r
        .methods
        .iter()
        .map(|m| (m.method.name().to_string(), json!(m)))
        .collect();
    let report = json!({
        "tool": "gauntlet scan",
        "gauntlet_version": env!("CARGO_PKG_VERSION"),
        "seed": r.seed,
        "model": file(r.model, r.model_sha256),
        "inputs": file(r.inputs, r.inputs_sha256),
        "labels": file(r.labels_path, r.labels_sha256),
        "clean_inputs": r.clean_inputs.zip(r.clean_sha256).map(|(p, h)| file(p, h)),
        "manifest": r.manifest.zip(r.manifest_sha256).map(|(p, h)| {
            let mut f = file(p, h);
            f["poisoned"] = json!(r.poisoned.map_or(0, <[usize]>::len));
            f
        }),
        "samples": r.labels.len(),
        "layer": r.layer,
        "expected_fraction": r.expected_fraction,
        "activation_clustering": {
            "max_cluster_share": r.cluster_rule.max_cluster_share,
            "min_silhouette": r.cluster_rule.min_silhouette,
        },
        "robust_spectral": { "z": r.robust_rule.z },
        "strip": {
            "overlays": r.strip.overlays,
            "false_rejection_rate": r.strip.false_rejection_rate,
        },
        "methods": methods,
        "seconds": r.seconds,
    });
    let json_path = dir.join("report.json");
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::Data(format!("cannot serialize the scan report: {e}")))?;
    write_atomic(&json_path, text.as_bytes()).map_err(Error::Write)?;
    let markdown = dir.join("report.md");
    write_atomic(&markdown, render_markdown(r).as_bytes()).map_err(Error::Write)?;
    let html = dir.join("report.html");
    write_atomic(&html, render_html(r).as_bytes()).map_err(Error::Write)?;
    Ok(Written {
        json: json_path,
        markdown,
        html,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", 100.0 * v))
}

/// The summary table, one row per method (Markdown; HTML reuses the cells).
fn summary_rows(r: &ScanReport) -> Vec<[String; 6]> {
    r.methods
        .iter()
        .map(|m| {
            [
                m.method.name().to_string(),
                m.flagged.len().to_string(),
                pct(m.precision),
                pct(m.recall),
                pct(m.accuracy.and_then(|a| a.false_positive_rate)),
                format!("{:.1}", m.seconds),
            ]
        })
        .collect()
}

const HEADERS: [&str; 6] = [
    "method",
    "flagged",
    "precision",
    "recall",
    "clean flagged",
    "seconds",
];

fn render_markdown(r: &ScanReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# gauntlet scan\n");
    let _ = writeln!(
        s,
        "Model `{}`, {} inputs from `{}`{}{}, seed {}, {:.1} s.\n",
        r.model.display(),
        r.labels.len(),
        r.inputs.display(),
        r.layer
            .map_or(String::new(), |l| format!(", activations of `{l}`")),
        r.poisoned.map_or(String::new(), |p| format!(
            ", {} poisoned per the manifest",
            p.len()
        )),
        r.seed,
        r.seconds
    );
    let _ = writeln!(s, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(HEADERS.len()));
    for row in summary_rows(r) {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    for m in r.methods {
        let _ = writeln!(
            s,
            "\n## {}\n\nScore: {}.\nRule: {}.",
            m.method.name(),
            m.score,
            m.rule
        );
        if !m.classes.is_empty() {
            let _ = writeln!(
                s,
                "\n| class | size | flagged | details |\n|---|---|---|---|"
            );
            for c in &m.classes {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | `{}` |",
                    c.class, c.size, c.flagged, c.details
                );
            }
        }
    }
    s
}

fn render_html(r: &ScanReport) -> String {
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>gauntlet scan</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;\
         padding:0 1em;color:#222}table{border-collapse:collapse}th,td{border:1px solid #ccc;\
         padding:.25em .6em}th{background:#f3f3f3}svg text{font-size:11px;\
         font-family:sans-serif}.hists{display:flex;flex-wrap:wrap;gap:8px}</style></head><body>\n",
    );
    let _ = writeln!(
        s,
        "<h1>gauntlet scan</h1><p>Model <code>{}</code>, {} inputs from <code>{}</code>{}, seed \
         {}.</p>",
        escape(&r.model.display().to_string()),
        r.labels.len(),
        escape(&r.inputs.display().to_string()),
        r.layer.map_or(String::new(), |l| format!(
            ", activations of <code>{}</code>",
            escape(l)
        )),
        r.seed
    );
    s.push_str("<table><tr>");
    for h in HEADERS {
        let _ = write!(s, "<th>{h}</th>");
    }
    s.push_str("</tr>\n");
    for row in summary_rows(r) {
        s.push_str("<tr>");
        for cell in row {
            let _ = write!(s, "<td>{}</td>", escape(&cell));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    let poisoned: std::collections::HashSet<usize> =
        r.poisoned.unwrap_or(&[]).iter().copied().collect();
    for m in r.methods {
        let _ = writeln!(
            s,
            "<h2>{}</h2><p>Score: {}.<br>Rule: {}.</p><div class=\"hists\">",
            m.method.name(),
            escape(&m.score),
            escape(&m.rule)
        );
        // Training-set methods: one histogram per class; STRIP checks inputs whatever their label.
        let groups = if m.classes.is_empty() {
            vec![(None, (0..m.scores.len()).collect::<Vec<_>>())]
        } else {
            by_class(r.labels)
                .into_iter()
                .map(|(c, rows)| (Some(c), rows))
                .collect()
        };
        for (class, rows) in groups {
            let (bad, good): (Vec<usize>, Vec<usize>) =
                rows.iter().partition(|i| poisoned.contains(i));
            let values = |idx: &[usize]| idx.iter().map(|&i| m.scores[i]).collect::<Vec<_>>();
            let title = class.map_or("all inputs".to_string(), |c| format!("class {c}"));
            histogram(&mut s, &title, &values(&good), &values(&bad));
        }
        s.push_str("</div>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// One small inline-SVG histogram: clean in blue, poisoned in red, on shared bins.
fn histogram(s: &mut String, title: &str, clean: &[f32], poisoned: &[f32]) {
    const W: f64 = 260.0;
    const H: f64 = 140.0;
    const PAD: f64 = 22.0;
    let all = clean.iter().chain(poisoned).copied();
    let (lo, hi) = all.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let span = if hi > lo { (hi - lo) as f64 } else { 1.0 };
    let count = |values: &[f32]| {
        let mut bins = [0usize; BINS];
        for &v in values {
            let b = (((v - lo) as f64 / span) * BINS as f64) as usize;
            bins[b.min(BINS - 1)] += 1;
        }
        bins
    };
    let (c, p) = (count(clean), count(poisoned));
    let top = c.iter().chain(&p).copied().max().unwrap_or(1).max(1) as f64;
    let bw = (W - 2.0 * PAD) / BINS as f64;
    let _ = write!(
        s,
        "<svg width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{t}\"><rect width=\"{W}\" \
         height=\"{H}\" fill=\"white\" stroke=\"#ccc\"/><text x=\"{PAD}\" y=\"14\">{t} \
         (clean {}, poisoned {})</text>",
        clean.len(),
        poisoned.len(),
        t = escape(title)
    );
    for (bins, colour) in [(c, "#1f77b4"), (p, "#d62728")] {
        for (k, &n) in bins.iter().enumerate().filter(|(_, n)| **n > 0) {
            let h = (H - 2.0 * PAD) * n as f64 / top;
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{colour}\" \
                 fill-opacity=\"0.55\"><title>{n}</title></rect>",
                PAD + k as f64 * bw,
                H - PAD - h,
                bw
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{PAD}\" y=\"{:.0}\">{lo:.3}</text><text x=\"{:.0}\" y=\"{:.0}\" \
         text-anchor=\"end\">{hi:.3}</text></svg>",
        H - 6.0,
        W - PAD,
        H - 6.0
    );
}
