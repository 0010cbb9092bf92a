//! Element-wise operators with NumPy broadcasting.

use burn::tensor::{activation, Tensor};

use gauntlet_core::Result;

use super::activation_kernel::Activation;
use super::broadcast::{align, broadcast_shape, host_map};
use super::gelu_kernel::Gelu;
use super::row_ops;
use super::{host, host_planes, Ctx, Inputs};
use crate::value::{physical, FloatValue, IntValue, Value, RANK};

pub fn unary(ctx: &Ctx, x: FloatValue) -> Result<FloatValue> {
    let rank = x.rank;
    let t = x.t;
    let straight_through = |input: Tensor<RANK>, output: Tensor<RANK>| {
        // Forward value of the rounding op, gradient of the identity.
        if ctx.bpda && input.is_autodiff() {
            input.clone() + (output - input).detach()
        } else {
            output
        }
    };
    let host_kernel = match ctx.node.op.as_str() {
        "Relu" => Some(Activation::Relu),
        "HardSigmoid" => Some(Activation::HardSigmoid {
            alpha: ctx.float("alpha", 0.2),
            beta: ctx.float("beta", 0.5),
        }),
        "HardSwish" => Some(Activation::HardSwish),
        _ => None,
    };
    if let Some(f) = host_kernel.filter(|_| host::activation_served(&t)) {
        let t = host::activation(t, f);
        return Ok(FloatValue { t, rank });
    }
    let t = match ctx.node.op.as_str() {
        "Relu" => activation::relu(t),
        "Sigmoid" => activation::sigmoid(t),
        "Tanh" => t.tanh(),
        "Erf" => t.erf(),
        "Exp" => t.exp(),
        "Log" => t.log(),
        "Sqrt" => t.sqrt(),
        "Neg" => t.neg(),
        "Abs" => t.abs(),
        "Reciprocal" => t.recip(),
        "LeakyRelu" => activation::leaky_relu(t, ctx.float("alpha", 0.01) as f64),
        "Gelu" => {
            let tanh = ctx.string("approximate", "none") == "tanh";
            match (row_ops::served(&t), tanh) {
                (true, false) => row_ops::gelu(t, Gelu::Erf),
                (true, true) => row_ops::gelu(t, Gelu::Tanh),
                (false, false) => activation::gelu(t),
                (false, true) => activation::gelu_approximate(t),
            }
        }
        "Elu" => activation::elu(t, ctx.float("alpha", 1.0) as f64),
        "Selu" => activation::selu(t),
        "Softplus" => activation::softplus(t, 1.0),
        "Mish" => activation::mish(t),
        "Sin" => t.sin(),
        "Cos" => t.cos(),
        "HardSigmoid" => {
            let alpha = ctx.float("alpha", 0.2);
            let beta = ctx.float("beta", 0.5);
            (t * alpha + beta).clamp(0.0, 1.0)
        }
        "HardSwish" => {
            let gate = (t.clone() * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0);
            t * gate
        }
        "Sign" => straight_through(t.clone(), t.sign()),
        "Round" => straight_through(t.clone(), t.round()),
        "Floor" => straight_through(t.clone(), t.floor()),
        "Ceil" => straight_through(t.clone(), t.ceil()),
        other => return Err(ctx.error(format!("unexpected unary operator {other}"))),
    };
    Ok(FloatValue { t, rank })
}

/// Integer `a % b` as ONNX Mod computes it: the sign of the divisor (Python) unless `fmod`,
/// then the sign of the dividend (C).
fn int_mod(ctx: &Ctx, x: i64, y: i64, fmod: bool) -> Result<i64> {
    if y == 0 {
        return Err(ctx.error("integer modulo by zero"));
    }
    let r = x % y;
    Ok(if !fmod && r != 0 && (r < 0) != (y < 0) {
        r + y
    } else {
        r
    })
}

fn int_binary(ctx: &Ctx, a: &IntValue, b: &IntValue) -> Result<IntValue> {
    let op = ctx.node.op.as_str();
    let fmod = ctx.int("fmod", 0) != 0;
    host_map(ctx, &[a, b], |v| {
        let (x, y) = (v[0], v[1]);
        Ok(match op {
            "Add" => x + y,
            "Sub" => x - y,
            "Mul" => x * y,
            "Div" if y != 0 => x / y,
            "Div" => return Err(ctx.error("integer division by zero")),
            "Pow" => x.pow(y.max(0) as u32),
            "Mod" => int_mod(ctx, x, y, fmod)?,
            other => return Err(ctx.error(format!("unexpected binary operator {other}"))),
        })
    })
}

