//! The patch's outline: a square, a circle or any black-and-white PNG, sized so that its
//! opaque pixels cover a given area at the model's input resolution.

use std::path::Path;

use gauntlet_core::{Error, Result};

/// What the patch looks like from above: where it is opaque.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A filled square.
    Square,
    /// A filled disc.
    Circle,
    /// Any outline: 1 where the sticker is, 0 where it is transparent, `height × width`,
    /// cropped to its opaque pixels.
    Outline {
        /// Rows of the outline.
        height: usize,
        /// Columns of the outline.
        width: usize,
        /// Row-major 0/1 values.
        opaque: Vec<bool>,
        /// Where it came from, for the report.
        source: String,
    },
}

/// The patch at the model's input resolution for scale 1: its size in pixels and where it is
/// opaque.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Row-major 1 (opaque) / 0 (transparent), `height × width`.
    pub opacity: Vec<f32>,
}

impl Footprint {
    /// Opaque pixels.
    pub fn area(&self) -> usize {
        self.opacity.iter().filter(|&&a| a > 0.5).count()
    }
}

impl Shape {
    /// `square`, `circle`, or the path of a PNG (white: the sticker; black or transparent:
    /// nothing).
    pub fn parse(text: &str) -> Result<Shape> {
        match text {
            "square" => Ok(Shape::Square),
            "circle" => Ok(Shape::Circle),
            path if path.to_ascii_lowercase().ends_with(".png") => Shape::from_png(Path::new(path)),
            other => Err(Error::Parameter(format!(
                "unknown patch shape '{other}'; use square, circle or the path of a PNG outline \
                 (white where the sticker is)"
            ))),
        }
    }

    /// Reads a PNG outline: white (or, with an alpha channel, opaque white) is the sticker.
    pub fn from_png(path: &Path) -> Result<Shape> {
        let image = image::open(path)
            .map_err(|e| {
                Error::Data(format!(
                    "patch shape {}: cannot read it as an image ({e}); give a black-and-white PNG, \
                     white where the sticker is",
                    path.display()
                ))
            })?
            .to_luma_alpha8();
        let (w, h) = (image.width() as usize, image.height() as usize);
        let lit: Vec<bool> = image
            .pixels()
            .map(|p| p.0[0] > 127 && p.0[1] > 127)
            .collect();
        let rows: Vec<usize> = (0..h)
            .filter(|&y| lit[y * w..(y + 1) * w].iter().any(|&b| b))
            .collect();
        let cols: Vec<usize> = (0..w).filter(|&x| (0..h).any(|y| lit[y * w + x])).collect();
        let (Some(&top), Some(&bottom), Some(&left), Some(&right)) =
            (rows.first(), rows.last(), cols.first(), cols.last())
        else {
            return Err(Error::Data(format!(
                "patch shape {}: the outline has no white pixel; draw the sticker in white on black",
                path.display()
            )));
        };
        let (height, width) = (bottom - top + 1, right - left + 1);
        let opaque = (0..height)
            .flat_map(|y| {
                let lit = &lit;
                (0..width).map(move |x| lit[(top + y) * w + left + x])
            })
            .collect();
        Ok(Shape::Outline {
            height,
            width,
            opaque,
            source: path.display().to_string(),
        })
    }

    /// A name for reports.
    pub fn describe(&self) -> String {
        match self {
            Shape::Square => "square".into(),
            Shape::Circle => "circle".into(),
            Shape::Outline { source, .. } => source.clone(),
        }
    }

    /// The largest footprint of this shape whose opaque pixels number at most `area` (but at
    /// least one pixel).
    pub fn footprint(&self, area: f64) -> Result<Footprint> {
        if !area.is_finite() || area < 1.0 {
            return Err(Error::Parameter(format!(
                "the patch would cover {area:.2} pixels, less than one; give a larger --size"
            )));
        }
        // Footprints grow with their side; the largest side that fits the area wins.
        let mut best = self.at_side(1);
        let mut side = 2;
        loop {
            let candidate = self.at_side(side);
            if candidate.area() as f64 > area || side > 100_000 {
                break;
            }
            best = candidate;
            side += 1;
        }
        Ok(best)
    }

    /// The shape drawn `side` pixels across its longer dimension.
    fn at_side(&self, side: usize) -> Footprint {
        match self {
            Shape::Square => Footprint {
                height: side,
                width: side,
                opacity: vec![1.0; side * side],
            },
            Shape::Circle => {
                let r = side as f32 / 2.0;
                let opacity = (0..side * side)
                    .map(|k| {
                        let (y, x) = ((k / side) as f32 + 0.5 - r, (k % side) as f32 + 0.5 - r);
                        f32::from(x * x + y * y <= r * r)
                    })
                    .collect();
                Footprint {
                    height: side,
                    width: side,
                    opacity,
                }
            }
            Shape::Outline {
                height,
                width,
                opaque,
                ..
            } => {
                // Nearest-neighbour resampling of the outline, aspect kept.
                let scale = side as f32 / (*height).max(*width) as f32;
                let h = ((*height as f32 * scale).round() as usize).max(1);
                let w = ((*width as f32 * scale).round() as usize).max(1);
                let opacity = (0..h * w)
                    .map(|k| {
                        let sy = (((k / w) as f32 + 0.5) / scale) as usize;
                        let sx = (((k % w) as f32 + 0.5) / scale) as usize;
                        f32::from(opaque[sy.min(height - 1) * width + sx.min(width - 1)])
                    })
                    .collect();
                Footprint {
                    height: h,
                    width: w,
                    opacity,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_never_exceed_the_area_and_are_the_largest_that_fit() {
        // 10 % of a 28 × 28 image: 78.4 pixels.
        let square = Shape::Square.footprint(78.4).unwrap();
        assert_eq!((square.height, square.area()), (8, 64));
        let circle = Shape::Circle.footprint(78.4).unwrap();
        assert!(
            circle.area() <= 78 && circle.area() > 60,
            "{}",
            circle.area()
        );
        assert!(Shape::Circle.at_side(circle.height + 1).area() > 78);
        // A disc covers about π/4 of its square.
        let big = Shape::Circle.footprint(10_000.0).unwrap();
        let ratio = big.area() as f64 / (big.height * big.width) as f64;
        assert!(
            (ratio - std::f64::consts::FRAC_PI_4).abs() < 0.01,
            "{ratio}"
        );
        assert!(Shape::Square.footprint(0.5).is_err());
    }

    #[test]
    fn a_png_outline_is_cropped_and_scaled_to_the_area() {
        let dir = std::env::temp_dir().join(format!("gauntlet-shape-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bar.png");
        // A 4 × 2 white bar inside a 10 × 10 black image.
        let img = image::GrayImage::from_fn(10, 10, |x, y| {
            image::Luma([if (3..7).contains(&x) && (5..7).contains(&y) {
                255
            } else {
                0
            }])
        });
        img.save(&path).unwrap();
        let shape = Shape::parse(path.to_str().unwrap()).unwrap();
        let Shape::Outline { height, width, .. } = &shape else {
            panic!("{shape:?}")
        };
        assert_eq!((*height, *width), (2, 4));
        let f = shape.footprint(32.0).unwrap();
        assert_eq!((f.height, f.width, f.area()), (4, 8, 32));
        let empty = dir.join("empty.png");
        image::GrayImage::new(4, 4).save(&empty).unwrap();
        let err = Shape::from_png(&empty).unwrap_err().to_string();
        assert!(err.contains("no white pixel"), "{err}");
        assert!(Shape::parse("hexagon")
            .unwrap_err()
            .to_string()
            .contains("square, circle"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
