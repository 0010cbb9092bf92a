//! Reading a target's answer: where in the JSON response it is, what it holds, and how it
//! becomes rows of scores.
//!
//! A response is any JSON document; an [`AnswerSpec`] names the value inside it with a JSON
//! pointer (RFC 6901: `/scores`, `/output/0/probabilities`, or `""` for the whole document)
//! and says what kind of answer that value is:
//!
//! | kind | value at the pointer, for `n` inputs | rows returned |
//! |---|---|---|
//! | [`AnswerKind::Scores`] | `n` arrays of `num_classes` numbers (one flat array when `n = 1`) | the scores |
//! | [`AnswerKind::TopK`]`(k)` | `n` arrays of `k` entries, each `[label, score]` or `{"label": i, "score": s}` | reported scores; every other class gets the row's lowest reported score − 1 |
//! | [`AnswerKind::Label`] | `n` class indices (one integer when `n = 1`) | one-hot rows |
//!
//! This is exactly what `gauntlet_core::model::Classifier::logits` promises for each answer
//! kind, so attacks see the same thing whether a target is local or remote.

use gauntlet_core::model::AnswerKind;
use gauntlet_core::{Error, Result};
use serde_json::Value;

/// Where the answer is in a response, and what kind of answer it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerSpec {
    /// What the value at [`AnswerSpec::pointer`] holds.
    pub kind: AnswerKind,
    /// JSON pointer (RFC 6901) to the answer inside the response, e.g. `/scores`; `""` is the
    /// whole response.
    pub pointer: String,
}

impl Default for AnswerSpec {
    /// Full scores at `/scores`: what `gauntlet serve` answers.
    fn default() -> Self {
        AnswerSpec::default_for(AnswerKind::Scores)
    }
}

