//! The exact minimum-norm projection onto a hyperplane intersected with the valid box, the
//! geometric core of FAB's step.

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

use gauntlet_core::threat::{Bounds, Norm};

/// Coordinates whose gradient is smaller than this cannot move the linearized margin.
const FLAT: f64 = 1e-12;

/// The minimum-norm step `δ` from `t` with `w·δ = c` and `t + δ` inside the box: the
/// projection of `t` onto the hyperplane intersected with the box. When the box does not reach
/// the hyperplane, the box point that gets closest to it (every coordinate that helps moved to
/// its edge).
///
/// With `s_i = sign(w_i c)` the helpful direction of coordinate `i`, `a_i = |w_i|` its rate and
/// `cap_i` the room to the box edge in that direction, every optimum has `δ_i = s_i m_i` with
/// `0 ≤ m_i ≤ cap_i` and `Σ a_i m_i = |c|`:
/// - L∞: `m_i = min(λ, cap_i)` for the smallest λ that reaches |c| (a sweep over sorted caps);
/// - L2: `m_i = min(μ a_i, cap_i)` (KKT of the clipped closed form; a sweep over sorted
///   breakpoints `cap_i / a_i`);
/// - L1: a fractional knapsack, filling coordinates in order of decreasing `a_i`.
pub fn project_hyperplane_box(
    norm: Norm,
    t: &[f32],
    w: &[f32],
    c: f64,
    bounds: Bounds,
) -> Vec<f32> {
    let mut delta = vec![0f32; t.len()];
    if c == 0.0 || !c.is_finite() {
        return delta;
    }
    let need = c.abs();
    // (index, rate a_i, room cap_i, helpful sign)
    let mut coords: Vec<(usize, f64, f64, f32)> = Vec::with_capacity(t.len());
    let mut reach = 0f64;
    for (i, (&ti, &wi)) in t.iter().zip(w).enumerate() {
        let a = (wi as f64).abs();
        if a <= FLAT || !a.is_finite() {
            continue;
        }
        let up = (wi > 0.0) == (c > 0.0);
        let cap = if up { bounds.max - ti } else { ti - bounds.min }.max(0.0) as f64;
        if cap <= 0.0 {
            continue;
        }
        reach += a * cap;
        coords.push((i, a, cap, if up { 1.0 } else { -1.0 }));
    }
    if reach <= need {
        // Unreachable inside the box: go as far toward the hyperplane as the box allows.
        for &(i, _, cap, s) in &coords {
            delta[i] = s * cap as f32;
        }
        return delta;
    }
    match norm {
        Norm::Linf | Norm::L2 => {
            // Coordinate i moves k_i·τ until it saturates at τ = cap_i / k_i (k_i = 1 for L∞,
            // a_i for L2); progress grows piecewise linearly in τ with slope Σ a_i k_i over the
            // coordinates not yet saturated.
            let rate = |a: f64| if norm == Norm::Linf { 1.0 } else { a };
            coords.sort_unstable_by(|p, q| (p.2 / rate(p.1)).total_cmp(&(q.2 / rate(q.1))));
            let mut slope: f64 = coords.iter().map(|&(_, a, _, _)| a * rate(a)).sum();
            let (mut tau, mut progress) = (0f64, 0f64);
            let mut solved = None;
            for &(_, a, cap, _) in &coords {
                let kink = cap / rate(a);
                let at_kink = progress + slope * (kink - tau);
                if at_kink >= need || slope <= 0.0 {
                    solved = Some(tau + (need - progress) / slope.max(f64::MIN_POSITIVE));
                    break;
                }
                progress = at_kink;
                tau = kink;
                slope -= a * rate(a);
            }
            let tau = solved.unwrap_or(tau);
            for &(i, a, cap, s) in &coords {
                delta[i] = s * (rate(a) * tau).min(cap) as f32;
            }
        }
        Norm::L1 => {
            coords.sort_unstable_by(|p, q| q.1.total_cmp(&p.1));
            let mut left = need;
            for &(i, a, cap, s) in &coords {
                let take = (left / a).min(cap);
                delta[i] = s * take as f32;
                left -= a * take;
                if left <= 0.0 {
                    break;
                }
            }
        }
    }
    delta
}

