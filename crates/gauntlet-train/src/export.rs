//! Writing the trained model back: the same ONNX file with new initializer values.
//!
//! The original bytes are parsed with the protobuf types onnx-ir re-exports, each trained
//! initializer's data is replaced (kept in its own element type, stored as raw little-endian
//! bytes), and provenance goes into `metadata_props`. Nodes, names, opsets, inputs and
//! outputs are untouched, so the file drops in wherever the original was used.

use std::collections::HashMap;

use onnx_ir::{Message, ModelProto};

use gauntlet_core::{Error, Result};

/// ONNX `TensorProto.DataType` codes the writer handles.
const FLOAT: i32 = 1;
const DOUBLE: i32 = 11;

/// `original` with the initializers named in `values` replaced and `metadata` added
/// (existing keys overwritten).
pub fn with_initializers(
    original: &[u8],
    values: &HashMap<String, Vec<f32>>,
    metadata: &[(String, String)],
) -> Result<Vec<u8>> {
    let mut model = ModelProto::parse_from_bytes(original)
        .map_err(|e| Error::Model(format!("the original model cannot be parsed again: {e}")))?;
    let graph = model
        .graph
        .as_mut()
        .ok_or_else(|| Error::Model("the original model holds no graph".into()))?;
    let mut written = 0;
    for init in graph.initializer.iter_mut() {
        let Some(new) = values.get(&init.name) else {
            continue;
        };
        let count: usize = init.dims.iter().map(|&d| d.max(0) as usize).product();
        if count != new.len() {
            return Err(Error::Model(format!(
                "initializer '{}' holds {count} values in the file but {} were trained",
                init.name,
                new.len()
            )));
        }
        if !init.external_data.is_empty() {
            return Err(Error::Model(format!(
                "initializer '{}' is stored in an external file; write-back supports weights \
                 stored inside the .onnx file (save the model without external data)",
                init.name
            )));
        }
        init.raw_data = match init.data_type {
            FLOAT => new.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DOUBLE => new
                .iter()
                .flat_map(|&v| f64::from(v).to_le_bytes())
                .collect(),
            other => {
                return Err(Error::Model(format!(
                    "initializer '{}' has ONNX element type {other}; write-back supports float \
                     and double weights",
                    init.name
                )))
            }
        };
        init.float_data.clear();
        init.double_data.clear();
        written += 1;
    }
    if written != values.len() {
        let missing: Vec<&String> = values
            .keys()
            .filter(|k| !graph.initializer.iter().any(|i| &i.name == *k))
            .collect();
        return Err(Error::Model(format!(
            "no initializer named {missing:?} in the original model"
        )));
    }
    for (key, value) in metadata {
        model.metadata_props.retain(|e| &e.key != key);
        // The entry type is not re-exported by onnx-ir; a default one is filled in place.
        model.metadata_props.push(Default::default());
        let entry = model.metadata_props.last_mut().expect("just pushed");
        entry.key = key.clone();
        entry.value = value.clone();
    }
    model
        .write_to_bytes()
        .map_err(|e| Error::Model(format!("cannot encode the trained model: {e}")))
}
