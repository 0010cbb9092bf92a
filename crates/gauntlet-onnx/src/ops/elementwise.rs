//! Element-wise operators with NumPy broadcasting.

use burn::tensor::{activation, Tensor};

use gauntlet_core::Result;

use super::activation_kernel::Activation;
use super::{host, host_planes, Ctx, Inputs};
use crate::value::{FloatValue, IntValue, Value, RANK};

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
        "Gelu" => match ctx.string("approximate", "none").as_str() {
            "tanh" => activation::gelu_approximate(t),
            _ => activation::gelu(t),
        },
        "Elu" => activation::elu(t, ctx.float("alpha", 1.0) as f64),
        "Selu" => activation::selu(t),
        "Softplus" => activation::softplus(t, 1.0),
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

/// Broadcast shape of two logical shapes, or an error naming both.
pub fn broadcast_shape(ctx: &Ctx, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![1; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(ctx.error(format!(
                    "cannot broadcast shapes {a:?} and {b:?}; the input probably has the wrong \
                     shape for this model"
                )))
            }
        };
    }
    Ok(out)
}

fn int_binary(ctx: &Ctx, a: IntValue, b: IntValue) -> Result<IntValue> {
    let shape = broadcast_shape(ctx, &a.shape, &b.shape)?;
    let count: usize = shape.iter().product();
    let index = |v: &IntValue, flat: usize| -> i64 {
        // map an output index to the (broadcast) operand index
        let offset = shape.len() - v.shape.len();
        let mut rem = flat;
        let mut idx = 0usize;
        let mut stride = 1usize;
        for axis in (0..shape.len()).rev() {
            let coord = rem % shape[axis];
            rem /= shape[axis];
            if axis >= offset {
                let d = v.shape[axis - offset];
                idx += if d == 1 { 0 } else { coord * stride };
                stride *= d;
            }
        }
        v.data[idx]
    };
    let op = ctx.node.op.as_str();
    let mut data = Vec::with_capacity(count);
    for i in 0..count {
        let (x, y) = (index(&a, i), index(&b, i));
        data.push(match op {
            "Add" => x + y,
            "Sub" => x - y,
            "Mul" => x * y,
            "Div" if y != 0 => x / y,
            "Div" => return Err(ctx.error("integer division by zero")),
            "Pow" => x.pow(y.max(0) as u32),
            other => return Err(ctx.error(format!("unexpected binary operator {other}"))),
        });
    }
    Ok(IntValue { data, shape })
}

pub fn binary(ctx: &Ctx, a: Value, b: Value) -> Result<Value> {
    if let (Value::Int(a), Value::Int(b)) = (&a, &b) {
        return Ok(Value::Int(int_binary(ctx, a.clone(), b.clone())?));
    }
    let a = a.into_float(ctx.device)?;
    let mut b = b.into_float(ctx.device)?;
    if b.t.dtype() != a.t.dtype() {
        // An integer operand uploaded as f32 meets a double-precision graph.
        b.t = b.t.cast(a.t.dtype());
    }
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
        other => return Err(ctx.error(format!("unexpected binary operator {other}"))),
    };
    debug_assert!(shape.len() <= RANK);
    Ok(Value::Float(FloatValue {
        t,
        rank: shape.len(),
    }))
}

pub fn variadic(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let mut acc = inputs.float(0, ctx)?;
    for i in 1..inputs.len() {
        let next = inputs.float(i, ctx)?;
        let shape = broadcast_shape(ctx, &acc.shape(), &next.shape())?;
        let t = match ctx.node.op.as_str() {
            "Sum" => acc.t + next.t,
            "Max" => acc.t.max_pair(next.t),
            _ => acc.t.min_pair(next.t),
        };
        acc = FloatValue {
            t,
            rank: shape.len(),
        };
    }
    Ok(acc)
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
