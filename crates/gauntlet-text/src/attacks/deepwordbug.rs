//! DeepWordBug-style character-level attack (Gao et al., 2018): rank words by
//! importance, then apply the best of four human-looking typos to each.

use rand::rngs::StdRng;
use rand::Rng;

use super::{greedy_substitution, same_case, typo_positions, AttackResult, EditKind, TextAttack, WordTransform};
use crate::budget::TextBudget;
use crate::classifier::Oracle;
use crate::error::Result;

/// The character-level typo attack.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeepWordBug;

/// QWERTY neighbours of a lower-case letter.
pub fn keyboard_neighbours(c: char) -> &'static str {
    match c {
        'q' => "wa",
        'w' => "qeas",
        'e' => "wrsd",
        'r' => "etdf",
        't' => "ryfg",
        'y' => "tugh",
        'u' => "yihj",
        'i' => "uojk",
        'o' => "ipkl",
        'p' => "ol",
        'a' => "qwsz",
        's' => "awedxz",
        'd' => "serfcx",
        'f' => "drtgvc",
        'g' => "ftyhbv",
        'h' => "gyujnb",
        'j' => "huikmn",
        'k' => "jiolm",
        'l' => "kop",
        'z' => "asx",
        'x' => "zsdc",
        'c' => "xdfv",
        'v' => "cfgb",
        'b' => "vghn",
        'n' => "bhjm",
        'm' => "njk",
        _ => "",
    }
}

/// Random positions drawn per typo operation: more candidates find typos that
/// land on ham-indicative words, at the price of more queries.
const TRIES_PER_OP: usize = 2;

impl WordTransform for DeepWordBug {
    fn candidates(&self, word: &str, rng: &mut StdRng) -> Vec<(String, EditKind)> {
        let chars: Vec<char> = word.chars().collect();
        let pos = typo_positions(&chars);
        if pos.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<(String, EditKind)> = Vec::new();
        let swappable: Vec<usize> = (0..chars.len().saturating_sub(1))
            .filter(|&i| chars[i] != chars[i + 1] && chars[i].is_alphabetic() && chars[i + 1].is_alphabetic())
            .collect();
        for _ in 0..TRIES_PER_OP {
            // Swap two adjacent letters.
            if !swappable.is_empty() {
                let i = swappable[rng.gen_range(0..swappable.len())];
                let mut s = chars.clone();
                s.swap(i, i + 1);
                out.push((s.into_iter().collect(), EditKind::Swap));
            }
            // Delete a letter.
            let i = pos[rng.gen_range(0..pos.len())];
            let mut s = chars.clone();
            s.remove(i);
            out.push((s.into_iter().collect(), EditKind::Delete));
            // Insert a random letter.
            let i = pos[rng.gen_range(0..pos.len())];
            let mut s = chars.clone();
            let letter = (b'a' + rng.gen_range(0..26u8)) as char;
            s.insert(i, same_case(letter, chars[i]));
            out.push((s.into_iter().collect(), EditKind::Insert));
            // Substitute a keyboard neighbour.
            let i = pos[rng.gen_range(0..pos.len())];
            let nb = keyboard_neighbours(chars[i].to_ascii_lowercase());
            if !nb.is_empty() {
                let mut s = chars.clone();
                let r = nb.as_bytes()[rng.gen_range(0..nb.len())] as char;
                s[i] = same_case(r, chars[i]);
                out.push((s.into_iter().collect(), EditKind::KeyboardSub));
            }
        }
        out.retain(|(c, _)| c != word);
        out.sort();
        out.dedup();
        out
    }
}

impl TextAttack for DeepWordBug {
    fn name(&self) -> &'static str {
        "deepwordbug"
    }
    fn attack(&self, text: &str, oracle: &Oracle, budget: &TextBudget, rng: &mut StdRng) -> Result<AttackResult> {
        greedy_substitution(text, oracle, budget, self, rng)
    }
}
