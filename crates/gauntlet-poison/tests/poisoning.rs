//! The poisoning attacks on real MNIST digits (the repository's `data/mnist-demo`): each
//! property fails if the attack is wrong — exactly round(F·n) rows change, only where the
//! manifest says and only at the trigger's pixels, labels as the attack defines them, the
//! clean-label perturbation inside its ball and the box, the same files for the same seed, and
//! `.npy` files the loader reads back.

use std::path::{Path, PathBuf};

use gauntlet_core::data::Dataset;
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_poison::{
    default_perturbation, AttackKind, Manifest, Perturbation, PoisonJob, Trigger,
};
use gauntlet_run::progress::Silent;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo() -> (PathBuf, PathBuf) {
    (
        root().join("data/mnist-demo/x.npy"),
        root().join("data/mnist-demo/y.npy"),
    )
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("gauntlet-poison-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn job(attack: AttackKind, out: &Path) -> PoisonJob {
    let (x, y) = demo();
    PoisonJob {
        inputs: x.clone(),
        labels: y.clone(),
        attack,
        trigger: None,
        all_to_all: false,
        fraction: 0.1,
        target_class: Some(7),
        source_class: None,
        model: None,
        perturbation: default_perturbation(),
        test: Some((x, y)),
        bounds: Bounds::default(),
        seed: 1,
        out: out.to_path_buf(),
    }
}

fn clean() -> Dataset {
    let (x, y) = demo();
    Dataset::load(&x, &y).unwrap()
}

fn changed_rows(a: &Dataset, b: &Dataset) -> Vec<usize> {
    let f = a.features();
    (0..a.len())
        .filter(|&i| {
            a.labels[i] != b.labels[i]
                || a.inputs[i * f..(i + 1) * f] != b.inputs[i * f..(i + 1) * f]
        })
        .collect()
}

fn reload(dir: &Path) -> (Dataset, Manifest) {
    (
        Dataset::load(&dir.join("x.npy"), &dir.join("y.npy")).unwrap(),
        Manifest::read(&dir.join("manifest.json")).unwrap(),
    )
}

#[test]
fn all_to_one_badnets_poisons_exactly_the_manifest_rows_at_the_trigger_pixels() {
    let scratch = Scratch::new("a2o");
    let clean = clean();
    job(AttackKind::BadNets, &scratch.0).run(&Silent).unwrap();
    let (poisoned, manifest) = reload(&scratch.0);
    assert_eq!(poisoned.sample_shape, clean.sample_shape);
    assert_eq!(manifest.poisoned.len(), 100, "round(0.1 · 1000)");
    assert_eq!(changed_rows(&clean, &poisoned), manifest.poisoned);
    let trigger = manifest.trigger.clone().unwrap();
    let mask = trigger.mask();
    assert_eq!(mask.iter().filter(|&&m| m).count(), 16, "a 4×4 trigger");
    let f = clean.features();
    for &i in &manifest.poisoned {
        assert_ne!(
            clean.labels[i], 7,
            "poisons come from the non-target classes"
        );
        assert_eq!(poisoned.labels[i], 7);
        for (j, &in_trigger) in mask.iter().enumerate() {
            let (before, after) = (clean.inputs[i * f + j], poisoned.inputs[i * f + j]);
            if !in_trigger {
                assert_eq!(
                    before, after,
                    "row {i} pixel {j} outside the trigger changed"
                );
            }
        }
        let mut expected = clean.inputs[i * f..(i + 1) * f].to_vec();
        trigger.apply(&mut expected);
        assert_eq!(&poisoned.inputs[i * f..(i + 1) * f], expected.as_slice());
    }
    // The triggered test set: every non-target input, trigger on, TRUE label.
    let test = Dataset::load(
        &scratch.0.join("test_triggered_x.npy"),
        &scratch.0.join("test_triggered_y.npy"),
    )
    .unwrap();
    let non_target: Vec<usize> = (0..clean.len()).filter(|&i| clean.labels[i] != 7).collect();
    assert_eq!(test.len(), non_target.len());
    assert_eq!(manifest.test_triggered, Some(test.len()));
    for (k, &i) in non_target.iter().enumerate() {
        assert_eq!(test.labels[k], clean.labels[i]);
        let mut expected = clean.inputs[i * f..(i + 1) * f].to_vec();
        trigger.apply(&mut expected);
        assert_eq!(&test.inputs[k * f..(k + 1) * f], expected.as_slice());
    }
}

#[test]
fn all_to_all_shifts_each_label_by_one() {
    let scratch = Scratch::new("a2a");
    let clean = clean();
    let mut j = job(AttackKind::BadNets, &scratch.0);
    j.all_to_all = true;
    j.target_class = None;
    j.fraction = 0.25;
    j.trigger = Some("square:3@tl".into());
    j.run(&Silent).unwrap();
    let (poisoned, manifest) = reload(&scratch.0);
    assert_eq!(manifest.variant, "all-to-all");
    assert_eq!(manifest.poisoned.len(), 250);
    assert_eq!(changed_rows(&clean, &poisoned), manifest.poisoned);
    for &i in &manifest.poisoned {
        assert_eq!(poisoned.labels[i], (clean.labels[i] + 1) % 10);
    }
    // all-to-all has no target: every test input is triggered
    assert_eq!(manifest.test_triggered, Some(clean.len()));
}

#[test]
fn label_flipping_changes_labels_only() {
    let scratch = Scratch::new("flip");
    let clean = clean();
    let mut j = job(AttackKind::LabelFlip, &scratch.0);
    j.target_class = None;
    j.fraction = 0.05;
    j.run(&Silent).unwrap();
    let (poisoned, manifest) = reload(&scratch.0);
    assert_eq!(manifest.poisoned.len(), 50);
    assert_eq!(poisoned.inputs, clean.inputs);
    assert_eq!(changed_rows(&clean, &poisoned), manifest.poisoned);
    assert!(manifest.trigger.is_none());
    assert!(!scratch.0.join("test_triggered_x.npy").exists());
    // targeted: source 3 → target 8, only 3s chosen
    let mut j = job(AttackKind::LabelFlip, &scratch.0);
    j.source_class = Some(3);
    j.target_class = Some(8);
    j.fraction = 0.05;
    j.run(&Silent).unwrap();
    let (poisoned, manifest) = reload(&scratch.0);
    assert_eq!(manifest.variant, "targeted");
    for &i in &manifest.poisoned {
        assert_eq!((clean.labels[i], poisoned.labels[i]), (3, 8));
    }
    assert_eq!(changed_rows(&clean, &poisoned), manifest.poisoned);
}

#[test]
fn clean_label_keeps_labels_and_stays_in_the_ball_and_the_box() {
    let scratch = Scratch::new("clean-label");
    let clean = clean();
    let mut j = job(AttackKind::CleanLabel, &scratch.0);
    j.model = Some(root().join("models/mnist_cnn_adv.onnx"));
    j.fraction = 0.02;
    j.perturbation = Perturbation {
        norm: Norm::Linf,
        eps: 0.2,
        steps: 5,
        rel_step: None,
    };
    j.run(&Silent).unwrap();
    let (poisoned, manifest) = reload(&scratch.0);
    assert_eq!(manifest.poisoned.len(), 20);
    assert_eq!(poisoned.labels, clean.labels, "labels untouched");
    assert_eq!(changed_rows(&clean, &poisoned), manifest.poisoned);
    let mask = manifest.trigger.as_ref().unwrap().mask();
    let f = clean.features();
    let mut largest = 0f32;
    for &i in &manifest.poisoned {
        assert_eq!(clean.labels[i], 7, "only target-class images");
        for (j, &in_trigger) in mask.iter().enumerate() {
            let after = poisoned.inputs[i * f + j];
            assert!((0.0..=1.0).contains(&after));
            if !in_trigger {
                largest = largest.max((after - clean.inputs[i * f + j]).abs());
            }
        }
    }
    assert!(largest <= 0.2 + 1e-6, "perturbation {largest} > ε");
    assert!(
        largest > 0.1,
        "the perturbation should use its budget: {largest}"
    );
    // L2: within the ball too
    let mut j2 = j.clone();
    j2.perturbation.norm = Norm::L2;
    j2.perturbation.eps = 2.0;
    j2.run(&Silent).unwrap();
    let (poisoned, manifest) = reload(&scratch.0);
    for &i in &manifest.poisoned {
        let l2: f32 = (0..f)
            .filter(|&k| !mask[k])
            .map(|k| (poisoned.inputs[i * f + k] - clean.inputs[i * f + k]).powi(2))
            .sum::<f32>()
            .sqrt();
        assert!(l2 <= 2.0 + 1e-4, "L2 perturbation {l2} > ε");
    }
}

#[test]
fn the_same_seed_writes_the_same_files_and_another_seed_does_not() {
    let (a, b, c) = (
        Scratch::new("seed-a"),
        Scratch::new("seed-b"),
        Scratch::new("seed-c"),
    );
    job(AttackKind::BadNets, &a.0).run(&Silent).unwrap();
    job(AttackKind::BadNets, &b.0).run(&Silent).unwrap();
    let mut other = job(AttackKind::BadNets, &c.0);
    other.seed = 2;
    other.run(&Silent).unwrap();
    for name in ["x.npy", "y.npy", "manifest.json"] {
        assert_eq!(
            std::fs::read(a.0.join(name)).unwrap(),
            std::fs::read(b.0.join(name)).unwrap(),
            "{name}"
        );
    }
    assert_ne!(
        Manifest::read(&a.0.join("manifest.json")).unwrap().poisoned,
        Manifest::read(&c.0.join("manifest.json")).unwrap().poisoned
    );
}

#[test]
fn written_arrays_are_plain_float32_and_int64_npy() {
    let scratch = Scratch::new("npy");
    job(AttackKind::BadNets, &scratch.0).run(&Silent).unwrap();
    let header = |name: &str| {
        let bytes = std::fs::read(scratch.0.join(name)).unwrap();
        assert!(bytes.starts_with(b"\x93NUMPY"));
        String::from_utf8_lossy(&bytes[10..100]).to_string()
    };
    assert!(
        header("x.npy").contains("'descr': '<f4'"),
        "{}",
        header("x.npy")
    );
    assert!(
        header("x.npy").contains("(1000, 1, 28, 28,"),
        "{}",
        header("x.npy")
    );
    assert!(
        header("y.npy").contains("'descr': '<i8'"),
        "{}",
        header("y.npy")
    );
}

#[test]
fn bad_requests_are_refused_with_the_fix() {
    let scratch = Scratch::new("bad");
    let err = |j: PoisonJob| j.run(&Silent).unwrap_err().to_string();
    let mut j = job(AttackKind::BadNets, &scratch.0);
    j.fraction = 1.5;
    assert!(err(j).contains("(0, 1]"));
    let mut j = job(AttackKind::BadNets, &scratch.0);
    j.target_class = Some(10);
    assert!(err(j).contains("out of range"));
    let mut j = job(AttackKind::BadNets, &scratch.0);
    j.trigger = Some("corner:29".into());
    assert!(err(j).contains("does not fit"));
    let mut j = job(AttackKind::BadNets, &scratch.0);
    j.target_class = None;
    assert!(err(j).contains("--target-class"));
    let j = job(AttackKind::CleanLabel, &scratch.0);
    assert!(err(j).contains("--model"));
    let mut j = job(AttackKind::CleanLabel, &scratch.0);
    j.model = Some(root().join("models/mnist_cnn_adv.onnx"));
    j.fraction = 0.5; // far more than the 7s of the set
    assert!(err(j).contains("target class"));
    assert!(!scratch.0.join("manifest.json").exists());
    // a trigger made for other images is refused, not applied out of place
    let t = Trigger::parse("corner:4", &[1, 28, 28], Bounds::default()).unwrap();
    assert!(t.apply_rows(&mut [0.0; 100]).is_err());
}
