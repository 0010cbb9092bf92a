//! Spatial attacks (Engstrom, Tran, Tsipras, Schmidt & Madry, "Exploring the Landscape of
//! Spatial Robustness", ICML 2019): no noise at all — the adversary only **rotates and
//! translates** the picture, within ±30° and ±3 pixels on MNIST and CIFAR-10, and the paper
//! finds that naturally trained networks often fail on some such harmless-looking copy.
//!
//! The paper's strongest attack is exhaustive: a grid over the transformation space, every
//! point tried, the worst kept. First-order methods do badly here (the loss is far from
//! concave in the angle and shift), so the grid is the reference. Its baselines are a single
//! random transformation and the worst of ten random ones:
//!
//! ```text
//! grid search:   for every (θ, dx, dy) in the grid: ask f(T(x));  keep the worst
//! random:        one (θ, dx, dy) drawn uniformly from the same ranges
//! worst-of-k:    k draws; keep the worst
//! ```
//!
//! "Worst" is the largest adversarial margin: the best other class's logit minus the label's
//! (untargeted), or the target's logit minus the best other class's (targeted); a
//! transformation the model is fooled by always beats one it is not.
//!
//! A rotated picture is far from the original in every Lp norm, so this is not an Lp attack
//! and does not go through [`Attack::run`](crate::Attack::run)'s ε-ball verification. It
//! returns each sample's transformation; the caller verifies by re-applying it to the clean
//! picture with [`Transform::apply`] and asking the model (`gauntlet_eval::spatial`).
//!
//! Transformed copies are resampled on the host in parallel (rayon) and sent to the model
//! `rows_per_pass` at a time, across samples, so one forward pass holds many copies.

mod transform;

use rand::rngs::StdRng;
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use gauntlet_core::criterion::Criterion;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::{Error, Result};

pub use transform::{Picture, Transform};

/// The transformations a grid search tries: `rotations` angles evenly spaced over
/// `[−rotation_deg, rotation_deg]` and `translations` shifts evenly spaced over
/// `[−translation_px, translation_px]` on each axis (a single step means 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpatialGrid {
    /// Largest rotation either way, degrees.
    pub rotation_deg: f32,
    /// Angles tried.
    pub rotations: usize,
    /// Largest shift either way on each axis, pixels.
    pub translation_px: f32,
    /// Shifts tried per axis.
    pub translations: usize,
}

impl Default for SpatialGrid {
    /// Engstrom et al.'s MNIST/CIFAR-10 attack space, ±30° and ±3 px, at 2° and 1 px steps:
    /// 31 × 7 × 7 = 1,519 transformations.
    fn default() -> Self {
        SpatialGrid {
            rotation_deg: 30.0,
            rotations: 31,
            translation_px: 3.0,
            translations: 7,
        }
    }
}

/// The most transformations a grid may hold: every one costs a forward pass per sample.
pub const MAX_TRANSFORMATIONS: usize = 1_000_000;

impl SpatialGrid {
    /// A checked grid; bad values are refused naming the field.
    pub fn new(
        rotation_deg: f32,
        rotations: usize,
        translation_px: f32,
        translations: usize,
    ) -> Result<SpatialGrid> {
        if !(rotation_deg.is_finite() && (0.0..=180.0).contains(&rotation_deg)) {
            return Err(Error::Parameter(format!(
                "spatial rotation = {rotation_deg}° must be between 0 and 180 degrees"
            )));
        }
        if !(translation_px.is_finite() && translation_px >= 0.0) {
            return Err(Error::Parameter(format!(
                "spatial translation = {translation_px} px must be a finite number ≥ 0"
            )));
        }
        for (steps, range, what) in [
            (rotations, rotation_deg, "rotation"),
            (translations, translation_px, "translation"),
        ] {
            if steps == 0 {
                return Err(Error::Parameter(format!(
                    "spatial {what} steps must be at least 1"
                )));
            }
            if range == 0.0 && steps > 1 {
                return Err(Error::Parameter(format!(
                    "spatial {what} range is 0, so {steps} steps would repeat one value; use 1 step"
                )));
            }
        }
        let grid = SpatialGrid {
            rotation_deg,
            rotations,
            translation_px,
            translations,
        };
        if grid.len() > MAX_TRANSFORMATIONS {
            return Err(Error::Parameter(format!(
                "the spatial grid holds {} transformations (rotation steps × translation steps²); \
                 at most {MAX_TRANSFORMATIONS} are allowed, each costs one forward pass per sample",
                grid.len()
            )));
        }
        Ok(grid)
    }

