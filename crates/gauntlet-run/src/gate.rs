//! The CI gate shared by every kind of audit: thresholds on robust accuracy, regressions
//! against a baseline report, and their verdict as an exit code, JUnit XML and a JSON summary.
//!
//! The gate works on [`Row`]s — one result of a finished audit, named by its attack — so it
//! does not care what was attacked. An image audit has rows per attack, norm and ε
//! (`pgd linf 0.1`); a text audit has rows per attack only (`deepwordbug`). The row named
//! [`WORST`] is the worst case over every attack. Each kind of audit turns its own report into
//! rows, for the run being judged and for a baseline report alike.
//!
//! Thresholds are written `ATTACK=MIN` (rows without norm and budget) or `ATTACK:NORM:EPS=MIN`
//! (e.g. `pgd:linf:8/255=0.5`); MIN is a fraction. Everything is parsed and checked against
//! what the audit will produce ([`Gate::check_applicable`]) before any attack runs, so a typo
//! costs seconds, not an audit.
//!
//! Exit codes ([`Verdict::code`]): 0 every check holds; 1 a threshold or the baseline check
//! failed; 2 a usage or input error, a run that did not finish, or a threshold that matched no
//! result (it cannot be judged, so it must not pass silently).

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::markup::escape;

/// The name of the worst-case row: per input, the worst over every attack.
pub const WORST: &str = "worst";

/// Two budgets are the same when they differ by less than this, relative to the larger (they
/// travel as f32 and through JSON).
pub const EPS_TOLERANCE: f64 = 1e-6;

/// How a threshold is written, for error messages.
const USAGE: &str =
    "write ATTACK=MIN (e.g. deepwordbug=0.3) or ATTACK:NORM:EPS=MIN (e.g. pgd:linf:8/255=0.5), \
                     MIN a fraction";

/// Whether two budgets are the same (see [`EPS_TOLERANCE`]).
pub fn same_eps(a: f64, b: f64) -> bool {
    (a - b).abs() <= EPS_TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// The canonical lowercase name of a norm ("linf", "l2", "l1") for any spelling gauntlet
/// accepts (`inf`, `l_inf`, `l-inf`, `2`, `1`, any case); `None` for anything else.
pub fn canonical_norm(text: &str) -> Option<&'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "linf" | "inf" | "l_inf" | "l-inf" => Some("linf"),
        "l2" | "2" => Some("l2"),
        "l1" | "1" => Some("l1"),
        _ => None,
    }
}

