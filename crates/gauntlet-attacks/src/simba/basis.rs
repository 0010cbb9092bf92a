//! SimBA's search bases: the standard (pixel) basis and the orthonormal 2-D DCT basis of each
//! channel's plane, low frequencies first, with the DCT transforms themselves.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use gauntlet_core::threat::Norm;

use crate::planes::Planes;

/// The orthonormal basis SimBA searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Standard basis: one feature per direction.
    Pixel,
    /// 2-D DCT basis per channel, low frequencies first.
    Dct,
}

/// The basis directions of one layout and their search order.
pub(super) struct Directions {
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
    pub(super) fn new(basis: Basis, shape: &[usize], features: usize) -> Directions {
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
    pub(super) fn order(&self, rng: &mut StdRng) -> Vec<usize> {
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
    pub(super) fn add(&self, delta: &mut [f32], k: usize, alpha: f32, norm: Norm) {
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
}
