//! The patch attack on the demo CNN and real digits: the reported success is what the model
//! answers on pictures patched independently of the library's placement code, and a run
//! stopped midway resumes to exactly the patch an uninterrupted run makes.

use std::cell::Cell;
use std::path::PathBuf;

use gauntlet_core::data::Dataset;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::predict;
use gauntlet_core::tensor::from_rows;
use gauntlet_onnx::OnnxModel;
use gauntlet_physical::optimize::{PatchLoss, Printability, Schedule};
use gauntlet_physical::palette::Palette;
use gauntlet_physical::per_picture::run_per_picture;
use gauntlet_physical::{Canvas, Eot, Goal, PatchJob, PatchSettings, Scene, Shape};
use gauntlet_run::progress::Silent;
use gauntlet_run::Progress;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-patch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The demo CNN and the demo digits.
fn demo() -> (OnnxModel, Dataset) {
    let model = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
    let data = Dataset::load(
        &root().join("data/mnist-demo/x.npy"),
        &root().join("data/mnist-demo/y.npy"),
    )
    .unwrap();
    (model, data)
}

/// Digits `from..to` of the demo set as a scene.
fn digits(data: &Dataset, from: usize, to: usize) -> Scene<'_> {
    let f = 784;
    Scene::new(
        CANVAS,
        &data.inputs[from * f..to * f],
        &data.labels[from..to],
        None,
    )
    .unwrap()
}

const CANVAS: Canvas = Canvas {
    channels: 1,
    height: 28,
    width: 28,
    bounds: (0.0, 1.0),
};

fn settings(steps: usize) -> PatchSettings {
    PatchSettings {
        shape: Shape::Square,
        size: 0.1,
        eot: Eot::parse("rotate=15,scale=0.8:1,translate").unwrap(),
        goal: Goal::Targeted(8),
        schedule: Schedule {
            steps,
            batch_size: 16,
            lr: 0.05,
            seed: 7,
            loss: PatchLoss::CrossEntropy,
        },
        draws: 2,
        printability: Printability::default(),
    }
}

/// Stops after a given number of progress steps, as Ctrl-C would.
struct StopAfter {
    left: Cell<i64>,
}

impl Progress for StopAfter {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, done: u64) {
        self.left.set(self.left.get() - done as i64);
    }
    fn end(&self) {}
    fn cancelled(&self) -> bool {
        self.left.get() <= 0
    }
}

