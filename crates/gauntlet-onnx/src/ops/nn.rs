//! Neural-network operators: convolution, pooling, normalization, dense layers, softmax.

use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};

use super::{conv_pool, conv_shape, elementwise, fused, host, host_planes, pool_kernel};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::Tensor;

use gauntlet_core::Result;

use super::{Ctx, Inputs};
use crate::value::FloatValue;

/// Spatial window settings shared by Conv and the pooling operators (2-D; 1-D is lifted).
struct Window {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    /// (begin, end) per spatial axis.
    padding: [(usize, usize); 2],
}

/// Reads kernel/stride/dilation/pads/auto_pad for a 1-D or 2-D window over `spatial`.
fn window(ctx: &Ctx, kernel: Vec<usize>, spatial: &[usize]) -> Result<Window> {
    let n = spatial.len();
    let list = |key: &str, default: usize| -> Vec<usize> {
        ctx.ints(key)
            .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
            .unwrap_or_else(|| vec![default; n])
    };
    let stride = list("strides", 1);
    let dilation = list("dilations", 1);
    if kernel.len() != n || stride.len() != n || dilation.len() != n {
        return Err(ctx.error(format!(
            "window attributes do not match the {n} spatial axes of the input"
        )));
    }
    let pads = list("pads", 0);
    let mut padding: Vec<(usize, usize)> = if pads.len() == 2 * n {
        (0..n).map(|i| (pads[i], pads[i + n])).collect()
    } else {
        vec![(0, 0); n]
    };
    let auto_pad = ctx.string("auto_pad", "NOTSET");
    if auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER" {
        for i in 0..n {
            let out = spatial[i].div_ceil(stride[i]);
            let needed = ((out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1)
                .saturating_sub(spatial[i]);
            let small = needed / 2;
            padding[i] = if auto_pad == "SAME_UPPER" {
                (small, needed - small)
            } else {
                (needed - small, small)
            };
        }
    } else if auto_pad == "VALID" {
        padding = vec![(0, 0); n];
    }
    // 1-D windows are run as 2-D windows of height 1.
    let two = |v: &[usize], fill: usize| if n == 1 { [fill, v[0]] } else { [v[0], v[1]] };
    Ok(Window {
        kernel: two(&kernel, 1),
        stride: two(&stride, 1),
        dilation: two(&dilation, 1),
        padding: if n == 1 {
            [(0, 0), padding[0]]
        } else {
            [padding[0], padding[1]]
        },
    })
}

/// Lifts an N×C×L or N×C×H×W input to rank 4.
/// Takes the value, so a tensor at its last use keeps a single owner (host kernels then move
/// its buffer instead of copying it).
fn as_4d(ctx: &Ctx, x: FloatValue) -> Result<Tensor<4>> {
    let s = x.shape();
    match s.len() {
        3 => Ok(x.t.reshape([s[0], s[1], 1, s[2]])),
        4 => Ok(x.at_rank::<4>()),
        r => Err(ctx.error(format!(
            "expects an input of rank 3 or 4 (N×C×L or N×C×H×W), got rank {r} with shape {s:?}; \
             check the input shape given to the model"
        ))),
    }
}

/// Back from rank 4 to the input's logical rank.
fn from_4d(y: Tensor<4>, rank: usize) -> FloatValue {
    if rank == 3 {
        let [n, c, _, l] = y.dims();
        FloatValue::from_tensor(y.reshape([n, c, l]))
    } else {
        FloatValue::from_tensor(y)
    }
}

/// A convolution's operands, read and checked, lifted to rank 4.
struct ConvOperands {
    input: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    window: conv_shape::ConvWindow,
    groups: usize,
    /// The input's logical rank (3 for a 1-D convolution).
    rank: usize,
}

