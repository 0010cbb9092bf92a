//! [`AuditPlan`]: what to run.

use gauntlet_attacks::Attack;
use gauntlet_core::criterion::Criterion;
use gauntlet_core::threat::ThreatModel;
use gauntlet_core::{Error, Result};

/// What to run: attacks, one threat model, a criterion, batching and the seed.
pub struct AuditPlan {
    /// The attacks, in run order.
    pub attacks: Vec<Box<dyn Attack>>,
    /// Norm, budgets (all run at once) and the valid box.
    pub threat: ThreatModel,
    /// Untargeted, or a target class per sample.
    pub criterion: Criterion,
    /// Samples per batch (the unit of checkpointing and of failure handling).
    pub batch_size: usize,
    /// Seed of every random choice; each (attack, batch) derives its own generator from it.
    pub seed: u64,
    /// Run as an ensemble (AutoAttack-style): each attack only on the (sample, ε) pairs every
    /// earlier attack failed on; results then report robust accuracy *after* each attack.
    pub ensemble: bool,
}

impl AuditPlan {
    /// Checks every attack against the threat model before any work is done.
    pub fn validate(&self) -> Result<()> {
        if self.attacks.is_empty() {
            return Err(Error::Parameter(
                "no attack selected; give at least one attack (e.g. fgsm, pgd)".into(),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::Parameter("batch_size must be at least 1".into()));
        }
        for attack in &self.attacks {
            attack.check(&self.threat)?;
        }
        Ok(())
    }
}
