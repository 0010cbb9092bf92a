//! `predict` against onnxruntime's outputs on every fixture of `fixtures/trees/`: labels
//! identical, probabilities / predictions equal up to float32 rounding of the elementwise
//! ops onnxruntime vectorizes (the tree arithmetic itself is bit-identical).

mod common;

use gauntlet_trees::TreeModel;

/// Relative tolerance (on max(|expected|, 1)) for values after onnxruntime's vectorized
/// Sigmoid / Softmax (MLAS approximations); every other fixture must agree to the bit.
const VECTORIZED_TOLERANCE: f32 = 1e-6;

fn agree(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

#[test]
fn predictions_and_labels_match_onnxruntime_on_every_fixture() {
    let names = common::fixture_names();
    assert!(
        names.len() >= 60,
        "expected the full fixture set, found {}",
        names.len()
    );
    let mut rows = 0usize;
    let mut max_abs = 0f32;
    let mut failures = Vec::new();
    for name in &names {
        let f = common::load(name);
        let model = TreeModel::from_bytes(&f.model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = model
            .predict(&f.x)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len(), f.expected.len(), "{name}: output length");
        let vectorized = name.starts_with("elementwise");
        for (i, (&g, &e)) in got.iter().zip(&f.expected).enumerate() {
            let ok = if vectorized {
                (g - e).abs() <= VECTORIZED_TOLERANCE * e.abs().max(1.0)
            } else {
                agree(g, e)
            };
            if g.is_finite() && e.is_finite() {
                max_abs = max_abs.max((g - e).abs());
            }
            if !ok && failures.len() < 20 {
                failures.push(format!("{name}[{i}]: gauntlet {g} onnxruntime {e}"));
            }
        }
        if let Some(labels) = &f.labels {
            let got = model.predict_labels(&f.x).unwrap();
            for (i, (g, e)) in got.iter().zip(labels).enumerate() {
                if g != e && failures.len() < 20 {
                    failures.push(format!("{name} row {i}: label {g}, onnxruntime {e}"));
                }
            }
        }
        rows += f.n_rows;
    }
    println!(
        "{} fixtures, {rows} rows, max |gauntlet − onnxruntime| = {max_abs:e}",
        names.len()
    );
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}
