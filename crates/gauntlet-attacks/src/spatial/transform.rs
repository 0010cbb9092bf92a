//! One rigid transformation of a picture: a rotation about its centre, then a translation,
//! resampled bilinearly, as Engstrom et al. (2019) apply them. Pixels that come from outside
//! the picture take a fill value (the paper's black: the valid box's minimum).

use serde::{Deserialize, Serialize};

use gauntlet_core::{Error, Result};

/// The shape of one channels-first picture, `[C, H, W]`, any number of channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    /// Channels (1 grey, 3 colour, or any other number).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl Picture {
    /// The picture a sample shape describes; anything but `C × H × W` is refused, because a
    /// rotation needs two spatial axes.
    pub fn from_sample_shape(shape: &[usize]) -> Result<Picture> {
        match *shape {
            [channels, height, width] if channels > 0 && height > 1 && width > 1 => Ok(Picture {
                channels,
                height,
                width,
            }),
            _ => Err(Error::Parameter(format!(
                "spatial attacks rotate and translate pictures, so every sample must be an image \
                 of shape C×H×W (channels first, H and W at least 2); this model's samples have \
                 shape {shape:?}. Run the spatial stage only on image classifiers"
            ))),
        }
    }

    /// Values in one picture, `C·H·W`.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True for a picture without values (never built by [`Picture::from_sample_shape`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rotate by `rotation_deg` about the picture's centre, then shift by `(dx, dy)` pixels.
///
/// A positive angle turns the picture counter-clockwise as it is seen on screen; a positive
/// `dx` moves its content right, a positive `dy` down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// Rotation, degrees, counter-clockwise on screen.
    pub rotation_deg: f32,
    /// Horizontal shift, pixels (positive: right).
    pub dx: f32,
    /// Vertical shift, pixels (positive: down).
    pub dy: f32,
}

/// Source coordinates this close to a whole pixel are taken as that pixel, so that exact
/// symmetries (0°, 90°, whole-pixel shifts) copy values instead of blending them.
const SNAP: f64 = 1e-9;

impl Transform {
    /// No rotation, no shift: [`Transform::apply`] returns the picture unchanged.
    pub const IDENTITY: Transform = Transform {
        rotation_deg: 0.0,
        dx: 0.0,
        dy: 0.0,
    };

    /// The transformed picture (`picture` is one flat `[C, H, W]` sample).
    pub fn apply(&self, picture: &[f32], shape: Picture, fill: f32) -> Vec<f32> {
        let mut out = vec![0.0; shape.len()];
        self.apply_into(picture, shape, fill, &mut out);
        out
    }

    /// [`Transform::apply`] into a buffer of the picture's length.
    pub fn apply_into(&self, picture: &[f32], shape: Picture, fill: f32, out: &mut [f32]) {
        let Picture {
            channels,
            height,
            width,
        } = shape;
        let plane = height * width;
        debug_assert_eq!(picture.len(), shape.len());
        debug_assert_eq!(out.len(), shape.len());
        let theta = (self.rotation_deg as f64).to_radians();
        // Whole quarter turns get exact sines and cosines (sin(π/2) is not exactly 1 in floats).
        let (sin, cos) = if self.rotation_deg % 90.0 == 0.0 {
            match ((self.rotation_deg / 90.0) as i64).rem_euclid(4) {
                0 => (0.0, 1.0),
                1 => (1.0, 0.0),
                2 => (0.0, -1.0),
                _ => (-1.0, 0.0),
            }
        } else {
            theta.sin_cos()
        };
        let cx = (width as f64 - 1.0) / 2.0;
        let cy = (height as f64 - 1.0) / 2.0;
        for y in 0..height {
            for x in 0..width {
                // Inverse map: undo the shift, then the rotation, to find where this output
                // pixel's value comes from. With v pointing down, a counter-clockwise turn on
                // screen sends (u, v) to (u cos + v sin, −u sin + v cos); its inverse is below.
                let u = x as f64 - cx - self.dx as f64;
                let v = y as f64 - cy - self.dy as f64;
                let sx = snap(u * cos - v * sin + cx);
                let sy = snap(u * sin + v * cos + cy);
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                let (x0, y0) = (x0 as i64, y0 as i64);
                for c in 0..channels {
                    let values = &picture[c * plane..(c + 1) * plane];
                    let at = |xi: i64, yi: i64| -> f32 {
                        if xi < 0 || yi < 0 || xi >= width as i64 || yi >= height as i64 {
                            fill
                        } else {
                            values[yi as usize * width + xi as usize]
                        }
                    };
                    // Neighbours with zero weight are skipped, so an exact pixel is copied
                    // as it is (fill never leaks in at the picture's last row or column).
                    let mut value = (1.0 - fx) * (1.0 - fy) * at(x0, y0);
                    if fx > 0.0 {
                        value += fx * (1.0 - fy) * at(x0 + 1, y0);
                    }
                    if fy > 0.0 {
                        value += (1.0 - fx) * fy * at(x0, y0 + 1);
                        if fx > 0.0 {
                            value += fx * fy * at(x0 + 1, y0 + 1);
                        }
                    }
                    out[c * plane + y * width + x] = value;
                }
            }
        }
    }
}

