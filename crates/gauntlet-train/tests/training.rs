//! The training engine against references it could fail: PyTorch's own training steps,
//! central differences of the weight gradients, a written file that reloads identically, a
//! resumed run that repeats an uninterrupted one, and a short run that learns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_core::data::Dataset;
use gauntlet_core::device::{autodiff_device, compute_device};
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_onnx::training::Pass;
use gauntlet_onnx::OnnxModel;
use gauntlet_run::progress::Silent;
use gauntlet_train::export::with_initializers;
use gauntlet_train::method::FastStart;
use gauntlet_train::parameters::{Parameters, Role};
use gauntlet_train::{
    Checkpoint, EpochEnd, Method, OptimizerKind, Schedule, TrainSettings, Trainer,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn settings(method: Method, optimizer: OptimizerKind, lr: f32) -> TrainSettings {
    TrainSettings {
        method,
        epochs: 1,
        batch_size: 8,
        lr,
        optimizer,
        schedule: Schedule::Constant,
        seed: 7,
        from_scratch: false,
        norm: Norm::Linf,
        bounds: Bounds::default(),
        eval_steps: 0,
        eps_warmup: 0.0,
        collapse_drop: 0.3,
    }
}

/// A folder removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("gauntlet-train-{name}-{}", std::process::id()));
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

#[test]
fn two_training_steps_match_pytorch_with_every_optimizer() {
    let dir = root().join("fixtures/train");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("step_reference.json")).unwrap()).unwrap();
    let model = OnnxModel::load(&dir.join("resnet_bn_train.onnx")).unwrap();
    let x: Vec<f32> = reference["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let y: Vec<i64> = reference["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let n = y.len();
    let f = x.len() / n;
    let cases = [
        ("sgd", 0.05, Some(5e-4)),
        ("nesterov", 0.05, Some(5e-4)),
        ("adam", 0.01, Some(0.0)),
        ("adamw", 0.01, Some(0.01)),
    ];
    for (name, lr, decay) in cases {
        let kind = OptimizerKind::parse(name, decay).unwrap();
        let mut trainer = Trainer::new(&model, settings(Method::Plain, kind, lr)).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let expected = &reference["optimizers"][name];
        for step in 0..2 {
            let batch = from_rows(x.clone(), n, f, &compute_device());
            let (loss, _) = trainer.step(batch, &y, lr, 0, &mut rng).unwrap();
            let torch_loss = expected["losses"][step].as_f64().unwrap() as f32;
            assert!(
                (loss - torch_loss).abs() < 1e-5 * torch_loss.abs().max(1.0),
                "{name} step {step}: loss {loss} vs PyTorch {torch_loss}"
            );
        }
        let values = trainer.values();
        let mut worst = 0f32;
        for (init, torch) in expected["values"].as_object().unwrap() {
            let ours = &values[init];
            let torch: Vec<f32> = torch
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(ours.len(), torch.len(), "{init}");
            let scale = torch.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
            for (a, b) in ours.iter().zip(&torch) {
                worst = worst.max((a - b).abs() / scale);
            }
        }
        // Every initializer of this model is a weight or a running statistic: all compared.
        assert_eq!(values.len(), expected["values"].as_object().unwrap().len());
        eprintln!("{name}: worst difference from PyTorch {worst:.2e} of the tensor's scale");
        assert!(worst < 1e-4, "{name}: worst relative difference {worst:e}");
    }
}