    /// Transformations in the grid.
    pub fn len(&self) -> usize {
        self.rotations * self.translations * self.translations
    }

    /// Never true for a checked grid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every transformation, angle outermost, then `dx`, then `dy`.
    pub fn transforms(&self) -> Vec<Transform> {
        let angles = evenly_spaced(self.rotation_deg, self.rotations);
        let shifts = evenly_spaced(self.translation_px, self.translations);
        let mut all = Vec::with_capacity(self.len());
        for &rotation_deg in &angles {
            for &dx in &shifts {
                for &dy in &shifts {
                    all.push(Transform {
                        rotation_deg,
                        dx,
                        dy,
                    });
                }
            }
        }
        all
    }

    /// One transformation drawn uniformly from the grid's ranges (continuous: sub-pixel shifts
    /// and any angle), the paper's random baseline.
    pub fn random(&self, rng: &mut StdRng) -> Transform {
        let mut uniform = |range: f32| {
            if range > 0.0 {
                rng.gen_range(-range..=range)
            } else {
                0.0
            }
        };
        Transform {
            rotation_deg: uniform(self.rotation_deg),
            dx: uniform(self.translation_px),
            dy: uniform(self.translation_px),
        }
    }
}

/// `steps` values from `−range` to `range`; one step is 0.
fn evenly_spaced(range: f32, steps: usize) -> Vec<f32> {
    if steps == 1 {
        return vec![0.0];
    }
    (0..steps)
        .map(|i| {
            // Computed in f64 and rounded once, so the grid's middle value is exactly 0.
            let t = i as f64 / (steps - 1) as f64;
            ((2.0 * t - 1.0) * range as f64) as f32
        })
        .collect()
}

/// What the search found for one sample: its worst transformation and what the model said.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpatialFinding {
    /// The worst transformation tried.
    pub transform: Transform,
    /// The model's prediction on the transformed picture.
    pub prediction: i64,
    /// Whether that prediction meets the criterion, as the search saw it (the caller verifies).
    pub fooled: bool,
    /// The adversarial margin there (positive: another class, or the target, leads).
    pub margin: f32,
}

/// The search over a batch of pictures: which transformations each sample is tried under,
/// how many transformed copies go through the model at once.
#[derive(Clone, Copy)]
pub struct SpatialSearch<'a> {
    /// The model, asked for logits only (black-box access is enough).
    pub model: &'a dyn Classifier,
    /// The pictures' shape.
    pub picture: Picture,
    /// The value of pixels that come from outside the picture.
    pub fill: f32,
    /// Transformed copies per forward pass.
    pub rows_per_pass: usize,
}