impl ConvOperands {
    fn read(ctx: &Ctx, mut inputs: Inputs) -> Result<Self> {
        let x = inputs.float(0, ctx)?;
        let w = inputs.float(1, ctx)?;
        let bias = inputs
            .opt(2)
            .map(|b| b.into_float(ctx.device))
            .transpose()?;
        let xs = x.shape();
        let ws = w.shape();
        if ws.len() != xs.len() || !(3..=4).contains(&xs.len()) {
            return Err(ctx.error(format!(
                "supports 1-D and 2-D convolutions; got input {xs:?} and weight {ws:?}"
            )));
        }
        let groups = ctx.int("group", 1).max(1) as usize;
        if xs[1] != ws[1] * groups {
            return Err(ctx.error(format!(
                "the input has {} channels but the weights expect {} (shape {ws:?}, {groups} \
                 group(s)); the data probably has the wrong channel count or layout (use \
                 N×C×H×W)",
                xs[1],
                ws[1] * groups
            )));
        }
        let kernel = ctx
            .ints("kernel_shape")
            .map(|k| k.iter().map(|&v| v as usize).collect())
            .unwrap_or_else(|| ws[2..].to_vec());
        let win = window(ctx, kernel, &xs[2..])?;
        let rank = x.rank;
        let weight = as_4d(ctx, w)?;
        let input = as_4d(ctx, x)?;
        let [_, _, h, wd] = input.dims();
        for (axis, size) in [h, wd].into_iter().enumerate() {
            let span = (win.kernel[axis] - 1) * win.dilation[axis] + 1;
            if size + win.padding[axis].0 + win.padding[axis].1 < span {
                return Err(ctx.error(format!(
                    "the input's spatial size {:?} is smaller than the kernel; the input is too \
                     small for this model",
                    &xs[2..]
                )));
            }
        }
        let bias = bias.map(|b| {
            let n = b.numel();
            b.t.reshape([n])
        });
        Ok(ConvOperands {
            input,
            weight,
            bias,
            window: conv_shape::ConvWindow {
                stride: win.stride,
                padding: win.padding,
                dilation: win.dilation,
            },
            groups,
            rank,
        })
    }

    /// The host kernels' shapes, when they serve these operands.
    fn host_shape(&self) -> Option<conv_shape::ConvShape> {
        host::conv2d_shape(
            &self.input,
            &self.weight,
            self.bias.as_ref(),
            self.window,
            self.groups,
        )
    }

    /// `w ⊛ x + b`, at rank 4.
    fn run(self) -> Tensor<4> {
        match self.host_shape() {
            Some(shape) => host::conv2d(self.input, self.weight, self.bias, shape),
            None => conv2d(
                self.input,
                self.weight,
                self.bias,
                ConvOptions {
                    stride: self.window.stride,
                    padding: self.window.padding,
                    dilation: self.window.dilation,
                    groups: self.groups,
                },
            ),
        }
    }
}

pub fn conv(ctx: &Ctx, inputs: Inputs) -> Result<FloatValue> {
    let operands = ConvOperands::read(ctx, inputs)?;
    let rank = operands.rank;
    Ok(from_4d(operands.run(), rank))
}

/// A pooling's window over an input of shape `xs` and its `ceil_mode`.
fn pool_window(ctx: &Ctx, xs: &[usize]) -> Result<(Window, bool)> {
    if !(3..=4).contains(&xs.len()) {
        return Err(ctx.error(format!("supports 1-D and 2-D pooling; got input {xs:?}")));
    }
    let kernel: Vec<usize> = ctx
        .ints("kernel_shape")
        .ok_or_else(|| ctx.error("missing the kernel_shape attribute"))?
        .iter()
        .map(|&v| v as usize)
        .collect();
    Ok((window(ctx, kernel, &xs[2..])?, ctx.int("ceil_mode", 0) != 0))
}

/// The host pooling kernel's axes of `win` over a rank-4 input of height `ih`, width `iw`.
fn pool_axes(win: &Window, ih: usize, iw: usize) -> [pool_kernel::Axis; 2] {
    let axis = |i: usize, size: usize| pool_kernel::Axis {
        input: size,
        kernel: win.kernel[i],
        stride: win.stride[i],
        dilation: win.dilation[i],
        pad_begin: win.padding[i].0,
        pad_end: win.padding[i].1,
    };
    [axis(0, ih), axis(1, iw)]
}

pub fn pool(ctx: &Ctx, x: FloatValue) -> Result<FloatValue> {
    let (win, ceil_mode) = pool_window(ctx, &x.shape())?;
    let rank = x.rank;
    let input = as_4d(ctx, x)?;
    let [_, _, ih, iw] = input.dims();
    let y = if ctx.node.op == "MaxPool" {
        let [h, w] = pool_axes(&win, ih, iw);
        match host::max_pool2d_shape(&input, h, w, ceil_mode) {
            Some(shape) => host::max_pool2d(input, shape),
            None => max_pool2d(
                input,
                MaxPoolOptions {
                    kernel_size: win.kernel,
                    stride: win.stride,
                    padding: win.padding,
                    dilation: win.dilation,
                    ceil_mode,
                },
            ),
        }
    } else {
        if win.dilation != [1, 1] {
            return Err(ctx.error("dilated average pooling is not supported"));
        }
        avg_pool2d(
            input,
            AvgPoolOptions {
                kernel_size: win.kernel,
                stride: win.stride,
                padding: win.padding,
                count_include_pad: ctx.int("count_include_pad", 0) != 0,
                ceil_mode,
            },
        )
    };
    Ok(from_4d(y, rank))
}

