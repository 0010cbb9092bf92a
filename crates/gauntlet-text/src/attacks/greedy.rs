//! The greedy word-substitution search shared by the character-level attacks (DeepWordBug,
//! homoglyph, leetspeak): they differ only in the candidate rewrites of one word
//! ([`WordTransform`]).

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::attack::AttackResult;
use super::edit::{apply_edits, Edit, EditKind};
use crate::budget::Budget;
use crate::classifier::Oracle;
use crate::error::{Error, Result};
use crate::tokenize::{levenshtein, word_spans};

/// Candidate rewrites of a single word.
pub trait WordTransform {
    /// Whether the word is worth rewriting.
    fn applies(&self, word: &str) -> bool {
        word.chars().filter(|c| c.is_alphabetic()).count() >= 3
    }
    /// Rewrites of `word`, each with its kind. May use `rng`; must not return `word`.
    fn candidates(&self, word: &str, rng: &mut StdRng) -> Vec<(String, EditKind)>;
}

/// Greedy word-substitution attack shared by the character-level attacks.
///
/// Score mode: words are ranked by importance — how much the spam score drops
/// when the word is removed (one query per distinct word). The most important
/// words (`PROBE_FACTOR` × the edits allowed, at least `MIN_PROBED`) are probed:
/// every candidate rewrite of the word, alone, is queried. Occurrences are then
/// edited in the order of the best drop a probe found (unprobed words after, by
/// importance): the rewrite that worked for the same word before is tried first
/// (one query), else every candidate is queried, and the best is kept if it
/// lowers the score — until the target says ham or the budget is spent.
///
/// Decision-only mode: with labels only there is no importance signal, so
/// words are taken longest first (random tie-break), one random rewrite each,
/// with one query per edit until the label flips; then edits that are not
/// needed are reverted (one query each).
pub fn greedy_substitution(
    text: &str,
    oracle: &Oracle,
    budget: &Budget,
    transform: &dyn WordTransform,
    rng: &mut StdRng,
) -> Result<AttackResult> {
    let spans = word_spans(text);
    let allowed = budget.allowed_edits(spans.len());
    let mut state = Greedy {
        text,
        edits: Vec::new(),
        lev_left: budget.max_levenshtein(),
    };
    let s0 = match oracle.query_one(text) {
        Ok(s) => s,
        Err(Error::QueryLimit { .. }) => {
            return Ok(state.finish(1.0, Some("query limit reached".into())))
        }
        Err(e) => return Err(e),
    };
    if s0 < 0.5 {
        return Ok(state.finish(s0, None));
    }
    if allowed == 0 {
        return Ok(state.finish(
            s0,
            Some(format!("budget allows no edit for {} words", spans.len())),
        ));
    }
    let eligible: Vec<usize> = (0..spans.len())
        .filter(|&i| transform.applies(&text[spans[i].0..spans[i].1]))
        .collect();
    let result = if oracle.decision_only() {
        state.run_decision_only(&spans, eligible, allowed, oracle, transform, rng)
    } else {
        state.run_scores(&spans, eligible, allowed, s0, oracle, transform, rng)
    };
    match result {
        Ok(r) => Ok(r),
        Err(Error::QueryLimit { .. }) => {
            // Report what was reached; success is only claimed from a real answer.
            let edits = std::mem::take(&mut state.edits);
            let adversarial = apply_edits(text, &edits);
            Ok(AttackResult {
                edits,
                adversarial,
                final_score: 1.0,
                success: false,
                note: Some("query limit reached".into()),
            })
        }
        Err(e) => Err(e),
    }
}

/// Words probed with every rewrite, per edit the budget allows (see
/// [`greedy_substitution`]).
const PROBE_FACTOR: usize = 4;
/// Words probed at least, however small the budget.
const MIN_PROBED: usize = 8;

struct Greedy<'t> {
    text: &'t str,
    edits: Vec<Edit>,
    lev_left: usize,
}

