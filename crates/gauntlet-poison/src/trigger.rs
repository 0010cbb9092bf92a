//! BadNets triggers (Gu et al. 2017): a small pixel pattern or any image stamped at a fixed
//! position of every poisoned input.
//!
//! Specs, as the `--trigger` flag takes them:
//!
//! - `corner:SIZE[@tl|tr|bl|br]`: a SIZE×SIZE checkerboard (bright top-left cell) flush with a
//!   corner, bottom-right by default — Gu et al.'s MNIST pattern backdoor; `corner:1` is their
//!   single-pixel backdoor;
//! - `square:SIZE[@POSITION]`: a solid bright SIZE×SIZE square;
//! - `pattern:SIZE@X,Y`: the checkerboard with its top-left pixel at column X, row Y;
//! - `FILE.png[@POSITION]`: any PNG pasted at the position (bottom-right by default) without
//!   resizing; its alpha channel blends it in (opaque pixels replace the input's).
//!
//! The trigger lives in the data's own units and layout: samples are channels first
//! (`C×H×W`, any `C`, or `H×W`); bright and dark are the valid box's ends, a PNG's 0–255 maps
//! onto the box, and every stamped value is clipped into the box.

use std::path::Path;

use serde::{Deserialize, Serialize};

use gauntlet_core::threat::Bounds;
use gauntlet_core::{Error, Result};

/// A trigger fitted to one image geometry: where it goes, its values and its opacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The spec it was built from (`corner:4`, `logo.png@tl`, …).
    pub spec: String,
    /// Shape of the samples it applies to (`[C, H, W]`).
    pub sample_shape: Vec<usize>,
    /// Column of its top-left pixel.
    pub x: usize,
    /// Row of its top-left pixel.
    pub y: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Stamped values, `C × height × width`, in input units.
    pub values: Vec<f32>,
    /// Opacity per pixel (`height × width`, 0–1): 0 leaves the input's pixel untouched.
    pub alpha: Vec<f32>,
    /// The valid box values are clipped to.
    pub bounds: Bounds,
}

/// Channels, height and width of channels-first image samples.
pub fn image_geometry(sample_shape: &[usize]) -> Result<(usize, usize, usize)> {
    match *sample_shape {
        [c, h, w] if c >= 1 && h >= 1 && w >= 1 => Ok((c, h, w)),
        [h, w] if h >= 1 && w >= 1 => Ok((1, h, w)),
        _ => Err(Error::Data(format!(
            "samples have shape {sample_shape:?}, but a trigger needs images: give inputs of \
             shape N×C×H×W (channels first) or N×H×W"
        ))),
    }
}

/// Where a trigger goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Position {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
    At(usize, usize),
}

impl Position {
    fn parse(text: &str) -> Result<Position> {
        Ok(match text {
            "tl" => Position::TopLeft,
            "tr" => Position::TopRight,
            "bl" => Position::BottomLeft,
            "br" => Position::BottomRight,
            other => {
                let parts: Vec<&str> = other.split(',').collect();
                match parts.as_slice() {
                    [x, y] => match (x.trim().parse(), y.trim().parse()) {
                        (Ok(x), Ok(y)) => Position::At(x, y),
                        _ => return Err(bad_position(other)),
                    },
                    _ => return Err(bad_position(other)),
                }
            }
        })
    }

    /// Top-left pixel (column, row) of a `tw × th` trigger in a `w × h` image.
    fn origin(self, tw: usize, th: usize, w: usize, h: usize) -> (usize, usize) {
        let right = w.saturating_sub(tw);
        let bottom = h.saturating_sub(th);
        match self {
            Position::TopLeft => (0, 0),
            Position::TopRight => (right, 0),
            Position::BottomLeft => (0, bottom),
            Position::BottomRight => (right, bottom),
            Position::At(x, y) => (x, y),
        }
    }
}