pub fn binary(ctx: &Ctx, a: Value, b: Value) -> Result<Value> {
    if let (Value::Int(a), Value::Int(b)) = (&a, &b) {
        return Ok(Value::Int(int_binary(ctx, a, b)?));
    }
    // An integer operand is uploaded as f32 and may meet a double-precision graph.
    let [a, b]: [FloatValue; 2] = align(vec![a.into_float(ctx.device)?, b.into_float(ctx.device)?])
        .try_into()
        .expect("two operands");
    let shape = broadcast_shape(ctx, &a.shape(), &b.shape())?;
    if ctx.node.op == "Mul" {
        // Planes times per-plane factors (squeeze-and-excitation), either way round.
        let rank = shape.len();
        if let Some(len) = host_planes::plane_scale_len(&a.t, &b.t) {
            let t = host_planes::plane_scale(a.t, b.t, len);
            return Ok(Value::Float(FloatValue { t, rank }));
        }
        if let Some(len) = host_planes::plane_scale_len(&b.t, &a.t) {
            let t = host_planes::plane_scale(b.t, a.t, len);
            return Ok(Value::Float(FloatValue { t, rank }));
        }
    }
    let t = match ctx.node.op.as_str() {
        "Add" => a.t + b.t,
        "Sub" => a.t - b.t,
        "Mul" => a.t * b.t,
        "Div" => a.t / b.t,
        "Pow" => {
            if b.numel() == 1 {
                let e = Value::Float(b).to_host_f32()[0];
                if e == 2.0 {
                    a.t.square()
                } else {
                    a.t.powf_scalar(e)
                }
            } else {
                a.t.powf(b.t)
            }
        }
        "Mod" => {
            // Same shapes for the masking inside burn's fmod.
            let (a, b) = (a.t.expand(physical(&shape)?), b.t.expand(physical(&shape)?));
            if ctx.int("fmod", 0) != 0 {
                a.fmod(b)
            } else {
                // The sign of the divisor, as for integers (ONNX asks fmod=1 for floats;
                // exporters have been seen to omit it).
                a.clone() - b.clone() * (a / b).floor()
            }
        }
        other => return Err(ctx.error(format!("unexpected binary operator {other}"))),
    };
    debug_assert!(shape.len() <= RANK);
    Ok(Value::Float(FloatValue {
        t,
        rank: shape.len(),
    }))
}

pub fn variadic(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let values: Vec<Value> = (0..inputs.len()).filter_map(|i| inputs.opt(i)).collect();
    if values.is_empty() {
        return Err(ctx.error("no inputs"));
    }
    let op = ctx.node.op.as_str();
    if values.iter().all(|v| matches!(v, Value::Int(_))) {
        let ints: Vec<IntValue> = values.into_iter().map(Value::into_int).collect();
        let refs: Vec<&IntValue> = ints.iter().collect();
        return Ok(Value::Int(host_map(ctx, &refs, |v| {
            Ok(match op {
                "Sum" => v.iter().sum(),
                "Max" => *v.iter().max().expect("one operand"),
                _ => *v.iter().min().expect("one operand"),
            })
        })?));
    }
    let floats = values
        .into_iter()
        .map(|v| v.into_float(ctx.device))
        .collect::<Result<Vec<_>>>()?;
    let mut floats = align(floats).into_iter();
    let mut acc = floats.next().expect("one operand");
    for next in floats {
        let shape = broadcast_shape(ctx, &acc.shape(), &next.shape())?;
        let t = match op {
            "Sum" => acc.t + next.t,
            "Max" => acc.t.max_pair(next.t),
            _ => acc.t.min_pair(next.t),
        };
        acc = FloatValue {
            t,
            rank: shape.len(),
        };
    }
    Ok(Value::Float(acc))
}

pub fn prelu(ctx: &Ctx, x: FloatValue, slope: FloatValue) -> Result<FloatValue> {
    let shape = broadcast_shape(ctx, &x.shape(), &slope.shape())?;
    let positive = x.t.clone().clamp_min(0.0);
    let negative = x.t.clamp_max(0.0) * slope.t;
    Ok(FloatValue {
        t: positive + negative,
        rank: shape.len(),
    })
}

pub fn clip(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let x = inputs.float(0, ctx)?;
    let (min, max) = if ctx.opset < 11 {
        (
            Some(ctx.float("min", f32::NEG_INFINITY)),
            Some(ctx.float("max", f32::INFINITY)),
        )
    } else {
        let scalar = |v: Option<Value>| v.and_then(|v| v.to_host_f32().first().copied());
        (scalar(inputs.opt(1)), scalar(inputs.opt(2)))
    };
    let mut t = x.t;
    if let Some(lo) = min {
        t = t.clamp_min(lo);
    }
    if let Some(hi) = max {
        t = t.clamp_max(hi);
    }
    Ok(FloatValue { t, rank: x.rank })
}
