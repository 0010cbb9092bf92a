//! `report.html`: one self-contained page — the results table, the features attackers
//! change (as bars), what the unconstrained attacks break, and example evasions with the
//! changed cells marked.

use std::fmt::Write as _;

use gauntlet_run::markup::escape;

use crate::markdown::{cells, markdown, percent};
use crate::outcome::RowOutcome;
use crate::report::Report;
use crate::schema::Schema;
use crate::summary::WORST;
use crate::table::Table;

/// Example evasions shown.
const EXAMPLES: usize = 12;

/// The page.
pub fn page(report: &Report, worst: &[&RowOutcome], schema: &Schema, table: &Table) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>gauntlet tabular audit</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}\
         th{{background:#f3f3f3}}td.l,th.l{{text-align:left}}.bar{{background:#c0392b;height:.8rem;display:inline-block}}\
         .changed{{background:#fde2e0;font-weight:bold}}.meta{{color:#555}}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>Tabular audit: {}</h1><p class=\"meta\">{} · data {} ({} rows, sha256 {}) · schema {} · model {} (sha256 {}) · seed {}{}</p>",
        escape(&report.model.path),
        escape(&report.tool),
        escape(&report.data.path),
        report.data.rows,
        escape(&report.data.sha256),
        escape(&report.schema.path),
        escape(&report.model.description),
        escape(&report.model.sha256),
        report.seed,
        if report.complete { "" } else { " · <b>incomplete</b>: rerun the same command to resume" }
    );
    let c = &report.clean;
    let _ = write!(
        h,
        "<p>Clean accuracy <b>{}</b>. {} rows break the schema (not attacked). {} of {} eligible rows attacked{}.</p>",
        percent(c.accuracy),
        c.infeasible.len(),
        c.attacked,
        c.eligible,
        c.direction
            .as_ref()
            .map(|d| format!(", class {} toward {}", escape(&d.from), escape(&d.to)))
            .unwrap_or_default()
    );
    h.push_str(
        "<table><tr><th class=\"l\">attack</th><th>rules</th><th>attacked</th><th>evaded</th>\
         <th>robust accuracy</th><th>features changed<br>mean / median</th><th>change size<br>median</th>\
         <th>fooled but breaking the rules</th><th>queries</th><th>seconds</th></tr>",
    );
    for s in report.attacks.iter().chain([&report.worst]) {
        let [l0, size, broken] = cells(s);
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            escape(&s.attack),
            if s.constrained { "kept" } else { "ignored" },
            s.attacked,
            s.evaded,
            percent(s.robust_accuracy),
            l0,
            size,
            broken,
            if s.attack == WORST { "–".to_string() } else { s.queries.to_string() },
            s.seconds
        );
    }
    h.push_str("</table>");
    let most = report
        .worst
        .features_changed
        .first()
        .map_or(1, |f| f.1)
        .max(1);
    h.push_str("<h2>Features attackers change</h2><p>Over the rows evaded (worst case over the constrained attacks).</p><table>");
    for (name, count) in &report.worst.features_changed {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{count}</td><td class=\"l\"><span class=\"bar\" style=\"width:{}px\"></span></td></tr>",
            escape(name),
            (300 * count / most).max(1)
        );
    }
    h.push_str("</table>");
    for s in report
        .attacks
        .iter()
        .filter(|s| !s.constrained && s.violating > 0)
    {
        let _ = write!(
            h,
            "<h2>What the unconstrained {} breaks</h2><p>{} of its {} fooling rows could never occur.</p><ul>",
            escape(&s.attack),
            s.violating,
            s.fooled
        );
        for (what, count) in &s.violations {
            let _ = write!(h, "<li>{}: {count} rows</li>", escape(what));
        }
        h.push_str("</ul>");
    }
    h.push_str("<h2>Example evasions</h2><p>Changed cells are marked; every row keeps the schema's rules.</p>");
    let names = schema.names();
    let examples: Vec<&&RowOutcome> = worst.iter().filter(|o| o.evaded).take(EXAMPLES).collect();
    if examples.is_empty() {
        h.push_str("<p>No row was evaded.</p>");
    } else {
        h.push_str("<div style=\"overflow-x:auto\"><table><tr><th class=\"l\">row</th><th class=\"l\">attack</th><th class=\"l\">class</th>");
        for name in &names {
            let _ = write!(h, "<th>{}</th>", escape(name));
        }
        h.push_str("</tr>");
        for o in examples {
            let Some(adv) = &o.adversarial else { continue };
            let original = table.row(o.row);
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{} → {}</td>",
                o.row,
                escape(&o.attack),
                escape(&table.classes[o.label]),
                escape(table.classes.get(o.predicted).map_or("?", String::as_str))
            );
            for (c, v) in adv.iter().enumerate() {
                if *v == original[c] {
                    let _ = write!(h, "<td>{v}</td>");
                } else {
                    let _ = write!(
                        h,
                        "<td class=\"changed\" title=\"was {}\">{v}</td>",
                        original[c]
                    );
                }
            }
            h.push_str("</tr>");
        }
        h.push_str("</table></div>");
    }
    if !report.schema.rules.is_empty() || !report.schema.immutable.is_empty() {
        h.push_str("<h2>The schema</h2><ul>");
        for (name, why) in &report.schema.immutable {
            let _ = write!(
                h,
                "<li>immutable: <b>{}</b>{}</li>",
                escape(name),
                why.as_ref()
                    .map(|w| format!(" — {}", escape(w)))
                    .unwrap_or_default()
            );
        }
        for r in &report.schema.rules {
            let _ = write!(
                h,
                "<li>rule <b>{}</b>: <code>{}</code>{}</li>",
                escape(&r.name),
                escape(&r.rule),
                r.why
                    .as_ref()
                    .map(|w| format!(" — {}", escape(w)))
                    .unwrap_or_default()
            );
        }
        h.push_str("</ul>");
    }
    let _ = write!(
        h,
        "<details><summary>The same as Markdown</summary><pre>{}</pre></details></body></html>",
        escape(&markdown(report))
    );
    h
}
