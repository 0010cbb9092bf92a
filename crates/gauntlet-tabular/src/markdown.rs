//! `report.md`: the tabular audit's results as Markdown (also printed by the CLI and
//! embedded in the HTML page).

use std::fmt::Write as _;

use crate::report::Report;
use crate::summary::{AttackSummary, WORST};

/// The cells both reports show for an attack: features changed (mean / median), change size
/// (median), and the fooling rows that break the schema.
pub fn cells(s: &AttackSummary) -> [String; 3] {
    let l0 = s.l0.as_ref().map_or("–".to_string(), |l| {
        format!("{:.2} / {}", l.mean, l.median)
    });
    let size = s
        .distance
        .as_ref()
        .map_or("–".to_string(), |d| format!("{:.4}", d.median));
    let broken = if s.fooled == 0 {
        "–".to_string()
    } else {
        format!(
            "{} of {} ({})",
            s.violating,
            s.fooled,
            percent(s.violation_share)
        )
    };
    [l0, size, broken]
}

/// A percentage with one decimal.
pub fn percent(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// `report.md`.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Tabular audit: {}\n", report.model.path);
    let _ =
        writeln!(
        md,
        "{} · data {} ({} rows, sha256 {}) · schema {} (sha256 {}) · model sha256 {} · seed {}{}\n",
        report.tool,
        report.data.path,
        report.data.rows,
        &report.data.sha256[..12.min(report.data.sha256.len())],
        report.schema.path,
        &report.schema.sha256[..12],
        &report.model.sha256[..12.min(report.model.sha256.len())],
        report.seed,
        if report.complete { "" } else { " · **incomplete** (rerun to resume)" }
    );
    let clean = &report.clean;
    let _ = writeln!(
        md,
        "Clean accuracy {} ({} of {} rows). {} rows break the schema and were not attacked. \
         Attacked: {} of {} eligible rows{}.\n",
        percent(clean.accuracy),
        clean.correct,
        report.data.rows,
        clean.infeasible.len(),
        clean.attacked,
        clean.eligible,
        clean
            .direction
            .as_ref()
            .map(|d| format!(", from class {} toward {}", d.from, d.to))
            .unwrap_or_default()
    );
    let _ = writeln!(
        md,
        "| attack | rules | attacked | evaded | robust accuracy | features changed (mean / median) | change size (median) | fooled but breaking the rules | queries |\n|---|---|---|---|---|---|---|---|---|"
    );
    for s in report.attacks.iter().chain([&report.worst]) {
        let [l0, size, broken] = cells(s);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.attack,
            if s.constrained { "kept" } else { "ignored" },
            s.attacked,
            s.evaded,
            percent(s.robust_accuracy),
            l0,
            size,
            broken,
            if s.attack == WORST {
                "–".to_string()
            } else {
                s.queries.to_string()
            }
        );
    }
    let _ = writeln!(
        md,
        "\n## Features attackers change (worst case, evaded rows)\n"
    );
    for (name, count) in &report.worst.features_changed {
        let _ = writeln!(md, "- {name}: {count}");
    }
    for s in report
        .attacks
        .iter()
        .filter(|s| !s.constrained && s.violating > 0)
    {
        let _ = writeln!(md, "\n## What the unconstrained {} breaks\n", s.attack);
        for (what, count) in &s.violations {
            let _ = writeln!(md, "- {what}: {count} rows");
        }
    }
    if !clean.infeasible.is_empty() {
        let _ = writeln!(md, "\n## Rows that break the schema (not attacked)\n");
        for row in clean.infeasible.iter().take(20) {
            let _ = writeln!(md, "- row {}: {}", row.row, row.violations.join("; "));
        }
    }
    md
}
