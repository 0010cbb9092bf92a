//! `report.html`: one self-contained page a person can open offline or attach to a ticket.
//!
//! Nothing is fetched: the plots are inline SVG drawn here, the image grids are embedded as
//! base64 `data:` URIs, and the styles are inline. Every string that comes from the user or the
//! model (paths, the command, attack names, diagnostics) goes through [`escape`].

use std::fmt::Write;

use gauntlet_eval::diagnostics::{Diagnostic, Status};
use gauntlet_eval::{AttackResult, Evaluation, WorstCase};

use crate::grid::Grid;
use crate::manifest::Manifest;
use crate::queries::query_efficiency;

/// The reports' shared inline style sheet.
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.verdict{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;background:#fafafa}\
.pass{color:#17692a;font-weight:bold}.warn{color:#a4470a;font-weight:bold}\
.grid{margin:.6em 0 1.4em}.captions{display:flex}.captions div{font-size:11px;line-height:1.3;overflow:hidden}\
code{background:#f3f3f3;padding:0 .2em;word-break:break-all}svg text{font-size:12px;font-family:sans-serif}";

pub use gauntlet_run::markup::escape;
// The SVG line plot lives in gauntlet-run (burn-free) so that the text reports draw the same
// curves; re-exported for this crate's reports.
pub(crate) use gauntlet_run::plot::{plot, Axes, Series};

/// Standard base64 (RFC 4648, with padding), for `data:` URIs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A share as a percentage with one decimal, e.g. `12.3 %`.
pub fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Background colour for an accuracy cell: red at 0, green at 1.
fn heat(x: f64) -> String {
    format!("background:hsl({:.0},70%,88%)", x.clamp(0.0, 1.0) * 120.0)
}

/// The whole page.
pub fn render(
    evaluation: &Evaluation,
    manifest: &Manifest,
    diagnostics: &[Diagnostic],
    grids: &[Grid],
    spatial_section: Option<&str>,
) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        s,
        "<title>gauntlet audit: {}</title>",
        escape(&manifest.model.path)
    );
    let _ = writeln!(s, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(s, "<h1>gauntlet robustness audit</h1>");
    summary(&mut s, evaluation, manifest, diagnostics);
    curves(&mut s, evaluation);
    results_table(&mut s, evaluation, manifest);
    query_curves(&mut s, evaluation, manifest);
    per_class(&mut s, evaluation);
    examples(&mut s, evaluation, grids);
    // Rendered by `spatial.rs`, which reads this module's helpers.
    if let Some(section) = spatial_section {
        s.push_str(section);
    }
    diagnostics_table(&mut s, diagnostics);
    reproduce(&mut s, manifest);
    s.push_str("</body>\n</html>\n");
    s
}

/// The verdict box: clean accuracy, worst case per ε, diagnostics count, completeness.
fn summary(
    s: &mut String,
    evaluation: &Evaluation,
    manifest: &Manifest,
    diagnostics: &[Diagnostic],
) {
    let _ = writeln!(s, "<section class=\"verdict\" id=\"summary\">");
    let _ = writeln!(
        s,
        "<p>Model <code>{}</code>, {} samples, clean accuracy <strong>{}</strong>.</p>",
        escape(&manifest.model.path),
        evaluation.samples,
        pct(evaluation.clean_accuracy)
    );
    if !evaluation.worst_case.is_empty() {
        let _ = writeln!(
            s,
            "<p>Worst-case robust accuracy over every attack:</p>\n<ul>"
        );
        for w in &evaluation.worst_case {
            let _ = writeln!(
                s,
                "<li>{} ε = {}: <strong>{}</strong></li>",
                w.norm,
                w.eps,
                pct(w.robust_accuracy)
            );
        }
        s.push_str("</ul>\n");
    }
    if let Some(spatial) = &evaluation.spatial {
        let _ = writeln!(
            s,
            "<p>Under the worst rotation within ±{}° and translation within ±{} px (grid search, \
             <a href=\"#spatial\">Spatial</a>): <strong>{}</strong>.</p>",
            spatial.grid.rotation_deg,
            spatial.grid.translation_px,
            pct(spatial.robust_accuracy)
        );
    }
    let warned = diagnostics
        .iter()
        .filter(|d| d.status == Status::Warn)
        .count();
    let passed = diagnostics.len() - warned;
    if diagnostics.is_empty() {
        s.push_str(
            "<p>Diagnostics were skipped: nothing checks these numbers for gradient masking.</p>\n",
        );
    } else if warned == 0 {
        let _ = writeln!(
            s,
            "<p>Diagnostics: <span class=\"pass\">{passed} pass</span>, 0 warn.</p>"
        );
    } else {
        let _ = writeln!(
            s,
            "<p>Diagnostics: {passed} pass, <span class=\"warn\">{warned} warn</span>: the robust accuracy \
             above may overstate robustness; see <a href=\"#diagnostics\">Diagnostics</a>.</p>"
        );
    }
    if !evaluation.errors.is_empty() {
        let _ = writeln!(s, "<p class=\"warn\">Incomplete: these attacks failed and are missing from the report:</p>\n<ul>");
        for e in &evaluation.errors {
            let _ = writeln!(s, "<li>{}</li>", escape(e));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

/// Robust accuracy vs ε, one plot per norm.
fn curves(s: &mut String, evaluation: &Evaluation) {
    if evaluation.worst_case.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2 id=\"curves\">Robust accuracy vs ε</h2>");
    let _ = writeln!(
        s,
        "<p>Each line is one attack; the wide grey band is the worst case over all of them. \
         At ε = 0 robust accuracy is the clean accuracy.</p>"
    );
    let mut norms = Vec::new();
    for w in &evaluation.worst_case {
        if !norms.contains(&w.norm) {
            norms.push(w.norm);
        }
    }
    for norm in norms {
        let mut series: Vec<Series> = Vec::new();
        for r in evaluation.results.iter().filter(|r| r.norm == norm) {
            match series.iter_mut().find(|x| x.name == r.attack) {
                Some(x) => x.points.push((r.eps as f64, r.robust_accuracy)),
                None => series.push(Series {
                    name: r.attack.clone(),
                    points: vec![(r.eps as f64, r.robust_accuracy)],
                }),
            }
        }
        let worst: Vec<(f64, f64)> = evaluation
            .worst_case
            .iter()
            .filter(|w| w.norm == norm)
            .map(|w| (w.eps as f64, w.robust_accuracy))
            .collect();
        series.push(Series {
            name: "worst case".into(),
            points: worst,
        });
        for x in &mut series {
            x.points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if x.points.first().is_none_or(|p| p.0 > 0.0) {
                x.points.insert(0, (0.0, evaluation.clean_accuracy));
            }
        }
        let axes = Axes {
            x_label: format!("ε ({norm})"),
            y_label: "robust accuracy",
            log_x: false,
            worst_last: true,
        };
        plot(s, &axes, &series);
    }
}

/// Black-box attacks: success rate vs query budget (one plot per budget ε), and the table of
/// median and mean queries.
fn query_curves(s: &mut String, evaluation: &Evaluation, manifest: &Manifest) {
    let stats = query_efficiency(evaluation);
    if stats.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2 id=\"queries\">Success rate vs queries</h2>");
    if let Some(t) = manifest.traffic {
        let _ = writeln!(s, "<p>{}</p>", t.sentence());
    }
    let mut budgets: Vec<(String, f32)> = Vec::new();
    for q in &stats {
        if !budgets
            .iter()
            .any(|(n, e)| *n == q.norm.to_string() && *e == q.eps)
        {
            budgets.push((q.norm.to_string(), q.eps));
        }
    }
    for (norm, eps) in budgets {
        let series: Vec<Series> = stats
            .iter()
            .filter(|q| q.norm.to_string() == norm && q.eps == eps)
            .map(|q| {
                let mut points = vec![(1.0, 0.0)];
                points.extend(q.curve.iter().map(|&(b, r)| (b as f64, r)));
                Series {
                    name: q.attack.clone(),
                    points,
                }
            })
            .collect();
        let _ = writeln!(s, "<h3>{} ε = {}</h3>", escape(&norm), eps);
        let axes = Axes {
            x_label: "queries per sample (log scale)".into(),
            y_label: "success rate",
            log_x: true,
            worst_last: false,
        };
        plot(s, &axes, &series);
    }
    let _ = writeln!(
        s,
        "<table><tr><th>attack</th><th>norm</th><th>ε</th><th>attacked</th><th>broken</th><th>median queries</th><th>mean queries</th><th>total queries</th></tr>"
    );
    let show = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    for q in &stats {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&q.attack),
            q.norm,
            q.eps,
            q.attacked,
            q.successful,
            show(q.median_queries),
            show(q.mean_queries),
            q.total_queries
        );
    }
    s.push_str("</table>\n");
}

/// Every attack row and the worst case, as in `report.md`.
fn results_table(s: &mut String, evaluation: &Evaluation, manifest: &Manifest) {
    let _ = writeln!(s, "<h2 id=\"results\">Results</h2>");
    if manifest.ensemble {
        let _ = writeln!(
            s,
            "<p>The attacks ran as an ensemble: an attack's robust accuracy is the accuracy <em>after</em> \
             it and every earlier one (cumulative); its success rate counts the samples it broke itself.</p>"
        );
    }
    s.push_str(
        "<table>\n<tr><th>attack</th><th>norm</th><th>ε</th><th>robust accuracy</th><th>attack success</th>\
         <th>mean ‖δ‖</th><th>gradient evals</th><th>queries</th><th>seconds</th></tr>\n",
    );
    for r in &evaluation.results {
        result_row(s, r);
    }
    for w in &evaluation.worst_case {
        let _ = writeln!(
            s,
            "<tr><th>worst case</th><td>{}</td><td class=\"num\">{}</td><td class=\"num\" style=\"{}\"><strong>{}</strong></td><td></td><td></td><td></td><td></td><td></td></tr>",
            w.norm,
            w.eps,
            heat(w.robust_accuracy),
            pct(w.robust_accuracy)
        );
    }
    s.push_str("</table>\n");
}

fn result_row(s: &mut String, r: &AttackResult) {
    let _ = writeln!(
        s,
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\" style=\"{}\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{:.4}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td></tr>",
        escape(&r.attack),
        r.norm,
        r.eps,
        heat(r.robust_accuracy),
        pct(r.robust_accuracy),
        pct(r.attack_success_rate),
        r.mean_perturbation,
        r.gradient_evals,
        r.queries,
        r.seconds
    );
}

/// Worst-case robust accuracy per true class and budget.
fn per_class(s: &mut String, evaluation: &Evaluation) {
    let mut classes: Vec<i64> = evaluation.labels.clone();
    classes.sort_unstable();
    classes.dedup();
    if classes.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2 id=\"classes\">Per class (worst case)</h2>");
    let _ = writeln!(
        s,
        "<p>Per true class: how many samples, how many are classified correctly clean, and how many stay \
         correct under every attack at each budget.</p>"
    );
    s.push_str("<table>\n<tr><th>class</th><th>samples</th><th>clean accuracy</th>");
    for w in &evaluation.worst_case {
        let _ = write!(s, "<th>{} ε = {}</th>", w.norm, w.eps);
    }
    s.push_str("</tr>\n");
    for class in classes {
        let members: Vec<usize> = (0..evaluation.samples)
            .filter(|&i| evaluation.labels[i] == class)
            .collect();
        let n = members.len() as f64;
        let clean = members
            .iter()
            .filter(|&&i| evaluation.clean_predictions[i] == class)
            .count() as f64
            / n;
        let _ = write!(
            s,
            "<tr><td>{class}</td><td class=\"num\">{}</td><td class=\"num\" style=\"{}\">{}</td>",
            members.len(),
            heat(clean),
            pct(clean)
        );
        for w in &evaluation.worst_case {
            let robust = class_robust(evaluation, w, &members);
            let _ = write!(
                s,
                "<td class=\"num\" style=\"{}\">{}</td>",
                heat(robust),
                pct(robust)
            );
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
}

/// Fraction of `members` correct clean and broken by no attack at this budget.
fn class_robust(evaluation: &Evaluation, w: &WorstCase, members: &[usize]) -> f64 {
    let robust = members
        .iter()
        .filter(|&&i| {
            evaluation.clean_predictions[i] == evaluation.labels[i]
                && w.broken_by.get(i).is_some_and(|b| b.is_none())
        })
        .count();
    robust as f64 / members.len().max(1) as f64
}

/// The image grids, embedded, with label / clean / adversarial prediction under each column.
fn examples(s: &mut String, evaluation: &Evaluation, grids: &[Grid]) {
    if grids.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2 id=\"examples\">Examples</h2>");
    let _ = writeln!(
        s,
        "<p>Rows: clean input, adversarial input, perturbation (amplified to the full grey range). \
         Under each column: the true label, the clean prediction and the adversarial prediction.</p>"
    );
    for g in grids {
        let result = evaluation
            .results
            .iter()
            .find(|r| r.attack == g.attack && r.eps == g.eps);
        let name = g
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<div class=\"grid\"><h3>{} at ε = {}</h3>",
            escape(&g.attack),
            g.eps
        );
        let _ = writeln!(
            s,
            "<img alt=\"{}\" src=\"data:image/png;base64,{}\">",
            escape(&format!("adversarial/{name}")),
            base64(&g.png)
        );
        s.push_str("<div class=\"captions\">");
        for &i in &g.columns {
            let adv = result
                .and_then(|r| r.predictions.get(i))
                .map_or("?".to_string(), |p| p.to_string());
            let _ = write!(
                s,
                "<div style=\"width:{}px\">#{i}<br>label {}<br>clean {}<br>adv <strong>{adv}</strong></div>",
                g.column_width,
                evaluation.labels.get(i).copied().unwrap_or(-1),
                evaluation.clean_predictions.get(i).copied().unwrap_or(-1)
            );
        }
        s.push_str("</div></div>\n");
    }
}

