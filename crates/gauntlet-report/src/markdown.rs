//! The Markdown report and the terminal table.

use std::fmt::Write;

use gauntlet_eval::diagnostics::{Diagnostic, Status};
use gauntlet_eval::Evaluation;

use crate::manifest::Manifest;
use crate::queries::query_efficiency;

/// The results table (also printed to the terminal).
pub fn table(evaluation: &Evaluation) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| attack | norm | ε | robust accuracy | attack success | mean ‖δ‖ | gradient evals | queries | seconds |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for r in &evaluation.results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} % | {:.1} % | {:.4} | {} | {} | {:.2} |",
            r.attack,
            r.norm,
            r.eps,
            r.robust_accuracy * 100.0,
            r.attack_success_rate * 100.0,
            r.mean_perturbation,
            r.gradient_evals,
            r.queries,
            r.seconds
        );
    }
    for w in &evaluation.worst_case {
        let _ = writeln!(
            s,
            "| **worst case** | {} | {} | **{:.1} %** | | | | | |",
            w.norm,
            w.eps,
            w.robust_accuracy * 100.0
        );
    }
    s
}

/// Query efficiency of black-box attacks: a table, then success rate vs query budget.
fn queries_section(s: &mut String, evaluation: &Evaluation, manifest: &Manifest) {
    let stats = query_efficiency(evaluation);
    if stats.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Queries\n");
    if let Some(t) = manifest.traffic {
        let _ = writeln!(s, "{}\n", t.sentence());
    }
    let _ = writeln!(
        s,
        "| attack | norm | ε | attacked | broken | median queries | mean queries | total queries |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let show = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    for q in &stats {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            q.attack,
            q.norm,
            q.eps,
            q.attacked,
            q.successful,
            show(q.median_queries),
            show(q.mean_queries),
            q.total_queries
        );
    }
    let _ = writeln!(
        s,
        "\nSuccess rate (of attacked samples) within a query budget:\n"
    );
    for q in &stats {
        let points: Vec<String> = q
            .curve
            .iter()
            .map(|(b, r)| format!("{b}: {:.1} %", r * 100.0))
            .collect();
        let _ = writeln!(
            s,
            "- {} {} ε = {}: {}",
            q.attack,
            q.norm,
            q.eps,
            points.join(" · ")
        );
    }
}

pub fn render(
    evaluation: &Evaluation,
    manifest: &Manifest,
    diagnostics: &[Diagnostic],
    grids: &[String],
    spatial_pictures: Option<&crate::spatial::SpatialPictures>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# gauntlet robustness audit\n");
    let _ = writeln!(
        s,
        "Model `{}` ({}, sha256 `{}`), {} samples, clean accuracy **{:.1} %**.\n",
        manifest.model.path,
        manifest.model.access,
        &manifest.model.sha256[..12.min(manifest.model.sha256.len())],
        evaluation.samples,
        evaluation.clean_accuracy * 100.0
    );
    let _ = writeln!(
        s,
        "Robust accuracy counts a sample as robust when it is classified correctly both clean \
         and under attack. The worst case takes, per sample, every attack into account.\n"
    );
    if manifest.ensemble {
        let _ = writeln!(
            s,
            "The attacks ran as an ensemble, in this order, each only on the samples every \
             earlier attack failed on: an attack's robust accuracy is the accuracy *after* it \
             (cumulative), and its success rate counts the samples it broke itself.\n"
        );
    }
    s.push_str(&table(evaluation));
    queries_section(&mut s, evaluation, manifest);
    if let Some(spatial) = &evaluation.spatial {
        crate::spatial::markdown(&mut s, evaluation, spatial, spatial_pictures);
    }
    if !diagnostics.is_empty() {
        let _ = writeln!(s, "\n## Diagnostics\n");
        let _ = writeln!(s, "| check | status | meaning |\n|---|---|---|");
        for d in diagnostics {
            let status = match d.status {
                Status::Pass => "pass",
                Status::Warn => "**warn**",
            };
            let _ = writeln!(s, "| {} | {status} | {} |", d.check, d.detail);
        }
    }
    if !evaluation.errors.is_empty() {
        let _ = writeln!(s, "\n## Incomplete\n");
        for e in &evaluation.errors {
            let _ = writeln!(s, "- {e}");
        }
    }
    if !grids.is_empty() {
        let _ = writeln!(
            s,
            "\n## Examples\n\nRows: clean, adversarial, perturbation (amplified).\n"
        );
        for g in grids {
            let _ = writeln!(s, "![{g}]({g})\n");
        }
    }
    let _ = writeln!(s, "\n## Reproduce\n");
    let _ = writeln!(s, "- seed: `{}`", manifest.seed);
    let _ = writeln!(s, "- command: `{}`", manifest.command.join(" "));
    let _ = writeln!(s, "- data sha256: `{}`", manifest.data.sha256);
    let _ = writeln!(
        s,
        "- model opset {}, operators: {}",
        manifest.model.opset,
        manifest.model.operators.join(", ")
    );
    if !manifest.model.scores.is_empty() {
        let _ = writeln!(
            s,
            "- scores read from {}; input layout {}",
            manifest.model.scores, manifest.model.layout
        );
    }
    let versions: Vec<String> = manifest
        .versions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(s, "- versions: {}", versions.join(", "));
    s
}