fn bad_position(text: &str) -> Error {
    Error::Parameter(format!(
        "trigger position '{text}' is not tl, tr, bl, br or X,Y (column, row of the top-left \
         pixel, e.g. @20,20)"
    ))
}

fn bad_spec(spec: &str) -> Error {
    Error::Parameter(format!(
        "--trigger '{spec}' is not a trigger; use corner:SIZE[@tl|tr|bl|br] (e.g. corner:4), \
         square:SIZE[@POSITION], pattern:SIZE@X,Y, or FILE.png[@POSITION]"
    ))
}

impl Trigger {
    /// Builds the trigger `spec` for samples of `sample_shape` in the valid box `bounds`.
    pub fn parse(spec: &str, sample_shape: &[usize], bounds: Bounds) -> Result<Trigger> {
        let (c, h, w) = image_geometry(sample_shape)?;
        if !(bounds.min.is_finite() && bounds.max.is_finite() && bounds.min < bounds.max) {
            return Err(Error::Parameter(format!(
                "the valid box [{}, {}] must have finite ends, min < max",
                bounds.min, bounds.max
            )));
        }
        let (body, position) = match spec.rsplit_once('@') {
            Some((body, pos)) => (body, Some(Position::parse(pos)?)),
            None => (spec, None),
        };
        let pattern = |size_text: &str, checker: bool| -> Result<(usize, Vec<f32>)> {
            let size: usize = size_text.trim().parse().map_err(|_| bad_spec(spec))?;
            if size == 0 {
                return Err(Error::Parameter(format!(
                    "--trigger '{spec}': the size must be at least 1 pixel"
                )));
            }
            let cell = |r: usize, col: usize| {
                if !checker || (r + col).is_multiple_of(2) {
                    bounds.max
                } else {
                    bounds.min
                }
            };
            let plane: Vec<f32> = (0..size * size).map(|i| cell(i / size, i % size)).collect();
            Ok((size, plane.repeat(c)))
        };
        let (tw, th, values, alpha, position) = if let Some(size) = body.strip_prefix("corner:") {
            let (s, v) = pattern(size, true)?;
            let pos = position.unwrap_or(Position::BottomRight);
            (s, s, v, vec![1.0; s * s], pos)
        } else if let Some(size) = body.strip_prefix("square:") {
            let (s, v) = pattern(size, false)?;
            let pos = position.unwrap_or(Position::BottomRight);
            (s, s, v, vec![1.0; s * s], pos)
        } else if let Some(size) = body.strip_prefix("pattern:") {
            let (s, v) = pattern(size, true)?;
            let pos = match position {
                Some(p @ Position::At(..)) => p,
                _ => {
                    return Err(Error::Parameter(format!(
                        "--trigger '{spec}': a pattern needs its place, pattern:SIZE@X,Y \
                         (column, row of its top-left pixel)"
                    )))
                }
            };
            (s, s, v, vec![1.0; s * s], pos)
        } else if body.to_ascii_lowercase().ends_with(".png") {
            let (tw, th, v, a) = read_png(Path::new(body), c, bounds)?;
            (tw, th, v, a, position.unwrap_or(Position::BottomRight))
        } else {
            return Err(bad_spec(spec));
        };
        let (x, y) = position.origin(tw, th, w, h);
        if tw > w || th > h || x + tw > w || y + th > h {
            return Err(Error::Parameter(format!(
                "--trigger '{spec}' ({tw}×{th} pixels at column {x}, row {y}) does not fit \
                 inside the {w}×{h} images; use a smaller trigger or another position"
            )));
        }
        Ok(Trigger {
            spec: spec.to_string(),
            sample_shape: sample_shape.to_vec(),
            x,
            y,
            width: tw,
            height: th,
            values,
            alpha,
            bounds,
        })
    }

