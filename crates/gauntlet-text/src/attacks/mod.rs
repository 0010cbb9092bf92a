//! Evasion attacks. Each attack edits a message within a [`TextBudget`], sees
//! the target only through an [`Oracle`] (scores, or labels in decision-only
//! mode), and is reproducible for a given seeded RNG.
//!
//! The three word-substitution attacks (DeepWordBug, homoglyph, leetspeak)
//! share [`greedy_substitution`] and differ only in the candidate rewrites of
//! one word ([`WordTransform`]); the good-word attack appends words instead.

pub mod deepwordbug;
pub mod goodword;
pub mod homoglyph;
pub mod leet;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::budget::TextBudget;
use crate::classifier::Oracle;
use crate::error::{Result, TextError};
use crate::tokenize::{levenshtein, word_spans};

pub use deepwordbug::DeepWordBug;
pub use goodword::GoodWord;
pub use homoglyph::Homoglyph;
pub use leet::Leet;

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    /// Two adjacent letters swapped.
    Swap,
    /// A letter deleted.
    Delete,
    /// A letter inserted.
    Insert,
    /// A letter replaced by a keyboard neighbour.
    KeyboardSub,
    /// Letters replaced by look-alikes from other scripts.
    Homoglyph,
    /// A letter replaced by its full-width form.
    FullWidth,
    /// An invisible character inserted.
    ZeroWidth,
    /// Letters replaced by digits/symbols.
    Leet,
    /// Letters spaced out.
    Spacing,
    /// A word appended.
    Append,
}

/// One word-level edit, located in the original text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    /// Byte offset of the replaced word in the original (for appends: its length).
    pub start: usize,
    /// End byte offset (equal to `start` for appends).
    pub end: usize,
    /// The original word ("" for appends).
    pub original: String,
    /// What replaced it (for appends, including the leading separator).
    pub replacement: String,
    /// Which trick.
    pub kind: EditKind,
    /// Levenshtein distance of `original` → `replacement` (characters).
    pub cost: usize,
}

/// Apply edits to the original text. Edits must not overlap; appends at the
/// same offset are applied in the given order.
pub fn apply_edits(original: &str, edits: &[Edit]) -> String {
    let mut order: Vec<&Edit> = edits.iter().collect();
    order.sort_by_key(|e| e.start); // stable: keeps append order
    let mut out = String::with_capacity(original.len() + 64);
    let mut last = 0;
    for e in order {
        out.push_str(&original[last..e.start]);
        out.push_str(&e.replacement);
        last = e.end;
    }
    out.push_str(&original[last..]);
    out
}

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
pub trait TextAttack {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// One-time, message-independent preparation through the oracle (e.g.
    /// finding good words). Its queries are reported as setup cost.
    fn prepare(&mut self, _oracle: &Oracle, _rng: &mut StdRng) -> Result<()> {
        Ok(())
    }
    /// Attack one message the target currently labels spam.
    fn attack(&self, text: &str, oracle: &Oracle, budget: &TextBudget, rng: &mut StdRng) -> Result<AttackResult>;
}

/// The built-in attacks, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// Character-level typos ([`DeepWordBug`]).
    DeepWordBug,
    /// Look-alike letters and invisible characters ([`Homoglyph`]).
    Homoglyph,
    /// Leetspeak and spacing ([`Leet`]).
    Leet,
    /// Appended ham words ([`GoodWord`]).
    GoodWord,
}

impl AttackKind {
    /// All built-in attacks.
    pub const ALL: [AttackKind; 4] = [AttackKind::DeepWordBug, AttackKind::Homoglyph, AttackKind::Leet, AttackKind::GoodWord];

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
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self> {
        AttackKind::ALL.into_iter().find(|k| k.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            TextError::invalid("attack", format!("unknown attack {s:?}; choose from deepwordbug, homoglyph, leet, goodword"))
        })
    }
}

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
    budget: &TextBudget,
    transform: &dyn WordTransform,
    rng: &mut StdRng,
) -> Result<AttackResult> {
    let spans = word_spans(text);
    let allowed = budget.allowed_edits(spans.len());
    let mut state = Greedy { text, edits: Vec::new(), lev_left: budget.max_levenshtein() };
    let s0 = match oracle.query_one(text) {
        Ok(s) => s,
        Err(TextError::QueryLimit { .. }) => return Ok(state.finish(1.0, Some("query limit reached".into()))),
        Err(e) => return Err(e),
    };
    if s0 < 0.5 {
        return Ok(state.finish(s0, None));
    }
    if allowed == 0 {
        return Ok(state.finish(s0, Some(format!("budget allows no edit for {} words", spans.len()))));
    }
    let eligible: Vec<usize> = (0..spans.len()).filter(|&i| transform.applies(&text[spans[i].0..spans[i].1])).collect();
    let result = if oracle.decision_only() {
        state.run_decision_only(&spans, eligible, allowed, oracle, transform, rng)
    } else {
        state.run_scores(&spans, eligible, allowed, s0, oracle, transform, rng)
    };
    match result {
        Ok(r) => Ok(r),
        Err(TextError::QueryLimit { .. }) => {
            // Report what was reached; success is only claimed from a real answer.
            let edits = std::mem::take(&mut state.edits);
            let adversarial = apply_edits(text, &edits);
            Ok(AttackResult { edits, adversarial, final_score: 1.0, success: false, note: Some("query limit reached".into()) })
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
        AttackResult { adversarial: apply_edits(self.text, &edits), edits, final_score: score, success: score < 0.5, note }
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
        let mut cands: Vec<Edit> =
            transform.candidates(word, rng).into_iter().filter_map(|(r, k)| self.make_edit(span, r, k)).collect();
        if cands.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = cands.iter().map(|e| self.with_edit(e)).collect();
        let scores = oracle.query(&texts)?;
        let (best, &score) = scores.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).expect("non-empty candidates");
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
            positions.extend(eligible.iter().copied().filter(|&i| self.text[spans[i].0..spans[i].1].to_lowercase() == *w));
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
            if let Some(e) = best_rewrite.get(word).and_then(|(r, k)| self.make_edit(spans[i], r.clone(), *k)) {
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
            let Some((best, best_score)) = self.best_rewrite(spans[i], oracle, transform, rng)? else { continue };
            if best_score < current {
                current = best_score;
                best_rewrite.insert(word.to_string(), (best.replacement.clone(), best.kind));
                self.accept(best);
                if current < 0.5 {
                    break;
                }
            }
        }
        Ok(self.finish(current, (current >= 0.5).then(|| "budget spent without evading".to_string())))
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
        eligible.sort_by_key(|&i| std::cmp::Reverse(self.text[spans[i].0..spans[i].1].chars().count()));
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
            let Some(e) = self.make_edit(spans[i], r, k) else { continue };
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
    let interior: Vec<usize> = (1..chars.len().saturating_sub(1)).filter(|&i| chars[i].is_alphabetic()).collect();
    if chars.len() >= 4 && !interior.is_empty() {
        interior
    } else {
        (0..chars.len()).filter(|&i| chars[i].is_alphabetic()).collect()
    }
}

/// Build a built-in attack. `good_words` is the attacker's dictionary for
/// [`GoodWord`] (ignored by the others).
pub fn build_attack(kind: AttackKind, good_words: &[String]) -> Box<dyn TextAttack> {
    match kind {
        AttackKind::DeepWordBug => Box::new(DeepWordBug),
        AttackKind::Homoglyph => Box::new(Homoglyph),
        AttackKind::Leet => Box::new(Leet),
        AttackKind::GoodWord => Box::new(GoodWord::new(good_words.to_vec())),
    }
}
