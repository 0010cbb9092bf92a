//! The normalization defense: undo the usual obfuscations before a filter sees
//! the text, and a wrapper that puts it in front of any [`Classifier`].

use std::collections::HashMap;
use std::sync::RwLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::classifier::Classifier;
use crate::confusables::{is_zero_width, to_latin};
use crate::corpus::Message;
use crate::error::Result;
use crate::mime::extract_text;
use crate::tokenize::{single_edits, word_tokens};

/// Which normalization steps run (all by default), in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizeSteps {
    /// Remove zero-width and other invisible formatting characters.
    pub strip_zero_width: bool,
    /// Unicode NFKC (folds full-width, ligature and math-alphabet letters).
    pub nfkc: bool,
    /// Map Cyrillic/Greek look-alikes to Latin.
    pub confusables: bool,
    /// Join spaced-out letters ("v i a g r a" → "viagra").
    pub despace: bool,
    /// Undo leetspeak inside words ("fr33" → "free").
    pub deleet: bool,
    /// Replace unknown words by the most frequent training word one edit away.
    pub spell: bool,
}

impl Default for NormalizeSteps {
    fn default() -> Self {
        NormalizeSteps {
            strip_zero_width: true,
            nfkc: true,
            confusables: true,
            despace: true,
            deleet: true,
            spell: true,
        }
    }
}

/// Text normalizer with a training vocabulary for spelling repair.
#[derive(Debug)]
pub struct Normalizer {
    steps: NormalizeSteps,
    vocab: HashMap<String, u32>,
    /// Spelling repairs already worked out: attacks re-send the same words
    /// hundreds of times, and each repair costs about 55 lookups per letter.
    /// Behind a lock so that a batch is normalized on all cores.
    spell_cache: RwLock<HashMap<String, String>>,
}

impl Clone for Normalizer {
    fn clone(&self) -> Self {
        let cache = self
            .spell_cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Normalizer {
            steps: self.steps,
            vocab: self.vocab.clone(),
            spell_cache: RwLock::new(cache),
        }
    }
}

/// Words seen fewer times than this are not trusted as repair targets.
const MIN_VOCAB_COUNT: u32 = 3;

impl Normalizer {
    /// Build from training messages (their words become the spelling vocabulary).
    pub fn from_training(messages: &[Message], steps: NormalizeSteps) -> Self {
        let mut vocab: HashMap<String, u32> = HashMap::new();
        for m in messages {
            for t in word_tokens(&extract_text(&m.text)) {
                if t.chars().all(|c| c.is_ascii_lowercase()) {
                    *vocab.entry(t).or_default() += 1;
                }
            }
        }
        vocab.retain(|_, c| *c >= MIN_VOCAB_COUNT);
        Normalizer {
            steps,
            vocab,
            spell_cache: RwLock::new(HashMap::new()),
        }
    }

    /// The steps in use.
    pub fn steps(&self) -> NormalizeSteps {
        self.steps
    }

    /// Normalize one (already MIME-extracted) text.
    pub fn normalize(&self, text: &str) -> String {
        let s = self.steps;
        let mut t: String = if s.strip_zero_width {
            text.chars().filter(|&c| !is_zero_width(c)).collect()
        } else {
            text.to_string()
        };
        // NFKC and the confusable map leave ASCII unchanged: skip them on ASCII-only text.
        if s.nfkc && !t.is_ascii() {
            t = t.nfkc().collect();
        }
        if s.confusables && !t.is_ascii() {
            t = t.chars().map(|c| to_latin(c).unwrap_or(c)).collect();
        }
        if s.despace {
            t = despace(&t);
        }
        if s.deleet || s.spell {
            t = self.rewrite_words(&t);
        }
        t
    }

    fn known(&self, w: &str) -> bool {
        self.vocab.contains_key(w)
    }

    fn rewrite_words(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (s, e) in leet_word_spans(text) {
            out.push_str(&text[last..s]);
            let w = &text[s..e];
            let mut fixed = w.to_string();
            if self.steps.deleet {
                fixed = self.deleet(&fixed);
            }
            if self.steps.spell {
                fixed = self.spell(&fixed);
            }
            out.push_str(&fixed);
            last = e;
        }
        out.push_str(&text[last..]);
        out
    }

    fn deleet(&self, w: &str) -> String {
        let has_alpha = w.chars().any(|c| c.is_alphabetic());
        let has_leet = w.chars().any(|c| leet_letter(c, false).is_some());
        if !has_alpha || !has_leet {
            return w.to_string();
        }
        let a: String = w
            .chars()
            .map(|c| leet_letter(c, false).unwrap_or(c))
            .collect();
        if self.known(&a.to_lowercase()) {
            return a;
        }
        // '1' and '|' stand for either i or l: prefer the reading that is a word.
        let b: String = w
            .chars()
            .map(|c| leet_letter(c, true).unwrap_or(c))
            .collect();
        if self.known(&b.to_lowercase()) {
            b
        } else {
            a
        }
    }

