//! Printable colours (Sharif et al., "Accessorize to a crime", CCS 2016): a printer reproduces
//! only some colours, so a patch meant to be printed is pulled toward a palette while it is
//! made — the non-printability score — and snapped onto it at the end.
//!
//! ```text
//! NPS(p) = mean over opaque pixels x of  (Π_{c ∈ palette} ‖p(x) − c‖)^(1/K)
//! ```
//!
//! Sharif et al.'s product, taken to the power 1/K (K colours): the same zeros and the same
//! ordering, but a geometric mean of distances whose size does not vanish with K, so one
//! weight suits any palette.

use std::path::Path;

use gauntlet_core::{Error, Result};

/// Colours a printer can reproduce, in the model's channels and valid box.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    /// Values per colour (the model's channels).
    pub channels: usize,
    /// Colours, `channels` values each.
    pub colours: Vec<Vec<f32>>,
    /// Where it came from, for the report.
    pub source: String,
}

/// ITU-R BT.601 luma, for grey models.
fn luma(rgb: [f32; 3]) -> f32 {
    0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
}

impl Palette {
    /// The default: the 27 colours of a three-level RGB cube (0, ½, 1 of the range per
    /// channel) — a coarse stand-in for a real printer; measure yours (print colour swatches,
    /// photograph them) and pass the colours as a file.
    pub fn default_cube(channels: usize, bounds: (f32, f32)) -> Result<Palette> {
        let levels = [0.0, 0.5, 1.0];
        let mut rgb = Vec::new();
        for r in levels {
            for g in levels {
                for b in levels {
                    rgb.push([r, g, b]);
                }
            }
        }
        Palette::from_rgb(
            &rgb,
            channels,
            bounds,
            "default (27 colours: a 3-level RGB cube)",
        )
    }

    /// Reads `r g b` lines (0–255, separated by spaces or commas; `#` starts a comment).
    pub fn from_file(path: &Path, channels: usize, bounds: (f32, f32)) -> Result<Palette> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut rgb = Vec::new();
        for (k, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let values: Vec<f32> = line
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<f32>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad_line(path, k, line))?;
            let [r, g, b] = values[..] else {
                return Err(bad_line(path, k, line));
            };
            if [r, g, b].iter().any(|v| !(0.0..=255.0).contains(v)) {
                return Err(bad_line(path, k, line));
            }
            rgb.push([r / 255.0, g / 255.0, b / 255.0]);
        }
        Palette::from_rgb(&rgb, channels, bounds, &path.display().to_string())
    }

    /// Colours in [0, 1] RGB → the model's channels (grey: luma) and box; duplicates dropped.
    fn from_rgb(
        rgb: &[[f32; 3]],
        channels: usize,
        bounds: (f32, f32),
        source: &str,
    ) -> Result<Palette> {
        if channels != 1 && channels != 3 {
            return Err(Error::Parameter(format!(
                "a palette needs grey (1 channel) or colour (3 channels) pictures; the model reads \
                 {channels} channels"
            )));
        }
        let scale = |v: f32| bounds.0 + v * (bounds.1 - bounds.0);
        let mut colours: Vec<Vec<f32>> = Vec::new();
        for c in rgb {
            let colour: Vec<f32> = if channels == 1 {
                vec![scale(luma(*c))]
            } else {
                c.iter().map(|&v| scale(v)).collect()
            };
            if !colours
                .iter()
                .any(|k| k.iter().zip(&colour).all(|(a, b)| (a - b).abs() < 1e-6))
            {
                colours.push(colour);
            }
        }
        if colours.is_empty() {
            return Err(Error::Data(format!(
                "the palette {source} holds no colour; give lines of 'r g b' (0–255)"
            )));
        }
        Ok(Palette {
            channels,
            colours,
            source: source.to_string(),
        })
    }

    /// The patch (`[C, h, w]`) with every pixel replaced by its nearest colour.
    pub fn snap(&self, patch: &[f32]) -> Vec<f32> {
        let plane = patch.len() / self.channels;
        let mut out = patch.to_vec();
        for x in 0..plane {
            let pixel: Vec<f32> = (0..self.channels).map(|c| patch[c * plane + x]).collect();
            let nearest = self
                .colours
                .iter()
                .min_by(|a, b| distance2(a, &pixel).total_cmp(&distance2(b, &pixel)))
                .expect("a palette has colours");
            for c in 0..self.channels {
                out[c * plane + x] = nearest[c];
            }
        }
        out
    }

    /// The non-printability score over the opaque pixels, and its gradient.
    pub fn score(&self, patch: &[f32], opacity: &[f32]) -> (f32, Vec<f32>) {
        let plane = opacity.len();
        let mut grad = vec![0f32; patch.len()];
        let opaque = opacity.iter().filter(|&&a| a > 0.5).count().max(1) as f32;
        let mut total = 0f32;
        for x in (0..plane).filter(|&x| opacity[x] > 0.5) {
            let pixel: Vec<f32> = (0..self.channels).map(|c| patch[c * plane + x]).collect();
            let d: Vec<f32> = self
                .colours
                .iter()
                .map(|k| distance2(k, &pixel).sqrt().max(1e-6))
                .collect();
            let k = d.len() as f32;
            let mean = (d.iter().map(|v| v.ln()).sum::<f32>() / k).exp();
            total += mean;
            // ∂G/∂p = G / K · Σ_k (p − c_k) / d_k².
            for c in 0..self.channels {
                let sum: f32 = self
                    .colours
                    .iter()
                    .zip(&d)
                    .map(|(colour, dk)| (pixel[c] - colour[c]) / (dk * dk))
                    .sum();
                grad[c * plane + x] = mean / k * sum / opaque;
            }
        }
        (total / opaque, grad)
    }
}