/// The pass/warn checks and what each means.
fn diagnostics_table(s: &mut String, diagnostics: &[Diagnostic]) {
    if diagnostics.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2 id=\"diagnostics\">Diagnostics</h2>");
    let _ = writeln!(
        s,
        "<p>Checks that say when these numbers should not be trusted (gradient masking, weak attacks). \
         A warning means the robust accuracy may be overstated.</p>"
    );
    s.push_str("<table>\n<tr><th>check</th><th>status</th><th>meaning</th></tr>\n");
    for d in diagnostics {
        let (class, word) = match d.status {
            Status::Pass => ("pass", "pass"),
            Status::Warn => ("warn", "warn"),
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"{class}\">{word}</td><td>{}</td></tr>",
            escape(d.check),
            escape(&d.detail)
        );
    }
    s.push_str("</table>\n");
}

/// Everything needed to rerun the audit.
fn reproduce(s: &mut String, manifest: &Manifest) {
    let _ = writeln!(s, "<h2 id=\"reproduce\">Reproduce</h2>\n<table>");
    let row = |s: &mut String, key: &str, value: &str| {
        let _ = writeln!(
            s,
            "<tr><th>{key}</th><td><code>{}</code></td></tr>",
            escape(value)
        );
    };
    row(s, "command", &manifest.command.join(" "));
    row(s, "seed", &manifest.seed.to_string());
    row(s, "model", &manifest.model.path);
    row(s, "access", &manifest.model.access);
    row(s, "model sha256", &manifest.model.sha256);
    row(s, "model opset", &manifest.model.opset.to_string());
    if !manifest.model.scores.is_empty() {
        row(s, "scores read from", &manifest.model.scores);
    }
    row(s, "input layout", &manifest.model.layout.to_string());
    row(s, "operators", &manifest.model.operators.join(", "));
    row(s, "inputs", &manifest.data.inputs);
    row(s, "labels", &manifest.data.labels);
    row(s, "data sha256", &manifest.data.sha256);
    let region = manifest.threat_model.mask().map_or(String::new(), |m| {
        let open = m.iter().filter(|&&v| v == 1.0).count();
        format!(
            ", confined to a mask: {open} of {} features may change",
            m.len()
        )
    });
    let threat = format!(
        "{} ε ∈ {{{}}}{region}",
        manifest.threat_model.norm(),
        eps_list(manifest)
    );
    row(s, "threat model", &threat);
    row(s, "criterion", &manifest.criterion);
    row(
        s,
        "attacks",
        &format!(
            "{}{}",
            manifest.attacks.join(", "),
            if manifest.ensemble { " (ensemble)" } else { "" }
        ),
    );
    row(
        s,
        "steps",
        &manifest
            .steps
            .map_or("each attack's default".to_string(), |n| n.to_string()),
    );
    row(s, "restarts", &manifest.restarts.to_string());
    row(s, "batch size", &manifest.batch_size.to_string());
    let versions: Vec<String> = manifest
        .versions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    row(s, "versions", &versions.join(", "));
    s.push_str("</table>\n");
}

fn eps_list(manifest: &Manifest) -> String {
    manifest
        .threat_model
        .epsilons()
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }
}
