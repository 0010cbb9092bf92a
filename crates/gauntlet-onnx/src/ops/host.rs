//! Host kernels as burn operations on the CPU backend, with their own backward passes.
//!
//! A burn backend extension: on `Flex` the operations run [`conv_kernel`] and [`pool_kernel`]
//! on the tensors' buffers; under `Autodiff<Flex>` they also register a backward step that
//! runs the matching gradient kernels, so attacks that differentiate the model take the fast
//! path too. Other backends (a GPU) keep burn's own operators: [`conv2d_shape`] and
//! [`max_pool2d_shape`] answer `None` when the tensors are not on the CPU backend.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::{DType, Device, Tensor, TensorData};

use super::conv_kernel::{self, ConvShape};
use super::pool_kernel::{self, PoolShape};

/// Convolution and max pooling computed by gauntlet's host kernels.
#[backend_extension(Flex, Autodiff)]
pub trait HostKernels: Backend {
    /// `[N, C, H, W]` ⊛ `[C_out, C, KH, KW]` + `[C_out]`, one group.
    fn host_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        shape: ConvShape,
    ) -> FloatTensor<Self>;

    /// Max pooling of `[N, C, H, W]`.
    fn host_max_pool2d(x: FloatTensor<Self>, shape: PoolShape) -> FloatTensor<Self>;
}

/// The contiguous float32 values of a CPU tensor (a copy only when its layout is strided).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("contiguous after to_contiguous")
                .to_vec(),
        ),
    }
}

fn flex(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl HostKernels for Flex {
    fn host_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        shape: ConvShape,
    ) -> FlexTensor {
        flex(
            conv_kernel::forward(&values(&x), &values(&weight), &values(&bias), shape),
            shape.output(),
        )
    }

    fn host_max_pool2d(x: FlexTensor, shape: PoolShape) -> FlexTensor {
        let [n, c, _, _] = x.shape().dims::<4>();
        let [oh, ow] = shape.output();
        flex(pool_kernel::max_pool(&values(&x), shape), [n, c, oh, ow])
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = (FlexTensor, FlexTensor, ConvShape);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let dy = values(&grad);
        let (x, weight, shape) = ops.state;
        let [c_out, c, kh, kw] = [
            shape.out_channels,
            shape.input[1],
            shape.kernel[0],
            shape.kernel[1],
        ];
        if let Some(node) = node_x {
            let dx = conv_kernel::input_grad(&values(&weight), &dy, shape);
            grads.register::<Flex>(node.id, flex(dx, shape.input));
        }
        if let Some(node) = node_weight {
            let dw = conv_kernel::weight_grad(&values(&x), &dy, shape);
            grads.register::<Flex>(node.id, flex(dw, [c_out, c, kh, kw]));
        }
        if let Some(node) = node_bias {
            let db = conv_kernel::bias_grad(&dy, shape);
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(db, [c_out])));
        }
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// Argmax positions, and the input's shape.
    type State = (std::sync::Arc<Vec<u32>>, PoolShape, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (indices, shape, input) = ops.state;
        if let Some(node) = node_x {
            let dx = pool_kernel::max_pool_backward(&values(&grad), &indices, shape);
            grads.register::<Flex>(node.id, flex(dx, input));
        }
    }
}

impl<C: CheckpointStrategy> HostKernels for Autodiff<Flex, C> {
    fn host_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        shape: ConvShape,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let y = Flex::host_conv2d(x.clone(), weight.clone(), bias.into_primitive(), shape);
                prep.finish((x, weight, shape), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::host_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                shape,
            )),
        }
    }

    fn host_max_pool2d(x: FloatTensor<Self>, shape: PoolShape) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = x.into_primitive();
                let dims = input.shape().dims::<4>();
                let [oh, ow] = shape.output();
                let (y, indices) = pool_kernel::max_pool_with_indices(&values(&input), shape);
                drop(input);
                prep.finish(
                    (std::sync::Arc::new(indices), shape, dims),
                    flex(y, [dims[0], dims[1], oh, ow]),
                )
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::host_max_pool2d(x.into_primitive(), shape))
            }
        }
    }
}

/// Whether tensors on `device` run on the CPU backend these kernels serve (with or without
/// autodiff).
fn served(device: &Device) -> bool {
    let cpu = gauntlet_core::device::compute_device();
    *device == cpu || *device == cpu.autodiff()
}

/// The convolution's shapes when the host kernels serve it (float32, one group, tensors on the
/// CPU backend); `None` sends the caller to burn's own operator.
pub fn conv2d_shape(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    window: conv_kernel::ConvWindow,
    groups: usize,
) -> Option<ConvShape> {
    let float32 = x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32);
    let [n, c, h, w] = x.dims();
    let [c_out, c_w, kh, kw] = weight.dims();
    let shape = ConvShape {
        input: [n, c, h, w],
        out_channels: c_out,
        kernel: [kh, kw],
        window,
    };
    let ours = float32
        && groups == 1
        && c_w == c
        && shape.is_valid()
        && served(&x.device())
        && served(&weight.device());
    ours.then_some(shape)
}

