//! Per-attack numbers from per-row outcomes: how many rows evaded, at what cost, by changing
//! which features — and, for the unconstrained baseline, how many of its "successes" could
//! never occur.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::outcome::RowOutcome;

/// Name of the worst case over the constrained attacks (a row counts as evaded if any
/// constrained attack evaded it, at the cheapest such attack's cost).
pub const WORST: &str = gauntlet_run::gate::WORST;

/// Mean, median and largest of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when empty.
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Spread {
            mean: values.iter().sum::<f64>() / n as f64,
            median,
            max: values[n - 1],
        })
    }
}

/// One attack's results over the attacked rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSummary {
    /// The attack (or [`WORST`]).
    pub attack: String,
    /// Whether it respected the schema.
    pub constrained: bool,
    /// Rows attacked.
    pub attacked: usize,
    /// Rows where the model was fooled (rules or not).
    pub fooled: usize,
    /// Rows fooled by a row that keeps every rule.
    pub evaded: usize,
    /// Share of attacked rows still classified as before: `1 − evaded / attacked`.
    pub robust_accuracy: f64,
    /// Features changed, over evaded rows.
    pub l0: Option<Spread>,
    /// Cost, over evaded rows.
    pub cost: Option<Spread>,
    /// Size of the change (L2 in units of each column's spread), over evaded rows.
    pub distance: Option<Spread>,
    /// How often each feature was changed, over evaded rows (most first).
    pub features_changed: Vec<(String, usize)>,
    /// Fooled rows that break the schema, and the share of fooled rows they are.
    pub violating: usize,
    /// `violating / fooled` (0 when nothing was fooled).
    pub violation_share: f64,
    /// The most frequent violations among fooled rows (most first).
    pub violations: Vec<(String, usize)>,
    /// Rows scored by the attack, all rows together.
    pub queries: u64,
    /// Input-gradient rows computed.
    pub gradients: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Counts, most first, then by name.
fn ranked(counts: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut list: Vec<(String, usize)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}

impl AttackSummary {
    /// The summary of one attack's outcomes.
    pub fn of(
        attack: &str,
        constrained: bool,
        outcomes: &[&RowOutcome],
        queries: u64,
        gradients: u64,
        seconds: f64,
    ) -> AttackSummary {
        let attacked = outcomes.len();
        let evaded: Vec<&&RowOutcome> = outcomes.iter().filter(|o| o.evaded).collect();
        let fooled = outcomes.iter().filter(|o| o.fooled).count();
        let violating: Vec<&&RowOutcome> = outcomes
            .iter()
            .filter(|o| o.fooled && !o.violations.is_empty())
            .collect();
        let mut changed = BTreeMap::new();
        for o in &evaded {
            for f in &o.changed {
                *changed.entry(f.clone()).or_insert(0) += 1;
            }
        }
        let mut broken = BTreeMap::new();
        for o in &violating {
            for v in &o.violations {
                *broken.entry(v.clone()).or_insert(0) += 1;
            }
        }
        AttackSummary {
            attack: attack.to_string(),
            constrained,
            attacked,
            fooled,
            evaded: evaded.len(),
            robust_accuracy: if attacked == 0 {
                1.0
            } else {
                1.0 - evaded.len() as f64 / attacked as f64
            },
            l0: Spread::of(evaded.iter().map(|o| o.l0 as f64).collect()),
            cost: Spread::of(evaded.iter().map(|o| o.cost).collect()),
            distance: Spread::of(evaded.iter().map(|o| f64::from(o.distance)).collect()),
            features_changed: ranked(changed),
            violating: violating.len(),
            violation_share: if fooled == 0 {
                0.0
            } else {
                violating.len() as f64 / fooled as f64
            },
            violations: ranked(broken).into_iter().take(10).collect(),
            queries,
            gradients,
            seconds,
        }
    }
}

/// Per attacked row, the cheapest evasion among the constrained attacks' outcomes (the
/// smallest change among equally cheap ones).
pub fn worst_case(outcomes: &[RowOutcome]) -> Vec<&RowOutcome> {
    let mut best: BTreeMap<usize, &RowOutcome> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.constrained) {
        let keep = match best.get(&o.row) {
            None => true,
            Some(b) => o.evaded && (!b.evaded || (o.cost, o.distance) < (b.cost, b.distance)),
        };
        if keep {
            best.insert(o.row, o);
        }
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(
        row: usize,
        attack: &str,
        evaded: bool,
        cost: f64,
        violations: &[&str],
    ) -> RowOutcome {
        RowOutcome {
            row,
            attack: attack.into(),
            constrained: violations.is_empty(),
            label: 1,
            predicted: 0,
            found: true,
            fooled: true,
            evaded,
            changed: vec!["a".into(); cost as usize],
            l0: cost as usize,
            cost,
            distance: cost as f32,
            violations: violations.iter().map(|s| s.to_string()).collect(),
            adversarial: None,
        }
    }

    #[test]
    fn summaries_count_evasions_costs_and_violations() {
        let all = [
            outcome(0, "beam", true, 1.0, &[]),
            outcome(1, "beam", true, 3.0, &[]),
            outcome(2, "beam", false, 0.0, &[]),
        ];
        let refs: Vec<&RowOutcome> = all.iter().collect();
        let s = AttackSummary::of("beam", true, &refs, 10, 0, 0.5);
        assert_eq!((s.attacked, s.evaded), (3, 2));
        assert!((s.robust_accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.l0.unwrap().median, 2.0);
        assert_eq!(s.features_changed, vec![("a".to_string(), 4)]);
        let loose = [
            outcome(0, "beam", false, 1.0, &["rule x"]),
            outcome(1, "beam", false, 1.0, &[]),
        ];
        let refs: Vec<&RowOutcome> = loose.iter().collect();
        let u = AttackSummary::of("beam", false, &refs, 0, 0, 0.0);
        assert_eq!((u.fooled, u.violating), (2, 1));
        assert_eq!(u.violation_share, 0.5);
        assert_eq!(u.violations, vec![("rule x".to_string(), 1)]);
    }

    #[test]
    fn the_worst_case_takes_the_cheapest_evasion_per_row() {
        let all = vec![
            outcome(0, "beam", true, 3.0, &[]),
            outcome(0, "cpgd", true, 2.0, &[]),
            outcome(1, "beam", false, 0.0, &[]),
            outcome(1, "cpgd", true, 4.0, &[]),
            outcome(2, "beam", false, 0.0, &[]),
        ];
        let worst = worst_case(&all);
        let picked: Vec<(usize, &str)> = worst.iter().map(|o| (o.row, o.attack.as_str())).collect();
        assert_eq!(picked, vec![(0, "cpgd"), (1, "cpgd"), (2, "beam")]);
    }
}
