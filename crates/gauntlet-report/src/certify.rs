//! The report of `gauntlet certify`: certified accuracy (a lower bound) and empirical robust
//! accuracy under the SmoothAdv attack (an upper bound) of a smoothed classifier, per L2
//! radius, as `report.json` (the contract), `report.md` and a self-contained `report.html`
//! with both curves on one plot.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use gauntlet_core::{Error, Result};
use gauntlet_eval::certification::{BrokenCertificate, Certification, RadiusRow, SampleResult};

use crate::html::{escape, pct, plot, Axes, Series, STYLE};
use crate::manifest::{DataInfo, ModelInfo};

/// How a certification was made: enough to reproduce it.
#[derive(Debug, Clone, Serialize)]
pub struct CertifyManifest {
    /// Version of the gauntlet that ran it.
    pub gauntlet_version: String,
    /// The command line, argument by argument.
    pub command: Vec<String>,
    /// Seed of every noise draw.
    pub seed: u64,
    /// The base classifier.
    pub model: ModelInfo,
    /// The data.
    pub data: DataInfo,
    /// σ, n0, n, α, PREDICT's draws, radii, the attack's parameters, the box.
    pub settings: serde_json::Value,
    /// Noisy copies per forward pass.
    pub batch_size: usize,
    /// `(component, version)` pairs that determine the numbers.
    pub versions: Vec<(String, String)>,
}

/// One pass/fail check of the run's own consistency.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The check's name.
    pub check: &'static str,
    /// `pass` or `fail`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
}

/// `report.json` of a certification.
#[derive(Debug, Clone, Serialize)]
pub struct CertifyReport<'a> {
    /// `complete`, or `incomplete` (interrupted or failed; see `errors`).
    pub status: &'static str,
    /// Samples finished.
    pub samples: usize,
    /// Samples asked for.
    pub samples_total: usize,
    /// The run's seed.
    pub seed: u64,
    /// Noise standard deviation σ.
    pub sigma: f64,
    /// CERTIFY's selection draws.
    pub n0: u64,
    /// CERTIFY's estimation draws.
    pub n: u64,
    /// Failure probability α.
    pub alpha: f64,
    /// Per radius: certified accuracy (lower bound) and empirical accuracy (upper bound).
    pub rows: &'a [RadiusRow],
    /// Share of samples on which CERTIFY abstained.
    pub abstain_rate: f64,
    /// Certificates the attack broke: each one a bug (should be empty).
    pub broken_certificates: &'a [BrokenCertificate],
    /// The run's consistency checks (a broken certificate fails one).
    pub diagnostics: Vec<Check>,
    /// Errors that stopped the run early.
    pub errors: &'a [String],
    /// Wall time, seconds.
    pub seconds: f64,
    /// Per sample: prediction, pA lower bound, radius, correctness, attacked predictions.
    pub per_sample: &'a [SampleResult],
    /// How the run was made.
    pub manifest: &'a CertifyManifest,
}

impl<'a> CertifyReport<'a> {
    /// The report of a certification.
    pub fn new(
        certification: &'a Certification,
        manifest: &'a CertifyManifest,
        sigma: f64,
        n0: u64,
        n: u64,
        alpha: f64,
    ) -> Self {
        CertifyReport {
            status: if certification.complete() {
                "complete"
            } else {
                "incomplete"
            },
            samples: certification.samples,
            samples_total: certification.samples_total,
            seed: manifest.seed,
            sigma,
            n0,
            n,
            alpha,
            rows: &certification.rows,
            abstain_rate: certification.abstain_rate,
            broken_certificates: &certification.broken_certificates,
            diagnostics: vec![certificates_hold(certification)],
            errors: &certification.errors,
            seconds: certification.seconds,
            per_sample: &certification.per_sample,
            manifest,
        }
    }
}

/// Fails when the attack broke a certificate.
pub fn certificates_hold(certification: &Certification) -> Check {
    let broken = &certification.broken_certificates;
    if broken.is_empty() {
        Check {
            check: "certificates-hold-under-attack",
            status: "pass",
            detail: "no SmoothAdv point within a certified radius changed the smoothed prediction"
                .into(),
        }
    } else {
        let list: Vec<String> = broken.iter().map(describe_broken).collect();
        Check {
            check: "certificates-hold-under-attack",
            status: "fail",
            detail: format!(
                "{} certificate(s) broken by the attack — a bug in the model's evaluation or in \
                 gauntlet, please report it: {}",
                broken.len(),
                list.join("; ")
            ),
        }
    }
}

/// One broken certificate in words.
pub fn describe_broken(b: &BrokenCertificate) -> String {
    format!(
        "sample {}: class {} certified at radius {:.4}, but at ‖δ‖ = {:.4} (budget {}) PREDICT \
         with {} draws says {}",
        b.index,
        b.certified_class,
        b.certified_radius,
        b.perturbation,
        b.attack_radius,
        b.confirm_draws,
        b.attacked_prediction
    )
}

/// Paths of the written report.
#[derive(Debug, Clone)]
pub struct CertifyWritten {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
}

