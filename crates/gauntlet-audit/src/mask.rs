//! The region an attacker may change, from a black-and-white PNG (white: may change; black:
//! never changes) at the model's input resolution, spread over every channel.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// One 0/1 value per feature of a channels-first sample of `sample_shape` (`[…, H, W]`).
pub fn load_mask(path: &Path, sample_shape: &[usize]) -> Result<Vec<f32>> {
    let [.., height, width] = sample_shape else {
        bail!(
            "`mask` needs image inputs (a sample shape of at least height × width), but the model \
             reads samples of shape {sample_shape:?}"
        );
    };
    let image = image::open(path)
        .with_context(|| format!("`mask` {}: cannot read it as an image", path.display()))?
        .to_luma8();
    if (image.width() as usize, image.height() as usize) != (*width, *height) {
        bail!(
            "`mask` {} is {}×{} pixels but the model's inputs are {width}×{height}; draw the mask \
             at the model's input resolution",
            path.display(),
            image.width(),
            image.height()
        );
    }
    let plane: Vec<f32> = image.pixels().map(|p| f32::from(p.0[0] > 127)).collect();
    let channels: usize = sample_shape[..sample_shape.len() - 2].iter().product();
    Ok(plane.repeat(channels.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_may_change_black_never_and_every_channel_follows() {
        let dir = std::env::temp_dir().join(format!("gauntlet-mask-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mask.png");
        let img = image::GrayImage::from_fn(3, 2, |x, y| {
            image::Luma([if x == 1 && y == 0 { 255 } else { 0 }])
        });
        img.save(&path).unwrap();
        let mask = load_mask(&path, &[2, 2, 3]).unwrap();
        assert_eq!(
            mask,
            vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
        );
        let wrong = load_mask(&path, &[1, 28, 28]).unwrap_err().to_string();
        assert!(
            wrong.contains("3×2 pixels") && wrong.contains("28×28"),
            "{wrong}"
        );
        assert!(load_mask(&path, &[10])
            .unwrap_err()
            .to_string()
            .contains("image inputs"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
