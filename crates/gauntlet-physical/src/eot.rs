//! Expectation over transformation (Athalye et al., "Synthesizing robust adversarial
//! examples", ICML 2018): the conditions a printed patch meets — where it is stuck, at what
//! angle and distance, under what light, in or out of focus — as ranges to draw from.
//!
//! Written as the command line takes it: `rotate=22.5,scale=0.7:1.0,translate,brightness=0.2`.

use rand::Rng;
use serde::Serialize;

use gauntlet_core::{Error, Result};

/// Ranges of the random conditions one patch must survive. `Eot::none()` is the fixed
/// condition: the patch upright, at scale 1, in the middle, unlit, sharp.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Eot {
    /// In-plane rotation drawn from ±`rotate` degrees.
    pub rotate: f32,
    /// Scale drawn from `[scale.0, scale.1]` (1: the footprint's size).
    pub scale: (f32, f32),
    /// Position drawn anywhere the whole patch fits (else: the middle).
    pub translate: bool,
    /// Added to the patch's pixels, drawn from ±`brightness` (a fraction of the valid range).
    pub brightness: f32,
    /// The patch's pixels multiplied by a factor drawn from `1 ± contrast`.
    pub contrast: f32,
    /// Gaussian blur of the whole picture with σ drawn from `[0, blur]` pixels.
    pub blur: f32,
    /// Each corner of the patch moved by up to `perspective` × its size (a view from the side).
    pub perspective: f32,
}

/// One draw of the conditions, before the position is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// Rotation in radians.
    pub angle: f32,
    /// Scale factor.
    pub scale: f32,
    /// Additive change of the patch's pixels, a fraction of the valid range.
    pub brightness: f32,
    /// Multiplicative change of the patch's pixels.
    pub contrast: f32,
    /// Blur σ in pixels (0: sharp).
    pub blur: f32,
    /// Corner offsets (x, y) as fractions of the patch's size, top-left clockwise.
    pub corners: [(f32, f32); 4],
    /// Two uniform numbers that choose the position among the allowed ones; `None`: the
    /// middle.
    pub position: Option<(f32, f32)>,
}

impl Eot {
    /// No transformation at all.
    pub fn none() -> Eot {
        Eot {
            rotate: 0.0,
            scale: (1.0, 1.0),
            translate: false,
            brightness: 0.0,
            contrast: 0.0,
            blur: 0.0,
            perspective: 0.0,
        }
    }

