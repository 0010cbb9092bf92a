//! `text-report.html`: the audit on one self-contained page (inline styles and SVG, nothing
//! fetched), in the style of the image audit's `report.html`. Every string that comes from the
//! corpus, the filter or the user goes through [`escape`].

use std::fmt::Write as _;

use crate::report::{AttackRunSummary, TextAuditReport};

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.verdict{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;background:#fafafa}\
.pass{color:#17692a;font-weight:bold}.warn{color:#a4470a;font-weight:bold}\
del{color:#a4470a}ins{color:#17692a;text-decoration:none;font-weight:bold}\
code{background:#f3f3f3;padding:0 .2em;word-break:break-all}svg text{font-size:12px;font-family:sans-serif}";

/// Bar colours per filter variant, cycled.
const PALETTE: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"];

pub use gauntlet_run::markup::escape;

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Background colour for a "still caught" cell: red at 0, green at 1.
fn heat(x: f64) -> String {
    format!("background:hsl({:.0},70%,88%)", x.clamp(0.0, 1.0) * 120.0)
}

/// The whole page.
pub fn render(report: &TextAuditReport) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        s,
        "<title>gauntlet spam-filter audit: {}</title>",
        escape(&report.filter)
    );
    let _ = writeln!(s, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(s, "<h1>gauntlet spam-filter evasion audit</h1>");
    summary(&mut s, report);
    still_caught(&mut s, report);
    filters(&mut s, report);
    attacks(&mut s, report);
    examples(&mut s, report);
    failures(&mut s, report);
    let _ = writeln!(
        s,
        "<h2 id=\"config\">Configuration</h2>\n<p>As recorded (header values redacted):</p>"
    );
    let config = serde_json::to_string_pretty(&report.config).unwrap_or_default();
    let _ = writeln!(s, "<pre><code>{}</code></pre>", escape(&config));
    s.push_str("</body>\n</html>\n");
    s
}

/// The verdict box: filter, data, budget, the worst case per variant, completeness.
fn summary(s: &mut String, r: &TextAuditReport) {
    let c = &r.config;
    let _ = writeln!(s, "<section class=\"verdict\" id=\"summary\">");
    let _ = writeln!(
        s,
        "<p>Filter <code>{}</code>, corpus <code>{}</code> ({} messages; held out {} ham / {} spam). {}.</p>",
        escape(&r.filter),
        escape(&r.corpus.path),
        r.corpus.messages,
        r.corpus.test_ham,
        r.corpus.test_spam,
        escape(&r.tool)
    );
    let _ = writeln!(
        s,
        "<p>Budget per message: at most {} edits, {} of words, Levenshtein distance {}{}; attacks see {}; seed {}.</p>",
        c.max_edits,
        pct(c.max_word_fraction),
        c.max_levenshtein,
        c.max_queries.map_or(String::new(), |q| format!(", {q} queries")),
        if c.decision_only { "labels only" } else { "spam scores" },
        c.seed
    );
    let worst: Vec<_> = r
        .gate_rows
        .iter()
        .filter(|g| g.row == "worst" || g.row.starts_with("worst+"))
        .collect();
    if !worst.is_empty() {
        let _ = writeln!(
            s,
            "<p>Attacked spam still caught under every attack:</p>\n<ul>"
        );
        for w in worst {
            let _ = writeln!(
                s,
                "<li><code>{}</code>: <strong>{}</strong></li>",
                escape(&w.row),
                pct(w.still_caught)
            );
        }
        s.push_str("</ul>\n");
    }
    if r.status != "complete" {
        s.push_str(
            "<p class=\"warn\">Incomplete: the run was stopped before it finished; this page holds what was done. \
             Rerun the same command to resume.</p>\n",
        );
    } else if r.resumed > 0 {
        let _ = writeln!(
            s,
            "<p>{} message outcomes were restored from the checkpoint of an interrupted run.</p>",
            r.resumed
        );
    }
    s.push_str("</section>\n");
}

/// The gate's rows as a table and a bar chart per attack and variant.
fn still_caught(s: &mut String, r: &TextAuditReport) {
    if r.gate_rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2 id=\"still-caught\">Spam still caught</h2>");
    let _ = writeln!(
        s,
        "<p>Share of the attacked spam (held-out spam the variant detects) each variant still catches; \
         these are the rows <code>--fail-under ROW=MIN</code> judges.</p>"
    );
    chart(s, &r.runs);
    s.push_str("<table>\n<tr><th>row</th><th>still caught</th></tr>\n");
    for g in &r.gate_rows {
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td class=\"num\" style=\"{}\">{}</td></tr>",
            escape(&g.row),
            heat(g.still_caught),
            pct(g.still_caught)
        );
    }
    s.push_str("</table>\n");
}

/// Horizontal bars: one group per attack, one bar per variant.
fn chart(s: &mut String, runs: &[AttackRunSummary]) {
    let mut attacks: Vec<&str> = Vec::new();
    let mut variants: Vec<&str> = Vec::new();
    for r in runs.iter().filter(|r| r.still_caught.is_some()) {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(r.attack.as_str());
        }
        if !variants.contains(&r.variant.as_str()) {
            variants.push(&r.variant);
        }
    }
    if attacks.is_empty() {
        return;
    }
    let (label_w, bar_w, bar_h, gap) = (110.0, 420.0, 14.0, 10.0);
    let group_h = bar_h * variants.len() as f64 + gap;
    let height = group_h * attacks.len() as f64 + 40.0;
    let width = label_w + bar_w + 70.0;
    let _ = writeln!(s, "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"spam still caught per attack and variant\">");
    for (i, a) in attacks.iter().enumerate() {
        let y0 = i as f64 * group_h;
        let _ = writeln!(
            s,
            "<text x=\"0\" y=\"{:.1}\">{}</text>",
            y0 + group_h / 2.0,
            escape(a)
        );
        for (k, v) in variants.iter().enumerate() {
            let Some(value) = runs
                .iter()
                .find(|r| r.attack.as_str() == *a && r.variant == *v)
                .and_then(|r| r.still_caught)
            else {
                continue;
            };
            let y = y0 + k as f64 * bar_h;
            let _ = writeln!(
                s,
                "<rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} / {}: {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                value * bar_w,
                bar_h - 2.0,
                PALETTE[k % PALETTE.len()],
                escape(v),
                escape(a),
                pct(value),
                label_w + value * bar_w + 4.0,
                y + bar_h - 4.0,
                pct(value)
            );
        }
    }
    let legend_y = group_h * attacks.len() as f64 + 20.0;
    for (k, v) in variants.iter().enumerate() {
        let x = label_w + k as f64 * 130.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{legend_y:.1}\">{}</text>",
            legend_y - 9.0,
            PALETTE[k % PALETTE.len()],
            x + 14.0,
            escape(v)
        );
    }
    s.push_str("</svg>\n");
}

