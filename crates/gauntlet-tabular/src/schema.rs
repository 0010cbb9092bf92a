//! The schema: what each column of a table is (its kind, bounds, whether an attacker can
//! change it and at what cost), which binary columns form one-hot groups, and the rules every
//! real row satisfies. Read from TOML once and checked into a [`Schema`] (linfa's
//! parameter-guard pattern): everything downstream can rely on it.
//!
//! ```toml
//! label = "is_phishing"
//! classes = ["0", "1"]
//!
//! [[feature]]
//! name = "age_of_domain"
//! kind = "binary"          # continuous | integer | binary | categorical
//! immutable = true
//! why = "registrar data"
//!
//! [[feature]]
//! name = "https"
//! kind = "categorical"
//! values = [0.0, 0.5, 1.0]
//!
//! [[onehot]]
//! name = "protocol"
//! features = ["tcp", "udp"]
//!
//! [[rule]]
//! name = "capital runs"
//! rule = "capitalAve <= capitalLong"
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::rule::{self, RuleBody};

/// What values a feature takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Any real number within the bounds.
    Continuous,
    /// Whole numbers within the bounds.
    Integer,
    /// 0 or 1.
    Binary,
    /// One of a listed set of numbers (sorted, distinct).
    Categorical(Vec<f32>),
}

impl Kind {
    /// The kind's name in the schema file.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Continuous => "continuous",
            Kind::Integer => "integer",
            Kind::Binary => "binary",
            Kind::Categorical(_) => "categorical",
        }
    }
}

/// One column the model reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// The column's name in the CSV header.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Lower bound (−∞ when none; 0 for binary; the least value for categorical).
    pub min: f64,
    /// Upper bound (+∞ when none; 1 for binary; the greatest value for categorical).
    pub max: f64,
    /// The attacker cannot change it.
    pub immutable: bool,
    /// The cost of changing it (minimum-cost evasion); 1 by default, so cost is then L0.
    pub cost: f64,
    /// Why it is immutable or bounded, for the report.
    pub why: Option<String>,
}

impl Feature {
    /// Whether `value` is of the feature's kind and within its bounds (a tolerance of 1e-6
    /// relative absorbs a CSV's rounding).
    pub fn admits(&self, value: f32) -> bool {
        let v = f64::from(value);
        if !v.is_finite() {
            return false;
        }
        let tol = rule::TOLERANCE * v.abs().max(1.0);
        if v < self.min - tol || v > self.max + tol {
            return false;
        }
        match &self.kind {
            Kind::Continuous => true,
            Kind::Integer => (v - v.round()).abs() <= tol,
            Kind::Binary => value == 0.0 || value == 1.0,
            Kind::Categorical(values) => values.iter().any(|&c| (f64::from(c) - v).abs() <= tol),
        }
    }
}

/// Binary columns of which exactly one is 1 (a categorical feature written one-hot).
#[derive(Debug, Clone, PartialEq)]
pub struct OneHot {
    /// The group's name.
    pub name: String,
    /// Its columns.
    pub columns: Vec<usize>,
}

/// A rule every real row satisfies.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Short name for reports.
    pub name: String,
    /// The rule as written.
    pub text: String,
    /// Why it holds, for the report.
    pub why: Option<String>,
    /// The parsed rule.
    pub body: RuleBody,
}

/// A checked schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The CSV column holding the class label, if the schema names one.
    pub label: Option<String>,
    /// Label text of each class index, if the schema lists them.
    pub classes: Option<Vec<String>>,
    /// The model's input columns, in the model's order.
    pub features: Vec<Feature>,
    /// One-hot groups.
    pub onehots: Vec<OneHot>,
    /// Rules.
    pub rules: Vec<Rule>,
    /// SHA-256 of the schema's text, for reports and resume.
    pub sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    label: Option<String>,
    classes: Option<Vec<String>>,
    #[serde(default)]
    feature: Vec<RawFeature>,
    #[serde(default)]
    onehot: Vec<RawOneHot>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeature {
    name: String,
    kind: String,
    values: Option<Vec<f64>>,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(default)]
    immutable: bool,
    cost: Option<f64>,
    why: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOneHot {
    name: String,
    features: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    rule: String,
    why: Option<String>,
}

/// Whether `name` can be read by the rule language.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

