//! Every shipped tabular model (models/tabular: skl2onnx and onnxmltools tree ensembles, torch
//! MLPs), loaded as the audit loads it, scores the test split as onnxruntime did
//! (fixtures/tabular/*.expected.npy): the same class on every row; tree ensembles within 1e-6
//! (onnxruntime's threads add the trees' partial sums in another order than one thread does:
//! gauntlet-trees matches its single-threaded sums bit for bit, see docs/tree-ensembles.md),
//! networks within 1e-4.

mod common;

use common::root;
use gauntlet_tabular::loader::{load_model, ModelKind};
use gauntlet_tabular::model::predicted;
use gauntlet_tabular::{Schema, Table};

#[test]
fn every_shipped_model_agrees_with_onnxruntime_on_every_test_row() {
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/tabular/expected.json")).unwrap(),
    )
    .unwrap();
    let models = index["models"].as_array().unwrap();
    assert!(models.len() >= 13);
    for entry in models {
        let dataset = entry["dataset"].as_str().unwrap();
        let schema =
            Schema::load(&root().join(format!("data/tabular/{dataset}/schema.toml"))).unwrap();
        let table = Table::load(
            &root().join(format!("data/tabular/{dataset}/test.csv")),
            &schema,
            None,
        )
        .unwrap();
        let loaded = load_model(
            &root().join(entry["file"].as_str().unwrap()),
            schema.width(),
        )
        .unwrap();
        let bytes = std::fs::read(root().join(entry["expected"].as_str().unwrap())).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        let expected: Vec<f32> = npy.into_vec().unwrap();
        let scores = loaded.model.scores(&table.rows).unwrap();
        assert_eq!(scores.len(), expected.len(), "{}", entry["file"]);
        let classes = loaded.model.classes();
        let worst = scores
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let tolerance = match loaded.kind {
            ModelKind::TreeEnsemble => 1e-6,
            ModelKind::Network => 1e-4,
        };
        assert!(
            worst <= tolerance,
            "{}: max |gauntlet − onnxruntime| = {worst}",
            entry["file"]
        );
        let same_labels = scores
            .chunks(classes)
            .zip(expected.chunks(classes))
            .filter(|(a, b)| predicted(a) == predicted(b))
            .count();
        assert_eq!(same_labels, table.len(), "{}", entry["file"]);
    }
}