/// A `Conv → (Relu) → MaxPool` chain the plan fused into one node ([`crate::plan`]): one pass
/// per sample through the host kernels when they serve it, otherwise the three operators one
/// after the other. Either way, errors name the original nodes.
pub fn conv_pool(ctx: &Ctx, inputs: Inputs) -> Result<FloatValue> {
    let fused = fused::ConvPoolNodes::of(ctx.node);
    let at = |node| Ctx { node, ..*ctx };
    let conv_ctx = at(&fused.conv);
    let pool_ctx = at(&fused.pool);
    let operands = ConvOperands::read(&conv_ctx, inputs)?;
    let rank = operands.rank;
    if let Some(conv) = operands.host_shape() {
        let [n, co, oh, ow] = conv.output();
        let logical = if rank == 3 {
            vec![n, co, ow]
        } else {
            vec![n, co, oh, ow]
        };
        let (win, ceil_mode) = pool_window(&pool_ctx, &logical)?;
        let [h, w] = pool_axes(&win, oh, ow);
        let shape = conv_pool::ConvPoolShape {
            conv,
            pool: pool_kernel::PoolShape {
                planes: n * co,
                h,
                w,
                ceil_mode,
            },
            relu: fused.relu.is_some(),
        };
        if shape.is_fusable() {
            let y = host::conv_pool(operands.input, operands.weight, operands.bias, shape);
            return Ok(from_4d(y, rank));
        }
    }
    let mut y = from_4d(operands.run(), rank);
    if let Some(relu) = &fused.relu {
        y = elementwise::unary(&at(relu), y)?;
    }
    pool(&pool_ctx, y)
}

pub fn global_pool(ctx: &Ctx, x: FloatValue) -> Result<FloatValue> {
    if x.rank < 3 {
        return Err(ctx.error(format!("expects N×C×spatial input, got {:?}", x.shape())));
    }
    let mut t = x.t;
    if ctx.node.op == "GlobalAveragePool" && host::activation_served(&t) {
        let t = host_planes::plane_mean(t, x.rank - 2);
        return Ok(FloatValue { t, rank: x.rank });
    }
    for axis in 2..x.rank {
        let phys = axis + crate::value::RANK - x.rank;
        t = if ctx.node.op == "GlobalMaxPool" {
            t.max_dim(phys)
        } else {
            t.mean_dim(phys)
        };
    }
    Ok(FloatValue { t, rank: x.rank })
}

/// Broadcast shape `[1, C, 1, …]` for per-channel parameters of an input of `rank`.
fn channel_shape(c: usize, rank: usize) -> Vec<usize> {
    let mut s = vec![1; rank];
    if rank > 1 {
        s[1] = c;
    } else {
        s[0] = c;
    }
    s
}

pub fn batch_norm(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let x = inputs.float(0, ctx)?;
    let scale = inputs.float(1, ctx)?;
    let bias = inputs.float(2, ctx)?;
    let mean = inputs.float(3, ctx)?;
    let var = inputs.float(4, ctx)?;
    let eps = ctx.float("epsilon", 1e-5);
    let c = scale.numel();
    let xs = x.shape();
    if xs.len() < 2 || xs[1] != c {
        return Err(ctx.error(format!(
            "input {xs:?} does not have the {c} channels the normalization expects"
        )));
    }
    let shape = channel_shape(c, x.rank);
    if let Some(training) = ctx.training() {
        let (scale, bias) = (scale.reshape(&shape)?.t, bias.reshape(&shape)?.t);
        return super::training_form::batch_norm(ctx, training, x, scale, bias, eps);
    }
    // Inference form: y = x·s + (b − μ·s), s = γ / √(σ² + ε).
    let s = scale.reshape(&shape)?.t / (var.reshape(&shape)?.t + eps).sqrt();
    let shift = bias.reshape(&shape)?.t - mean.reshape(&shape)?.t * s.clone();
    Ok(FloatValue {
        t: x.t * s + shift,
        rank: x.rank,
    })
}

/// 2-D view of a value for Gemm.
fn matrix(ctx: &Ctx, v: &FloatValue, what: &str) -> Result<Tensor<2>> {
    match v.rank {
        2 => Ok(v.at_rank::<2>()),
        1 => {
            let n = v.numel();
            Ok(v.t.clone().reshape([1, n]))
        }
        r => Err(ctx.error(format!("{what} must be a matrix, got rank {r}"))),
    }
}