/// A budget as written: a number (`0.1`) or a fraction (`8/255`), finite and not negative.
fn parse_eps(text: &str) -> Option<f64> {
    let value = match text.split_once('/') {
        Some((a, b)) => a.trim().parse::<f64>().ok()? / b.trim().parse::<f64>().ok()?,
        None => text.trim().parse::<f64>().ok()?,
    };
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// ε as a user writes it (f32 precision, no float noise).
fn fmt_eps(eps: f64) -> String {
    (eps as f32).to_string()
}

/// Norm names compare by their canonical form; unknown names as written.
fn same_norm(a: &str, b: &str) -> bool {
    match (canonical_norm(a), canonical_norm(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// Anything wrong with what the user asked the gate to check. Every message says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    /// A threshold that cannot be read.
    #[error("{0}")]
    Threshold(String),
    /// A threshold on a result this audit will not produce.
    #[error("{0}")]
    NotApplicable(String),
    /// `max_drop` outside [0, 1].
    #[error("max_drop {0} must be a fraction in [0, 1] (0.02 for 2 points)")]
    MaxDrop(f64),
    /// `max_drop` without a baseline.
    #[error("max_drop needs a baseline: give `baseline`, the report of an earlier run, to compare against")]
    MaxDropWithoutBaseline,
    /// A baseline report that cannot be used.
    #[error("{0}")]
    Baseline(String),
}

/// One result of a finished audit, as the gate sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The attack's report name (`pgd`, `pgd+bpda`, `deepwordbug+normalized`), or [`WORST`].
    pub attack: String,
    /// The norm, lowercase (`linf`, `l2`, `l1`); `None` for audits without one (text).
    pub norm: Option<String>,
    /// The budget; `None` for audits without one.
    pub eps: Option<f64>,
    /// The share of inputs the model still gets right under this attack, in [0, 1]. For a
    /// text audit: the share of attacked spam the filter still catches.
    pub robust_accuracy: f64,
}

impl Row {
    /// A row without norm and budget.
    pub fn new(attack: impl Into<String>, robust_accuracy: f64) -> Row {
        Row {
            attack: attack.into(),
            norm: None,
            eps: None,
            robust_accuracy,
        }
    }

    /// The same row at a norm (any accepted spelling; stored canonical) and budget.
    pub fn at(self, norm: &str, eps: f64) -> Row {
        let norm = canonical_norm(norm).map_or_else(|| norm.to_ascii_lowercase(), str::to_string);
        Row {
            norm: Some(norm),
            eps: Some(eps),
            ..self
        }
    }

    /// Whether this row is the one `(attack, norm, eps)` names.
    fn is(&self, attack: &str, norm: Option<&str>, eps: Option<f64>) -> bool {
        let norm_ok = match (self.norm.as_deref(), norm) {
            (None, None) => true,
            (Some(a), Some(b)) => same_norm(a, b),
            _ => false,
        };
        let eps_ok = match (self.eps, eps) {
            (None, None) => true,
            (Some(a), Some(b)) => same_eps(a, b),
            _ => false,
        };
        self.attack.eq_ignore_ascii_case(attack) && norm_ok && eps_ok
    }

    /// How the row is named in JUnit and messages: `pgd linf eps=0.1`, or `deepwordbug`.
    pub fn label(&self) -> String {
        match (&self.norm, self.eps) {
            (Some(norm), Some(eps)) => format!("{} {norm} eps={}", self.attack, fmt_eps(eps)),
            (Some(norm), None) => format!("{} {norm}", self.attack),
            (None, Some(eps)) => format!("{} eps={}", self.attack, fmt_eps(eps)),
            (None, None) => self.attack.clone(),
        }
    }
}

/// A lower bound on one row's robust accuracy: `ATTACK=MIN` or `ATTACK:NORM:EPS=MIN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The row's attack name, or [`WORST`].
    pub attack: String,
    /// The norm (canonical), when the threshold names one.
    pub norm: Option<String>,
    /// The budget, when the threshold names one.
    pub eps: Option<f64>,
    /// The least robust accuracy allowed, a fraction in [0, 1].
    pub min: f64,
}

impl FromStr for Threshold {
    type Err = GateError;

    fn from_str(text: &str) -> Result<Self, GateError> {
        let bad =
            |reason: String| GateError::Threshold(format!("threshold '{text}' {reason}; {USAGE}"));
        let (row, min) = text
            .split_once('=')
            .ok_or_else(|| bad("has no '=MIN'".into()))?;
        let parts: Vec<&str> = row.split(':').map(str::trim).collect();
        let (attack, norm, eps) = match parts.as_slice() {
            [attack] => (*attack, None, None),
            [attack, norm, eps] => {
                let norm = canonical_norm(norm).ok_or_else(|| {
                    bad(format!(
                        "names the unknown norm '{norm}' (use linf, l2 or l1)"
                    ))
                })?;
                if eps.contains(',') {
                    return Err(bad("must name one budget; give one threshold per ε".into()));
                }
                let eps = parse_eps(eps).ok_or_else(|| {
                    bad(format!(
                        "has the budget '{eps}', not a number like 0.1 or a fraction like 8/255"
                    ))
                })?;
                (*attack, Some(norm.to_string()), Some(eps))
            }
            other => {
                return Err(bad(format!(
                    "has {} ':'-separated parts before '=', not one or three",
                    other.len()
                )))
            }
        };
        if attack.is_empty() {
            return Err(bad("names no attack".into()));
        }
        let min: f64 = min
            .trim()
            .parse()
            .map_err(|_| bad(format!("has MIN '{}', which is not a number", min.trim())))?;
        if !(0.0..=1.0).contains(&min) {
            return Err(bad(format!(
                "has MIN {min}, but MIN must be a fraction in [0, 1] (0.80 for 80 %)"
            )));
        }
        let attack = if attack.eq_ignore_ascii_case(WORST) {
            WORST.to_string()
        } else {
            attack.to_string()
        };
        Ok(Threshold {
            attack,
            norm,
            eps,
            min,
        })
    }
}

impl fmt::Display for Threshold {
    /// The threshold as it is written (`deepwordbug=0.3`, `pgd:linf:0.1=0.8`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.attack)?;
        if let Some(norm) = &self.norm {
            write!(f, ":{norm}")?;
        }
        if let Some(eps) = self.eps {
            write!(f, ":{}", fmt_eps(eps))?;
        }
        write!(f, "={}", self.min)
    }
}

/// The rows of an earlier report and how much robust accuracy may drop from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The report the rows were read from.
    pub path: PathBuf,
    /// Largest allowed drop, a fraction (0.02 = 2 points).
    pub max_drop: f64,
    /// The report's rows.
    pub rows: Vec<Row>,
}

impl Baseline {
    /// A baseline from rows already read; `max_drop` must be in [0, 1].
    pub fn new(
        path: impl Into<PathBuf>,
        max_drop: f64,
        rows: Vec<Row>,
    ) -> Result<Baseline, GateError> {
        if !(max_drop.is_finite() && (0.0..=1.0).contains(&max_drop)) {
            return Err(GateError::MaxDrop(max_drop));
        }
        Ok(Baseline {
            path: path.into(),
            max_drop,
            rows,
        })
    }

