//! The CI gate of a text audit, on top of [`gauntlet_run::gate`].
//!
//! The measure is the text analogue of robust accuracy: the share of attacked spam the filter
//! **still catches** (`1 − success rate`, over the messages attacked without error). Attacked
//! spam is the held-out spam the variant detects before any attack (at most `max_messages`).
//!
//! Rows are named by attack, with the filter variant as a suffix, as the image audit names
//! its BPDA rerun (`pgd+bpda`):
//!
//! | variant | rows |
//! |---|---|
//! | the filter as deployed (`baseline` in the report) | `deepwordbug`, `homoglyph`, `leet`, `goodword`, `worst` |
//! | behind the normalization defense | `deepwordbug+normalized`, …, `worst+normalized` |
//! | adversarially retrained (built-in filters) | `deepwordbug+adversarial-training`, …, `worst+adversarial-training` |
//! | both defenses | `deepwordbug+normalized+adversarial`, …, `worst+normalized+adversarial` |
//!
//! `worst` is the worst case over the attacks: the share of attacked messages that *no*
//! attack made pass (a message any attack failed on with an error is left out). So
//! `--fail-under deepwordbug=0.3` asks that the deployed filter still catch at least 30 % of
//! the spam DeepWordBug attacked.

use std::collections::HashMap;

use gauntlet_run::gate::{Plan, Row, WORST};
use serde::Deserialize;

use crate::attacks::AttackKind;
use crate::config::VARIANT_PLAIN;
use crate::report::MessageOutcome;

/// What a row's value means, in the gate's messages.
pub const MEASURE: &str = "spam still caught";

/// The report a baseline is read from (inside a directory given as baseline).
pub const REPORT_FILE: &str = "text-report.json";

/// The row name of `attack` (or [`WORST`]) on a filter variant.
pub fn row_name(attack: &str, variant: &str) -> String {
    if variant == VARIANT_PLAIN {
        attack.to_string()
    } else {
        format!("{attack}+{variant}")
    }
}

/// The rows an audit of these attacks on these variants produces.
pub fn plan(attacks: &[AttackKind], variants: &[&str]) -> Plan {
    let rows = variants
        .iter()
        .flat_map(|v| {
            attacks
                .iter()
                .map(|a| a.as_str())
                .chain([WORST])
                .map(move |a| row_name(a, v))
        })
        .collect();
    Plan {
        rows,
        ..Plan::default()
    }
}

/// One outcome as the gate needs it.
struct Seen<'a> {
    variant: &'a str,
    attack: &'a str,
    id: &'a str,
    success: bool,
    failed: bool,
}

/// Rows from per-message outcomes: per variant (in order of appearance), each attack, then
/// the worst case. A row whose messages all failed, or that has none, is left out (a threshold
/// on it then matches nothing, which the gate reports).
fn rows_of<'a>(outcomes: impl Iterator<Item = Seen<'a>>) -> Vec<Row> {
    let mut variants: Vec<&str> = Vec::new();
    let mut attacks: HashMap<&str, Vec<&str>> = HashMap::new();
    // (variant, attack) -> (attacked without error, evaded)
    let mut counts: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    // variant -> id -> (any error, any evasion)
    let mut messages: HashMap<&str, HashMap<&str, (bool, bool)>> = HashMap::new();
    for o in outcomes {
        if !variants.contains(&o.variant) {
            variants.push(o.variant);
        }
        let list = attacks.entry(o.variant).or_default();
        if !list.contains(&o.attack) {
            list.push(o.attack);
        }
        let c = counts.entry((o.variant, o.attack)).or_default();
        if !o.failed {
            c.0 += 1;
            c.1 += usize::from(o.success);
        }
        let m = messages
            .entry(o.variant)
            .or_default()
            .entry(o.id)
            .or_default();
        m.0 |= o.failed;
        m.1 |= o.success && !o.failed;
    }
    let caught = |ok: usize, evaded: usize| (ok > 0).then(|| (ok - evaded) as f64 / ok as f64);
    let mut rows = Vec::new();
    for v in variants {
        for a in &attacks[v] {
            let (ok, evaded) = counts[&(v, *a)];
            if let Some(value) = caught(ok, evaded) {
                rows.push(Row::new(row_name(a, v), value));
            }
        }
        let clean: Vec<&(bool, bool)> = messages[v].values().filter(|m| !m.0).collect();
        if let Some(value) = caught(clean.len(), clean.iter().filter(|m| m.1).count()) {
            rows.push(Row::new(row_name(WORST, v), value));
        }
    }
    rows
}