#[test]
fn weights_and_running_statistics_are_found_by_where_they_are_read() {
    let model = OnnxModel::load(&root().join("fixtures/train/resnet_bn_train.onnx")).unwrap();
    let p = Parameters::discover(model.graph());
    let role = |name: &str| p.list.iter().find(|q| q.name == name).map(|q| q.role);
    assert_eq!(role("stem.weight"), Some(Role::ConvWeight));
    assert_eq!(role("fc1.bias"), Some(Role::Bias));
    assert_eq!(role("bn.weight"), Some(Role::Scale));
    assert_eq!(role("bn.bias"), Some(Role::Shift));
    assert_eq!(role("bn.running_mean"), Some(Role::RunningMean));
    assert_eq!(role("bn.running_var"), Some(Role::RunningVar));
    assert_eq!(role("fc1.weight"), Some(Role::MatrixWeight));
    // Gemm with transB: [out, in].
    let fc1 = p.list.iter().find(|q| q.name == "fc1.weight").unwrap();
    assert_eq!((fc1.fan_in, fc1.fan_out), (96, 16));
}

/// d(Σ cross-entropy)/d(weight) by the tape against central differences, in double
/// precision, for a few coordinates of every trainable tensor, in both forms (running and
/// batch statistics).
#[test]
fn weight_gradients_match_central_differences() {
    for file in [
        "fixtures/train/resnet_bn_train.onnx",
        "models/mnist_cnn.onnx",
    ] {
        let model = OnnxModel::load(&root().join(file))
            .unwrap()
            .with_double_precision();
        let parameters = Parameters::discover(model.graph());
        let f = model.features();
        let n = 3;
        let x: Vec<f64> = (0..n * f)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0)
            .collect();
        let labels = [0usize, 1, 2];
        let classes = model.num_classes();
        for train in [false, true] {
            let loss = |values: &HashMap<String, Vec<f64>>, tracked: bool| {
                let device = if tracked {
                    autodiff_device()
                } else {
                    compute_device()
                };
                let tensors: HashMap<String, Tensor<1>> = values
                    .iter()
                    .map(|(k, v)| {
                        let t = Tensor::<1>::from_data(
                            TensorData::new(v.clone(), [v.len()]),
                            (&device, DType::F64),
                        );
                        (k.clone(), if tracked { t.require_grad() } else { t })
                    })
                    .collect();
                let input = Tensor::<2>::from_data(
                    TensorData::new(x.clone(), [n, f]),
                    (&compute_device(), DType::F64),
                );
                let pass = Pass {
                    parameters: &tensors,
                    train,
                    seed: 0,
                };
                let (logits, _) = model.forward(input, &pass).unwrap();
                let logp = burn::tensor::activation::log_softmax(logits, 1);
                let mut onehot = vec![0f64; n * classes];
                for (i, &l) in labels.iter().enumerate() {
                    onehot[i * classes + l] = 1.0;
                }
                let onehot = Tensor::<2>::from_data(
                    TensorData::new(onehot, [n, classes]),
                    (&compute_device(), DType::F64),
                );
                ((logp * onehot).sum().neg(), tensors)
            };
            let values: HashMap<String, Vec<f64>> = parameters
                .list
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.values.iter().map(|&v| f64::from(v)).collect(),
                    )
                })
                .collect();
            let (l, tensors) = loss(&values, true);
            let grads = l.backward();
            for p in parameters.trainable() {
                let g: Vec<f64> = tensors[&p.name]
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .convert::<f64>()
                    .try_to_vec()
                    .unwrap();
                let count = p.values.len();
                for k in [0, count / 2, count - 1] {
                    let h = 1e-5;
                    let mut plus = values.clone();
                    plus.get_mut(&p.name).unwrap()[k] += h;
                    let mut minus = values.clone();
                    minus.get_mut(&p.name).unwrap()[k] -= h;
                    let value = |v: &HashMap<String, Vec<f64>>| -> f64 {
                        loss(v, false)
                            .0
                            .into_data()
                            .convert::<f64>()
                            .try_to_vec::<f64>()
                            .unwrap()[0]
                    };
                    let numeric = (value(&plus) - value(&minus)) / (2.0 * h);
                    let err = (numeric - g[k]).abs() / numeric.abs().max(g[k].abs()).max(1e-4);
                    assert!(
                        err < 1e-5,
                        "{file} (train {train}) {}[{k}]: tape {} vs differences {numeric}",
                        p.name,
                        g[k]
                    );
                }
            }
        }
    }
}