    /// Reads the report at `path` — or the file `report_file` (e.g. `report.json`) inside it
    /// when `path` is a directory — and turns it into rows with `rows`, which knows the
    /// report's format and explains what it misses.
    pub fn load(
        path: &Path,
        max_drop: f64,
        report_file: &str,
        rows: impl FnOnce(&serde_json::Value) -> Result<Vec<Row>, String>,
    ) -> Result<Baseline, GateError> {
        if !(max_drop.is_finite() && (0.0..=1.0).contains(&max_drop)) {
            return Err(GateError::MaxDrop(max_drop));
        }
        let path = if path.is_dir() {
            path.join(report_file)
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            GateError::Baseline(format!(
                "cannot read the baseline '{}' ({e}); give the {report_file} of an earlier audit",
                path.display()
            ))
        })?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            GateError::Baseline(format!(
                "the baseline '{}' is not valid JSON ({e}); give the {report_file} of an earlier audit",
                path.display()
            ))
        })?;
        let rows = rows(&json).map_err(|reason| {
            GateError::Baseline(format!(
                "the baseline '{}' cannot be used: {reason}; give the {report_file} of an earlier audit of the same kind",
                path.display()
            ))
        })?;
        Baseline::new(path, max_drop, rows)
    }

    /// Robust accuracy of the row `row` names, if the baseline has it.
    fn find(&self, row: &Row) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.is(&row.attack, row.norm.as_deref(), row.eps))
            .map(|r| r.robust_accuracy)
    }
}

/// The rows an audit will produce, known before it runs (for [`Gate::check_applicable`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Row names: every attack (and variant, e.g. `pgd+bpda`, `deepwordbug+normalized`) and
    /// every worst-case row (`worst`, …) the run will report.
    pub rows: Vec<String>,
    /// The norm of every row (canonical), or `None` for audits without one.
    pub norm: Option<String>,
    /// The budgets every row is measured at (empty for audits without one).
    pub epsilons: Vec<f64>,
    /// Rows (among `rows`) reported without a norm or budget in an audit whose other rows have
    /// them, e.g. the image audit's `spatial` stage; a threshold names them alone
    /// (`spatial=0.5`).
    pub budgetless: Vec<String>,
}

/// Every check the user asked for, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Lower bounds on robust accuracy.
    pub thresholds: Vec<Threshold>,
    /// The earlier report to compare against, if any.
    pub baseline: Option<Baseline>,
    /// What robust accuracy means for this audit, in failure messages (default "robust
    /// accuracy"; a text audit says "spam still caught").
    pub measure: String,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            thresholds: Vec::new(),
            baseline: None,
            measure: "robust accuracy".into(),
        }
    }
}

impl Gate {
    /// A gate with these checks.
    pub fn new(thresholds: Vec<Threshold>, baseline: Option<Baseline>) -> Gate {
        Gate {
            thresholds,
            baseline,
            ..Gate::default()
        }
    }

    /// The same gate, naming its measure `measure` in messages.
    pub fn with_measure(self, measure: impl Into<String>) -> Gate {
        Gate {
            measure: measure.into(),
            ..self
        }
    }

    /// Parses thresholds (`fail_under`) and loads the baseline (see [`Baseline::load`]).
    /// `max_drop` without a baseline is an error; a baseline alone allows no drop at all.
    pub fn parse(
        fail_under: &[String],
        baseline: Option<&Path>,
        max_drop: Option<f64>,
        report_file: &str,
        rows: impl FnOnce(&serde_json::Value) -> Result<Vec<Row>, String>,
    ) -> Result<Gate, GateError> {
        let thresholds = fail_under
            .iter()
            .map(|t| t.parse())
            .collect::<Result<Vec<Threshold>, _>>()?;
        let baseline = match (baseline, max_drop) {
            (Some(path), drop) => Some(Baseline::load(
                path,
                drop.unwrap_or(0.0),
                report_file,
                rows,
            )?),
            (None, Some(_)) => return Err(GateError::MaxDropWithoutBaseline),
            (None, None) => None,
        };
        Ok(Gate::new(thresholds, baseline))
    }

