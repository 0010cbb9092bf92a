//! `gauntlet train` and `gauntlet harden`: the files they promise, a kill that loses nothing
//! (a rerun resumes and writes the same model as an uninterrupted run), and bad input as a
//! one-line error with exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gauntlet_onnx::graph::Graph;

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gauntlet(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    cmd.args(args);
    cmd
}

fn data_args(root: &Path) -> Vec<String> {
    vec![
        "--model".into(),
        root.join("models/mnist_cnn.onnx").display().to_string(),
        "--inputs".into(),
        root.join("data/mnist-demo/x.npy").display().to_string(),
        "--labels".into(),
        root.join("data/mnist-demo/y.npy").display().to_string(),
    ]
}

fn run(args: Vec<String>) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    gauntlet(&refs).output().unwrap()
}

#[test]
fn harden_writes_the_model_the_curves_and_the_before_after_report() {
    let scratch = Scratch::new("cli-harden");
    let out = scratch.0.join("out");
    let mut args = vec!["harden".to_string(), "--method".into(), "fast-at".into()];
    args.extend(data_args(&root()));
    args.extend(
        [
            "--eps",
            "0.1",
            "--limit",
            "240",
            "--holdout",
            "40",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--audit-samples",
            "20",
            "--eval-steps",
            "3",
            "--quiet",
            "--out",
        ]
        .map(String::from),
    );
    args.push(out.display().to_string());
    let output = run(args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The hardened model keeps the graph and its initializer names, with new values.
    let original = std::fs::read(root().join("models/mnist_cnn.onnx")).unwrap();
    let hardened = std::fs::read(out.join("model.onnx")).unwrap();
    let (a, b) = (
        Graph::parse(&original, "original").unwrap(),
        Graph::parse(&hardened, "hardened").unwrap(),
    );
    let mut names_a: Vec<&String> = a.constants.keys().collect();
    let mut names_b: Vec<&String> = b.constants.keys().collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b);
    assert_eq!(a.nodes.len(), b.nodes.len());
    assert_ne!(original, hardened);

    let training: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("training.json")).unwrap()).unwrap();
    assert_eq!(training["status"]["status"], "finished");
    assert_eq!(training["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(training["holdout_samples"], 40);
    assert!(training["epochs"][1]["robust_accuracy"].is_number());

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["method"], "fast-at");
    assert_eq!(report["gain"].as_array().unwrap().len(), 4);
    assert!(report["before"]["clean_accuracy"].as_f64().unwrap() > 0.8);
    assert!(report["provenance"]["model_sha256"].is_string());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("hardened"));
    for side in ["audit-original", "audit-hardened"] {
        assert!(out.join(side).join("report.json").exists(), "{side}");
    }
    // A finished run leaves no checkpoint.
    assert!(!out.join("checkpoint").exists());
}

