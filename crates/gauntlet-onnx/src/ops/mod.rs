//! Node evaluation: one function per ONNX operator family.
//!
//! Each operator takes its inputs as [`Value`]s and returns its outputs; shapes are checked
//! before burn is called, so a model that does not fit its data yields an error naming the
//! node, never a panic.

mod conv_kernel;
mod elementwise;
mod host;
mod nn;
mod pool_kernel;
mod reduce;
mod shape;

use gauntlet_core::{Device, Error, Result};

use crate::graph::{Attribute, Node};
use crate::value::{FloatValue, IntValue, Value};

/// What every operator may consult besides its inputs.
pub struct Ctx<'a> {
    pub node: &'a Node,
    pub opset: i64,
    pub device: &'a Device,
    /// Backward Pass Differentiable Approximation: non-differentiable rounding operators pass
    /// the gradient through unchanged (Athalye et al., 2018).
    pub bpda: bool,
}

/// Operators whose gradient is zero or undefined almost everywhere: they block gradient
/// attacks ("gradient masking") unless BPDA replaces their backward pass by the identity.
pub const GRADIENT_BLOCKERS: &[&str] = &["Sign", "Round", "Floor", "Ceil", "Cast"];

impl Ctx<'_> {
    /// An error about this node.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Model(format!(
            "node '{}' ({}): {message}",
            self.node.name, self.node.op
        ))
    }

    pub fn int(&self, key: &str, default: i64) -> i64 {
        match self.node.attributes.get(key) {
            Some(Attribute::Int(v)) => *v,
            _ => default,
        }
    }

    pub fn float(&self, key: &str, default: f32) -> f32 {
        match self.node.attributes.get(key) {
            Some(Attribute::Float(v)) => *v,
            Some(Attribute::Int(v)) => *v as f32,
            _ => default,
        }
    }

    pub fn ints(&self, key: &str) -> Option<Vec<i64>> {
        match self.node.attributes.get(key) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            Some(Attribute::Int(v)) => Some(vec![*v]),
            _ => None,
        }
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        match self.node.attributes.get(key) {
            Some(Attribute::String(v)) => v.clone(),
            _ => default.to_string(),
        }
    }

    /// Normalizes a possibly negative axis against `rank`.
    pub fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let r = rank as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r.max(1) {
            return Err(self.error(format!("axis {axis} is out of range for rank {rank}")));
        }
        Ok(a as usize)
    }
}

/// Inputs of one node, by position; absent optional inputs are `None`.
pub struct Inputs(pub Vec<Option<Value>>);

impl Inputs {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn opt(&mut self, i: usize) -> Option<Value> {
        self.0.get_mut(i).and_then(Option::take)
    }

    pub fn value(&mut self, i: usize, ctx: &Ctx) -> Result<Value> {
        self.opt(i)
            .ok_or_else(|| ctx.error(format!("required input {i} is missing")))
    }

    pub fn float(&mut self, i: usize, ctx: &Ctx) -> Result<FloatValue> {
        self.value(i, ctx)?.into_float(ctx.device)
    }

    pub fn ints_opt(&mut self, i: usize) -> Option<IntValue> {
        self.opt(i).map(Value::into_int)
    }
}

/// Evaluates one node.
pub fn evaluate(ctx: &Ctx, mut inputs: Inputs) -> Result<Vec<Value>> {
    let op = ctx.node.op.as_str();
    let one = |v: FloatValue| Ok(vec![Value::Float(v)]);
    match op {
        "Identity" | "Dropout" => Ok(vec![inputs.value(0, ctx)?]),
        "Relu" | "Sigmoid" | "Tanh" | "Erf" | "Exp" | "Log" | "Sqrt" | "Neg" | "Abs"
        | "Reciprocal" | "LeakyRelu" | "Gelu" | "Elu" | "Selu" | "Softplus" | "HardSigmoid"
        | "HardSwish" | "Sign" | "Round" | "Floor" | "Ceil" => match inputs.value(0, ctx)? {
            Value::Int(i) if op == "Neg" || op == "Abs" => Ok(vec![Value::Int(IntValue {
                data: i
                    .data
                    .iter()
                    .map(|v| if op == "Neg" { -v } else { v.abs() })
                    .collect(),
                shape: i.shape,
            })]),
            v => one(elementwise::unary(ctx, v.into_float(ctx.device)?)?),
        },
        "Add" | "Sub" | "Mul" | "Div" | "Pow" => {
            let a = inputs.value(0, ctx)?;
            let b = inputs.value(1, ctx)?;
            Ok(vec![elementwise::binary(ctx, a, b)?])
        }
        "Sum" | "Max" | "Min" => one(elementwise::variadic(ctx, inputs)?),
        "PRelu" => {
            let x = inputs.float(0, ctx)?;
            let slope = inputs.float(1, ctx)?;
            one(elementwise::prelu(ctx, x, slope)?)
        }
        "Clip" => one(elementwise::clip(ctx, inputs)?),
        "Conv" => one(nn::conv(ctx, inputs)?),
        "MaxPool" | "AveragePool" => {
            if op == "MaxPool" && ctx.node.outputs.len() > 1 && !ctx.node.outputs[1].is_empty() {
                return Err(ctx.error("MaxPool with an Indices output is not supported"));
            }
            one(nn::pool(ctx, inputs.float(0, ctx)?)?)
        }
        "GlobalAveragePool" | "GlobalMaxPool" => one(nn::global_pool(ctx, inputs.float(0, ctx)?)?),
        "BatchNormalization" => one(nn::batch_norm(ctx, inputs)?),
        "Gemm" => one(nn::gemm(ctx, inputs)?),
        "MatMul" => {
            let a = inputs.float(0, ctx)?;
            let b = inputs.float(1, ctx)?;
            one(nn::matmul(ctx, a, b)?)
        }
        "Softmax" | "LogSoftmax" => one(nn::softmax(ctx, inputs.float(0, ctx)?)?),
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" => one(reduce::reduce(ctx, inputs)?),
        "Flatten" => Ok(vec![shape::flatten(ctx, inputs.value(0, ctx)?)?]),
        "Reshape" => Ok(vec![shape::reshape(ctx, inputs)?]),
        "Transpose" => Ok(vec![shape::transpose(ctx, inputs.value(0, ctx)?)?]),
        "Concat" => Ok(vec![shape::concat(ctx, inputs)?]),
        "Squeeze" | "Unsqueeze" => Ok(vec![shape::squeeze_unsqueeze(ctx, inputs)?]),
        "Shape" => Ok(vec![shape::shape_of(ctx, inputs.value(0, ctx)?)]),
        "Gather" => Ok(vec![shape::gather(ctx, inputs)?]),
        "Slice" => Ok(vec![shape::slice(ctx, inputs)?]),
        "Constant" => Ok(vec![shape::constant(ctx)?]),
        "ConstantOfShape" => Ok(vec![shape::constant_of_shape(ctx, inputs)?]),
        "Cast" => Ok(vec![shape::cast(ctx, inputs.value(0, ctx)?)?]),
        "Pad" => one(shape::pad(ctx, inputs)?),
        "Expand" => Ok(vec![shape::expand(ctx, inputs)?]),
        other => Err(ctx.error(format!("operator {other} is not supported"))),
    }
}
