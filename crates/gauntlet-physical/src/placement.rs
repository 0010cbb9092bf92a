//! One patch stuck on one picture under one drawn condition: which pixels it covers, how
//! much (soft edges), and which patch pixels each one samples — then the patched picture, and
//! the gradient of anything computed from it back onto the patch.
//!
//! The patched picture is linear in the lit patch, so its backward pass is exact:
//!
//! ```text
//! out(p) = blur[(1 − α(p)) · x(p) + Σₖ wₖ(p) · lit(patch[k])]      α(p) = Σₖ wₖ(p)
//! lit(v) = clip(mid + contrast · (v − mid) + brightness · range)
//! ```
//!
//! where the taps `wₖ(p)` are the bilinear weights (times the footprint's opacity) of the patch
//! pixels around the point the projective map sends `p` to.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::blur::blur;
use crate::eot::Condition;
use crate::homography::Homography;
use crate::shape::Footprint;

/// The pictures' geometry and valid box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Canvas {
    /// Channels (1 grey, 3 colour).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// The valid box of every value (e.g. 0..1).
    pub bounds: (f32, f32),
}

impl Canvas {
    /// Values per picture.
    pub fn features(&self) -> usize {
        self.channels * self.height * self.width
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }
}

/// A picture pixel the patch covers.
#[derive(Debug, Clone, Copy)]
struct Covered {
    /// Index in one plane of the picture.
    pixel: u32,
    /// Up to four (index in one plane of the patch, weight) taps.
    taps: [(u32, f32); 4],
    count: u8,
}

impl Covered {
    fn taps(&self) -> &[(u32, f32)] {
        &self.taps[..self.count as usize]
    }

    fn alpha(&self) -> f32 {
        self.taps().iter().map(|t| t.1).sum()
    }
}

/// Where and how the patch lands on one picture.
#[derive(Debug, Clone)]
pub struct Placement {
    covered: Vec<Covered>,
    brightness: f32,
    contrast: f32,
    blur: f32,
    /// Share of the patch (by coverage) that lies inside the allowed region (1 without one).
    pub inside: f32,
}

/// Candidate positions tried before settling for the one most inside the region.
const POSITION_TRIES: usize = 32;

impl Placement {
    /// Places `footprint` (patch pixels at `base_scale` picture pixels each before the drawn
    /// scale) on a picture of `canvas` under `condition`. With a `region` (one flag per pixel),
    /// the patch goes where it lies wholly inside it — the sign, not the sky — or, when no
    /// tried position manages that, where most of it does.
    pub fn new(
        footprint: &Footprint,
        canvas: &Canvas,
        condition: &Condition,
        base_scale: f32,
        region: Option<&[bool]>,
    ) -> Placement {
        let (w, h) = (footprint.width as f64, footprint.height as f64);
        let scale = f64::from(condition.scale * base_scale);
        let (sin, cos) = f64::from(condition.angle).sin_cos();
        let source = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
        // The corners relative to the patch's centre, after perspective, scale and rotation.
        let offsets: Vec<(f64, f64)> = source
            .iter()
            .zip(condition.corners)
            .map(|(&(x, y), (dx, dy))| {
                let x = (x - w / 2.0 + f64::from(dx) * w) * scale;
                let y = (y - h / 2.0 + f64::from(dy) * h) * scale;
                (cos * x - sin * y, sin * x + cos * y)
            })
            .collect();
        let min_x = offsets.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let max_x = offsets
            .iter()
            .map(|p| p.0)
            .fold(f64::NEG_INFINITY, f64::max);
        let min_y = offsets.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max_y = offsets
            .iter()
            .map(|p| p.1)
            .fold(f64::NEG_INFINITY, f64::max);
        let (cw, ch) = (canvas.width as f64, canvas.height as f64);
        // Centres that keep the whole patch on the picture (the middle when it is too big).
        let span =
            |lo: f64, hi: f64, middle: f64| if lo <= hi { (lo, hi) } else { (middle, middle) };
        let x_range = span(-min_x, cw - max_x, cw / 2.0);
        let y_range = span(-min_y, ch - max_y, ch / 2.0);
        let middle = region
            .and_then(|r| region_middle(r, canvas))
            .unwrap_or((cw / 2.0, ch / 2.0));
        let at = |u: f64, v: f64| {
            (
                x_range.0 + u * (x_range.1 - x_range.0),
                y_range.0 + v * (y_range.1 - y_range.0),
            )
        };
        let mut candidates: Vec<(f64, f64)> = Vec::new();
        match condition.position {
            None => candidates.push((
                middle.0.clamp(x_range.0, x_range.1),
                middle.1.clamp(y_range.0, y_range.1),
            )),
            Some((u, v)) => {
                candidates.push(at(f64::from(u), f64::from(v)));
                if region.is_some() {
                    let seed = (u64::from(u.to_bits()) << 32) | u64::from(v.to_bits());
                    let mut rng = StdRng::seed_from_u64(seed);
                    candidates.extend((1..POSITION_TRIES).map(|_| at(rng.gen(), rng.gen())));
                }
            }
        }
        let mut best: Option<Placement> = None;
        for (cx, cy) in candidates {
            let dest: Vec<(f64, f64)> = offsets.iter().map(|&(x, y)| (x + cx, y + cy)).collect();
            let placement = Placement {
                covered: cover(footprint, canvas, &source, &dest),
                brightness: condition.brightness * (canvas.bounds.1 - canvas.bounds.0),
                contrast: condition.contrast,
                blur: condition.blur,
                inside: 1.0,
            };
            let placement = match region {
                None => return placement,
                Some(r) => placement.measured_inside(r),
            };
            if placement.inside >= 0.999 {
                return placement;
            }
            if best.as_ref().is_none_or(|b| placement.inside > b.inside) {
                best = Some(placement);
            }
        }
        best.expect("at least one candidate position")
    }

