//! The audit through the library, as a Rust caller uses it: config → check → run → report and
//! verdict.

mod common;

use std::path::Path;

use gauntlet_audit::{AuditConfig, Silent};

use common::{root, Scratch};

fn config(out: &Path) -> AuditConfig {
    let mut config = AuditConfig::new(
        root().join("models/mnist_cnn.onnx"),
        root().join("data/mnist-demo/x.npy"),
        root().join("data/mnist-demo/y.npy"),
        &[0.1, 0.3],
    );
    config.attacks = "fgsm,pgd".into();
    config.steps = Some(5);
    config.samples = Some(16);
    config.out = out.to_path_buf();
    config
}

#[test]
fn a_run_writes_the_report_and_the_gate_decides_the_exit_code() {
    let scratch = Scratch::new("gate");
    let mut passing = config(&scratch.0);
    passing.fail_under = vec!["worst:linf:0.3=0".into()];
    let run = passing.check().unwrap().run(&Silent).unwrap();
    assert_eq!(run.exit_code(), 0, "{:?}", run.judgement.problems());
    for file in ["report.json", "report.md", "report.html", "samples.jsonl"] {
        assert!(scratch.0.join(file).exists(), "{file} missing");
    }
    assert!(
        !run.checkpoint.exists(),
        "a complete run removes its checkpoint"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.0.join("report.json")).unwrap()).unwrap();
    // The manifest records what really ran: PGD's own parameters, the versions built with.
    let pgd = &report["manifest"]["attack_parameters"][1];
    assert_eq!(pgd["attack"], "pgd");
    assert_eq!(pgd["steps"], 5);
    let versions = report["manifest"]["versions"].to_string();
    assert!(
        versions.contains("burn") && !versions.contains("unknown"),
        "{versions}"
    );

    // PGD at ε = 0.3 breaks every digit: a threshold above zero fails the gate (exit 1).
    let mut failing = config(&scratch.0);
    failing.fail_under = vec!["pgd:linf:0.3=0.5".into()];
    let run = failing.check().unwrap().run(&Silent).unwrap();
    assert_eq!(run.exit_code(), 1);
    let problems = run.judgement.problems().join("\n");
    assert!(problems.contains("pgd linf eps=0.3"), "{problems}");
}