impl Schema {
    /// Reads and checks a schema file.
    pub fn load(path: &Path) -> Result<Schema> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path, "read it"))?;
        Schema::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a schema's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Schema> {
        let bad = |reason: String| Error::Schema {
            origin: origin.to_string(),
            reason,
        };
        let raw: RawSchema = toml::from_str(text).map_err(|e| bad(format!("not valid: {e}")))?;
        if raw.feature.is_empty() {
            return Err(bad(
                "no [[feature]] entries; list the model's input columns in order".into(),
            ));
        }
        let mut features = Vec::with_capacity(raw.feature.len());
        for f in raw.feature {
            features.push(check_feature(f).map_err(&bad)?);
        }
        let names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(bad(format!("feature '{name}' is listed twice")));
            }
        }
        if let Some(label) = &raw.label {
            if names.contains(label) {
                return Err(bad(format!(
                    "the label column '{label}' is also listed as a feature; the model must not \
                     read its own label"
                )));
            }
        }
        if let Some(classes) = &raw.classes {
            if classes.len() < 2 {
                return Err(bad("`classes` lists fewer than two classes".into()));
            }
        }
        let mut onehots: Vec<OneHot> = Vec::new();
        for group in raw.onehot {
            let mut columns = Vec::new();
            for member in &group.features {
                let Some(col) = names.iter().position(|n| n == member) else {
                    return Err(bad(format!(
                        "one-hot group '{}' names '{member}', which is not a feature",
                        group.name
                    )));
                };
                if features[col].kind != Kind::Binary {
                    return Err(bad(format!(
                        "one-hot group '{}': '{member}' must be declared kind = \"binary\"",
                        group.name
                    )));
                }
                if onehots.iter().any(|g| g.columns.contains(&col)) || columns.contains(&col) {
                    return Err(bad(format!(
                        "'{member}' belongs to two one-hot groups (or is listed twice)"
                    )));
                }
                columns.push(col);
            }
            if columns.len() < 2 {
                return Err(bad(format!(
                    "one-hot group '{}' has fewer than two columns",
                    group.name
                )));
            }
            let immutable = features[columns[0]].immutable;
            if columns.iter().any(|&c| features[c].immutable != immutable) {
                return Err(bad(format!(
                    "one-hot group '{}': its columns must all be immutable or all mutable",
                    group.name
                )));
            }
            onehots.push(OneHot {
                name: group.name,
                columns,
            });
        }
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (i, r) in raw.rule.into_iter().enumerate() {
            let body = rule::parse(&r.rule, &names).map_err(|reason| Error::Rule {
                origin: origin.to_string(),
                rule: r.rule.clone(),
                reason,
            })?;
            rules.push(Rule {
                name: r.name.unwrap_or_else(|| format!("rule {}", i + 1)),
                text: r.rule,
                why: r.why,
                body,
            });
        }
        Ok(Schema {
            label: raw.label,
            classes: raw.classes,
            features,
            onehots,
            rules,
            sha256: gauntlet_core::hash::sha256_hex(text.as_bytes()),
        })
    }

    /// The feature names, in column order.
    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// The number of model input columns.
    pub fn width(&self) -> usize {
        self.features.len()
    }
}