impl Greedy<'_> {
    fn finish(&mut self, score: f64, note: Option<String>) -> AttackResult {
        let edits = std::mem::take(&mut self.edits);
        AttackResult {
            adversarial: apply_edits(self.text, &edits),
            edits,
            final_score: score,
            success: score < 0.5,
            note,
        }
    }

    fn with_edit(&self, e: &Edit) -> String {
        let mut all = self.edits.clone();
        all.push(e.clone());
        apply_edits(self.text, &all)
    }

    fn make_edit(&self, span: (usize, usize), replacement: String, kind: EditKind) -> Option<Edit> {
        let original = &self.text[span.0..span.1];
        let cost = levenshtein(original, &replacement);
        (cost > 0 && cost <= self.lev_left).then(|| Edit {
            start: span.0,
            end: span.1,
            original: original.to_string(),
            replacement,
            kind,
            cost,
        })
    }

    fn accept(&mut self, e: Edit) {
        self.lev_left -= e.cost;
        self.edits.push(e);
    }

    /// Queries every candidate rewrite of the word at `span` on top of the edits
    /// made so far; the lowest-scoring one and its score (`None`: no candidate fits).
    fn best_rewrite(
        &self,
        span: (usize, usize),
        oracle: &Oracle,
        transform: &dyn WordTransform,
        rng: &mut StdRng,
    ) -> Result<Option<(Edit, f64)>> {
        let word = &self.text[span.0..span.1];
        let mut cands: Vec<Edit> = transform
            .candidates(word, rng)
            .into_iter()
            .filter_map(|(r, k)| self.make_edit(span, r, k))
            .collect();
        if cands.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = cands.iter().map(|e| self.with_edit(e)).collect();
        let scores = oracle.query(&texts)?;
        let (best, &score) = scores
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .expect("non-empty candidates");
        Ok(Some((cands.swap_remove(best), score)))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_scores(
        &mut self,
        spans: &[(usize, usize)],
        eligible: Vec<usize>,
        allowed: usize,
        s0: f64,
        oracle: &Oracle,
        transform: &dyn WordTransform,
        rng: &mut StdRng,
    ) -> Result<AttackResult> {
        // Importance of each distinct word: score drop when its first occurrence is removed.
        let mut first: Vec<(String, usize)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for &i in &eligible {
            let w = self.text[spans[i].0..spans[i].1].to_lowercase();
            if !seen.contains_key(&w) {
                seen.insert(w.clone(), first.len());
                first.push((w, i));
            }
        }
        let mut importance = vec![0f64; first.len()];
        for (chunk_no, chunk) in first.chunks(64).enumerate() {
            let texts: Vec<String> = chunk
                .iter()
                .map(|&(_, i)| format!("{}{}", &self.text[..spans[i].0], &self.text[spans[i].1..]))
                .collect();
            for (k, s) in oracle.query(&texts)?.into_iter().enumerate() {
                importance[chunk_no * 64 + k] = s0 - s;
            }
        }
        let mut order: Vec<usize> = (0..first.len()).collect();
        order.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));

        // Probe the most important words: every rewrite of the word's first
        // occurrence, alone. A rewrite can do more than remove the word's
        // evidence (it may become another, innocent-looking word), so words are
        // edited in the order of the best drop found, not of importance.
        let probed = order.len().min((PROBE_FACTOR * allowed).max(MIN_PROBED));
        let mut drop = vec![f64::NEG_INFINITY; first.len()];
        let mut best_rewrite: HashMap<String, (String, EditKind)> = HashMap::new();
        for &t in &order[..probed] {
            let span = spans[first[t].1];
            let word = &self.text[span.0..span.1];
            if let Some((best, best_score)) = self.best_rewrite(span, oracle, transform, rng)? {
                drop[t] = s0 - best_score;
                best_rewrite.insert(word.to_string(), (best.replacement, best.kind));
            }
        }
        // Stable: words not probed keep their importance order, after the probed ones.
        order.sort_by(|&a, &b| drop[b].total_cmp(&drop[a]));

        let mut positions: Vec<usize> = Vec::new();
        for t in order {
            let w = &first[t].0;
            positions.extend(
                eligible
                    .iter()
                    .copied()
                    .filter(|&i| self.text[spans[i].0..spans[i].1].to_lowercase() == *w),
            );
        }
        let mut current = s0;
        for i in positions {
            if self.edits.len() >= allowed || self.lev_left == 0 {
                break;
            }
            let word = &self.text[spans[i].0..spans[i].1];
            // The rewrite that worked best for this exact word elsewhere in the
            // message is tried first, with one query; the full search only when
            // it no longer helps.
            if let Some(e) = best_rewrite
                .get(word)
                .and_then(|(r, k)| self.make_edit(spans[i], r.clone(), *k))
            {
                let score = oracle.query_one(&self.with_edit(&e))?;
                if score < current {
                    current = score;
                    self.accept(e);
                    if current < 0.5 {
                        break;
                    }
                    continue;
                }
            }
            let Some((best, best_score)) = self.best_rewrite(spans[i], oracle, transform, rng)?
            else {
                continue;
            };
            if best_score < current {
                current = best_score;
                best_rewrite.insert(word.to_string(), (best.replacement.clone(), best.kind));
                self.accept(best);
                if current < 0.5 {
                    break;
                }
            }
        }
        Ok(self.finish(
            current,
            (current >= 0.5).then(|| "budget spent without evading".to_string()),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_decision_only(
        &mut self,
        spans: &[(usize, usize)],
        mut eligible: Vec<usize>,
        allowed: usize,
        oracle: &Oracle,
        transform: &dyn WordTransform,
        rng: &mut StdRng,
    ) -> Result<AttackResult> {
        eligible.shuffle(rng);
        eligible
            .sort_by_key(|&i| std::cmp::Reverse(self.text[spans[i].0..spans[i].1].chars().count()));
        let mut label = 1.0;
        for i in eligible {
            if self.edits.len() >= allowed || self.lev_left == 0 {
                break;
            }
            let word = &self.text[spans[i].0..spans[i].1];
            let mut cands = transform.candidates(word, rng);
            if cands.is_empty() {
                continue;
            }
            let (r, k) = cands.swap_remove(rng.gen_range(0..cands.len()));
            let Some(e) = self.make_edit(spans[i], r, k) else {
                continue;
            };
            self.accept(e);
            label = oracle.query_one(&apply_edits(self.text, &self.edits))?;
            if label < 0.5 {
                break;
            }
        }
        if label < 0.5 {
            // Drop edits the evasion does not need, latest first.
            let mut k = self.edits.len();
            while k > 0 {
                k -= 1;
                let mut without = self.edits.clone();
                let removed = without.remove(k);
                if oracle.query_one(&apply_edits(self.text, &without))? < 0.5 {
                    self.edits = without;
                    self.lev_left += removed.cost;
                }
            }
            return Ok(self.finish(0.0, None));
        }
        Ok(self.finish(label, Some("budget spent without evading".to_string())))
    }
}

/// Keep the case pattern of `like` on a replacement letter.
pub(crate) fn same_case(c: char, like: char) -> char {
    if like.is_uppercase() {
        c.to_uppercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// Char indices a typo may touch: interior letters when the word is long
/// enough (humans rarely garble first and last letters), else any letter.
pub(crate) fn typo_positions(chars: &[char]) -> Vec<usize> {
    let interior: Vec<usize> = (1..chars.len().saturating_sub(1))
        .filter(|&i| chars[i].is_alphabetic())
        .collect();
    if chars.len() >= 4 && !interior.is_empty() {
        interior
    } else {
        (0..chars.len())
            .filter(|&i| chars[i].is_alphabetic())
            .collect()
    }
}
