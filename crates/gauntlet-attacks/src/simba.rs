//! SimBA, the Simple Black-box Attack (Guo, Gardner, You, Wilson & Weinberger, "Simple
//! Black-box Adversarial Attacks", ICML 2019): a score-based black-box attack that needs the
//! model's class scores and nothing else.
//!
//! Pick a direction `q` from an orthonormal basis (without replacement, in random order) and
//! try `x + δ + α q`, then `x + δ − α q`; keep the first that lowers the probability of the true
//! class (untargeted) or raises the target's (targeted), else leave δ alone. Probabilities are
//! the softmax of the returned scores, compared as log-probabilities (same order, no rounding
//! to 1 for confident models). Each direction costs one or two queries.
//!
//! - **Pixel basis** ([`Simba::pixel`], `simba`): the standard basis, every feature once per
//!   pass in a fresh random order. Step α = 0.2 by default.
//! - **DCT basis** ([`Simba::dct`], `simba-dct`): the orthonormal 2-D DCT basis of each
//!   channel's `H × W` plane (inverse DCT-II, i.e. DCT-III, computed here; the block is the
//!   whole plane, as in the authors' code). Low frequencies first, the paper's ordering: a
//!   random order over the `r × r` lowest frequencies of all channels with `r = ⌈side/8⌉`,
//!   then over each further band of width `⌈r/4⌉` (28 and 7 on 224-pixel images, the authors'
//!   ImageNet setting; 4 and 1 on MNIST). Step α = [`Simba::DCT_STEP`] by default.
//!
//! When the basis is used up, a new pass starts in a fresh order (directions already taken
//! may then grow further or be undone). Proposals that do not change the point (a pixel
//! already at the box edge) are skipped without a query.
//!
//! **Norms.** SimBA is natively L2: orthonormal steps of size α give `‖δ‖₂ = α√k` after `k`
//! accepted steps. Under an L2 budget ε each proposal is projected onto the ε-ball (rescaled)
//! and clipped to the box. Under **L∞**, a step has L∞ size `α ≤ ε` — `ε` itself unless
//! [`Simba::with_step`] sets a smaller α — (a pixel moves by ±α; a DCT basis image is scaled
//! to peak amplitude α), and the accumulated perturbation is clipped to the ε-ball and the
//! box after each step.
//!
//! **Batching and budgets.** Every (sample, ε) pair is one row, as in [`crate::square`]; all
//! rows still standing share one `logits` call per half-step (the `+α` proposals, then the
//! `−α` ones). A row stops at its first adversarial proposal, when its budget is spent, or
//! when no direction can change its point any more. The first query (the clean input's
//! scores) counts; a row never costs more than the budget. Rows with ε = 0 cost nothing.
//! The target must answer scores ([`Access::Scores`]): label-only targets are refused.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use gauntlet_core::device::compute_device;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::outcome::{attach_queries, verify, AttackOutcome};
use crate::{Access, Attack, AttackInput};

/// The orthonormal basis SimBA searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Standard basis: one feature per direction.
    Pixel,
    /// 2-D DCT basis per channel, low frequencies first.
    Dct,
}

/// Score-based SimBA, L2 and L∞.
pub struct Simba {
    /// Query budget per (sample, ε), the first query included.
    queries: usize,
    basis: Basis,
    /// Step α; `None` = the basis default (L2) or ε (L∞).
    step: Option<f32>,
}

impl Simba {
    /// Default L2 step of the pixel basis (the paper's ε = 0.2).
    pub const PIXEL_STEP: f32 = 0.2;
    /// Default L2 step of the DCT basis.
    pub const DCT_STEP: f32 = 0.2;

    /// SimBA with the pixel (standard) basis, `queries` per sample and budget.
    pub fn pixel(queries: usize) -> Self {
        Simba {
            queries,
            basis: Basis::Pixel,
            step: None,
        }
    }

    /// SimBA-DCT: the low-frequency-first DCT basis, `queries` per sample and budget.
    pub fn dct(queries: usize) -> Self {
        Simba {
            queries,
            basis: Basis::Dct,
            step: None,
        }
    }