#[test]
fn a_written_model_reloads_identically_and_keeps_the_graph() {
    let path = root().join("models/mnist_cnn.onnx");
    let original = std::fs::read(&path).unwrap();
    let model = OnnxModel::load(&path).unwrap();
    let data = Dataset::load(
        &root().join("data/mnist-demo/x.npy"),
        &root().join("data/mnist-demo/y.npy"),
    )
    .unwrap();
    let kind = OptimizerKind::parse("adam", None).unwrap();
    let mut trainer = Trainer::new(&model, settings(Method::Plain, kind, 1e-3)).unwrap();
    let idx: Vec<usize> = (0..16).collect();
    let x = from_rows(data.rows(&idx), 16, data.features(), &compute_device());
    let labels: Vec<i64> = idx.iter().map(|&i| data.labels[i]).collect();
    trainer
        .step(x.clone(), &labels, 1e-3, 0, &mut StdRng::seed_from_u64(0))
        .unwrap();
    let metadata = vec![("gauntlet.method".to_string(), "plain".to_string())];
    let bytes = with_initializers(&original, &trainer.values(), &metadata).unwrap();
    let reloaded = OnnxModel::from_bytes(&bytes, "trained", None).unwrap();
    let trained = to_vec(trainer.current_model().logits(x.clone()).unwrap());
    let from_file = to_vec(reloaded.logits(x.clone()).unwrap());
    assert_eq!(
        trained, from_file,
        "the written weights must be exactly the trained ones"
    );
    assert_ne!(
        from_file,
        to_vec(model.logits(x).unwrap()),
        "the step changed nothing"
    );
    // Same graph, names and opset; provenance added.
    use onnx_ir::Message;
    let a = onnx_ir::ModelProto::parse_from_bytes(&original).unwrap();
    let b = onnx_ir::ModelProto::parse_from_bytes(&bytes).unwrap();
    let (ga, gb) = (a.graph.as_ref().unwrap(), b.graph.as_ref().unwrap());
    assert_eq!(ga.node, gb.node);
    assert_eq!(ga.input, gb.input);
    assert_eq!(ga.output, gb.output);
    assert_eq!(a.opset_import, b.opset_import);
    let names = |g: &onnx_ir::GraphProto| {
        g.initializer
            .iter()
            .map(|i| i.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(ga), names(gb));
    assert!(b
        .metadata_props
        .iter()
        .any(|e| e.key == "gauntlet.method" && e.value == "plain"));
}

/// A small fast-AT run on the BatchNorm + residual fixture: the model, its file, the data
/// (32 training samples, 8 held out) and settings.
struct FastAtRun {
    model: OnnxModel,
    original: Vec<u8>,
    data: Dataset,
    train: Vec<usize>,
    holdout: Vec<usize>,
    settings: TrainSettings,
}

fn fast_at_run(start: FastStart, alpha: f32) -> FastAtRun {
    let path = root().join("fixtures/train/resnet_bn_train.onnx");
    let original = std::fs::read(&path).unwrap();
    let model = OnnxModel::load(&path).unwrap();
    let f = model.features();
    let n = 40;
    let inputs: Vec<f32> = (0..n * f)
        .map(|i| ((i * 7919) % 997) as f32 / 997.0)
        .collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 4).collect();
    let mut shape = vec![n];
    shape.extend(model.sample_shape());
    let data = Dataset::from_parts(inputs, shape, labels, "test".into()).unwrap();
    let mut s = settings(
        Method::FastAt {
            eps: 0.1,
            alpha,
            start,
        },
        OptimizerKind::parse("sgd", None).unwrap(),
        0.05,
    );
    s.epochs = 2;
    s.eval_steps = 2;
    s.schedule = Schedule::parse("one-cycle").unwrap();
    FastAtRun {
        model,
        original,
        data,
        train: (0..32).collect(),
        holdout: (32..40).collect(),
        settings: s,
    }
}

