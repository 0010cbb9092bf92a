//! A black-box audit of a live HTTP endpoint: a model is served on a local port (as a deployed
//! model would be), then attacked by queries only with Square, every query counted. Run:
//! `cargo run -p gauntlet-audit --example black_box`.

use std::sync::Arc;

use gauntlet_audit::{AuditConfig, Silent};
use gauntlet_onnx::OnnxModel;
use gauntlet_remote::{ServeOptions, ServerHandle};

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = OnnxModel::load(&root.join("models/mnist_cnn.onnx"))?;
    let server = ServerHandle::start(
        Arc::new(model),
        "127.0.0.1:0".parse()?,
        ServeOptions::default(),
    )?;

    let config = AuditConfig {
        target: Some(format!("http://{}/predict", server.addr())),
        input_shape: Some("1,28,28".into()),
        num_classes: Some(10),
        inputs: Some(root.join("data/mnist-demo/x.npy")),
        labels: Some(root.join("data/mnist-demo/y.npy")),
        samples: Some(20),
        eps: Some("0.3".into()),
        attacks: "square".into(),
        queries: Some(300),
        out: std::env::temp_dir().join("gauntlet-example-black-box"),
        fresh: true,
        ..AuditConfig::default()
    };

    let run = config.check()?.run(&Silent)?;
    for row in &run.evaluation.results {
        println!(
            "square ε = {}: robust accuracy {:.1} %, {} queries",
            row.eps,
            100.0 * row.robust_accuracy,
            row.queries
        );
    }
    server.stopper().stop();
    Ok(())
}
