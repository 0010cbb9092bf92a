//! Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020): a score-based
//! black-box attack for L∞ and L2 that needs nothing but the model's logits.
//!
//! Random search on the margin loss (untargeted: `z_y − max_{j≠y} z_j`; targeted:
//! `max_{j≠t} z_j − z_t`; both minimised, adversarial once the model's prediction satisfies the
//! criterion). Every iteration proposes one change inside a randomly placed square window and
//! keeps it only if the margin drops:
//!
//! - **L∞**: starts from vertical stripes (each column of each channel at `x ± ε`); a proposal
//!   sets one `s × s` window of each channel to `x ± ε` with a random sign per channel, resampled
//!   until it actually differs from the current point.
//! - **L2**: starts from a grid of ±"meta pseudo-gaussian" tiles (two opposite-signed
//!   concentric-square bumps) scaled to the sphere of radius ε; a proposal moves the mass of a
//!   second window into the first, adds a fresh ±bump there, and rescales to the sphere.
//!
//! The window side follows the reference schedule: `p` (fraction of the image changed) starts
//! at `p_init` and halves at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of a
//! 10 000-query run, rescaled to the actual query budget.
//!
//! **Layout.** The sample shape is read as channels-first: `[C, H, W]` → windows over `H × W`,
//! shared by all channels with a sign per channel; `[H, W]` → one channel. Any other shape
//! (flat `[D]` features, or rank ≥ 4) is treated as `1 × 1 × D`, where a "square" becomes a
//! contiguous run of `round(p·D)` features and the L2 bump becomes its 1-D profile.
//!
//! **Batching and budgets.** As in PGD, every (sample, ε) pair is one row; all rows still
//! standing share one `logits` call per iteration. A row leaves as soon as its best point is
//! adversarial, so queries are only counted for rows actually sent to the model. The budget
//! counts the initial query: a row never costs more than `queries` forward passes. Rows with
//! ε = 0 cost nothing and return the clean input.

use rand::rngs::StdRng;
use rand::Rng;

use gauntlet_core::device::compute_device;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::outcome::{attach_queries, verify, AttackOutcome};
use crate::{Access, Attack, AttackInput};

/// Score-based Square Attack, L∞ and L2.
pub struct Square {
    /// Query budget per (sample, ε), the initial query included.
    queries: usize,
    /// Initial fraction of the image a window covers.
    p_init: f32,
}

impl Square {
    /// The AutoAttack configuration (`p_init = 0.8` for both norms) with the given budget;
    /// 5000 queries is the standard one.
    pub fn new(queries: usize) -> Self {
        Square {
            queries,
            p_init: 0.8,
        }
    }

    /// Overrides the initial window fraction `p_init` (clamped to (0, 1]).
    pub fn with_p_init(mut self, p_init: f32) -> Self {
        self.p_init = if p_init.is_finite() && p_init > 0.0 {
            p_init.min(1.0)
        } else {
            0.8
        };
        self
    }

