//! PGD on an ONNX file, straight from the attack API: load a model and digits, attack one
//! batch at two L∞ budgets, print what broke. Run: `cargo run -p gauntlet-audit --example pgd`.

use gauntlet_attacks::{by_name, AttackInput, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::Dataset;
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_onnx::OnnxModel;

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = OnnxModel::load(&root.join("models/mnist_cnn.onnx"))?;
    let mut data = Dataset::load(
        &root.join("data/mnist-demo/x.npy"),
        &root.join("data/mnist-demo/y.npy"),
    )?;
    data.truncate(32);
    let threat = ThreatModel::new(Norm::Linf, &[0.1, 0.3], Bounds { min: 0.0, max: 1.0 })?;
    let pgd = by_name(
        "pgd",
        &AttackSettings {
            steps: Some(40),
            ..AttackSettings::default()
        },
    )?;
    let input = AttackInput::new(
        &model,
        &data.inputs,
        &data.labels,
        &Criterion::Untargeted,
        &threat,
    )?;
    let outcome = pgd.run(&input, &mut rand::SeedableRng::seed_from_u64(0))?;
    for budget in &outcome.per_eps {
        let broken = budget.success.iter().filter(|&&s| s).count();
        println!(
            "PGD-40 L∞ ε = {}: {broken} of {} digits misclassified",
            budget.eps,
            data.len()
        );
    }
    Ok(())
}