#[test]
fn success_is_what_the_model_answers_on_independently_patched_pictures() {
    let (model, data) = demo();
    let f = 784;
    let train = digits(&data, 0, 100);
    let eval = digits(&data, 100, 200);
    let (eval_x, eval_y) = (eval.pictures, eval.labels);
    let out = scratch("recount");
    let job = PatchJob {
        model: &model,
        train: &train,
        eval: &eval,
        settings: settings(12),
        identity: serde_json::json!("test"),
        out: out.clone(),
        fresh: true,
    };
    let outcome = job.run(&Silent).unwrap();
    assert!(outcome.complete);
    // 10 % of 784 pixels: an 8 × 8 square (64 ≤ 78.4).
    assert_eq!((outcome.footprint.height, outcome.footprint.width), (8, 8));
    for patch in [
        &outcome.with_eot.patch,
        &outcome.without_eot.patch,
        &outcome.random,
    ] {
        assert_eq!(patch.len(), 64);
        assert!(patch.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    assert_ne!(outcome.with_eot.patch, outcome.without_eot.patch);

    // "fixed": upright, scale 1, in the middle — rows and columns 10..18, pixels copied.
    let fixed = &outcome.table[0];
    assert_eq!(fixed.setting, "fixed");
    let device = compute_device();
    let clean = predict(&model, from_rows(eval_x.to_vec(), 100, f, &device)).unwrap();
    let counted: Vec<usize> = (0..100)
        .filter(|&i| clean[i] == eval_y[i] && eval_y[i] != 8)
        .collect();
    assert_eq!(outcome.judged_pictures, counted.len());
    for (k, patch) in [
        &outcome.with_eot.patch,
        &outcome.without_eot.patch,
        &outcome.random,
    ]
    .into_iter()
    .enumerate()
    {
        let mut x = Vec::new();
        for &i in &counted {
            let mut picture = eval_x[i * f..(i + 1) * f].to_vec();
            for r in 0..8 {
                picture[(10 + r) * 28 + 10..(10 + r) * 28 + 18]
                    .copy_from_slice(&patch[r * 8..r * 8 + 8]);
            }
            x.extend(picture);
        }
        let answers = predict(&model, from_rows(x, counted.len(), f, &device)).unwrap();
        let hits = answers.iter().filter(|&&a| a == 8).count();
        // Every draw of the fixed setting is the same picture, so the share is exact.
        assert_eq!(fixed.trials, counted.len() * 2);
        let share = hits as f64 / counted.len() as f64;
        assert!(
            (fixed.success[k] - share).abs() < 1e-12,
            "patch {k}: {} vs {share}",
            fixed.success[k]
        );
    }
    // Every setting was judged for all three patches.
    assert!(outcome
        .table
        .iter()
        .all(|r| r.success.len() == 3 && r.trials == counted.len() * 2));
    assert!(!outcome.examples.is_empty() && outcome.examples[0].pictures.len() == 3);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_stopped_run_resumes_to_the_patch_of_an_uninterrupted_one() {
    let (model, data) = demo();
    let train = digits(&data, 0, 64);
    let eval = digits(&data, 64, 96);
    // More steps than one checkpoint interval, so the stop lands between checkpoints.
    let steps = 40;
    let run = |out: &PathBuf, fresh: bool, progress: &dyn Progress| {
        PatchJob {
            model: &model,
            train: &train,
            eval: &eval,
            settings: settings(steps),
            identity: serde_json::json!("resume"),
            out: out.clone(),
            fresh,
        }
        .run(progress)
        .unwrap()
    };
    let whole_dir = scratch("whole");
    let whole = run(&whole_dir, true, &Silent);
    let split_dir = scratch("split");
    let stopped = run(
        &split_dir,
        true,
        &StopAfter {
            left: Cell::new(31),
        },
    );
    assert!(!stopped.complete && stopped.table.is_empty());
    assert!(stopped.with_eot.step < steps);
    let resumed = run(&split_dir, false, &Silent);
    assert!(resumed.complete && resumed.resumed_steps > 0);
    assert_eq!(resumed.with_eot, whole.with_eot);
    assert_eq!(resumed.without_eot, whole.without_eot);
    for (a, b) in resumed.table.iter().zip(&whole.table) {
        assert_eq!(a.success, b.success);
    }
    // --fresh ignores the checkpoint.
    let again = run(&split_dir, true, &Silent);
    assert_eq!(again.resumed_steps, 0);
    let _ = std::fs::remove_dir_all(&whole_dir);
    let _ = std::fs::remove_dir_all(&split_dir);
}

#[test]
fn a_palette_pulls_the_patch_toward_it_and_the_printed_patch_is_judged_too() {
    let (model, data) = demo();
    let train = digits(&data, 0, 64);
    let eval = digits(&data, 64, 96);
    let palette = Palette::default_cube(1, (0.0, 1.0)).unwrap();
    let run = |nps: f32, tv: f32| {
        let out = scratch(&format!("palette-{nps}-{tv}"));
        let mut settings = settings(30);
        settings.printability = Printability {
            tv,
            nps,
            palette: Some(palette.clone()),
        };
        let outcome = PatchJob {
            model: &model,
            train: &train,
            eval: &eval,
            settings,
            identity: serde_json::json!("palette"),
            out: out.clone(),
            fresh: true,
        }
        .run(&Silent)
        .unwrap();
        let _ = std::fs::remove_dir_all(&out);
        outcome
    };
    let free = run(0.0, 0.0);
    let pulled = run(5.0, 0.0);
    let smoothed = run(0.0, 5.0);
    let columns: Vec<&str> = pulled.columns().iter().map(|c| c.0).collect();
    assert_eq!(columns, ["with_eot", "printed", "without_eot", "random"]);
    assert!(pulled.table.iter().all(|r| r.success.len() == 4));
    // The written patch is the snapped one: every pixel a palette colour.
    let printed = pulled.patch();
    assert!(printed
        .iter()
        .all(|v| palette.colours.iter().any(|c| (c[0] - v).abs() < 1e-6)));
    // The penalties do their job: closer to the palette and smoother than without them.
    let opacity = &pulled.footprint.opacity;
    let nps = |p: &[f32]| palette.score(p, opacity).0;
    let tv = |p: &[f32]| gauntlet_physical::smoothness::total_variation(p, opacity, 8, 8).0;
    assert!(nps(&pulled.with_eot.patch) < nps(&free.with_eot.patch));
    assert!(tv(&smoothed.with_eot.patch) < tv(&free.with_eot.patch));
}

#[test]
fn per_picture_patches_add_up_and_resume_picture_by_picture() {
    let (model, data) = demo();
    let f = 784;
    let scene = digits(&data, 0, 12);
    let mut settings = settings(8);
    settings.schedule.batch_size = 4;
    let run = |out: &PathBuf, fresh: bool, progress: &dyn Progress| {
        run_per_picture(
            &PatchJob {
                model: &model,
                train: &scene,
                eval: &scene,
                settings: settings.clone(),
                identity: serde_json::json!("per-picture"),
                out: out.clone(),
                fresh,
            },
            progress,
        )
        .unwrap()
    };
    let whole_dir = scratch("pp-whole");
    let whole = run(&whole_dir, true, &Silent);
    assert!(whole.complete);
    // Every correctly classified digit that is not an 8 got its own patch.
    let clean = predict(
        &model,
        from_rows(data.inputs[..12 * f].to_vec(), 12, f, &compute_device()),
    )
    .unwrap();
    let expected: Vec<usize> = (0..12)
        .filter(|&i| clean[i] == data.labels[i] && data.labels[i] != 8)
        .collect();
    let indices: Vec<usize> = whole.per_picture.iter().map(|r| r.index).collect();
    assert_eq!(indices, expected);
    assert_ne!(whole.per_picture[0].patch, whole.per_picture[1].patch);
    // The table is the pictures' hits over their trials.
    for (k, row) in whole.table.iter().enumerate() {
        let trials: usize = whole.per_picture.iter().map(|r| r.trials[k]).sum();
        assert_eq!(row.trials, trials);
        assert_eq!(trials, expected.len() * 2);
        for c in 0..row.success.len() {
            let hits: usize = whole.per_picture.iter().map(|r| r.hits[k][c]).sum();
            assert!((row.success[c] - hits as f64 / trials as f64).abs() < 1e-12);
        }
    }
    // Stopped after three pictures, then resumed: the same pictures, patches and table.
    let split_dir = scratch("pp-split");
    let stopped = run(&split_dir, true, &StopAfter { left: Cell::new(3) });
    assert!(!stopped.complete && stopped.per_picture.len() == 3);
    let resumed = run(&split_dir, false, &Silent);
    assert!(resumed.complete && resumed.resumed_steps == 3);
    assert_eq!(resumed.per_picture, whole.per_picture);
    for (a, b) in resumed.table.iter().zip(&whole.table) {
        assert_eq!(a.success, b.success);
    }
    let _ = std::fs::remove_dir_all(&whole_dir);
    let _ = std::fs::remove_dir_all(&split_dir);
}