    /// Like [`Attack::run`], also returning the queries each (sample, ε) row used:
    /// entry `e·n + i` is sample `i` at the `e`-th budget.
    pub fn run_counted(
        &self,
        input: &AttackInput,
        rng: &mut StdRng,
    ) -> Result<(AttackOutcome, Vec<u64>)> {
        self.check(input.threat)?;
        let (n, f) = (input.len(), input.features());
        let epsilons = input.threat.epsilons();
        let norm = input.threat.norm();
        let bounds = input.threat.bounds();
        let (lo, hi) = (bounds.min, bounds.max);
        let classes = input.model.num_classes();
        let targets = input.criterion.targets();
        let device = compute_device();
        let layout = Layout::of(input.model.sample_shape(), f);

        let rows = epsilons.len() * n;
        let sample_of = |r: usize| r % n;
        let eps_of = |r: usize| epsilons[r / n];
        let clean = |r: usize| &input.x[sample_of(r) * f..(sample_of(r) + 1) * f];
        let margin_of = |r: usize, logits: &[f32]| {
            let i = sample_of(r);
            match &targets {
                Some(t) => margin(logits, t[i] as usize, -1.0),
                None => margin(logits, input.labels[i] as usize, 1.0),
            }
        };
        let adversarial = |r: usize, pred: i64| {
            let i = sample_of(r);
            input.criterion.is_adversarial(i, input.labels[i], pred)
        };

        let mut best: Vec<f32> = (0..rows).flat_map(|r| clean(r).to_vec()).collect();
        let mut best_margin = vec![f32::INFINITY; rows];
        let mut used = vec![0u64; rows];
        let mut active: Vec<usize> = (0..rows).filter(|&r| eps_of(r) > 0.0).collect();
        if self.queries == 0 {
            active.clear();
        }

        // Initial points.
        let mut proposal = Vec::with_capacity(active.len() * f);
        for &r in &active {
            let start = match norm {
                Norm::L2 => init_l2(clean(r), eps_of(r), &layout, (lo, hi), rng),
                _ => init_linf(clean(r), eps_of(r), &layout, (lo, hi), rng),
            };
            proposal.extend_from_slice(&start);
        }
        let mut iteration = 0usize;
        while !active.is_empty() {
            let batch = from_rows(proposal.clone(), active.len(), f, &device);
            let logits = to_vec(input.model.logits(batch)?);
            let preds = argmax_rows(&logits, classes);
            let mut standing = Vec::with_capacity(active.len());
            for (k, &r) in active.iter().enumerate() {
                used[r] += 1;
                let m = margin_of(r, &logits[k * classes..(k + 1) * classes]);
                let hit = adversarial(r, preds[k]);
                if hit || m < best_margin[r] {
                    best_margin[r] = m;
                    best[r * f..(r + 1) * f].copy_from_slice(&proposal[k * f..(k + 1) * f]);
                }
                if !hit && (used[r] as usize) < self.queries {
                    standing.push(r);
                }
            }
            active = standing;
            proposal.clear();
            let p = p_selection(self.p_init, iteration, self.queries);
            iteration += 1;
            for &r in &active {
                let x = clean(r);
                let current = &best[r * f..(r + 1) * f];
                let next = match norm {
                    Norm::L2 => step_l2(x, current, eps_of(r), p, &layout, (lo, hi), rng),
                    _ => step_linf(x, current, eps_of(r), p, &layout, (lo, hi), rng),
                };
                proposal.extend_from_slice(&next);
            }
        }

        let candidates = (0..epsilons.len())
            .map(|e| best[e * n * f..(e + 1) * n * f].to_vec())
            .collect();
        let mut per_eps = verify(input, candidates)?;
        attach_queries(&mut per_eps, &used);
        let outcome = AttackOutcome {
            per_eps,
            gradient_evals: 0,
            queries: used.iter().sum(),
        };
        Ok((outcome, used))
    }
}

impl Default for Square {
    fn default() -> Self {
        Square::new(5000)
    }
}

impl Attack for Square {
    fn name(&self) -> &str {
        "square"
    }

    fn access(&self) -> Access {
        Access::Scores
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2]
    }

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        Ok(self.run_counted(input, rng)?.0)
    }
}

/// `sign · (z_c − max_{j≠c} z_j)`: with `sign = 1` and `c` the label, the untargeted margin;
/// with `sign = −1` and `c` the target, the targeted one. Both are ≤ 0 once adversarial.
fn margin(logits: &[f32], class: usize, sign: f32) -> f32 {
    let other = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != class)
        .fold(f32::NEG_INFINITY, |m, (_, &v)| m.max(v));
    sign * (logits[class] - other)
}

/// Fraction of the image a window covers at `iteration` of a `budget`-query run: the
/// reference's piecewise-constant halving schedule for 10 000 queries, rescaled.
fn p_selection(p_init: f32, iteration: usize, budget: usize) -> f32 {
    let it = (iteration as u64 * 10_000) / budget.max(1) as u64;
    let halvings = match it {
        0..=10 => 0,
        11..=50 => 1,
        51..=200 => 2,
        201..=500 => 3,
        501..=1000 => 4,
        1001..=2000 => 5,
        2001..=4000 => 6,
        4001..=6000 => 7,
        6001..=8000 => 8,
        _ => 9,
    };
    p_init / (1u32 << halvings) as f32
}

/// How a flat row is read: `c` channels of an `h × w` plane, channels first.
struct Layout {
    c: usize,
    h: usize,
    w: usize,
}

