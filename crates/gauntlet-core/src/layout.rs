//! Where the channel axis of an image sample sits.
//!
//! PyTorch exports take `[N, C, H, W]` (channels first); Keras/TensorFlow models exported by
//! tf2onnx take `[N, H, W, C]` (channels last). gauntlet works channels first everywhere
//! (attacks with image structure such as Square, normalization, report images); a
//! channels-last model transposes at its own boundary, and its data is read in its layout and
//! transposed once on load, so budgets stay per pixel value and nothing else needs to know.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Order of the axes of one image sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[C, H, W]` per sample (PyTorch, ONNX's convention).
    #[default]
    Nchw,
    /// `[H, W, C]` per sample (Keras/TensorFlow).
    Nhwc,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Nchw => "nchw",
            Layout::Nhwc => "nhwc",
        })
    }
}

impl std::str::FromStr for Layout {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nchw" | "channels-first" | "channels_first" => Ok(Layout::Nchw),
            "nhwc" | "channels-last" | "channels_last" => Ok(Layout::Nhwc),
            other => Err(Error::Parameter(format!(
                "unknown layout '{other}'; use nchw (channels first, PyTorch) or nhwc \
                 (channels last, Keras/TensorFlow)"
            ))),
        }
    }
}

/// Channel counts of image data: grey, RGB, RGBA.
fn is_channel_count(d: usize) -> bool {
    matches!(d, 1 | 3 | 4)
}

impl Layout {
    /// The layout a declared per-sample shape implies: `[H, W, C]` with C in {1, 3, 4} and H
    /// not a channel count is channels last; everything else (including non-images) is
    /// channels first, which needs no transposition.
    pub fn detect(sample_shape: &[usize]) -> Layout {
        match sample_shape {
            [h, w, c] if is_channel_count(*c) && !is_channel_count(*h) && *w > 4 => Layout::Nhwc,
            _ => Layout::Nchw,
        }
    }

    /// The channels-first shape of a sample given in this layout.
    pub fn channels_first(self, sample_shape: &[usize]) -> Vec<usize> {
        match (self, sample_shape) {
            (Layout::Nhwc, [h, w, c]) => vec![*c, *h, *w],
            _ => sample_shape.to_vec(),
        }
    }

    /// The shape in this layout of a channels-first sample shape.
    pub fn from_channels_first(self, sample_shape: &[usize]) -> Vec<usize> {
        match (self, sample_shape) {
            (Layout::Nhwc, [c, h, w]) => vec![*h, *w, *c],
            _ => sample_shape.to_vec(),
        }
    }
}

/// Transposes `n` samples `[H, W, C]` into `[C, H, W]` (row-major, flat).
pub fn hwc_to_chw(values: &[f32], n: usize, [h, w, c]: [usize; 3]) -> Vec<f32> {
    move_channels(values, n, h * w, c, true)
}

/// Transposes `n` samples `[C, H, W]` into `[H, W, C]` (row-major, flat).
pub fn chw_to_hwc(values: &[f32], n: usize, [c, h, w]: [usize; 3]) -> Vec<f32> {
    move_channels(values, n, h * w, c, false)
}

/// Moves the channel axis of `n` samples of `plane` pixels × `channels` to the front
/// (`to_front`) or to the back.
fn move_channels(
    values: &[f32],
    n: usize,
    plane: usize,
    channels: usize,
    to_front: bool,
) -> Vec<f32> {
    let size = plane * channels;
    debug_assert_eq!(values.len(), n * size);
    let mut out = vec![0.0; values.len()];
    for (src, dst) in values.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
        for p in 0..plane {
            for ch in 0..channels {
                let (last, first) = (p * channels + ch, ch * plane + p);
                if to_front {
                    dst[first] = src[last];
                } else {
                    dst[last] = src[first];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_channels_last_only_where_the_shape_says_so() {
        assert_eq!(Layout::detect(&[28, 28, 1]), Layout::Nhwc);
        assert_eq!(Layout::detect(&[224, 224, 3]), Layout::Nhwc);
        assert_eq!(Layout::detect(&[1, 28, 28]), Layout::Nchw);
        assert_eq!(Layout::detect(&[3, 32, 32]), Layout::Nchw);
        assert_eq!(Layout::detect(&[784]), Layout::Nchw);
        // Three channels of 3×3 cannot be told apart: no transposition.
        assert_eq!(Layout::detect(&[3, 3, 3]), Layout::Nchw);
        assert_eq!(Layout::Nhwc.channels_first(&[28, 28, 1]), [1, 28, 28]);
        assert_eq!(Layout::Nhwc.from_channels_first(&[1, 28, 28]), [28, 28, 1]);
        assert_eq!("NHWC".parse::<Layout>().unwrap(), Layout::Nhwc);
        assert!("hwcn".parse::<Layout>().is_err());
    }

    #[test]
    fn transposes_round_trip_and_put_each_value_at_its_pixel() {
        // Two samples of 2×3 pixels with 2 channels; value = sample·100 + pixel·10 + channel.
        let (n, h, w, c) = (2, 2, 3, 2);
        let hwc: Vec<f32> = (0..n)
            .flat_map(|s| {
                (0..h * w).flat_map(move |p| (0..c).map(move |ch| (s * 100 + p * 10 + ch) as f32))
            })
            .collect();
        let chw = hwc_to_chw(&hwc, n, [h, w, c]);
        // Sample 1, channel 1, pixel (1, 2) = pixel index 5.
        assert_eq!(chw[h * w * c + h * w + 5], 151.0);
        assert_eq!(chw_to_hwc(&chw, n, [c, h, w]), hwc);
    }
}
