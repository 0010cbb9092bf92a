//! The attack interface every text attack implements, its result, and the built-in attacks
//! by name.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::edit::Edit;
use crate::budget::Budget;
use crate::classifier::Oracle;
use crate::error::{Error, Result};

/// Result of attacking one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    /// The edits made (possibly none).
    pub edits: Vec<Edit>,
    /// The edited message (`apply_edits(original, &edits)`).
    pub adversarial: String,
    /// The target's last answer for `adversarial` (a 0/1 label in decision-only mode).
    pub final_score: f64,
    /// Whether the target labelled `adversarial` ham.
    pub success: bool,
    /// Why it stopped without success, if it did.
    pub note: Option<String>,
}

/// An evasion attack.
pub trait Attack {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// One-time, message-independent preparation through the oracle (e.g.
    /// finding good words). Its queries are reported as setup cost.
    fn prepare(&mut self, _oracle: &Oracle, _rng: &mut StdRng) -> Result<()> {
        Ok(())
    }
    /// What [`Attack::prepare`] learned, as JSON, so that a resumed audit can restore it with
    /// [`Attack::restore_state`] instead of querying the target again. `None` (the default)
    /// when there is nothing to keep; the audit then calls `prepare` again on resume.
    fn prepared_state(&self) -> Option<serde_json::Value> {
        None
    }
    /// Restores what [`Attack::prepared_state`] returned, in place of [`Attack::prepare`].
    fn restore_state(&mut self, _state: serde_json::Value) -> Result<()> {
        Ok(())
    }
    /// Attack one message the target currently labels spam.
    fn attack(
        &self,
        text: &str,
        oracle: &Oracle,
        budget: &Budget,
        rng: &mut StdRng,
    ) -> Result<AttackResult>;
}

/// The built-in attacks, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// Character-level typos ([`DeepWordBug`](super::DeepWordBug)).
    DeepWordBug,
    /// Look-alike letters and invisible characters ([`Homoglyph`](super::Homoglyph)).
    Homoglyph,
    /// Leetspeak and spacing ([`Leet`](super::Leet)).
    Leet,
    /// Appended ham words ([`GoodWord`](super::GoodWord)).
    GoodWord,
}

impl AttackKind {
    /// All built-in attacks.
    pub const ALL: [AttackKind; 4] = [
        AttackKind::DeepWordBug,
        AttackKind::Homoglyph,
        AttackKind::Leet,
        AttackKind::GoodWord,
    ];

    /// The attack's name as used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            AttackKind::DeepWordBug => "deepwordbug",
            AttackKind::Homoglyph => "homoglyph",
            AttackKind::Leet => "leet",
            AttackKind::GoodWord => "goodword",
        }
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttackKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        AttackKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::invalid(
                    "attack",
                    format!(
                        "unknown attack {s:?}; choose from deepwordbug, homoglyph, leet, goodword"
                    ),
                )
            })
    }
}