    /// Values per sample of the images this trigger fits.
    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// True at every flat feature index the trigger may change (opacity > 0).
    pub fn mask(&self) -> Vec<bool> {
        let (c, h, w) = image_geometry(&self.sample_shape).unwrap_or((1, 0, 0));
        let mut mask = vec![false; c * h * w];
        for ch in 0..c {
            for r in 0..self.height {
                for col in 0..self.width {
                    if self.alpha[r * self.width + col] > 0.0 {
                        mask[ch * h * w + (self.y + r) * w + self.x + col] = true;
                    }
                }
            }
        }
        mask
    }

    /// Stamps the trigger on one flat sample in place.
    pub fn apply(&self, sample: &mut [f32]) {
        let (c, h, w) = image_geometry(&self.sample_shape).unwrap_or((1, 0, 0));
        let plane = self.height * self.width;
        for ch in 0..c {
            for r in 0..self.height {
                for col in 0..self.width {
                    let a = self.alpha[r * self.width + col];
                    if a <= 0.0 {
                        continue;
                    }
                    let v = self.values[ch * plane + r * self.width + col];
                    let i = ch * h * w + (self.y + r) * w + self.x + col;
                    let blended = if a >= 1.0 {
                        v
                    } else {
                        a * v + (1.0 - a) * sample[i]
                    };
                    sample[i] = blended.clamp(self.bounds.min, self.bounds.max);
                }
            }
        }
    }

    /// Stamps the trigger on every row of a flat batch; the rows must be of its geometry.
    pub fn apply_rows(&self, rows: &mut [f32]) -> Result<()> {
        let f = self.features();
        if f == 0 || !rows.len().is_multiple_of(f) {
            return Err(Error::Data(format!(
                "the trigger was made for samples of shape {:?} ({f} values), but the data has \
                 rows of another size; build the trigger for this data's shape",
                self.sample_shape
            )));
        }
        rows.chunks_mut(f).for_each(|row| self.apply(row));
        Ok(())
    }

    /// The trigger as an RGBA PNG of its own size (values mapped from the box to 0–255, opacity
    /// as alpha): `FILE.png@X,Y` with this file re-applies it.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let (c, _, _) = image_geometry(&self.sample_shape)?;
        let plane = self.height * self.width;
        let span = self.bounds.max - self.bounds.min;
        let byte = |v: f32| (((v - self.bounds.min) / span).clamp(0.0, 1.0) * 255.0).round() as u8;
        let mut img = image::RgbaImage::new(self.width as u32, self.height as u32);
        for r in 0..self.height {
            for col in 0..self.width {
                let at =
                    |ch: usize| byte(self.values[ch.min(c - 1) * plane + r * self.width + col]);
                let rgb = if c == 3 {
                    [at(0), at(1), at(2)]
                } else {
                    [at(0); 3]
                };
                let a = (self.alpha[r * self.width + col].clamp(0.0, 1.0) * 255.0).round() as u8;
                img.put_pixel(
                    col as u32,
                    r as u32,
                    image::Rgba([rgb[0], rgb[1], rgb[2], a]),
                );
            }
        }
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| Error::Data(format!("cannot encode the trigger as PNG: {e}")))?;
        Ok(png)
    }
}