fn distance2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn bad_line(path: &Path, k: usize, line: &str) -> Error {
    Error::Data(format!(
        "palette {} line {}: '{line}' is not a colour; write one 'r g b' per line, each 0–255",
        path.display(),
        k + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapping_picks_the_nearest_colour_and_is_idempotent() {
        let palette = Palette::default_cube(3, (0.0, 1.0)).unwrap();
        assert_eq!(palette.colours.len(), 27);
        // Two pixels of a 1 × 2 patch, channels first.
        let patch = [0.1, 0.8, 0.45, 0.3, 0.9, 0.2];
        let snapped = palette.snap(&patch);
        assert_eq!(snapped, vec![0.0, 1.0, 0.5, 0.5, 1.0, 0.0]);
        assert_eq!(palette.snap(&snapped), snapped);
        // Grey models see the cube's distinct lumas.
        let grey = Palette::default_cube(1, (0.0, 1.0)).unwrap();
        assert!(grey.colours.len() > 3 && grey.colours.iter().all(|c| c.len() == 1));
    }

    #[test]
    fn the_score_is_zero_on_the_palette_and_its_gradient_is_exact() {
        let palette = Palette::from_rgb(
            &[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]],
            3,
            (0.0, 1.0),
            "t",
        )
        .unwrap();
        let opacity = [1.0, 1.0, 0.0];
        let on = [1.0, 0.0, 0.3, 0.0, 0.0, 0.3, 0.0, 0.0, 0.3];
        let patch = [0.3, 0.6, 0.5, 0.2, 0.7, 0.5, 0.4, 0.1, 0.5];
        let (off, grad) = palette.score(&patch, &opacity);
        // On the palette one distance is (clamped) zero, so the geometric mean nearly is too.
        let on_score = palette.score(&on, &opacity).0;
        assert!(on_score < 0.02 && off > 0.3, "{on_score} vs {off}");
        for k in 0..patch.len() {
            let h = 1e-3;
            let (mut up, mut down) = (patch, patch);
            up[k] += h;
            down[k] -= h;
            let fd =
                (palette.score(&up, &opacity).0 - palette.score(&down, &opacity).0) / (2.0 * h);
            assert!((fd - grad[k]).abs() < 2e-3, "{k}: {fd} vs {}", grad[k]);
        }
        // The transparent pixel (index 2 of each plane) has no say.
        assert!(grad[2] == 0.0 && grad[5] == 0.0 && grad[8] == 0.0);
    }

    #[test]
    fn a_palette_file_is_read_and_bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("gauntlet-palette-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("printer.txt");
        std::fs::write(&good, "# measured\n255 255 255\n0,0,0\n200 30 40 # red\n").unwrap();
        let p = Palette::from_file(&good, 3, (0.0, 1.0)).unwrap();
        assert_eq!(p.colours.len(), 3);
        assert!((p.colours[2][0] - 200.0 / 255.0).abs() < 1e-6);
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "255 255\n").unwrap();
        let err = Palette::from_file(&bad, 3, (0.0, 1.0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("'r g b'"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