impl AnswerSpec {
    /// Checks the pointer's syntax and the kind (`TopK(0)` answers nothing).
    pub fn new(kind: AnswerKind, pointer: impl Into<String>) -> Result<Self> {
        let pointer = pointer.into();
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(Error::Parameter(format!(
                "the answer pointer '{pointer}' is not a JSON pointer; it must be empty (the whole \
                 response) or start with '/', e.g. '/{pointer}'"
            )));
        }
        // RFC 6901: '~' only as the escapes ~0 ('~') and ~1 ('/').
        let mut chars = pointer.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.peek(), Some('0') | Some('1')) {
                return Err(Error::Parameter(format!(
                    "the answer pointer '{pointer}' has a '~' that is not '~0' (for '~') or '~1' \
                     (for '/'); escape it as '~0'"
                )));
            }
        }
        if kind == AnswerKind::TopK(0) {
            return Err(Error::Parameter(
                "a top-k answer needs k ≥ 1 (top-0 reports no class at all)".into(),
            ));
        }
        Ok(AnswerSpec { kind, pointer })
    }

    /// The conventional place for each kind, matching what `gauntlet serve` answers: `/labels`
    /// for labels, `/scores` otherwise.
    pub fn default_for(kind: AnswerKind) -> Self {
        let pointer = match kind {
            AnswerKind::Label => "/labels",
            AnswerKind::Scores | AnswerKind::TopK(_) => "/scores",
        };
        AnswerSpec {
            kind,
            pointer: pointer.into(),
        }
    }

    /// Checks that the kind makes sense for a model with `num_classes` classes.
    pub fn check_classes(&self, num_classes: usize) -> Result<()> {
        if let AnswerKind::TopK(k) = self.kind {
            if k > num_classes {
                return Err(Error::Parameter(format!(
                    "the answer kind is top-{k}, but the model has {num_classes} classes; k can be \
                     at most {num_classes}"
                )));
            }
        }
        Ok(())
    }

    /// Reads `n` rows of `num_classes` scores (row-major) from a response.
    ///
    /// Errors are [`Error::Model`] and say what is wrong with the answer: nothing at the
    /// pointer (with the keys that do exist), a wrong number of rows, a row of the wrong
    /// length, a value that is not a number or not finite in `f32`, a label out of range.
    pub fn parse(&self, response: &Value, n: usize, num_classes: usize) -> Result<Vec<f32>> {
        let value = self.locate(response)?;
        let at = self.where_();
        match self.kind {
            AnswerKind::Scores => {
                let rows = rows_of(value, n, &at, "scores", |v| {
                    v.as_array()
                        .is_some_and(|r| r.first().is_some_and(Value::is_number))
                })?;
                let mut out = Vec::with_capacity(n * num_classes);
                for (i, row) in rows.iter().enumerate() {
                    let row = row.as_array().ok_or_else(|| {
                        not_a(&format!("row {i} of {at}"), row, "an array of scores")
                    })?;
                    if row.len() != num_classes {
                        return Err(Error::Model(format!(
                            "row {i} of {at} has {} score(s) but the model has {num_classes} \
                             classes; check the number of classes, or whether the target \
                             answers top-k scores or labels only",
                            row.len()
                        )));
                    }
                    for (j, v) in row.iter().enumerate() {
                        out.push(score(v, &format!("row {i}, entry {j} of {at}"))?);
                    }
                }
                Ok(out)
            }
            AnswerKind::Label => {
                let rows = rows_of(value, n, &at, "labels", Value::is_number)?;
                let mut out = vec![0.0; n * num_classes];
                for (i, v) in rows.iter().enumerate() {
                    let label = class_index(v, num_classes, &format!("label {i} of {at}"))?;
                    out[i * num_classes + label] = 1.0;
                }
                Ok(out)
            }
            AnswerKind::TopK(k) => {
                let is_entry = |v: &Value| {
                    v.is_object()
                        || v.as_array()
                            .is_some_and(|e| e.first().is_some_and(Value::is_number))
                };
                let rows = rows_of(value, n, &at, "top-k rows", |v| {
                    v.as_array()
                        .is_some_and(|r| r.first().is_some_and(is_entry))
                })?;
                let mut out = Vec::with_capacity(n * num_classes);
                for (i, row) in rows.iter().enumerate() {
                    out.extend(top_k_row(row, k, num_classes, &format!("row {i} of {at}"))?);
                }
                Ok(out)
            }
        }
    }

    /// The value at the pointer, or an error naming what does exist.
    fn locate<'a>(&self, response: &'a Value) -> Result<&'a Value> {
        if let Some(v) = response.pointer(&self.pointer) {
            return Ok(v);
        }
        // The longest prefix of the pointer that resolves tells the user where they went wrong.
        let tokens: Vec<&str> = self.pointer.split('/').skip(1).collect();
        let mut found = "";
        let mut at = response;
        let mut end = 0;
        for t in &tokens {
            let next = end + 1 + t.len();
            match response.pointer(&self.pointer[..next]) {
                Some(v) => {
                    found = &self.pointer[..next];
                    at = v;
                    end = next;
                }
                None => break,
            }
        }
        let place = if found.is_empty() {
            "the answer".to_string()
        } else {
            format!("'{found}' in the answer")
        };
        let what = match at {
            Value::Object(map) if map.is_empty() => format!("{place} is an empty object"),
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().take(20).map(|k| format!("\"{k}\"")).collect();
                let more = if map.len() > 20 { ", …" } else { "" };
                format!("{place} has the key(s) {}{more}", keys.join(", "))
            }
            Value::Array(a) => format!("{place} is an array of {} element(s)", a.len()),
            other => format!("{place} is {}", describe(other)),
        };
        Err(Error::Model(format!(
            "the answer has nothing at the JSON pointer '{}'; {what}. Point the answer pointer \
             at the value that holds the {} (e.g. '/key', '/outer/inner', '/0', or '' for the \
             whole answer)",
            self.pointer,
            match self.kind {
                AnswerKind::Label => "labels",
                _ => "scores",
            }
        )))
    }

    fn where_(&self) -> String {
        if self.pointer.is_empty() {
            "the answer".into()
        } else {
            format!("the answer at '{}'", self.pointer)
        }
    }
}

/// The `n` rows of an answer; a lone row (recognized by `is_single_row`) counts as one row
/// when `n = 1`.
fn rows_of<'a>(
    value: &'a Value,
    n: usize,
    at: &str,
    what: &str,
    is_single_row: impl Fn(&Value) -> bool,
) -> Result<Vec<&'a Value>> {
    if n == 1 && (is_single_row(value) || value.is_number()) {
        return Ok(vec![value]);
    }
    let rows = value.as_array().ok_or_else(|| {
        not_a(
            at,
            value,
            &format!("an array of {n} {what} (one per input)"),
        )
    })?;
    if rows.len() != n {
        return Err(Error::Model(format!(
            "{at} holds {} {what} for {n} input(s); the target must answer one per input, in \
             the order sent",
            rows.len()
        )));
    }
    Ok(rows.iter().collect())
}

