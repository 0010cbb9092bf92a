//! Transfer attack (Papernot et al., 2016; Liu et al., ICLR 2017): craft adversarial inputs
//! with a white-box attack on a *surrogate* model the attacker owns, then send them to the
//! target. The target is only queried to check the result — one query per sample and budget —
//! so this is the cheapest black-box attack, and it needs labels only.

use std::sync::Arc;

use rand::rngs::StdRng;

use gauntlet_core::model::Differentiable;
use gauntlet_core::threat::{Norm, ThreatModel};
use gauntlet_core::{Error, Result};

use crate::outcome::{attach_queries, verify, AttackOutcome};
use crate::{Access, Attack, AttackInput};

/// A white-box attack run on a surrogate, evaluated on the target.
pub struct Transfer {
    surrogate: Arc<dyn Differentiable>,
    inner: Box<dyn Attack>,
    name: String,
}

impl Transfer {
    /// `inner` crafts on `surrogate`; the surrogate must take the target's inputs and
    /// predict the same classes (checked against the target when the attack runs).
    pub fn new(surrogate: Arc<dyn Differentiable>, inner: Box<dyn Attack>) -> Self {
        let name = format!("transfer-{}", inner.name());
        Transfer {
            surrogate,
            inner,
            name,
        }
    }

    fn check_compatible(&self, target: &dyn Differentiable) -> Result<()> {
        if self.surrogate.features() != target.features()
            || self.surrogate.num_classes() != target.num_classes()
        {
            return Err(Error::Parameter(format!(
                "the surrogate takes {:?} and predicts {} classes, the target takes {:?} and \
                 predicts {}; a transfer attack needs a surrogate with the target's input shape \
                 and classes",
                self.surrogate.sample_shape(),
                self.surrogate.num_classes(),
                target.sample_shape(),
                target.num_classes()
            )));
        }
        Ok(())
    }
}

impl Attack for Transfer {
    fn name(&self) -> &str {
        &self.name
    }

    fn norms(&self) -> &[Norm] {
        self.inner.norms()
    }

    fn access(&self) -> Access {
        Access::Decisions
    }

    fn check(&self, threat: &ThreatModel) -> Result<()> {
        self.inner.check(threat)?;
        self.inner.check_target(self.surrogate.as_ref())
    }

    fn check_target(&self, model: &dyn Differentiable) -> Result<()> {
        self.check_compatible(model)
    }

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        self.check_compatible(input.model)?;
        let on_surrogate = AttackInput {
            model: self.surrogate.as_ref(),
            ..*input
        };
        let crafted = self.inner.run(&on_surrogate, rng)?;
        let candidates = crafted.per_eps.into_iter().map(|o| o.adversarial).collect();
        let mut per_eps = verify(input, candidates)?;
        let rows = per_eps.len() * input.len();
        attach_queries(&mut per_eps, &vec![1; rows]);
        Ok(AttackOutcome {
            per_eps,
            gradient_evals: crafted.gradient_evals,
            queries: rows as u64,
        })
    }
}
