//! The measure on UCI Website Phishing, whose whole feature domain (3⁷·2² = 8,748
//! points) was searched exhaustively by tools/phishing_exhaustive.py: for every correctly
//! classified phishing test row, the least number of mutable features to change so the model
//! says legitimate (fixtures/tabular/phishing_min_l0.json). The audit's constrained attacks
//! must find ≥ 95 % of the evadable rows, at a mean L0 within 0.5 of the optimum, never below
//! it (that would mean a broken verification), and break no rule.

mod common;

use std::collections::BTreeMap;

use common::{root, Scratch};
use gauntlet_run::Silent;
use gauntlet_tabular::outcome::RowOutcome;
use gauntlet_tabular::TabularAuditConfig;

fn audit(model: &str, out: &std::path::Path) -> Vec<RowOutcome> {
    let config = TabularAuditConfig {
        model: root().join(format!("models/tabular/phishing_{model}.onnx")),
        data: root().join("data/tabular/phishing/test.csv"),
        schema: root().join("data/tabular/phishing/schema.toml"),
        direction: Some("1:0".into()),
        out: out.to_path_buf(),
        ..TabularAuditConfig::default()
    };
    let run = config.check().unwrap().run(&Silent).unwrap();
    assert!(run.report.complete);
    std::fs::read_to_string(out.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn constrained_attacks_reach_the_exhaustive_minimum_l0() {
    let optimum: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/tabular/phishing_min_l0.json")).unwrap(),
    )
    .unwrap();
    for model in [
        "gradient_boosting",
        "mlp",
        "xgboost",
        "random_forest",
        "decision_tree",
    ] {
        let scratch = Scratch::new(&format!("phishing-{model}"));
        let outcomes = audit(model, scratch.path());
        // Cheapest constrained evasion per row.
        let mut best: BTreeMap<usize, usize> = BTreeMap::new();
        let mut unconstrained_fooled = 0;
        let mut unconstrained_violating = 0;
        for o in &outcomes {
            if !o.constrained {
                unconstrained_fooled += usize::from(o.fooled);
                unconstrained_violating += usize::from(o.fooled && !o.violations.is_empty());
                continue;
            }
            assert!(!o.evaded || o.violations.is_empty(), "{o:?}");
            if o.evaded {
                let l0 = best.entry(o.row).or_insert(usize::MAX);
                *l0 = (*l0).min(o.l0);
            }
        }
        let rows = optimum["models"][model]["rows"].as_object().unwrap();
        let (mut evadable, mut found, mut sum_found, mut sum_optimum) = (0, 0, 0, 0);
        for (row, facts) in rows {
            let Some(min_l0) = facts["min_l0"].as_u64() else {
                continue;
            };
            evadable += 1;
            if let Some(&l0) = best.get(&row.parse::<usize>().unwrap()) {
                assert!(
                    l0 as u64 >= min_l0,
                    "{model} row {row}: L0 {l0} below the optimum {min_l0}"
                );
                found += 1;
                sum_found += l0;
                sum_optimum += min_l0 as usize;
            }
        }
        assert!(evadable > 80, "{model}: {evadable}");
        assert!(
            found * 100 >= evadable * 95,
            "{model}: found {found} of {evadable}"
        );
        let (mean, mean_optimum) = (
            sum_found as f64 / found as f64,
            sum_optimum as f64 / found as f64,
        );
        assert!(
            mean <= mean_optimum + 0.5,
            "{model}: mean L0 {mean} vs optimum {mean_optimum}"
        );
        eprintln!(
            "{model}: found {found} of {evadable} evadable rows, mean L0 {mean:.3} (optimum {mean_optimum:.3}); \
             unconstrained: {unconstrained_violating} of {unconstrained_fooled} fooling rows break the schema"
        );
    }
}
