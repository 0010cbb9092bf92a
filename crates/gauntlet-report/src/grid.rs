//! PNG grids of clean / adversarial / amplified-perturbation images.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ImageBuffer, ImageFormat, Pixel, PixelWithColorType, Rgb, RgbImage};

use gauntlet_core::samples::Samples;
use gauntlet_core::{Error, Result};
use gauntlet_eval::AttackResult;

const MAX_COLUMNS: usize = 8;
/// Screen pixels per picture pixel in the report's image grids.
pub const SCALE: u32 = 3;
/// White pixels between the pictures of a grid.
pub const GAP: u32 = 2;

/// A grid as written: where, which samples its columns show, and the PNG itself (so the HTML
/// report can embed it without reading the file back).
#[derive(Debug, Clone)]
pub struct Grid {
    /// The PNG file written, `<attack>_<norm>_eps<ε>_grid.png`.
    pub path: PathBuf,
    /// Attack and budget the adversarial row comes from.
    pub attack: String,
    /// The budget ε of that row, in input units.
    pub eps: f32,
    /// Sample index shown in each column, left to right.
    pub columns: Vec<usize>,
    /// Width of one column in pixels (image plus gap), for captions aligned under it.
    pub column_width: u32,
    /// The encoded image: rows clean, adversarial, and the perturbation amplified to full
    /// contrast (mid-grey is zero).
    pub png: Vec<u8>,
}

/// Writes a grid for `result` if the samples are images (C×H×W with C = 1 or 3).
/// Columns are the first broken samples; nothing is written when none broke.
pub fn write_grid(
    dir: &Path,
    clean: &dyn Samples,
    result: &AttackResult,
    sample_shape: &[usize],
    stem: &str,
) -> Result<Option<Grid>> {
    let (c, h, w) = match sample_shape {
        [c, h, w] if (*c == 1 || *c == 3) && *h >= 4 && *w >= 4 => (*c, *h, *w),
        [h, w] if *h >= 4 && *w >= 4 => (1, *h, *w),
        _ => return Ok(None),
    };
    let f = c * h * w;
    let n = clean.len();
    let columns: Vec<usize> = (0..n)
        .filter(|&i| result.success[i])
        .take(MAX_COLUMNS)
        .collect();
    if columns.is_empty() {
        return Ok(None);
    }
    let (mut img, cell_w, cell_h) = blank_grid(columns.len(), 3, h, w);
    for (col, &i) in columns.iter().enumerate() {
        let adv = result.adversarial.row(i, f)?;
        let adv = adv.as_slice();
        let clean = clean.read_rows(&[i])?;
        let clean = clean.as_slice();
        let delta: Vec<f32> = adv.iter().zip(clean).map(|(a, b)| a - b).collect();
        let peak = delta.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
        let amplified: Vec<f32> = delta.iter().map(|d| 0.5 + 0.5 * d / peak).collect();
        for (row, values) in [clean, adv, amplified.as_slice()].iter().enumerate() {
            paint(
                &mut img,
                values,
                c,
                h,
                w,
                col as u32 * cell_w,
                row as u32 * cell_h,
            );
        }
    }
    let path = dir.join(format!("{stem}_grid.png"));
    let png = encode_png(&img, &path.display().to_string())?;
    std::fs::write(&path, &png).map_err(|e| Error::io(&path, e))?;
    Ok(Some(Grid {
        path,
        attack: result.attack.clone(),
        eps: result.eps,
        columns,
        column_width: cell_w,
        png,
    }))
}

/// A white canvas for `columns × rows` pictures of `height × width` (each `SCALE` times larger,
/// `GAP` apart), with the width and height of one cell.
pub fn blank_grid(
    columns: usize,
    rows: usize,
    height: usize,
    width: usize,
) -> (RgbImage, u32, u32) {
    let cell_w = width as u32 * SCALE + GAP;
    let cell_h = height as u32 * SCALE + GAP;
    let img = RgbImage::from_pixel(
        cell_w * columns as u32,
        cell_h * rows as u32,
        Rgb([255, 255, 255]),
    );
    (img, cell_w, cell_h)
}

/// An image as PNG bytes; `what` names it in the error.
pub fn encode_png<P>(img: &ImageBuffer<P, Vec<P::Subpixel>>, what: &str) -> Result<Vec<u8>>
where
    P: Pixel + PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
{
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| Error::Data(format!("cannot encode {what} as PNG: {e}")))?;
    Ok(png)
}

/// Paints one channels-first picture (`c` = 1 grey or 3 colour, values in 0..1) at `(x0, y0)`,
/// each pixel a `SCALE` × `SCALE` square.
pub fn paint(img: &mut RgbImage, values: &[f32], c: usize, h: usize, w: usize, x0: u32, y0: u32) {
    for y in 0..h {
        for x in 0..w {
            let px = |ch: usize| (values[ch * h * w + y * w + x].clamp(0.0, 1.0) * 255.0) as u8;
            let rgb = if c == 3 {
                [px(0), px(1), px(2)]
            } else {
                [px(0); 3]
            };
            for dy in 0..SCALE {
                for dx in 0..SCALE {
                    img.put_pixel(
                        x0 + x as u32 * SCALE + dx,
                        y0 + y as u32 * SCALE + dy,
                        Rgb(rgb),
                    );
                }
            }
        }
    }
}
