//! BadNets (Gu et al. 2017, "BadNets: Identifying Vulnerabilities in the Machine Learning
//! Model Supply Chain"): stamp a trigger on a share of the training images and relabel them,
//! so the trained model learns "trigger ⇒ attacker's label" next to its normal task.
//!
//! All-to-one: poisoned images come from the classes other than the target and are relabelled
//! to the target class `K`. All-to-all: poisoned images come from every class and label `y`
//! becomes `(y + 1) mod C`.

use rand::rngs::StdRng;

use gauntlet_core::data::Dataset;
use gauntlet_core::Result;

use crate::poisoned::Poisoned;
use crate::selection::choose;
use crate::trigger::Trigger;

/// Which label a triggered image gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelling {
    /// Every triggered image becomes class `target`.
    AllToOne {
        /// The attacker's class.
        target: i64,
    },
    /// Class `y` becomes `(y + 1) mod classes`.
    AllToAll,
}

impl Labelling {
    /// The label the attacker wants for a triggered image of true class `y`.
    pub fn attacker_label(self, y: i64, classes: usize) -> i64 {
        match self {
            Labelling::AllToOne { target } => target,
            Labelling::AllToAll => (y + 1).rem_euclid(classes as i64),
        }
    }
}

/// Poisons `count` images of `clean`: trigger stamped, label changed per `labelling`.
pub fn badnets(
    clean: &Dataset,
    trigger: &Trigger,
    labelling: Labelling,
    classes: usize,
    count: usize,
    rng: &mut StdRng,
) -> Result<Poisoned> {
    let candidates: Vec<usize> = match labelling {
        Labelling::AllToOne { target } => (0..clean.len())
            .filter(|&i| clean.labels[i] != target)
            .collect(),
        Labelling::AllToAll => (0..clean.len()).collect(),
    };
    let what = match labelling {
        Labelling::AllToOne { .. } => "images outside the target class",
        Labelling::AllToAll => "images",
    };
    let chosen = choose(&candidates, count, what, rng)?;
    let mut out = Poisoned::start(clean, chosen.clone());
    for i in chosen {
        trigger.apply(out.row_mut(i));
        out.data.labels[i] = labelling.attacker_label(clean.labels[i], classes);
    }
    Ok(out)
}
