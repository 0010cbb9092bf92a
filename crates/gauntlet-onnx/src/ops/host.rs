//! Host kernels as burn operations on the CPU backend, with their own backward passes.
//!
//! A burn backend extension: on `Flex` the operations run [`conv_kernel`], [`pool_kernel`] and
//! [`activation_kernel`] on the tensors' buffers; under `Autodiff<Flex>` they also register a backward step that
//! runs the matching gradient kernels, so attacks that differentiate the model take the fast
//! path too. Other backends (a GPU) keep burn's own operators: [`conv2d_shape`],
//! [`max_pool2d_shape`] and [`activation_served`] answer no when the tensors are not on the
//! CPU backend.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::{DType, Device, Tensor, TensorData};

use super::activation_kernel::{self, Activation, Saved};
use super::conv_kernel;
use super::conv_pool::{self, ConvPoolShape};
use super::conv_shape::{ConvShape, ConvWindow};
use super::dense::{self, DenseShape};
use super::pool_kernel::{self, PoolShape};

/// Convolution, max pooling and activations computed by gauntlet's host kernels.
#[backend_extension(Flex, Autodiff)]
pub trait HostKernels: Backend {
    /// `[N, C, H, W]` ⊛ `[C_out, C / groups, KH, KW]` + `[C_out]`.
    fn host_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        shape: ConvShape,
    ) -> FloatTensor<Self>;

    /// Convolution, optionally ReLU, then max pooling, in one pass per sample.
    fn host_conv_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        shape: ConvPoolShape,
    ) -> FloatTensor<Self>;

    /// `a [m, k] · b`, `b` stored `[k, n]` or transposed `[n, k]`.
    fn host_dense(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        shape: DenseShape,
    ) -> FloatTensor<Self>;

    /// Max pooling of `[N, C, H, W]`.
    fn host_max_pool2d(x: FloatTensor<Self>, shape: PoolShape) -> FloatTensor<Self>;

    /// An element-wise activation, any shape.
    fn host_activation(x: FloatTensor<Self>, f: Activation) -> FloatTensor<Self>;
}

/// The contiguous float32 values of a CPU tensor (a copy only when its layout is strided).
pub fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
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

/// The float32 values of a CPU tensor to overwrite, when its buffer is contiguous, holds
/// exactly its values and is not shared.
pub fn values_mut(t: &mut FlexTensor) -> Option<&mut [f32]> {
    let n = t.layout().num_elements();
    let whole = t.dtype() == DType::F32 && t.layout().contiguous_offsets() == Some((0, n));
    t.try_storage_mut::<f32>().filter(|v| whole && v.len() == n)
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

    fn host_conv_pool(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        shape: ConvPoolShape,
    ) -> FlexTensor {
        let (y, _) =
            conv_pool::forward(&values(&x), &values(&weight), &values(&bias), shape, false);
        flex(y, shape.output())
    }

    fn host_dense(a: FlexTensor, b: FlexTensor, shape: DenseShape) -> FlexTensor {
        let y = dense::forward(&values(&a), &values(&b), shape);
        FlexTensor::from_data(TensorData::new(y, [shape.m, shape.n]))
    }

    fn host_max_pool2d(x: FlexTensor, shape: PoolShape) -> FlexTensor {
        let [n, c, _, _] = x.shape().dims::<4>();
        let [oh, ow] = shape.output();
        flex(pool_kernel::max_pool(&values(&x), shape), [n, c, oh, ow])
    }

    fn host_activation(mut x: FlexTensor, f: Activation) -> FlexTensor {
        if let Some(v) = values_mut(&mut x) {
            activation_kernel::apply(v, f);
            return x;
        }
        let y = activation_kernel::forward(&values(&x), f);
        FlexTensor::from_data(TensorData::new(y, x.shape()))
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = (FlexTensor, FlexTensor, ConvShape);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, shape) = ops.state;
        conv_backward(
            ops.parents.map(|p| p.map(|n| n.id)),
            grads,
            (&x, &weight),
            &values(&grad),
            shape,
        );
    }
}

/// Registers the convolution's gradients for the parents that track one.
fn conv_backward(
    [node_x, node_weight, node_bias]: [Option<NodeId>; 3],
    grads: &mut Gradients,
    (x, weight): (&FlexTensor, &FlexTensor),
    dy: &[f32],
    shape: ConvShape,
) {
    if let Some(id) = node_x {
        let dx = conv_kernel::input_grad(&values(weight), dy, shape);
        grads.register::<Flex>(id, flex(dx, shape.input));
    }
    if let Some(id) = node_weight {
        let dw = conv_kernel::weight_grad(&values(x), dy, shape);
        grads.register::<Flex>(id, flex(dw, shape.weight()));
    }
    if let Some(id) = node_bias {
        let db = conv_kernel::bias_grad(dy, shape);
        let db = FlexTensor::from_data(TensorData::new(db, [shape.out_channels]));
        grads.register::<Flex>(id, db);
    }
}

#[derive(Debug)]
struct ConvPoolBackward;

impl Backward<Flex, 3> for ConvPoolBackward {
    /// The input, the weights, and where each pooled maximum came from (`u32::MAX` where the
    /// ReLU stopped the gradient).
    type State = (
        FlexTensor,
        FlexTensor,
        std::sync::Arc<Vec<u32>>,
        ConvPoolShape,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, indices, shape) = ops.state;
        let [node_x, node_weight, node_bias] = ops.parents.map(|p| p.map(|n| n.id));
        if let (Some(id), None, None) = (node_x, node_weight, node_bias) {
            // Only the input's gradient (an attack's case): sample by sample, without the
            // convolution output's gradient in memory.
            let dx = conv_pool::input_grad(&values(&weight), &values(&grad), &indices, shape);
            grads.register::<Flex>(id, flex(dx, shape.conv.input));
            return;
        }
        let dy = conv_pool::conv_output_grad(&values(&grad), &indices, shape);
        drop(grad);
        conv_backward(
            [node_x, node_weight, node_bias],
            grads,
            (&x, &weight),
            &dy,
            shape.conv,
        );
    }
}