    /// Sets the step α (L2 size of a step; under L∞, its peak size, capped at ε).
    pub fn with_step(mut self, alpha: f32) -> Self {
        if alpha.is_finite() && alpha > 0.0 {
            self.step = Some(alpha);
        }
        self
    }

    pub fn basis(&self) -> Basis {
        self.basis
    }

    /// The step a row with budget `eps` takes under `norm`.
    fn step_for(&self, norm: Norm, eps: f32) -> f32 {
        match norm {
            Norm::Linf => self.step.map_or(eps, |a| a.min(eps)),
            _ => self.step.unwrap_or(match self.basis {
                Basis::Pixel => Self::PIXEL_STEP,
                Basis::Dct => Self::DCT_STEP,
            }),
        }
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
        let directions = Directions::new(self.basis, input.model.sample_shape(), f);
        let budget = self.queries as u64;

        let rows = epsilons.len() * n;
        let sample_of = |r: usize| r % n;
        let eps_of = |r: usize| epsilons[r / n];
        let clean = |r: usize| &input.x[sample_of(r) * f..(sample_of(r) + 1) * f];
        // Minimised: log p_y (untargeted) or −log p_t (targeted).
        let objective = |r: usize, logits: &[f32]| {
            let i = sample_of(r);
            match &targets {
                Some(t) => -log_softmax(logits, t[i] as usize),
                None => log_softmax(logits, input.labels[i] as usize),
            }
        };
        let adversarial = |r: usize, pred: i64| {
            let i = sample_of(r);
            input.criterion.is_adversarial(i, input.labels[i], pred)
        };
        let query = |rows_data: Vec<f32>, m: usize| -> Result<(Vec<f32>, Vec<i64>)> {
            let logits = to_vec(input.model.logits(from_rows(rows_data, m, f, &device))?);
            let preds = argmax_rows(&logits, classes);
            Ok((logits, preds))
        };

        let mut current: Vec<f32> = (0..rows).flat_map(|r| clean(r).to_vec()).collect();
        let mut value = vec![f64::INFINITY; rows];
        let mut used = vec![0u64; rows];
        let mut order: Vec<Vec<usize>> = vec![Vec::new(); rows];
        let mut position = vec![0usize; rows];
        let mut idle = vec![0usize; rows];
        let mut active: Vec<usize> = if budget > 0 {
            (0..rows).filter(|&r| eps_of(r) > 0.0).collect()
        } else {
            Vec::new()
        };

        // The clean input's scores.
        if !active.is_empty() {
            let batch: Vec<f32> = active.iter().flat_map(|&r| clean(r).to_vec()).collect();
            let (logits, preds) = query(batch, active.len())?;
            let mut standing = Vec::with_capacity(active.len());
            for (k, &r) in active.iter().enumerate() {
                used[r] += 1;
                value[r] = objective(r, &logits[k * classes..(k + 1) * classes]);
                if !adversarial(r, preds[k]) && used[r] < budget {
                    standing.push(r);
                }
            }
            active = standing;
        }

        // A proposal: (row, direction, sign, point).
        let mut delta = vec![0f32; f];
        while !active.is_empty() {
            // First half-step: +α (or −α where +α changes nothing).
            let mut firsts: Vec<(usize, usize, f32)> = Vec::with_capacity(active.len());
            let mut batch = Vec::with_capacity(active.len() * f);
            for &r in &active {
                let step = self.step_for(norm, eps_of(r));
                loop {
                    if idle[r] >= f {
                        break; // no direction changes this row's point any more
                    }
                    if position[r] >= order[r].len() {
                        order[r] = directions.order(rng);
                        position[r] = 0;
                    }
                    let k = order[r][position[r]];
                    position[r] += 1;
                    let mut found = None;
                    for sign in [1.0f32, -1.0] {
                        let point = propose(
                            clean(r),
                            &current[r * f..(r + 1) * f],
                            &directions,
                            k,
                            sign * step,
                            norm,
                            eps_of(r),
                            (lo, hi),
                            &mut delta,
                        );
                        if point != current[r * f..(r + 1) * f] {
                            found = Some((sign, point));
                            break;
                        }
                    }
                    match found {
                        Some((sign, point)) => {
                            idle[r] = 0;
                            firsts.push((r, k, sign));
                            batch.extend_from_slice(&point);
                            break;
                        }
                        None => idle[r] += 1,
                    }
                }
            }
            if firsts.is_empty() {
                break;
            }
            let (logits, preds) = query(batch.clone(), firsts.len())?;
            let mut seconds: Vec<(usize, usize)> = Vec::new();
            let mut second_batch = Vec::new();
            let mut done = vec![false; firsts.len()];
            for (j, &(r, k, sign)) in firsts.iter().enumerate() {
                used[r] += 1;
                let v = objective(r, &logits[j * classes..(j + 1) * classes]);
                let hit = adversarial(r, preds[j]);
                if hit || v < value[r] {
                    value[r] = v;
                    current[r * f..(r + 1) * f].copy_from_slice(&batch[j * f..(j + 1) * f]);
                    done[j] = hit;
                    continue;
                }
                if sign > 0.0 && used[r] < budget {
                    let step = self.step_for(norm, eps_of(r));
                    let point = propose(
                        clean(r),
                        &current[r * f..(r + 1) * f],
                        &directions,
                        k,
                        -step,
                        norm,
                        eps_of(r),
                        (lo, hi),
                        &mut delta,
                    );
                    if point != current[r * f..(r + 1) * f] {
                        seconds.push((r, j));
                        second_batch.extend_from_slice(&point);
                    }
                }
            }
            if !seconds.is_empty() {
                let (logits, preds) = query(second_batch.clone(), seconds.len())?;
                for (s, &(r, j)) in seconds.iter().enumerate() {
                    used[r] += 1;
                    let v = objective(r, &logits[s * classes..(s + 1) * classes]);
                    let hit = adversarial(r, preds[s]);
                    if hit || v < value[r] {
                        value[r] = v;
                        current[r * f..(r + 1) * f]
                            .copy_from_slice(&second_batch[s * f..(s + 1) * f]);
                        done[j] = hit;
                    }
                }
            }
            active = firsts
                .iter()
                .enumerate()
                .filter(|&(j, &(r, _, _))| !done[j] && used[r] < budget && idle[r] < f)
                .map(|(_, &(r, _, _))| r)
                .collect();
        }

        let candidates = (0..epsilons.len())
            .map(|e| current[e * n * f..(e + 1) * n * f].to_vec())
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

/// `x + Π_ε(current − x + α q_k)`, clipped to the box, with the arithmetic [`verify`] uses to
/// rebuild it (so the row answered is the row verified). `delta` is scratch space of one row.
#[allow(clippy::too_many_arguments)]
fn propose(
    x: &[f32],
    current: &[f32],
    directions: &Directions,
    k: usize,
    alpha: f32,
    norm: Norm,
    eps: f32,
    (lo, hi): (f32, f32),
    delta: &mut Vec<f32>,
) -> Vec<f32> {
    delta.clear();
    delta.extend(current.iter().zip(x).map(|(a, b)| a - b));
    directions.add(delta, k, alpha, norm);
    norm.project_rows(delta, x.len().max(1), eps);
    let mut point: Vec<f32> = x
        .iter()
        .zip(delta.iter())
        .map(|(a, d)| (a + d).clamp(lo, hi))
        .collect();
    // Once more, as verify will: clip(x + (point − x)), projected.
    delta.clear();
    delta.extend(point.iter().zip(x).map(|(a, b)| a - b));
    norm.project_rows(delta, x.len().max(1), eps);
    for ((p, a), d) in point.iter_mut().zip(x).zip(delta.iter()) {
        *p = (a + d).clamp(lo, hi);
    }
    point
}

/// `log softmax(logits)[class]`, stable also when the class holds almost all the mass
/// (computed as `−log(1 + Σ_{j≠c} e^{z_j − z_c})` in f64).
fn log_softmax(logits: &[f32], class: usize) -> f64 {
    let zc = logits[class] as f64;
    let top = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != class)
        .map(|(_, &z)| z as f64 - zc)
        .fold(f64::NEG_INFINITY, f64::max);
    if top <= 0.0 {
        let s: f64 = logits
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != class)
            .map(|(_, &z)| (z as f64 - zc).exp())
            .sum();
        -s.ln_1p()
    } else {
        // log p_c = −(M + log Σ_j e^{d_j − M}), d_j = z_j − z_c (d_c = 0), M = max d_j > 0.
        let s: f64 = logits.iter().map(|&z| (z as f64 - zc - top).exp()).sum();
        -(top + s.ln())
    }
}

