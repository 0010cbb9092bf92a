//! The CI gate of `gauntlet audit`: thresholds on robust accuracy, regressions against a
//! baseline report, and their verdict as an exit code, JUnit XML and a JSON summary.
//!
//! Exit codes: 0 every threshold holds; 1 a threshold or the baseline check failed; 2 a usage
//! or input error (bad threshold syntax, unreadable baseline, an attack that did not finish).
//!
//! Everything the user gives is parsed and checked into a [`Gate`] before any attack runs, so a
//! typo costs seconds, not an audit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};

use gauntlet_core::threat::{parse_epsilons, Norm};
use gauntlet_eval::Evaluation;

/// Two budgets are the same when they differ by less than this (they travel as f32 and JSON).
const EPS_TOLERANCE: f64 = 1e-6;

/// Which row a threshold applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The worst case over all attacks (`worst`).
    Worst,
    /// One attack by its report name (`pgd`, `apgd-ce`, `pgd+bpda`).
    Attack(String),
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Worst => "worst",
            Target::Attack(a) => a,
        }
    }
}

/// `--fail-under ATTACK:NORM:EPS=MIN`: robust accuracy of ATTACK at (NORM, EPS) must be ≥ MIN.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub target: Target,
    pub norm: Norm,
    pub eps: f64,
    pub min: f64,
}

impl FromStr for Threshold {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let usage = "write ATTACK:NORM:EPS=MIN, e.g. pgd:linf:0.1=0.80 or worst:linf:8/255=0.5";
        let (row, min) = text
            .split_once('=')
            .ok_or_else(|| anyhow!("threshold '{text}' has no '=MIN'; {usage}"))?;
        let parts: Vec<&str> = row.split(':').map(str::trim).collect();
        let [attack, norm, eps] = parts.as_slice() else {
            bail!("threshold '{text}' needs three ':'-separated parts before '='; {usage}");
        };
        if attack.is_empty() {
            bail!("threshold '{text}' names no attack; {usage}");
        }
        let norm: Norm = norm.parse().map_err(|e| anyhow!("threshold '{text}': {e}"))?;
        let eps = match parse_epsilons(eps) {
            Ok(list) if list.len() == 1 => list[0] as f64,
            Ok(_) => bail!("threshold '{text}' must name one budget; give one threshold per ε"),
            Err(e) => bail!("threshold '{text}': {e}"),
        };
        let min: f64 = min
            .trim()
            .parse()
            .map_err(|_| anyhow!("threshold '{text}': cannot read '{min}' as a number; {usage}"))?;
        if !(0.0..=1.0).contains(&min) {
            bail!("threshold '{text}': MIN must be a fraction in [0, 1] (0.80 for 80 %)");
        }
        let target = if attack.eq_ignore_ascii_case("worst") { Target::Worst } else { Target::Attack(attack.to_string()) };
        Ok(Threshold { target, norm, eps, min })
    }
}

/// One row of a baseline `report.json`.
#[derive(Debug, Clone)]
struct BaselineRow {
    target: Target,
    norm: Norm,
    eps: f64,
    robust_accuracy: f64,
}

/// A previous `report.json` and how much robust accuracy may drop from it.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub path: PathBuf,
    pub max_drop: f64,
    rows: Vec<BaselineRow>,
}

impl Baseline {
    /// Reads `path` (a `report.json`, or a directory holding one).
    pub fn load(path: &Path, max_drop: f64) -> Result<Self> {
        if !max_drop.is_finite() || !(0.0..=1.0).contains(&max_drop) {
            bail!("--max-drop {max_drop} must be a fraction in [0, 1] (0.02 for 2 points)");
        }
        let path = if path.is_dir() { path.join("report.json") } else { path.to_path_buf() };
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the baseline '{}'; give the report.json of an earlier audit", path.display()))?;
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("the baseline '{}' is not valid JSON; give the report.json of an earlier audit", path.display()))?;
        let mut rows = Vec::new();
        for (key, worst) in [("results", false), ("worst_case", true)] {
            let list = json[key]
                .as_array()
                .ok_or_else(|| anyhow!("the baseline '{}' has no '{key}' list; is it a gauntlet report.json?", path.display()))?;
            for entry in list {
                rows.push(baseline_row(entry, worst).with_context(|| format!("in the baseline '{}'", path.display()))?);
            }
        }
        Ok(Baseline { path, max_drop, rows })
    }

    fn find(&self, target: &Target, norm: Norm, eps: f64) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| &r.target == target && r.norm == norm && same_eps(r.eps, eps))
            .map(|r| r.robust_accuracy)
    }
}

