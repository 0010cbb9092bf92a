//! Evasion attacks. Each attack edits a message within a [`Budget`](crate::budget::Budget), sees
//! the target only through an [`Oracle`](crate::classifier::Oracle) (scores, or labels in decision-only
//! mode), and is reproducible for a given seeded RNG.
//!
//! The three word-substitution attacks (DeepWordBug, homoglyph, leetspeak)
//! share [`greedy_substitution`] and differ only in the candidate rewrites of
//! one word ([`WordTransform`]); the good-word attack appends words instead.
//!
//! Files: `attack.rs` holds the [`Attack`] interface and the attacks by name, `edit.rs` the
//! [`Edit`]s, `greedy.rs` the shared search; each attack has its own file.

mod attack;
pub mod deepwordbug;
mod edit;
pub mod goodword;
mod greedy;
pub mod homoglyph;
pub mod leet;

pub use attack::{Attack, AttackKind, AttackResult};
pub use deepwordbug::DeepWordBug;
pub use edit::{apply_edits, Edit, EditKind};
pub use goodword::GoodWord;
pub use greedy::{greedy_substitution, WordTransform};
pub use homoglyph::Homoglyph;
pub use leet::Leet;

/// Build a built-in attack. `good_words` is the attacker's dictionary for
/// [`GoodWord`] (ignored by the others).
pub fn build_attack(kind: AttackKind, good_words: &[String]) -> Box<dyn Attack> {
    match kind {
        AttackKind::DeepWordBug => Box::new(DeepWordBug),
        AttackKind::Homoglyph => Box::new(Homoglyph),
        AttackKind::Leet => Box::new(Leet),
        AttackKind::GoodWord => Box::new(GoodWord::new(good_words.to_vec())),
    }
}
