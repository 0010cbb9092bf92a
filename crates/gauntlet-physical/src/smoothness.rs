//! Total variation (Sharif et al. 2016, after Mahendran & Vedaldi): a printed patch is seen
//! through a camera's blur and a printer's dot spread, so fine pixel-to-pixel noise does not
//! survive; penalizing it keeps the patch smooth.
//!
//! ```text
//! TV(p) = mean over neighbouring opaque pixel pairs of  √((p(x) − p(x'))² + δ)
//! ```

/// Keeps the square root differentiable where neighbours are equal.
const DELTA: f32 = 1e-4;

/// The total variation of a `[C, h, w]` patch over pairs of opaque neighbours (right and
/// down), and its gradient.
pub fn total_variation(
    patch: &[f32],
    opacity: &[f32],
    height: usize,
    width: usize,
) -> (f32, Vec<f32>) {
    let plane = height * width;
    let channels = patch.len() / plane;
    let mut grad = vec![0f32; patch.len()];
    let mut pairs = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let here = y * width + x;
            if opacity[here] <= 0.5 {
                continue;
            }
            if x + 1 < width && opacity[here + 1] > 0.5 {
                pairs.push((here, here + 1));
            }
            if y + 1 < height && opacity[here + width] > 0.5 {
                pairs.push((here, here + width));
            }
        }
    }
    let count = (pairs.len() * channels).max(1) as f32;
    let mut total = 0f32;
    for c in 0..channels {
        let base = c * plane;
        for &(a, b) in &pairs {
            let d = patch[base + a] - patch[base + b];
            let r = (d * d + DELTA).sqrt();
            total += r;
            grad[base + a] += d / r / count;
            grad[base + b] -= d / r / count;
        }
    }
    (total / count, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_patches_are_smooth_and_the_gradient_is_exact() {
        let opacity = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0];
        let flat = [0.4; 12];
        let noisy = [0.1, 0.9, 0.2, 0.8, 0.3, 0.5, 0.6, 0.1, 0.7, 0.2, 0.9, 0.0];
        let (smooth, _) = total_variation(&flat, &opacity, 2, 3);
        let (rough, grad) = total_variation(&noisy, &opacity, 2, 3);
        assert!(smooth < 0.011 && rough > 0.3, "{smooth} {rough}");
        for k in 0..noisy.len() {
            let h = 1e-3;
            let (mut up, mut down) = (noisy, noisy);
            up[k] += h;
            down[k] -= h;
            let fd = (total_variation(&up, &opacity, 2, 3).0
                - total_variation(&down, &opacity, 2, 3).0)
                / (2.0 * h);
            assert!((fd - grad[k]).abs() < 1e-3, "{k}: {fd} vs {}", grad[k]);
        }
        // The transparent corner is in no pair.
        assert_eq!(grad[5], 0.0);
        assert_eq!(grad[11], 0.0);
    }
}
