//! Making the patch (Brown et al., "Adversarial patch", 2017): Adam on the patch's pixels,
//! each step over a batch of pictures, each picture under its own random condition:
//!
//! ```text
//! patch ← uniform noise in the valid box
//! repeat steps times:
//!     draw a batch of pictures xᵢ and conditions tᵢ ~ EOT
//!     g ← (1/B) Σᵢ ∇_patch J(f(A(patch, xᵢ, tᵢ)), yᵢ)     J: −CE(target), or CE(label)
//!     patch ← clip(Adam step ascending g)
//! ```
//!
//! `A` is [`Placement::apply`]; its backward pass carries the model's input gradient to the
//! patch. Every step draws from a generator seeded by (seed, step), so a run resumed from a
//! checkpoint takes the same steps as one never stopped.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Differentiable};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::{Error, Result};
use gauntlet_run::Progress;
use gauntlet_train::optimizer::{Optimizer, OptimizerKind};

use crate::eot::Eot;
use crate::palette::Palette;
use crate::placement::Placement;
use crate::scene::{Goal, Scene};
use crate::shape::Footprint;
use crate::smoothness::total_variation;

/// How long and how fast a patch is optimized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Schedule {
    /// Adam steps.
    pub steps: usize,
    /// Pictures (each under its own condition) per step.
    pub batch_size: usize,
    /// Adam's learning rate, in units of the valid range.
    pub lr: f32,
    /// Seed of the initial patch and of every step's draws.
    pub seed: u64,
    /// What each step minimizes.
    pub loss: PatchLoss,
}

/// What each step minimizes over its batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PatchLoss {
    /// Cross-entropy toward the target (or away from the label): Brown et al.'s choice.
    CrossEntropy,
    /// Hinge on the logit margin (Carlini–Wagner): a picture whose margin for the attacker
    /// already exceeds `kappa` adds nothing, so the patch spends itself on the pictures it
    /// does not yet fool rather than on making fooled ones more certain.
    Margin {
        /// Margin (in logits) beyond which a picture counts as done.
        kappa: f32,
    },
}

impl PatchLoss {
    /// `ce` or `margin` (with `kappa`).
    pub fn parse(name: &str, kappa: f32) -> Result<PatchLoss> {
        match name {
            "ce" => Ok(PatchLoss::CrossEntropy),
            "margin" if kappa.is_finite() && kappa >= 0.0 => Ok(PatchLoss::Margin { kappa }),
            "margin" => Err(Error::Parameter(format!(
                "--kappa {kappa} must be a finite margin ≥ 0 (in logits)"
            ))),
            other => Err(Error::Parameter(format!(
                "unknown patch loss '{other}'; use ce (cross-entropy) or margin (hinge on the \
                 logit margin)"
            ))),
        }
    }
}

/// How printable the patch is made: penalties added to each step's loss.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Printability {
    /// Weight of the total variation (smoothness, `smoothness.rs`).
    pub tv: f32,
    /// Weight of the non-printability score against `palette`.
    pub nps: f32,
    /// The printer's colours; the patch is also snapped onto them at the end.
    pub palette: Option<Palette>,
}

impl Printability {
    /// For the checkpoint's fingerprint.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "tv": self.tv,
            "nps": self.nps,
            "palette": self.palette.as_ref().map(|p| (&p.source, &p.colours)),
        })
    }

    /// Adds the penalties' gradients to `descent` (the gradient of the minimized loss).
    fn add_gradient(&self, patch: &[f32], footprint: &Footprint, descent: &mut [f32]) {
        if self.tv > 0.0 {
            let (_, g) =
                total_variation(patch, &footprint.opacity, footprint.height, footprint.width);
            descent
                .iter_mut()
                .zip(&g)
                .for_each(|(d, g)| *d += self.tv * g);
        }
        if let (true, Some(palette)) = (self.nps > 0.0, &self.palette) {
            let (_, g) = palette.score(patch, &footprint.opacity);
            descent
                .iter_mut()
                .zip(&g)
                .for_each(|(d, g)| *d += self.nps * g);
        }
    }
}

