//! `gauntlet patch`: flags → a [`PatchJob`] → the patch, its success table and the report.
//! Ctrl-C stops after the step in hand and checkpoints; the same command resumes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use gauntlet_audit::mask::load_mask;
use gauntlet_audit::target::onnx_info;
use gauntlet_audit::OnnxOptions;
use gauntlet_core::data::{parse_inputs, read_maybe_gz, Dataset};
use gauntlet_core::model::Classifier;
use gauntlet_physical::optimize::{PatchLoss, Printability, Schedule};
use gauntlet_physical::palette::Palette;
use gauntlet_physical::per_picture::run_per_picture;
use gauntlet_physical::report::{write_patch_report, PatchManifest};
use gauntlet_physical::{Canvas, Eot, Goal, PatchJob, PatchSettings, Scene, Shape};
use gauntlet_report::DataInfo;

use crate::audit::redact_command;
use crate::certify::parse_shape;
use crate::progress::{interrupted, Bar};

/// The flags of `gauntlet patch`.
#[derive(Args, Debug, Clone)]
pub struct PatchArgs {
    /// The ONNX image classifier.
    #[arg(long)]
    pub model: PathBuf,
    /// Pictures the patch is made on: .npy (float32 N×C×H×W in [0,1]; uint8 is scaled) or IDX.
    #[arg(long)]
    pub inputs: PathBuf,
    /// Their labels: .npy integer class indices or IDX.
    #[arg(long)]
    pub labels: PathBuf,
    /// Held-out pictures the patch is judged on [a --holdout share of --inputs].
    #[arg(long, requires = "eval_labels")]
    pub eval_inputs: Option<PathBuf>,
    /// Labels of --eval-inputs.
    #[arg(long, requires = "eval_inputs")]
    pub eval_labels: Option<PathBuf>,
    /// One patch per picture of --inputs (glasses made for one wearer), each optimized and
    /// judged on its own picture under the EOT draws; no holdout, no --eval-inputs.
    #[arg(long, conflicts_with_all = ["eval_inputs", "eval_labels", "eval_placement"])]
    pub per_picture: bool,
    /// Without --eval-inputs: the share of --inputs (the last ones) held out for judging.
    #[arg(long, default_value_t = 0.5)]
    pub holdout: f64,
    /// Where the patch may go on each training picture: .npy N×H×W (non-zero: allowed), e.g.
    /// the sign's pixels, or one PNG for every picture (white: allowed); --size is then a share
    /// of that region.
    #[arg(long)]
    pub placement: Option<PathBuf>,
    /// The same for --eval-inputs.
    #[arg(long, requires = "eval_inputs")]
    pub eval_placement: Option<PathBuf>,
    /// Attack only pictures of this class (the stop signs), in both sets.
    #[arg(long)]
    pub source_class: Option<i64>,
    /// Class the patch should make the model answer [untargeted: anything but the true class].
    #[arg(long)]
    pub target_class: Option<i64>,
    /// Patch area as a share of the picture (or of its --placement region).
    #[arg(long, default_value_t = 0.1)]
    pub size: f64,
    /// Outline: square, circle, or a PNG (white where the sticker is).
    #[arg(long, default_value = "square")]
    pub shape: String,
    /// Random conditions the patch must survive: rotate=DEG, scale=MIN:MAX, translate,
    /// brightness=B, contrast=C, blur=SIGMA, perspective=P (comma-separated), or none.
    #[arg(long, default_value = "rotate=22.5,scale=0.7:1.0,translate")]
    pub eot: String,
    /// Adam steps of each optimized patch.
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    /// Pictures (each under its own random condition) per step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Adam's learning rate (a share of the valid range per step).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// What each step minimizes: ce (cross-entropy, as Brown et al.) or margin (a hinge on the
    /// logit margin: fooled pictures stop pulling on the patch).
    #[arg(long, default_value = "ce")]
    pub loss: String,
    /// The margin loss's κ: a picture fooled by this many logits counts as done.
    #[arg(long, default_value_t = 5.0)]
    pub kappa: f32,
    /// Weight of the total-variation penalty: a smooth patch survives printing and camera blur.
    #[arg(long, default_value_t = 0.0)]
    pub tv: f32,
    /// Printable colours: default (a 27-colour RGB cube) or a file of 'r g b' lines (0–255,
    /// e.g. measured from your printer); the written patch is snapped onto them and judged
    /// both ways.
    #[arg(long, value_name = "default|FILE")]
    pub palette: Option<String>,
    /// Weight of the non-printability score against --palette while the patch is made.
    #[arg(long, default_value_t = 0.0)]
    pub nps: f32,
    /// Random conditions per held-out picture and setting.
    #[arg(long, default_value_t = 10)]
    pub draws: usize,
    /// Judge only the first K held-out pictures.
    #[arg(long, value_name = "K")]
    pub eval_samples: Option<usize>,
    /// Seed of every draw (recorded in the report).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Per-picture input shape, when the ONNX file does not declare it (e.g. 1,28,28).
    #[arg(long)]
    pub input_shape: Option<String>,
    /// Output folder.
    #[arg(long, default_value = "gauntlet-patch")]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Start afresh instead of resuming from the checkpoint an interrupted run left in --out.
    #[arg(long)]
    pub fresh: bool,
}