fn baseline_row(entry: &serde_json::Value, worst: bool) -> Result<BaselineRow> {
    let field = |k: &str| entry.get(k).ok_or_else(|| anyhow!("an entry lacks '{k}': {entry}"));
    let target = if worst {
        Target::Worst
    } else {
        Target::Attack(field("attack")?.as_str().ok_or_else(|| anyhow!("'attack' is not a string: {entry}"))?.to_string())
    };
    let norm: Norm = field("norm")?.as_str().unwrap_or("").parse()?;
    let number = |k: &str| -> Result<f64> { field(k)?.as_f64().ok_or_else(|| anyhow!("'{k}' is not a number: {entry}")) };
    Ok(BaselineRow { target, norm, eps: number("eps")?, robust_accuracy: number("robust_accuracy")? })
}

fn same_eps(a: f64, b: f64) -> bool {
    (a - b).abs() <= EPS_TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// Every check the user asked for, validated.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub thresholds: Vec<Threshold>,
    pub baseline: Option<Baseline>,
}

impl Gate {
    /// Parses `--fail-under` values and loads the baseline. `--max-drop` without `--baseline`
    /// is a usage error; `--baseline` alone allows no drop at all.
    pub fn parse(fail_under: &[String], baseline: Option<&Path>, max_drop: Option<f64>) -> Result<Self> {
        let thresholds = fail_under.iter().map(|t| t.parse()).collect::<Result<Vec<Threshold>>>()?;
        let baseline = match (baseline, max_drop) {
            (Some(path), drop) => Some(Baseline::load(path, drop.unwrap_or(0.0))?),
            (None, Some(_)) => bail!("--max-drop needs --baseline OLD/report.json to compare against"),
            (None, None) => None,
        };
        Ok(Gate { thresholds, baseline })
    }

    /// Checks, before any work, that every threshold names a row this audit will produce.
    pub fn check_applicable(&self, attacks: &[String], norm: Norm, epsilons: &[f32]) -> Result<()> {
        for t in &self.thresholds {
            if let Target::Attack(a) = &t.target {
                let base = a.strip_suffix("+bpda").unwrap_or(a);
                if !attacks.iter().any(|x| x == base) {
                    bail!(
                        "threshold on '{a}' but this audit runs {}; name one of them or 'worst'",
                        attacks.join(", ")
                    );
                }
            }
            if t.norm != norm {
                bail!("threshold on norm {} but this audit uses {norm}; change the threshold or --norm", t.norm);
            }
            if !epsilons.iter().any(|&e| same_eps(e as f64, t.eps)) {
                let list: Vec<String> = epsilons.iter().map(|e| e.to_string()).collect();
                bail!("threshold at ε = {} but this audit runs ε = {}; add it to --eps", t.eps, list.join(", "));
            }
        }
        Ok(())
    }

    /// Judges every (attack, norm, ε) row and every worst case of the evaluation.
    pub fn judge(&self, evaluation: &Evaluation) -> Vec<Case> {
        let rows = evaluation
            .results
            .iter()
            .map(|r| (Target::Attack(r.attack.clone()), r.norm, r.eps as f64, r.robust_accuracy))
            .chain(evaluation.worst_case.iter().map(|w| (Target::Worst, w.norm, w.eps as f64, w.robust_accuracy)));
        rows.map(|(target, norm, eps, robust_accuracy)| self.case(target, norm, eps, robust_accuracy)).collect()
    }

    fn case(&self, target: Target, norm: Norm, eps: f64, robust_accuracy: f64) -> Case {
        let mut failures = Vec::new();
        let mut min = None;
        for t in self.thresholds.iter().filter(|t| t.target == target && t.norm == norm && same_eps(t.eps, eps)) {
            min = Some(min.map_or(t.min, |m: f64| m.max(t.min)));
            if robust_accuracy < t.min {
                failures.push(format!(
                    "robust accuracy {:.2} % is below the threshold {:.2} % ({}:{norm}:{eps}={})",
                    robust_accuracy * 100.0,
                    t.min * 100.0,
                    target.name(),
                    t.min
                ));
            }
        }
        let baseline = self.baseline.as_ref().and_then(|b| b.find(&target, norm, eps).map(|old| (old, b.max_drop, &b.path)));
        if let Some((old, max_drop, path)) = baseline {
            if old - robust_accuracy > max_drop + 1e-9 {
                failures.push(format!(
                    "robust accuracy dropped from {:.2} % (baseline {}) to {:.2} %, by {:.2} points; at most {:.2} allowed (--max-drop {max_drop})",
                    old * 100.0,
                    path.display(),
                    robust_accuracy * 100.0,
                    (old - robust_accuracy) * 100.0,
                    max_drop * 100.0
                ));
            }
        }
        Case { target, norm, eps, robust_accuracy, min, baseline: baseline.map(|b| b.0), failures }
    }
}