/// A patch being made: enough to continue where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchState {
    /// Steps taken.
    pub step: usize,
    /// `[C, h, w]` in the valid box.
    pub patch: Vec<f32>,
    /// Adam's first moments.
    pub first: Vec<f32>,
    /// Adam's second moments.
    pub second: Vec<f32>,
    /// The batches' mean loss and success, now and then.
    pub curve: Vec<CurvePoint>,
}

/// The optimization's state at one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Step (1-based).
    pub step: usize,
    /// Mean of the minimized loss over the batch (CE to the target or −CE of the label; for
    /// the margin loss, the attacker's margin, negated).
    pub loss: f32,
    /// Share of the batch whose answer was what the attacker wants.
    pub success: f32,
}

/// Mixes a seed with indices into one 64-bit seed (SplitMix64 steps), so draws never depend
/// on how work was split or resumed.
pub fn mix(seed: u64, parts: &[u64]) -> u64 {
    let mut z = seed;
    for &p in parts {
        z = z.wrapping_add(p).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// `n` values drawn uniformly from the valid box, seeded: a starting patch, or the random patch
/// every optimized one is compared with.
pub fn noise(n: usize, bounds: (f32, f32), seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(bounds.0..=bounds.1)).collect()
}

impl PatchState {
    /// The starting point: uniform noise in the valid box, seeded.
    pub fn start(footprint: &Footprint, channels: usize, bounds: (f32, f32), seed: u64) -> Self {
        let n = channels * footprint.height * footprint.width;
        PatchState {
            step: 0,
            patch: noise(n, bounds, mix(seed, &[0x5EED])),
            first: vec![0.0; n],
            second: vec![0.0; n],
            curve: Vec::new(),
        }
    }
}

/// Everything one optimization needs besides its state.
pub struct PatchProblem<'a> {
    /// The white-box model.
    pub model: &'a dyn Differentiable,
    /// The pictures the patch is made on.
    pub scene: &'a Scene<'a>,
    /// The patch's outline at scale 1.
    pub footprint: &'a Footprint,
    /// The patch's size as a fraction of each picture (or region).
    pub size: f64,
    /// The conditions drawn each step.
    pub eot: Eot,
    /// What the patch should do.
    pub goal: Goal,
    /// Steps, batch, rate, seed.
    pub schedule: Schedule,
    /// Smoothness and palette penalties.
    pub printability: &'a Printability,
}

/// Where a curve point is recorded: about a hundred per run.
fn records(step: usize, steps: usize) -> bool {
    step == steps || step.is_multiple_of(steps.div_ceil(100).max(1))
}

