//! `gauntlet audit --spatial`: Engstrom et al.'s rotation and translation search reported in
//! report.json, report.md, report.html and samples.jsonl, each reported success re-verified
//! here, outside the audit, and the combinations that make no sense refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gauntlet_attacks::spatial::{Picture, Transform};
use gauntlet_core::data::Dataset;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::predict;
use gauntlet_core::tensor::from_rows;
use gauntlet_onnx::OnnxModel;
use serde_json::Value;

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const SAMPLES: usize = 64;

fn audit(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .current_dir(root())
        .args(["audit", "--model", "models/mnist_cnn.onnx"])
        .args(["--inputs", "data/mnist-demo/x.npy"])
        .args(["--labels", "data/mnist-demo/y.npy"])
        .args(["--samples", &SAMPLES.to_string()])
        .args([
            "--attacks",
            "fgsm",
            "--eps",
            "0.1",
            "--no-diagnostics",
            "--quiet",
        ])
        .args(["--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

fn succeeded(run: &Output) {
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn samples_jsonl(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The demo digits as the audit reads them (uint8 scaled to [0, 1]).
fn digits() -> Dataset {
    Dataset::load(
        &root().join("data/mnist-demo/x.npy"),
        &root().join("data/mnist-demo/y.npy"),
    )
    .unwrap()
}

fn model() -> OnnxModel {
    OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap()
}

#[test]
fn the_grid_search_is_reported_and_every_success_holds_up() {
    let scratch = Scratch::new("spatial-grid");
    let out = scratch.0.join("out");
    succeeded(&audit(&out, &["--spatial"]));

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let spatial = &report["spatial"];
    assert_eq!(spatial["transformations"], 1519, "{spatial}");
    assert_eq!(spatial["rotation_deg"], 30.0);
    assert_eq!(spatial["translation_px"], 3.0);
    assert_eq!(spatial["grid"]["rotations"], 31);
    assert_eq!(spatial["grid"]["translations"], 7);
    assert_eq!(spatial["random_draws"], 10);
    assert_eq!(spatial["unconfirmed"], 0);
    assert_eq!(spatial["complete"], true);
    let clean = report["clean_accuracy"].as_f64().unwrap();
    let grid = spatial["robust_accuracy"].as_f64().unwrap();
    let worst_of_10 = spatial["worst_of_random_robust_accuracy"].as_f64().unwrap();
    let random = spatial["random_robust_accuracy"].as_f64().unwrap();
    assert!(
        grid <= worst_of_10 && worst_of_10 <= random && random <= clean,
        "{spatial}"
    );
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("## Spatial"), "{markdown}");
    assert!(markdown.contains("| grid search | 1519 |"), "{markdown}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"spatial\""));
    assert!(out.join("adversarial/spatial_grid.png").is_file());

    // Every success the report claims, checked here: the recorded transformation applied to
    // the clean digit, the model asked.
    let data = digits();
    let model = model();
    let picture = Picture::from_sample_shape(&[1, 28, 28]).unwrap();
    let lines = samples_jsonl(&out);
    assert_eq!(lines.len(), SAMPLES);
    let mut broken = 0;
    for line in &lines {
        let i = line["index"].as_u64().unwrap() as usize;
        let found = &line["spatial"]["grid"];
        if found.is_null() {
            assert_ne!(
                line["clean_prediction"], line["label"],
                "only misclassified digits are skipped"
            );
            continue;
        }
        let transform = Transform {
            rotation_deg: found["rotation_deg"].as_f64().unwrap() as f32,
            dx: found["dx"].as_f64().unwrap() as f32,
            dy: found["dy"].as_f64().unwrap() as f32,
        };
        let moved = transform.apply(&data.inputs[i * 784..(i + 1) * 784], picture, 0.0);
        let said = predict(&model, from_rows(moved, 1, 784, &compute_device())).unwrap()[0];
        assert_eq!(found["prediction"], said, "sample {i}");
        assert_eq!(found["fooled"], said != data.labels[i], "sample {i}");
        broken += usize::from(said != data.labels[i]);
    }
    let robust = lines.len()
        - broken
        - lines
            .iter()
            .filter(|l| l["spatial"]["grid"].is_null())
            .count();
    assert!((grid - robust as f64 / SAMPLES as f64).abs() < 1e-12);
}

#[test]
fn a_translation_reported_as_fooling_fools_the_model_when_shifted_by_hand() {
    // Whole-pixel shifts only (no rotation): the check needs nothing of gauntlet's resampling,
    // only index arithmetic.
    let scratch = Scratch::new("spatial-shift");
    let out = scratch.0.join("out");
    let grid = [
        "--spatial",
        "--spatial-rotation",
        "0",
        "--spatial-rotation-steps",
        "1",
        "--spatial-translation",
        "4",
        "--spatial-translation-steps",
        "9",
    ];
    succeeded(&audit(&out, &grid));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["spatial"]["transformations"], 81);
    let data = digits();
    let model = model();
    let mut checked = 0;
    for line in samples_jsonl(&out) {
        let found = &line["spatial"]["grid"];
        if found.is_null() || found["fooled"] != true {
            continue;
        }
        assert_eq!(found["rotation_deg"], 0.0);
        let (dx, dy) = (
            found["dx"].as_f64().unwrap() as i64,
            found["dy"].as_f64().unwrap() as i64,
        );
        assert_eq!(
            (dx as f64, dy as f64),
            (found["dx"].as_f64().unwrap(), found["dy"].as_f64().unwrap())
        );
        let i = line["index"].as_u64().unwrap() as usize;
        let digit = &data.inputs[i * 784..(i + 1) * 784];
        let mut shifted = vec![0f32; 784];
        for y in 0..28i64 {
            for x in 0..28i64 {
                let (sx, sy) = (x - dx, y - dy);
                if (0..28).contains(&sx) && (0..28).contains(&sy) {
                    shifted[(y * 28 + x) as usize] = digit[(sy * 28 + sx) as usize];
                }
            }
        }
        let said = predict(&model, from_rows(shifted, 1, 784, &compute_device())).unwrap()[0];
        assert_eq!(
            found["prediction"], said,
            "sample {i} shifted by ({dx}, {dy})"
        );
        assert_ne!(said, data.labels[i], "sample {i} shifted by ({dx}, {dy})");
        checked += 1;
    }
    // Shifts of up to 4 px fool this CNN on some digits; the test must have checked some.
    assert!(checked > 0, "no shift fooled the model on {SAMPLES} digits");
}

#[test]
fn combinations_that_make_no_sense_are_refused() {
    let scratch = Scratch::new("spatial-refused");
    let dir = &scratch.0;
    // A region mask: a rotated picture changes every pixel. Set through gauntlet.toml's key.
    let config = dir.join("gauntlet.toml");
    std::fs::write(&config, "spatial = true\nmask = \"mask.png\"\n").unwrap();
    let run = audit(&dir.join("a"), &["--config", config.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--spatial and --mask cannot be combined"),
        "{stderr}"
    );
    // Samples that are not pictures: the scikit-learn digits MLP reads 64 flat features.
    let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .current_dir(root())
        .args(["audit", "--model", "fixtures/sklearn/mlp.onnx"])
        .args(["--inputs", "fixtures/sklearn/x_test.npy"])
        .args(["--labels", "fixtures/sklearn/y_test.npy"])
        .args(["--attacks", "fgsm", "--eps", "0.1", "--spatial", "--quiet"])
        .args(["--out", dir.join("b").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("C×H×W") && stderr.contains("[64]"),
        "{stderr}"
    );
    assert!(!dir.join("b/report.json").exists());
}

#[test]
fn the_gate_judges_the_spatial_row_and_a_baseline_keeps_it() {
    let scratch = Scratch::new("spatial-gate");
    let small = [
        "--spatial-rotation-steps",
        "3",
        "--spatial-translation-steps",
        "3",
    ];
    // The demo CNN falls to the grid search (robust accuracy well below 99 %): the gate fails.
    let out = scratch.0.join("strict");
    let mut args = small.to_vec();
    args.extend(["--spatial", "--fail-under", "spatial=0.99"]);
    let run = audit(&out, &args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let accuracy = report["spatial"]["robust_accuracy"].as_f64().unwrap();
    assert!(accuracy < 0.99, "{accuracy}");
    // A threshold at the measured value passes, and the report is a baseline for the row.
    let out2 = scratch.0.join("again");
    let mut args = small.to_vec();
    let at = format!("spatial={accuracy}");
    let baseline = out.join("report.json").display().to_string();
    args.extend(["--spatial", "--fail-under", &at, "--baseline", &baseline]);
    let run = audit(&out2, &args);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The row has no norm or budget, and without --spatial there is no such row.
    let run = audit(
        &scratch.0.join("bad"),
        &["--spatial", "--fail-under", "spatial:linf:0.1=0.5"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("write spatial=0.5"), "{stderr}");
    let run = audit(&scratch.0.join("none"), &["--fail-under", "spatial=0.5"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("this audit runs"), "{stderr}");
}
