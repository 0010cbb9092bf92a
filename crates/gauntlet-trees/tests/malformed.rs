//! Malformed attributes and graphs give clear errors (never a panic): each case edits a
//! valid fixture and checks the message names what is wrong.

mod common;

use gauntlet_trees::{TreeError, TreeModel};
use onnx_ir::{AttributeProto, Message, ModelProto};

fn fixture_model(name: &str) -> ModelProto {
    let bytes = std::fs::read(common::fixture_dir().join(format!("{name}.onnx"))).unwrap();
    ModelProto::parse_from_bytes(&bytes).unwrap()
}

fn ensemble_attribute<'a>(model: &'a mut ModelProto, name: &str) -> &'a mut AttributeProto {
    let graph = model.graph.as_mut().unwrap();
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.op_type.starts_with("TreeEnsemble"))
        .unwrap();
    node.attribute.iter_mut().find(|a| a.name == name).unwrap()
}

fn error_of(model: &ModelProto) -> String {
    match TreeModel::from_bytes(&model.write_to_bytes().unwrap()) {
        Ok(_) => panic!("the malformed model was accepted"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "'{message}' does not mention '{p}'");
    }
}

#[test]
fn the_valid_fixture_loads() {
    // The edits below start from this model: it must be accepted as it is.
    let model = fixture_model("mode_mixed");
    assert!(TreeModel::from_bytes(&model.write_to_bytes().unwrap()).is_ok());
}

#[test]
fn attribute_length_mismatch() {
    let mut model = fixture_model("mode_mixed");
    ensemble_attribute(&mut model, "nodes_featureids")
        .ints
        .pop();
    assert_mentions(
        &error_of(&model),
        &["ensemble", "nodes_featureids", "entries"],
    );

    let mut model = fixture_model("mode_mixed");
    ensemble_attribute(&mut model, "target_weights")
        .floats
        .pop();
    assert_mentions(&error_of(&model), &["target_weights", "entries"]);
}

#[test]
fn child_index_out_of_range() {
    let mut model = fixture_model("mode_mixed");
    ensemble_attribute(&mut model, "nodes_truenodeids").ints[0] = 999;
    assert_mentions(&error_of(&model), &["tree 0", "999", "out of range"]);
}

#[test]
fn cycle() {
    let mut model = fixture_model("mode_mixed");
    // node 1 of tree 0 (a branch) sends its true side back to the root
    ensemble_attribute(&mut model, "nodes_truenodeids").ints[1] = 0;
    assert_mentions(&error_of(&model), &["cycle", "tree 0"]);
}

#[test]
fn feature_index_beyond_the_input() {
    let mut model = fixture_model("mode_mixed");
    ensemble_attribute(&mut model, "nodes_featureids").ints[0] = 10;
    assert_mentions(&error_of(&model), &["feature 10", "4 features"]);
}

#[test]
fn unknown_mode_and_leaf_without_weight() {
    let mut model = fixture_model("mode_mixed");
    ensemble_attribute(&mut model, "nodes_modes").strings[0] = b"BRANCH_SOMETIMES".to_vec().into();
    assert_mentions(&error_of(&model), &["BRANCH_SOMETIMES", "BRANCH_LEQ"]);

    let mut model = fixture_model("mode_mixed");
    let ids = ensemble_attribute(&mut model, "target_nodeids");
    ids.ints[0] += 1000; // the first leaf loses its weight
    let message = error_of(&model);
    assert!(
        message.contains("no weight") || message.contains("not a node"),
        "{message}"
    );
}

#[test]
fn class_id_outside_the_labels() {
    let mut model = fixture_model("multiclass_none");
    ensemble_attribute(&mut model, "class_ids").ints[0] = 3;
    assert_mentions(&error_of(&model), &["class_ids[0] = 3", "0..3"]);
}

#[test]
fn unsupported_operator_is_named_with_its_node() {
    let mut model = fixture_model("multiclass_none");
    let graph = model.graph.as_mut().unwrap();
    let identity = graph
        .node
        .iter_mut()
        .find(|n| n.op_type == "Identity")
        .unwrap();
    identity.op_type = "Hardmax".into();
    let message = error_of(&model);
    assert_mentions(&message, &["Hardmax", "'identity'", "ZipMap"]);
    assert!(matches!(
        TreeModel::from_bytes(&model.write_to_bytes().unwrap()),
        Err(TreeError::UnsupportedOp { .. })
    ));
}

#[test]
fn bytes_that_are_not_onnx() {
    let message = TreeModel::from_bytes(b"definitely not a protobuf \xff\xff").unwrap_err();
    assert!(matches!(message, TreeError::Model(_)), "{message}");
}

#[test]
fn rows_of_the_wrong_width() {
    let model =
        TreeModel::from_bytes(&fixture_model("mode_mixed").write_to_bytes().unwrap()).unwrap();
    let err = model.predict(&[0.0; 7]).unwrap_err().to_string();
    assert_mentions(&err, &["7 values", "4 features"]);
}

#[test]
fn opset5_set_membership_is_refused_clearly() {
    let mut model = fixture_model("v5_sum_2t");
    let modes = ensemble_attribute(&mut model, "nodes_modes")
        .t
        .as_mut()
        .unwrap();
    if modes.raw_data.is_empty() {
        modes.int32_data[0] = 6;
    } else {
        let mut raw = modes.raw_data.to_vec();
        raw[0] = 6;
        modes.raw_data = raw.into();
    }
    assert_mentions(&error_of(&model), &["BRANCH_MEMBER", "opset 3"]);
}

#[test]
fn opset5_leaf_target_outside_n_targets() {
    let mut model = fixture_model("v5_sum_2t");
    ensemble_attribute(&mut model, "leaf_targetids").ints[0] = 5;
    assert_mentions(&error_of(&model), &["leaf_targetids[0] = 5", "n_targets"]);
}