impl PatchProblem<'_> {
    /// Pictures the patch is optimized on: those the goal applies to.
    fn eligible(&self) -> Vec<usize> {
        (0..self.scene.len())
            .filter(|&i| self.goal.applies_to(self.scene.labels[i]))
            .collect()
    }

    /// Runs steps from `state` until the schedule is done or `progress` says stop; calls
    /// `checkpoint` every `every` steps and when it stops. Returns the state reached.
    pub fn run(
        &self,
        mut state: PatchState,
        progress: &dyn Progress,
        every: usize,
        checkpoint: &mut dyn FnMut(&PatchState) -> Result<()>,
    ) -> Result<PatchState> {
        let eligible = self.eligible();
        if eligible.is_empty() {
            return Err(Error::Data(
                "no picture to make the patch on: every training picture already belongs to the \
                 target class; give pictures of other classes"
                    .into(),
            ));
        }
        let canvas = self.scene.canvas;
        let f = canvas.features();
        let classes = self.model.num_classes();
        let device = compute_device();
        let mut optimizer = Optimizer {
            kind: OptimizerKind::parse("adam", Some(0.0)).map_err(Error::Parameter)?,
            steps: state.step as u64,
            first: vec![std::mem::take(&mut state.first)],
            second: vec![std::mem::take(&mut state.second)],
        };
        progress.advance(state.step as u64);
        while state.step < self.schedule.steps {
            if progress.cancelled() {
                break;
            }
            let mut rng = StdRng::seed_from_u64(mix(self.schedule.seed, &[state.step as u64]));
            let batch: Vec<(usize, crate::eot::Condition)> = (0..self.schedule.batch_size)
                .map(|_| {
                    (
                        eligible[rng.gen_range(0..eligible.len())],
                        self.eot.draw(&mut rng),
                    )
                })
                .collect();
            let placements: Vec<Placement> = batch
                .par_iter()
                .map(|&(i, condition)| {
                    let scale = self.scene.base_scale(i, self.size, self.footprint);
                    Placement::new(
                        self.footprint,
                        &canvas,
                        &condition,
                        scale,
                        self.scene.region(i),
                    )
                })
                .collect();
            let patched: Vec<f32> = batch
                .par_iter()
                .zip(&placements)
                .flat_map_iter(|(&(i, _), p)| p.apply(self.scene.picture(i), &state.patch, &canvas))
                .collect();
            let labels: Vec<i64> = batch.iter().map(|&(i, _)| self.scene.labels[i]).collect();
            let targets: Vec<i64> = match self.goal {
                Goal::Targeted(t) => vec![t; batch.len()],
                Goal::Untargeted => Vec::new(),
            };
            let objective = match (self.goal, self.schedule.loss) {
                (Goal::Targeted(_), PatchLoss::CrossEntropy) => {
                    Objective::TargetedCrossEntropy(&targets)
                }
                (Goal::Untargeted, PatchLoss::CrossEntropy) => Objective::CrossEntropy(&labels),
                (Goal::Targeted(_), PatchLoss::Margin { .. }) => {
                    Objective::TargetedMargin(&targets)
                }
                (Goal::Untargeted, PatchLoss::Margin { .. }) => Objective::Margin(&labels),
            };
            let x = from_rows(patched, batch.len(), f, &device);
            let result = loss_and_grad(self.model, &x, &objective)?;
            let grad = to_vec(result.grad);
            // The objective is ascended; Adam descends, so it is handed the negative mean.
            let n = state.patch.len();
            // The hinge: pictures already fooled by more than κ pass no gradient.
            let active: Vec<bool> = match self.schedule.loss {
                PatchLoss::CrossEntropy => vec![true; batch.len()],
                PatchLoss::Margin { kappa } => result.loss.iter().map(|&m| m < kappa).collect(),
            };
            // Per-picture gradients in parallel, summed in batch order: a float sum whose order
            // depended on how rayon split the work would make runs irreproducible.
            let per_picture: Vec<Option<Vec<f32>>> = placements
                .par_iter()
                .zip(grad.par_chunks(f))
                .zip(active.par_iter())
                .map(|((p, g), &on)| {
                    on.then(|| {
                        let mut acc = vec![0f32; n];
                        p.backward(g, &state.patch, &canvas, &mut acc);
                        acc
                    })
                })
                .collect();
            let mut summed = vec![0f32; n];
            for g in per_picture.iter().flatten() {
                summed.iter_mut().zip(g).for_each(|(s, v)| *s += v);
            }
            let scale = -1.0 / batch.len() as f32;
            let mut descent: Vec<f32> = summed.iter().map(|g| g * scale).collect();
            self.printability
                .add_gradient(&state.patch, self.footprint, &mut descent);
            optimizer.step(&mut [&mut state.patch], &[descent], self.schedule.lr);
            let (lo, hi) = canvas.bounds;
            state.patch.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
            state.step += 1;
            if records(state.step, self.schedule.steps) {
                let predicted = argmax_rows(&result.logits, classes);
                let reached = labels
                    .iter()
                    .zip(&predicted)
                    .filter(|&(&y, &p)| self.goal.reached(y, p))
                    .count();
                state.curve.push(CurvePoint {
                    step: state.step,
                    loss: -result.loss.iter().sum::<f32>() / batch.len() as f32,
                    success: reached as f32 / batch.len() as f32,
                });
            }
            progress.advance(1);
            if state.step.is_multiple_of(every.max(1)) {
                state.first = optimizer.first[0].clone();
                state.second = optimizer.second[0].clone();
                checkpoint(&state)?;
            }
        }
        state.first = std::mem::take(&mut optimizer.first[0]);
        state.second = std::mem::take(&mut optimizer.second[0]);
        checkpoint(&state)?;
        Ok(state)
    }
}