/// How a flat row is read: `c` planes of `h × w`, channels first (`[C, H, W]`; `[H, W]` is one
/// plane; any other shape is one `1 × D` plane).
#[derive(Debug, Clone, Copy)]
struct Planes {
    c: usize,
    h: usize,
    w: usize,
}

impl Planes {
    fn of(shape: &[usize], features: usize) -> Planes {
        match *shape {
            [c, h, w] if c * h * w == features && h > 0 && w > 0 => Planes { c, h, w },
            [h, w] if h * w == features && h > 0 && w > 0 => Planes { c: 1, h, w },
            _ => Planes {
                c: 1,
                h: 1,
                w: features.max(1),
            },
        }
    }
}

/// The basis directions of one layout and their search order.
struct Directions {
    basis: Basis,
    planes: Planes,
    features: usize,
    /// `dct_h[u·h + i]`: the `u`-th orthonormal DCT-II basis vector of length `h` at `i`.
    dct_h: Vec<f32>,
    dct_w: Vec<f32>,
    /// Peak magnitude of each 1-D basis vector (for the L∞ scaling).
    peak_h: Vec<f32>,
    peak_w: Vec<f32>,
    /// DCT coefficient indices grouped by frequency band, lowest first.
    bands: Vec<Vec<usize>>,
}