impl Layout {
    fn of(shape: &[usize], features: usize) -> Layout {
        match *shape {
            [c, h, w] if c * h * w == features && h > 0 && w > 0 => Layout { c, h, w },
            [h, w] if h * w == features && h > 0 && w > 0 => Layout { c: 1, h, w },
            _ => Layout {
                c: 1,
                h: 1,
                w: features.max(1),
            },
        }
    }

    fn index(&self, ch: usize, i: usize, j: usize) -> usize {
        (ch * self.h + i) * self.w + j
    }

    /// Window `(rows, cols)` covering about a fraction `p` of the plane: a square of side
    /// `round(√(p·h·w))` (a run of `round(p·len)` features on a 1-D layout), at least
    /// `min_side`, made odd when asked, never larger than the plane.
    fn window(&self, p: f32, min_side: usize, odd: bool) -> (usize, usize) {
        let fit = |side: usize, limit: usize| {
            let mut side = side.max(min_side);
            if odd && side.is_multiple_of(2) {
                side += 1;
            }
            side.min(limit).max(1)
        };
        if self.h == 1 || self.w == 1 {
            let len = self.h * self.w;
            let l = fit((p * len as f32).round() as usize, len);
            if self.h == 1 {
                (1, l)
            } else {
                (l, 1)
            }
        } else {
            let s = fit(
                (p * (self.h * self.w) as f32).sqrt().round() as usize,
                self.h.min(self.w),
            );
            (s, s)
        }
    }

    /// A uniformly random top-left corner for a `(rows, cols)` window.
    fn place(&self, (sh, sw): (usize, usize), rng: &mut StdRng) -> (usize, usize) {
        (
            rng.gen_range(0..=self.h - sh),
            rng.gen_range(0..=self.w - sw),
        )
    }
}

fn random_sign(rng: &mut StdRng) -> f32 {
    if rng.gen::<bool>() {
        1.0
    } else {
        -1.0
    }
}

fn l2(values: &[f32]) -> f32 {
    values.iter().map(|v| v * v).sum::<f32>().sqrt()
}

/// L∞ start: vertical stripes, every column of every channel at `x ± ε` (one sign per
/// column), clipped to the box. On a 1-D layout every feature gets its own sign.
fn init_linf(
    x: &[f32],
    eps: f32,
    layout: &Layout,
    (lo, hi): (f32, f32),
    rng: &mut StdRng,
) -> Vec<f32> {
    let mut out = x.to_vec();
    for ch in 0..layout.c {
        for j in 0..layout.w {
            let d = eps * random_sign(rng);
            for i in 0..layout.h {
                let k = layout.index(ch, i, j);
                out[k] = (x[k] + d).clamp(lo, hi);
            }
        }
    }
    out
}

/// L∞ proposal: one window, every channel set to `x ± ε` with a random sign per channel;
/// signs are redrawn (same window) until the proposal differs from `current`.
fn step_linf(
    x: &[f32],
    current: &[f32],
    eps: f32,
    p: f32,
    layout: &Layout,
    (lo, hi): (f32, f32),
    rng: &mut StdRng,
) -> Vec<f32> {
    let size = layout.window(p, 1, false);
    let (i0, j0) = layout.place(size, rng);
    let mut next = current.to_vec();
    // At most a few redraws are ever needed: for each coordinate one of ±ε moves it.
    for _attempt in 0..64 {
        let mut changed = false;
        for ch in 0..layout.c {
            let d = eps * random_sign(rng);
            for i in i0..i0 + size.0 {
                for j in j0..j0 + size.1 {
                    let k = layout.index(ch, i, j);
                    let v = (x[k] + d).clamp(lo, hi);
                    changed |= (v - current[k]).abs() > 1e-7;
                    next[k] = v;
                }
            }
        }
        if changed {
            break;
        }
    }
    next
}

