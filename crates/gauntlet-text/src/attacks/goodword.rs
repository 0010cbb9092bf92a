//! Good-word attack (Lowd & Meek, 2005): append the fewest ham-indicative words
//! until the filter says ham. Good words are found by querying the filter with
//! each dictionary word on its own — never by reading the model.

use std::collections::HashMap;

use rand::rngs::StdRng;

use super::attack::{Attack, AttackResult};
use super::edit::{apply_edits, Edit, EditKind};
use crate::budget::Budget;
use crate::classifier::Oracle;
use crate::corpus::Message;
use crate::error::{Error, Result};
use crate::mime::extract_text;
use crate::tokenize::{word_count, word_tokens};

/// Most good words kept after preparation.
const MAX_GOOD_WORDS: usize = 1000;

/// The good-word attack. `dictionary` is the attacker's word list (e.g.
/// frequent words of ordinary mail); [`Attack::prepare`] ranks it.
#[derive(Debug, Clone)]
pub struct GoodWord {
    dictionary: Vec<String>,
    good: Option<Vec<String>>,
}

impl GoodWord {
    /// A good-word attack over `dictionary`.
    pub fn new(dictionary: Vec<String>) -> Self {
        GoodWord {
            dictionary,
            good: None,
        }
    }

    /// Good words found by [`Attack::prepare`], best first.
    pub fn good_words(&self) -> Option<&[String]> {
        self.good.as_deref()
    }
}

/// The `n` most frequent lower-case alphabetic words (>= 3 letters) of a set of
/// messages, most frequent first (ties alphabetical): a plain dictionary of
/// everyday words, with no knowledge of which class they indicate.
pub fn frequent_words(messages: &[Message], n: usize) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in messages {
        for t in word_tokens(&extract_text(&m.text)) {
            if t.len() >= 3 && t.chars().all(|c| c.is_ascii_lowercase()) {
                *counts.entry(t).or_default() += 1;
            }
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().take(n).map(|(w, _)| w).collect()
}

impl Attack for GoodWord {
    fn name(&self) -> &'static str {
        "goodword"
    }

    /// Query every dictionary word alone. With scores: keep words scored ham,
    /// lowest score first. Decision-only: keep words labelled ham, in
    /// dictionary order.
    fn prepare(&mut self, oracle: &Oracle, _rng: &mut StdRng) -> Result<()> {
        let mut scored: Vec<(f64, usize)> = Vec::new();
        for (c, chunk) in self.dictionary.chunks(128).enumerate() {
            for (k, s) in oracle.query(chunk)?.into_iter().enumerate() {
                scored.push((s, c * 128 + k));
            }
        }
        scored.retain(|(s, _)| *s < 0.5);
        if !oracle.decision_only() {
            scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
        self.good = Some(
            scored
                .into_iter()
                .take(MAX_GOOD_WORDS)
                .map(|(_, i)| self.dictionary[i].clone())
                .collect(),
        );
        Ok(())
    }

    /// The good words, best first.
    fn prepared_state(&self) -> Option<serde_json::Value> {
        self.good.as_ref().map(|good| serde_json::json!(good))
    }

    fn restore_state(&mut self, state: serde_json::Value) -> Result<()> {
        let good: Vec<String> = serde_json::from_value(state)
            .map_err(|e| Error::invalid("goodword state", format!("not a list of words ({e})")))?;
        self.good = Some(good);
        Ok(())
    }

    /// Append the first k good words for the smallest k (binary search) that
    /// flips the label within the budget.
    fn attack(
        &self,
        text: &str,
        oracle: &Oracle,
        budget: &Budget,
        _rng: &mut StdRng,
    ) -> Result<AttackResult> {
        let good = self.good.as_ref().ok_or_else(|| {
            Error::invalid("goodword attack", "prepare() must run before attack()")
        })?;
        let allowed = budget.allowed_edits(word_count(text));
        let mut edits: Vec<Edit> = Vec::new();
        let mut cost = 0;
        for w in good.iter().take(allowed) {
            let replacement = if edits.is_empty() {
                format!("\n{w}")
            } else {
                format!(" {w}")
            };
            let c = replacement.chars().count();
            if cost + c > budget.max_levenshtein() {
                break;
            }
            cost += c;
            edits.push(Edit {
                start: text.len(),
                end: text.len(),
                original: String::new(),
                replacement,
                kind: EditKind::Append,
                cost: c,
            });
        }
        let build = |k: usize| apply_edits(text, &edits[..k]);
        let fail = |score: f64, note: &str| AttackResult {
            edits: Vec::new(),
            adversarial: text.to_string(),
            final_score: score,
            success: false,
            note: Some(note.to_string()),
        };
        let ask = |t: &str| -> Result<Option<f64>> {
            match oracle.query_one(t) {
                Ok(s) => Ok(Some(s)),
                Err(Error::QueryLimit { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        };
        let Some(s0) = ask(text)? else {
            return Ok(fail(1.0, "query limit reached"));
        };
        if s0 < 0.5 {
            return Ok(AttackResult {
                edits: Vec::new(),
                adversarial: text.to_string(),
                final_score: s0,
                success: true,
                note: None,
            });
        }
        if edits.is_empty() {
            return Ok(fail(
                s0,
                if good.is_empty() {
                    "no good word found"
                } else {
                    "budget allows no appended word"
                },
            ));
        }
        let Some(s_max) = ask(&build(edits.len()))? else {
            return Ok(fail(s0, "query limit reached"));
        };
        if s_max >= 0.5 {
            return Ok(fail(s0, "budget spent without evading"));
        }
        // Invariant: lo words still spam, hi words ham.
        let (mut lo, mut hi, mut s_hi) = (0, edits.len(), s_max);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            let Some(s) = ask(&build(mid))? else { break };
            if s < 0.5 {
                hi = mid;
                s_hi = s;
            } else {
                lo = mid;
            }
        }
        let adversarial = build(hi);
        edits.truncate(hi);
        Ok(AttackResult {
            adversarial,
            edits,
            final_score: s_hi,
            success: true,
            note: None,
        })
    }
}
