//! Leetspeak and spacing tricks: "fr33", "v1agra", "v i a g r a".

use rand::rngs::StdRng;
use rand::Rng;

use super::attack::{Attack, AttackResult};
use super::edit::EditKind;
use super::greedy::{greedy_substitution, WordTransform};
use crate::budget::Budget;
use crate::classifier::Oracle;
use crate::error::Result;

/// The leetspeak / spacing attack.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leet;

/// Leet replacement for a letter.
pub fn leet_char(c: char) -> Option<char> {
    Some(match c.to_ascii_lowercase() {
        'a' => '4',
        'e' => '3',
        'i' => '1',
        'o' => '0',
        's' => '5',
        't' => '7',
        'b' => '8',
        'g' => '9',
        _ => return None,
    })
}

impl WordTransform for Leet {
    fn candidates(&self, word: &str, rng: &mut StdRng) -> Vec<(String, EditKind)> {
        let chars: Vec<char> = word.chars().collect();
        let mut out = Vec::new();
        let leetable: Vec<usize> = (0..chars.len())
            .filter(|&i| leet_char(chars[i]).is_some())
            .collect();
        if !leetable.is_empty() {
            let i = leetable[rng.gen_range(0..leetable.len())];
            let mut s = chars.clone();
            s[i] = leet_char(chars[i]).expect("leetable");
            out.push((s.iter().collect(), EditKind::Leet));
            if leetable.len() > 1 {
                let s: String = chars.iter().map(|&c| leet_char(c).unwrap_or(c)).collect();
                out.push((s, EditKind::Leet));
            }
        }
        if chars.len() >= 3 && chars.len() <= 12 {
            let sep = [" ", " ", ".", "-"][rng.gen_range(0..4)];
            let s: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
            out.push((s.join(sep), EditKind::Spacing));
        }
        out.retain(|(c, _)| c != word);
        out
    }
}

impl Attack for Leet {
    fn name(&self) -> &'static str {
        "leet"
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
