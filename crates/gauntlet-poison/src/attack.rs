//! The three poisoning attacks behind one call, and what "success" means for each.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;

use gauntlet_core::data::Dataset;
use gauntlet_core::model::Differentiable;
use gauntlet_core::{Error, Result};
use gauntlet_run::progress::Progress;

use crate::badnets::{badnets, Labelling};
use crate::clean_label::{clean_label, Perturbation};
use crate::label_flip::{label_flip, Flip};
use crate::poisoned::Poisoned;
use crate::trigger::Trigger;

/// The attack families, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackKind {
    /// A trigger plus the attacker's label.
    BadNets,
    /// Wrong labels, clean inputs.
    LabelFlip,
    /// A trigger on hard target-class images, labels untouched.
    CleanLabel,
}

/// The names [`AttackKind`] parses.
pub const ATTACK_KINDS: &[&str] = &["badnets", "label-flip", "clean-label"];

impl FromStr for AttackKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<AttackKind> {
        match s {
            "badnets" => Ok(AttackKind::BadNets),
            "label-flip" => Ok(AttackKind::LabelFlip),
            "clean-label" => Ok(AttackKind::CleanLabel),
            other => Err(Error::Parameter(format!(
                "--attack '{other}' is not a poisoning attack; use one of {}",
                ATTACK_KINDS.join(", ")
            ))),
        }
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttackKind::BadNets => "badnets",
            AttackKind::LabelFlip => "label-flip",
            AttackKind::CleanLabel => "clean-label",
        })
    }
}

/// One configured attack.
pub enum PoisonAttack<'m> {
    /// BadNets with its trigger and labelling.
    BadNets {
        /// The trigger.
        trigger: Trigger,
        /// All-to-one or all-to-all.
        labelling: Labelling,
    },
    /// Label flipping.
    LabelFlip(Flip),
    /// The clean-label backdoor.
    CleanLabel {
        /// The trigger.
        trigger: Trigger,
        /// The class whose images are poisoned and that the trigger should call up.
        target: i64,
        /// The model the perturbation is computed against.
        model: &'m dyn Differentiable,
        /// The perturbation.
        perturbation: Perturbation,
    },
}

impl PoisonAttack<'_> {
    /// Its family.
    pub fn kind(&self) -> AttackKind {
        match self {
            PoisonAttack::BadNets { .. } => AttackKind::BadNets,
            PoisonAttack::LabelFlip(_) => AttackKind::LabelFlip,
            PoisonAttack::CleanLabel { .. } => AttackKind::CleanLabel,
        }
    }

    /// `all-to-one`, `all-to-all`, `random`, `targeted` or `clean-label`.
    pub fn variant(&self) -> &'static str {
        match self {
            PoisonAttack::BadNets {
                labelling: Labelling::AllToOne { .. },
                ..
            } => "all-to-one",
            PoisonAttack::BadNets {
                labelling: Labelling::AllToAll,
                ..
            } => "all-to-all",
            PoisonAttack::LabelFlip(Flip::Random) => "random",
            PoisonAttack::LabelFlip(Flip::Targeted { .. }) => "targeted",
            PoisonAttack::CleanLabel { .. } => "clean-label",
        }
    }

    /// The trigger, for the attacks that have one.
    pub fn trigger(&self) -> Option<&Trigger> {
        match self {
            PoisonAttack::BadNets { trigger, .. } | PoisonAttack::CleanLabel { trigger, .. } => {
                Some(trigger)
            }
            PoisonAttack::LabelFlip(_) => None,
        }
    }

    /// The attacker's one class, if there is one.
    pub fn target_class(&self) -> Option<i64> {
        match self {
            PoisonAttack::BadNets {
                labelling: Labelling::AllToOne { target },
                ..
            }
            | PoisonAttack::CleanLabel { target, .. }
            | PoisonAttack::LabelFlip(Flip::Targeted { target, .. }) => Some(*target),
            _ => None,
        }
    }

    /// What the attacker wants a triggered test input of true class `y` classified as (the
    /// attacks with a trigger).
    pub fn attacker_label(&self, y: i64, classes: usize) -> Option<i64> {
        match self {
            PoisonAttack::BadNets { labelling, .. } => Some(labelling.attacker_label(y, classes)),
            PoisonAttack::CleanLabel { target, .. } => Some(*target),
            PoisonAttack::LabelFlip(_) => None,
        }
    }

    /// Poisons `count` samples of `clean`.
    pub fn run(
        &self,
        clean: &Dataset,
        classes: usize,
        count: usize,
        rng: &mut StdRng,
        progress: &dyn Progress,
    ) -> Result<Poisoned> {
        match self {
            PoisonAttack::BadNets { trigger, labelling } => {
                badnets(clean, trigger, *labelling, classes, count, rng)
            }
            PoisonAttack::LabelFlip(flip) => label_flip(clean, *flip, classes, count, rng),
            PoisonAttack::CleanLabel {
                trigger,
                target,
                model,
                perturbation,
            } => clean_label(
                clean,
                trigger,
                *target,
                *model,
                perturbation,
                count,
                rng,
                progress,
            ),
        }
    }

    /// The triggered test set: every test input the attacker wants moved (all of them, or
    /// those outside the target class), with the trigger, labelled with its TRUE class.
    /// `None` for label flipping.
    pub fn triggered_test(&self, test: &Dataset) -> Result<Option<Dataset>> {
        let Some(trigger) = self.trigger() else {
            return Ok(None);
        };
        let keep: Vec<usize> = (0..test.len())
            .filter(|&i| Some(test.labels[i]) != self.target_class())
            .collect();
        if keep.is_empty() {
            return Err(Error::Data(
                "every test input belongs to the target class, so no triggered test set can be \
                 made; give test data with other classes"
                    .into(),
            ));
        }
        let mut inputs = test.rows(&keep);
        trigger.apply_rows(&mut inputs)?;
        let labels = keep.iter().map(|&i| test.labels[i]).collect();
        let mut shape = vec![keep.len()];
        shape.extend(&test.sample_shape);
        Dataset::from_parts(inputs, shape, labels, String::new()).map(Some)
    }
}