/// Concentric-square bump on an `a × b` rectangle, unit L2 norm: the cell at Chebyshev
/// distance `d` from the centre `(a/2, b/2)` gets `Σ_{k=d}^{K−1} 1/(k+1)²`,
/// `K = max(a/2, b/2) + 1` (the paper's pseudo-gaussian).
fn bump(a: usize, b: usize) -> Vec<f32> {
    let rings = a.max(b) / 2 + 1;
    // tail[d] = Σ_{k=d}^{rings−1} 1/(k+1)²
    let mut tail = vec![0f32; rings + 1];
    for k in (0..rings).rev() {
        tail[k] = tail[k + 1] + 1.0 / ((k + 1) * (k + 1)) as f32;
    }
    let (ci, cj) = (a / 2, b / 2);
    let mut out = Vec::with_capacity(a * b);
    for i in 0..a {
        for j in 0..b {
            let d = i.abs_diff(ci).max(j.abs_diff(cj));
            out.push(tail[d.min(rings)]);
        }
    }
    let norm = l2(&out).max(1e-12);
    out.iter_mut().for_each(|v| *v /= norm);
    out
}

/// The paper's "meta pseudo-gaussian" pattern on a `rows × cols` window, unit L2 norm: a
/// positive bump on one half and a negative bump on the other, split across rows or across
/// columns (a 1-wide window can only be split along its length).
fn meta_bump(rows: usize, cols: usize, split_rows: bool) -> Vec<f32> {
    if rows * cols <= 1 {
        return vec![1.0; rows * cols];
    }
    let across_rows = if rows < 2 {
        false
    } else if cols < 2 {
        true
    } else {
        split_rows
    };
    let mut out = vec![0f32; rows * cols];
    if across_rows {
        let top = rows / 2;
        let upper = bump(top, cols);
        let lower = bump(rows - top, cols);
        for i in 0..rows {
            for j in 0..cols {
                out[i * cols + j] = if i < top {
                    upper[i * cols + j]
                } else {
                    -lower[(i - top) * cols + j]
                };
            }
        }
    } else {
        let left = cols / 2;
        let west = bump(rows, left);
        let east = bump(rows, cols - left);
        for i in 0..rows {
            for j in 0..cols {
                out[i * cols + j] = if j < left {
                    west[i * left + j]
                } else {
                    -east[i * (cols - left) + j - left]
                };
            }
        }
    }
    let norm = l2(&out).max(1e-12);
    out.iter_mut().for_each(|v| *v /= norm);
    out
}

/// Tiling of one axis for the L2 start: tiles of `len/5` (the whole axis when shorter than
/// 5), as many as fit, centred. Returns `(tile, count, offset)`.
fn tiling(len: usize) -> (usize, usize, usize) {
    if len < 5 {
        return (len, 1, 0);
    }
    let tile = len / 5;
    let count = len / tile;
    (tile, count, (len - count * tile) / 2)
}

/// L2 start: a grid of ± meta pseudo-gaussian tiles (random orientation per tile, random
/// sign per tile and channel), scaled to norm ε and clipped to the box.
fn init_l2(
    x: &[f32],
    eps: f32,
    layout: &Layout,
    (lo, hi): (f32, f32),
    rng: &mut StdRng,
) -> Vec<f32> {
    let (th, nh, oh) = tiling(layout.h);
    let (tw, nw, ow) = tiling(layout.w);
    let mut delta = vec![0f32; x.len()];
    for ti in 0..nh {
        for tj in 0..nw {
            let pattern = meta_bump(th, tw, rng.gen::<bool>());
            for ch in 0..layout.c {
                let sign = random_sign(rng);
                for i in 0..th {
                    for j in 0..tw {
                        let k = layout.index(ch, oh + ti * th + i, ow + tj * tw + j);
                        delta[k] += sign * pattern[i * tw + j];
                    }
                }
            }
        }
    }
    to_sphere(x, &mut delta, eps, (lo, hi))
}

/// `clip(x + δ · ε/‖δ‖₂)`.
fn to_sphere(x: &[f32], delta: &mut [f32], eps: f32, (lo, hi): (f32, f32)) -> Vec<f32> {
    let scale = eps / (l2(delta) + 1e-12);
    x.iter()
        .zip(delta.iter())
        .map(|(x, d)| (x + d * scale).clamp(lo, hi))
        .collect()
}

