//! gauntlet-poison: attacks on the training data of image classifiers, and the loop that
//! measures and repairs them.
//!
//! - [`trigger`]: BadNets triggers — a pixel pattern or any PNG, at a position, in the data's
//!   units and channels-first layout;
//! - [`badnets`]: all-to-one and all-to-all BadNets (Gu et al. 2017);
//! - [`label_flip`]: random and targeted label flipping;
//! - [`clean_label`]: the label-consistent backdoor (Turner et al. 2019);
//! - [`selection`]: exactly `round(fraction · n)` samples, drawn by seed;
//! - [`manifest`]: `manifest.json`, with the sorted `poisoned` indices;
//! - [`job`]: `gauntlet poison` as one call, writing plain `.npy` files any framework reads;
//! - [`closed_loop`]: poison → train → audit → scan → drop → retrain → re-audit, one report.
//!
//! In the data flow (data + model + threat model → attack → outcomes → evaluation → report)
//! poisoning sits before training: it changes the data a model is made from.

pub mod attack;
pub mod badnets;
pub mod clean_label;
pub mod closed_loop;
pub mod job;
pub mod label_flip;
pub mod manifest;
pub mod poisoned;
pub mod selection;
pub mod trigger;

pub use attack::{AttackKind, PoisonAttack, ATTACK_KINDS};
pub use badnets::Labelling;
pub use clean_label::Perturbation;
pub use job::{default_perturbation, PoisonJob, PoisonOutcome, DEFAULT_TRIGGER};
pub use label_flip::Flip;
pub use manifest::Manifest;
pub use poisoned::Poisoned;
pub use trigger::Trigger;