    fn spell(&self, w: &str) -> String {
        // A poisoned lock only means another thread panicked mid-insert; the map is still usable.
        if let Some(fixed) = self
            .spell_cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(w)
        {
            return fixed.clone();
        }
        let fixed = self.spell_uncached(w);
        let mut cache = self.spell_cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 200_000 {
            cache.clear();
        }
        cache.insert(w.to_string(), fixed.clone());
        fixed
    }

    fn spell_uncached(&self, w: &str) -> String {
        let lower = w.to_lowercase();
        if lower.chars().count() < 4
            || !lower.chars().all(|c| c.is_ascii_lowercase())
            || self.known(&lower)
        {
            return w.to_string();
        }
        let mut best: Option<(&str, u32)> = None;
        for cand in single_edits(&lower) {
            if let Some((k, &n)) = self.vocab.get_key_value(cand.as_str()) {
                if best.is_none_or(|(bk, bn)| n > bn || (n == bn && k.as_str() < bk)) {
                    best = Some((k.as_str(), n));
                }
            }
        }
        match best {
            Some((fix, _)) => match_case(w, fix),
            None => w.to_string(),
        }
    }
}

/// Letter a leetspeak character stands for.
fn leet_letter(c: char, one_is_l: bool) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '|' | '!' => {
            if one_is_l && c != '!' {
                'l'
            } else {
                'i'
            }
        }
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        '9' => 'g',
        _ => return None,
    })
}

/// Spans of words that may contain leet symbols: runs of alphanumerics and
/// `@$!|+`, trimmed so that symbols at the ends (punctuation) stay outside.
fn leet_word_spans(text: &str) -> Vec<(usize, usize)> {
    let inner = |c: char| c.is_alphanumeric() || "@$!|+".contains(c);
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    let push = |s: usize, e: usize, spans: &mut Vec<(usize, usize)>| {
        let w = &text[s..e];
        let lead = w.len() - w.trim_start_matches(|c: char| !c.is_alphanumeric()).len();
        let trail = w.len() - w.trim_end_matches(|c: char| !c.is_alphanumeric()).len();
        if lead + trail < w.len() {
            spans.push((s + lead, e - trail));
        }
    };
    for (i, c) in text.char_indices() {
        if inner(c) {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            push(s, i, &mut spans);
        }
    }
    if let Some(s) = start {
        push(s, text.len(), &mut spans);
    }
    spans
}

/// Join runs of >= 3 single letters separated by one space or `.-_*`.
fn despace(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let is_sep = |c: char| c == ' ' || ".-_*".contains(c);
    let single = |k: usize| {
        chars[k].is_alphanumeric()
            && (k == 0 || !chars[k - 1].is_alphanumeric())
            && (k + 1 == chars.len() || !chars[k + 1].is_alphanumeric())
    };
    while i < chars.len() {
        if single(i) {
            let mut run = vec![i];
            let mut k = i;
            while k + 2 < chars.len() && is_sep(chars[k + 1]) && single(k + 2) {
                k += 2;
                run.push(k);
            }
            if run.len() >= 3 {
                out.extend(run.iter().map(|&r| chars[r]));
                i = k + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn match_case(original: &str, fix: &str) -> String {
    if original.chars().all(|c| !c.is_lowercase()) && original.chars().any(|c| c.is_uppercase()) {
        fix.to_uppercase()
    } else if original.chars().next().is_some_and(|c| c.is_uppercase()) {
        let mut cs = fix.chars();
        cs.next()
            .map(|f| f.to_uppercase().chain(cs).collect())
            .unwrap_or_default()
    } else {
        fix.to_string()
    }
}

/// A classifier that sees normalized text: the defense wrapper.
pub struct Normalized<C> {
    inner: C,
    normalizer: Normalizer,
}

impl<C: Classifier> Normalized<C> {
    /// Put `normalizer` in front of `inner`.
    pub fn new(inner: C, normalizer: Normalizer) -> Self {
        Normalized { inner, normalizer }
    }
    /// The normalizer.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }
}

impl<C: Classifier> Classifier for Normalized<C> {
    fn name(&self) -> String {
        format!("normalized({})", self.inner.name())
    }
    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        let normalizer = &self.normalizer;
        let normed: Vec<String> = texts
            .par_iter()
            .map(|t| normalizer.normalize(&extract_text(t)))
            .collect();
        self.inner.scores(&normed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Label;

    fn normalizer() -> Normalizer {
        let text = "free viagra money offer click here now free offer money viagra click here now "
            .repeat(3);
        let m = Message {
            id: "a".into(),
            label: Label::Spam,
            text,
        };
        Normalizer::from_training(&[m], NormalizeSteps::default())
    }

    #[test]
    fn undoes_common_obfuscations() {
        let n = normalizer();
        assert_eq!(n.normalize("fr33 v\u{200B}iagra"), "free viagra");
        assert_eq!(n.normalize("v i a g r a now"), "viagra now");
        assert_eq!(n.normalize("оffеr"), "offer"); // Cyrillic о, е
        assert_eq!(n.normalize("ｆｒｅｅ"), "free"); // full-width
        assert_eq!(n.normalize("Mnoey clikc heer"), "Money click here");
        assert_eq!(
            n.normalize("call 555-1234, or $100!"),
            "call 555-1234, or $100!"
        );
    }
}