/// Reads N placement masks of `height × width` (any non-zero value: allowed) from a `.npy`, or
/// one region for every picture from a PNG (white: allowed), as `--mask` reads it.
fn load_regions(path: &Path, n: usize, height: usize, width: usize) -> Result<Vec<bool>> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        let plane = load_mask(path, &[1, height, width])
            .map_err(|e| anyhow::anyhow!(e.to_string().replace("`mask`", "--placement")))?;
        let region: Vec<bool> = plane.iter().map(|&v| v > 0.5).collect();
        return Ok(region.repeat(n));
    }
    let bytes = read_maybe_gz(path)?;
    let (values, shape) = parse_inputs(&bytes, path)?;
    let plane = height * width;
    if shape.first() != Some(&n) || values.len() != n * plane {
        bail!(
            "--placement {} has shape {shape:?}, but the {n} pictures need {n}×{height}×{width} \
             (one mask per picture, non-zero where the patch may go)",
            path.display()
        );
    }
    Ok(values.iter().map(|&v| v > 0.0).collect())
}

/// Keeps the pictures of `class` (all when `None`) and their regions.
fn of_class(
    data: Dataset,
    regions: Option<Vec<bool>>,
    class: Option<i64>,
    plane: usize,
    what: &str,
) -> Result<(Dataset, Option<Vec<bool>>)> {
    let Some(class) = class else {
        return Ok((data, regions));
    };
    let keep: Vec<usize> = (0..data.len())
        .filter(|&i| data.labels[i] == class)
        .collect();
    if keep.is_empty() {
        bail!("--source-class {class}: {what} hold no picture of that class");
    }
    let regions = regions.map(|r| {
        keep.iter()
            .flat_map(|&i| r[i * plane..(i + 1) * plane].iter().copied())
            .collect()
    });
    Ok((data.subset(&keep), regions))
}

