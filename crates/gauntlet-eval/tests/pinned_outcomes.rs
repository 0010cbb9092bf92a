//! Pins a small audit's per-sample outcomes, so that a refactoring that changes what an attack
//! finds (or what the evaluation makes of it) fails here instead of silently moving reported
//! numbers. The pin was recorded from the code as it was before the front-door refactoring.
//!
//! Regenerate (only when a change of results is intended, and say so in the commit):
//! `GAUNTLET_PIN_WRITE=1 cargo test -p gauntlet-eval --test pinned_outcomes`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use gauntlet_attacks::{by_name, default_queries, default_steps, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::Dataset;
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_eval::{run_audit, AuditPlan, Silent};
use gauntlet_onnx::OnnxModel;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Short runs of every attack: enough iterations (or queries) to break some samples and miss
/// others.
fn settings(name: &str) -> AttackSettings {
    match default_queries(name) {
        Some(_) => AttackSettings {
            queries: Some(300),
            ..Default::default()
        },
        None => AttackSettings {
            steps: Some(default_steps(name).min(10)),
            ..Default::default()
        },
    }
}

fn outcomes(norm: Norm, eps: &[f32], attacks: &[&str], ensemble: bool) -> Value {
    let model = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
    let mut data = Dataset::load(
        &root().join("data/mnist-demo/x.npy"),
        &root().join("data/mnist-demo/y.npy"),
    )
    .unwrap();
    data.truncate(12);
    let plan = AuditPlan {
        attacks: attacks
            .iter()
            .map(|name| by_name(name, &settings(name).validated().unwrap()).unwrap())
            .collect(),
        threat: ThreatModel::new(norm, eps, Bounds { min: 0.0, max: 1.0 }).unwrap(),
        criterion: Criterion::Untargeted,
        batch_size: 5,
        seed: 7,
        ensemble,
        blocks: Default::default(),
    };
    let evaluation = run_audit(&model, &data, &plan, &Silent).unwrap();
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    let results: Vec<Value> = evaluation
        .results
        .iter()
        .map(|r| {
            json!({
                "attack": r.attack,
                "eps": r.eps,
                "robust_accuracy": r.robust_accuracy,
                "success": r.success,
                "predictions": r.predictions,
                "perturbation": r.perturbation,
                "queries": r.sample_queries,
                "gradient_evals": r.gradient_evals,
            })
        })
        .collect();
    let worst: Vec<Value> = evaluation
        .worst_case
        .iter()
        .map(|w| json!({"eps": w.eps, "robust_accuracy": w.robust_accuracy, "broken_by": w.broken_by}))
        .collect();
    json!({"clean": evaluation.clean_predictions, "results": results, "worst_case": worst})
}

fn all() -> Value {
    json!({
        "linf": outcomes(
            Norm::Linf,
            &[0.05, 0.1, 0.3],
            &["fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "deepfool", "square", "simba", "simba-dct", "hsj"],
            false,
        ),
        "l2": outcomes(Norm::L2, &[0.5, 1.5], &["fgsm", "pgd", "apgd-ce", "cw", "deepfool", "fab", "square", "simba", "hsj", "boundary"], false),
        "l1": outcomes(Norm::L1, &[5.0, 12.0], &["pgd"], false),
        "ensemble": outcomes(Norm::Linf, &[0.05, 0.1], &["apgd-ce", "apgd-t", "fab-t", "square"], true),
    })
}

/// Equal up to float noise in perturbation sizes (reordered sums may move the last bits);
/// success, predictions, query counts and who broke what must match exactly.
fn same(a: &Value, b: &Value, path: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "{path}: {x} != {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths differ");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same(p, q, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}: keys differ"
            );
            for (k, v) in x {
                same(v, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

#[test]
fn a_small_audit_gives_the_pinned_per_sample_outcomes() {
    let pin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pinned_outcomes.json");
    let now = all();
    if std::env::var_os("GAUNTLET_PIN_WRITE").is_some() {
        std::fs::write(&pin, serde_json::to_string_pretty(&now).unwrap()).unwrap();
        return;
    }
    let pinned: Value = serde_json::from_slice(&std::fs::read(&pin).unwrap()).unwrap();
    same(&now, &pinned, "$");
}