impl Directions {
    fn new(basis: Basis, shape: &[usize], features: usize) -> Directions {
        let planes = Planes::of(shape, features);
        let (dct_h, dct_w, peak_h, peak_w, bands) = if basis == Basis::Dct {
            let dct_h = dct_matrix(planes.h);
            let dct_w = dct_matrix(planes.w);
            let peak = |m: &[f32], len: usize| -> Vec<f32> {
                m.chunks(len.max(1))
                    .map(|row| row.iter().fold(0f32, |a, v| a.max(v.abs())))
                    .collect()
            };
            let peak_h = peak(&dct_h, planes.h);
            let peak_w = peak(&dct_w, planes.w);
            (dct_h, dct_w, peak_h, peak_w, frequency_bands(planes))
        } else {
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new())
        };
        Directions {
            basis,
            planes,
            features,
            dct_h,
            dct_w,
            peak_h,
            peak_w,
            bands,
        }
    }

    /// A fresh pass over the basis: a random permutation (pixel), or the bands lowest first,
    /// each in random order (DCT).
    fn order(&self, rng: &mut StdRng) -> Vec<usize> {
        match self.basis {
            Basis::Pixel => {
                let mut all: Vec<usize> = (0..self.features).collect();
                all.shuffle(rng);
                all
            }
            Basis::Dct => {
                let mut all = Vec::with_capacity(self.features);
                for band in &self.bands {
                    let mut b = band.clone();
                    b.shuffle(rng);
                    all.extend(b);
                }
                all
            }
        }
    }

    /// `delta += alpha · q_k`, with `q_k` of unit L2 norm, or of unit peak under L∞.
    fn add(&self, delta: &mut [f32], k: usize, alpha: f32, norm: Norm) {
        match self.basis {
            Basis::Pixel => delta[k] += alpha,
            Basis::Dct => {
                let Planes { h, w, .. } = self.planes;
                let ch = k / (h * w);
                let u = (k / w) % h;
                let v = k % w;
                let scale = if norm == Norm::Linf {
                    alpha / (self.peak_h[u] * self.peak_w[v])
                } else {
                    alpha
                };
                let row_h = &self.dct_h[u * h..(u + 1) * h];
                let row_w = &self.dct_w[v * w..(v + 1) * w];
                let plane = &mut delta[ch * h * w..(ch + 1) * h * w];
                for (i, a) in row_h.iter().enumerate() {
                    let s = scale * a;
                    for (d, b) in plane[i * w..(i + 1) * w].iter_mut().zip(row_w) {
                        *d += s * b;
                    }
                }
            }
        }
    }
}

