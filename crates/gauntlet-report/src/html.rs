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

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.verdict{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;background:#fafafa}\
.pass{color:#17692a;font-weight:bold}.warn{color:#a4470a;font-weight:bold}\
.grid{margin:.6em 0 1.4em}.captions{display:flex}.captions div{font-size:11px;line-height:1.3;overflow:hidden}\
code{background:#f3f3f3;padding:0 .2em;word-break:break-all}svg text{font-size:12px;font-family:sans-serif}";

/// Line colours for attacks, cycled; the worst case is always black.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

pub use gauntlet_run::markup::escape;

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

pub(crate) fn pct(x: f64) -> String {
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

/// One line of a plot.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64)>,
}

/// A round tick step (1, 2 or 5 × 10^k) giving about `target` ticks over `[0, max]`.
fn tick_step(max: f64, target: f64) -> f64 {
    let raw = (max / target).max(1e-12);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&v| v >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Tick label without float noise (0.30000000000000004 → 0.3).
fn tick_label(v: f64) -> String {
    let text = format!("{v:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What the axes of a plot show.
pub(crate) struct Axes {
    pub(crate) x_label: String,
    pub(crate) y_label: &'static str,
    /// Logarithmic x axis (query budgets); ticks at powers of ten.
    pub(crate) log_x: bool,
    /// The last series is the worst case, drawn as a wide band.
    pub(crate) worst_last: bool,
}

/// Draws one plot as inline SVG: axes, ticks, grid lines, one polyline per series, legend.
pub(crate) fn plot(s: &mut String, axes: &Axes, series: &[Series]) {
    const W: f64 = 720.0;
    const H: f64 = 380.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 180.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 50.0;
    let to_x = |v: f64| if axes.log_x { v.max(1.0).log10() } else { v };
    let max_eps = series
        .iter()
        .flat_map(|x| x.points.iter().map(|p| to_x(p.0)))
        .fold(0.0, f64::max);
    let step = if axes.log_x {
        1.0
    } else {
        tick_step(if max_eps > 0.0 { max_eps } else { 1.0 }, 5.0)
    };
    // The tolerance keeps an f32 budget like 0.3 (0.30000001 in f64) from adding a tick.
    let x_max = ((max_eps / step - 1e-4).ceil() * step).max(step);
    let pt = |t: f64| LEFT + t / x_max * (W - LEFT - RIGHT);
    let px = |v: f64| pt(to_x(v));
    let (x_label, y_label) = (escape(&axes.x_label), axes.y_label);
    let py = |a: f64| TOP + (1.0 - a.clamp(0.0, 1.0)) * (H - TOP - BOTTOM);
    let _ = writeln!(
        s,
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{y_label} vs {x_label}\">"
    );
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"white\"/>"
    );
    // Y axis: 0 … 100 %.
    for k in 0..=5 {
        let a = k as f64 / 5.0;
        let y = py(a);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0} %</text>",
            pt(x_max),
            LEFT - 6.0,
            y + 4.0,
            a * 100.0
        );
    }
    // X axis ticks.
    let ticks = (x_max / step).round() as usize;
    for k in 0..=ticks {
        let e = k as f64 * step;
        let x = pt(e);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            py(0.0),
            py(0.0) + 5.0,
            py(0.0) + 18.0,
            if axes.log_x { tick_label(10f64.powf(e).round()) } else { tick_label(e) }
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#444\"/><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"#444\"/>",
        py(0.0),
        pt(x_max),
        py(0.0),
        py(0.0)
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{x_label}</text><text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{y_label}</text>",
        pt(x_max / 2.0),
        H - 10.0,
        py(0.5),
        py(0.5)
    );
    // The worst case (last series) is a wide translucent band drawn first, so an attack that
    // coincides with it stays visible on top of it.
    let order = series
        .len()
        .checked_sub(1)
        .into_iter()
        .chain(0..series.len().saturating_sub(1));
    for k in order {
        let x = &series[k];
        let worst = axes.worst_last && k + 1 == series.len();
        let (colour, width, style) = if worst {
            ("#000", 7.0, " stroke-opacity=\"0.3\"")
        } else {
            (PALETTE[k % PALETTE.len()], 2.0, "")
        };
        let points: Vec<String> = x
            .points
            .iter()
            .map(|&(e, a)| format!("{:.1},{:.1}", px(e), py(a)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"{style} stroke-linejoin=\"round\" points=\"{}\"/>",
            points.join(" ")
        );
        for &(e, a) in &x.points {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{} ε = {}: {}</title></circle>",
                px(e),
                py(a),
                escape(&x.name),
                tick_label(e),
                pct(a)
            );
        }
        let ly = TOP + 10.0 + 20.0 * k as f64;
        let lx = W - RIGHT + 16.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{:.1}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"{width}\"{style}/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            lx + 26.0,
            lx + 32.0,
            ly + 4.0,
            escape(&x.name)
        );
    }
    s.push_str("</svg>\n");
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
        let _ = writeln!(
            s,
            "<p>The target received {} queries; {} identical ones were answered from gauntlet's cache.</p>",
            t.sent, t.cached
        );
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
    let threat = format!(
        "{} ε ∈ {{{}}}",
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

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(tick_step(0.3, 5.0), 0.1);
        assert_eq!(tick_step(8.0 / 255.0, 5.0), 0.01);
        assert_eq!(tick_step(2.0, 5.0), 0.5);
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(0.0), "0");
    }

    #[test]
    fn plot_draws_every_series_and_escapes_names() {
        let series = vec![
            Series {
                name: "<pgd>".into(),
                points: vec![(0.0, 0.99), (0.1, 0.7), (0.3, 0.0)],
            },
            Series {
                name: "worst case".into(),
                points: vec![(0.0, 0.99), (0.1, 0.6), (0.3, 0.0)],
            },
        ];
        let mut s = String::new();
        let axes = Axes {
            x_label: "ε (linf)".into(),
            y_label: "robust accuracy",
            log_x: false,
            worst_last: true,
        };
        plot(&mut s, &axes, &series);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("&lt;pgd&gt;") && !s.contains("<pgd>"));
        assert!(
            s.contains("stroke-opacity"),
            "the worst case is drawn as a translucent band"
        );
        assert!(
            s.find("stroke-opacity").unwrap() < s.find("&lt;pgd&gt;").unwrap(),
            "the band is drawn under the attacks"
        );
        assert!(
            s.contains(">0.3</text>") && !s.contains(">0.4</text>"),
            "the axis ends at the largest budget"
        );
    }
}
