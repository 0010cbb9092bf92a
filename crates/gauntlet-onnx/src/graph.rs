//! The ONNX file as the interpreter sees it: nodes in order, their attributes, the constant
//! tensors, and the graph's input and output.
//!
//! onnx-ir's wire-format parser (its generated protobuf types) reads the file; its typed IR is
//! not used, because it rewrites the graph for code generation (fusing Gemm into Linear,
//! lifting shapes into native values), while error messages and gradients here need the
//! graph exactly as exported.

use std::collections::{HashMap, HashSet};

use onnx_ir::{AttributeProto, Message, ModelProto, TensorProto};

use gauntlet_core::{Error, Result};

/// One ONNX attribute value.
#[derive(Debug, Clone)]
pub enum Attribute {
    /// `FLOAT`, e.g. `alpha` of LeakyRelu.
    Float(f32),
    /// `INT`, e.g. `axis`, `ceil_mode`, the `to` type of Cast.
    Int(i64),
    /// `STRING` (bytes decoded as UTF-8, lossily), e.g. `auto_pad`.
    String(String),
    /// `TENSOR`, e.g. the `value` of a Constant node.
    Tensor(HostTensor),
    /// `FLOATS`.
    Floats(Vec<f32>),
    /// `INTS`, e.g. `kernel_shape`, `pads`, `perm`.
    Ints(Vec<i64>),
    /// A kind no supported operator reads (graphs, sparse tensors, string lists, …), or a
    /// tensor attribute without its tensor.
    Other,
}

/// A tensor held on the host: a constant from the file.
#[derive(Debug, Clone)]
pub enum HostTensor {
    /// Any floating-point type of the file (float16, float32, float64), widened or narrowed
    /// to `f32`.
    Float {
        /// Row-major values, `shape.iter().product()` of them.
        data: Vec<f32>,
        /// Dimensions; empty for a scalar.
        shape: Vec<usize>,
    },
    /// Any integer or boolean type of the file, as `i64` (shapes, axes, indices).
    Int {
        /// Row-major values, `shape.iter().product()` of them.
        data: Vec<i64>,
        /// Dimensions; empty for a scalar.
        shape: Vec<usize>,
    },
}

/// One node of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Operator type in the default ONNX domain, e.g. `Conv`.
    pub op: String,
    /// Node name from the file, or `{op}#{first output}` when the file gives none: what
    /// error messages call the node.
    pub name: String,
    /// Names of the tensors read, in the operator's argument order; `""` marks an omitted
    /// optional input.
    pub inputs: Vec<String>,
    /// Names of the tensors produced; `""` marks an unused optional output.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attributes: HashMap<String, Attribute>,
}

/// A dimension of the declared graph input.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    /// A fixed positive length.
    Fixed(usize),
    /// A named length such as `batch_size` (or `?` when the file gives neither a value nor
    /// a name), fixed only when data arrives.
    Symbolic(String),
}

/// The parsed graph.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Nodes in file order, which ONNX requires to be topological.
    pub nodes: Vec<Node>,
    /// Initializers (weights and other constants) by tensor name.
    pub constants: HashMap<String, HostTensor>,
    /// Name of the one graph input that is not an initializer: the batch of samples.
    pub input_name: String,
    /// Declared dimensions of that input, batch axis first; empty when the file declares
    /// none.
    pub input_dims: Vec<Dim>,
    /// Name of the first graph output, taken as the class scores.
    pub output_name: String,
    /// Opset of the default ONNX domain.
    pub opset: i64,
    /// Exporter name and version as recorded in the file (e.g. `pytorch 2.3.0`); may be
    /// empty.
    pub producer: String,
}

/// Operators the interpreter evaluates (default ONNX domain); the list lives beside their
/// dispatch in `ops`.
pub use crate::ops::SUPPORTED_OPS;

