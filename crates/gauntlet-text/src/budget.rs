//! The text threat model: an edit budget, validated once into [`Budget`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Unvalidated budget as it arrives from a config file or command line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetSpec {
    /// Most edits (word changes or appended words) per message.
    pub max_edits: f64,
    /// Most words touched, as a fraction of the message's words.
    pub max_word_fraction: f64,
    /// Most character-level Levenshtein distance from the original.
    pub max_levenshtein: f64,
    /// Most classifier queries per message (`None`: unlimited).
    pub max_queries: Option<f64>,
}

/// A validated edit budget. Every attack keeps every message within it:
/// at most `allowed_edits(n_words)` edits and a total Levenshtein distance of at
/// most `max_levenshtein` characters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BudgetSpec", into = "BudgetSpec")]
pub struct Budget {
    max_edits: usize,
    max_word_fraction: f64,
    max_levenshtein: usize,
    max_queries: Option<u64>,
}

impl Default for Budget {
    /// 50 edits, 10 % of words, 150 characters, unlimited queries.
    fn default() -> Self {
        Budget {
            max_edits: 50,
            max_word_fraction: 0.10,
            max_levenshtein: 150,
            max_queries: None,
        }
    }
}

fn whole(field: &str, v: f64, min: f64) -> Result<u64> {
    if !v.is_finite() || v.fract() != 0.0 || v < min || v > 1e12 {
        return Err(Error::invalid(
            field,
            format!("{v} is not a whole number >= {min}"),
        ));
    }
    Ok(v as u64)
}

impl TryFrom<BudgetSpec> for Budget {
    type Error = Error;
    fn try_from(s: BudgetSpec) -> Result<Self> {
        let max_edits = whole("max_edits", s.max_edits, 1.0)? as usize;
        if !(s.max_word_fraction > 0.0 && s.max_word_fraction <= 1.0) {
            return Err(Error::invalid(
                "max_word_fraction",
                format!(
                    "{} must be in (0, 1], e.g. 0.1 for 10 % of words",
                    s.max_word_fraction
                ),
            ));
        }
        let max_levenshtein = whole("max_levenshtein", s.max_levenshtein, 1.0)? as usize;
        let max_queries = s
            .max_queries
            .map(|q| whole("max_queries", q, 1.0))
            .transpose()?;
        Ok(Budget {
            max_edits,
            max_word_fraction: s.max_word_fraction,
            max_levenshtein,
            max_queries,
        })
    }
}

impl From<Budget> for BudgetSpec {
    fn from(b: Budget) -> Self {
        BudgetSpec {
            max_edits: b.max_edits as f64,
            max_word_fraction: b.max_word_fraction,
            max_levenshtein: b.max_levenshtein as f64,
            max_queries: b.max_queries.map(|q| q as f64),
        }
    }
}

impl Budget {
    /// Validate a budget (see [`BudgetSpec`]).
    pub fn new(
        max_edits: f64,
        max_word_fraction: f64,
        max_levenshtein: f64,
        max_queries: Option<f64>,
    ) -> Result<Self> {
        BudgetSpec {
            max_edits,
            max_word_fraction,
            max_levenshtein,
            max_queries,
        }
        .try_into()
    }

    /// Parse command-line strings (same rules as [`Budget::new`]).
    pub fn parse(
        max_edits: &str,
        max_word_fraction: &str,
        max_levenshtein: &str,
        max_queries: Option<&str>,
    ) -> Result<Self> {
        let num = |field: &str, s: &str| -> Result<f64> {
            s.trim()
                .parse::<f64>()
                .map_err(|_| Error::invalid(field, format!("{s:?} is not a number")))
        };
        Self::new(
            num("max_edits", max_edits)?,
            num("max_word_fraction", max_word_fraction)?,
            num("max_levenshtein", max_levenshtein)?,
            max_queries.map(|q| num("max_queries", q)).transpose()?,
        )
    }

    /// Most edits per message.
    pub fn max_edits(&self) -> usize {
        self.max_edits
    }
    /// Most words touched, as a fraction.
    pub fn max_word_fraction(&self) -> f64 {
        self.max_word_fraction
    }
    /// Most Levenshtein distance.
    pub fn max_levenshtein(&self) -> usize {
        self.max_levenshtein
    }
    /// Most queries per message.
    pub fn max_queries(&self) -> Option<u64> {
        self.max_queries
    }
    /// Edits allowed for a message of `n_words` words:
    /// `min(max_edits, floor(max_word_fraction * n_words))`.
    pub fn allowed_edits(&self, n_words: usize) -> usize {
        // The epsilon keeps 0.1 * 30 from flooring to 2 through rounding.
        let by_fraction = (self.max_word_fraction * n_words as f64 + 1e-9).floor() as usize;
        self.max_edits.min(by_fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_budgets() {
        assert!(Budget::new(-1.0, 0.1, 10.0, None).is_err());
        assert!(Budget::new(5.0, f64::NAN, 10.0, None).is_err());
        assert!(Budget::new(5.0, 0.0, 10.0, None).is_err());
        assert!(Budget::new(5.0, 1.5, 10.0, None).is_err());
        assert!(Budget::new(5.0, 0.1, f64::INFINITY, None).is_err());
        assert!(Budget::new(2.5, 0.1, 10.0, None).is_err());
        assert!(Budget::new(5.0, 0.1, 10.0, Some(0.0)).is_err());
        assert!(Budget::parse("five", "0.1", "10", None).is_err());
        let b = Budget::parse("5", "0.1", "10", Some("100")).unwrap();
        assert_eq!(b.allowed_edits(30), 3);
        assert_eq!(b.allowed_edits(1000), 5);
        assert_eq!(b.max_queries(), Some(100));
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Budget>(&json).unwrap(), b);
        assert!(serde_json::from_str::<Budget>(
            r#"{"max_edits":-3,"max_word_fraction":0.1,"max_levenshtein":5,"max_queries":null}"#
        )
        .is_err());
    }
}
