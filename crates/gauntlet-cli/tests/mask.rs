//! `--mask`: for every attack gauntlet has, white-box and black-box, no pixel outside the
//! mask changes — bit for bit — and the attacks still change pixels inside it.

use std::path::{Path, PathBuf};
use std::process::Command;

use gauntlet_core::data::{read_npy_f32, write_npy_f32, write_npy_i64, Dataset};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A 28×28 PNG (grayscale), white inside rows 10–15 and columns 8–19.
fn band_png(path: &Path) {
    let image = image::GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([if (8..20).contains(&x) && (10..16).contains(&y) {
            255
        } else {
            0
        }])
    });
    image.save(path).unwrap();
}

#[test]
fn no_attack_changes_a_pixel_outside_the_mask() {
    let scratch = Scratch::new("mask");
    let dir = &scratch.0;
    // Eight demo digits as the audit reads them (scaled to [0, 1]), so the file's values are
    // the model's inputs.
    let data = Dataset::load(
        &root().join("data/mnist-demo/x.npy"),
        &root().join("data/mnist-demo/y.npy"),
    )
    .unwrap();
    let n = 8;
    let clean: Vec<f32> = data.inputs[..n * 784].to_vec();
    write_npy_f32(&dir.join("x.npy"), &clean, &[n, 1, 28, 28]).unwrap();
    write_npy_i64(&dir.join("y.npy"), &data.labels[..n]).unwrap();
    let mask = dir.join("mask.png");
    band_png(&mask);
    let inside = |i: usize| {
        let (row, col) = ((i % 784) / 28, i % 28);
        (10..16).contains(&row) && (8..20).contains(&col)
    };
    let mut moved_inside = 0;
    for (norm, eps, attacks) in [
        (
            "linf",
            "0.3",
            "fgsm,pgd,apgd-ce,apgd-dlr,apgd-t,deepfool,fab,fab-t,uap,square,hsj",
        ),
        ("l2", "3", "cw,simba,simba-dct,boundary"),
    ] {
        let out = dir.join(format!("out-{norm}"));
        let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .current_dir(root())
            .args(["audit", "--model", "models/mnist_cnn.onnx"])
            .args(["--inputs", dir.join("x.npy").to_str().unwrap()])
            .args(["--labels", dir.join("y.npy").to_str().unwrap()])
            .args(["--attacks", attacks, "--norm", norm, "--eps", eps])
            .args(["--steps", "5", "--queries", "200"])
            .args([
                "--mask",
                mask.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        for attack in attacks.split(',') {
            let path = out.join(format!("adversarial/{attack}_{norm}_eps{eps}.npy"));
            let (adv, _) = read_npy_f32(&std::fs::read(&path).unwrap(), &path).unwrap();
            assert_eq!(adv.len(), clean.len(), "{attack}");
            for (i, (a, c)) in adv.iter().zip(&clean).enumerate() {
                if inside(i) {
                    moved_inside += usize::from(a != c);
                } else {
                    assert_eq!(
                        a.to_bits(),
                        c.to_bits(),
                        "{attack} changed pixel {i} outside the mask"
                    );
                }
            }
        }
    }
    assert!(
        moved_inside > 100,
        "the attacks hardly moved inside the mask: {moved_inside}"
    );
    // A mask of the wrong size is refused with what to do.
    let small = dir.join("small.png");
    image::GrayImage::new(10, 10).save(&small).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .current_dir(root())
        .args([
            "audit",
            "--model",
            "models/mnist_cnn.onnx",
            "--inputs",
            "data/mnist-demo/x.npy",
        ])
        .args([
            "--labels",
            "data/mnist-demo/y.npy",
            "--samples",
            "2",
            "--attacks",
            "fgsm",
            "--eps",
            "0.1",
        ])
        .args([
            "--mask",
            small.to_str().unwrap(),
            "--out",
            dir.join("out-small").to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("10×10 pixels") && err.contains("--mask"),
        "{err}"
    );
}