    fn measured_inside(mut self, region: &[bool]) -> Placement {
        let total: f32 = self.covered.iter().map(Covered::alpha).sum();
        let inside: f32 = self
            .covered
            .iter()
            .filter(|c| region[c.pixel as usize])
            .map(Covered::alpha)
            .sum();
        self.inside = if total > 0.0 { inside / total } else { 0.0 };
        self
    }

    /// Picture pixels the patch covers at least partly.
    pub fn covered_pixels(&self) -> usize {
        self.covered.len()
    }

    /// The patch's coverage in pixels (soft edges count partly).
    pub fn coverage(&self) -> f32 {
        self.covered.iter().map(Covered::alpha).sum()
    }

    fn lit(&self, v: f32, canvas: &Canvas) -> (f32, bool) {
        let (lo, hi) = canvas.bounds;
        let mid = 0.5 * (lo + hi);
        let raw = mid + self.contrast * (v - mid) + self.brightness;
        (raw.clamp(lo, hi), raw > lo && raw < hi)
    }

    /// The picture with the patch on it (`patch` is `[C, h, w]` of the footprint).
    pub fn apply(&self, picture: &[f32], patch: &[f32], canvas: &Canvas) -> Vec<f32> {
        let mut out = picture.to_vec();
        let (plane, patch_plane) = (canvas.plane(), patch.len() / canvas.channels);
        for c in 0..canvas.channels {
            let (dst, src) = (c * plane, c * patch_plane);
            for cov in &self.covered {
                let p = dst + cov.pixel as usize;
                let mut value = (1.0 - cov.alpha()) * picture[p];
                for &(k, w) in cov.taps() {
                    value += w * self.lit(patch[src + k as usize], canvas).0;
                }
                out[p] = value;
            }
        }
        blur(
            &mut out,
            canvas.channels,
            canvas.height,
            canvas.width,
            self.blur,
            false,
        );
        out
    }