fn check_feature(f: RawFeature) -> std::result::Result<Feature, String> {
    let name = f.name;
    if !valid_name(&name) {
        return Err(format!(
            "feature name '{name}' must start with a letter or '_' and hold only letters, \
             digits, '_' and '.' (rename the CSV column, or the rules cannot name it)"
        ));
    }
    let cost = f.cost.unwrap_or(1.0);
    if !(cost.is_finite() && cost > 0.0) {
        return Err(format!("feature '{name}': cost must be a positive number"));
    }
    let (kind, min, max) = match f.kind.as_str() {
        "continuous" | "integer" => {
            if f.values.is_some() {
                return Err(format!(
                    "feature '{name}': `values` belongs to kind = \"categorical\""
                ));
            }
            let min = f.min.unwrap_or(f64::NEG_INFINITY);
            let max = f.max.unwrap_or(f64::INFINITY);
            if min.is_nan() || max.is_nan() || min > max {
                return Err(format!("feature '{name}': min {min} is above max {max}"));
            }
            let kind = if f.kind == "integer" {
                Kind::Integer
            } else {
                Kind::Continuous
            };
            (kind, min, max)
        }
        "binary" => {
            if f.values.is_some() || f.min.is_some() || f.max.is_some() {
                return Err(format!(
                    "feature '{name}': a binary feature takes 0 or 1; drop `values`, `min` and `max`"
                ));
            }
            (Kind::Binary, 0.0, 1.0)
        }
        "categorical" => {
            let Some(values) = f.values else {
                return Err(format!(
                    "feature '{name}': a categorical feature needs `values = [...]`, the numbers \
                     it can take"
                ));
            };
            if f.min.is_some() || f.max.is_some() {
                return Err(format!(
                    "feature '{name}': a categorical feature's bounds are its values; drop `min` and `max`"
                ));
            }
            let mut values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
            if values.iter().any(|v| !v.is_finite()) || values.len() < 2 {
                return Err(format!(
                    "feature '{name}': `values` must list at least two finite numbers"
                ));
            }
            values.sort_by(f32::total_cmp);
            values.dedup();
            let (min, max) = (f64::from(values[0]), f64::from(values[values.len() - 1]));
            (Kind::Categorical(values), min, max)
        }
        other => {
            return Err(format!(
                "feature '{name}': kind \"{other}\" is not one of continuous, integer, binary, \
                 categorical"
            ))
        }
    };
    Ok(Feature {
        name,
        kind,
        min,
        max,
        immutable: f.immutable,
        cost,
        why: f.why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
label = "y"
classes = ["benign", "malicious"]

[[feature]]
name = "age"
kind = "integer"
min = 0
immutable = true
why = "cannot be faked"

[[feature]]
name = "https"
kind = "categorical"
values = [1.0, 0.0, 0.5, 0.5]

[[feature]]
name = "tcp"
kind = "binary"

[[feature]]
name = "udp"
kind = "binary"

[[feature]]
name = "bytes"
kind = "continuous"
min = 0
max = 1e6
cost = 2.5

[[onehot]]
name = "protocol"
features = ["tcp", "udp"]

[[rule]]
name = "positive age"
rule = "if bytes > 0 then age >= 1"
"#;

    #[test]
    fn a_schema_is_checked_into_kinds_bounds_groups_and_rules() {
        let schema = Schema::parse(GOOD, "test").unwrap();
        assert_eq!(schema.width(), 5);
        assert_eq!(schema.features[0].kind, Kind::Integer);
        assert_eq!(schema.features[0].max, f64::INFINITY);
        assert!(schema.features[0].immutable);
        assert_eq!(
            schema.features[1].kind,
            Kind::Categorical(vec![0.0, 0.5, 1.0])
        );
        assert_eq!((schema.features[2].min, schema.features[2].max), (0.0, 1.0));
        assert_eq!(schema.features[4].cost, 2.5);
        assert_eq!(schema.onehots[0].columns, vec![2, 3]);
        assert_eq!(schema.rules[0].name, "positive age");
        assert_eq!(schema.sha256.len(), 64);
        assert!(schema.features[1].admits(0.5));
        assert!(!schema.features[1].admits(0.4));
        assert!(schema.features[0].admits(3.0));
        assert!(!schema.features[0].admits(3.5));
        assert!(!schema.features[0].admits(-1.0));
        assert!(!schema.features[4].admits(f32::NAN));
    }

    #[test]
    fn mistakes_name_the_feature_and_the_fix() {
        let err = |text: &str| Schema::parse(text, "s.toml").unwrap_err().to_string();
        let one = |body: &str| format!("[[feature]]\nname = \"a\"\n{body}\n");
        assert!(err(&one("kind = \"real\"")).contains("kind \"real\" is not one of"));
        assert!(err(&one("kind = \"categorical\"")).contains("needs `values"));
        assert!(err(&one("kind = \"binary\"\nmax = 2")).contains("takes 0 or 1"));
        assert!(err(&one("kind = \"integer\"\nmin = 3\nmax = 1")).contains("above max"));
        assert!(err(&one("kind = \"integer\"\ncost = 0")).contains("positive"));
        assert!(err(&one("kind = \"integer\"\ncolour = 1")).contains("unknown field"));
        assert!(err("label = \"y\"").contains("no [[feature]]"));
        assert!(err("[[feature]]\nname = \"a b\"\nkind = \"binary\"").contains("rename"));
        let twice = "[[feature]]\nname = \"a\"\nkind = \"binary\"\n[[feature]]\nname = \"a\"\nkind = \"binary\"";
        assert!(err(twice).contains("listed twice"));
        let bad_rule = format!("{}[[rule]]\nrule = \"a <= nope\"", one("kind = \"binary\""));
        let message = err(&bad_rule);
        assert!(message.contains("rule 'a <= nope'") && message.contains("not a feature"));
        let group = format!(
            "{}[[onehot]]\nname = \"g\"\nfeatures = [\"a\", \"zz\"]",
            one("kind = \"binary\"")
        );
        assert!(err(&group).contains("'zz', which is not a feature"));
        let label = format!("label = \"a\"\n{}", one("kind = \"binary\""));
        assert!(err(&label).contains("read its own label"));
    }
}
