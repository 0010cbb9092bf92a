//! Homoglyph attack: Latin letters replaced by look-alikes from other scripts
//! (or their full-width forms), or invisible characters inserted mid-word.
//! The text looks unchanged to a reader but no longer matches the filter's tokens.

use rand::rngs::StdRng;
use rand::Rng;

use super::attack::{Attack, AttackResult};
use super::edit::EditKind;
use super::greedy::{greedy_substitution, typo_positions, WordTransform};
use crate::budget::Budget;
use crate::classifier::Oracle;
use crate::confusables::lookalikes;
use crate::error::Result;

/// The homoglyph / zero-width attack.
#[derive(Debug, Clone, Copy, Default)]
pub struct Homoglyph;

/// Invisible characters the attack inserts.
const INVISIBLE: [char; 4] = ['\u{200B}', '\u{200C}', '\u{2060}', '\u{00AD}'];

fn full_width(c: char) -> Option<char> {
    c.is_ascii_alphanumeric()
        .then(|| char::from_u32(c as u32 - 0x21 + 0xFF01))
        .flatten()
}

impl WordTransform for Homoglyph {
    fn candidates(&self, word: &str, rng: &mut StdRng) -> Vec<(String, EditKind)> {
        let chars: Vec<char> = word.chars().collect();
        let mut out = Vec::new();
        let swappable: Vec<usize> = (0..chars.len())
            .filter(|&i| !lookalikes(chars[i]).is_empty())
            .collect();
        if !swappable.is_empty() {
            // One look-alike letter...
            let i = swappable[rng.gen_range(0..swappable.len())];
            let alts = lookalikes(chars[i]);
            let mut s = chars.clone();
            s[i] = alts[rng.gen_range(0..alts.len())];
            out.push((s.iter().collect(), EditKind::Homoglyph));
            // ...and every letter that has one.
            if swappable.len() > 1 {
                let mut s = chars.clone();
                for &j in &swappable {
                    let alts = lookalikes(chars[j]);
                    s[j] = alts[rng.gen_range(0..alts.len())];
                }
                out.push((s.iter().collect(), EditKind::Homoglyph));
            }
        }
        let pos = typo_positions(&chars);
        if !pos.is_empty() {
            let i = pos[rng.gen_range(0..pos.len())];
            if let Some(f) = full_width(chars[i]) {
                let mut s = chars.clone();
                s[i] = f;
                out.push((s.iter().collect(), EditKind::FullWidth));
            }
        }
        if chars.len() >= 2 {
            let i = rng.gen_range(1..chars.len());
            let mut s = chars.clone();
            s.insert(i, INVISIBLE[rng.gen_range(0..INVISIBLE.len())]);
            out.push((s.iter().collect(), EditKind::ZeroWidth));
        }
        out.retain(|(c, _)| c != word);
        out
    }
}

impl Attack for Homoglyph {
    fn name(&self) -> &'static str {
        "homoglyph"
    }
    fn attack(
        &self,
        text: &str,
        oracle: &Oracle,
        budget: &Budget,
        rng: &mut StdRng,
    ) -> Result<AttackResult> {
        greedy_substitution(text, oracle, budget, self, rng)
    }
}
