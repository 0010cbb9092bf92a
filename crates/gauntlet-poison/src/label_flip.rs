//! Label flipping: the inputs stay clean, a share of the labels lie.
//!
//! Random flipping gives each chosen sample a label drawn uniformly from the other classes;
//! targeted flipping relabels samples of one source class as one target class (the attack
//! that teaches "source looks like target", e.g. a stop sign read as a speed limit).

use rand::rngs::StdRng;
use rand::Rng;

use gauntlet_core::data::Dataset;
use gauntlet_core::{Error, Result};

use crate::poisoned::Poisoned;
use crate::selection::choose;

/// Which labels are flipped, and to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flip {
    /// Any sample; its new label is uniform over the other classes.
    Random,
    /// Samples of class `source` become class `target`.
    Targeted {
        /// Class whose samples are relabelled.
        source: i64,
        /// Their new label.
        target: i64,
    },
}

/// Flips the labels of `count` samples of `clean`.
pub fn label_flip(
    clean: &Dataset,
    flip: Flip,
    classes: usize,
    count: usize,
    rng: &mut StdRng,
) -> Result<Poisoned> {
    if classes < 2 {
        return Err(Error::Data(
            "label flipping needs at least two classes in the labels".into(),
        ));
    }
    let (candidates, what): (Vec<usize>, &str) = match flip {
        Flip::Random => ((0..clean.len()).collect(), "samples"),
        Flip::Targeted { source, target } => {
            if source == target {
                return Err(Error::Parameter(format!(
                    "--source-class and --target-class are both {source}; a targeted flip \
                     relabels one class as another"
                )));
            }
            (
                (0..clean.len())
                    .filter(|&i| clean.labels[i] == source)
                    .collect(),
                "samples of the source class",
            )
        }
    };
    let chosen = choose(&candidates, count, what, rng)?;
    let mut out = Poisoned::start(clean, chosen.clone());
    for i in chosen {
        let y = clean.labels[i];
        out.data.labels[i] = match flip {
            Flip::Random => (y + 1 + rng.gen_range(0..classes as i64 - 1)) % classes as i64,
            Flip::Targeted { target, .. } => target,
        };
    }
    Ok(out)
}
