//! The attack contract: two kinds of search, one front door ([`Attack::run`]).

use rand::rngs::StdRng;

use gauntlet_core::model::{AnswerKind, Differentiable};
use gauntlet_core::threat::{Norm, ThreatModel};
use gauntlet_core::{Error, Result};

use crate::outcome::{AttackOutcome, BudgetCandidates, SampleCandidates};
use crate::AttackInput;

/// What an attack needs from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Input gradients (white-box).
    Gradients,
    /// Scores per class for each query (score-based black-box).
    Scores,
    /// The predicted label only (decision-based black-box).
    Decisions,
}

impl Access {
    /// The name used in reports: `gradients`, `scores` or `decisions`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Access::Gradients => "gradients",
            Access::Scores => "scores",
            Access::Decisions => "decisions",
        }
    }
}

/// A fixed-budget attack (Foolbox's `FixedEpsilonAttack`): it searches inside each budget of
/// the threat model and proposes one row per (sample, ε).
pub trait FixedBudget {
    /// The candidates for every budget, unverified: [`Attack::run`] projects, clips and
    /// verifies them.
    fn attack_budgets(&self, input: &AttackInput, rng: &mut StdRng) -> Result<BudgetCandidates>;
}

/// A minimum-norm attack (Foolbox's `MinimizationAttack`): it searches for each sample's
/// smallest adversarial perturbation, once for all budgets.
pub trait MinimumNorm {
    /// One point per sample, unverified: [`Attack::run`] proposes it at every budget,
    /// projected into that ε-ball and clipped, and verifies it.
    fn minimize(&self, input: &AttackInput, rng: &mut StdRng) -> Result<SampleCandidates>;
}

/// Which of the two kinds an attack is, with the search to run.
pub enum Kind<'a> {
    /// Candidates per (sample, ε).
    FixedBudget(&'a dyn FixedBudget),
    /// One point per sample.
    MinimumNorm(&'a dyn MinimumNorm),
}

impl Kind<'_> {
    /// `fixed-budget` or `minimum-norm`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::FixedBudget(_) => "fixed-budget",
            Kind::MinimumNorm(_) => "minimum-norm",
        }
    }
}

/// An evasion attack. Implement [`name`](Attack::name), [`norms`](Attack::norms),
/// [`describe`](Attack::describe) and [`kind`](Attack::kind) (plus
/// [`access`](Attack::access) for a black-box attack) and one of [`FixedBudget`] or
/// [`MinimumNorm`]; [`run`](Attack::run) does the rest and is not meant to be overridden.
pub trait Attack: Send + Sync {
    /// Short name used in reports and on the command line (e.g. `pgd`).
    fn name(&self) -> &str;

    /// Norms this attack is defined for.
    fn norms(&self) -> &[Norm];

    /// The attack's actual parameters, for a report's manifest: at least `attack` (the name)
    /// and `kind`, then iterations or queries, restarts, step-size rule, loss, ….
    fn describe(&self) -> serde_json::Value;

    /// Whether this is a fixed-budget or a minimum-norm attack, and its search.
    fn kind(&self) -> Kind<'_>;

    /// What the attack needs from the target; gradient attacks by default.
    fn access(&self) -> Access {
        Access::Gradients
    }

    /// Runs the attack for every budget of the threat model: checks the norm, runs the search,
    /// projects every candidate into its ε-ball and the valid box, verifies success with the
    /// model's own prediction, carries success upward in ε and attaches query counts.
    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        self.check(input.threat())?;
        match self.kind() {
            Kind::FixedBudget(search) => search.attack_budgets(input, rng)?.verify(input),
            Kind::MinimumNorm(search) => search.minimize(input, rng)?.verify(input),
        }
    }

    /// Rejects targets that do not answer what the attack needs, before any work is done.
    fn check_target(&self, model: &dyn Differentiable) -> Result<()> {
        let answers = model.answer_kind();
        match self.access() {
            Access::Gradients if !model.has_gradients() => Err(Error::Parameter(format!(
                "attack '{}' needs input gradients, but the target answers queries only; \
                 use a black-box attack (square, simba, simba-dct, hsj, boundary) or \
                 transfer from a surrogate model",
                self.name()
            ))),
            Access::Scores | Access::Gradients if answers == AnswerKind::Label => {
                Err(Error::Parameter(format!(
                    "attack '{}' needs class scores, but the target answers labels only; use a \
                     decision-based attack (hsj, boundary)",
                    self.name()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Rejects threat models the attack cannot serve, before any work is done.
    fn check(&self, threat: &ThreatModel) -> Result<()> {
        if self.norms().contains(&threat.norm()) {
            Ok(())
        } else {
            let names: Vec<String> = self.norms().iter().map(|n| n.to_string()).collect();
            Err(Error::Parameter(format!(
                "attack '{}' does not support the {} norm; it supports {}",
                self.name(),
                threat.norm(),
                names.join(", ")
            )))
        }
    }
}

/// `params` (a JSON object) with the attack's name, kind and access in front: the common
/// part of every [`Attack::describe`].
pub(crate) fn described(attack: &dyn Attack, params: serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("attack".into(), attack.name().into());
    out.insert("kind".into(), attack.kind().as_str().into());
    out.insert("access".into(), attack.access().as_str().into());
    if let serde_json::Value::Object(fields) = params {
        out.extend(fields);
    }
    serde_json::Value::Object(out)
}
