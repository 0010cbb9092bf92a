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
    /// Operator type, e.g. `Conv`; outside the default ONNX domain prefixed with it, e.g.
    /// `ai.onnx.ml::LinearClassifier`.
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
    /// The tensor read as class scores: the chosen graph output, or the logits feeding its
    /// final Softmax / ZipMap (see [`Scores`]).
    pub output_name: String,
    /// Which output was chosen and how its scores are read.
    pub scores: Scores,
    /// Every graph output as declared, in file order.
    pub outputs: Vec<OutputInfo>,
    /// Opset of the default ONNX domain.
    pub opset: i64,
    /// Exporter name and version as recorded in the file (e.g. `pytorch 2.3.0`); may be
    /// empty.
    pub producer: String,
}

/// A declared graph output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputInfo {
    /// Tensor name.
    pub name: String,
    /// Element type as ONNX names it (`float`, `int64`, …), `sequence`/`map` for
    /// non-tensor outputs (ZipMap), or `?` when the file does not say.
    pub elem_type: String,
    /// Declared dimensions, when the file gives them.
    pub dims: Option<Vec<Dim>>,
}

impl OutputInfo {
    fn is_float(&self) -> bool {
        matches!(
            self.elem_type.as_str(),
            "float" | "double" | "float16" | "bfloat16"
        )
    }

    /// A float tensor that can be `[N, classes]`: rank 2, or a rank the file does not give.
    fn could_be_scores(&self) -> bool {
        self.is_float() && self.dims.as_ref().is_none_or(|d| d.len() == 2)
    }
}

impl std::fmt::Display for OutputInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' ({}", self.name, self.elem_type)?;
        if let Some(dims) = &self.dims {
            let dims: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(v) => v.to_string(),
                    Dim::Symbolic(s) => s.clone(),
                })
                .collect();
            write!(f, " [{}]", dims.join(", "))?;
        }
        f.write_str(")")
    }
}

/// How the class scores are read from the chosen output.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// The graph output chosen (`output`, or the only float `[N, classes]` output).
    pub output: String,
    /// Ops passed over to reach the logits, nearest the output first: `ZipMap` (scikit-learn's
    /// list of dicts) and a final `Softmax`. Predictions are unchanged (softmax keeps the
    /// arg-max); losses see logits, whose gradients do not vanish when the softmax saturates.
    pub bypassed: Vec<String>,
}

/// Operators the interpreter evaluates (default ONNX domain); the list lives beside their
/// dispatch in `ops`.
pub use crate::ops::supported::SUPPORTED_OPS;

impl Graph {
    /// Parses ONNX bytes, reading the class scores from the only float `[N, classes]` output.
    /// `label` names the file in error messages.
    pub fn parse(bytes: &[u8], label: &str) -> Result<Graph> {
        Self::parse_for_output(bytes, label, None)
    }

