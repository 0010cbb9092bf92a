//! The small graph the exporters put after the ensemble's score output — Cast, Identity,
//! ZipMap (whose input is the probability matrix), and elementwise arithmetic with
//! constants, Sigmoid and Softmax — evaluated on a batch of scores.

use std::collections::HashMap;

use onnx_ir::NodeProto;

use crate::error::TreeError;
use crate::proto::{
    data_type, ints_of_tensor, node_label, qualified_op, reals_of_tensor, Attributes,
};

/// Operators evaluated after the ensemble, as error messages list them.
pub const SUPPORTED_POST_OPS: &[&str] = &[
    "Identity",
    "Cast",
    "ai.onnx.ml::ZipMap",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sigmoid",
    "Softmax",
];

/// Element type of a value: arithmetic is done in it (float32 rounding after every step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    F32,
    F64,
    I64,
}

/// A dense tensor; values held as `f64` (exact for float32, and for int64 up to 2⁵³).
#[derive(Debug, Clone)]
pub(crate) struct Value {
    data: Vec<f64>,
    shape: Vec<usize>,
    elem: Elem,
}

impl Value {
    /// A float32 `[rows, cols]` matrix.
    pub(crate) fn matrix(data: Vec<f32>, rows: usize, cols: usize) -> Value {
        Value {
            data: data.into_iter().map(f64::from).collect(),
            shape: vec![rows, cols],
            elem: Elem::F32,
        }
    }

    /// The values as float32, row-major, with the shape.
    pub(crate) fn into_f32(self) -> (Vec<f32>, Vec<usize>) {
        (
            self.data.into_iter().map(|v| v as f32).collect(),
            self.shape,
        )
    }

    fn rounded(mut self) -> Value {
        match self.elem {
            Elem::F32 => self.data.iter_mut().for_each(|v| *v = f64::from(*v as f32)),
            Elem::I64 => self.data.iter_mut().for_each(|v| *v = v.trunc()),
            Elem::F64 => {}
        }
        self
    }
}

#[derive(Debug, Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone)]
enum Op {
    Identity,
    ZipMap,
    Cast(Elem),
    Binary(Arith),
    Sigmoid,
    Softmax(i64),
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    inputs: Vec<String>,
    output: String,
}

/// The nodes between the ensemble's score tensor and the chosen graph output, in file order.
#[derive(Debug, Clone)]
pub(crate) struct PostProcess {
    steps: Vec<Step>,
    constants: HashMap<String, Value>,
    source: String,
    output: String,
}

impl PostProcess {
    /// Prepares `nodes` (those the output needs, in file order) reading `source` (the
    /// ensemble's scores) and the initializers in `initializers`.
    pub(crate) fn new(
        nodes: &[&NodeProto],
        initializers: &[&onnx_ir::TensorProto],
        source: &str,
        output: &str,
    ) -> Result<PostProcess, TreeError> {
        let mut constants = HashMap::new();
        let mut steps = Vec::new();
        for node in nodes {
            let op = match (node.domain.as_str(), node.op_type.as_str()) {
                ("" | "ai.onnx", "Identity") => Op::Identity,
                ("ai.onnx.ml", "ZipMap") => Op::ZipMap,
                ("" | "ai.onnx", "Cast") => {
                    let a = Attributes::new(node);
                    let to = a.int("to", 0)? as i32;
                    Op::Cast(match to {
                        data_type::FLOAT => Elem::F32,
                        data_type::DOUBLE => Elem::F64,
                        data_type::INT64 => Elem::I64,
                        other => {
                            return Err(a.error(format!(
                                "casts to element type {other}; gauntlet-trees casts scores to \
                                 float, double or int64 only"
                            )))
                        }
                    })
                }
                ("" | "ai.onnx", "Add") => Op::Binary(Arith::Add),
                ("" | "ai.onnx", "Sub") => Op::Binary(Arith::Sub),
                ("" | "ai.onnx", "Mul") => Op::Binary(Arith::Mul),
                ("" | "ai.onnx", "Div") => Op::Binary(Arith::Div),
                ("" | "ai.onnx", "Sigmoid") => Op::Sigmoid,
                ("" | "ai.onnx", "Softmax") => Op::Softmax(Attributes::new(node).int("axis", -1)?),
                _ => {
                    return Err(TreeError::UnsupportedOp {
                        node: node_label(node),
                        op: qualified_op(node),
                        supported: SUPPORTED_POST_OPS.join(", "),
                    })
                }
            };
            for input in &node.input {
                if let Some(t) = initializers.iter().find(|t| &t.name == input) {
                    constants.insert(input.clone(), constant(t, node)?);
                }
            }
            let output = node.output.first().cloned().unwrap_or_default();
            steps.push(Step {
                op,
                inputs: node.input.to_vec(),
                output,
            });
        }
        Ok(PostProcess {
            steps,
            constants,
            source: source.to_string(),
            output: output.to_string(),
        })
    }