fn filters(s: &mut String, r: &TextAuditReport) {
    let _ = writeln!(s, "<h2 id=\"filters\">Filters on the held-out split</h2>");
    s.push_str(
        "<table>\n<tr><th>variant</th><th>accuracy</th><th>precision</th><th>recall</th><th>F1</th>\
         <th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>failed</th><th>train s</th></tr>\n",
    );
    for f in &r.filters {
        let m = &f.metrics;
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td></tr>",
            escape(&f.variant),
            pct(m.accuracy),
            pct(m.precision),
            pct(m.recall),
            pct(m.f1),
            m.tp,
            m.fp,
            m.tn,
            m.fn_,
            m.failures.len(),
            f.train_seconds
        );
    }
    s.push_str("</table>\n");
    if let Some(a) = &r.adversarial_training {
        let _ = writeln!(
            s,
            "<p>Adversarial training: {} attacks on training spam, {} evasive versions added as spam, retrained ({:.1} s).</p>",
            a.attacked_training_messages, a.added_examples, a.seconds
        );
    }
}

fn attacks(s: &mut String, r: &TextAuditReport) {
    let _ = writeln!(s, "<h2 id=\"attacks\">Attacks</h2>");
    s.push_str(
        "<p>Edits, words touched, Levenshtein distance and similarity are means over evasions; queries over all attempts.</p>\n\
         <table>\n<tr><th>variant</th><th>attack</th><th>attacked</th><th>evaded</th><th>still caught</th>\
         <th>mean edits</th><th>mean words touched</th><th>mean Levenshtein</th><th>mean similarity</th>\
         <th>mean queries</th><th>setup queries</th><th>failed</th><th>over budget</th><th>s</th></tr>\n",
    );
    for x in &r.runs {
        let caught = x.still_caught.map_or("–".to_string(), pct);
        let style = x.still_caught.map_or(String::new(), heat);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\" style=\"{style}\">{caught}</td>\
             <td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.4}</td>\
             <td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td></tr>",
            escape(&x.variant),
            x.attack,
            x.attacked,
            x.evaded,
            x.mean_edits,
            pct(x.mean_words_touched_fraction),
            x.mean_levenshtein,
            x.mean_similarity,
            x.mean_queries,
            x.setup_queries,
            x.failed,
            x.budget_violations,
            x.seconds
        );
    }
    s.push_str("</table>\n");
}