pub fn gemm(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let a = inputs.float(0, ctx)?;
    let b = inputs.float(1, ctx)?;
    let c = inputs
        .opt(2)
        .map(|v| v.into_float(ctx.device))
        .transpose()?;
    let mut a = matrix(ctx, &a, "input A")?;
    let b = matrix(ctx, &b, "input B")?;
    if ctx.int("transA", 0) != 0 {
        a = a.transpose();
    }
    let b_transposed = ctx.int("transB", 0) != 0;
    let [m, k] = a.dims();
    let [k2, n] = if b_transposed {
        let [r, c] = b.dims();
        [c, r]
    } else {
        b.dims()
    };
    if k != k2 {
        return Err(ctx.error(format!(
            "matrix shapes [{m}, {k}] and [{k2}, {n}] do not fit; the input probably has the \
             wrong number of features for this model"
        )));
    }
    let alpha = ctx.float("alpha", 1.0);
    let beta = ctx.float("beta", 1.0);
    let mut y = match host::dense_shape(&a, &b, b_transposed) {
        Some(shape) => host::dense(a, b, shape),
        None if b_transposed => a.matmul(b.transpose()),
        None => a.matmul(b),
    };
    if alpha != 1.0 {
        y = y * alpha;
    }
    let mut out = FloatValue::from_tensor(y);
    if let Some(c) = c {
        super::broadcast::broadcast_shape(ctx, &[m, n], &c.shape())?;
        let c = if beta != 1.0 { c.t * beta } else { c.t };
        out.t = out.t + c;
    }
    Ok(out)
}

pub fn matmul(ctx: &Ctx, a: FloatValue, b: FloatValue) -> Result<FloatValue> {
    let (sa, sb) = (a.shape(), b.shape());
    // Vectors are promoted to matrices and the added axis removed again (NumPy semantics).
    let a2 = if a.rank == 1 {
        a.clone().reshape(&[1, sa[0]])?
    } else {
        a
    };
    let b2 = if b.rank == 1 {
        b.clone().reshape(&[sb[0], 1])?
    } else {
        b
    };
    let (s1, s2) = (a2.shape(), b2.shape());
    let k1 = s1[s1.len() - 1];
    let k2 = s2[s2.len() - 2];
    if k1 != k2 {
        return Err(ctx.error(format!(
            "cannot multiply shapes {sa:?} and {sb:?}; the input probably has the wrong number \
             of features for this model"
        )));
    }
    let batch = super::broadcast::broadcast_shape(ctx, &s1[..s1.len() - 2], &s2[..s2.len() - 2])?;
    if b2.rank == 2 && a2.rank > 2 {
        // A Linear layer, [.., M, K] × [K, N]: one [rows, K] × [K, N] product. One large
        // GEMM keeps every core busy and packs the weight once, where a batched product
        // would run one small GEMM per leading index (and repack the weight each time).
        let rows = a2.numel() / k1;
        let n = s2[1];
        let y = a2.t.reshape([rows, k1]).matmul(b2.at_rank::<2>());
        let mut shape = s1;
        *shape.last_mut().expect("rank > 2") = n;
        return FloatValue::from_tensor(y).reshape(&shape);
    }
    let rank = batch.len() + 2;
    let y = FloatValue {
        t: a2.t.matmul(b2.t),
        rank,
    };
    let mut shape = y.shape();
    if sa.len() == 1 {
        shape.remove(shape.len() - 2);
    }
    if sb.len() == 1 {
        shape.pop();
    }
    y.reshape(&shape)
}

pub fn softmax(ctx: &Ctx, x: FloatValue) -> Result<FloatValue> {
    let log = ctx.node.op == "LogSoftmax";
    let apply = |t: Tensor<2>| {
        if log {
            activation::log_softmax(t, 1)
        } else {
            activation::softmax(t, 1)
        }
    };
    let shape = x.shape();
    if ctx.opset < 13 {
        // Older opsets flatten to 2-D around `axis` (default 1).
        let axis = ctx.axis(ctx.int("axis", 1), x.rank)?;
        let rows: usize = shape[..axis].iter().product();
        let cols: usize = shape[axis..].iter().product();
        let x = x.t.reshape([rows, cols]);
        let y = if super::row_ops::served(&x) {
            let y = super::row_ops::softmax(x.reshape([rows, cols, 1]), log);
            y.reshape([rows, cols])
        } else {
            apply(x)
        };
        return FloatValue::from_tensor(y).reshape(&shape);
    }
    let axis = ctx.axis(ctx.int("axis", -1), x.rank)?;
    if super::row_ops::served(&x.t) {
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let y = super::row_ops::softmax(x.t.reshape([outer, shape[axis], inner]), log);
        return FloatValue::from_tensor(y).reshape(&shape);
    }
    let phys = x.axis(axis);
    let t = if log {
        activation::log_softmax(x.t, phys)
    } else {
        activation::softmax(x.t, phys)
    };
    Ok(FloatValue { t, rank: x.rank })
}