/// The orthonormal DCT-II matrix of size `n`, row `u` = basis vector `u`:
/// `C[u, i] = s_u cos(π (2i + 1) u / 2n)`, `s_0 = √(1/n)`, `s_u = √(2/n)`.
fn dct_matrix(n: usize) -> Vec<f32> {
    let mut m = Vec::with_capacity(n * n);
    for u in 0..n {
        let s = if u == 0 {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        };
        for i in 0..n {
            let angle = std::f64::consts::PI * (2 * i + 1) as f64 * u as f64 / (2 * n) as f64;
            m.push((s * angle.cos()) as f32);
        }
    }
    m
}

/// Orthonormal 2-D DCT-II of each `h × w` plane of `values` (`c` planes, channels first).
pub fn dct2(values: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    transform2(values, c, h, w, false)
}

/// Orthonormal inverse 2-D DCT (DCT-III) of each `h × w` plane of `coefficients`: the
/// pixel-space image whose [`dct2`] is `coefficients`.
pub fn idct2(coefficients: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    transform2(coefficients, c, h, w, true)
}

/// Separable 2-D transform with the orthonormal DCT matrix `C`: `C X Cᵀ` (forward) or
/// `Cᵀ X C` (inverse), per plane, accumulated in f64.
fn transform2(values: &[f32], c: usize, h: usize, w: usize, inverse: bool) -> Vec<f32> {
    assert_eq!(
        values.len(),
        c * h * w,
        "dct: {} values for {c}×{h}×{w}",
        values.len()
    );
    let ch = dct_matrix(h);
    let cw = dct_matrix(w);
    // (a, b) entry of the 1-D transform: forward y_a = Σ_b C[a,b] x_b; inverse x_a = Σ_b C[b,a] y_b.
    let at = |m: &[f32], n: usize, a: usize, b: usize| -> f64 {
        if inverse {
            m[b * n + a] as f64
        } else {
            m[a * n + b] as f64
        }
    };
    let mut out = vec![0f32; values.len()];
    let mut tmp = vec![0f64; h * w];
    for p in 0..c {
        let plane = &values[p * h * w..(p + 1) * h * w];
        // Along rows (the w axis).
        for i in 0..h {
            for a in 0..w {
                tmp[i * w + a] = (0..w)
                    .map(|b| at(&cw, w, a, b) * plane[i * w + b] as f64)
                    .sum();
            }
        }
        // Along columns (the h axis).
        for a in 0..h {
            for j in 0..w {
                let v: f64 = (0..h).map(|b| at(&ch, h, a, b) * tmp[b * w + j]).sum();
                out[p * h * w + a * w + j] = v as f32;
            }
        }
    }
    out
}

/// DCT coefficient indices `(ch·h + u)·w + v` grouped by band: band 0 holds `u < r_h, v < r_w`
/// with `r = ⌈side/8⌉`; band `b` adds the frequencies below `r + b·s` (`s = ⌈r/4⌉`) per axis.
fn frequency_bands(planes: Planes) -> Vec<Vec<usize>> {
    let Planes { c, h, w } = planes;
    let first = |side: usize| side.div_ceil(8).max(1);
    let (rh, rw) = (first(h), first(w));
    let (sh, sw) = (rh.div_ceil(4).max(1), rw.div_ceil(4).max(1));
    // Band of a frequency along one axis: 0 inside the first square, then per stride.
    let band = |f: usize, r: usize, s: usize| if f < r { 0 } else { (f - r) / s + 1 };
    let mut bands: Vec<Vec<usize>> = Vec::new();
    for ch in 0..c {
        for u in 0..h {
            for v in 0..w {
                let b = band(u, rh, sh).max(band(v, rw, sw));
                if bands.len() <= b {
                    bands.resize(b + 1, Vec::new());
                }
                bands[b].push((ch * h + u) * w + v);
            }
        }
    }
    bands.retain(|b| !b.is_empty());
    bands
}