#[derive(Debug)]
struct DenseBackward;

impl Backward<Flex, 2> for DenseBackward {
    type State = (FlexTensor, FlexTensor, DenseShape);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_a, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let dy = values(&grad);
        let (a, b, shape) = ops.state;
        if let Some(node) = node_a {
            let da = dense::lhs_grad(&dy, &values(&b), shape);
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(da, a.shape())),
            );
        }
        if let Some(node) = node_b {
            let db = dense::rhs_grad(&values(&a), &dy, shape);
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(db, b.shape())),
            );
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

#[derive(Debug)]
struct ActivationBackward;

impl Backward<Flex, 1> for ActivationBackward {
    /// The input or the output (which one: the second field), and the activation.
    type State = (FlexTensor, Saved, Activation);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let mut grad = grads.consume::<Flex>(&ops.node);
        let (saved, kind, f) = ops.state;
        if let Some(node) = node_x {
            let saved_values = values(&saved);
            let dx = if let Some(g) = values_mut(&mut grad) {
                activation_kernel::backward_in_place(&saved_values, kind, g, f);
                grad
            } else {
                let dx = activation_kernel::backward(&saved_values, kind, &values(&grad), f);
                FlexTensor::from_data(TensorData::new(dx, saved.shape()))
            };
            grads.register::<Flex>(node.id, dx);
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

    fn host_conv_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        shape: ConvPoolShape,
    ) -> FloatTensor<Self> {
        match ConvPoolBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let bias = bias.into_primitive();
                let (y, indices) =
                    conv_pool::forward(&values(&x), &values(&weight), &values(&bias), shape, true);
                let indices = std::sync::Arc::new(indices.expect("asked for"));
                prep.finish((x, weight, indices, shape), flex(y, shape.output()))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::host_conv_pool(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                shape,
            )),
        }
    }

    fn host_dense(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        shape: DenseShape,
    ) -> FloatTensor<Self> {
        match DenseBackward
            .prepare::<C>([a.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (a, b) = (a.primitive().clone(), b.primitive().clone());
                let y = Flex::host_dense(a.clone(), b.clone(), shape);
                prep.finish((a, b, shape), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::host_dense(
                a.into_primitive(),
                b.into_primitive(),
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

    fn host_activation(x: FloatTensor<Self>, f: Activation) -> FloatTensor<Self> {
        match ActivationBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let mut x = x.into_primitive();
                // ReLU's slope can be read off its output, so it may overwrite its input.
                if f == Activation::Relu && values_mut(&mut x).is_some() {
                    let y = Flex::host_activation(x, f);
                    return prep.finish((y.clone(), Saved::Output, f), y);
                }
                let y = Flex::host_activation(x.clone(), f);
                prep.finish((x, Saved::Input, f), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::host_activation(x.into_primitive(), f)),
        }
    }
}

/// Whether tensors on `device` run on the CPU backend these kernels serve (with or without
/// autodiff).
fn served(device: &Device) -> bool {
    let cpu = gauntlet_core::device::compute_device();
    *device == cpu || *device == cpu.autodiff()
}

/// The convolution's shapes when the host kernels serve it (float32, tensors on the CPU
/// backend, `groups` dividing both channel counts — one group, grouped or depthwise); `None`
/// sends the caller to burn's own operator.
pub fn conv2d_shape(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    window: ConvWindow,
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
        groups,
    };
    let ours = float32
        && c_w * groups == c
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

/// Convolution → (ReLU) → max pooling through the fused host kernels, for a `shape` the
/// operands were checked for ([`conv2d_shape`], [`max_pool2d_shape`]) and that
/// [`ConvPoolShape::is_fusable`] accepts.
pub fn conv_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    shape: ConvPoolShape,
) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([shape.conv.out_channels], &weight.device()));
    let y = <Dispatch as HostKernels>::host_conv_pool(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        shape,
    );
    Tensor::from_dispatch(y)
}

/// The product's shape when the host kernels serve `a · b` (`b` stored transposed when
/// `b_transposed`): float32 matrices on the CPU backend.
pub fn dense_shape(a: &Tensor<2>, b: &Tensor<2>, b_transposed: bool) -> Option<DenseShape> {
    let ([m, k], [r, c]) = (a.dims(), b.dims());
    let (k2, n) = if b_transposed { (c, r) } else { (r, c) };
    let ours = k == k2
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && served(&a.device())
        && served(&b.device());
    ours.then_some(DenseShape {
        m,
        k,
        n,
        b_transposed,
    })
}

/// `a · b` through the host kernels, for a `shape` from [`dense_shape`].
pub fn dense(a: Tensor<2>, b: Tensor<2>, shape: DenseShape) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as HostKernels>::host_dense(
        a.into_dispatch(),
        b.into_dispatch(),
        shape,
    ))
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

/// Whether the host activation kernels serve `x` (float32 on the CPU backend).
pub fn activation_served<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && served(&x.device())
}

/// An activation through the host kernels, for an `x` that [`activation_served`] accepts.
pub fn activation<const D: usize>(x: Tensor<D>, f: Activation) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as HostKernels>::host_activation(
        x.into_dispatch(),
        f,
    ))
}

#[cfg(test)]
mod tests;
