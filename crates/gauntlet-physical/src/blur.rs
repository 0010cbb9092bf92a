//! Gaussian blur of a picture (an out-of-focus camera), with weights renormalized at the
//! borders so edges do not darken, and its adjoint for the gradient.

/// The taps of a Gaussian of standard deviation `sigma` pixels, radius ⌈3σ⌉.
fn kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect()
}

/// One pass along lines of `len` values spaced `stride` apart, starting at each of `starts`.
/// `adjoint` applies the transpose of the renormalized blur.
fn pass(values: &mut [f32], starts: &[usize], len: usize, stride: usize, k: &[f32], adjoint: bool) {
    let radius = (k.len() / 2) as isize;
    let mut line = vec![0f32; len];
    let mut out = vec![0f32; len];
    let norm: Vec<f32> = (0..len as isize)
        .map(|i| {
            (-radius..=radius)
                .filter(|d| (0..len as isize).contains(&(i + d)))
                .map(|d| k[(d + radius) as usize])
                .sum()
        })
        .collect();
    for &start in starts {
        for (i, v) in line.iter_mut().enumerate() {
            *v = values[start + i * stride];
        }
        out.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..len as isize {
            for d in -radius..=radius {
                let j = i + d;
                if !(0..len as isize).contains(&j) {
                    continue;
                }
                let w = k[(d + radius) as usize];
                if adjoint {
                    // y_i = Σ_j k(i−j) x_j / Z_i  ⇒  x̄_j = Σ_i k(i−j) ȳ_i / Z_i.
                    out[j as usize] += w * line[i as usize] / norm[i as usize];
                } else {
                    out[i as usize] += w * line[j as usize] / norm[i as usize];
                }
            }
        }
        for (i, v) in out.iter().enumerate() {
            values[start + i * stride] = *v;
        }
    }
}

/// Blurs `planes` pictures of `height × width` (channels first) in place; `adjoint` applies
/// the transpose instead (for gradients). `sigma ≤ 0` leaves the values alone.
pub fn blur(
    values: &mut [f32],
    planes: usize,
    height: usize,
    width: usize,
    sigma: f32,
    adjoint: bool,
) {
    if sigma <= 0.0 {
        return;
    }
    let k = kernel(sigma);
    let rows: Vec<usize> = (0..planes * height).map(|r| r * width).collect();
    let cols: Vec<usize> = (0..planes)
        .flat_map(|p| (0..width).map(move |x| p * height * width + x))
        .collect();
    // Rows then columns; the adjoint runs the transposed passes in reverse order.
    if adjoint {
        pass(values, &cols, height, width, &k, true);
        pass(values, &rows, width, 1, &k, true);
    } else {
        pass(values, &rows, width, 1, &k, false);
        pass(values, &cols, height, width, &k, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_pictures_stay_constant_and_the_adjoint_is_the_transpose() {
        let (planes, h, w) = (2, 5, 7);
        let n = planes * h * w;
        let mut flat = vec![0.3f32; n];
        blur(&mut flat, planes, h, w, 1.2, false);
        assert!(flat.iter().all(|v| (v - 0.3).abs() < 1e-6));
        // <B x, y> = <x, Bᵀ y> for arbitrary x, y.
        let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32) / 11.0).collect();
        let y: Vec<f32> = (0..n).map(|i| ((i * 53 % 7) as f32) / 7.0 - 0.4).collect();
        let (mut bx, mut bty) = (x.clone(), y.clone());
        blur(&mut bx, planes, h, w, 0.9, false);
        blur(&mut bty, planes, h, w, 0.9, true);
        let left: f32 = bx.iter().zip(&y).map(|(a, b)| a * b).sum();
        let right: f32 = x.iter().zip(&bty).map(|(a, b)| a * b).sum();
        assert!((left - right).abs() < 1e-4, "{left} vs {right}");
        // A point spreads out.
        let mut point = vec![0f32; h * w];
        point[2 * w + 3] = 1.0;
        blur(&mut point, 1, h, w, 1.0, false);
        assert!(point[2 * w + 3] < 0.5 && point[2 * w + 4] > 0.05);
    }
}
