//! Reading ONNX attributes and tensors from onnx-ir's protobuf types, at the precision the
//! file stores them (doubles stay doubles: onnxruntime compares and sums them as such).

use onnx_ir::{AttributeProto, AttributeType, NodeProto, TensorProto};

use crate::error::TreeError;

/// ONNX `TensorProto.DataType` codes read here.
pub(crate) mod data_type {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const DOUBLE: i32 = 11;
}

/// A node's name as error messages give it: its own, or `{op}#{first output}`.
pub(crate) fn node_label(node: &NodeProto) -> String {
    if node.name.is_empty() {
        format!(
            "{}#{}",
            node.op_type,
            node.output.first().map_or("", |s| s.as_str())
        )
    } else {
        node.name.clone()
    }
}

/// The operator with its domain when it is not the default one, e.g. `ai.onnx.ml::ZipMap`.
pub(crate) fn qualified_op(node: &NodeProto) -> String {
    if node.domain.is_empty() || node.domain == "ai.onnx" {
        node.op_type.clone()
    } else {
        format!("{}::{}", node.domain, node.op_type)
    }
}

/// Typed access to one node's attributes, with errors that name the node.
pub(crate) struct Attributes<'a> {
    node: &'a NodeProto,
    label: String,
}

impl<'a> Attributes<'a> {
    pub(crate) fn new(node: &'a NodeProto) -> Self {
        Attributes {
            node,
            label: node_label(node),
        }
    }

    /// An error about this node.
    pub(crate) fn error(&self, message: impl Into<String>) -> TreeError {
        TreeError::Attributes {
            node: self.label.clone(),
            op: self.node.op_type.clone(),
            message: message.into(),
        }
    }

