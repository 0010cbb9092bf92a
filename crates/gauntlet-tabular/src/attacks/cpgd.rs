//! Constrained PGD for differentiable models (in the spirit of Simonetto et al. 2022's CPGD):
//! gradient-sign steps on the relaxed row — every column a real number — that move only what
//! the attacker may move, in steps scaled to each column's spread, projected back into the
//! L∞ ball (in those units) and the schema's bounds. Every few steps the relaxed rows are
//! made real: each column snapped to its kind, one-hot groups to their largest column, the
//! linear rules repaired. The cheapest real row that evades is kept and then reduced to the
//! changes it needs. Random restarts start from uniform points in the ball.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::attacks::reduce::reduce;
use crate::attacks::{Context, Needs, TabularAttack};
use crate::error::{Error, Result};
use crate::model::Goal;

/// Constrained projected gradient ascent on the goal margin.
#[derive(Debug, Clone)]
pub struct ConstrainedPgd {
    /// Gradient steps per restart.
    pub steps: usize,
    /// Runs from the original (the first) and from random points in the ball.
    pub restarts: usize,
    /// Radius of the L∞ ball in units of each column's spread in the data; `None`: only the
    /// schema's bounds limit the change.
    pub eps: Option<f64>,
    /// Steps between two snaps to a real row.
    pub check_every: usize,
}

impl Default for ConstrainedPgd {
    fn default() -> Self {
        ConstrainedPgd {
            steps: 50,
            restarts: 2,
            eps: None,
            check_every: 5,
        }
    }
}

impl TabularAttack for ConstrainedPgd {
    fn name(&self) -> &'static str {
        "cpgd"
    }

    fn needs(&self) -> Needs {
        Needs::Gradients
    }

    fn describe(&self) -> String {
        format!(
            "cpgd: {} steps, {} restarts, ε {} (L∞, in units of each column's spread), snapped every {} steps",
            self.steps,
            self.restarts,
            self.eps.map_or("unbounded".to_string(), |e| e.to_string()),
            self.check_every
        )
    }

    fn attack(
        &self,
        context: &Context,
        rows: &[f32],
        goals: &[Goal],
    ) -> Result<Vec<Option<Vec<f32>>>> {
        let space = context.space;
        let width = space.width();
        let n = goals.len();
        let classes = context.model.classes();
        let columns: Vec<Column> = (0..width)
            .map(|c| {
                let u = space.unit_of(c);
                let (min, max) = space.bounds(u);
                Column {
                    mutable: space.units[u].mutable,
                    scale: space.scale(u),
                    min,
                    max,
                }
            })
            .collect();
        // The ball's radius, per column: the whole box when unbounded.
        let radius = self.eps.unwrap_or(f64::INFINITY);
        let step = 2.5 * self.eps.unwrap_or(1.0) / self.steps.max(1) as f64;
        let mut rng = StdRng::seed_from_u64(context.seed);
        let mut best: Vec<Option<(f64, Vec<f32>)>> = vec![None; n];
        for restart in 0..self.restarts.max(1) {
            let mut x = rows.to_vec();
            if restart > 0 {
                let spread = radius.min(1.0);
                for (i, v) in x.iter_mut().enumerate() {
                    let col = &columns[i % width];
                    if col.mutable {
                        let jitter = rng.gen_range(-spread..=spread) * col.scale;
                        *v = col.clamp(f64::from(*v) + jitter) as f32;
                    }
                }
            }
            for t in 0..self.steps {
                let gradient = context.model.margin_gradient(&x, goals).ok_or_else(|| {
                    Error::config(
                        "attacks",
                        "cpgd needs a model with gradients (an ONNX network); use beam or tree",
                    )
                })??;
                for (i, v) in x.iter_mut().enumerate() {
                    let col = &columns[i % width];
                    if !col.mutable {
                        continue;
                    }
                    let g = gradient.gradient[i];
                    let moved = f64::from(*v)
                        + step * col.scale * f64::from(g.signum() * f32::from(g != 0.0));
                    let origin = f64::from(rows[i]);
                    let reach = radius * col.scale;
                    *v = col.clamp(moved.clamp(origin - reach, origin + reach)) as f32;
                }
                if (t + 1) % self.check_every.max(1) == 0 || t + 1 == self.steps {
                    let mut real = x.clone();
                    for (r, original) in real.chunks_mut(width).zip(rows.chunks(width)) {
                        space.repair(context.schema, original, r);
                    }
                    let scores = context.model.scores(&real)?;
                    for i in 0..n {
                        let (original, r) = (
                            &rows[i * width..(i + 1) * width],
                            &real[i * width..(i + 1) * width],
                        );
                        if context.success(
                            original,
                            r,
                            &scores[i * classes..(i + 1) * classes],
                            goals[i],
                        ) {
                            let cost = space.cost(original, r);
                            if best[i].as_ref().is_none_or(|(c, _)| cost < *c) {
                                best[i] = Some((cost, r.to_vec()));
                            }
                        }
                    }
                }
            }
        }
        best.into_iter()
            .enumerate()
            .map(|(i, found)| match found {
                Some((_, row)) => {
                    reduce(context, &rows[i * width..(i + 1) * width], row, goals[i]).map(Some)
                }
                None => Ok(None),
            })
            .collect()
    }
}

struct Column {
    mutable: bool,
    scale: f64,
    min: f64,
    max: f64,
}

impl Column {
    fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min, self.max)
    }
}