/// The rows of a run, from its outcomes.
pub fn rows(outcomes: &[MessageOutcome]) -> Vec<Row> {
    rows_of(outcomes.iter().map(|o| Seen {
        variant: &o.variant,
        attack: o.attack.as_str(),
        id: &o.id,
        success: o.success,
        failed: o.error.is_some(),
    }))
}

/// The rows of a `text-report.json` read as JSON (a baseline), from its `outcomes`; reports of
/// earlier versions work too.
pub fn baseline_rows(report: &serde_json::Value) -> Result<Vec<Row>, String> {
    #[derive(Deserialize)]
    struct Outcome {
        variant: String,
        attack: String,
        id: String,
        success: bool,
        error: Option<String>,
    }
    let list = report
        .get("outcomes")
        .ok_or("it has no 'outcomes' list; is it a gauntlet text-report.json?")?;
    let outcomes: Vec<Outcome> = serde_json::from_value(list.clone())
        .map_err(|e| format!("its 'outcomes' cannot be read ({e})"))?;
    Ok(rows_of(outcomes.iter().map(|o| Seen {
        variant: &o.variant,
        attack: &o.attack,
        id: &o.id,
        success: o.success,
        failed: o.error.is_some(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(
        variant: &'a str,
        attack: &'a str,
        id: &'a str,
        success: bool,
        failed: bool,
    ) -> Seen<'a> {
        Seen {
            variant,
            attack,
            id,
            success,
            failed,
        }
    }

    #[test]
    fn rows_measure_the_spam_still_caught_per_attack_and_in_the_worst_case() {
        let rows = rows_of(
            [
                seen("baseline", "deepwordbug", "a", true, false),
                seen("baseline", "deepwordbug", "b", false, false),
                seen("baseline", "deepwordbug", "c", false, false),
                seen("baseline", "deepwordbug", "d", false, true),
                seen("baseline", "goodword", "a", false, false),
                seen("baseline", "goodword", "b", true, false),
                seen("baseline", "goodword", "c", false, false),
                seen("baseline", "goodword", "d", false, false),
                seen("normalized", "deepwordbug", "a", false, false),
                seen("normalized", "deepwordbug", "b", false, true),
            ]
            .into_iter(),
        );
        let got: Vec<(&str, f64)> = rows
            .iter()
            .map(|r| (r.attack.as_str(), r.robust_accuracy))
            .collect();
        assert_eq!(
            got,
            vec![
                ("deepwordbug", 2.0 / 3.0),
                ("goodword", 0.75),
                // a and b evaded one attack each; d failed under deepwordbug: only c is caught.
                ("worst", 1.0 / 3.0),
                ("deepwordbug+normalized", 1.0),
                ("worst+normalized", 1.0),
            ]
        );
        // A run whose messages all failed has no row.
        assert!(rows_of([seen("baseline", "leet", "a", false, true)].into_iter()).is_empty());
    }

    #[test]
    fn plan_names_every_row_a_run_produces() {
        let p = plan(
            &[AttackKind::DeepWordBug, AttackKind::Leet],
            &["baseline", "normalized"],
        );
        assert_eq!(
            p.rows,
            [
                "deepwordbug",
                "leet",
                "worst",
                "deepwordbug+normalized",
                "leet+normalized",
                "worst+normalized"
            ]
        );
        assert_eq!(p.norm, None);
    }

    #[test]
    fn baselines_are_read_from_their_outcomes() {
        let json = serde_json::json!({"outcomes": [
            {"variant": "baseline", "attack": "leet", "id": "x", "success": true, "error": null, "queries": 3},
            {"variant": "baseline", "attack": "leet", "id": "y", "success": false, "error": null},
        ]});
        let rows = baseline_rows(&json).unwrap();
        assert_eq!(rows, vec![Row::new("leet", 0.5), Row::new("worst", 0.5)]);
        assert!(baseline_rows(&serde_json::json!({"results": []}))
            .unwrap_err()
            .contains("no 'outcomes'"));
        assert!(
            baseline_rows(&serde_json::json!({"outcomes": [{"variant": 1}]}))
                .unwrap_err()
                .contains("cannot be read")
        );
    }
}
