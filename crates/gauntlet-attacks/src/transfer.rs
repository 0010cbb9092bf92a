//! Transfer attack (Papernot et al., 2016; Liu et al., ICLR 2017): craft adversarial inputs
//! with a white-box attack on a *surrogate* model the attacker owns, then send them to the
//! target. The target is only queried to check the result — one query per sample and budget —
//! so this is the cheapest black-box attack, and it needs labels only.
//!
//! A fixed-budget attack: the inner attack's verified results on the surrogate are this
//! attack's candidates on the target, one per (sample, ε).

use std::sync::Arc;

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::model::Differentiable;
use gauntlet_core::threat::{Norm, ThreatModel};
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::BudgetCandidates;
use crate::{Access, Attack, AttackInput, FixedBudget, Kind};

/// A white-box attack run on a surrogate, evaluated on the target.
pub struct Transfer {
    surrogate: Arc<dyn Differentiable>,
    inner: Box<dyn Attack>,
    name: String,
}

impl Transfer {
    /// `inner` crafts on `surrogate`, which must answer what `inner` needs (checked here); the
    /// surrogate must also take the target's inputs and predict the same classes (checked
    /// against the target before the attack runs).
    pub fn new(surrogate: Arc<dyn Differentiable>, inner: Box<dyn Attack>) -> Result<Self> {
        inner.check_target(surrogate.as_ref())?;
        let name = format!("transfer-{}", inner.name());
        Ok(Transfer {
            surrogate,
            inner,
            name,
        })
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

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "queries": "1 per sample and budget (the check on the target)",
                "surrogate_shape": self.surrogate.sample_shape(),
                "crafted_with": self.inner.describe(),
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::FixedBudget(self)
    }

    fn check(&self, threat: &ThreatModel) -> Result<()> {
        self.inner.check(threat)?;
        self.inner.check_target(self.surrogate.as_ref())
    }

    fn check_target(&self, model: &dyn Differentiable) -> Result<()> {
        self.check_compatible(model)
    }
}

impl FixedBudget for Transfer {
    fn attack_budgets(&self, input: &AttackInput, rng: &mut StdRng) -> Result<BudgetCandidates> {
        self.check_compatible(input.model())?;
        let on_surrogate = input.on(self.surrogate.as_ref())?;
        // The inner attack's own run: crafted and verified on the surrogate.
        let crafted = self.inner.run(&on_surrogate, rng)?;
        let rows = crafted.per_eps.len() * input.len();
        Ok(BudgetCandidates {
            rows: crafted.per_eps.into_iter().map(|o| o.adversarial).collect(),
            gradient_evals: crafted.gradient_evals,
            queries: Some(vec![1; rows]),
        })
    }
}
