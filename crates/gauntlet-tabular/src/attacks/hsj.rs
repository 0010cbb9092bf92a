//! The decision-based fallback for any model: HopSkipJump (Chen et al. 2020, gauntlet-attacks'
//! implementation) on the rows with every column scaled to [0, 1] by its range in the data (so
//! the image engine's one box fits every column), minimising the L2 change in those units.
//! HopSkipJump knows nothing of the schema: its point is then brought into the space (kinds,
//! bounds, one-hot groups, immutables, linear rules repaired) and reduced to the changes it
//! needs. In the unconstrained space the repair only keeps the data's range, which is what a
//! standard decision-based attack returns.

use gauntlet_attacks::hsj::HopSkipJump;
use gauntlet_attacks::{Attack, AttackInput};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::model::{AnswerKind, Classifier, QueryOnly};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::attacks::reduce::reduce;
use crate::attacks::{Context, Needs, TabularAttack};
use crate::error::Result;
use crate::model::{predicted, Goal, TabularModel};

/// HopSkipJump on normalized rows, then repaired into the space and reduced.
#[derive(Debug, Clone)]
pub struct DecisionBased {
    /// Queries per row.
    pub queries: u64,
}

impl TabularAttack for DecisionBased {
    fn name(&self) -> &'static str {
        "hsj"
    }

    fn needs(&self) -> Needs {
        Needs::Scores
    }

    fn describe(&self) -> String {
        format!(
            "hsj: HopSkipJump (L2, columns scaled to [0, 1] by their range in the data), {} queries per row, then repaired and reduced",
            self.queries
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
        let (lo, spread): (Vec<f32>, Vec<f32>) = (0..width).map(|c| space.data_range(c)).unzip();
        let normalized = Normalized {
            model: context.model,
            lo: lo.clone(),
            spread: spread.clone(),
            shape: vec![width],
            device: gauntlet_core::device::compute_device(),
        };
        let target = QueryOnly::new(normalized);
        let z: Vec<f32> = rows
            .iter()
            .enumerate()
            .map(|(i, &v)| ((v - lo[i % width]) / spread[i % width]).clamp(0.0, 1.0))
            .collect();
        let scores = context.model.scores(rows)?;
        let classes = context.model.classes();
        let labels: Vec<i64> = scores
            .chunks(classes)
            .map(|s| predicted(s) as i64)
            .collect();
        let criterion = match goals.first() {
            Some(Goal::Targeted { .. }) => Criterion::Targeted(
                goals
                    .iter()
                    .map(|g| match *g {
                        Goal::Targeted { target } => target as i64,
                        Goal::Untargeted { label } => label as i64,
                    })
                    .collect(),
            ),
            _ => Criterion::Untargeted,
        };
        // A tiny budget keeps the search minimising until its queries are spent; the whole
        // cube's diagonal returns the best point unprojected.
        let diagonal = (width as f32).sqrt();
        let threat = ThreatModel::new(Norm::L2, &[1e-6, diagonal], Bounds::default())?;
        let input = AttackInput::new(&target, &z, &labels, &criterion, &threat)?;
        let mut rng = StdRng::seed_from_u64(context.seed);
        let outcome = HopSkipJump::new(self.queries).run(&input, &mut rng)?;
        let best = outcome.per_eps.last().expect("two budgets");
        let mut found = Vec::with_capacity(n);
        for i in 0..n {
            if !best.success[i] {
                found.push(None);
                continue;
            }
            let original = &rows[i * width..(i + 1) * width];
            let mut row: Vec<f32> = best.adversarial[i * width..(i + 1) * width]
                .iter()
                .enumerate()
                .map(|(c, &v)| lo[c] + v * spread[c])
                .collect();
            space.repair(context.schema, original, &mut row);
            let scores = context.model.scores(&row)?;
            if context.success(original, &row, &scores, goals[i]) {
                row = reduce(context, original, row, goals[i])?;
            }
            found.push(Some(row));
        }
        Ok(found)
    }
}

/// A tabular model read on rows scaled to [0, 1]: `x = lo + z · spread`.
struct Normalized<'a> {
    model: &'a dyn TabularModel,
    lo: Vec<f32>,
    spread: Vec<f32>,
    shape: Vec<usize>,
    device: Device,
}

impl Classifier for Normalized<'_> {
    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn num_classes(&self) -> usize {
        self.model.classes()
    }

    fn logits(&self, x: Tensor<2>) -> gauntlet_core::Result<Tensor<2>> {
        let width = self.lo.len();
        let rows: Vec<f32> = to_vec(x)
            .iter()
            .enumerate()
            .map(|(i, &z)| self.lo[i % width] + z * self.spread[i % width])
            .collect();
        let n = rows.len() / width;
        let scores = self
            .model
            .scores(&rows)
            .map_err(|e| gauntlet_core::Error::Model(e.to_string()))?;
        Ok(from_rows(scores, n, self.model.classes(), &self.device))
    }

    fn answer_kind(&self) -> AnswerKind {
        AnswerKind::Scores
    }
}