fn snap(coordinate: f64) -> f64 {
    let nearest = coordinate.round();
    if (coordinate - nearest).abs() < SNAP {
        nearest
    } else {
        coordinate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREY: Picture = Picture {
        channels: 1,
        height: 3,
        width: 3,
    };

    fn ramp(shape: Picture) -> Vec<f32> {
        (0..shape.len()).map(|i| 0.1 + i as f32 / 100.0).collect()
    }

    #[test]
    fn the_identity_returns_the_picture_exactly() {
        let shape = Picture {
            channels: 3,
            height: 5,
            width: 4,
        };
        let picture = ramp(shape);
        assert_eq!(Transform::IDENTITY.apply(&picture, shape, 0.0), picture);
    }

    #[test]
    fn a_quarter_turn_is_an_index_permutation() {
        // 3×3 values a..i; turned 90° counter-clockwise on screen, the right column becomes
        // the top row: out[y][x] = in[x][W−1−y].
        let picture = ramp(GREY);
        let out = Transform {
            rotation_deg: 90.0,
            dx: 0.0,
            dy: 0.0,
        }
        .apply(&picture, GREY, -1.0);
        for y in 0..3 {
            for x in 0..3 {
                assert_eq!(out[y * 3 + x], picture[x * 3 + (2 - y)], "pixel ({x}, {y})");
            }
        }
        // Four of them are the identity, on a picture that is not square too.
        let wide = Picture {
            channels: 2,
            height: 2,
            width: 4,
        };
        let picture = ramp(wide);
        let half = Transform {
            rotation_deg: 180.0,
            dx: 0.0,
            dy: 0.0,
        };
        let twice = half.apply(&half.apply(&picture, wide, 0.0), wide, 0.0);
        assert_eq!(twice, picture);
    }

    #[test]
    fn whole_pixel_shifts_move_values_exactly_and_fill_the_rest() {
        let shape = Picture {
            channels: 2,
            height: 4,
            width: 5,
        };
        let picture = ramp(shape);
        let out = Transform {
            rotation_deg: 0.0,
            dx: 2.0,
            dy: -1.0,
        }
        .apply(&picture, shape, 7.0);
        for c in 0..2 {
            for y in 0..4i64 {
                for x in 0..5i64 {
                    let (sx, sy) = (x - 2, y + 1);
                    let expected = if (0..5).contains(&sx) && (0..4).contains(&sy) {
                        picture[c * 20 + sy as usize * 5 + sx as usize]
                    } else {
                        7.0
                    };
                    assert_eq!(out[c * 20 + y as usize * 5 + x as usize], expected);
                }
            }
        }
    }

    #[test]
    fn a_half_pixel_shift_averages_neighbours() {
        let shape = Picture {
            channels: 1,
            height: 1 + 1,
            width: 2,
        };
        let picture = vec![0.0, 1.0, 0.5, 0.5];
        let out = Transform {
            rotation_deg: 0.0,
            dx: 0.5,
            dy: 0.0,
        }
        .apply(&picture, shape, 0.0);
        // The left column is half fill (0) and half the old left column; the right column is
        // the average of the old two.
        assert_eq!(out, vec![0.0, 0.5, 0.25, 0.5]);
    }

    #[test]
    fn only_pictures_are_accepted() {
        assert!(Picture::from_sample_shape(&[1, 28, 28]).is_ok());
        for bad in [&[784][..], &[28, 28], &[1, 1, 28], &[2, 3, 4, 5]] {
            let err = Picture::from_sample_shape(bad).unwrap_err().to_string();
            assert!(err.contains("C×H×W"), "{err}");
        }
    }
}
