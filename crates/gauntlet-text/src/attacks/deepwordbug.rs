//! DeepWordBug-style character-level attack (Gao et al., 2018): rank words by
//! importance, then apply the best of four human-looking typos to each.

use rand::rngs::StdRng;

use super::attack::{Attack, AttackResult};
use super::edit::EditKind;
use super::greedy::{greedy_substitution, same_case, typo_positions, WordTransform};
use crate::budget::Budget;
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

impl WordTransform for DeepWordBug {
    /// Every human-looking single typo of the word, at every position a typo
    /// may touch (see `typo_positions`): two adjacent letters swapped, a letter
    /// dropped, a letter doubled or a keyboard neighbour struck next to it, a
    /// letter replaced by a keyboard neighbour. Enumerating them all (a few
    /// dozen per word) rather than sampling lets the greedy search find the
    /// typos that turn a spam word into a ham word, not just an unknown one.
    fn candidates(&self, word: &str, _rng: &mut StdRng) -> Vec<(String, EditKind)> {
        let chars: Vec<char> = word.chars().collect();
        let pos = typo_positions(&chars);
        let mut out: Vec<(String, EditKind)> = Vec::new();
        let variant = |edit: &dyn Fn(&mut Vec<char>)| -> String {
            let mut s = chars.clone();
            edit(&mut s);
            s.into_iter().collect()
        };
        for (k, &i) in pos.iter().enumerate() {
            let c = chars[i];
            let neighbours = keyboard_neighbours(c.to_ascii_lowercase());
            if pos.get(k + 1) == Some(&(i + 1)) && chars[i + 1] != c {
                out.push((variant(&|s| s.swap(i, i + 1)), EditKind::Swap));
            }
            out.push((
                variant(&|s| {
                    s.remove(i);
                }),
                EditKind::Delete,
            ));
            for extra in std::iter::once(c).chain(neighbours.chars().map(|n| same_case(n, c))) {
                out.push((variant(&|s| s.insert(i, extra)), EditKind::Insert));
            }
            for n in neighbours.chars() {
                out.push((variant(&|s| s[i] = same_case(n, c)), EditKind::KeyboardSub));
            }
        }
        out.retain(|(c, _)| c != word);
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }
}

impl Attack for DeepWordBug {
    fn name(&self) -> &'static str {
        "deepwordbug"
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Optimal string alignment distance (Damerau: adjacent swaps cost one).
    fn damerau(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let mut v = (d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1)
                    .min(d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]));
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    v = v.min(d[i - 2][j - 2] + 1);
                }
                d[i][j] = v;
            }
        }
        d[a.len()][b.len()]
    }

    #[test]
    fn candidates_are_every_single_human_typo_keeping_the_outer_letters() {
        let mut rng = StdRng::seed_from_u64(0);
        let cands = DeepWordBug.candidates("Money", &mut rng);
        let words: Vec<&str> = cands.iter().map(|(w, _)| w.as_str()).collect();
        // One of each kind, at interior positions, with the case kept.
        for (want, kind) in [
            ("Mnoey", EditKind::Swap),
            ("Mney", EditKind::Delete),
            ("Mooney", EditKind::Insert),
            ("Mondy", EditKind::KeyboardSub),
        ] {
            assert!(
                cands.contains(&(want.to_string(), kind)),
                "{want} ({kind:?}) missing from {words:?}"
            );
        }
        for (w, _) in &cands {
            assert_eq!(damerau("Money", w), 1, "{w}");
            assert!(
                w.starts_with('M') && w.ends_with('y'),
                "{w} changed an outer letter"
            );
        }
        let mut unique = words.clone();
        unique.dedup();
        assert_eq!(unique.len(), words.len(), "duplicates in {words:?}");
        // interior o, n, e: 2 swaps + 3 deletes + (1 + 4/4/4 neighbours) inserts + 4/4/4 substitutions, less collisions
        assert!(cands.len() >= 25, "{}", cands.len());
        assert!(DeepWordBug
            .candidates("ok", &mut rng)
            .iter()
            .all(|(w, _)| damerau("ok", w) == 1));
    }
}