#[test]
fn a_resumed_run_repeats_an_uninterrupted_one() {
    // With carried perturbations, the checkpoint must hold them too.
    for start in [FastStart::Random, FastStart::Previous] {
        let run = fast_at_run(start, 0.125);
        let (model, data, s) = (&run.model, &run.data, &run.settings);
        let (train, holdout) = (&run.train, &run.holdout);
        let mut straight = Trainer::new(model, s.clone()).unwrap();
        for _ in 0..2 {
            assert_eq!(
                straight.epoch(data, train, holdout, &Silent).unwrap(),
                EpochEnd::Continue
            );
        }

        let scratch = Scratch::new("resume");
        let checkpoint = Checkpoint::new(&scratch.0.join("checkpoint"), "run-1");
        let mut first = Trainer::new(model, s.clone()).unwrap();
        first.epoch(data, train, holdout, &Silent).unwrap();
        checkpoint.save(&first, &run.original).unwrap();
        drop(first);
        let mut resumed = Trainer::new(model, s.clone()).unwrap();
        assert!(checkpoint.resume(&mut resumed).unwrap());
        assert_eq!(resumed.epochs_done(), 1);
        resumed.epoch(data, train, holdout, &Silent).unwrap();
        assert_eq!(resumed.values(), straight.values(), "{start:?}");
        for i in 0..data.len() {
            assert_eq!(
                resumed.carried_perturbation(i),
                straight.carried_perturbation(i),
                "{start:?}, sample {i}"
            );
        }
        // The same figures, but for the timings.
        let figures = |t: &Trainer| -> Vec<(f32, f32, f32, Option<f32>)> {
            t.history()
                .iter()
                .map(|r| {
                    (
                        r.loss,
                        r.train_accuracy,
                        r.clean_accuracy,
                        r.robust_accuracy,
                    )
                })
                .collect()
        };
        assert_eq!(figures(&resumed), figures(&straight), "{start:?}");
        // Another run's checkpoint is refused.
        let other = Checkpoint::new(&scratch.0.join("checkpoint"), "run-2");
        let mut t = Trainer::new(model, s.clone()).unwrap();
        let err = other.resume(&mut t).unwrap_err().to_string();
        assert!(err.contains("another run"), "{err}");
    }
}

/// Fast-AT with `start: Previous` starts each sample's step where its perturbation ended in
/// the previous epoch: with a step of α, the second epoch's perturbation is within α of the
/// first's (a fresh random start would move it by up to 2ε); both stay in the ball and the
/// box, and held-out samples are never perturbed.
#[test]
fn fast_at_carries_each_samples_perturbation_to_the_next_epoch() {
    let (eps, alpha) = (0.1f32, 0.01f32);
    let run = fast_at_run(FastStart::Previous, alpha);
    let mut trainer = Trainer::new(&run.model, run.settings.clone()).unwrap();
    trainer
        .epoch(&run.data, &run.train, &run.holdout, &Silent)
        .unwrap();
    let first: Vec<Vec<f32>> = run
        .train
        .iter()
        .map(|&i| {
            trainer
                .carried_perturbation(i)
                .expect("trained on")
                .to_vec()
        })
        .collect();
    trainer
        .epoch(&run.data, &run.train, &run.holdout, &Silent)
        .unwrap();
    let f = run.data.features();
    let mut moved = 0f32;
    for (&i, before) in run.train.iter().zip(&first) {
        let after = trainer.carried_perturbation(i).unwrap();
        let x = &run.data.rows(&[i]);
        for k in 0..f {
            assert!(after[k].abs() <= eps + 1e-6, "sample {i}: outside the ball");
            let v = x[k] + after[k];
            assert!(
                (-1e-6..=1.0 + 1e-6).contains(&v),
                "sample {i}: outside the box"
            );
            let step = (after[k] - before[k]).abs();
            assert!(
                step <= alpha + 1e-5,
                "sample {i}, value {k}: moved {step} > α"
            );
            moved = moved.max(step);
        }
    }
    assert!(
        moved > alpha / 2.0,
        "the perturbations did not move: {moved}"
    );
    for &i in &run.holdout {
        assert!(trainer.carried_perturbation(i).is_none());
    }
    // With a random start each epoch the perturbations are not carried: they move by far
    // more than α.
    let run = fast_at_run(FastStart::Random, alpha);
    let mut trainer = Trainer::new(&run.model, run.settings.clone()).unwrap();
    trainer
        .epoch(&run.data, &run.train, &run.holdout, &Silent)
        .unwrap();
    assert!(trainer.carried_perturbation(run.train[0]).is_none());
}