    /// Whether the gate checks nothing.
    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty() && self.baseline.is_none()
    }

    /// Checks, before any work, that every threshold names a row the audit will produce.
    pub fn check_applicable(&self, plan: &Plan) -> Result<(), GateError> {
        for t in &self.thresholds {
            let wrong = |reason: String| {
                Err(GateError::NotApplicable(format!(
                    "threshold '{t}': {reason}"
                )))
            };
            if !plan.rows.iter().any(|r| r.eq_ignore_ascii_case(&t.attack)) {
                return wrong(format!(
                    "this audit runs {}; name one of them",
                    plan.rows.join(", ")
                ));
            }
            if plan
                .budgetless
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&t.attack))
            {
                if t.norm.is_some() || t.eps.is_some() {
                    return wrong(format!(
                        "{} is measured without a norm or budget; write {}={}",
                        t.attack, t.attack, t.min
                    ));
                }
                continue;
            }
            match (&t.norm, &plan.norm) {
                (Some(_), None) => {
                    return wrong(format!(
                        "this audit's results have no norm or budget; write {}={}",
                        t.attack, t.min
                    ))
                }
                (None, Some(norm)) => {
                    return wrong(format!(
                        "this audit's results are per norm and budget; write {}:{norm}:EPS={}",
                        t.attack, t.min
                    ))
                }
                (Some(a), Some(b)) if !same_norm(a, b) => {
                    return wrong(format!(
                    "norm {a}, but this audit uses {b}; change the threshold or the audit's `norm`"
                ))
                }
                _ => {}
            }
            if let Some(eps) = t.eps {
                if !plan.epsilons.iter().any(|&e| same_eps(e, eps)) {
                    let list: Vec<String> = plan.epsilons.iter().map(|&e| fmt_eps(e)).collect();
                    return wrong(format!(
                        "threshold at ε = {} but this audit runs ε = {}; add {} to the audit's `eps` or change the threshold",
                        fmt_eps(eps),
                        list.join(", "),
                        fmt_eps(eps)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Judges every row of a finished (`complete`) or stopped run.
    pub fn judge(&self, rows: &[Row], complete: bool) -> Judgement {
        let cases = rows.iter().map(|row| self.case(row)).collect();
        let unmatched = self
            .thresholds
            .iter()
            .filter(|t| {
                !rows
                    .iter()
                    .any(|r| r.is(&t.attack, t.norm.as_deref(), t.eps))
            })
            .cloned()
            .collect();
        Judgement {
            cases,
            unmatched,
            complete,
        }
    }

    fn case(&self, row: &Row) -> Case {
        let measure = &self.measure;
        let value = row.robust_accuracy;
        let mut failures = Vec::new();
        if !value.is_finite() {
            failures.push(format!(
                "{measure} is not a number ({value}); the run measured nothing here"
            ));
        }
        let mut min = None;
        for t in self
            .thresholds
            .iter()
            .filter(|t| row.is(&t.attack, t.norm.as_deref(), t.eps))
        {
            min = Some(min.map_or(t.min, |m: f64| m.max(t.min)));
            if value < t.min {
                failures.push(format!(
                    "{measure} {:.2} % is below the threshold {:.2} % ({t})",
                    value * 100.0,
                    t.min * 100.0
                ));
            }
        }
        let baseline = self
            .baseline
            .as_ref()
            .and_then(|b| b.find(row).map(|old| (old, b)));
        if let Some((old, b)) = baseline {
            if old - value > b.max_drop + 1e-9 {
                failures.push(format!(
                    "{measure} dropped from {:.2} % (baseline {}) to {:.2} %, by {:.2} points; at most {:.2} allowed (max_drop {})",
                    old * 100.0,
                    b.path.display(),
                    value * 100.0,
                    (old - value) * 100.0,
                    b.max_drop * 100.0,
                    b.max_drop
                ));
            }
        }
        Case {
            row: row.clone(),
            min,
            baseline: baseline.map(|(old, _)| old),
            failures,
        }
    }
}

/// The verdict on one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The row judged.
    pub row: Row,
    /// The strictest threshold on this row, if any.
    pub min: Option<f64>,
    /// Robust accuracy of the row in the baseline, if the baseline has it.
    pub baseline: Option<f64>,
    /// Every check the row fails, as a sentence; empty when it passes.
    pub failures: Vec<String>,
}

impl Case {
    /// Whether every check on this row holds.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The gate's answer, and the exit code it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every check holds (exit 0).
    Pass,
    /// A threshold or the baseline check failed (exit 1).
    Fail,
    /// The run did not finish, or a threshold matched no result, so it cannot be judged (exit 2).
    Incomplete,
    /// A usage or input error stopped the audit before it could be judged (exit 2).
    Usage,
}

impl Verdict {
    /// The process exit code: 0 pass, 1 fail, 2 incomplete or usage error.
    pub fn code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Incomplete | Verdict::Usage => 2,
        }
    }

    /// A word for reports: `pass`, `fail`, `incomplete`, `usage error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Incomplete => "incomplete",
            Verdict::Usage => "usage error",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every row judged, plus what could not be.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// One case per row of the run, in the run's order.
    pub cases: Vec<Case>,
    /// Thresholds that matched no row (e.g. nothing was attacked for it): they cannot be judged.
    pub unmatched: Vec<Threshold>,
    /// Whether the run finished.
    pub complete: bool,
}

impl Judgement {
    /// The cases that failed a check.
    pub fn failed(&self) -> impl Iterator<Item = &Case> {
        self.cases.iter().filter(|c| !c.passed())
    }