    fn find(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn kind(a: &AttributeProto) -> AttributeType {
        a.type_.enum_value_or_default()
    }

    fn wrong_type(&self, name: &str, want: &str) -> TreeError {
        self.error(format!(
            "attribute '{name}' is not {want}; the file is corrupt — export it again"
        ))
    }

    pub(crate) fn ints(&self, name: &str) -> Result<Vec<i64>, TreeError> {
        match self.find(name) {
            None => Ok(Vec::new()),
            Some(a) if Self::kind(a) == AttributeType::INTS || !a.ints.is_empty() => {
                Ok(a.ints.clone())
            }
            Some(_) => Err(self.wrong_type(name, "a list of integers")),
        }
    }

    pub(crate) fn int(&self, name: &str, default: i64) -> Result<i64, TreeError> {
        match self.find(name) {
            None => Ok(default),
            Some(a) if Self::kind(a) == AttributeType::INT => Ok(a.i),
            Some(_) => Err(self.wrong_type(name, "an integer")),
        }
    }

    pub(crate) fn string(&self, name: &str, default: &str) -> Result<String, TreeError> {
        match self.find(name) {
            None => Ok(default.to_string()),
            Some(a) if Self::kind(a) == AttributeType::STRING => {
                Ok(String::from_utf8_lossy(&a.s).into_owned())
            }
            Some(_) => Err(self.wrong_type(name, "a string")),
        }
    }

    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, TreeError> {
        match self.find(name) {
            None => Ok(Vec::new()),
            Some(a) if Self::kind(a) == AttributeType::STRINGS || !a.strings.is_empty() => Ok(a
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()),
            Some(_) => Err(self.wrong_type(name, "a list of strings")),
        }
    }

    /// A tensor attribute's values as `f64` (`TreeEnsemble`'s `leaf_weights`, `nodes_splits`,
    /// …); `None` when absent.
    pub(crate) fn tensor_reals(&self, name: &str) -> Result<Option<Vec<f64>>, TreeError> {
        match self.find(name) {
            None => Ok(None),
            Some(a) => match a.t.as_ref() {
                Some(t) => reals_of_tensor(t)
                    .map(Some)
                    .map_err(|m| self.error(format!("attribute '{name}': {m}"))),
                None => Err(self.wrong_type(name, "a tensor")),
            },
        }
    }

    /// A tensor attribute's integer values (`TreeEnsemble`'s uint8 `nodes_modes`).
    pub(crate) fn tensor_ints(&self, name: &str) -> Result<Vec<i64>, TreeError> {
        match self.find(name) {
            None => Ok(Vec::new()),
            Some(a) => match a.t.as_ref() {
                Some(t) => {
                    ints_of_tensor(t).map_err(|m| self.error(format!("attribute '{name}': {m}")))
                }
                None => Err(self.wrong_type(name, "a tensor")),
            },
        }
    }

    /// `name` (a list of floats) or `name_as_tensor` (a float or double tensor), whichever
    /// the file gives, as `f64` (exact for both); `None` when neither is present.
    pub(crate) fn reals(&self, name: &str) -> Result<Option<Vec<f64>>, TreeError> {
        let tensor_name = format!("{name}_as_tensor");
        match (self.find(name), self.find(&tensor_name)) {
            (Some(_), Some(_)) => Err(self.error(format!(
                "gives both '{name}' and '{tensor_name}'; onnxruntime refuses that — keep one"
            ))),
            (Some(a), None) => {
                if Self::kind(a) == AttributeType::FLOATS || !a.floats.is_empty() {
                    Ok(Some(a.floats.iter().map(|&v| f64::from(v)).collect()))
                } else {
                    Err(self.wrong_type(name, "a list of floats"))
                }
            }
            (None, Some(a)) => match a.t.as_ref() {
                Some(t) => reals_of_tensor(t)
                    .map(Some)
                    .map_err(|m| self.error(format!("attribute '{tensor_name}': {m}"))),
                None => Err(self.wrong_type(&tensor_name, "a tensor")),
            },
            (None, None) => Ok(None),
        }
    }
}

/// A float or double tensor's values as `f64`; `Err` says what is wrong.
pub(crate) fn reals_of_tensor(t: &TensorProto) -> Result<Vec<f64>, String> {
    check_embedded(t)?;
    let raw: &[u8] = &t.raw_data;
    let values = match t.data_type {
        data_type::FLOAT if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        data_type::FLOAT => t.float_data.iter().map(|&v| f64::from(v)).collect(),
        data_type::DOUBLE if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        data_type::DOUBLE => t.double_data.clone(),
        other => return Err(format!("element type {other} is not float or double")),
    };
    check_count(t, values.len())?;
    Ok(values)
}

/// An integer tensor's values (int32 or int64).
pub(crate) fn ints_of_tensor(t: &TensorProto) -> Result<Vec<i64>, String> {
    check_embedded(t)?;
    let raw: &[u8] = &t.raw_data;
    let values = match t.data_type {
        data_type::INT64 if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        data_type::INT64 => t.int64_data.clone(),
        data_type::INT32 if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        data_type::UINT8 if !raw.is_empty() => raw.iter().map(|&b| i64::from(b)).collect(),
        // onnx keeps uint8 values in int32_data when not raw
        data_type::INT32 | data_type::UINT8 => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
        other => return Err(format!("element type {other} is not an integer type")),
    };
    check_count(t, values.len())?;
    Ok(values)
}

fn check_embedded(t: &TensorProto) -> Result<(), String> {
    if t.external_data.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tensor '{}' keeps its data in an external file, which gauntlet does not read; \
             save the model with its data embedded",
            t.name
        ))
    }
}

fn check_count(t: &TensorProto, n: usize) -> Result<(), String> {
    let want: i64 = t.dims.iter().product();
    if t.dims.is_empty() && n == 1 || want >= 0 && n == want as usize {
        Ok(())
    } else {
        Err(format!(
            "tensor '{}' holds {n} values but its shape {:?} needs {want}; the file is corrupt",
            t.name, t.dims
        ))
    }
}
