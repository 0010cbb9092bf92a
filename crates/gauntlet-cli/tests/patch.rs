//! `gauntlet patch` end to end on the shipped traffic signs: a circular sticker confined to
//! each sign, the files of the CLI contract, and clear errors for bad flags.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Scratch;
use gauntlet_core::data::read_npy_f32;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn patch(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let signs = root().join("data/signs-demo");
    let arg = |name: &str| signs.join(name).display().to_string();
    let mut args: Vec<String> = vec![
        "patch".into(),
        "--model".into(),
        root().join("models/signs_cnn.onnx").display().to_string(),
        "--inputs".into(),
        arg("train_x.npy"),
        "--labels".into(),
        arg("train_y.npy"),
        "--eval-inputs".into(),
        arg("x.npy"),
        "--eval-labels".into(),
        arg("y.npy"),
        "--eval-placement".into(),
        arg("sign_mask.npy"),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    if !extra.contains(&"--placement") {
        args.extend(["--placement".into(), arg("train_sign_mask.npy")]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(&args)
        .output()
        .unwrap()
}

#[test]
fn a_sticker_on_stop_signs_writes_the_contract_files() {
    let dir = Scratch::new("patch-signs");
    let out = dir.0.join("run");
    let run = patch(
        &out,
        &[
            "--source-class",
            "0",
            "--target-class",
            "3",
            "--size",
            "0.1",
            "--shape",
            "circle",
            "--eot",
            "rotate=20,scale=0.8:1,translate,brightness=0.1",
            "--steps",
            "6",
            "--batch-size",
            "8",
            "--draws",
            "2",
            "--eval-samples",
            "20",
            "--palette",
            "default",
            "--nps",
            "1",
            "--tv",
            "0.1",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["status"], "complete");
    assert_eq!(report["goal"]["class"], 3);
    let rows = report["success"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["setting"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "fixed");
    assert!(names.iter().any(|n| n.ends_with("(the spec)")), "{names:?}");
    for row in rows {
        for patch in ["with_eot", "printed", "without_eot", "random"] {
            let share = row[patch].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&share));
        }
        assert_eq!(
            row["trials"],
            report["judged_pictures"].as_u64().unwrap() * 2
        );
    }
    // The patch: [3, h, w] inside the valid box; its mask a disc covering at most 10 % of the
    // mean stop sign (a few hundred pixels at 32 × 32).
    let (patch, shape) =
        read_npy_f32(&std::fs::read(out.join("patch.npy")).unwrap(), &out).unwrap();
    let (mask, mask_shape) =
        read_npy_f32(&std::fs::read(out.join("patch_mask.npy")).unwrap(), &out).unwrap();
    assert_eq!(shape.len(), 3);
    assert_eq!(shape[0], 3);
    assert_eq!(mask_shape, shape[1..]);
    assert!(patch.iter().all(|v| (0.0..=1.0).contains(v)));
    let opaque = mask.iter().filter(|&&m| m == 1.0).count();
    assert!(
        opaque > 0 && opaque < mask.len(),
        "a disc leaves its corners transparent"
    );
    let signs = read_npy_f32(
        &std::fs::read(root().join("data/signs-demo/train_sign_mask.npy")).unwrap(),
        &out,
    )
    .unwrap();
    let labels = std::fs::read(root().join("data/signs-demo/train_y.npy")).unwrap();
    let labels = gauntlet_core::data::parse_labels(&labels, &out).unwrap();
    let stops: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 0).collect();
    let mean_area = stops
        .iter()
        .map(|&i| {
            signs.0[i * 1024..(i + 1) * 1024]
                .iter()
                .filter(|&&v| v > 0.0)
                .count()
        })
        .sum::<usize>() as f64
        / stops.len() as f64;
    assert!(opaque as f64 <= 0.1 * mean_area, "{opaque} vs {mean_area}");
    // The printable PNG: transparent outside the disc.
    let png = image::open(out.join("patch.png")).unwrap().to_rgba8();
    assert!(png.width() >= 600);
    assert_eq!(png.get_pixel(0, 0).0[3], 0);
    assert_eq!(png.get_pixel(png.width() / 2, png.height() / 2).0[3], 255);
    // With a palette the written patch is the snapped one: 27 colours at most.
    let plane = mask.len();
    let mut colours: Vec<[u32; 3]> = (0..plane)
        .map(|k| [0, 1, 2].map(|c| (patch[c * plane + k] * 1000.0).round() as u32))
        .collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() <= 27, "{}", colours.len());
    assert!(out.join("patch_unsnapped.npy").exists());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("data:image/png;base64,") && html.contains("without EOT"));
}

#[test]
fn bad_flags_say_what_is_wrong() {
    let dir = Scratch::new("patch-errors");
    let cases: [(&[&str], &str); 5] = [
        (&["--eot", "twist=3"], "unknown item"),
        (&["--target-class", "42"], "not a class of this model"),
        (&["--shape", "hexagon"], "use square, circle"),
        (&["--source-class", "77"], "no picture of that class"),
        (&["--nps", "1"], "--nps needs a palette"),
    ];
    for (extra, expected) in cases {
        let run = patch(&dir.0.join("bad"), extra);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    // Placement masks that do not match the pictures.
    let wrong = dir.0.join("wrong.npy");
    gauntlet_core::data::write_npy_f32(&wrong, &[1.0; 8], &[2, 2, 2]).unwrap();
    let run = patch(
        &dir.0.join("bad"),
        &["--placement", wrong.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("one mask per picture"), "{stderr}");
}
