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
    /// Where this run's samples sit in the whole run (a shard runs some of its blocks), and
    /// whether batches may only be restored (merging shards), never computed.
    pub blocks: Blocks,
}

/// The run's samples among the whole run's. Samples are cut into consecutive blocks of
/// `batch_size` once (by their index in the whole run); batches never straddle blocks, and each
/// batch's seed and checkpoint record are named by its block, so a shard computes exactly the
/// batches the unsharded run would (see `gauntlet_run::shard`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocks {
    /// Index in the whole run of each of the data set's samples, ascending, in whole blocks;
    /// `None`: the data set is the whole run.
    pub global: Option<Vec<usize>>,
    /// Every batch must come from the checkpoint (the shards' results); a missing one is an
    /// error instead of being computed.
    pub restore_only: bool,
}

impl Blocks {
    /// The whole run's index of sample `i` of the data set.
    pub fn global(&self, i: usize) -> usize {
        self.global.as_ref().map_or(i, |ids| ids[i])
    }
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
        if let Some(ids) = &self.blocks.global {
            if ids.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::Parameter(
                    "a shard's sample indices must be ascending and distinct".into(),
                ));
            }
        }
        Ok(())
    }
}
