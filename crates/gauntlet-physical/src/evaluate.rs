//! Judging patches: each held-out picture under fresh random conditions, the same conditions
//! for every patch compared (so differences come from the patches, not the draws), counted
//! by the model's answers.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier};
use gauntlet_core::tensor::from_rows;
use gauntlet_core::Result;
use gauntlet_run::Progress;

use crate::eot::Eot;
use crate::optimize::mix;
use crate::placement::Placement;
use crate::scene::{Goal, Scene};
use crate::shape::Footprint;

/// One row of the success table: a setting and each patch's success under it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingResult {
    /// The setting's name (`fixed`, one transformation, the spec, wider).
    pub setting: String,
    /// Its ranges.
    pub eot: Eot,
    /// Picture × condition pairs judged.
    pub trials: usize,
    /// Share of trials in which the model answered what the attacker wants, per patch (in
    /// the order the patches were given).
    pub success: Vec<f64>,
}

/// A picture as judged, for the report's grid.
#[derive(Debug, Clone)]
pub struct Example {
    /// Index of the picture in the held-out set.
    pub index: usize,
    /// True class.
    pub label: i64,
    /// The patched picture per patch.
    pub pictures: Vec<Vec<f32>>,
    /// The model's answer per patch.
    pub predicted: Vec<i64>,
}

/// What the evaluation needs besides the patches.
pub struct Judge<'a> {
    /// The model (answers only: no gradient is needed).
    pub model: &'a dyn Classifier,
    /// Held-out pictures.
    pub scene: &'a Scene<'a>,
    /// The patches' outline.
    pub footprint: &'a Footprint,
    /// Patch size (fraction of the picture or region).
    pub size: f64,
    /// What the attacker wants.
    pub goal: Goal,
    /// Random conditions per picture.
    pub draws: usize,
    /// Seed of the conditions.
    pub seed: u64,
    /// Pictures (each with all its draws) per forward pass batch.
    pub batch_pictures: usize,
}

/// The held-out pictures that count: the model classifies them correctly before any patch,
/// and the goal applies to them (not already of the target class).
pub fn eligible(
    model: &dyn Classifier,
    scene: &Scene,
    goal: Goal,
    batch: usize,
) -> Result<Vec<usize>> {
    let device = compute_device();
    let f = scene.canvas.features();
    let mut out = Vec::new();
    for start in (0..scene.len()).step_by(batch.max(1)) {
        let end = (start + batch.max(1)).min(scene.len());
        let x = from_rows(
            scene.pictures[start * f..end * f].to_vec(),
            end - start,
            f,
            &device,
        );
        for (k, p) in predict(model, x)?.into_iter().enumerate() {
            let label = scene.labels[start + k];
            if p == label && goal.applies_to(label) {
                out.push(start + k);
            }
        }
    }
    Ok(out)
}

impl Judge<'_> {
    /// Each patch's success under each setting over `pictures` (indices into the scene), and
    /// the first `examples` pictures of the setting named `show` with their first draw.
    pub fn run(
        &self,
        patches: &[&[f32]],
        settings: &[(String, Eot)],
        pictures: &[usize],
        show: (&str, usize),
        progress: &dyn Progress,
    ) -> Result<(Vec<SettingResult>, Vec<Example>)> {
        let canvas = self.scene.canvas;
        let f = canvas.features();
        let device = compute_device();
        let mut rows = Vec::new();
        let mut examples = Vec::new();
        progress.begin("evaluate patches", (settings.len() * pictures.len()) as u64);
        for (s, (name, eot)) in settings.iter().enumerate() {
            let mut hits = vec![0usize; patches.len()];
            let mut trials = 0;
            for chunk in pictures.chunks(self.batch_pictures.max(1)) {
                if progress.cancelled() {
                    return Err(gauntlet_core::Error::Data(
                        "the evaluation was interrupted; run again to redo it (the patches are \
                         kept)"
                            .into(),
                    ));
                }
                let placed: Vec<(usize, Placement)> = chunk
                    .par_iter()
                    .flat_map_iter(|&i| {
                        (0..self.draws).map(move |t| {
                            let mut rng = StdRng::seed_from_u64(mix(
                                self.seed,
                                &[s as u64, i as u64, t as u64],
                            ));
                            let condition = eot.draw(&mut rng);
                            let scale = self.scene.base_scale(i, self.size, self.footprint);
                            let p = Placement::new(
                                self.footprint,
                                &canvas,
                                &condition,
                                scale,
                                self.scene.region(i),
                            );
                            (i, p)
                        })
                    })
                    .collect();
                trials += placed.len();
                for (k, patch) in patches.iter().enumerate() {
                    let x: Vec<f32> = placed
                        .par_iter()
                        .flat_map_iter(|(i, p)| p.apply(self.scene.picture(*i), patch, &canvas))
                        .collect();
                    let answers = predict(self.model, from_rows(x, placed.len(), f, &device))?;
                    hits[k] += placed
                        .iter()
                        .zip(&answers)
                        .filter(|&(&(i, _), &a)| self.goal.reached(self.scene.labels[i], a))
                        .count();
                    if name == show.0 {
                        for (j, ((i, p), &a)) in placed.iter().zip(&answers).enumerate() {
                            if j % self.draws.max(1) != 0 {
                                continue;
                            }
                            if k == 0 && examples.len() < show.1 {
                                examples.push(Example {
                                    index: *i,
                                    label: self.scene.labels[*i],
                                    pictures: Vec::new(),
                                    predicted: Vec::new(),
                                });
                            }
                            if let Some(e) = examples.iter_mut().find(|e| e.index == *i) {
                                if e.pictures.len() == k {
                                    e.pictures.push(p.apply(
                                        self.scene.picture(*i),
                                        patch,
                                        &canvas,
                                    ));
                                    e.predicted.push(a);
                                }
                            }
                        }
                    }
                }
                progress.advance(chunk.len() as u64);
            }
            rows.push(SettingResult {
                setting: name.clone(),
                eot: *eot,
                trials,
                success: hits
                    .iter()
                    .map(|&h| h as f64 / trials.max(1) as f64)
                    .collect(),
            });
        }
        progress.end();
        Ok((rows, examples))
    }
}
