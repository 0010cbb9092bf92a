//! Vector loops compiled for the widest instructions the CPU has (AVX-512, else AVX2 + FMA,
//! else the baseline), chosen at run time. The crate is built for baseline x86-64, whose SSE2
//! loops are a quarter of AVX-512's width.

/// Which instruction set the loops run with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Level {
    Avx512,
    Avx2,
    Baseline,
}

/// The widest instruction set this CPU has, of those the kernels are compiled for.
pub(super) fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

#[inline(always)]
fn axpy_body<const FMA: bool>(dst: &mut [f32], a: f32, src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = if FMA { s.mul_add(a, *d) } else { *d + a * s };
    }
}

#[inline(always)]
fn dot_body<const FMA: bool>(x: &[f32], y: &[f32]) -> f32 {
    // Sixteen independent sums, so the loop vectorizes without reordering one sum.
    let mut acc = [0f32; 16];
    let (xc, xr) = x.as_chunks::<16>();
    let (yc, yr) = y.as_chunks::<16>();
    for (a, b) in xc.iter().zip(yc) {
        for l in 0..16 {
            acc[l] = if FMA {
                a[l].mul_add(b[l], acc[l])
            } else {
                acc[l] + a[l] * b[l]
            };
        }
    }
    let tail: f32 = xr.iter().zip(yr).map(|(a, b)| a * b).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn axpy_avx512(dst: &mut [f32], a: f32, src: &[f32]) {
    axpy_body::<true>(dst, a, src)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn axpy_avx2(dst: &mut [f32], a: f32, src: &[f32]) {
    axpy_body::<true>(dst, a, src)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn dot_avx512(x: &[f32], y: &[f32]) -> f32 {
    dot_body::<true>(x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(x: &[f32], y: &[f32]) -> f32 {
    dot_body::<true>(x, y)
}

/// `dst[i] += a · src[i]` over the shorter of the two.
pub fn axpy(dst: &mut [f32], a: f32, src: &[f32]) {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    match level() {
        // SAFETY: `level` found the instructions these functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { axpy_avx512(dst, a, src) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { axpy_avx2(dst, a, src) },
        _ => axpy_body::<false>(dst, a, src),
    }
}

/// `Σ x[i] · y[i]` over the shorter of the two.
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    match level() {
        // SAFETY: `level` found the instructions these functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { dot_avx512(x, y) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dot_avx2(x, y) },
        _ => dot_body::<false>(x, y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axpy_and_dot_match_plain_loops() {
        for n in [0, 1, 7, 16, 17, 100] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let y: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut d = y.clone();
            axpy(&mut d, 0.5, &x);
            for i in 0..n {
                assert!((d[i] - (y[i] + 0.5 * x[i])).abs() < 1e-6);
            }
            let want: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert!((dot(&x, &y) - want).abs() < 1e-4 * (1.0 + want.abs()));
        }
    }
}
