//! Whether a row could occur: every value of its feature's kind and within bounds, every
//! one-hot group with exactly one 1, every rule holding. Clean rows are checked before an
//! audit (a row that breaks a rule is reported, not attacked); adversarial rows after it (an
//! evasion counts only if the row is feasible).

use serde::Serialize;

use crate::schema::Schema;

/// One way a row breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// A value not of its feature's kind or out of its bounds.
    Value {
        /// The column.
        column: usize,
    },
    /// A one-hot group without exactly one 1.
    OneHot {
        /// The group's index in the schema.
        group: usize,
    },
    /// A rule that does not hold.
    Rule {
        /// The rule's index in the schema.
        rule: usize,
    },
    /// An immutable feature changed (only for an attacked row, against its original).
    Immutable {
        /// The column.
        column: usize,
    },
}

impl Violation {
    /// The violation in words, e.g. "rule 'capital runs' (capitalAve <= capitalLong)".
    pub fn describe(&self, schema: &Schema) -> String {
        match *self {
            Violation::Value { column } => {
                let f = &schema.features[column];
                format!("'{}' outside its {} domain", f.name, f.kind.as_str())
            }
            Violation::OneHot { group } => {
                format!(
                    "one-hot group '{}' not exactly one 1",
                    schema.onehots[group].name
                )
            }
            Violation::Rule { rule } => {
                let r = &schema.rules[rule];
                format!("rule '{}' ({})", r.name, r.text)
            }
            Violation::Immutable { column } => {
                format!("immutable '{}' changed", schema.features[column].name)
            }
        }
    }
}

/// Every way `row` breaks the schema (empty: feasible).
pub fn violations(schema: &Schema, row: &[f32]) -> Vec<Violation> {
    let mut found: Vec<Violation> = schema
        .features
        .iter()
        .enumerate()
        .filter(|(c, f)| !f.admits(row[*c]))
        .map(|(column, _)| Violation::Value { column })
        .collect();
    found.extend(
        schema
            .onehots
            .iter()
            .enumerate()
            .filter(|(_, g)| g.columns.iter().filter(|&&c| row[c] == 1.0).count() != 1)
            .map(|(group, _)| Violation::OneHot { group }),
    );
    found.extend(
        schema
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.body.holds(row))
            .map(|(rule, _)| Violation::Rule { rule }),
    );
    found
}

/// Every way an attacked row breaks the schema, immutable changes against `original` included.
pub fn attacked_violations(schema: &Schema, original: &[f32], attacked: &[f32]) -> Vec<Violation> {
    let mut found = violations(schema, attacked);
    found.extend(
        schema
            .features
            .iter()
            .enumerate()
            .filter(|(c, f)| f.immutable && original[*c] != attacked[*c])
            .map(|(column, _)| Violation::Immutable { column }),
    );
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_violation_is_found_and_named() {
        let schema = Schema::parse(
            r#"
[[feature]]
name = "n"
kind = "integer"
min = 0
immutable = true
[[feature]]
name = "x"
kind = "binary"
[[feature]]
name = "y"
kind = "binary"
[[onehot]]
name = "xy"
features = ["x", "y"]
[[rule]]
name = "small"
rule = "n <= 10"
"#,
            "s",
        )
        .unwrap();
        assert!(violations(&schema, &[3.0, 1.0, 0.0]).is_empty());
        let found = violations(&schema, &[11.5, 1.0, 1.0]);
        assert_eq!(
            found,
            vec![
                Violation::Value { column: 0 },
                Violation::OneHot { group: 0 },
                Violation::Rule { rule: 0 }
            ]
        );
        assert_eq!(found[2].describe(&schema), "rule 'small' (n <= 10)");
        let moved = attacked_violations(&schema, &[3.0, 1.0, 0.0], &[4.0, 0.0, 1.0]);
        assert_eq!(moved, vec![Violation::Immutable { column: 0 }]);
        assert_eq!(moved[0].describe(&schema), "immutable 'n' changed");
    }
}
