//! Fast Gradient Sign Method (Goodfellow et al., 2015) and its L2 form, the Fast Gradient
//! Method: one step of size ε along the steepest-ascent direction of the loss.

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::attack::described;
use crate::outcome::BudgetCandidates;
use crate::step::ascent_direction;
use crate::{objective_for, Attack, AttackInput, FixedBudget, Kind};

/// FGSM (L∞) / FGM (L2): a fixed-budget attack with one gradient evaluation per sample for
/// all budgets. It has no parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fgsm;

impl Attack for Fgsm {
    fn name(&self) -> &str {
        "fgsm"
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2]
    }

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "steps": 1,
                "step_size": "ε",
                "loss": "cross-entropy (toward the target when targeted)",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::FixedBudget(self)
    }
}

impl FixedBudget for Fgsm {
    fn attack_budgets(&self, input: &AttackInput, _rng: &mut StdRng) -> Result<BudgetCandidates> {
        let (n, f) = (input.len(), input.features());
        let device = compute_device();
        let x = from_rows(input.x().to_vec(), n, f, &device);
        let targets = input.criterion().targets();
        let objective = objective_for(input.labels(), targets.as_deref());
        // The gradient does not depend on ε: one backward pass serves every budget.
        let grad = loss_and_grad(input.model(), &x, &objective)?.grad;
        let b = input.threat().bounds();
        let direction = to_vec(ascent_direction(
            input.threat().norm(),
            grad,
            &x,
            (b.min, b.max),
        ));
        let rows = input
            .threat()
            .epsilons()
            .iter()
            .map(|&eps| {
                input
                    .x()
                    .iter()
                    .zip(&direction)
                    .map(|(x, d)| x + eps * d)
                    .collect()
            })
            .collect();
        Ok(BudgetCandidates {
            rows,
            gradient_evals: n as u64,
            queries: None,
        })
    }
}