#[test]
fn a_short_run_from_scratch_learns_the_digits() {
    let path = root().join("models/mnist_cnn.onnx");
    let model = OnnxModel::load(&path).unwrap();
    let data = Dataset::load(
        &root().join("data/mnist-demo/x.npy"),
        &root().join("data/mnist-demo/y.npy"),
    )
    .unwrap();
    let n = data.len();
    let train: Vec<usize> = (0..n - 200).collect();
    let holdout: Vec<usize> = (n - 200..n).collect();
    let mut s = settings(
        Method::Plain,
        OptimizerKind::parse("adam", None).unwrap(),
        2e-3,
    );
    s.from_scratch = true;
    s.epochs = 3;
    s.batch_size = 32;
    let mut trainer = Trainer::new(&model, s).unwrap();
    let (before, _) = trainer.evaluate(&data, &holdout).unwrap();
    for _ in 0..3 {
        trainer.epoch(&data, &train, &holdout, &Silent).unwrap();
    }
    let h = trainer.history();
    assert!(h[2].loss < h[0].loss, "{h:?}");
    assert!(
        before < 0.3,
        "fresh weights should be near chance, got {before}"
    );
    assert!(h[2].clean_accuracy > 0.8, "{h:?}");
}

/// Dropout in training form drops about its ratio of values and scales the rest by
/// 1 / (1 − ratio), reproducibly for a seed; in inference form it is the identity.
#[test]
fn dropout_drops_and_rescales_only_while_training() {
    let model = OnnxModel::load(&root().join("fixtures/train/dropout.onnx")).unwrap();
    let parameters = Parameters::discover(model.graph());
    // The two matrices are weights; the ratio is a constant.
    assert_eq!(parameters.trainable().count(), 2);
    let n = 256;
    let x: Vec<f32> = (0..n * 8)
        .map(|i| ((i * 37) % 101) as f32 / 101.0)
        .collect();
    let batch = from_rows(x, n, 8, &compute_device());
    let empty = HashMap::new();
    let run = |train: bool, seed: u64| {
        let pass = Pass {
            parameters: &empty,
            train,
            seed,
        };
        to_vec(model.forward(batch.clone(), &pass).unwrap().0)
    };
    let eval = run(false, 0);
    assert_eq!(eval, to_vec(model.logits(batch.clone()).unwrap()));
    let (a, b, c) = (run(true, 1), run(true, 1), run(true, 2));
    assert_eq!(a, b, "same seed, same mask");
    assert_ne!(a, c, "another seed, another mask");
    // Averaged over many masks the logits approach the inference ones (inverted dropout).
    let masks = 200;
    let mut mean = vec![0f32; eval.len()];
    for seed in 0..masks {
        for (m, v) in mean.iter_mut().zip(run(true, seed)) {
            *m += v / masks as f32;
        }
    }
    let scale = eval.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = mean
        .iter()
        .zip(&eval)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst < 0.25 * scale,
        "mean over masks {worst} from inference (scale {scale})"
    );
}
