//! Attacks on table rows. Each returns, per row, the best row it found (or none); whether
//! that row evades the model and keeps every rule is decided afterwards, by the verification
//! in [`crate::outcome`], never by the attack.
//!
//! | attack | needs | idea |
//! |---|---|---|
//! | `beam` | scores only | a beam search over feature changes, cheapest first (minimum-cost evasion) |
//! | `tree` | a tree ensemble's thresholds | the same search over the values where a split changes side |
//! | `cpgd` | input gradients | PGD on the relaxed row, projected to the box and kinds, rules repaired |
//! | `hsj` | scores only | HopSkipJump on rows scaled to [0, 1], then repaired and reduced (the decision-based fallback) |

pub mod beam;
pub mod cpgd;
pub mod hsj;
pub mod reduce;

use crate::error::Result;
use crate::model::{Goal, TabularModel};
use crate::schema::Schema;
use crate::space::Space;

/// What an attack works with.
pub struct Context<'a> {
    /// The model under attack (counting its queries).
    pub model: &'a dyn TabularModel,
    /// The attacker's moves.
    pub space: &'a Space,
    /// The schema (its rules guide the search; the verification checks them again).
    pub schema: &'a Schema,
    /// Seed of the attack's randomness.
    pub seed: u64,
}

impl Context<'_> {
    /// Whether `row` is a success as the verification will judge it: the goal reached and,
    /// in the constrained space, every rule of the schema kept.
    pub fn success(&self, original: &[f32], row: &[f32], scores: &[f32], goal: Goal) -> bool {
        goal.reached_by(crate::model::predicted(scores))
            && (!self.space.constrained
                || crate::feasibility::attacked_violations(self.schema, original, row).is_empty())
    }
}

/// What an attack needs of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Only scores (any model).
    Scores,
    /// Input gradients.
    Gradients,
    /// Split thresholds (tree ensembles).
    Thresholds,
}

/// An attack on a batch of rows.
pub trait TabularAttack: Send + Sync {
    /// Its name in configs and reports.
    fn name(&self) -> &'static str;
    /// What it needs of the model.
    fn needs(&self) -> Needs;
    /// Its settings, for the report and the resume fingerprint.
    fn describe(&self) -> String;
    /// The best row found for each of `rows` (`n × width`, row-major), toward each goal;
    /// `None` where it found nothing.
    fn attack(
        &self,
        context: &Context,
        rows: &[f32],
        goals: &[Goal],
    ) -> Result<Vec<Option<Vec<f32>>>>;
}
