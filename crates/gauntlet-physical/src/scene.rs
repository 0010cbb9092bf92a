//! The pictures a patch is made on or judged on, and what the attacker wants of them.

use serde::Serialize;

use gauntlet_core::{Error, Result};

use crate::placement::Canvas;
use crate::shape::Footprint;

/// What the patch should do to every picture it is stuck on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "class")]
pub enum Goal {
    /// Make the model answer this class.
    Targeted(i64),
    /// Make the model answer anything but the true class.
    Untargeted,
}

impl Goal {
    /// Whether the answer `predicted` to a picture of class `label` is what the attacker wants.
    pub fn reached(&self, label: i64, predicted: i64) -> bool {
        match *self {
            Goal::Targeted(t) => predicted == t,
            Goal::Untargeted => predicted != label,
        }
    }

    /// Whether a picture of class `label` can be attacked at all (a picture of the target
    /// class already is what the attacker wants).
    pub fn applies_to(&self, label: i64) -> bool {
        match *self {
            Goal::Targeted(t) => label != t,
            Goal::Untargeted => true,
        }
    }
}

/// Pictures with their labels and, optionally, the region of each where a patch may go.
#[derive(Debug, Clone)]
pub struct Scene<'a> {
    /// Geometry and valid box of every picture.
    pub canvas: Canvas,
    /// `[N, C·H·W]`, channels first.
    pub pictures: &'a [f32],
    /// One class per picture.
    pub labels: &'a [i64],
    /// `[N, H·W]`: where a patch may lie on each picture (the sign, not the sky).
    pub regions: Option<&'a [bool]>,
}

impl<'a> Scene<'a> {
    /// Checks that the arrays agree.
    pub fn new(
        canvas: Canvas,
        pictures: &'a [f32],
        labels: &'a [i64],
        regions: Option<&'a [bool]>,
    ) -> Result<Scene<'a>> {
        let n = labels.len();
        if pictures.len() != n * canvas.features() {
            return Err(Error::Data(format!(
                "{} values for {n} labels of pictures of {} values each; give one label per picture",
                pictures.len(),
                canvas.features()
            )));
        }
        if let Some(r) = regions {
            if r.len() != n * canvas.height * canvas.width {
                return Err(Error::Data(format!(
                    "the placement regions hold {} values, but {n} pictures of {}×{} need {}; give \
                     one height × width mask per picture",
                    r.len(),
                    canvas.height,
                    canvas.width,
                    n * canvas.height * canvas.width
                )));
            }
            if let Some(i) = (0..n).find(|&i| !self_region(r, canvas, i).iter().any(|&b| b)) {
                return Err(Error::Data(format!(
                    "the placement region of picture {i} is empty: the patch has nowhere to go; \
                     mark at least the object's pixels with 1"
                )));
            }
        }
        Ok(Scene {
            canvas,
            pictures,
            labels,
            regions,
        })
    }

    /// Number of pictures.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no pictures.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Picture `i`.
    pub fn picture(&self, i: usize) -> &'a [f32] {
        let f = self.canvas.features();
        &self.pictures[i * f..(i + 1) * f]
    }

    /// Picture `i` alone, as a scene of its own (its region with it).
    pub fn one(&self, i: usize) -> Scene<'a> {
        Scene {
            canvas: self.canvas,
            pictures: self.picture(i),
            labels: &self.labels[i..i + 1],
            regions: self.region(i),
        }
    }

    /// The region of picture `i`, if regions were given.
    pub fn region(&self, i: usize) -> Option<&'a [bool]> {
        self.regions.map(|r| self_region(r, self.canvas, i))
    }

    /// Area, in pixels, that a patch of `size` (a fraction) covers on picture `i`: of the
    /// picture, or of its region when regions were given (the sticker is a fraction of the
    /// sign, and a far sign makes a small sticker).
    pub fn patch_area(&self, i: usize, size: f64) -> f64 {
        let pixels = match self.region(i) {
            Some(r) => r.iter().filter(|&&b| b).count(),
            None => self.canvas.height * self.canvas.width,
        };
        size * pixels as f64
    }

    /// Mean of [`Scene::patch_area`] over the pictures: the footprint is made for it.
    pub fn mean_patch_area(&self, size: f64) -> f64 {
        (0..self.len())
            .map(|i| self.patch_area(i, size))
            .sum::<f64>()
            / self.len().max(1) as f64
    }

    /// How much the footprint is scaled on picture `i` so that it covers its area there.
    pub fn base_scale(&self, i: usize, size: f64, footprint: &Footprint) -> f32 {
        match self.regions {
            None => 1.0,
            Some(_) => (self.patch_area(i, size) / footprint.area().max(1) as f64).sqrt() as f32,
        }
    }
}

fn self_region(regions: &[bool], canvas: Canvas, i: usize) -> &[bool] {
    let plane = canvas.height * canvas.width;
    &regions[i * plane..(i + 1) * plane]
}