    /// Parses ONNX bytes, reading the class scores from graph output `output` (or, when
    /// `None`, the only float `[N, classes]` output). Only the nodes that output depends on
    /// are kept, so a branch the audit does not need (scikit-learn's `label`, an auxiliary
    /// head) may use operators gauntlet does not evaluate.
    pub fn parse_for_output(bytes: &[u8], label: &str, output: Option<&str>) -> Result<Graph> {
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

        let outputs: Vec<OutputInfo> = graph.output.iter().map(output_info).collect();
        let scores = choose_output(&outputs, output, label)?;
        let (output_name, bypassed, raw_scores_of) = logits_behind(graph, &scores, label)?;
        let scores = Scores {
            output: scores,
            bypassed,
        };
        let needed = needed_nodes(graph, &output_name);

        // Unsupported operators are all reported at once.
        let supported: HashSet<&str> = SUPPORTED_OPS
            .iter()
            .chain(crate::ops::supported::SUPPORTED_ML_OPS)
            .copied()
            .collect();
        let mut unsupported = Vec::new();
        for node in needed.iter().map(|&i| &graph.node[i]) {
            let op = qualified_op(node);
            if !supported.contains(op.as_str()) {
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
        let read: HashSet<&str> = needed
            .iter()
            .flat_map(|&i| graph.node[i].input.iter().map(String::as_str))
            .collect();
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !constants.contains_key(&i.name) && read.contains(i.name.as_str()))
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
            .and_then(|t| t.tensor_type().shape.as_ref().map(dims_of))
            .unwrap_or_default();
        let nodes = needed
            .iter()
            .map(|&i| &graph.node[i])
            .map(|n| Node {
                op: qualified_op(n),
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
                attributes: {
                    let mut attributes: HashMap<String, Attribute> = n
                        .attribute
                        .iter()
                        .map(|a| Ok((a.name.clone(), attribute_from_proto(a, label)?)))
                        .collect::<Result<_>>()
                        .unwrap_or_default();
                    if raw_scores_of
                        .as_ref()
                        .is_some_and(|o| n.output.get(1) == Some(o))
                    {
                        attributes
                            .insert("post_transform".into(), Attribute::String("NONE".into()));
                    }
                    attributes
                },
            })
            .collect();

        Ok(Graph {
            nodes,
            constants,
            input_name: input.name.clone(),
            input_dims,
            output_name,
            scores,
            outputs,
            opset,
            producer: format!("{} {}", model.producer_name, model.producer_version)
                .trim()
                .to_string(),
        })
    }
}

/// The operator's name, prefixed with its domain outside the default one.
fn qualified_op(node: &onnx_ir::NodeProto) -> String {
    if node.domain.is_empty() || node.domain == "ai.onnx" {
        node.op_type.clone()
    } else {
        format!("{}::{}", node.domain, node.op_type)
    }
}

/// ONNX's name of a TensorProto element type.
fn elem_type_name(t: i32) -> &'static str {
    match t {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        16 => "bfloat16",
        _ => "?",
    }
}

fn output_info(o: &onnx_ir::ValueInfoProto) -> OutputInfo {
    let Some(ty) = o.type_.as_ref() else {
        return OutputInfo {
            name: o.name.clone(),
            elem_type: "?".into(),
            dims: None,
        };
    };
    if ty.has_sequence_type() || ty.has_map_type() {
        return OutputInfo {
            name: o.name.clone(),
            elem_type: if ty.has_map_type() { "map" } else { "sequence" }.into(),
            dims: None,
        };
    }
    let tensor = ty.tensor_type();
    OutputInfo {
        name: o.name.clone(),
        elem_type: elem_type_name(tensor.elem_type).into(),
        dims: tensor.shape.as_ref().map(dims_of),
    }
}

/// Declared dimensions: a positive value is fixed; a name (or nothing) is symbolic.
fn dims_of(shape: &onnx_ir::TensorShapeProto) -> Vec<Dim> {
    shape
        .dim
        .iter()
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
}