    /// Incomplete when the run did not finish or a threshold matched nothing; else fail when a
    /// case failed; else pass.
    pub fn verdict(&self) -> Verdict {
        if !self.complete || !self.unmatched.is_empty() {
            Verdict::Incomplete
        } else if self.failed().next().is_some() {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }

    /// Every problem as one line each (`FAIL …`, `ERROR …`), for a terminal or a CI log.
    pub fn problems(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for case in self.failed() {
            for f in &case.failures {
                lines.push(format!("FAIL {}: {f}", case.row.label()));
            }
        }
        for t in &self.unmatched {
            lines.push(format!("ERROR threshold {t} matched no result of this run (nothing was measured for it), so it cannot be judged"));
        }
        if !self.complete {
            lines.push(
                "ERROR the run did not finish; its results are partial and cannot be judged".into(),
            );
        }
        lines
    }
}

/// JUnit XML: one testsuite named `suite`, one testcase per row with a `<failure>` per violated
/// check, and one testcase with an `<error>` per threshold that matched nothing and for a run
/// that did not finish.
pub fn junit(judgement: &Judgement, suite: &str, seconds: f64) -> String {
    let failed = judgement.failed().count();
    let mut errors: Vec<(String, String)> = judgement
        .unmatched
        .iter()
        .map(|t| {
            (
                format!("threshold {t}"),
                format!("threshold {t} matched no result of this run, so it cannot be judged"),
            )
        })
        .collect();
    if !judgement.complete {
        errors.push((
            "complete run".into(),
            "the run did not finish; its results are partial".into(),
        ));
    }
    let tests = judgement.cases.len() + errors.len();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = escape(suite);
    let _ = writeln!(
        s,
        "<testsuites tests=\"{tests}\" failures=\"{failed}\" errors=\"{}\" time=\"{seconds:.3}\">\n  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"{}\" time=\"{seconds:.3}\">",
        errors.len(),
        errors.len()
    );
    for c in &judgement.cases {
        let _ = write!(
            s,
            "    <testcase classname=\"{suite}.{}\" name=\"{}\"",
            escape(&c.row.attack),
            escape(&c.row.label())
        );
        if c.passed() {
            s.push_str("/>\n");
            continue;
        }
        s.push_str(">\n");
        for f in &c.failures {
            let _ = writeln!(
                s,
                "      <failure message=\"{}\" type=\"threshold\">{}</failure>",
                escape(f),
                escape(f)
            );
        }
        s.push_str("    </testcase>\n");
    }
    for (name, message) in &errors {
        let _ = writeln!(
            s,
            "    <testcase classname=\"{suite}.gate\" name=\"{}\">\n      <error message=\"{}\" type=\"incomplete\">{}</error>\n    </testcase>",
            escape(name),
            escape(message),
            escape(message)
        );
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// The machine-readable summary (`--json`): verdict, exit code, status, the report's path and
/// every case. Callers add their own fields (e.g. `samples`) to the object.
pub fn summary_json(judgement: &Judgement, report: &Path) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = judgement
        .cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "attack": c.row.attack,
                "norm": c.row.norm,
                "eps": c.row.eps.map(|e| e as f32),
                "robust_accuracy": c.row.robust_accuracy,
                "min": c.min,
                "baseline": c.baseline,
                "passed": c.passed(),
                "failures": c.failures,
            })
        })
        .collect();
    let verdict = judgement.verdict();
    serde_json::json!({
        "passed": verdict == Verdict::Pass,
        "exit_code": verdict.code(),
        "verdict": verdict.as_str(),
        "status": if judgement.complete { "complete" } else { "incomplete" },
        "report": report.display().to_string(),
        "cases": cases,
        "unmatched": judgement.unmatched.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_rows() -> Vec<Row> {
        vec![
            Row::new("pgd", 0.9).at("linf", 0.1),
            Row::new("pgd", 0.2).at("linf", 0.3),
            Row::new(WORST, 0.85).at("linf", 0.1),
            Row::new(WORST, 0.1).at("linf", 0.3),
        ]
    }

    fn text_rows() -> Vec<Row> {
        vec![
            Row::new("deepwordbug", 0.75),
            Row::new("goodword", 0.6),
            Row::new(WORST, 0.5),
            Row::new("deepwordbug+normalized", 0.7),
        ]
    }

    fn thresholds(list: &[&str]) -> Vec<Threshold> {
        list.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn parses_both_threshold_forms() {
        let t: Threshold = "pgd:linf:0.1=0.80".parse().unwrap();
        assert_eq!(
            t,
            Threshold {
                attack: "pgd".into(),
                norm: Some("linf".into()),
                eps: Some(0.1),
                min: 0.8
            }
        );
        let w: Threshold = "WORST:L_inf:8/255=0.5".parse().unwrap();
        assert_eq!(
            (w.attack.as_str(), w.norm.as_deref()),
            (WORST, Some("linf"))
        );
        assert!((w.eps.unwrap() - 8.0 / 255.0).abs() < 1e-12);
        let text: Threshold = "deepwordbug=0.3".parse().unwrap();
        assert_eq!(
            text,
            Threshold {
                attack: "deepwordbug".into(),
                norm: None,
                eps: None,
                min: 0.3
            }
        );
        let variant: Threshold = " deepwordbug+normalized = 0.25".parse().unwrap();
        assert_eq!(variant.attack, "deepwordbug+normalized");
        assert_eq!(variant.to_string(), "deepwordbug+normalized=0.25");
        assert_eq!(t.to_string(), "pgd:linf:0.1=0.8");
        assert_eq!(
            "pgd:2:0.5=0.1"
                .parse::<Threshold>()
                .unwrap()
                .norm
                .as_deref(),
            Some("l2")
        );
    }

    #[test]
    fn rejects_malformed_thresholds_with_the_reason() {
        for (text, needle) in [
            ("pgd:linf:0.1", "no '=MIN'"),
            ("pgd:0.1=0.8", "three"),
            ("pgd:linf:0.1:x=0.8", "three"),
            (":linf:0.1=0.8", "no attack"),
            ("=0.8", "no attack"),
            ("pgd:l7:0.1=0.8", "unknown norm"),
            ("pgd:linf:abc=0.8", "pgd:linf:abc"),
            ("pgd:linf:-1=0.8", "fraction like 8/255"),
            ("pgd:linf:0.1,0.3=0.8", "one budget"),
            ("pgd:linf:0.1=80", "fraction"),
            ("deepwordbug=1.5", "fraction"),
            ("deepwordbug=high", "not a number"),
            ("deepwordbug=NaN", "fraction"),
        ] {
            let err = text.parse::<Threshold>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(
                err.contains("ATTACK=MIN"),
                "every message shows the syntax: {err}"
            );
        }
    }

    #[test]
    fn check_applicable_names_what_the_audit_runs() {
        let image = Plan {
            rows: vec!["pgd".into(), WORST.into()],
            norm: Some("linf".into()),
            epsilons: vec![0.1, 0.3],
            budgetless: Vec::new(),
        };
        let ok = Gate::new(thresholds(&["pgd:linf:0.1=0.5", "worst:inf:0.3=0"]), None);
        ok.check_applicable(&image).unwrap();
        for (t, needle) in [
            ("fgsm:linf:0.1=0.5", "this audit runs pgd, worst"),
            ("pgd:linf:0.2=0.5", "add 0.2 to the audit's `eps`"),
            ("pgd:l2:0.1=0.5", "uses linf"),
            ("pgd=0.5", "write pgd:linf:EPS=0.5"),
        ] {
            let err = Gate::new(thresholds(&[t]), None)
                .check_applicable(&image)
                .unwrap_err();
            assert!(matches!(err, GateError::NotApplicable(_)));
            assert!(err.to_string().contains(needle), "{t}: {err}");
        }
        // A row measured without a norm or budget beside the Lp rows (the spatial stage).
        let spatial = Plan {
            rows: vec!["pgd".into(), WORST.into(), "spatial".into()],
            budgetless: vec!["spatial".into()],
            ..image.clone()
        };
        let gate = Gate::new(thresholds(&["spatial=0.5", "pgd:linf:0.1=0"]), None);
        gate.check_applicable(&spatial).unwrap();
        let judged = gate.judge(
            &[
                Row::new("pgd", 0.4).at("linf", 0.1),
                Row::new("spatial", 0.3),
            ],
            true,
        );
        assert_eq!(
            judged.failed().map(|c| c.row.label()).collect::<Vec<_>>(),
            ["spatial"]
        );
        let err = Gate::new(thresholds(&["spatial:linf:0.1=0.5"]), None)
            .check_applicable(&spatial)
            .unwrap_err();
        assert!(err.to_string().contains("write spatial=0.5"), "{err}");
        let err = Gate::new(thresholds(&["spatial=0.5"]), None)
            .check_applicable(&image)
            .unwrap_err();
        assert!(
            err.to_string().contains("this audit runs pgd, worst"),
            "{err}"
        );
        let text = Plan {
            rows: vec![
                "deepwordbug".into(),
                "deepwordbug+normalized".into(),
                WORST.into(),
            ],
            ..Plan::default()
        };
        Gate::new(
            thresholds(&["deepwordbug=0.3", "DeepWordBug+normalized=0.2", "worst=0"]),
            None,
        )
        .check_applicable(&text)
        .unwrap();
        let err = Gate::new(thresholds(&["deepwordbug:linf:0.1=0.3"]), None)
            .check_applicable(&text)
            .unwrap_err();
        assert!(err.to_string().contains("write deepwordbug=0.3"), "{err}");
        let err = Gate::new(thresholds(&["leet=0.3"]), None)
            .check_applicable(&text)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("runs deepwordbug, deepwordbug+normalized, worst"),
            "{err}"
        );
    }

    #[test]
    fn judges_thresholds_per_row_with_the_strictest_bound() {
        let gate = Gate::new(
            thresholds(&["pgd:linf:0.3=0.5", "pgd:linf:0.3=0.1", "worst:linf:0.1=0.8"]),
            None,
        );
        let j = gate.judge(&image_rows(), true);
        assert_eq!(j.cases.len(), 4);
        let failed: Vec<&Case> = j.failed().collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].row.label(), "pgd linf eps=0.3");
        assert_eq!(failed[0].min, Some(0.5));
        assert!(
            failed[0].failures[0]
                .contains("20.00 % is below the threshold 50.00 % (pgd:linf:0.3=0.5)"),
            "{:?}",
            failed[0]
        );
        assert_eq!(j.verdict(), Verdict::Fail);
        assert_eq!(j.verdict().code(), 1);
        // A threshold exactly met passes.
        let met =
            Gate::new(thresholds(&["deepwordbug=0.75"]), None).with_measure("spam still caught");
        assert_eq!(met.judge(&text_rows(), true).verdict(), Verdict::Pass);
        let missed =
            Gate::new(thresholds(&["deepwordbug=0.76"]), None).with_measure("spam still caught");
        let j = missed.judge(&text_rows(), true);
        assert!(
            j.problems()[0].starts_with("FAIL deepwordbug: spam still caught 75.00 % is below"),
            "{:?}",
            j.problems()
        );
    }

    #[test]
    fn unmatched_thresholds_and_stopped_runs_cannot_pass() {
        let gate = Gate::new(thresholds(&["homoglyph=0.1"]), None);
        let j = gate.judge(&text_rows(), true);
        assert_eq!(j.unmatched.len(), 1);
        assert_eq!(j.verdict(), Verdict::Incomplete);
        assert_eq!(j.verdict().code(), 2);
        assert!(j.problems()[0].contains("homoglyph=0.1 matched no result"));
        let stopped = Gate::default().judge(&text_rows(), false);
        assert_eq!(stopped.verdict(), Verdict::Incomplete);
        // A stopped run is incomplete even when a threshold also failed.
        let both = Gate::new(thresholds(&["deepwordbug=0.9"]), None).judge(&text_rows(), false);
        assert_eq!(both.verdict().code(), 2);
        assert_eq!(
            Gate::default().judge(&text_rows(), true).verdict(),
            Verdict::Pass
        );
        let nan = Gate::default().judge(&[Row::new("leet", f64::NAN)], true);
        assert_eq!(nan.verdict(), Verdict::Fail);
    }

    #[test]
    fn baseline_allows_at_most_max_drop_per_row() {
        let old = vec![
            Row::new("deepwordbug", 0.80),
            Row::new(WORST, 0.52),
            Row::new("retired", 0.9),
        ];
        let within = Gate::new(
            Vec::new(),
            Some(Baseline::new("old/text-report.json", 0.05, old.clone()).unwrap()),
        );
        let j = within.judge(&text_rows(), true);
        assert_eq!(j.verdict(), Verdict::Pass);
        assert_eq!(j.cases[0].baseline, Some(0.80));
        assert_eq!(j.cases[1].baseline, None, "goodword is not in the baseline");
        let strict = Gate::new(
            Vec::new(),
            Some(Baseline::new("old/text-report.json", 0.02, old).unwrap()),
        );
        let j = strict.judge(&text_rows(), true);
        let failed: Vec<&Case> = j.failed().collect();
        assert_eq!(
            failed.len(),
            1,
            "deepwordbug dropped 5 points, worst only 2"
        );
        assert!(
            failed[0].failures[0]
                .contains("dropped from 80.00 % (baseline old/text-report.json) to 75.00 %"),
            "{:?}",
            failed[0]
        );
        assert!(Baseline::new("x", 1.5, Vec::new()).is_err());
        assert!(Baseline::new("x", f64::NAN, Vec::new()).is_err());
        // Image rows match on norm and budget, whatever spelling and float noise.
        let image = Baseline::new(
            "r.json",
            0.0,
            vec![Row::new("pgd", 0.95).at("inf", 0.1f32 as f64)],
        )
        .unwrap();
        let j = Gate::new(Vec::new(), Some(image)).judge(&image_rows(), true);
        assert_eq!(j.cases[0].baseline, Some(0.95));
        assert_eq!(j.verdict(), Verdict::Fail);
    }

    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn parse_loads_the_baseline_through_the_callers_reader() {
        let dir =
            Scratch(std::env::temp_dir().join(format!("gauntlet-run-gate-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let reader = |v: &serde_json::Value| -> Result<Vec<Row>, String> {
            let rows = v["rows"].as_array().ok_or("it has no 'rows' list")?;
            Ok(rows
                .iter()
                .map(|r| {
                    Row::new(
                        r["attack"].as_str().unwrap_or(""),
                        r["value"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect())
        };
        std::fs::write(
            dir.0.join("report.json"),
            r#"{"rows": [{"attack": "leet", "value": 0.5}]}"#,
        )
        .unwrap();
        // A directory stands for the report inside it.
        let gate = Gate::parse(
            &["leet=0.4".into()],
            Some(&dir.0),
            Some(0.1),
            "report.json",
            reader,
        )
        .unwrap();
        assert_eq!(
            gate.baseline.as_ref().unwrap().rows,
            vec![Row::new("leet", 0.5)]
        );
        assert_eq!(gate.baseline.as_ref().unwrap().max_drop, 0.1);
        assert!(!gate.is_empty());
        assert!(Gate::parse(&[], None, None, "report.json", reader)
            .unwrap()
            .is_empty());
        let err = Gate::parse(&[], None, Some(0.1), "report.json", reader).unwrap_err();
        assert_eq!(err, GateError::MaxDropWithoutBaseline);
        let missing = dir.0.join("missing.json");
        let err = Gate::parse(&[], Some(&missing), None, "report.json", reader)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read the baseline") && err.contains("missing.json"),
            "{err}"
        );
        std::fs::write(dir.0.join("bad.json"), "{ nope").unwrap();
        let err = Gate::parse(
            &[],
            Some(&dir.0.join("bad.json")),
            None,
            "report.json",
            reader,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        std::fs::write(dir.0.join("other.json"), "{}").unwrap();
        let err = Gate::parse(
            &[],
            Some(&dir.0.join("other.json")),
            None,
            "report.json",
            reader,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no 'rows' list"), "{err}");
        let err = Gate::parse(&["leet".into()], None, None, "report.json", reader).unwrap_err();
        assert!(matches!(err, GateError::Threshold(_)));
    }

    #[test]
    fn junit_escapes_counts_failures_and_reports_errors() {
        let gate = Gate::new(thresholds(&["a<b=0.6", "ghost=0.1"]), None);
        let rows = vec![Row::new("a<b", 0.5), Row::new("ok", 0.9)];
        let j = gate.judge(&rows, false);
        let xml = junit(&j, "gauntlet", 1.0);
        assert!(
            xml.contains("<testsuite name=\"gauntlet\" tests=\"4\" failures=\"1\" errors=\"2\""),
            "{xml}"
        );
        assert!(xml.contains("a&lt;b") && !xml.contains("a<b"));
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<error ").count(), 2);
        assert!(xml.contains("ghost=0.1 matched no result"));
        let image = Gate::new(thresholds(&["pgd:linf:0.3=0.5"]), None).judge(&image_rows(), true);
        let xml = junit(&image, "gauntlet", 2.5);
        assert!(
            xml.contains("name=\"pgd linf eps=0.3\"") && xml.contains("classname=\"gauntlet.pgd\""),
            "{xml}"
        );
        assert!(
            xml.contains("tests=\"4\" failures=\"1\" errors=\"0\" time=\"2.500\""),
            "{xml}"
        );
    }

    #[test]
    fn summary_json_carries_verdict_and_cases() {
        let j = Gate::new(thresholds(&["deepwordbug=0.9"]), None).judge(&text_rows(), true);
        let v = summary_json(&j, Path::new("out/text-report.json"));
        assert_eq!(v["passed"], false);
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["verdict"], "fail");
        assert_eq!(v["status"], "complete");
        assert_eq!(v["report"], "out/text-report.json");
        assert_eq!(v["cases"].as_array().unwrap().len(), 4);
        assert_eq!(v["cases"][0]["min"], 0.9);
        assert_eq!(v["cases"][0]["norm"], serde_json::Value::Null);
        let image = summary_json(
            &Gate::default().judge(&image_rows(), true),
            Path::new("r.json"),
        );
        assert_eq!(image["cases"][0]["norm"], "linf");
        assert_eq!(image["cases"][0]["eps"].as_f64().unwrap() as f32, 0.1f32);
        assert_eq!(image["exit_code"], 0);
    }

    #[test]
    fn norms_and_budgets_compare_by_meaning() {
        assert_eq!(canonical_norm("L-Inf"), Some("linf"));
        assert_eq!(canonical_norm("2"), Some("l2"));
        assert_eq!(canonical_norm("l1"), Some("l1"));
        assert_eq!(canonical_norm("l3"), None);
        assert!(same_eps(0.1f32 as f64, 0.1));
        assert!(!same_eps(0.1, 0.1001));
        assert_eq!(
            Row::new("pgd", 0.5).at("INF", 8.0 / 255.0).label(),
            format!("pgd linf eps={}", 8.0f32 / 255.0)
        );
    }
}
