//! The request body: a JSON template with one placeholder for the batch.
//!
//! Targets expect their inputs in different envelopes (`{"inputs": …}`,
//! `{"instances": …, "signature": "serving_default"}`, …). A [`RequestTemplate`] is the
//! envelope as JSON text with the string `"{{inputs}}"` (quotes included) where the batch goes.
//! The batch is written as nested arrays shaped `[n, ...sample_shape]`, every value as the
//! shortest decimal that reads back as the same `f32`, so a target parsing it as `f32` sees
//! exactly the values gauntlet sent.

use gauntlet_core::{Error, Result};
use serde_json::Value;

/// A request envelope with exactly one `"{{inputs}}"` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTemplate {
    /// The template as given.
    source: String,
    /// Text before and after the placeholder, on one line.
    before: String,
    after: String,
}

impl Default for RequestTemplate {
    /// `{"inputs": "{{inputs}}"}`: what `gauntlet serve` reads.
    fn default() -> Self {
        RequestTemplate::new(RequestTemplate::DEFAULT).expect("the default template is valid")
    }
}

impl RequestTemplate {
    /// The placeholder, quotes included: the template stays valid JSON.
    pub const PLACEHOLDER: &'static str = "\"{{inputs}}\"";
    /// The default envelope.
    pub const DEFAULT: &'static str = r#"{"inputs": "{{inputs}}"}"#;

    /// Checks the template once: valid JSON, with the placeholder exactly once and as a value
    /// (not an object key and not part of a longer string).
    pub fn new(text: &str) -> Result<Self> {
        let parsed: Value = serde_json::from_str(text).map_err(|e| {
            Error::Parameter(format!(
                "the request template is not valid JSON ({e}); write it as JSON with the string \
                 \"{{{{inputs}}}}\" where the batch goes, e.g. {}",
                Self::DEFAULT
            ))
        })?;
        let occurrences = text.matches(Self::PLACEHOLDER).count();
        if occurrences != 1 {
            return Err(Error::Parameter(format!(
                "the request template contains the placeholder {} {occurrences} times; it must \
                 appear exactly once, as a JSON string value where the batch goes, e.g. {}",
                Self::PLACEHOLDER,
                Self::DEFAULT
            )));
        }
        if count_placeholder_values(&parsed) != 1 {
            return Err(Error::Parameter(format!(
                "the placeholder {} in the request template is an object key; it must be a \
                 value, e.g. {}",
                Self::PLACEHOLDER,
                Self::DEFAULT
            )));
        }
        let at = text.find(Self::PLACEHOLDER).expect("counted once");
        // Outside strings a line break is only whitespace, and JSON strings cannot hold raw
        // line breaks: replacing them keeps the meaning and makes every body one line (JSON
        // Lines for external commands).
        let one_line = |s: &str| s.replace(['\r', '\n'], " ");
        Ok(RequestTemplate {
            source: text.to_string(),
            before: one_line(&text[..at]),
            after: one_line(&text[at + Self::PLACEHOLDER.len()..]),
        })
    }

    /// The template as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The request body for `n` samples of `sample_shape`, from row-major `rows`; one line.
    ///
    /// Values must be finite (JSON has no NaN or infinity).
    pub fn render(&self, rows: &[f32], n: usize, sample_shape: &[usize]) -> Result<String> {
        let features: usize = sample_shape.iter().product();
        if rows.len() != n * features {
            return Err(Error::Data(format!(
                "{} values cannot be {n} samples of shape {sample_shape:?} ({features} values \
                 each); check the sample shape",
                rows.len()
            )));
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(Error::Data(format!(
                "sample {}, feature {} is {}; JSON cannot carry NaN or infinite values, so only \
                 finite inputs can be sent to a remote target",
                i / features.max(1),
                i % features.max(1),
                rows[i]
            )));
        }
        let mut shape = Vec::with_capacity(sample_shape.len() + 1);
        shape.push(n);
        shape.extend_from_slice(sample_shape);
        let mut body = Vec::with_capacity(self.before.len() + self.after.len() + rows.len() * 12);
        body.extend_from_slice(self.before.as_bytes());
        write_nested(&mut body, rows, &shape);
        body.extend_from_slice(self.after.as_bytes());
        Ok(String::from_utf8(body).expect("JSON text is UTF-8"))
    }
}

/// How many string values equal to `{{inputs}}` the document holds.
fn count_placeholder_values(v: &Value) -> usize {
    match v {
        Value::String(s) => usize::from(s == "{{inputs}}"),
        Value::Array(items) => items.iter().map(count_placeholder_values).sum(),
        Value::Object(map) => map.values().map(count_placeholder_values).sum(),
        _ => 0,
    }
}

/// Writes `values` (row-major, `shape.iter().product()` of them) as nested JSON arrays.
fn write_nested(out: &mut Vec<u8>, values: &[f32], shape: &[usize]) {
    match shape {
        [] => {
            // serde_json writes an f32 as the shortest decimal that reads back as that f32.
            serde_json::to_writer(&mut *out, &values[0]).expect("writing to memory cannot fail");
        }
        [len, inner @ ..] => {
            let stride: usize = inner.iter().product();
            out.push(b'[');
            for i in 0..*len {
                if i > 0 {
                    out.push(b',');
                }
                write_nested(out, &values[i * stride..(i + 1) * stride], inner);
            }
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_nested_to_the_sample_shape_and_round_trips_exactly() {
        let t = RequestTemplate::new("{\"instances\": \"{{inputs}}\",\n \"v\": 2}").unwrap();
        let rows = [
            0.1f32,
            -2.5,
            1e-7,
            3.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            -0.0,
            0.3,
        ];
        let body = t.render(&rows, 2, &[2, 2]).unwrap();
        assert!(!body.contains('\n'));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["v"], 2);
        let sample = &v["instances"][0];
        assert_eq!(sample.as_array().unwrap().len(), 2);
        let back: Vec<f32> = v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s.as_array().unwrap().iter())
            .flat_map(|r| r.as_array().unwrap().iter())
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&rows));
        // Short decimals, not the f64 expansion of the f32.
        assert!(body.contains("0.1,"), "{body}");
    }

    #[test]
    fn templates_are_checked_once() {
        assert!(
            RequestTemplate::default().render(&[1.0], 1, &[1]).unwrap() == r#"{"inputs": [[1.0]]}"#
        );
        let e = RequestTemplate::new("{\"inputs\": {{inputs}}}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = RequestTemplate::new("{\"inputs\": \"x\"}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("0 times"), "{e}");
        let e = RequestTemplate::new("[\"{{inputs}}\", \"{{inputs}}\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 times"), "{e}");
        let e = RequestTemplate::new("{\"{{inputs}}\": 1}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("object key"), "{e}");
        assert!(RequestTemplate::new("\"{{inputs}}\"").is_ok());
    }

    #[test]
    fn non_finite_inputs_and_wrong_lengths_are_refused() {
        let t = RequestTemplate::default();
        assert!(t
            .render(&[1.0, f32::NAN], 1, &[2])
            .unwrap_err()
            .to_string()
            .contains("feature 1 is NaN"));
        assert!(t.render(&[1.0, 2.0, 3.0], 1, &[2]).is_err());
    }
}