/// A random direction of unit norm (L∞: uniform in the cube, L2 and L1: Gaussian), as in the
/// reference implementation's random starts.
pub(super) fn random_direction(norm: Norm, f: usize, rng: &mut StdRng) -> Vec<f32> {
    let t: Vec<f32> = match norm {
        Norm::Linf => (0..f).map(|_| rng.gen_range(-1.0f32..=1.0)).collect(),
        Norm::L2 | Norm::L1 => (0..f)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect(),
    };
    let size = norm.measure_row(&t).max(1e-12);
    t.into_iter().map(|v| v / size).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_box() -> Bounds {
        Bounds { min: 0.0, max: 1.0 }
    }

    fn dot(w: &[f32], d: &[f32]) -> f64 {
        w.iter().zip(d).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    #[test]
    fn projections_reach_the_hyperplane_inside_the_box() {
        let t = [0.5f32, 0.9, 0.1, 0.5];
        let w = [1.0f32, 2.0, -0.5, 0.0];
        for norm in [Norm::Linf, Norm::L2, Norm::L1] {
            for c in [0.3f64, -0.4, 0.05] {
                let d = project_hyperplane_box(norm, &t, &w, c, unit_box());
                assert!(
                    (dot(&w, &d) - c).abs() < 1e-5,
                    "{norm} c={c}: w·δ = {}",
                    dot(&w, &d)
                );
                for (ti, di) in t.iter().zip(&d) {
                    assert!((0.0..=1.0).contains(&(ti + di)), "{norm}: left the box");
                }
                assert_eq!(d[3], 0.0, "a flat coordinate moved");
            }
        }
    }

    #[test]
    fn projections_match_closed_forms_without_the_box() {
        let t = [0.5f32; 3];
        let w = [0.1f32, -0.2, 0.4];
        // L2: δ = c w / ‖w‖².
        let d = project_hyperplane_box(Norm::L2, &t, &w, 0.02, unit_box());
        let sq = 0.01 + 0.04 + 0.16;
        for (di, wi) in d.iter().zip(&w) {
            assert!((di - 0.02 * wi / sq).abs() < 1e-6);
        }
        // L∞: δ = c sign(w) / ‖w‖₁.
        let d = project_hyperplane_box(Norm::Linf, &t, &w, 0.07, unit_box());
        for (di, wi) in d.iter().zip(&w) {
            assert!((di - 0.07 * wi.signum() / 0.7).abs() < 1e-6);
        }
        // L1: all on the largest |w|.
        let d = project_hyperplane_box(Norm::L1, &t, &w, 0.04, unit_box());
        assert!(d[0] == 0.0 && d[1] == 0.0 && (d[2] - 0.1).abs() < 1e-6);
    }

    #[test]
    fn box_saturation_and_unreachable_hyperplanes() {
        // L∞ with the second coordinate capped at 0.1: λ solves 0.1·1 + λ·1 = 0.5.
        let t = [0.5f32, 0.9];
        let w = [1.0f32, 1.0];
        let d = project_hyperplane_box(Norm::Linf, &t, &w, 0.5, unit_box());
        assert!(
            (d[0] - 0.4).abs() < 1e-6 && (d[1] - 0.1).abs() < 1e-6,
            "{d:?}"
        );
        // Unreachable: every helpful coordinate goes to the edge.
        let d = project_hyperplane_box(Norm::L2, &t, &w, 5.0, unit_box());
        assert!(
            (d[0] - 0.5).abs() < 1e-6 && (d[1] - 0.1).abs() < 1e-6,
            "{d:?}"
        );
        // L1 fills the largest rate first, then the next.
        let w = [2.0f32, 1.0];
        let d = project_hyperplane_box(Norm::L1, &[0.9, 0.5], &w, 0.3, unit_box());
        assert!(
            (d[0] - 0.1).abs() < 1e-6 && (d[1] - 0.1).abs() < 1e-6,
            "{d:?}"
        );
    }
}