impl Attack for Simba {
    fn name(&self) -> &str {
        match self.basis {
            Basis::Pixel => "simba",
            Basis::Dct => "simba-dct",
        }
    }

    fn access(&self) -> Access {
        Access::Scores
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::L2, Norm::Linf]
    }

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        Ok(self.run_counted(input, rng)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn dct_is_orthonormal_and_inverts() {
        let mut rng = StdRng::seed_from_u64(0);
        let (c, h, w) = (2, 6, 5);
        let x: Vec<f32> = (0..c * h * w)
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect();
        let y = dct2(&x, c, h, w);
        let back = idct2(&y, c, h, w);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-5);
        }
        // Parseval: the transform keeps the L2 norm.
        let n = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((n(&x) - n(&y)).abs() < 1e-4);
        // The DC coefficient of a constant plane holds all of it.
        let ones = vec![1.0f32; h * w];
        let z = dct2(&ones, 1, h, w);
        assert!((z[0] - ((h * w) as f32).sqrt()).abs() < 1e-5);
        assert!(z[1..].iter().all(|v| v.abs() < 1e-5));
    }

    #[test]
    fn basis_directions_are_inverse_dcts_of_unit_coefficients() {
        let directions = Directions::new(Basis::Dct, &[2, 6, 5], 60);
        for k in [0, 7, 29, 30, 59] {
            let mut q = vec![0f32; 60];
            directions.add(&mut q, k, 1.0, Norm::L2);
            let mut unit = vec![0f32; 60];
            unit[k] = 1.0;
            let expected = idct2(&unit, 2, 6, 5);
            for (a, b) in q.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-5, "direction {k}");
            }
            let mut p = vec![0f32; 60];
            directions.add(&mut p, k, 0.3, Norm::Linf);
            let peak = p.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!((peak - 0.3).abs() < 1e-5, "L∞ step peaks at α");
        }
    }

    #[test]
    fn bands_go_from_low_to_high_frequencies() {
        let planes = Planes { c: 1, h: 28, w: 28 };
        let bands = frequency_bands(planes);
        // r = 4 (4×4 = 16 lowest), then bands of width 1: 24 more bands.
        assert_eq!(bands[0].len(), 16);
        assert_eq!(bands.len(), 25);
        assert_eq!(bands[1].len(), 2 * 4 + 1);
        assert_eq!(bands.iter().map(Vec::len).sum::<usize>(), 784);
        let max_freq = |b: &Vec<usize>| b.iter().map(|&k| (k / 28).max(k % 28)).max().unwrap();
        for pair in bands.windows(2) {
            assert!(max_freq(&pair[0]) < max_freq(&pair[1]));
        }
        // Three channels: every channel's low frequencies come first.
        let rgb = frequency_bands(Planes {
            c: 3,
            h: 224,
            w: 224,
        });
        assert_eq!(rgb[0].len(), 3 * 28 * 28);
        assert_eq!(rgb[1].len(), 3 * (35 * 35 - 28 * 28));
    }

    #[test]
    fn log_softmax_is_stable_and_exact() {
        let z = [2.0f32, 1.0, 0.5];
        let lse = (2f64.exp() + 1f64.exp() + 0.5f64.exp()).ln();
        for c in 0..3 {
            assert!((log_softmax(&z, c) - (z[c] as f64 - lse)).abs() < 1e-9);
        }
        // A confident class still gets a usable (non-zero) log-probability.
        let confident = [40.0f32, 0.0, 1.0];
        let lp = log_softmax(&confident, 0);
        assert!(lp < 0.0 && lp > -1e-15);
        let other = [40.0f32, 2.0, 0.0];
        assert!(log_softmax(&other, 0) < lp);
    }
}
