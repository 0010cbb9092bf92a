//! gauntlet-attacks: evasion attacks, one file per paper, behind one contract.
//!
//! # The contract
//!
//! An attack is run on an [`AttackInput`] — a differentiable model, a batch of flat input rows
//! with their labels, a [`Criterion`](gauntlet_core::criterion::Criterion) and a
//! [`ThreatModel`](gauntlet_core::threat::ThreatModel) holding a *list* of budgets — built by
//! [`AttackInput::new`], which rejects mismatched lengths and classes the model does not have.
//! [`Attack::run`] returns an [`AttackOutcome`]: for every budget, ascending, the adversarial
//! inputs (inside the budget and the valid box), the model's predictions on them, a success
//! mask, the perturbation sizes and, for black-box attacks, the queries spent per sample; plus
//! the gradient evaluations and queries in all.
//!
//! Attacks come in two kinds, as in Foolbox 3:
//!
//! - **fixed-budget** ([`FixedBudget`]: FGSM, PGD, APGD, Square, SimBA, transfer) search
//!   inside each budget and return [`BudgetCandidates`], one row per (sample, ε);
//! - **minimum-norm** ([`MinimumNorm`]: C&W, DeepFool, FAB, HopSkipJump, Boundary) search for
//!   each sample's smallest adversarial perturbation, once for all budgets, and return
//!   [`SampleCandidates`], one point per sample.
//!
//! Neither kind decides success. [`Attack::run`], implemented once for every attack, checks the
//! norm, runs the search, projects every candidate into its ε-ball and clips it to the valid
//! box, asks the model for its prediction on that final input, applies the criterion, carries
//! success upward in ε (a sample broken at a smaller budget stays broken at every larger one,
//! with the same adversarial input, so reported robustness never rises with ε) and attaches
//! the query counts. A result is therefore always what the model says about an input that
//! respects the threat model.
//!
//! # Budgets: steps and queries
//!
//! [`AttackSettings`] has one field per meaning. `steps` counts *iterations* of the iterative
//! attacks (PGD, APGD, FAB, C&W, DeepFool); `queries` is the *query budget* of the black-box
//! attacks (Square, SimBA, HopSkipJump, Boundary), and it means the same for all of them: the
//! most queries the attack may spend on **one sample at one budget**; the queries reported for
//! any (sample, ε) never exceed it. Fixed-budget black-box attacks search each (sample, ε) pair
//! on its own, so a sample evaluated at `k` budgets may cost up to `k · queries` in all;
//! minimum-norm black-box attacks serve every budget of a sample from one search of at most
//! `queries` queries. [`AttackOutcome::queries`] is always the true total sent to the model.
//!
//! # Rows
//!
//! Fixed-budget attacks that run all budgets in one batch (PGD, APGD, Square, SimBA) treat
//! every (sample `i`, budget `e`) pair as row `e·n + i` of one batch; a row leaves the batch as
//! soon as it is adversarial (crate-private `rows` module). Per-row query counts use the same
//! layout ([`BudgetCandidates::queries`]).
//!
//! # Adding an attack
//!
//! Put the paper's algorithm in its own file; implement [`Attack`] (`name`, `norms`,
//! `describe`, `kind`, and `access` if it is black-box) and one of [`FixedBudget`] or
//! [`MinimumNorm`]; make every constructor and `with_*` builder return a [`Result`](gauntlet_core::Result) and reject
//! bad values naming the field; register it in [`by_name`] and [`ATTACK_NAMES`].
//!
//! ```no_run
//! use rand::{rngs::StdRng, SeedableRng};
//! use gauntlet_attacks::{by_name, AttackInput, AttackSettings};
//! use gauntlet_core::criterion::Criterion;
//! use gauntlet_core::model::Differentiable;
//! use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
//!
//! fn audit(model: &dyn Differentiable, x: &[f32], labels: &[i64]) -> gauntlet_core::Result<()> {
//!     let threat = ThreatModel::new(Norm::Linf, &[0.1, 0.3], Bounds::default())?;
//!     let criterion = Criterion::Untargeted;
//!     let input = AttackInput::new(model, x, labels, &criterion, &threat)?;
//!     let settings = AttackSettings { steps: Some(40), ..Default::default() }.validated()?;
//!     let pgd = by_name("pgd", &settings)?;
//!     let outcome = pgd.run(&input, &mut StdRng::seed_from_u64(0))?;
//!     for o in &outcome.per_eps {
//!         let broken = o.success.iter().filter(|&&s| s).count();
//!         println!("ε = {}: {broken}/{} broken", o.eps, input.len());
//!     }
//!     println!("{}", pgd.describe());
//!     Ok(())
//! }
//! ```

pub mod apgd;
pub mod boundary;
pub mod cw;
pub mod deepfool;
pub mod fab;
pub mod fgsm;
pub mod hsj;
pub mod outcome;
pub mod pgd;
pub mod simba;
pub mod smooth_adv;
pub mod spatial;
pub mod square;
pub mod transfer;
pub mod uap;

mod attack;
mod decision;
mod input;
mod planes;
mod rows;
mod settings;
pub mod step;

use gauntlet_core::loss::Objective;

pub use attack::{Access, Attack, FixedBudget, Kind, MinimumNorm};
pub use input::AttackInput;
pub use outcome::{
    AttackOutcome, BudgetCandidates, EpsilonOutcome, SampleCandidates, SampleQueries,
};
pub use settings::{
    by_name, default_queries, default_steps, suite, AttackSettings, ATTACK_NAMES, MAX_QUERIES,
    MAX_RESTARTS, MAX_STEPS,
};

/// The loss a gradient attack ascends: cross-entropy away from the label, or toward the
/// target when the criterion is targeted.
pub fn objective_for<'a>(labels: &'a [i64], targets: Option<&'a [i64]>) -> Objective<'a> {
    match targets {
        Some(t) => Objective::TargetedCrossEntropy(t),
        None => Objective::CrossEntropy(labels),
    }
}

#[cfg(test)]
mod testing;
