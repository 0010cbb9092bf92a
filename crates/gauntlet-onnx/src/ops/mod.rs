//! Node evaluation: one function per ONNX operator family.
//!
//! Each operator takes its inputs as [`Value`]s and returns its outputs; shapes are checked
//! before burn is called, so a model that does not fit its data yields an error naming the
//! node, never a panic.

mod activation_kernel;
mod broadcast;
mod constant;
mod context;
mod conv_direct;
mod conv_kernel;
mod conv_pool;
mod conv_shape;
mod dense;
mod depthwise;
mod einsum;
mod elementwise;
mod fast_math;
pub(crate) mod fused;
mod gelu_kernel;
mod host;
mod host_planes;
mod im2col;
mod indexing;
#[cfg(test)]
mod kernel_testing;
mod logic;
mod matmul;
mod ml;
mod nn;
mod normalization;
mod pad;
mod plane_kernel;
mod pool_kernel;
mod reduce;
mod resize;
mod row_kernel;
mod row_ops;
mod select;
mod shape;
mod simd;
pub(crate) mod supported;
mod training_form;
pub(crate) mod view;

use gauntlet_core::Result;

use crate::value::{FloatValue, IntValue, Value};

pub use context::{Ctx, Inputs};

/// Operators whose gradient is zero or undefined almost everywhere: they block gradient
/// attacks ("gradient masking") unless BPDA replaces their backward pass (rounding, Cast,
/// the ordered comparisons; Equal and ArgMax/ArgMin have no such replacement).
pub const GRADIENT_BLOCKERS: &[&str] = &[
    "Sign",
    "Round",
    "Floor",
    "Ceil",
    "Cast",
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "ArgMax",
    "ArgMin",
];

/// Evaluates one node.
pub fn evaluate(ctx: &Ctx, mut inputs: Inputs) -> Result<Vec<Value>> {
    let op = ctx.node.op.as_str();
    let one = |v: FloatValue| Ok(vec![Value::Float(v)]);
    match op {
        "Dropout" if ctx.training().is_some() => {
            let training = ctx.training().expect("checked by the guard");
            let x = inputs.float(0, ctx)?;
            // The ratio is an input from opset 12, an attribute before.
            let ratio = match inputs.opt(1) {
                Some(r) => r.to_host_f32().first().copied().unwrap_or(0.5),
                None => ctx.float("ratio", 0.5),
            };
            one(training_form::dropout(ctx, training, x, ratio)?)
        }
        "Identity" | "Dropout" => Ok(vec![inputs.value(0, ctx)?]),
        "Relu" | "Sigmoid" | "Tanh" | "Erf" | "Exp" | "Log" | "Sqrt" | "Neg" | "Abs"
        | "Reciprocal" | "LeakyRelu" | "Gelu" | "Elu" | "Selu" | "Softplus" | "HardSigmoid"
        | "HardSwish" | "Sign" | "Round" | "Floor" | "Ceil" | "Mish" | "Sin" | "Cos" => {
            match inputs.value(0, ctx)? {
                Value::Int(i) if op == "Neg" || op == "Abs" => Ok(vec![Value::Int(IntValue {
                    data: i
                        .data
                        .iter()
                        .map(|v| if op == "Neg" { -v } else { v.abs() })
                        .collect(),
                    shape: i.shape,
                })]),
                v => one(elementwise::unary(ctx, v.into_float(ctx.device)?)?),
            }
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Mod" => {
            let a = inputs.value(0, ctx)?;
            let b = inputs.value(1, ctx)?;
            Ok(vec![elementwise::binary(ctx, a, b)?])
        }
        "Sum" | "Max" | "Min" => Ok(vec![elementwise::variadic(ctx, inputs)?]),
        "PRelu" => {
            let x = inputs.float(0, ctx)?;
            let slope = inputs.float(1, ctx)?;
            one(elementwise::prelu(ctx, x, slope)?)
        }
        "Clip" => one(elementwise::clip(ctx, inputs)?),
        "Conv" => one(nn::conv(ctx, inputs)?),
        fused::CONV_POOL => one(nn::conv_pool(ctx, inputs)?),
        "MaxPool" | "AveragePool" => {
            if op == "MaxPool" && ctx.node.outputs.len() > 1 && !ctx.node.outputs[1].is_empty() {
                return Err(ctx.error("MaxPool with an Indices output is not supported"));
            }
            one(nn::pool(ctx, inputs.float(0, ctx)?)?)
        }
        "GlobalAveragePool" | "GlobalMaxPool" => one(nn::global_pool(ctx, inputs.float(0, ctx)?)?),
        "BatchNormalization" => one(nn::batch_norm(ctx, inputs)?),
        "LayerNormalization" => normalization::layer_norm(ctx, inputs),
        "GroupNormalization" | "InstanceNormalization" => {
            one(normalization::group_norm(ctx, inputs)?)
        }
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" => {
            let a = inputs.value(0, ctx)?;
            let b = inputs.value(1, ctx)?;
            Ok(vec![logic::compare(ctx, a, b)?])
        }
        "Not" | "And" | "Or" | "Xor" => {
            let values = (0..inputs.len()).filter_map(|i| inputs.opt(i)).collect();
            Ok(vec![logic::logic(ctx, values)?])
        }
        "Where" => {
            let cond = inputs.value(0, ctx)?;
            let x = inputs.value(1, ctx)?;
            let y = inputs.value(2, ctx)?;
            Ok(vec![logic::where_(ctx, cond, x, y)?])
        }
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
        "Gather" => Ok(vec![indexing::gather(ctx, inputs)?]),
        "Slice" => Ok(vec![indexing::slice(ctx, inputs)?]),
        "GatherElements" => Ok(vec![indexing::gather_elements(ctx, inputs)?]),
        "ScatterND" => Ok(vec![indexing::scatter_nd(ctx, inputs)?]),
        "Constant" => Ok(vec![constant::constant(ctx)?]),
        "ConstantOfShape" => Ok(vec![constant::constant_of_shape(ctx, inputs)?]),
        "Cast" => Ok(vec![constant::cast(ctx, inputs.value(0, ctx)?)?]),
        "Range" => Ok(vec![constant::range(ctx, inputs)?]),
        "Pad" => one(pad::pad(ctx, inputs)?),
        "Expand" => Ok(vec![shape::expand(ctx, inputs)?]),
        "Tile" => Ok(vec![shape::tile(ctx, inputs)?]),
        "Split" => shape::split(ctx, inputs),
        "TopK" => select::top_k(ctx, inputs),
        "ArgMax" | "ArgMin" => Ok(vec![select::arg_extreme(ctx, inputs.value(0, ctx)?)?]),
        "Resize" | "Upsample" => one(resize::resize(ctx, inputs)?),
        "Einsum" => {
            let operands = (0..inputs.len())
                .map(|i| inputs.float(i, ctx))
                .collect::<Result<Vec<_>>>()?;
            one(einsum::einsum(ctx, operands)?)
        }
        "ai.onnx.ml::LinearClassifier" => ml::linear_classifier(ctx, inputs.float(0, ctx)?),
        "ai.onnx.ml::Normalizer" => one(ml::normalizer(ctx, inputs.float(0, ctx)?)?),
        other => Err(ctx.error(format!("operator {other} is not supported"))),
    }
}