#[test]
fn the_same_config_gives_the_same_per_sample_outcomes() {
    // Two runs of one config give the same per-sample outcomes (the seed fixes everything).
    let a = Scratch::new("seed-a");
    let b = Scratch::new("seed-b");
    let first = config(&a.0).check().unwrap().run(&Silent).unwrap();
    let second = config(&b.0).check().unwrap().run(&Silent).unwrap();
    let outcomes = |run: &gauntlet_audit::AuditRun| {
        run.evaluation
            .results
            .iter()
            .map(|r| (r.attack.clone(), r.success.clone(), r.predictions.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(outcomes(&first), outcomes(&second));
}

#[test]
fn a_bad_config_is_refused_before_anything_is_loaded_or_written() {
    let scratch = Scratch::new("refused");
    let mut bad = config(&scratch.0);
    bad.model = Some(scratch.0.join("no-such-model.onnx"));
    bad.eps = Some("0.1,-2".into());
    let err = format!(
        "{:#}",
        bad.check().err().expect("a negative budget is refused")
    );
    assert!(err.contains("`eps`"), "{err}");
    assert!(
        !scratch.0.exists(),
        "nothing may be written for a refused config"
    );

    // A missing model file is found when the run loads it, again before anything is written.
    let mut missing = config(&scratch.0);
    missing.model = Some(scratch.0.join("no-such-model.onnx"));
    let err = format!(
        "{:#}",
        missing
            .check()
            .unwrap()
            .run(&Silent)
            .err()
            .expect("no model")
    );
    assert!(err.contains("cannot read the model file"), "{err}");
    assert!(!scratch.0.join("report.json").exists());
}

/// Stops the run once `after` samples are done (as Ctrl-C would).
struct StopAfter {
    done: std::cell::Cell<u64>,
    after: u64,
}

impl gauntlet_audit::Progress for StopAfter {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, done: u64) {
        self.done.set(self.done.get() + done);
    }
    fn end(&self) {}
    fn cancelled(&self) -> bool {
        self.done.get() >= self.after
    }
}

#[test]
fn the_adversarial_files_written_as_batches_finish_equal_the_in_memory_rows() {
    use gauntlet_attacks::{by_name, AttackSettings};
    use gauntlet_core::criterion::Criterion;
    use gauntlet_core::data::{write_npy_f32, Dataset};
    use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
    use gauntlet_eval::{run_audit, AuditPlan};
    use gauntlet_onnx::OnnxModel;

    let scratch = Scratch::new("streamed");
    let mut c = config(&scratch.0);
    c.attacks = "fgsm".into();
    c.batch_size = 4;
    c.no_diagnostics = true;
    // Interrupted after two batches, then resumed from the checkpoint.
    let stop = StopAfter {
        done: Default::default(),
        after: 8,
    };
    let interrupted = c.clone().check().unwrap().run(&stop).unwrap();
    assert_eq!(interrupted.exit_code(), 2);
    let run = c.check().unwrap().run(&Silent).unwrap();
    assert!(run.evaluation.resumed_batches > 0);
    assert_eq!(run.exit_code(), 0, "{:?}", run.judgement.problems());

    // The same plan with the rows kept in memory, written the way the report writes them.
    let model = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
    let mut data = Dataset::load(
        &root().join("data/mnist-demo/x.npy"),
        &root().join("data/mnist-demo/y.npy"),
    )
    .unwrap();
    data.truncate(16);
    let plan = AuditPlan {
        attacks: vec![by_name("fgsm", &AttackSettings::default()).unwrap()],
        threat: ThreatModel::new(Norm::Linf, &[0.1, 0.3], Bounds::default()).unwrap(),
        criterion: Criterion::Untargeted,
        batch_size: 4,
        seed: 0,
        ensemble: true,
        blocks: Default::default(),
    };
    let memory = run_audit(&model, &data, &plan, &Silent).unwrap();
    assert_eq!(run.written.adversarial.len(), memory.results.len());
    let expected = scratch.0.join("expected.npy");
    for (written, kept) in run.written.adversarial.iter().zip(&memory.results) {
        let rows = kept.adversarial.to_vec(16, 784).unwrap();
        write_npy_f32(&expected, &rows, &[16, 1, 28, 28]).unwrap();
        assert_eq!(
            std::fs::read(written).unwrap(),
            std::fs::read(&expected).unwrap(),
            "{}",
            written.display()
        );
    }
    let partial: Vec<_> = std::fs::read_dir(scratch.0.join("adversarial"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.ends_with(".partial").then_some(name)
        })
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
}

#[test]
fn samples_read_from_disk_give_the_report_of_samples_loaded_whole() {
    use std::io::Write;
    // The demo inputs as they are (an uncompressed .npy, read a batch at a time) and gzipped
    // (decompressed into memory whole): the same audit must write the same files.
    let scratch = Scratch::new("on-disk");
    let inputs = root().join("data/mnist-demo/x.npy");
    let gz = scratch.0.join("x.npy.gz");
    std::fs::create_dir_all(&scratch.0).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&std::fs::read(&inputs).unwrap()).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();

    let disk = scratch.0.join("disk");
    let memory = scratch.0.join("memory");
    let mut on_disk = config(&disk);
    on_disk.samples = Some(24);
    on_disk.batch_size = 5;
    let mut whole = on_disk.clone();
    whole.inputs = Some(gz);
    whole.out = memory.clone();
    on_disk.check().unwrap().run(&Silent).unwrap();
    whole.check().unwrap().run(&Silent).unwrap();

    let report = |dir: &Path| {
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        fn strip(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    map.retain(|key, _| !matches!(key.as_str(), "seconds" | "inputs" | "command"));
                    map.values_mut().for_each(strip);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut value);
        value
    };
    assert_eq!(report(&disk), report(&memory));
    let mut compared = 0;
    for entry in std::fs::read_dir(disk.join("adversarial")).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(
            std::fs::read(disk.join("adversarial").join(&name)).unwrap(),
            std::fs::read(memory.join("adversarial").join(&name)).unwrap(),
            "{name:?}"
        );
        compared += 1;
    }
    // Four adversarial files, the labels and at least one picture grid (clean rows beside
    // adversarial ones, the clean rows read from disk).
    assert!(compared >= 6, "{compared} files");
    assert_eq!(
        std::fs::read(disk.join("samples.jsonl")).unwrap(),
        std::fs::read(memory.join("samples.jsonl")).unwrap()
    );
}