impl Graph {
    /// Parses ONNX bytes. `label` names the file in error messages.
    pub fn parse(bytes: &[u8], label: &str) -> Result<Graph> {
        if bytes.is_empty() {
            return Err(Error::Model(format!(
                "'{label}' is empty; export the model again with torch.onnx.export"
            )));
        }
        let model = ModelProto::parse_from_bytes(bytes).map_err(|e| {
            Error::Model(format!(
                "'{label}' is not a valid ONNX file ({e}); it may be truncated or corrupt — \
                 export it again with torch.onnx.export"
            ))
        })?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(0);
        let graph = model.graph.as_ref().ok_or_else(|| {
            Error::Model(format!(
                "'{label}' holds no graph; it is not a model file (or it is truncated) — \
                 export it again"
            ))
        })?;
        if graph.node.is_empty() {
            return Err(Error::Model(format!(
                "'{label}' has an empty graph; it may be truncated — export it again"
            )));
        }

        // Unsupported operators are all reported at once.
        let supported: HashSet<&str> = SUPPORTED_OPS.iter().copied().collect();
        let mut unsupported = Vec::new();
        for node in &graph.node {
            let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
            if !default_domain || !supported.contains(node.op_type.as_str()) {
                let op = if default_domain {
                    node.op_type.clone()
                } else {
                    format!("{}::{}", node.domain, node.op_type)
                };
                unsupported.push(format!("  - {op} (node '{}')", node.name));
            }
        }
        if !unsupported.is_empty() {
            return Err(Error::Model(format!(
                "'{label}' (opset {opset}) uses {} operator node(s) gauntlet cannot evaluate:\n{}\n\
                 Re-export the model without these operators (e.g. replace custom layers with \
                 standard ones), or open an issue naming them.",
                unsupported.len(),
                unsupported.join("\n")
            )));
        }

        let mut constants = HashMap::new();
        for init in &graph.initializer {
            constants.insert(init.name.clone(), tensor_from_proto(init, label)?);
        }
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !constants.contains_key(&i.name))
            .collect();
        if inputs.len() != 1 {
            return Err(Error::Model(format!(
                "'{label}' has {} graph inputs; gauntlet audits classifiers with exactly one \
                 input tensor",
                inputs.len()
            )));
        }
        let input = inputs[0];
        let input_dims = input
            .type_
            .as_ref()
            .and_then(|t| t.tensor_type().shape.as_ref().map(|s| s.dim.clone()))
            .map(|dims| {
                dims.iter()
                    .map(|d| {
                        if d.has_dim_value() && d.dim_value() > 0 {
                            Dim::Fixed(d.dim_value() as usize)
                        } else if d.has_dim_param() {
                            Dim::Symbolic(d.dim_param().to_string())
                        } else {
                            Dim::Symbolic(String::from("?"))
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let output_name = graph
            .output
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| Error::Model(format!("'{label}' declares no graph output")))?;

        let nodes = graph
            .node
            .iter()
            .map(|n| Node {
                op: n.op_type.clone(),
                name: if n.name.is_empty() {
                    format!(
                        "{}#{}",
                        n.op_type,
                        n.output.first().cloned().unwrap_or_default()
                    )
                } else {
                    n.name.clone()
                },
                inputs: n.input.clone(),
                outputs: n.output.clone(),
                attributes: n
                    .attribute
                    .iter()
                    .map(|a| Ok((a.name.clone(), attribute_from_proto(a, label)?)))
                    .collect::<Result<_>>()
                    .unwrap_or_default(),
            })
            .collect();

        Ok(Graph {
            nodes,
            constants,
            input_name: input.name.clone(),
            input_dims,
            output_name,
            opset,
            producer: format!("{} {}", model.producer_name, model.producer_version)
                .trim()
                .to_string(),
        })
    }
}

fn attribute_from_proto(a: &AttributeProto, label: &str) -> Result<Attribute> {
    use onnx_ir::AttributeType as T;
    Ok(match a.type_.enum_value_or_default() {
        T::FLOAT => Attribute::Float(a.f),
        T::INT => Attribute::Int(a.i),
        T::STRING => Attribute::String(String::from_utf8_lossy(&a.s).into_owned()),
        T::TENSOR => match a.t.as_ref() {
            Some(t) => Attribute::Tensor(tensor_from_proto(t, label)?),
            None => Attribute::Other,
        },
        T::FLOATS => Attribute::Floats(a.floats.clone()),
        T::INTS => Attribute::Ints(a.ints.clone()),
        _ => Attribute::Other,
    })
}

/// ONNX TensorProto data types used by classifiers.
mod data_type {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT16: i32 = 5;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const BOOL: i32 = 9;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;
}

/// Converts a TensorProto (raw or typed storage) into a host tensor.
pub fn tensor_from_proto(t: &TensorProto, label: &str) -> Result<HostTensor> {
    if !t.external_data.is_empty() {
        return Err(Error::Model(format!(
            "'{label}': tensor '{}' keeps its data in an external file, which gauntlet does not \
             read; re-export with the weights embedded (onnx.save_model(m, path, \
             save_as_external_data=False))",
            t.name
        )));
    }
    let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let count: usize = shape.iter().product();
    let raw: &[u8] = &t.raw_data;
    let bad = |what: &str| {
        Error::Model(format!(
            "'{label}': tensor '{}' {what}; the file is corrupt or truncated — export it again",
            t.name
        ))
    };
    let check = |n: usize| {
        if n == count {
            Ok(())
        } else {
            Err(bad(&format!(
                "holds {n} values but its shape {shape:?} needs {count}"
            )))
        }
    };
    let tensor = match t.data_type {
        data_type::FLOAT => {
            let data: Vec<f32> = if !raw.is_empty() {
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            } else {
                t.float_data.clone()
            };
            check(data.len())?;
            HostTensor::Float { data, shape }
        }
        data_type::DOUBLE => {
            let data: Vec<f32> = if !raw.is_empty() {
                raw.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                    .collect()
            } else {
                t.double_data.iter().map(|&v| v as f32).collect()
            };
            check(data.len())?;
            HostTensor::Float { data, shape }
        }
        data_type::FLOAT16 => {
            let data: Vec<f32> = if !raw.is_empty() {
                raw.chunks_exact(2)
                    .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                    .collect()
            } else {
                t.int32_data.iter().map(|&v| f16_to_f32(v as u16)).collect()
            };
            check(data.len())?;
            HostTensor::Float { data, shape }
        }
        data_type::INT64 => {
            let data: Vec<i64> = if !raw.is_empty() {
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            } else {
                t.int64_data.clone()
            };
            check(data.len())?;
            HostTensor::Int { data, shape }
        }
        data_type::INT32
        | data_type::INT16
        | data_type::INT8
        | data_type::UINT8
        | data_type::BOOL => {
            let width = match t.data_type {
                data_type::INT32 => 4,
                data_type::INT16 => 2,
                _ => 1,
            };
            let data: Vec<i64> = if !raw.is_empty() {
                raw.chunks_exact(width)
                    .map(|c| match (t.data_type, width) {
                        (_, 4) => i32::from_le_bytes(c.try_into().unwrap()) as i64,
                        (_, 2) => i16::from_le_bytes(c.try_into().unwrap()) as i64,
                        (data_type::INT8, _) => c[0] as i8 as i64,
                        _ => c[0] as i64,
                    })
                    .collect()
            } else {
                t.int32_data.iter().map(|&v| v as i64).collect()
            };
            check(data.len())?;
            HostTensor::Int { data, shape }
        }
        other => {
            return Err(Error::Model(format!(
                "'{label}': tensor '{}' has ONNX data type {other}, which gauntlet does not \
                 support; classifiers need float32/float64/float16 weights",
                t.name
            )))
        }
    };
    Ok(tensor)
}

/// IEEE 754 half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: normalize
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_converts() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = Graph::parse(b"definitely not protobuf \xff\xff\xff", "x.onnx").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("x.onnx") && msg.contains("export it again"),
            "{msg}"
        );
        assert!(Graph::parse(b"", "e.onnx")
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