    /// Adds the gradient of a function of the patched picture (given as its gradient with
    /// respect to that picture) to `patch_grad`, the gradient with respect to the patch.
    pub fn backward(&self, grad: &[f32], patch: &[f32], canvas: &Canvas, patch_grad: &mut [f32]) {
        let mut g = grad.to_vec();
        blur(
            &mut g,
            canvas.channels,
            canvas.height,
            canvas.width,
            self.blur,
            true,
        );
        let (plane, patch_plane) = (canvas.plane(), patch.len() / canvas.channels);
        for c in 0..canvas.channels {
            let (dst, src) = (c * plane, c * patch_plane);
            for cov in &self.covered {
                let gp = g[dst + cov.pixel as usize];
                if gp == 0.0 {
                    continue;
                }
                for &(k, w) in cov.taps() {
                    let i = src + k as usize;
                    if self.lit(patch[i], canvas).1 {
                        patch_grad[i] += gp * w * self.contrast;
                    }
                }
            }
        }
    }
}

/// The centre of the region's bounding box.
fn region_middle(region: &[bool], canvas: &Canvas) -> Option<(f64, f64)> {
    let on: Vec<usize> = (0..region.len()).filter(|&i| region[i]).collect();
    let xs = on.iter().map(|i| i % canvas.width);
    let ys = on.iter().map(|i| i / canvas.width);
    let (x0, x1) = (xs.clone().min()?, xs.max()?);
    let (y0, y1) = (ys.clone().min()?, ys.max()?);
    Some(((x0 + x1 + 1) as f64 / 2.0, (y0 + y1 + 1) as f64 / 2.0))
}

