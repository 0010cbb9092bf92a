//! Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020): a score-based
//! black-box attack for L∞ and L2 that needs nothing but the model's logits.
//!
//! Random search on the margin loss (untargeted: `z_y − max_{j≠y} z_j`; targeted:
//! `max_{j≠t} z_j − z_t`; both minimised, adversarial once the model's prediction satisfies the
//! criterion). Every iteration proposes one change inside a randomly placed square window and
//! keeps it only if the margin drops:
//!
//! - **L∞**: starts from vertical stripes (each column of each channel at `x ± ε`); a proposal
//!   sets one `s × s` window of each channel to `x ± ε` with a random sign per channel, resampled
//!   until it actually differs from the current point.
//! - **L2**: starts from a grid of ±"meta pseudo-gaussian" tiles (two opposite-signed
//!   concentric-square bumps) scaled to the sphere of radius ε; a proposal moves the mass of a
//!   second window into the first, adds a fresh ±bump there, and rescales to the sphere.
//!
//! The window side follows the reference schedule: `p` (fraction of the image changed) starts
//! at `p_init` and halves at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of a
//! 10 000-query run, rescaled to the actual query budget.
//!
//! **Layout.** The sample shape is read as channels-first: `[C, H, W]` → windows over `H × W`,
//! shared by all channels with a sign per channel; `[H, W]` → one channel. Any other shape
//! (flat `[D]` features, or rank ≥ 4) is treated as `1 × 1 × D`, where a "square" becomes a
//! contiguous run of `round(p·D)` features and the L2 bump becomes its 1-D profile.
//!
//! **Batching and budgets.** A fixed-budget attack: as in PGD, every (sample, ε) pair is one
//! row searched inside its own budget (`rows.rs`); all rows still standing share one
//! `logits` call per iteration. A row leaves as soon as its best point is adversarial, so
//! queries are only counted for rows actually sent to the model. The budget `queries` holds
//! per (sample, ε) pair and counts the initial query: a row never costs more than `queries`
//! forward passes (a sample attacked at `k` budgets may cost up to `k · queries` in all). Rows
//! with ε = 0 cost nothing and return the clean input.
//!
//! The proposal geometry (stripes, windows, bumps) is in `square/proposal.rs`.

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::BudgetCandidates;
use crate::planes::Planes;
use crate::rows::{Active, Rows};
use crate::{Access, Attack, AttackInput, FixedBudget, Kind};

mod proposal;

use proposal::{init_l2, init_linf, step_l2, step_linf};

/// Score-based Square Attack, L∞ and L2; a fixed-budget attack.
#[derive(Debug, Clone)]
pub struct Square {
    /// Query budget per (sample, ε), the initial query included.
    queries: u64,
    /// Initial fraction of the image a window covers.
    p_init: f32,
}

impl Square {
    /// AutoAttack's query budget per sample and budget.
    pub const DEFAULT_QUERIES: u64 = 5000;

    /// The AutoAttack configuration (`p_init = 0.8` for both norms) with a budget of `queries`
    /// per (sample, ε) (0: no query, every row keeps its clean input); 5000 queries is the
    /// standard one.
    pub fn new(queries: u64) -> Self {
        Square {
            queries,
            p_init: 0.8,
        }
    }

    /// Overrides the initial window fraction `p_init`, in (0, 1].
    pub fn with_p_init(mut self, p_init: f32) -> Result<Self> {
        if !(p_init.is_finite() && p_init > 0.0 && p_init <= 1.0) {
            return Err(Error::Parameter(format!(
                "Square: p_init = {p_init} must be in (0, 1]"
            )));
        }
        self.p_init = p_init;
        Ok(self)
    }
}

impl Default for Square {
    fn default() -> Self {
        Square::new(Self::DEFAULT_QUERIES)
    }
}

impl Attack for Square {
    fn name(&self) -> &str {
        "square"
    }

    fn access(&self) -> Access {
        Access::Scores
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2]
    }

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "queries": self.queries,
                "queries_per": "sample and budget",
                "p_init": self.p_init,
                "p_schedule": "halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10 000 queries, rescaled",
                "loss": "margin",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::FixedBudget(self)
    }
}

