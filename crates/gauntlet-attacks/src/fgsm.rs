//! Fast Gradient Sign Method (Goodfellow et al., 2015) and its L2 form, the Fast Gradient
//! Method: one step of size ε along the steepest-ascent direction of the loss.

use rand::rngs::StdRng;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::outcome::{verify, AttackOutcome};
use crate::step::ascent_direction;
use crate::{objective_for, Attack, AttackInput};

/// FGSM (L∞) / FGM (L2).
pub struct Fgsm;

impl Attack for Fgsm {
    fn name(&self) -> &str {
        "fgsm"
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2]
    }

    fn run(&self, input: &AttackInput, _rng: &mut StdRng) -> Result<AttackOutcome> {
        let (n, f) = (input.len(), input.features());
        let device = compute_device();
        let x = from_rows(input.x.to_vec(), n, f, &device);
        let targets = input.criterion.targets();
        let objective = objective_for(input.labels, targets.as_deref());
        // The gradient does not depend on ε: one backward pass serves every budget.
        let grad = loss_and_grad(input.model, &x, &objective)?.grad;
        let b = input.threat.bounds();
        let direction = to_vec(ascent_direction(input.threat.norm(), grad, &x, (b.min, b.max)));
        let candidates = input
            .threat
            .epsilons()
            .iter()
            .map(|&eps| input.x.iter().zip(&direction).map(|(x, d)| x + eps * d).collect())
            .collect();
        Ok(AttackOutcome {
            per_eps: verify(input, candidates)?,
            gradient_evals: n as u64,
            queries: 0,
        })
    }
}
