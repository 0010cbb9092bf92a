//! Tokenization shared by the filters and attacks, and edit distances.

/// Lower-cased word tokens (maximal runs of alphanumeric characters, 2..=40
/// chars) — the features of the classic Bayesian filter.
pub fn word_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |t| out.push(t.to_string()));
    out
}

/// Calls `f` on each of [`word_tokens`]' tokens, in order, without allocating
/// one string per token (filters score thousands of texts per message attacked).
pub fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut lower = String::new();
    for (s, e) in word_spans(text) {
        let w = &text[s..e];
        let ascii = w.is_ascii();
        let chars = if ascii { w.len() } else { w.chars().count() };
        if !(2..=40).contains(&chars) {
            continue;
        }
        if ascii {
            lower.clear();
            lower.push_str(w);
            lower.make_ascii_lowercase();
            f(&lower);
        } else {
            // Full Unicode rules (e.g. word-final sigma), as `str::to_lowercase` has them.
            f(&w.to_lowercase());
        }
    }
}

/// Byte ranges of the words in `text` (maximal runs of alphanumeric chars).
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            spans.push((s, i));
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// Number of words as the edit budget counts them.
pub fn word_count(text: &str) -> usize {
    word_spans(text).len()
}

/// Levenshtein distance over Unicode scalar values (insert, delete, substitute).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    levenshtein_within(&a, &b, a.len().max(b.len())).unwrap_or(usize::MAX)
}

/// Levenshtein distance if it is at most `max`, else `None`. Runs in
/// O(len * max) after trimming the common prefix and suffix, so it is cheap for
/// long messages with few edits.
pub fn levenshtein_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[pre..], &b[pre..]);
    let suf = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suf], &b[..b.len() - suf]);
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > max {
        return None;
    }
    if n == 0 || m == 0 {
        return Some(n.max(m));
    }
    const INF: usize = usize::MAX / 2;
    let mut prev = vec![INF; m + 1];
    let mut cur = vec![INF; m + 1];
    for (j, p) in prev.iter_mut().enumerate().take(max.min(m) + 1) {
        *p = j;
    }
    for i in 1..=n {
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(m);
        cur.iter_mut().for_each(|c| *c = INF);
        if i <= max {
            cur[0] = i;
        }
        let mut row_min = cur[0];
        for j in lo..=hi {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let v = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[m] <= max).then_some(prev[m])
}

/// `1 - distance / max(len)`: 1.0 for identical texts.
pub fn similarity(distance: usize, a: &str, b: &str) -> f64 {
    let len = a.chars().count().max(b.chars().count());
    if len == 0 {
        1.0
    } else {
        1.0 - distance as f64 / len as f64
    }
}

/// All strings one deletion, adjacent transposition, substitution or insertion (of a
/// lower-case ASCII letter) away from `w`: the spelling repair's candidates, and in the
/// typo bound (`examples/typo_ceiling.rs`) every single edit an attacker could make.
pub fn single_edits(w: &str) -> Vec<String> {
    let c: Vec<char> = w.chars().collect();
    let mut out = Vec::with_capacity(60 * c.len());
    for i in 0..c.len() {
        let mut d = c.clone();
        d.remove(i);
        out.push(d.into_iter().collect());
        if i + 1 < c.len() {
            let mut t = c.clone();
            t.swap(i, i + 1);
            out.push(t.into_iter().collect());
        }
        for r in 'a'..='z' {
            if r != c[i] {
                let mut s = c.clone();
                s[i] = r;
                out.push(s.into_iter().collect());
            }
        }
    }
    for i in 0..=c.len() {
        for r in 'a'..='z' {
            let mut s = c.clone();
            s.insert(i, r);
            out.push(s.into_iter().collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn naive(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut d: Vec<Vec<usize>> = (0..=a.len())
            .map(|i| {
                (0..=b.len())
                    .map(|j| {
                        if i == 0 {
                            j
                        } else if j == 0 {
                            i
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect();
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                d[i][j] = (d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]))
                    .min(d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1);
            }
        }
        d[a.len()][b.len()]
    }

    #[test]
    fn banded_levenshtein_matches_naive_dp() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet: Vec<char> = "abcé ".chars().collect();
        for _ in 0..2000 {
            let la = rng.gen_range(0..12);
            let lb = rng.gen_range(0..12);
            let a: String = (0..la)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let b: String = (0..lb)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let want = naive(&a, &b);
            let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            for max in 0..8 {
                let got = levenshtein_within(&ac, &bc, max);
                assert_eq!(got, (want <= max).then_some(want), "{a:?} {b:?} max={max}");
            }
            assert_eq!(levenshtein(&a, &b), want);
        }
    }

    #[test]
    fn tokens_are_lowercase_alphanumeric_runs() {
        assert_eq!(
            word_tokens("FREE v1agra!! a $100 c-a-s-h"),
            vec!["free", "v1agra", "100"]
        );
    }
}