    /// Runs the steps on the ensemble's `scores`.
    pub(crate) fn run(&self, scores: Value) -> Result<Value, TreeError> {
        let mut values: HashMap<&str, Value> = HashMap::new();
        values.insert(self.source.as_str(), scores);
        for step in &self.steps {
            let get = |k: usize| -> Result<&Value, TreeError> {
                let name = step.inputs.get(k).map_or("", |s| s.as_str());
                values
                    .get(name)
                    .or_else(|| self.constants.get(name))
                    .ok_or_else(|| {
                        TreeError::Model(format!(
                            "tensor '{name}' is not computed before it is read"
                        ))
                    })
            };
            let out = match &step.op {
                Op::Identity | Op::ZipMap => get(0)?.clone(),
                Op::Cast(to) => Value {
                    elem: *to,
                    ..get(0)?.clone()
                }
                .rounded(),
                Op::Binary(op) => binary(*op, get(0)?, get(1)?)?,
                Op::Sigmoid => {
                    let x = get(0)?;
                    let data = x.data.iter().map(|&v| sigmoid(v, x.elem)).collect();
                    Value { data, ..x.clone() }
                }
                Op::Softmax(axis) => softmax_last(get(0)?, *axis)?,
            };
            values.insert(step.output.as_str(), out);
        }
        values.remove(self.output.as_str()).ok_or_else(|| {
            TreeError::Model(format!("graph output '{}' was not computed", self.output))
        })
    }
}

fn constant(t: &onnx_ir::TensorProto, node: &NodeProto) -> Result<Value, TreeError> {
    let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let bad = |m: String| Attributes::new(node).error(format!("initializer '{}': {m}", t.name));
    let (data, elem) = match t.data_type {
        data_type::FLOAT => (reals_of_tensor(t).map_err(bad)?, Elem::F32),
        data_type::DOUBLE => (reals_of_tensor(t).map_err(bad)?, Elem::F64),
        data_type::INT64 | data_type::INT32 => (
            ints_of_tensor(t)
                .map_err(bad)?
                .into_iter()
                .map(|v| v as f64)
                .collect(),
            Elem::I64,
        ),
        other => return Err(bad(format!("element type {other} is not supported"))),
    };
    Ok(Value { data, shape, elem })
}

fn sigmoid(v: f64, elem: Elem) -> f64 {
    match elem {
        Elem::F32 => {
            let x = v as f32;
            f64::from(1.0 / (1.0 + (-x).exp()))
        }
        _ => 1.0 / (1.0 + (-v).exp()),
    }
}

/// Elementwise arithmetic with numpy broadcasting.
fn binary(op: Arith, a: &Value, b: &Value) -> Result<Value, TreeError> {
    let rank = a.shape.len().max(b.shape.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (sa, sb) = (pad(&a.shape), pad(&b.shape));
    let mut shape = Vec::with_capacity(rank);
    for (&x, &y) in sa.iter().zip(&sb) {
        shape.push(match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => {
                return Err(TreeError::Model(format!(
                    "cannot broadcast shapes {:?} and {:?} in {op:?}",
                    a.shape, b.shape
                )))
            }
        });
    }
    let strides = |s: &[usize]| -> Vec<usize> {
        let mut st = vec![0; rank];
        let mut acc = 1;
        for d in (0..rank).rev() {
            st[d] = if s[d] == 1 { 0 } else { acc };
            acc *= s[d];
        }
        st
    };
    let (ta, tb) = (strides(&sa), strides(&sb));
    let total: usize = shape.iter().product();
    let elem = if a.elem == Elem::F64 || b.elem == Elem::F64 {
        Elem::F64
    } else {
        a.elem
    };
    let mut data = Vec::with_capacity(total);
    let mut index = vec![0usize; rank];
    for _ in 0..total {
        let ia: usize = index.iter().zip(&ta).map(|(i, s)| i * s).sum();
        let ib: usize = index.iter().zip(&tb).map(|(i, s)| i * s).sum();
        let (x, y) = (a.data[ia], b.data[ib]);
        data.push(match op {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div if elem == Elem::I64 => (x / y).trunc(),
            Arith::Div => x / y,
        });
        for d in (0..rank).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(Value { data, shape, elem }.rounded())
}

/// Softmax over the last axis (the only axis scores have besides rows).
fn softmax_last(x: &Value, axis: i64) -> Result<Value, TreeError> {
    let rank = x.shape.len() as i64;
    if axis != -1 && axis != rank - 1 {
        return Err(TreeError::Model(format!(
            "Softmax over axis {axis} of a rank-{rank} tensor; gauntlet-trees applies it over the last axis only"
        )));
    }
    let cols = *x.shape.last().unwrap_or(&1);
    let mut data = x.data.clone();
    for row in data.chunks_mut(cols.max(1)) {
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if x.elem == Elem::F32 {
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                let e = ((*v - max) as f32).exp();
                sum += e;
                *v = f64::from(e);
            }
            row.iter_mut().for_each(|v| *v = f64::from(*v as f32 / sum));
        } else {
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            row.iter_mut().for_each(|v| *v /= sum);
        }
    }
    Ok(Value { data, ..x.clone() })
}
