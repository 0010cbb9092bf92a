//! Line plots as inline SVG, for every report's curves (robust accuracy vs budget, success vs
//! queries, certified accuracy vs radius, spam-filter damage vs the attacker's share): axes,
//! ticks, grid lines, one polyline per series, a legend. Nothing is fetched; names are escaped.

use std::fmt::Write as _;

use crate::markup::escape;

/// Line colours, cycled; a worst case drawn last is always black.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// One line of a plot.
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// (x, y) points in x order; y is a share in [0, 1].
    pub points: Vec<(f64, f64)>,
}

/// A round tick step (1, 2 or 5 × 10^k) giving about `target` ticks over `[0, max]`.
pub(crate) fn tick_step(max: f64, target: f64) -> f64 {
    let raw = (max / target).max(1e-12);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&v| v >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Tick label without float noise (0.30000000000000004 → 0.3).
pub(crate) fn tick_label(v: f64) -> String {
    let text = format!("{v:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What the axes of a plot show.
pub struct Axes {
    /// What x is (escaped when drawn).
    pub x_label: String,
    /// What y is; the y axis runs from 0 to 100 %.
    pub y_label: &'static str,
    /// Logarithmic x axis (query budgets); ticks at powers of ten.
    pub log_x: bool,
    /// The last series is the worst case, drawn as a wide band.
    pub worst_last: bool,
}

/// Draws one plot as inline SVG: axes, ticks, grid lines, one polyline per series, legend.
pub fn plot(s: &mut String, axes: &Axes, series: &[Series]) {
    const W: f64 = 720.0;
    const H: f64 = 380.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 180.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 50.0;
    // A log axis starts at the power of ten at or below the smallest positive value, and at
    // 1 when every value is ≥ 1 (query budgets); values below its start sit on it.
    let x_lo = if axes.log_x {
        series
            .iter()
            .flat_map(|x| x.points.iter().map(|p| p.0))
            .filter(|&v| v > 0.0)
            .map(|v| v.log10().floor())
            .fold(0.0, f64::min)
    } else {
        0.0
    };
    let to_x = |v: f64| {
        if axes.log_x {
            v.max(10f64.powf(x_lo)).log10()
        } else {
            v
        }
    };
    let max_eps = series
        .iter()
        .flat_map(|x| x.points.iter().map(|p| to_x(p.0)))
        .fold(x_lo, f64::max);
    let step = if axes.log_x {
        1.0
    } else {
        tick_step(if max_eps > 0.0 { max_eps } else { 1.0 }, 5.0)
    };
    // The tolerance keeps an f32 budget like 0.3 (0.30000001 in f64) from adding a tick.
    let x_max = (((max_eps - x_lo) / step - 1e-4).ceil() * step).max(step) + x_lo;
    let pt = |t: f64| LEFT + (t - x_lo) / (x_max - x_lo) * (W - LEFT - RIGHT);
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
    let ticks = ((x_max - x_lo) / step).round() as usize;
    for k in 0..=ticks {
        let e = x_lo + k as f64 * step;
        let x = pt(e);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            py(0.0),
            py(0.0) + 5.0,
            py(0.0) + 18.0,
            if !axes.log_x {
                tick_label(e)
            } else if e < 0.0 {
                tick_label(10f64.powf(e))
            } else {
                tick_label(10f64.powf(e).round())
            }
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
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{}, {x_label} {}: {}</title></circle>",
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn log_axis_reaches_below_one_for_shares() {
        let series = vec![Series {
            name: "dictionary".into(),
            points: vec![(0.1, 0.02), (1.0, 0.4), (10.0, 0.9)],
        }];
        let mut s = String::new();
        let axes = Axes {
            x_label: "attacker share (%)".into(),
            y_label: "ham misclassified",
            log_x: true,
            worst_last: false,
        };
        plot(&mut s, &axes, &series);
        assert!(s.contains(">0.1</text>") && s.contains(">1</text>") && s.contains(">10</text>"));
        assert!(!s.contains(">0.01</text>") && !s.contains(">100</text>"));
        // The first point sits on the y axis (x = LEFT = 60), not clamped elsewhere.
        assert!(s.contains("points=\"60.0,"), "{s}");
    }
}
