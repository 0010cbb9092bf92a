//! gauntlet-attacks: evasion attacks, one file per attack family.
//!
//! Every attack follows one contract ([`Attack::run`]): given a differentiable model, a batch
//! of correctly classified inputs, a criterion and a threat model with a *list* of budgets, it
//! returns for every budget the adversarial inputs (inside the budget and the valid box), a
//! success mask verified against the model's own prediction, the perturbation sizes, and the
//! gradient evaluations spent. Fixed-budget attacks (FGSM, PGD) and minimum-norm attacks
//! (C&W, DeepFool) differ only in how they produce candidates; [`outcome::verify`] does the
//! rest for all of them.

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
pub mod square;
pub mod transfer;
mod rows;
mod step;

use rand::rngs::StdRng;

use gauntlet_core::criterion::Criterion;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{AnswerKind, Differentiable};
use gauntlet_core::threat::{Norm, ThreatModel};
use gauntlet_core::{Error, Result};

pub use outcome::{AttackOutcome, EpsilonOutcome};

/// What an attack is run on. `x` holds `labels.len()` flat rows.
pub struct AttackInput<'a> {
    pub model: &'a dyn Differentiable,
    pub x: &'a [f32],
    pub labels: &'a [i64],
    pub criterion: &'a Criterion,
    pub threat: &'a ThreatModel,
}

impl AttackInput<'_> {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn features(&self) -> usize {
        self.model.features()
    }
}

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

/// An evasion attack.
pub trait Attack: Send + Sync {
    /// Short name used in reports and on the command line (e.g. `pgd`).
    fn name(&self) -> &str;

    /// Norms this attack is defined for.
    fn norms(&self) -> &[Norm];

    /// Runs the attack for every budget of the threat model.
    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome>;

    /// What the attack needs from the target; gradient attacks by default.
    fn access(&self) -> Access {
        Access::Gradients
    }

    /// Rejects targets that do not answer what the attack needs, before any work is done.
    fn check_target(&self, model: &dyn Differentiable) -> Result<()> {
        let answers = model.answer_kind();
        match self.access() {
            Access::Gradients if !model.has_gradients() => Err(Error::Parameter(format!(
                "attack '{}' needs input gradients, but the target answers queries only; \
                 use a black-box attack (square, simba, simba-dct, hsj, boundary) or \
                 transfer from a surrogate (--surrogate)",
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

/// The loss a gradient attack ascends: cross-entropy away from the label, or toward the
/// target when the criterion is targeted.
pub fn objective_for<'a>(labels: &'a [i64], targets: Option<&'a [i64]>) -> Objective<'a> {
    match targets {
        Some(t) => Objective::TargetedCrossEntropy(t),
        None => Objective::CrossEntropy(labels),
    }
}

/// Settings shared by the iterative attacks, validated once.
#[derive(Debug, Clone)]
pub struct AttackSettings {
    /// Iterations per run (PGD, C&W optimizer steps, DeepFool max iterations).
    pub steps: usize,
    /// Random restarts (PGD).
    pub restarts: usize,
    /// Step size as a fraction of ε (PGD); `None` = 2.5 / steps (Madry et al.).
    pub rel_step: Option<f32>,
}

impl Default for AttackSettings {
    fn default() -> Self {
        AttackSettings {
            steps: 40,
            restarts: 1,
            rel_step: None,
        }
    }
}

impl AttackSettings {
    pub fn validated(self) -> Result<Self> {
        if self.steps == 0 || self.steps > 100_000 {
            return Err(Error::Parameter(format!(
                "--steps {} is out of range; use 1 to 100000",
                self.steps
            )));
        }
        if self.restarts == 0 || self.restarts > 1000 {
            return Err(Error::Parameter(format!(
                "--restarts {} is out of range; use 1 to 1000",
                self.restarts
            )));
        }
        if let Some(r) = self.rel_step {
            if !r.is_finite() || r <= 0.0 {
                return Err(Error::Parameter(format!(
                    "relative step size {r} must be a positive number (a fraction of ε)"
                )));
            }
        }
        Ok(self)
    }
}

/// Names accepted by [`by_name`].
pub const ATTACK_NAMES: &[&str] = &["fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "cw", "deepfool", "fab", "fab-t", "square", "simba", "simba-dct", "hsj", "boundary"];

/// Attack suites, run as ensembles in increasing cost (AutoAttack, Croce & Hein 2020).
/// `auto` is `standard`.
pub fn suite(name: &str) -> Option<&'static [&'static str]> {
    match name.to_ascii_lowercase().as_str() {
        "auto" | "standard" => Some(&["apgd-ce", "apgd-t", "fab-t", "square"]),
        "fast" => Some(&["apgd-ce", "apgd-t"]),
        _ => None,
    }
}

/// Iterations an attack runs when the user gives none: AutoAttack's settings for its
/// attacks, Madry et al.'s 40 for PGD.
pub fn default_steps(name: &str) -> usize {
    match name.to_ascii_lowercase().as_str() {
        "pgd" => 40,
        "deepfool" => 50,
        "square" => 5000,
        // Queries per sample for the score- and decision-based black-box attacks.
        "simba" | "simba-dct" | "hsj" | "hopskipjump" | "boundary" => 10_000,
        _ => 100,
    }
}

/// Builds an attack from its command-line name.
pub fn by_name(name: &str, settings: &AttackSettings) -> Result<Box<dyn Attack>> {
    let s = settings.clone();
    Ok(match name.to_ascii_lowercase().as_str() {
        "fgsm" | "fgm" => Box::new(fgsm::Fgsm),
        "pgd" => Box::new(pgd::Pgd::new(s.steps, s.restarts, s.rel_step, true)),
        "apgd-ce" | "apgd" => Box::new(apgd::Apgd::new(apgd::ApgdLoss::CrossEntropy, s.steps, s.restarts)),
        "apgd-dlr" => Box::new(apgd::Apgd::new(apgd::ApgdLoss::Dlr, s.steps, s.restarts)),
        "apgd-t" => Box::new(apgd::Apgd::new(apgd::ApgdLoss::TargetedDlr { targets: 9 }, s.steps, s.restarts)),
        "cw" | "cw-l2" | "carlini-wagner" => Box::new(cw::CarliniWagner::new(s.steps)),
        "deepfool" => Box::new(deepfool::DeepFool::new(s.steps.min(100))),
        "square" => Box::new(square::Square::new(s.steps)),
        "simba" => Box::new(simba::Simba::pixel(s.steps)),
        "simba-dct" => Box::new(simba::Simba::dct(s.steps)),
        "hsj" | "hopskipjump" => Box::new(hsj::HopSkipJump::new(s.steps)),
        "boundary" => Box::new(boundary::Boundary::new(s.steps)),
        "fab" => Box::new(fab::Fab::new(s.steps, s.restarts)),
        "fab-t" | "fabt" => Box::new(fab::Fab::targeted(s.steps, s.restarts, fab::Fab::DEFAULT_TARGET_CLASSES)),
        other => {
            return Err(Error::Parameter(format!(
                "unknown attack '{other}'; available: {}",
                ATTACK_NAMES.join(", ")
            )))
        }
    })
}