/// The graph output that holds the class scores.
fn choose_output(outputs: &[OutputInfo], requested: Option<&str>, label: &str) -> Result<String> {
    let listing = || {
        outputs
            .iter()
            .map(|o| format!("  - {o}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Some(name) = requested {
        return match outputs.iter().find(|o| o.name == name) {
            Some(o) => Ok(o.name.clone()),
            None => Err(Error::Model(format!(
                "'{label}' has no output named '{name}'; its outputs are:\n{}\nGive one of \
                 these as `output`",
                listing()
            ))),
        };
    }
    if outputs.is_empty() {
        return Err(Error::Model(format!("'{label}' declares no graph output")));
    }
    if outputs.len() == 1 {
        return Ok(outputs[0].name.clone());
    }
    // scikit-learn's ZipMap output (a list of dicts) stands for the probabilities.
    let candidates: Vec<&OutputInfo> = outputs.iter().filter(|o| o.could_be_scores()).collect();
    let candidates = if candidates.is_empty() {
        outputs
            .iter()
            .filter(|o| o.elem_type == "sequence")
            .collect()
    } else {
        candidates
    };
    match candidates.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(Error::Model(format!(
            "'{label}' has {} outputs and none is a float tensor of class scores [N, classes]:\n\
             {}\nGive the output to audit as `output`",
            outputs.len(),
            listing()
        ))),
        several => Err(Error::Model(format!(
            "'{label}' has {} outputs that could hold the class scores:\n{}\nChoose one as \
             `output`, e.g. {}",
            several.len(),
            several
                .iter()
                .map(|o| format!("  - {o}"))
                .collect::<Vec<_>>()
                .join("\n"),
            several[0].name
        ))),
    }
}

/// Follows the chosen output back through a ZipMap (scikit-learn's list of dicts) and a final
/// Softmax (plus Identity/Cast between them) to the tensor holding logits. A scikit-learn
/// `LinearClassifier` whose scores are squashed by its own `post_transform` (and then
/// normalized to sum to one) is read before both: the third value names the scores output
/// whose post-transform is to be dropped.
fn logits_behind(
    graph: &onnx_ir::GraphProto,
    output: &str,
    label: &str,
) -> Result<(String, Vec<String>, Option<String>)> {
    let producer = |name: &str| {
        graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == name))
    };
    let squashing_linear = |name: &str| {
        producer(name).filter(|n| {
            qualified_op(n) == "ai.onnx.ml::LinearClassifier"
                && n.output.get(1).is_some_and(|o| o == name)
                && n.attribute.iter().any(|a| {
                    a.name == "post_transform"
                        && matches!(&a.s[..], b"SOFTMAX" | b"LOGISTIC" | b"SOFTMAX_ZERO")
                })
        })
    };
    let mut name = output.to_string();
    let mut bypassed = Vec::new();
    let mut seen_softmax = false;
    let mut raw_scores_of = None;
    while let Some(node) = producer(&name) {
        let op = node.op_type.as_str();
        if !seen_softmax {
            if let Some(linear) = squashing_linear(&name) {
                let transform = linear
                    .attribute
                    .iter()
                    .find(|a| a.name == "post_transform")
                    .map(|a| String::from_utf8_lossy(&a.s).into_owned())
                    .unwrap_or_default();
                bypassed.push(format!("LinearClassifier's {transform} post-transform"));
                raw_scores_of = Some(name.clone());
                break;
            }
        }
        let through = match op {
            "ZipMap" if node.domain == "ai.onnx.ml" => true,
            // Dividing probabilities by their sum changes nothing the audit reads.
            "Normalizer" if node.domain == "ai.onnx.ml" => {
                node.attribute
                    .iter()
                    .any(|a| a.name == "norm" && &a.s[..] == b"L1")
                    && node
                        .input
                        .first()
                        .is_some_and(|i| squashing_linear(i).is_some())
            }
            "Identity" => true,
            "Cast" => node
                .attribute
                .iter()
                .any(|a| a.name == "to" && matches!(a.i, 1 | 10 | 11 | 16)),
            "Softmax" if !seen_softmax && softmax_over_classes(node) => {
                seen_softmax = true;
                true
            }
            _ => false,
        };
        if !through || node.input.is_empty() || node.input[0].is_empty() {
            break;
        }
        if matches!(op, "ZipMap" | "Softmax" | "Normalizer") {
            bypassed.push(op.to_string());
        }
        name = node.input[0].clone();
    }
    if producer(&name).is_some_and(|n| n.domain == "ai.onnx.ml" && n.op_type == "ZipMap") {
        return Err(Error::Model(format!(
            "'{label}': output '{output}' is a ZipMap whose input cannot be read; re-export with \
             skl2onnx options={{'zipmap': False}}"
        )));
    }
    Ok((name, bypassed, raw_scores_of))
}

/// A Softmax whose axis is the last one of a rank-2 `[N, classes]` tensor: `axis` -1 or 1
/// (opset < 13 flattens from `axis`, default 1, which on rank 2 is the same).
fn softmax_over_classes(node: &onnx_ir::NodeProto) -> bool {
    let axis = node
        .attribute
        .iter()
        .find(|a| a.name == "axis")
        .map(|a| a.i);
    matches!(axis, None | Some(1) | Some(-1))
}

/// Indices, in file order, of the nodes `output` depends on.
fn needed_nodes(graph: &onnx_ir::GraphProto, output: &str) -> Vec<usize> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in &n.output {
            producer.insert(o.as_str(), i);
        }
    }
    let mut keep = vec![false; graph.node.len()];
    let mut stack = vec![output];
    while let Some(name) = stack.pop() {
        if let Some(&i) = producer.get(name) {
            if !keep[i] {
                keep[i] = true;
                stack.extend(graph.node[i].input.iter().map(String::as_str));
            }
        }
    }
    (0..graph.node.len()).filter(|&i| keep[i]).collect()
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