/// A finite `f32` score.
fn score(v: &Value, place: &str) -> Result<f32> {
    let x = v.as_f64().ok_or_else(|| not_a(place, v, "a number"))?;
    let x32 = x as f32;
    if !x32.is_finite() {
        return Err(Error::Model(format!(
            "{place} is {x}, which is not a finite 32-bit float; the target's scores must be \
             finite numbers"
        )));
    }
    Ok(x32)
}

/// A class index in `0..num_classes` (an integer, or a number with no fractional part).
fn class_index(v: &Value, num_classes: usize, place: &str) -> Result<usize> {
    let index = match v {
        Value::Number(num) => num.as_u64().or_else(|| {
            num.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    };
    let Some(index) = index else {
        return Err(not_a(place, v, "a class index (an integer ≥ 0)"));
    };
    if index >= num_classes as u64 {
        return Err(Error::Model(format!(
            "{place} is class {index}, but the model has {num_classes} classes (0 to {}); check \
             the number of classes",
            num_classes - 1
        )));
    }
    Ok(index as usize)
}

/// One top-k row: `k` distinct classes with scores; the rest get the lowest reported score − 1.
fn top_k_row(row: &Value, k: usize, num_classes: usize, place: &str) -> Result<Vec<f32>> {
    let entries = row
        .as_array()
        .ok_or_else(|| not_a(place, row, "an array of [label, score] pairs"))?;
    if entries.len() != k {
        return Err(Error::Model(format!(
            "{place} has {} entr{} but the answer kind is top-{k}; set k to the number of \
             classes the target reports",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        )));
    }
    let mut reported: Vec<Option<f32>> = vec![None; num_classes];
    for (j, entry) in entries.iter().enumerate() {
        let entry_place = format!("entry {j} of {place}");
        let (label, value) = match entry {
            Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
            Value::Object(map) => match (map.get("label"), map.get("score")) {
                (Some(l), Some(s)) => (l, s),
                _ => {
                    return Err(not_a(
                        &entry_place,
                        entry,
                        "an object with \"label\" and \"score\" keys",
                    ))
                }
            },
            other => {
                return Err(not_a(
                    &entry_place,
                    other,
                    "a [label, score] pair or a {\"label\": …, \"score\": …} object",
                ))
            }
        };
        let class = class_index(label, num_classes, &format!("the label of {entry_place}"))?;
        let s = score(value, &format!("the score of {entry_place}"))?;
        if reported[class].replace(s).is_some() {
            return Err(Error::Model(format!(
                "{place} reports class {class} twice; a top-k answer lists k different classes"
            )));
        }
    }
    let lowest = reported
        .iter()
        .flatten()
        .copied()
        .fold(f32::INFINITY, f32::min);
    let fill = lowest - 1.0;
    Ok(reported.into_iter().map(|s| s.unwrap_or(fill)).collect())
}

fn not_a(place: &str, v: &Value, expected: &str) -> Error {
    Error::Model(format!("{place} is {}, not {expected}", describe(v)))
}

/// A short description of a JSON value for error messages: its type and its start.
fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "the number",
        Value::String(_) => "the string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let mut text = v.to_string();
    if text.chars().count() > 60 {
        text = text.chars().take(57).collect::<String>() + "…";
    }
    format!("{kind} {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(spec: &AnswerSpec, v: Value, n: usize, c: usize) -> String {
        spec.parse(&v, n, c).unwrap_err().to_string()
    }

    #[test]
    fn scores_rows_and_a_lone_row() {
        let spec = AnswerSpec::default();
        let v = json!({"scores": [[0.5, -1.25, 3.0], [1, 2, 3]]});
        assert_eq!(
            spec.parse(&v, 2, 3).unwrap(),
            vec![0.5, -1.25, 3.0, 1.0, 2.0, 3.0]
        );
        let v = json!({"scores": [0.5, 0.25]});
        assert_eq!(spec.parse(&v, 1, 2).unwrap(), vec![0.5, 0.25]);
        // A flat array is one row only when one input was sent.
        let v = json!({"scores": [0.5, 0.25]});
        assert!(err(&spec, v, 2, 1).contains("is the number 0.5, not an array of scores"));
    }

    #[test]
    fn missing_pointer_lists_the_keys_that_exist() {
        let spec = AnswerSpec::new(AnswerKind::Scores, "/output/probs").unwrap();
        let e = err(
            &spec,
            json!({"output": {"logits": [1, 2]}, "model": "x"}),
            1,
            2,
        );
        assert!(e.contains("'/output/probs'"), "{e}");
        assert!(
            e.contains("'/output' in the answer has the key(s) \"logits\""),
            "{e}"
        );
        let e = err(&spec, json!({"predictions": [], "id": 3}), 1, 2);
        assert!(
            e.contains("the answer has the key(s) \"id\", \"predictions\""),
            "{e}"
        );
    }

    #[test]
    fn wrong_counts_lengths_and_values_are_named() {
        let spec = AnswerSpec::default();
        let e = err(&spec, json!({"scores": [[1, 2], [3, 4]]}), 3, 2);
        assert!(e.contains("holds 2 scores for 3 input(s)"), "{e}");
        let e = err(&spec, json!({"scores": [[1, 2], [3, 4, 5]]}), 2, 2);
        assert!(
            e.contains(
                "row 1 of the answer at '/scores' has 3 score(s) but the model has 2 classes"
            ),
            "{e}"
        );
        let e = err(&spec, json!({"scores": [[1, "x"]]}), 1, 2);
        assert!(
            e.contains(
                "row 0, entry 1 of the answer at '/scores' is the string \"x\", not a number"
            ),
            "{e}"
        );
        let e = err(&spec, json!({"scores": [[1, null]]}), 1, 2);
        assert!(e.contains("is null, not a number"), "{e}");
        let e = err(&spec, json!({"scores": [[1, 1e300]]}), 1, 2);
        assert!(e.contains("not a finite 32-bit float"), "{e}");
    }

    #[test]
    fn labels_become_one_hot_rows() {
        let spec = AnswerSpec::default_for(AnswerKind::Label);
        let v = json!({"labels": [2, 0]});
        assert_eq!(
            spec.parse(&v, 2, 3).unwrap(),
            vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        );
        let v = json!({"labels": 1});
        assert_eq!(spec.parse(&v, 1, 2).unwrap(), vec![0.0, 1.0]);
        let whole = AnswerSpec::new(AnswerKind::Label, "").unwrap();
        assert_eq!(whole.parse(&json!([1.0]), 1, 2).unwrap(), vec![0.0, 1.0]);
        let e = err(&spec, json!({"labels": [3]}), 1, 3);
        assert!(e.contains("label 0 of the answer at '/labels' is class 3, but the model has 3 classes (0 to 2)"), "{e}");
        let e = err(&spec, json!({"labels": [-1]}), 1, 3);
        assert!(e.contains("not a class index"), "{e}");
        let e = err(&spec, json!({"labels": [1.5]}), 1, 3);
        assert!(e.contains("not a class index"), "{e}");
    }

    #[test]
    fn top_k_pairs_and_objects_fill_the_rest_below_the_lowest() {
        let spec = AnswerSpec::default_for(AnswerKind::TopK(2));
        let v = json!({"scores": [[[3, 0.7], [0, 0.2]], [{"label": 1, "score": 5.0}, {"label": 2, "score": -1.0}]]});
        let rows = spec.parse(&v, 2, 4).unwrap();
        assert_eq!(rows, vec![0.2, -0.8, -0.8, 0.7, -2.0, 5.0, -1.0, -2.0]);
        // One input: a lone row of entries.
        let v = json!({"scores": [[3, 0.7], [0, 0.2]]});
        assert_eq!(spec.parse(&v, 1, 4).unwrap(), vec![0.2, -0.8, -0.8, 0.7]);
        let e = err(&spec, json!({"scores": [[[3, 0.7]]]}), 1, 4);
        assert!(
            e.contains("has 1 entry but the answer kind is top-2"),
            "{e}"
        );
        let e = err(&spec, json!({"scores": [[[3, 0.7], [3, 0.1]]]}), 1, 4);
        assert!(e.contains("reports class 3 twice"), "{e}");
        let e = err(&spec, json!({"scores": [[[9, 0.7], [3, 0.1]]]}), 1, 4);
        assert!(e.contains("is class 9, but the model has 4 classes"), "{e}");
        let e = err(&spec, json!({"scores": [[{"class": 1}, [3, 0.1]]]}), 1, 4);
        assert!(e.contains("\"label\" and \"score\""), "{e}");
        assert!(spec.check_classes(1).is_err());
    }

    #[test]
    fn bad_pointers_and_top_zero_are_refused() {
        assert!(AnswerSpec::new(AnswerKind::Scores, "scores")
            .unwrap_err()
            .to_string()
            .contains("'/scores'"));
        assert!(AnswerSpec::new(AnswerKind::Scores, "/a~2").is_err());
        assert!(AnswerSpec::new(AnswerKind::Scores, "/a~1b").is_ok());
        assert!(AnswerSpec::new(AnswerKind::TopK(0), "/scores").is_err());
    }
}
