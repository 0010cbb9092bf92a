//! Square Attack's proposal geometry: the starting points and the window proposals for L∞
//! and L2, with the "meta pseudo-gaussian" bumps of the L2 variant.

use rand::rngs::StdRng;
use rand::Rng;

use gauntlet_core::threat::Norm;

use crate::planes::Planes;

impl Planes {
    /// Window `(rows, cols)` covering about a fraction `p` of the plane: a square of side
    /// `round(√(p·h·w))` (a run of `round(p·len)` features on a 1-D layout), at least
    /// `min_side`, made odd when asked, never larger than the plane.
    pub(super) fn window(&self, p: f32, min_side: usize, odd: bool) -> (usize, usize) {
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
    pub(super) fn place(&self, (sh, sw): (usize, usize), rng: &mut StdRng) -> (usize, usize) {
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
    Norm::L2.measure_row(values)
}

/// L∞ start: vertical stripes, every column of every channel at `x ± ε` (one sign per
/// column), clipped to the box. On a 1-D layout every feature gets its own sign.
pub(super) fn init_linf(
    x: &[f32],
    eps: f32,
    layout: &Planes,
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
pub(super) fn step_linf(
    x: &[f32],
    current: &[f32],
    eps: f32,
    p: f32,
    layout: &Planes,
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
pub(super) fn init_l2(
    x: &[f32],
    eps: f32,
    layout: &Planes,
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
pub(super) fn step_l2(
    x: &[f32],
    current: &[f32],
    eps: f32,
    p: f32,
    layout: &Planes,
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
        let mnist = Planes::of(&[1, 28, 28], 784);
        assert_eq!(mnist.window(0.8, 1, false), (25, 25));
        assert_eq!(mnist.window(0.001, 1, false), (1, 1));
        assert_eq!(mnist.window(0.001, 3, true), (3, 3));
        let flat = Planes::of(&[100], 100);
        assert_eq!((flat.c, flat.h, flat.w), (1, 1, 100));
        assert_eq!(flat.window(0.1, 1, false), (1, 10));
        assert_eq!(flat.window(1.0, 3, true), (1, 100));
    }
}