#[test]
fn a_killed_training_resumes_and_writes_the_same_model() {
    let scratch = Scratch::new("cli-train-kill");
    let args = |out: &Path| -> Vec<String> {
        let mut a = vec!["train".to_string()];
        a.extend(data_args(&root()));
        a.extend(
            [
                "--holdout",
                "100",
                "--epochs",
                "5",
                "--batch-size",
                "8",
                "--from-scratch",
                "--seed",
                "3",
                "--quiet",
                "--out",
            ]
            .map(String::from),
        );
        a.push(out.display().to_string());
        a
    };
    let straight = scratch.0.join("straight");
    assert!(run(args(&straight)).status.success());

    let killed = scratch.0.join("killed");
    let refs = args(&killed);
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let mut child = gauntlet(&refs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = killed.join("checkpoint/state.json");
    let started = Instant::now();
    while !state.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let output = run(args(&killed));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let training: serde_json::Value =
        serde_json::from_slice(&std::fs::read(killed.join("training.json")).unwrap()).unwrap();
    if training["resumed_epochs"].as_u64().unwrap() == 0 {
        // The first run finished before the kill landed: nothing to compare on this machine.
        eprintln!("the run finished before it could be killed");
    }
    assert_eq!(
        std::fs::read(straight.join("model.onnx")).unwrap(),
        std::fs::read(killed.join("model.onnx")).unwrap(),
        "a resumed run must write the model an uninterrupted run writes"
    );
}

#[test]
fn bad_training_input_is_a_one_line_error() {
    let scratch = Scratch::new("cli-train-bad");
    let labels = scratch.0.join("y.npy");
    // 1,000 labels, one of them 99: outside the model's 10 classes.
    let mut y = vec![0i64; 1000];
    y[5] = 99;
    gauntlet_core::data::write_npy_i64(&labels, &y).unwrap();
    let x = root().join("data/mnist-demo/x.npy").display().to_string();
    let model = root().join("models/mnist_cnn.onnx").display().to_string();
    let out = scratch.0.join("out").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "train",
                "--model",
                &model,
                "--inputs",
                &x,
                "--labels",
                labels.to_str().unwrap(),
                "--out",
                &out,
            ],
            "label 99",
        ),
        (
            vec![
                "harden", "--method", "fast-at", "--model", &model, "--inputs", &x, "--labels", &x,
                "--out", &out,
            ],
            "--eps",
        ),
        (
            vec![
                "harden", "--method", "free-at", "--eps", "0.1", "--model", &model, "--inputs", &x,
                "--labels", &x, "--out", &out,
            ],
            "unknown method",
        ),
        (
            vec![
                "harden", "--method", "pgd-at", "--eps", "0.1", "--start", "previous", "--model",
                &model, "--inputs", &x, "--labels", &x, "--out", &out,
            ],
            "--start previous applies to --method fast-at only",
        ),
        (
            vec![
                "harden", "--method", "fast-at", "--eps", "0.1", "--start", "last", "--model",
                &model, "--inputs", &x, "--labels", &x, "--out", &out,
            ],
            "unknown fast-at start 'last'",
        ),
        (
            vec![
                "train",
                "--model",
                &model,
                "--inputs",
                &x,
                "--labels",
                &x,
                "--schedule",
                "linear",
                "--out",
                &out,
            ],
            "schedule",
        ),
    ];
    for (args, expected) in cases {
        let output = gauntlet(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// A loss that turns NaN stops the run with the epoch and batch, exit 2, and the checkpoint of
/// the last finished epoch intact: a model that loads, its epoch recorded.
#[test]
fn a_nan_loss_stops_at_its_batch_and_keeps_the_last_checkpoint() {
    let scratch = Scratch::new("cli-train-nan");
    let out = scratch.0.join("out");
    let mut args = vec!["train".to_string()];
    args.extend(data_args(&root()));
    // A sane first epoch, then the learning rate multiplied by 1e12.
    args.extend(
        [
            "--optimizer",
            "sgd",
            "--lr",
            "0.01",
            "--schedule",
            "step:1:1e12",
            "--epochs",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let error = stderr.lines().last().unwrap_or_default();
    assert!(
        error.contains("epoch 2, batch") && error.contains("the training loss became"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("checkpoint/state.json")).expect("the checkpoint is kept"),
    )
    .unwrap();
    assert_eq!(state["epochs_done"], 1, "{state}");
    let model = out
        .join("checkpoint")
        .join(state["model"].as_str().unwrap());
    let graph = Graph::parse(&std::fs::read(&model).unwrap(), "checkpoint").unwrap();
    assert!(!graph.constants.is_empty());
    assert!(
        !out.join("model.onnx").exists(),
        "no model is written from a NaN run"
    );
}

/// `gauntlet train` on the demo digits with the demo CNN's graph changed by `rewrite`, the
/// model written into `dir`.
fn train_rewritten(dir: &Path, rewrite: impl FnOnce(&mut onnx_ir::GraphProto)) -> Output {
    use onnx_ir::{Message, ModelProto};
    let bytes = std::fs::read(root().join("models/mnist_cnn.onnx")).unwrap();
    let mut model = ModelProto::parse_from_bytes(&bytes).unwrap();
    rewrite(model.graph.as_mut().unwrap());
    let path = dir.join("rewritten.onnx");
    std::fs::write(&path, model.write_to_bytes().unwrap()).unwrap();
    let mut args = vec!["train".to_string()];
    args.extend(data_args(&root()));
    args[2] = path.display().to_string();
    args.extend(["--out".into(), dir.join("out").display().to_string()]);
    run(args)
}

/// A model whose weights are all `Constant` nodes has no initializer to train: a one-line
/// error that says so, exit 2.
#[test]
fn a_model_without_trainable_initializers_is_refused() {
    use onnx_ir::{AttributeProto, AttributeType, NodeProto};
    let scratch = Scratch::new("cli-train-frozen");
    let output = train_rewritten(&scratch.0, |graph| {
        let constants: Vec<NodeProto> = std::mem::take(&mut graph.initializer)
            .into_iter()
            .map(|t| {
                let mut value = AttributeProto::new();
                value.name = "value".into();
                value.type_ = AttributeType::TENSOR.into();
                let mut node = NodeProto::new();
                node.op_type = "Constant".into();
                node.name = format!("const_{}", t.name);
                node.output = vec![t.name.clone()];
                value.t = Some(t).into();
                node.attribute = vec![value];
                node
            })
            .collect();
        let rest = std::mem::take(&mut graph.node);
        graph.node = constants.into_iter().chain(rest).collect();
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing to train"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Scores rounded to integers pass no gradient back to any weight: a one-line error naming
/// the cause, exit 2, instead of a run that trains nothing.
#[test]
fn a_graph_without_a_gradient_to_its_weights_is_refused() {
    use onnx_ir::NodeProto;
    let scratch = Scratch::new("cli-train-rounded");
    let output = train_rewritten(&scratch.0, |graph| {
        let output = graph.output[0].name.clone();
        for node in graph.node.iter_mut() {
            for o in node.output.iter_mut() {
                if *o == output {
                    *o = "unrounded".into();
                }
            }
        }
        let mut round = NodeProto::new();
        round.op_type = "Round".into();
        round.name = "round_scores".into();
        round.input = vec!["unrounded".into()];
        round.output = vec![output];
        graph.node.push(round);
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("epoch 1, batch 1") && stderr.contains("no weight receives a gradient"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The same command on a PyTorch-exported residual CNN with BatchNormalization (another
/// architecture, another input shape, four classes): it trains, the running statistics move,
/// and the audits run.
#[test]
fn harden_works_unchanged_on_a_residual_batchnorm_cnn() {
    let scratch = Scratch::new("cli-harden-resnet");
    let n = 96;
    let f = 3 * 8 * 8;
    // The class is the brightest quadrant: learnable, not linearly trivial.
    let x: Vec<f32> = (0..n * f)
        .map(|i| ((i * 2_654_435_761usize) % 1000) as f32 / 1000.0)
        .collect();
    let y: Vec<i64> = (0..n)
        .map(|s| {
            let row = &x[s * f..(s + 1) * f];
            let quadrant = |q: usize| -> f32 {
                (0..f)
                    .filter(|&i| {
                        let (r, c) = ((i % 64) / 8, i % 8);
                        (r / 4) * 2 + c / 4 == q
                    })
                    .map(|i| row[i])
                    .sum()
            };
            (0..4)
                .max_by(|&a, &b| quadrant(a).total_cmp(&quadrant(b)))
                .unwrap() as i64
        })
        .collect();
    let (xp, yp) = (scratch.0.join("x.npy"), scratch.0.join("y.npy"));
    gauntlet_core::data::write_npy_f32(&xp, &x, &[n, 3, 8, 8]).unwrap();
    gauntlet_core::data::write_npy_i64(&yp, &y).unwrap();
    let model = root().join("fixtures/train/resnet_bn_train.onnx");
    let out = scratch.0.join("out");
    let args: Vec<String> = [
        "harden",
        "--method",
        "pgd-at",
        "--eps",
        "0.03",
        "--steps",
        "3",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        xp.to_str().unwrap(),
        "--labels",
        yp.to_str().unwrap(),
        "--holdout",
        "16",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--audit-samples",
        "16",
        "--eval-steps",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let output = run(args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let before = Graph::parse(&std::fs::read(&model).unwrap(), "original").unwrap();
    let after = Graph::parse(&std::fs::read(out.join("model.onnx")).unwrap(), "hardened").unwrap();
    let values = |g: &Graph, name: &str| match &g.constants[name] {
        gauntlet_onnx::graph::HostTensor::Float { data, .. } => data.clone(),
        _ => panic!("{name} is not float"),
    };
    for name in [
        "bn.running_mean",
        "bn.running_var",
        "block.conv1.weight",
        "fc2.bias",
    ] {
        assert_ne!(
            values(&before, name),
            values(&after, name),
            "{name} did not change"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["method"], "pgd-at");
    assert_eq!(report["after"]["worst_case"].as_array().unwrap().len(), 4);
}