/// The verdict on one row.
#[derive(Debug, Clone)]
pub struct Case {
    pub target: Target,
    pub norm: Norm,
    pub eps: f64,
    pub robust_accuracy: f64,
    /// The strictest threshold on this row, if any.
    pub min: Option<f64>,
    /// Robust accuracy in the baseline, if the row is there.
    pub baseline: Option<f64>,
    pub failures: Vec<String>,
}

impl Case {
    fn name(&self) -> String {
        format!("{} {} eps={}", self.target.name(), self.norm, fmt_eps(self.eps))
    }
}

/// ε as written by the user (f32 precision, no float noise).
fn fmt_eps(eps: f64) -> String {
    (eps as f32).to_string()
}

/// Escapes text for XML attributes and content.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// JUnit XML: one testsuite, one testcase per row, a `<failure>` per violated check.
pub fn junit(cases: &[Case], seconds: f64) -> String {
    let failed = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites tests=\"{}\" failures=\"{failed}\" time=\"{seconds:.3}\">\n  <testsuite name=\"gauntlet\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{seconds:.3}\">",
        cases.len(),
        cases.len()
    );
    for c in cases {
        let _ = write!(
            s,
            "    <testcase classname=\"gauntlet.{}\" name=\"{}\"",
            xml_escape(c.target.name()),
            xml_escape(&c.name())
        );
        if c.failures.is_empty() {
            s.push_str("/>\n");
            continue;
        }
        s.push_str(">\n");
        for f in &c.failures {
            let _ = writeln!(s, "      <failure message=\"{}\" type=\"threshold\">{}</failure>", xml_escape(f), xml_escape(f));
        }
        s.push_str("    </testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// The machine-readable summary printed by `--json`.
pub fn summary_json(cases: &[Case], evaluation: &Evaluation, report: &Path, exit_code: u8) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "attack": c.target.name(),
                "norm": c.norm.to_string(),
                "eps": c.eps as f32,
                "robust_accuracy": c.robust_accuracy,
                "min": c.min,
                "baseline": c.baseline,
                "passed": c.failures.is_empty(),
                "failures": c.failures,
            })
        })
        .collect();
    serde_json::json!({
        "passed": exit_code == 0,
        "exit_code": exit_code,
        "status": if evaluation.errors.is_empty() { "complete" } else { "incomplete" },
        "errors": evaluation.errors,
        "samples": evaluation.samples,
        "clean_accuracy": evaluation.clean_accuracy,
        "report": report.display().to_string(),
        "cases": cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thresholds() {
        let t: Threshold = "pgd:linf:0.1=0.80".parse().unwrap();
        assert_eq!(t, Threshold { target: Target::Attack("pgd".into()), norm: Norm::Linf, eps: 0.1f32 as f64, min: 0.8 });
        let w: Threshold = "worst:l2:8/255=0.5".parse().unwrap();
        assert_eq!(w.target, Target::Worst);
        assert!((w.eps - 8.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn rejects_malformed_thresholds_with_the_reason() {
        for (text, needle) in [
            ("pgd:linf:0.1", "no '=MIN'"),
            ("pgd:0.1=0.8", "three"),
            ("pgd:linf:0.1:x=0.8", "three"),
            (":linf:0.1=0.8", "no attack"),
            ("pgd:l7:0.1=0.8", "unknown norm"),
            ("pgd:linf:abc=0.8", "pgd:linf:abc"),
            ("pgd:linf:0.1,0.3=0.8", "one budget"),
            ("pgd:linf:0.1=80", "fraction"),
            ("pgd:linf:0.1=high", "cannot read"),
        ] {
            let err = text.parse::<Threshold>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn junit_escapes_and_counts_failures() {
        let case = |failures: Vec<String>| Case {
            target: Target::Attack("a<b".into()),
            norm: Norm::Linf,
            eps: 0.1,
            robust_accuracy: 0.5,
            min: Some(0.6),
            baseline: None,
            failures,
        };
        let xml = junit(&[case(vec!["below \"0.6\"".into()]), case(vec![])], 1.0);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("a&lt;b") && !xml.contains("a<b"));
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(xml.contains("&quot;0.6&quot;"));
    }
}