impl SpatialSearch<'_> {
    /// The grid search: every sample of `x` (flat `[n, C·H·W]`) under every transformation of
    /// `grid`; returns each sample's worst one and the queries spent.
    pub fn grid(
        &self,
        x: &[f32],
        labels: &[i64],
        criterion: &Criterion,
        grid: &SpatialGrid,
    ) -> Result<(Vec<SpatialFinding>, u64)> {
        let all = grid.transforms();
        self.worst_of(x, labels, criterion, &vec![all; labels.len()])
    }

    /// The worst of `draws` random transformations per sample, sample `i` drawing from
    /// `rngs[i]` (so results do not depend on how samples are batched).
    pub fn random(
        &self,
        x: &[f32],
        labels: &[i64],
        criterion: &Criterion,
        grid: &SpatialGrid,
        draws: usize,
        rngs: &mut [StdRng],
    ) -> Result<(Vec<SpatialFinding>, u64)> {
        let candidates: Vec<Vec<Transform>> = rngs
            .iter_mut()
            .map(|rng| (0..draws).map(|_| grid.random(rng)).collect())
            .collect();
        self.worst_of(x, labels, criterion, &candidates)
    }

    /// Each sample `i` under each of `candidates[i]`, batched across samples; the worst per
    /// sample.
    pub fn worst_of(
        &self,
        x: &[f32],
        labels: &[i64],
        criterion: &Criterion,
        candidates: &[Vec<Transform>],
    ) -> Result<(Vec<SpatialFinding>, u64)> {
        let f = self.picture.len();
        let n = labels.len();
        if x.len() != n * f || candidates.len() != n {
            return Err(Error::Data(format!(
                "spatial search: {} values, {n} labels and {} candidate lists do not describe \
                 {n} pictures of {f} values",
                x.len(),
                candidates.len()
            )));
        }
        if self.rows_per_pass == 0 {
            return Err(Error::Parameter(
                "spatial search: rows_per_pass must be at least 1".into(),
            ));
        }
        if candidates.iter().any(Vec::is_empty) {
            return Err(Error::Parameter(
                "spatial search: every sample needs at least one transformation".into(),
            ));
        }
        let classes = self.model.num_classes();
        let targets = criterion.targets();
        let pairs: Vec<(usize, Transform)> = candidates
            .iter()
            .enumerate()
            .flat_map(|(i, list)| list.iter().map(move |&t| (i, t)))
            .collect();
        let mut best: Vec<Option<SpatialFinding>> = vec![None; n];
        let device = compute_device();
        let mut queries = 0u64;
        let mut rows = vec![0f32; self.rows_per_pass.min(pairs.len()) * f];
        for pass in pairs.chunks(self.rows_per_pass) {
            let rows = &mut rows[..pass.len() * f];
            rows.par_chunks_mut(f)
                .zip(pass.par_iter())
                .for_each(|(out, &(i, t))| {
                    t.apply_into(&x[i * f..(i + 1) * f], self.picture, self.fill, out)
                });
            let logits =
                to_vec(
                    self.model
                        .logits(from_rows(rows.to_vec(), pass.len(), f, &device))?,
                );
            queries += pass.len() as u64;
            let predictions = argmax_rows(&logits, classes);
            for (r, &(i, transform)) in pass.iter().enumerate() {
                let row = &logits[r * classes..(r + 1) * classes];
                let finding = SpatialFinding {
                    transform,
                    prediction: predictions[r],
                    fooled: criterion.is_adversarial(i, labels[i], predictions[r]),
                    margin: margin(row, labels[i], targets.as_ref().map(|t| t[i])),
                };
                let better = match &best[i] {
                    None => true,
                    Some(b) => (finding.fooled, finding.margin) > (b.fooled, b.margin),
                };
                if better {
                    best[i] = Some(finding);
                }
            }
        }
        Ok((best.into_iter().flatten().collect(), queries))
    }
}