/// An example's highlighted excerpt (Markdown from the report: `\`-escapes, `~~removed~~`,
/// `**added**`) as HTML.
fn highlighted(markdown: &str) -> String {
    let mut out = String::new();
    let (mut del, mut ins) = (false, false);
    let mut chars = markdown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push_str(&escape(&next.to_string()));
                }
            }
            '~' if chars.peek() == Some(&'~') => {
                chars.next();
                out.push_str(if del { "</del>" } else { "<del>" });
                del = !del;
            }
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(if ins { "</ins>" } else { "<ins>" });
                ins = !ins;
            }
            c => out.push_str(&escape(&c.to_string())),
        }
    }
    if del {
        out.push_str("</del>");
    }
    if ins {
        out.push_str("</ins>");
    }
    out
}

fn examples(s: &mut String, r: &TextAuditReport) {
    if r.examples.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h2 id=\"examples\">Examples</h2>");
    for e in &r.examples {
        let _ = writeln!(
            s,
            "<p><strong>{} / {}</strong> — <code>{}</code> (score after: {}):</p>\n<ul>",
            escape(&e.variant),
            e.attack,
            escape(&e.id),
            e.final_score.map_or("?".into(), |x| format!("{x:.3}"))
        );
        for h in &e.highlighted {
            let _ = writeln!(s, "<li>{}</li>", highlighted(h));
        }
        s.push_str("</ul>\n");
    }
}

fn failures(s: &mut String, r: &TextAuditReport) {
    let failed: Vec<_> = r
        .outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .take(10)
        .collect();
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<h2 id=\"failures\">Per-message failures (first {})</h2>\n<ul>",
        failed.len()
    );
    for f in failed {
        let _ = writeln!(
            s,
            "<li>{} / {} / <code>{}</code>: {}</li>",
            escape(&f.variant),
            f.attack,
            escape(&f.id),
            escape(f.error.as_deref().unwrap_or(""))
        );
    }
    s.push_str("</ul>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighted_excerpts_become_markup_and_the_rest_is_escaped() {
        let md = r"…see \<b\> ~~free~~ → **fr\*e** now…";
        assert_eq!(
            highlighted(md),
            "…see &lt;b&gt; <del>free</del> → <ins>fr*e</ins> now…"
        );
        assert_eq!(highlighted("**open"), "<ins>open</ins>");
        assert_eq!(escape("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
    }
}
