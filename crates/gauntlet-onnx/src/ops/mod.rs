//! Node evaluation: one function per ONNX operator family.
//!
//! Each operator takes its inputs as [`Value`]s and returns its outputs; shapes are checked
//! before burn is called, so a model that does not fit its data yields an error naming the
//! node, never a panic.

mod activation_kernel;
mod context;
mod conv_kernel;
mod conv_shape;
mod depthwise;
mod elementwise;
mod host;
mod host_planes;
mod im2col;
mod matmul;
mod nn;
mod plane_kernel;
mod pool_kernel;
mod reduce;
mod shape;
mod simd;

use gauntlet_core::Result;

use crate::value::{FloatValue, IntValue, Value};

pub use context::{Ctx, Inputs};

/// Operators the interpreter evaluates (default ONNX domain).
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "PRelu",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Round",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Slice",
    "Softmax",
    "Softplus",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// Operators whose gradient is zero or undefined almost everywhere: they block gradient
/// attacks ("gradient masking") unless BPDA replaces their backward pass by the identity.
pub const GRADIENT_BLOCKERS: &[&str] = &["Sign", "Round", "Floor", "Ceil", "Cast"];

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