/// Runs `gauntlet patch`.
pub fn run(args: PatchArgs) -> Result<ExitCode> {
    let shape = Shape::parse(&args.shape)?;
    let eot = Eot::parse(&args.eot)?;
    if !(args.holdout > 0.0 && args.holdout < 1.0) {
        bail!(
            "--holdout {} must be a share in (0, 1), e.g. 0.5",
            args.holdout
        );
    }
    let options = OnnxOptions {
        input_shape: args.input_shape.as_deref().map(parse_shape).transpose()?,
        ..OnnxOptions::default()
    };
    let model = options.load(&args.model)?;
    let load = |inputs: &Path, labels: &Path| -> Result<Dataset> {
        let mut data = Dataset::load(inputs, labels)?;
        if data.sample_shape == model.layout().from_channels_first(model.sample_shape()) {
            data = data.into_channels_first(model.layout());
        }
        Ok(data)
    };
    let sample_shape = model.sample_shape().to_vec();
    let [channels, height, width] = sample_shape[..] else {
        bail!(
            "a patch needs image inputs (channels × height × width), but the model reads samples \
             of shape {sample_shape:?}; pass --input-shape if the ONNX file does not declare it"
        );
    };
    let plane = height * width;
    let train_all = load(&args.inputs, &args.labels)?;
    let train_regions = args
        .placement
        .as_deref()
        .map(|p| load_regions(p, train_all.len(), height, width))
        .transpose()?;
    // The class first, so that a holdout splits the pictures that are attacked.
    let (train_all, mut train_regions) = of_class(
        train_all,
        train_regions,
        args.source_class,
        plane,
        "--inputs",
    )?;
    let (train, eval, eval_regions) = match (&args.eval_inputs, &args.eval_labels) {
        (Some(inputs), Some(labels)) => {
            let eval = load(inputs, labels)?;
            let regions = args
                .eval_placement
                .as_deref()
                .map(|p| load_regions(p, eval.len(), height, width))
                .transpose()?;
            let (eval, regions) =
                of_class(eval, regions, args.source_class, plane, "--eval-inputs")?;
            (train_all, eval, regions)
        }
        _ if args.per_picture => {
            let (eval, regions) = (train_all.clone(), train_regions.clone());
            (train_all, eval, regions)
        }
        _ => {
            let n = train_all.len();
            let held = ((n as f64) * args.holdout).round() as usize;
            if held == 0 || held == n {
                bail!(
                    "--holdout {} of {n} pictures leaves nothing to make or to judge the patch on; \
                     give more pictures or --eval-inputs",
                    args.holdout
                );
            }
            let cut = n - held;
            let first: Vec<usize> = (0..cut).collect();
            let last: Vec<usize> = (cut..n).collect();
            let eval_regions = train_regions.as_ref().map(|r| r[cut * plane..].to_vec());
            if let Some(r) = train_regions.as_mut() {
                r.truncate(cut * plane);
            }
            (
                train_all.subset(&first),
                train_all.subset(&last),
                eval_regions,
            )
        }
    };
    let (mut eval, mut eval_regions) = (eval, eval_regions);
    if let Some(k) = args.eval_samples {
        if k == 0 {
            bail!("--eval-samples must be at least 1");
        }
        eval.truncate(k);
        if let Some(r) = eval_regions.as_mut() {
            r.truncate(eval.len() * height * width);
        }
    }
    let (lo, hi) = train.value_range();
    let (elo, ehi) = eval.value_range();
    let bounds = (0.0f32.min(lo).min(elo), 1.0f32.max(hi).max(ehi));
    let canvas = Canvas {
        channels,
        height,
        width,
        bounds,
    };
    for (name, data) in [("--inputs", &train), ("--eval-inputs", &eval)] {
        if data.features() != canvas.features() {
            bail!(
                "{name} holds pictures of shape {:?}, but the model reads {sample_shape:?}",
                data.sample_shape
            );
        }
    }
    let train_scene = Scene::new(
        canvas,
        &train.inputs,
        &train.labels,
        train_regions.as_deref(),
    )?;
    let eval_scene = Scene::new(canvas, &eval.inputs, &eval.labels, eval_regions.as_deref())?;
    let settings = PatchSettings {
        shape,
        size: args.size,
        eot,
        goal: args.target_class.map_or(Goal::Untargeted, Goal::Targeted),
        schedule: Schedule {
            steps: args.steps,
            batch_size: args.batch_size,
            lr: args.lr,
            seed: args.seed,
            loss: PatchLoss::parse(&args.loss, args.kappa)?,
        },
        draws: args.draws,
        printability: Printability {
            tv: args.tv,
            nps: args.nps,
            palette: match args.palette.as_deref() {
                None => None,
                Some("default") => Some(Palette::default_cube(channels, bounds)?),
                Some(path) => Some(Palette::from_file(Path::new(path), channels, bounds)?),
            },
        },
    };
    settings.check(model.num_classes())?;
    let job = PatchJob {
        model: &model,
        train: &train_scene,
        eval: &eval_scene,
        settings: settings.clone(),
        identity: serde_json::json!({
            "model": model.sha256(),
            "train": train.sha256,
            "eval": eval.sha256,
            "train_samples": train.len(),
            "eval_samples": eval.len(),
            "regions": [train_regions.is_some(), eval_regions.is_some()],
            "source_class": args.source_class,
            "holdout": args.holdout,
            "per_picture": args.per_picture,
        }),
        out: args.out.clone(),
        fresh: args.fresh,
    };
    let progress = Bar::new(args.quiet);
    let outcome = if args.per_picture {
        run_per_picture(&job, &progress)?
    } else {
        job.run(&progress)?
    };
    if outcome.resumed_steps > 0 && !args.quiet {
        let (what, file) = if args.per_picture {
            ("pictures", gauntlet_physical::per_picture::JOURNAL_FILE)
        } else {
            ("steps", gauntlet_physical::job::CHECKPOINT_FILE)
        };
        eprintln!(
            "resumed {} finished {what} from {} (pass --fresh to recompute)",
            outcome.resumed_steps,
            args.out.join(file).display()
        );
    }
    let data_info = |inputs: &Path, labels: &Path, sha: &str| DataInfo {
        inputs: inputs.display().to_string(),
        labels: labels.display().to_string(),
        sha256: sha.to_string(),
    };
    let manifest = PatchManifest {
        gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
        command: redact_command(std::env::args().collect()),
        seed: args.seed,
        model: onnx_info(
            &model,
            &args.model.display().to_string(),
            "white-box (ONNX)",
        ),
        train_data: data_info(&args.inputs, &args.labels, &train.sha256),
        eval_data: match (&args.eval_inputs, &args.eval_labels) {
            (Some(i), Some(l)) => data_info(i, l, &eval.sha256),
            _ => data_info(&args.inputs, &args.labels, &eval.sha256),
        },
    };
    let written = write_patch_report(&args.out, &manifest, &settings, &canvas, &outcome)
        .context("writing the patch report")?;
    if !outcome.complete || interrupted() {
        eprintln!(
            "interrupted: the patches so far are in {} (status: incomplete); rerun the same \
             command to resume",
            args.out.display()
        );
        return Ok(ExitCode::from(2));
    }
    if !args.quiet {
        println!(
            "\n{} held-out pictures × {} conditions each; success (model answers as the attacker wants):\n",
            outcome.judged_pictures, args.draws
        );
        // One column per patch compared, as wide as its label (a palette adds one).
        let columns = outcome.columns();
        let widths: Vec<usize> = columns.iter().map(|c| c.1.len().max(7)).collect();
        print!("{:<48}", "setting");
        for (c, w) in columns.iter().zip(&widths) {
            print!("  {:>w$}", c.1);
        }
        println!();
        for row in &outcome.table {
            print!("{:<48}", row.setting);
            for (share, w) in row.success.iter().zip(&widths) {
                print!("  {:>w$}", format!("{:.1}%", 100.0 * share));
            }
            println!();
        }
        println!("\npatch:  {}", written.png.display());
        println!("report: {}", written.json.display());
        println!("        {}", written.html.display());
    }
    Ok(ExitCode::SUCCESS)
}