impl FixedBudget for Square {
    fn attack_budgets(&self, input: &AttackInput, rng: &mut StdRng) -> Result<BudgetCandidates> {
        let f = input.features();
        let norm = input.threat().norm();
        let bounds = input.threat().bounds();
        let (lo, hi) = (bounds.min, bounds.max);
        let classes = input.model().num_classes();
        let targets = input.criterion().targets();
        let device = compute_device();
        let layout = Planes::of(input.model().sample_shape(), f);
        let margin_of = |i: usize, logits: &[f32]| match &targets {
            Some(t) => margin(logits, t[i] as usize, -1.0),
            None => margin(logits, input.labels()[i] as usize, 1.0),
        };

        let mut rows = Rows::new(input);
        // Each row's best margin so far.
        let open = if self.queries == 0 {
            Vec::new()
        } else {
            rows.open()
        };
        let mut active = Active::new(open.clone(), vec![f32::INFINITY; open.len()]);

        // Initial points.
        let mut proposal = Vec::with_capacity(active.len() * f);
        for &r in active.rows() {
            let start = match norm {
                Norm::L2 => init_l2(rows.clean(r), rows.eps(r), &layout, (lo, hi), rng),
                _ => init_linf(rows.clean(r), rows.eps(r), &layout, (lo, hi), rng),
            };
            proposal.extend_from_slice(&start);
        }
        let mut iteration = 0u64;
        while !active.is_empty() {
            let batch = from_rows(proposal.clone(), active.len(), f, &device);
            let logits = to_vec(input.model().logits(batch)?);
            let preds = argmax_rows(&logits, classes);
            let mut leave = vec![false; active.len()];
            for (k, (r, best)) in active.iter_mut().enumerate() {
                let used = rows.spend(r);
                let m = margin_of(rows.sample(r), &logits[k * classes..(k + 1) * classes]);
                let hit = rows.is_adversarial(r, preds[k]);
                if hit || m < *best {
                    *best = m;
                    rows.set_point(r, &proposal[k * f..(k + 1) * f]);
                }
                leave[k] = hit || used >= self.queries;
            }
            active.drop_where(&leave);
            proposal.clear();
            let p = p_selection(self.p_init, iteration, self.queries);
            iteration += 1;
            for &r in active.rows() {
                let (x, current, eps) = (rows.clean(r), rows.point(r), rows.eps(r));
                let next = match norm {
                    Norm::L2 => step_l2(x, current, eps, p, &layout, (lo, hi), rng),
                    _ => step_linf(x, current, eps, p, &layout, (lo, hi), rng),
                };
                proposal.extend_from_slice(&next);
            }
        }
        Ok(rows.into_candidates(0, true))
    }
}

/// `sign · (z_c − max_{j≠c} z_j)`: with `sign = 1` and `c` the label, the untargeted margin;
/// with `sign = −1` and `c` the target, the targeted one. Both are ≤ 0 once adversarial.
fn margin(logits: &[f32], class: usize, sign: f32) -> f32 {
    let other = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != class)
        .fold(f32::NEG_INFINITY, |m, (_, &v)| m.max(v));
    sign * (logits[class] - other)
}

/// Fraction of the image a window covers at `iteration` of a `budget`-query run: the
/// reference's piecewise-constant halving schedule for 10 000 queries, rescaled.
fn p_selection(p_init: f32, iteration: u64, budget: u64) -> f32 {
    let it = (iteration * 10_000) / budget.max(1);
    let halvings = match it {
        0..=10 => 0,
        11..=50 => 1,
        51..=200 => 2,
        201..=500 => 3,
        501..=1000 => 4,
        1001..=2000 => 5,
        2001..=4000 => 6,
        4001..=6000 => 7,
        6001..=8000 => 8,
        _ => 9,
    };
    p_init / (1u32 << halvings) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_halves_on_the_reference_breakpoints() {
        assert_eq!(p_selection(0.8, 0, 10_000), 0.8);
        assert_eq!(p_selection(0.8, 10, 10_000), 0.8);
        assert_eq!(p_selection(0.8, 11, 10_000), 0.4);
        assert_eq!(p_selection(0.8, 9_000, 10_000), 0.8 / 512.0);
        // Rescaled: iteration 100 of 1000 is iteration 1000 of 10 000.
        assert_eq!(p_selection(0.8, 100, 1000), 0.8 / 16.0);
    }

    #[test]
    fn builder_rejects_bad_values_by_field() {
        for bad in [0.0, -0.5, 1.5, f32::NAN] {
            let err = Square::new(10).with_p_init(bad).unwrap_err().to_string();
            assert!(err.starts_with("Square: p_init"), "{err}");
        }
        let square = Square::new(300).with_p_init(0.5).unwrap();
        assert_eq!(square.describe()["p_init"], 0.5);
        assert_eq!(square.describe()["queries"], 300);
    }
}
