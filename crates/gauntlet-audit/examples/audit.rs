//! A full audit through the library: the same `AuditConfig` the CLI and `gauntlet.toml` fill,
//! checked once, run, reported and gated. Run: `cargo run -p gauntlet-audit --example audit`.

use gauntlet_audit::{AuditConfig, Silent};

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config = AuditConfig::new(
        root.join("models/mnist_cnn.onnx"),
        root.join("data/mnist-demo/x.npy"),
        root.join("data/mnist-demo/y.npy"),
        &[0.1, 0.3],
    );
    config.attacks = "fgsm,pgd".into();
    config.steps = Some(10);
    config.samples = Some(64);
    config.fail_under = vec!["worst:linf:0.1=0.5".into()];
    config.out = std::env::temp_dir().join("gauntlet-example-audit");
    config.fresh = true;

    let run = config.check()?.run(&Silent)?;
    println!(
        "clean accuracy {:.1} %",
        100.0 * run.evaluation.clean_accuracy
    );
    for row in &run.evaluation.results {
        println!(
            "{:>5} ε = {}: robust accuracy {:.1} %",
            row.attack,
            row.eps,
            100.0 * row.robust_accuracy
        );
    }
    for line in run.judgement.problems() {
        println!("gate: {line}");
    }
    println!(
        "report: {} (exit code {})",
        run.written.html.display(),
        run.exit_code()
    );
    Ok(())
}