/// Convolution through the host kernels, for a `shape` from [`conv2d_shape`].
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    shape: ConvShape,
) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([shape.out_channels], &weight.device()));
    let y = <Dispatch as HostKernels>::host_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        shape,
    );
    Tensor::from_dispatch(y)
}

/// The pooling's shapes when the host kernels serve it (float32 on the CPU backend, nonzero
/// kernel and stride); `None` sends the caller to burn's own operator. The axes' `input`
/// lengths are taken from `x`.
pub fn max_pool2d_shape(
    x: &Tensor<4>,
    h: pool_kernel::Axis,
    w: pool_kernel::Axis,
    ceil_mode: bool,
) -> Option<PoolShape> {
    let [n, c, ih, iw] = x.dims();
    let shape = PoolShape {
        planes: n * c,
        h: pool_kernel::Axis { input: ih, ..h },
        w: pool_kernel::Axis { input: iw, ..w },
        ceil_mode,
    };
    (x.dtype() == DType::F32 && shape.is_valid() && served(&x.device())).then_some(shape)
}

/// Max pooling through the host kernels, for a `shape` from [`max_pool2d_shape`].
pub fn max_pool2d(x: Tensor<4>, shape: PoolShape) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as HostKernels>::host_max_pool2d(
        x.into_dispatch(),
        shape,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv_kernel::ConvWindow;
    use crate::ops::pool_kernel::Axis;
    use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
    use gauntlet_core::device::{autodiff_device, compute_device};
    use gauntlet_core::tensor::to_vec;

    fn tensor<const D: usize>(shape: [usize; D], seed: usize, device: &Device) -> Tensor<D> {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = (0..len)
            .map(|i| (((i + seed) * 7919) % 997) as f32 / 499.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// The host convolution, or `None` where it hands over to burn.
    fn host_conv(
        x: Tensor<4>,
        w: Tensor<4>,
        b: Option<Tensor<1>>,
        window: ConvWindow,
        groups: usize,
    ) -> Option<Tensor<4>> {
        let shape = conv2d_shape(&x, &w, b.as_ref(), window, groups)?;
        Some(conv2d(x, w, b, shape))
    }

    /// The host max pooling, or `None` where it hands over to burn.
    fn host_pool(x: Tensor<4>, h: Axis, w: Axis, ceil_mode: bool) -> Option<Tensor<4>> {
        let shape = max_pool2d_shape(&x, h, w, ceil_mode)?;
        Some(max_pool2d(x, shape))
    }

    fn assert_close(mine: Vec<f32>, theirs: Vec<f32>, what: &str) {
        assert_eq!(mine.len(), theirs.len(), "{what}: lengths");
        let worst = mine
            .iter()
            .zip(&theirs)
            .map(|(a, t)| (a - t).abs())
            .fold(0f32, f32::max);
        let scale = theirs.iter().map(|t| t.abs()).fold(1f32, f32::max);
        assert!(
            worst <= 1e-4 * scale,
            "{what}: max difference {worst} (scale {scale})"
        );
    }

    type ConvCase = (
        usize,
        usize,
        usize,
        [usize; 2],
        [usize; 2],
        [(usize, usize); 2],
        [usize; 2],
    );
    const CONV_CASES: [ConvCase; 6] = [
        (9, 1, 16, [5, 5], [1, 1], [(0, 0), (0, 0)], [1, 1]),
        (9, 4, 8, [3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1]),
        (1, 3, 5, [3, 2], [1, 2], [(2, 0), (0, 1)], [1, 1]),
        (2, 2, 3, [3, 3], [1, 1], [(2, 2), (2, 2)], [2, 2]),
        (5, 3, 4, [1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1]),
        (1, 1, 2, [1, 7], [1, 1], [(0, 0), (3, 3)], [1, 1]),
    ];

    #[test]
    fn convolution_matches_burn_forward_and_backward() {
        for (n, c, c_out, [kh, kw], stride, padding, dilation) in CONV_CASES {
            let what = format!(
                "k {kh}×{kw} stride {stride:?} padding {padding:?} dilation {dilation:?} batch {n}"
            );
            let window = ConvWindow {
                stride,
                padding,
                dilation,
            };
            let options = ConvOptions {
                stride,
                padding,
                dilation,
                groups: 1,
            };
            // Forward without a tape.
            let device = compute_device();
            let (x, w, b) = (
                tensor([n, c, 11, 10], 1, &device),
                tensor([c_out, c, kh, kw], 2, &device),
                tensor([c_out], 3, &device),
            );
            let mine = host_conv(x.clone(), w.clone(), Some(b.clone()), window, 1).unwrap();
            let theirs = burn::tensor::module::conv2d(x, w, Some(b), options.clone());
            assert_eq!(mine.dims(), theirs.dims(), "{what}");
            assert_close(to_vec(mine), to_vec(theirs), &format!("forward, {what}"));
            // Gradients with respect to input, weights and bias, through a weighted sum.
            let device = autodiff_device();
            let grads = |host: bool| {
                let x = tensor([n, c, 11, 10], 1, &device).require_grad();
                let w = tensor([c_out, c, kh, kw], 2, &device).require_grad();
                let b = tensor([c_out], 3, &device).require_grad();
                let y = if host {
                    host_conv(x.clone(), w.clone(), Some(b.clone()), window, 1).unwrap()
                } else {
                    burn::tensor::module::conv2d(
                        x.clone(),
                        w.clone(),
                        Some(b.clone()),
                        options.clone(),
                    )
                };
                let weights = tensor(y.dims(), 4, &device);
                let g = (y * weights).sum().backward();
                [
                    x.grad(&g).unwrap().into_data(),
                    w.grad(&g).unwrap().into_data(),
                    b.grad(&g).unwrap().into_data(),
                ]
                .map(|d| d.try_to_vec::<f32>().unwrap())
            };
            for (name, (mine, theirs)) in ["input", "weight", "bias"]
                .into_iter()
                .zip(grads(true).into_iter().zip(grads(false)))
            {
                assert_close(mine, theirs, &format!("{name} gradient, {what}"));
            }
        }
    }

    #[test]
    fn only_the_input_tracked_gets_a_gradient_and_grouped_convolutions_go_to_burn() {
        let device = autodiff_device();
        let x = tensor([2, 2, 6, 6], 1, &device).require_grad();
        let w = tensor([3, 2, 3, 3], 2, &device);
        let window = ConvWindow {
            stride: [1, 1],
            padding: [(0, 0); 2],
            dilation: [1, 1],
        };
        let y = host_conv(x.clone(), w.clone(), None, window, 1).unwrap();
        let g = y.sum().backward();
        assert_eq!(x.grad(&g).unwrap().dims(), [2, 2, 6, 6]);
        assert!(w.grad(&g).is_none());
        let w = tensor([4, 1, 3, 3], 2, &device);
        assert!(host_conv(x, w, None, window, 2).is_none());
    }

    #[test]
    fn max_pooling_matches_burn_forward_and_backward() {
        let (n, c, ih, iw) = (2, 3, 9, 8);
        let cases = [
            ([2, 2], [2, 2], [(0, 0), (0, 0)], [1, 1], false),
            ([3, 2], [3, 2], [(0, 0), (0, 0)], [1, 1], false),
            ([3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1], false),
            ([3, 2], [2, 3], [(0, 0), (0, 0)], [1, 1], true),
            ([2, 2], [1, 1], [(0, 0), (0, 0)], [2, 2], false),
            ([3, 3], [3, 3], [(1, 1), (0, 0)], [1, 1], true),
        ];
        for (kernel, stride, padding, dilation, ceil_mode) in cases {
            let what = format!("{kernel:?} {stride:?} {padding:?} {dilation:?} {ceil_mode}");
            let axis = |i: usize| Axis {
                input: 0,
                kernel: kernel[i],
                stride: stride[i],
                dilation: dilation[i],
                pad_begin: padding[i].0,
                pad_end: padding[i].1,
            };
            let options = MaxPoolOptions {
                kernel_size: kernel,
                stride,
                padding,
                dilation,
                ceil_mode,
            };
            for device in [compute_device(), autodiff_device()] {
                let x = tensor([n, c, ih, iw], 5, &device);
                let mine = host_pool(x.clone(), axis(0), axis(1), ceil_mode).unwrap();
                let theirs = burn::tensor::module::max_pool2d(x, options.clone());
                assert_eq!(mine.dims(), theirs.dims(), "{what}");
                assert_eq!(to_vec(mine), to_vec(theirs), "forward, {what}");
            }
            let device = autodiff_device();
            let grad = |host: bool| {
                let x = tensor([n, c, ih, iw], 5, &device).require_grad();
                let y = if host {
                    host_pool(x.clone(), axis(0), axis(1), ceil_mode).unwrap()
                } else {
                    burn::tensor::module::max_pool2d(x.clone(), options.clone())
                };
                let weights = tensor(y.dims(), 4, &device);
                let g = (y * weights).sum().backward();
                x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap()
            };
            assert_close(grad(true), grad(false), &format!("gradient, {what}"));
        }
    }

    #[test]
    fn max_pooling_propagates_nan() {
        let mut values: Vec<f32> = vec![0.5; 16];
        values[5] = f32::NAN;
        // Without a tape, and tracked (the kernel that also records argmax indices).
        for (device, tracked) in [(compute_device(), false), (autodiff_device(), true)] {
            let x: Tensor<4> =
                Tensor::from_data(TensorData::new(values.clone(), [1, 1, 4, 4]), &device);
            let x = if tracked { x.require_grad() } else { x };
            for (k, s, pad) in [(2, 2, 0), (3, 1, 1)] {
                let a = Axis {
                    input: 4,
                    kernel: k,
                    stride: s,
                    dilation: 1,
                    pad_begin: pad,
                    pad_end: pad,
                };
                let y = to_vec(host_pool(x.clone(), a, a, false).unwrap());
                assert!(
                    y[0].is_nan(),
                    "kernel {k}: the NaN at (1, 1) must reach the first window, got {y:?}"
                );
                assert!(y.iter().any(|v| !v.is_nan()));
            }
        }
    }
}