/// Writes `report.json`, `report.md` and `report.html` into `dir` (created if needed).
pub fn write_certify_report(dir: &Path, report: &CertifyReport) -> Result<CertifyWritten> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let path = dir.join(name);
        gauntlet_run::fs::write_atomic(&path, bytes).map_err(Error::Write)?;
        Ok(path)
    };
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| Error::Data(format!("cannot serialize the report: {e}")))?;
    Ok(CertifyWritten {
        json: write("report.json", &json)?,
        markdown: write("report.md", markdown(report).as_bytes())?,
        html: write("report.html", html(report).as_bytes())?,
    })
}

/// The radius table (also printed to the terminal).
pub fn certify_table(rows: &[RadiusRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| L2 radius | certified accuracy (lower bound) | empirical accuracy (upper bound) |"
    );
    let _ = writeln!(s, "|---|---|---|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {:.1} % | {:.1} % |",
            r.radius,
            r.certified_accuracy * 100.0,
            r.empirical_accuracy * 100.0
        );
    }
    s
}

fn markdown(report: &CertifyReport) -> String {
    let mut s = String::new();
    let m = report.manifest;
    let _ = writeln!(s, "# gauntlet certify: randomized smoothing\n");
    let _ = writeln!(
        s,
        "Model `{}`, {} of {} samples ({}), σ = {}, n0 = {}, n = {}, α = {}; CERTIFY abstained \
         on {:.1} %.\n",
        m.model.path,
        report.samples,
        report.samples_total,
        report.status,
        report.sigma,
        report.n0,
        report.n,
        report.alpha,
        report.abstain_rate * 100.0
    );
    s.push_str(&certify_table(report.rows));
    let _ = writeln!(s, "\n## Diagnostics\n");
    for d in &report.diagnostics {
        let _ = writeln!(s, "- **{}** {}: {}", d.status, d.check, d.detail);
    }
    for e in report.errors {
        let _ = writeln!(s, "- error: {e}");
    }
    let _ = writeln!(
        s,
        "\n## Reproduce\n\n`{}` (seed {})",
        m.command.join(" "),
        m.seed
    );
    s
}

fn html(report: &CertifyReport) -> String {
    let m = report.manifest;
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<title>gauntlet certify: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        escape(&m.model.path)
    );
    let _ = writeln!(s, "<h1>gauntlet certified robustness</h1>");
    let _ = writeln!(
        s,
        "<section class=\"verdict\"><p>Model <code>{}</code> smoothed with Gaussian noise σ = {}; \
         {} of {} samples ({}); CERTIFY (n0 = {}, n = {}, α = {}) abstained on <strong>{}</strong>.</p>",
        escape(&m.model.path),
        report.sigma,
        report.samples,
        report.samples_total,
        report.status,
        report.n0,
        report.n,
        report.alpha,
        pct(report.abstain_rate)
    );
    for d in &report.diagnostics {
        let class = if d.status == "pass" { "pass" } else { "warn" };
        let _ = writeln!(
            s,
            "<p><span class=\"{class}\">{}</span> {}: {}</p>",
            d.status,
            d.check,
            escape(&d.detail)
        );
    }
    for e in report.errors {
        let _ = writeln!(s, "<p class=\"warn\">error: {}</p>", escape(e));
    }
    s.push_str("</section>\n");
    let _ = writeln!(
        s,
        "<h2 id=\"curves\">Accuracy vs L2 radius</h2>\n<p>Certified accuracy (Cohen et al. 2019) \
         is a lower bound on the smoothed classifier's robust accuracy; empirical accuracy under \
         the SmoothAdv attack (Salman et al. 2019), judged by PREDICT, is an upper bound. The \
         truth lies between the two lines.</p>"
    );
    let line = |name: &str, pick: fn(&RadiusRow) -> f64| Series {
        name: name.into(),
        points: report.rows.iter().map(|r| (r.radius, pick(r))).collect(),
    };
    let series = [
        line("certified (lower bound)", |r| r.certified_accuracy),
        line("empirical (upper bound)", |r| r.empirical_accuracy),
    ];
    let axes = Axes {
        x_label: "L2 radius".into(),
        y_label: "accuracy",
        log_x: false,
        worst_last: false,
    };
    plot(&mut s, &axes, &series);
    s.push_str("<table><tr><th>L2 radius</th><th>certified accuracy</th><th>empirical accuracy</th></tr>\n");
    for r in report.rows {
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            r.radius,
            pct(r.certified_accuracy),
            pct(r.empirical_accuracy)
        );
    }
    s.push_str("</table>\n<h2 id=\"reproduce\">Reproduce</h2>\n<table>\n");
    let versions: Vec<String> = m.versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    for (key, value) in [
        ("command", m.command.join(" ")),
        ("seed", m.seed.to_string()),
        ("model sha256", m.model.sha256.clone()),
        ("inputs", m.data.inputs.clone()),
        ("labels", m.data.labels.clone()),
        ("data sha256", m.data.sha256.clone()),
        ("settings", m.settings.to_string()),
        ("batch size", m.batch_size.to_string()),
        ("versions", versions.join(", ")),
    ] {
        let _ = writeln!(
            s,
            "<tr><th>{key}</th><td><code>{}</code></td></tr>",
            escape(&value)
        );
    }
    s.push_str("</table>\n</body>\n</html>\n");
    s
}