/// The taps of every picture pixel inside the patch's outline `dest` (picture coordinates of
/// the footprint's corners `source`).
fn cover(
    footprint: &Footprint,
    canvas: &Canvas,
    source: &[(f64, f64); 4],
    dest: &[(f64, f64)],
) -> Vec<Covered> {
    let to = [dest[0], dest[1], dest[2], dest[3]];
    let Some(back) = Homography::from_points(to, *source) else {
        return Vec::new();
    };
    let x0 = dest
        .iter()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as usize;
    let y0 = dest
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as usize;
    let x1 = (dest
        .iter()
        .map(|p| p.0)
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil() as usize)
        .min(canvas.width);
    let y1 = (dest
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil() as usize)
        .min(canvas.height);
    let (fw, fh) = (footprint.width as i64, footprint.height as i64);
    let mut out = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            // Pixel centres in both frames; bilinear taps around the source point.
            let (u, v) = back.apply(x as f64 + 0.5, y as f64 + 0.5);
            // Snapped to the grid within rounding, so an aligned patch copies pixels exactly.
            let snap = |t: f64| {
                if (t - t.round()).abs() < 1e-6 {
                    t.round()
                } else {
                    t
                }
            };
            let (u, v) = (snap(u - 0.5), snap(v - 0.5));
            let (j0, i0) = (u.floor() as i64, v.floor() as i64);
            let (fx, fy) = ((u - j0 as f64) as f32, (v - i0 as f64) as f32);
            let mut covered = Covered {
                pixel: (y * canvas.width + x) as u32,
                taps: [(0, 0.0); 4],
                count: 0,
            };
            for (di, dj, w) in [
                (0, 0, (1.0 - fx) * (1.0 - fy)),
                (0, 1, fx * (1.0 - fy)),
                (1, 0, (1.0 - fx) * fy),
                (1, 1, fx * fy),
            ] {
                let (i, j) = (i0 + di, j0 + dj);
                if i < 0 || j < 0 || i >= fh || j >= fw {
                    continue;
                }
                let k = (i * fw + j) as usize;
                let w = w * footprint.opacity[k];
                if w > 0.0 {
                    covered.taps[covered.count as usize] = (k as u32, w);
                    covered.count += 1;
                }
            }
            if covered.count > 0 {
                out.push(covered);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::eot::Eot;
    use crate::shape::Shape;

    fn canvas() -> Canvas {
        Canvas {
            channels: 2,
            height: 12,
            width: 10,
            bounds: (0.0, 1.0),
        }
    }

    #[test]
    fn upright_at_scale_one_the_patch_replaces_exactly_its_pixels() {
        let canvas = canvas();
        let footprint = Shape::Square.footprint(16.0).unwrap();
        let condition = Eot::none().draw(&mut StdRng::seed_from_u64(0));
        let placement = Placement::new(&footprint, &canvas, &condition, 1.0, None);
        assert_eq!(placement.covered_pixels(), 16);
        let picture = vec![0.25f32; canvas.features()];
        let patch: Vec<f32> = (0..2 * 16).map(|k| k as f32 / 32.0).collect();
        let out = placement.apply(&picture, &patch, &canvas);
        // The 4 × 4 patch sits in the middle: rows 4..8, columns 3..7.
        for c in 0..2 {
            for y in 0..12 {
                for x in 0..10 {
                    let v = out[c * 120 + y * 10 + x];
                    if (4..8).contains(&y) && (3..7).contains(&x) {
                        assert_eq!(v, patch[c * 16 + (y - 4) * 4 + (x - 3)]);
                    } else {
                        assert_eq!(v, 0.25);
                    }
                }
            }
        }
    }

    /// The backward pass is the exact gradient: a linear function of the patched picture,
    /// differentiated with respect to the patch, against central differences.
    #[test]
    fn backward_matches_finite_differences_under_every_transformation() {
        let canvas = canvas();
        let footprint = Shape::Circle.footprint(20.0).unwrap();
        let eot = Eot::parse(
            "rotate=30,scale=0.8:1.3,translate,brightness=0.1,contrast=0.3,blur=1,perspective=0.2",
        )
        .unwrap();
        let picture: Vec<f32> = (0..canvas.features())
            .map(|k| (k % 7) as f32 / 7.0)
            .collect();
        let pf = 2 * footprint.height * footprint.width;
        // Mid-range values so that no pixel sits on the clipping edge.
        let patch: Vec<f32> = (0..pf)
            .map(|k| 0.3 + 0.4 * ((k * 13 % 17) as f32 / 17.0))
            .collect();
        let weights: Vec<f32> = (0..canvas.features())
            .map(|k| ((k * 29 % 23) as f32 - 11.0) / 23.0)
            .collect();
        let objective = |p: &[f32], placement: &Placement| -> f64 {
            let out = placement.apply(&picture, p, &canvas);
            out.iter()
                .zip(&weights)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum()
        };
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..5 {
            let condition = eot.draw(&mut rng);
            let placement = Placement::new(&footprint, &canvas, &condition, 1.0, None);
            let mut grad = vec![0f32; pf];
            placement.backward(&weights, &patch, &canvas, &mut grad);
            let h = 1e-2f32;
            for k in (0..pf).step_by(3) {
                let (mut up, mut down) = (patch.clone(), patch.clone());
                up[k] += h;
                down[k] -= h;
                let fd = (objective(&up, &placement) - objective(&down, &placement))
                    / (2.0 * f64::from(h));
                assert!(
                    (fd - f64::from(grad[k])).abs() < 1e-3,
                    "{k}: {fd} vs {}",
                    grad[k]
                );
            }
        }
    }

    #[test]
    fn the_patch_stays_on_the_picture_and_inside_the_region() {
        let canvas = canvas();
        let footprint = Shape::Square.footprint(9.0).unwrap();
        // The allowed region: columns 5..10, rows 2..10.
        let region: Vec<bool> = (0..120)
            .map(|i| (5..10).contains(&(i % 10)) && (2..10).contains(&(i / 10)))
            .collect();
        let eot = Eot::parse("rotate=20,scale=0.8:1,translate").unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..50 {
            let condition = eot.draw(&mut rng);
            let free = Placement::new(&footprint, &canvas, &condition, 1.0, None);
            // Near scale 1 the whole patch lands on the picture.
            assert!((free.coverage() - 9.0 * condition.scale * condition.scale).abs() < 0.6);
            let placed = Placement::new(&footprint, &canvas, &condition, 1.0, Some(&region));
            assert!(placed.inside >= 0.999, "{}", placed.inside);
            assert!(placed
                .covered
                .iter()
                .filter(|c| c.alpha() > 0.01)
                .all(|c| region[c.pixel as usize]));
        }
    }
}
