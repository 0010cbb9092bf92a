//! The audit's results as rows of the CI gate (`gauntlet-run`): from an evaluation, and from an
//! earlier `report.json` (the baseline).

use gauntlet_eval::Evaluation;
use gauntlet_run::gate::{Row, WORST};

/// The spatial stage's row: robust accuracy under the grid search, without a norm or budget
/// (a threshold names it alone: `spatial=0.5`).
pub(crate) const SPATIAL: &str = "spatial";

/// The evaluation's rows as the gate reads them.
pub(crate) fn rows(evaluation: &Evaluation) -> Vec<Row> {
    let attacks = evaluation.results.iter().map(|r| {
        Row::new(r.attack.clone(), r.robust_accuracy).at(&r.norm.to_string(), r.eps as f64)
    });
    let worst = evaluation
        .worst_case
        .iter()
        .map(|w| Row::new(WORST, w.robust_accuracy).at(&w.norm.to_string(), w.eps as f64));
    let spatial = evaluation
        .spatial
        .iter()
        .map(|s| Row::new(SPATIAL, s.robust_accuracy));
    attacks.chain(worst).chain(spatial).collect()
}

/// The rows of an earlier `report.json` (its `results` and `worst_case`), for the baseline.
pub(crate) fn report_rows(json: &serde_json::Value) -> std::result::Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (key, worst) in [("results", false), ("worst_case", true)] {
        let list = json[key]
            .as_array()
            .ok_or_else(|| format!("it has no '{key}' list; is it a gauntlet report.json?"))?;
        for entry in list {
            let number = |k: &str| {
                entry[k]
                    .as_f64()
                    .ok_or_else(|| format!("an entry of '{key}' lacks the number '{k}': {entry}"))
            };
            let norm = entry["norm"]
                .as_str()
                .ok_or_else(|| format!("an entry of '{key}' lacks 'norm': {entry}"))?;
            let attack = if worst {
                WORST.to_string()
            } else {
                entry["attack"]
                    .as_str()
                    .ok_or_else(|| format!("an entry of '{key}' lacks 'attack': {entry}"))?
                    .to_string()
            };
            rows.push(Row::new(attack, number("robust_accuracy")?).at(norm, number("eps")?));
        }
    }
    if let Some(accuracy) = json["spatial"]["robust_accuracy"].as_f64() {
        rows.push(Row::new(SPATIAL, accuracy));
    }
    Ok(rows)
}