    /// Parses `key=value` items separated by commas: `rotate=DEG`, `scale=MIN:MAX` (or one
    /// value), `translate`, `brightness=B`, `contrast=C`, `blur=SIGMA`, `perspective=P`; `none`
    /// or an empty text is no transformation.
    pub fn parse(spec: &str) -> Result<Eot> {
        let mut eot = Eot::none();
        let bad = |item: &str, why: &str| {
            Error::Parameter(format!(
                "--eot item '{item}': {why}; items are rotate=DEG, scale=MIN:MAX, translate, \
                 brightness=B, contrast=C, blur=SIGMA, perspective=P, separated by commas \
                 (e.g. 'rotate=22.5,scale=0.7:1.0,translate'), or none"
            ))
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            let number = |text: Option<&str>| -> Result<f32> {
                let text = text.ok_or_else(|| bad(item, "needs a value"))?;
                let v: f32 = text.parse().map_err(|_| bad(item, "not a number"))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(bad(item, "must be a finite number ≥ 0"));
                }
                Ok(v)
            };
            match key {
                "none" if value.is_none() => {}
                "translate" if value.is_none() => eot.translate = true,
                "rotate" => {
                    eot.rotate = number(value)?;
                    if eot.rotate > 180.0 {
                        return Err(bad(item, "rotation is at most 180 degrees"));
                    }
                }
                "scale" => {
                    let text = value.ok_or_else(|| bad(item, "needs a value"))?;
                    let (lo, hi) = match text.split_once(':') {
                        Some((a, b)) => (number(Some(a))?, number(Some(b))?),
                        None => {
                            let v = number(Some(text))?;
                            (v, v)
                        }
                    };
                    if lo <= 0.0 || lo > hi {
                        return Err(bad(item, "needs 0 < MIN ≤ MAX"));
                    }
                    eot.scale = (lo, hi);
                }
                "brightness" => eot.brightness = number(value)?,
                "contrast" => {
                    eot.contrast = number(value)?;
                    if eot.contrast >= 1.0 {
                        return Err(bad(item, "contrast must stay below 1 (factor 1 ± C)"));
                    }
                }
                "blur" => eot.blur = number(value)?,
                "perspective" => {
                    eot.perspective = number(value)?;
                    if eot.perspective >= 0.5 {
                        return Err(bad(item, "perspective must stay below 0.5"));
                    }
                }
                _ => return Err(bad(item, "unknown item")),
            }
        }
        Ok(eot)
    }

    /// The spec back in the command line's words.
    pub fn describe(&self) -> String {
        let mut items = Vec::new();
        if self.rotate > 0.0 {
            items.push(format!("rotate={}", self.rotate));
        }
        if self.scale != (1.0, 1.0) {
            items.push(format!("scale={}:{}", self.scale.0, self.scale.1));
        }
        if self.translate {
            items.push("translate".into());
        }
        for (key, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("blur", self.blur),
            ("perspective", self.perspective),
        ] {
            if v > 0.0 {
                items.push(format!("{key}={v}"));
            }
        }
        if items.is_empty() {
            "none".into()
        } else {
            items.join(",")
        }
    }

    /// Draws one condition.
    pub fn draw(&self, rng: &mut impl Rng) -> Condition {
        let mut sym = |range: f32| {
            if range > 0.0 {
                rng.gen_range(-range..=range)
            } else {
                0.0
            }
        };
        let angle = sym(self.rotate).to_radians();
        let brightness = sym(self.brightness);
        let contrast = 1.0 + sym(self.contrast);
        let mut corners = [(0.0, 0.0); 4];
        for c in &mut corners {
            *c = (sym(self.perspective), sym(self.perspective));
        }
        let scale = if self.scale.1 > self.scale.0 {
            rng.gen_range(self.scale.0..=self.scale.1)
        } else {
            self.scale.0
        };
        let blur = if self.blur > 0.0 {
            rng.gen_range(0.0..=self.blur)
        } else {
            0.0
        };
        Condition {
            angle,
            scale,
            brightness,
            contrast,
            blur,
            corners,
            position: self.translate.then(|| (rng.gen(), rng.gen())),
        }
    }

    /// Where the spec itself stands in [`Eot::settings`]: second to last (before the wider
    /// one), or the only setting when there is no transformation.
    pub fn spec_index(&self) -> usize {
        if *self == Eot::none() {
            0
        } else {
            self.settings().len() - 2
        }
    }

    /// The settings a patch is evaluated under: fixed, each of this spec's transformations
    /// alone (with the position drawn when the spec moves the patch), the whole spec, and a
    /// wider one (twice the angles, light and perspective, scale down to ¾ of the minimum) that
    /// shows how fast success falls outside what the patch was made for.
    pub fn settings(&self) -> Vec<(String, Eot)> {
        let base = Eot {
            translate: self.translate,
            ..Eot::none()
        };
        let mut out = vec![("fixed".to_string(), Eot::none())];
        if self.translate {
            out.push(("position".into(), base));
        }
        let singles = [
            Eot {
                rotate: self.rotate,
                ..base
            },
            Eot {
                scale: self.scale,
                ..base
            },
            Eot {
                brightness: self.brightness,
                contrast: self.contrast,
                ..base
            },
            Eot {
                blur: self.blur,
                ..base
            },
            Eot {
                perspective: self.perspective,
                ..base
            },
        ];
        for single in singles {
            if single != base && single != *self {
                out.push((single.describe(), single));
            }
        }
        if *self != Eot::none() {
            out.push((format!("{} (the spec)", self.describe()), *self));
            let wider = Eot {
                rotate: (self.rotate * 2.0).min(180.0),
                scale: (self.scale.0 * 0.75, self.scale.1),
                brightness: self.brightness * 2.0,
                contrast: (self.contrast * 2.0).min(0.9),
                blur: self.blur * 2.0,
                perspective: (self.perspective * 2.0).min(0.45),
                translate: self.translate,
            };
            out.push((format!("{} (wider)", wider.describe()), wider));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_spec_parses_round_trips_and_draws_inside_its_ranges() {
        let eot = Eot::parse("rotate=22.5, scale=0.7:1.0,translate,brightness=0.2").unwrap();
        assert_eq!(eot.rotate, 22.5);
        assert_eq!(eot.scale, (0.7, 1.0));
        assert!(eot.translate);
        assert_eq!(Eot::parse(&eot.describe()).unwrap(), eot);
        assert_eq!(Eot::parse("none").unwrap(), Eot::none());
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let c = eot.draw(&mut rng);
            assert!(c.angle.abs() <= 22.5f32.to_radians() + 1e-6);
            assert!((0.7..=1.0).contains(&c.scale));
            assert!(c.brightness.abs() <= 0.2 && c.contrast == 1.0 && c.blur == 0.0);
        }
        for bad in [
            "rotate",
            "rotate=x",
            "scale=1:0.5",
            "twist=3",
            "contrast=1.5",
            "blur=-1",
        ] {
            let err = Eot::parse(bad).unwrap_err().to_string();
            assert!(err.contains("items are rotate=DEG"), "{bad}: {err}");
        }
    }

    #[test]
    fn settings_take_each_transformation_alone_then_all_then_wider() {
        let eot = Eot::parse("rotate=20,scale=0.7:1,translate").unwrap();
        let names: Vec<String> = eot.settings().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "fixed",
                "position",
                "rotate=20,translate",
                "scale=0.7:1,translate",
                "rotate=20,scale=0.7:1,translate (the spec)",
                "rotate=40,scale=0.525:1,translate (wider)"
            ]
        );
        assert_eq!(Eot::none().settings().len(), 1);
    }
}