/// How far a row of logits is from (positive) or into (negative) the adversarial region.
fn margin(logits: &[f32], label: i64, target: Option<i64>) -> f32 {
    let best_except = |skip: usize| {
        logits
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != skip)
            .map(|(_, &v)| v)
            .fold(f32::NEG_INFINITY, f32::max)
    };
    match target {
        Some(t) => logits[t as usize] - best_except(t as usize),
        None => best_except(label as usize) - logits[label as usize],
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use gauntlet_core::model::predict;
    use gauntlet_core::Tensor;

    /// Four classes, one per quadrant of a 1×6×6 picture: a class's logit is the sum of its
    /// quadrant (top-left, top-right, bottom-left, bottom-right), so turning the picture moves
    /// the prediction.
    struct Quadrants {
        shape: [usize; 3],
    }

    impl Classifier for Quadrants {
        fn sample_shape(&self) -> &[usize] {
            &self.shape
        }
        fn num_classes(&self) -> usize {
            4
        }
        fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
            let [n, f] = x.dims();
            let values = to_vec(x);
            let mut out = vec![0f32; n * 4];
            for (row, logits) in values.chunks(f).zip(out.chunks_mut(4)) {
                for y in 0..6 {
                    for x in 0..6 {
                        logits[(y / 3) * 2 + x / 3] += row[y * 6 + x];
                    }
                }
            }
            Ok(from_rows(out, n, 4, &compute_device()))
        }
    }

    const PICTURE: Picture = Picture {
        channels: 1,
        height: 6,
        width: 6,
    };

    /// A bright blob in the top-left quadrant, at distance `offset` from the centre lines.
    fn blob(offset: usize) -> Vec<f32> {
        let mut p = vec![0f32; 36];
        let at = 2 - offset.min(2);
        p[at * 6 + at] = 1.0;
        p[at * 6 + at + 1] = 0.8;
        p[(at + 1) * 6 + at] = 0.8;
        p
    }

    fn search(model: &Quadrants) -> SpatialSearch<'_> {
        SpatialSearch {
            model,
            picture: PICTURE,
            fill: 0.0,
            rows_per_pass: 7,
        }
    }

    #[test]
    fn the_default_grid_is_the_papers() {
        let grid = SpatialGrid::default();
        let all = grid.transforms();
        assert_eq!((grid.len(), all.len()), (1519, 1519));
        assert_eq!(all[0].rotation_deg, -30.0);
        assert_eq!(all[1518].rotation_deg, 30.0);
        // The middle of the grid is the identity, exactly; angles are 2° apart.
        assert_eq!(all[1519 / 2], Transform::IDENTITY);
        assert_eq!(all[49].rotation_deg, -28.0);
        let shifts: Vec<f32> = all[..7].iter().map(|t| t.dy).collect();
        assert_eq!(shifts, vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]);
        assert!(SpatialGrid::new(30.0, 0, 3.0, 7).is_err());
        assert!(SpatialGrid::new(0.0, 5, 3.0, 7).is_err());
        assert!(SpatialGrid::new(f32::NAN, 5, 3.0, 7).is_err());
        assert!(SpatialGrid::new(30.0, 31, -1.0, 7).is_err());
        assert!(SpatialGrid::new(30.0, 100_000, 3.0, 7).is_err());
    }

    #[test]
    fn the_search_reports_only_what_the_model_confirms() {
        let model = Quadrants { shape: [1, 6, 6] };
        // Three samples: a blob at the centre (easily moved across the centre lines), one
        // deep in its corner (no ±1 px shift and no ±10° turn moves it), and one labelled
        // wrongly on purpose (already "fooled" by the identity).
        let x: Vec<f32> = [blob(0), blob(2), blob(0)].concat();
        let labels = vec![0, 0, 3];
        let grid = SpatialGrid::new(10.0, 3, 1.0, 3).unwrap();
        let (found, queries) = search(&model)
            .grid(&x, &labels, &Criterion::Untargeted, &grid)
            .unwrap();
        assert_eq!(queries, 3 * 27);
        assert_eq!(found.len(), 3);
        for (i, finding) in found.iter().enumerate() {
            let moved = finding
                .transform
                .apply(&x[i * 36..(i + 1) * 36], PICTURE, 0.0);
            let said = predict(&model, from_rows(moved, 1, 36, &compute_device())).unwrap()[0];
            assert_eq!(said, finding.prediction, "sample {i}");
            assert_eq!(finding.fooled, said != labels[i], "sample {i}");
        }
        assert!(found[0].fooled, "{:?}", found[0]);
        assert!(found[2].fooled);
        // Nothing in the grid fools the model on the second sample: check them all.
        assert!(!found[1].fooled);
        for t in grid.transforms() {
            let moved = t.apply(&x[36..72], PICTURE, 0.0);
            let said = predict(&model, from_rows(moved, 1, 36, &compute_device())).unwrap()[0];
            assert_eq!(said, 0, "{t:?}");
        }
    }

    #[test]
    fn a_targeted_search_looks_for_the_target() {
        let model = Quadrants { shape: [1, 6, 6] };
        let x = blob(0);
        // Moving the blob right puts it in the top-right quadrant (class 1); down, class 2.
        let grid = SpatialGrid::new(0.0, 1, 2.0, 5).unwrap();
        for target in [1, 2, 3] {
            let criterion = Criterion::Targeted(vec![target]);
            let (found, _) = search(&model).grid(&x, &[0], &criterion, &grid).unwrap();
            assert!(found[0].fooled);
            assert_eq!(found[0].prediction, target);
        }
    }

    #[test]
    fn random_draws_follow_the_seed_and_stay_in_range() {
        let model = Quadrants { shape: [1, 6, 6] };
        let x: Vec<f32> = [blob(0), blob(1)].concat();
        let grid = SpatialGrid::default();
        let run = |seed: u64| {
            let mut rngs: Vec<StdRng> = (0..2).map(|i| StdRng::seed_from_u64(seed + i)).collect();
            search(&model)
                .random(&x, &[0, 0], &Criterion::Untargeted, &grid, 10, &mut rngs)
                .unwrap()
        };
        let (a, queries) = run(1);
        assert_eq!(queries, 20);
        assert_eq!(a, run(1).0);
        assert_ne!(a, run(2).0);
        for f in &a {
            assert!(f.transform.rotation_deg.abs() <= 30.0);
            assert!(f.transform.dx.abs() <= 3.0 && f.transform.dy.abs() <= 3.0);
        }
    }
}