/// L2 proposal (per channel): the perturbation mass of window 1 and window 2 plus whatever
/// budget the image has left is put into window 1 as `±bump + old window 1 direction`;
/// window 2 is cleared; the whole perturbation is rescaled to norm ε and clipped.
fn step_l2(
    x: &[f32],
    current: &[f32],
    eps: f32,
    p: f32,
    layout: &Layout,
    bounds: (f32, f32),
    rng: &mut StdRng,
) -> Vec<f32> {
    let size = layout.window(p, 3, true);
    let (sh, sw) = size;
    let (i1, j1) = layout.place(size, rng);
    let (i2, j2) = layout.place(size, rng);
    let pattern = meta_bump(sh, sw, rng.gen::<bool>());
    let mut delta: Vec<f32> = current.iter().zip(x).map(|(a, b)| a - b).collect();
    let spare = (eps * eps - l2(&delta).powi(2)).max(0.0) / layout.c as f32;
    let in_w1 = |i: usize, j: usize| i >= i1 && i < i1 + sh && j >= j1 && j < j1 + sw;
    let mut fresh = vec![0f32; layout.c * sh * sw];
    for ch in 0..layout.c {
        let mut w1 = Vec::with_capacity(sh * sw);
        for i in i1..i1 + sh {
            for j in j1..j1 + sw {
                w1.push(delta[layout.index(ch, i, j)]);
            }
        }
        let w1_sq: f32 = w1.iter().map(|v| v * v).sum();
        let mut w2_only_sq = 0f32;
        for i in i2..i2 + sh {
            for j in j2..j2 + sw {
                if !in_w1(i, j) {
                    w2_only_sq += delta[layout.index(ch, i, j)].powi(2);
                }
            }
        }
        let target = (spare + w1_sq + w2_only_sq).sqrt();
        let sign = random_sign(rng);
        let w1_norm = w1_sq.sqrt() + 1e-12;
        let out = &mut fresh[ch * sh * sw..(ch + 1) * sh * sw];
        for (k, o) in out.iter_mut().enumerate() {
            *o = sign * pattern[k] + w1[k] / w1_norm;
        }
        let scale = target / (l2(out) + 1e-12);
        out.iter_mut().for_each(|v| *v *= scale);
    }
    for ch in 0..layout.c {
        for i in i2..i2 + sh {
            for j in j2..j2 + sw {
                delta[layout.index(ch, i, j)] = 0.0;
            }
        }
        for i in 0..sh {
            for j in 0..sw {
                delta[layout.index(ch, i1 + i, j1 + j)] = fresh[(ch * sh + i) * sw + j];
            }
        }
    }
    to_sphere(x, &mut delta, eps, bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_halves_on_the_reference_breakpoints() {
        assert_eq!(p_selection(0.8, 0, 10_000), 0.8);
        assert_eq!(p_selection(0.8, 10, 10_000), 0.8);
        assert_eq!(p_selection(0.8, 11, 10_000), 0.4);
        assert_eq!(p_selection(0.8, 9_000, 10_000), 0.8 / 512.0);
        // Rescaled: iteration 100 of 1000 is iteration 1000 of 10 000.
        assert_eq!(p_selection(0.8, 100, 1000), 0.8 / 16.0);
    }

    #[test]
    fn meta_bump_is_unit_and_balanced() {
        for (r, c) in [(5, 5), (4, 7), (1, 9), (9, 1), (3, 3)] {
            for split in [true, false] {
                let m = meta_bump(r, c, split);
                assert!((l2(&m) - 1.0).abs() < 1e-5);
                let pos: f32 = m.iter().filter(|v| **v > 0.0).sum();
                let neg: f32 = m.iter().filter(|v| **v < 0.0).sum();
                assert!(pos > 0.0 && neg < 0.0, "{r}x{c}: both halves present");
            }
        }
        // The bump peaks at its centre.
        let b = bump(5, 5);
        assert!(b.iter().all(|&v| v <= b[12]));
    }

    #[test]
    fn windows_fit_the_plane() {
        let mnist = Layout::of(&[1, 28, 28], 784);
        assert_eq!(mnist.window(0.8, 1, false), (25, 25));
        assert_eq!(mnist.window(0.001, 1, false), (1, 1));
        assert_eq!(mnist.window(0.001, 3, true), (3, 3));
        let flat = Layout::of(&[100], 100);
        assert_eq!((flat.c, flat.h, flat.w), (1, 1, 100));
        assert_eq!(flat.window(0.1, 1, false), (1, 10));
        assert_eq!(flat.window(1.0, 3, true), (1, 100));
    }
}