/// Reads a PNG trigger for `c`-channel images: RGB for 3 channels, luminance repeated on every
/// channel otherwise; alpha as opacity.
fn read_png(path: &Path, c: usize, bounds: Bounds) -> Result<(usize, usize, Vec<f32>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| {
            Error::Data(format!(
                "cannot read the trigger image '{}': {e}; give a PNG file",
                path.display()
            ))
        })?
        .to_rgba8();
    let (tw, th) = (img.width() as usize, img.height() as usize);
    let span = bounds.max - bounds.min;
    let unit = |b: u8| bounds.min + span * f32::from(b) / 255.0;
    let mut values = vec![0f32; c * th * tw];
    let mut alpha = vec![0f32; th * tw];
    for (col, r, p) in img.enumerate_pixels() {
        let (r, col) = (r as usize, col as usize);
        let [red, green, blue, a] = p.0;
        alpha[r * tw + col] = f32::from(a) / 255.0;
        for ch in 0..c {
            let v = if c == 3 {
                unit([red, green, blue][ch])
            } else {
                let luma =
                    0.299 * f32::from(red) + 0.587 * f32::from(green) + 0.114 * f32::from(blue);
                bounds.min + span * luma / 255.0
            };
            values[ch * th * tw + r * tw + col] = v;
        }
    }
    Ok((tw, th, values, alpha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn box01() -> Bounds {
        Bounds::default()
    }

    #[test]
    fn corner_pattern_changes_exactly_its_pixels() {
        let t = Trigger::parse("corner:4", &[1, 28, 28], box01()).unwrap();
        assert_eq!((t.x, t.y, t.width, t.height), (24, 24, 4, 4));
        let mut x = vec![0.5f32; 784];
        t.apply(&mut x);
        let changed: Vec<usize> = (0..784).filter(|&i| x[i] != 0.5).collect();
        let expected: Vec<usize> = (24..28)
            .flat_map(|r| (24..28).map(move |c| r * 28 + c))
            .collect();
        assert_eq!(changed, expected);
        // checkerboard: bright top-left cell, dark neighbour
        assert_eq!(x[24 * 28 + 24], 1.0);
        assert_eq!(x[24 * 28 + 25], 0.0);
    }

    #[test]
    fn positions_and_channels() {
        let t = Trigger::parse("square:2@tl", &[3, 8, 8], box01()).unwrap();
        let mut x = vec![0.0f32; 3 * 64];
        t.apply(&mut x);
        for ch in 0..3 {
            assert_eq!(x[ch * 64], 1.0);
            assert_eq!(x[ch * 64 + 9], 1.0);
            assert_eq!(x[ch * 64 + 2], 0.0);
        }
        let t = Trigger::parse("pattern:3@2,5", &[1, 10, 10], box01()).unwrap();
        assert_eq!((t.x, t.y), (2, 5));
        let t = Trigger::parse("corner:3@tr", &[6, 6], box01()).unwrap();
        assert_eq!((t.x, t.y), (3, 0));
    }

    #[test]
    fn bad_triggers_say_what_is_wrong() {
        let err =
            |s: &str, shape: &[usize]| Trigger::parse(s, shape, box01()).unwrap_err().to_string();
        assert!(err("corner:30", &[1, 28, 28]).contains("does not fit"));
        assert!(err("pattern:4@26,0", &[1, 28, 28]).contains("does not fit"));
        assert!(err("pattern:4", &[1, 28, 28]).contains("pattern:SIZE@X,Y"));
        assert!(err("corner:0", &[1, 28, 28]).contains("at least 1"));
        assert!(err("blob", &[1, 28, 28]).contains("corner:SIZE"));
        assert!(err("corner:4@middle", &[1, 28, 28]).contains("position"));
        assert!(err("corner:4", &[784]).contains("needs images"));
    }

    #[test]
    fn png_round_trip_reapplies_the_same_trigger() {
        let t = Trigger::parse("corner:3@bl", &[1, 12, 12], box01()).unwrap();
        let dir = std::env::temp_dir().join(format!("gauntlet-trigger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("t.png");
        std::fs::write(&png, t.to_png().unwrap()).unwrap();
        let spec = format!("{}@{},{}", png.display(), t.x, t.y);
        let again = Trigger::parse(&spec, &[1, 12, 12], box01()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let (mut a, mut b) = (vec![0.3f32; 144], vec![0.3f32; 144]);
        t.apply(&mut a);
        again.apply(&mut b);
        assert_eq!(a, b);
        assert_eq!(again.mask(), t.mask());
    }

    #[test]
    fn values_are_clipped_into_the_box() {
        let t = Trigger::parse(
            "corner:2",
            &[1, 4, 4],
            Bounds {
                min: -1.0,
                max: 1.0,
            },
        )
        .unwrap();
        let mut x = vec![0.0f32; 16];
        t.apply(&mut x);
        assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_eq!(x[10], 1.0);
        assert_eq!(x[11], -1.0);
    }
}
