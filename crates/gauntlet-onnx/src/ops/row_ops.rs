//! The row kernels ([`row_kernel`]) as burn operations on the CPU backend, with their own
//! backward passes: layer normalization, softmax and GELU.
//!
//! A burn backend extension, as for the convolution ([`super::host`]): on `Flex` the
//! operations run on the tensors' buffers; under `Autodiff<Flex>` they also register one
//! backward step each, in place of the dozen elementary steps the composed operators record.
//! Only float32 tensors on the CPU backend take this path: the `*_served` checks send double
//! precision (gradient checks) and other backends to burn's own operators.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::{DType, Tensor, TensorData};

use super::gelu_kernel::{self, Gelu};
use super::row_kernel::{self, RowStats, SoftmaxShape};

/// Layer normalization, softmax and GELU computed by the row kernels.
#[backend_extension(Flex, Autodiff)]
pub trait RowKernels: Backend {
    /// Layer normalization of the rows of `x` (last axis, of `gamma`'s length).
    fn host_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self>;

    /// Softmax (log-softmax when `log`) along the middle axis of `[outer, len, inner]`.
    fn host_softmax(x: FloatTensor<Self>, shape: SoftmaxShape, log: bool) -> FloatTensor<Self>;

    /// GELU element by element.
    fn host_gelu(x: FloatTensor<Self>, kind: Gelu) -> FloatTensor<Self>;
}

/// The float32 values of a CPU tensor, contiguous: borrowed, or from one copy when its layout
/// is strided.
enum Values<'a> {
    Borrowed(&'a [f32]),
    Copied(FlexTensor),
}

impl std::ops::Deref for Values<'_> {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match self {
            Values::Borrowed(v) => v,
            Values::Copied(t) => t.as_slice().expect("contiguous after to_contiguous"),
        }
    }
}

fn values(t: &FlexTensor) -> Values<'_> {
    match t.as_slice::<f32>() {
        Some(v) => Values::Borrowed(v),
        None => Values::Copied(t.to_contiguous()),
    }
}

/// A CPU tensor shaped like `like` holding `values`.
fn shaped_like(values: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, like.shape()))
}

impl RowKernels for Flex {
    fn host_layer_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f32) -> FlexTensor {
        let (y, _) = row_kernel::layer_norm(&values(&x), &values(&gamma), &values(&beta), eps);
        shaped_like(y, &x)
    }

    fn host_softmax(x: FlexTensor, shape: SoftmaxShape, log: bool) -> FlexTensor {
        shaped_like(row_kernel::softmax(&values(&x), shape, log), &x)
    }

    fn host_gelu(x: FlexTensor, kind: Gelu) -> FlexTensor {
        shaped_like(gelu_kernel::gelu(&values(&x), kind), &x)
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    /// The input, γ, and the rows' statistics.
    type State = (FlexTensor, FlexTensor, Arc<RowStats>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, stats) = ops.state;
        let want_params = node_gamma.is_some() || node_beta.is_some();
        let (dx, dgamma, dbeta) = row_kernel::layer_norm_backward(
            &values(&x),
            &values(&gamma),
            &stats,
            &values(&grad),
            want_params,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, shaped_like(dx, &x));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, shaped_like(dgamma, &gamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, shaped_like(dbeta, &gamma));
        }
    }
}

#[derive(Debug)]
struct SoftmaxBackward;

impl Backward<Flex, 1> for SoftmaxBackward {
    /// The output, its layout, and whether it is a log-softmax.
    type State = (FlexTensor, SoftmaxShape, bool);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (y, shape, log) = ops.state;
        if let Some(node) = node_x {
            let dx = row_kernel::softmax_backward(&values(&y), &values(&grad), shape, log);
            grads.register::<Flex>(node.id, shaped_like(dx, &y));
        }
    }
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The input and the GELU's form.
    type State = (FlexTensor, Gelu);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, kind) = ops.state;
        if let Some(node) = node_x {
            let dx = gelu_kernel::gelu_backward(&values(&x), &values(&grad), kind);
            grads.register::<Flex>(node.id, shaped_like(dx, &x));
        }
    }
}

impl<C: CheckpointStrategy> RowKernels for Autodiff<Flex, C> {
    fn host_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self> {
        match LayerNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, gamma, beta) = (
                    x.primitive().clone(),
                    gamma.primitive().clone(),
                    beta.into_primitive(),
                );
                let (y, stats) =
                    row_kernel::layer_norm(&values(&x), &values(&gamma), &values(&beta), eps);
                let y = shaped_like(y, &x);
                prep.finish((x, gamma, Arc::new(stats)), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::host_layer_norm(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                eps,
            )),
        }
    }

    fn host_softmax(x: FloatTensor<Self>, shape: SoftmaxShape, log: bool) -> FloatTensor<Self> {
        match SoftmaxBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = Flex::host_softmax(x.into_primitive(), shape, log);
                prep.finish((y.clone(), shape, log), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::host_softmax(x.into_primitive(), shape, log))
            }
        }
    }

    fn host_gelu(x: FloatTensor<Self>, kind: Gelu) -> FloatTensor<Self> {
        match GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let y = Flex::host_gelu(x.clone(), kind);
                prep.finish((x, kind), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::host_gelu(x.into_primitive(), kind)),
        }
    }
}

/// Whether the row kernels serve `t`: float32 on the CPU backend (with or without autodiff).
pub fn served<const D: usize>(t: &Tensor<D>) -> bool {
    let cpu = gauntlet_core::device::compute_device();
    let device = t.device();
    t.dtype() == DType::F32 && (device == cpu || device == cpu.autodiff())
}

/// Layer normalization over the last axis of `x` (`[rows, n]`), for tensors [`served`].
pub fn layer_norm(x: Tensor<2>, gamma: Tensor<1>, beta: Tensor<1>, eps: f32) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as RowKernels>::host_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
    ))
}

/// Softmax (log-softmax when `log`) along the middle axis of `x` (`[outer, len, inner]`),
/// for tensors [`served`].
pub fn softmax(x: Tensor<3>, log: bool) -> Tensor<3> {
    let [outer, len, inner] = x.dims();
    let shape = SoftmaxShape { outer, len, inner };
    Tensor::from_dispatch(<Dispatch as RowKernels>::host_softmax(
        x.into_dispatch(),
        shape,
        log,
    ))
}

/// GELU of every value of `x`, for tensors [`served`].
pub fn gelu<const D: usize>(x: Tensor<D>, kind: Gelu) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as RowKernels>::host_gelu(x.into_dispatch(), kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation;
    use gauntlet_core::device::{autodiff_device, compute_device};
    use gauntlet_core::tensor::to_vec;

    fn tensor<const D: usize>(shape: [usize; D], seed: usize, device: &Device) -> Tensor<D> {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = (0..len)
            .map(|i| (((i + seed) * 7919) % 997) as f32 / 166.0 - 3.0)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn assert_close(mine: Vec<f32>, theirs: Vec<f32>, what: &str) {
        assert_eq!(mine.len(), theirs.len(), "{what}: lengths");
        let scale = theirs.iter().map(|t| t.abs()).fold(1f32, f32::max);
        for (i, (a, t)) in mine.iter().zip(&theirs).enumerate() {
            assert!(
                (a - t).abs() <= 2e-6 * scale,
                "{what}: value {i} is {a}, burn says {t} (scale {scale})"
            );
        }
    }

    use burn::tensor::Device;

    /// Forward values and the gradients of Σ y·w for each listed input, host vs burn.
    fn check<const D: usize, const P: usize>(
        what: &str,
        shapes: [[usize; D]; P],
        f: impl Fn([Tensor<D>; P], bool) -> Tensor<D>,
    ) {
        let device = compute_device();
        let inputs = |device: &Device| std::array::from_fn(|i| tensor(shapes[i], i, device));
        let (mine, theirs) = (f(inputs(&device), true), f(inputs(&device), false));
        assert_close(to_vec(mine), to_vec(theirs), &format!("{what}: forward"));
        let device = autodiff_device();
        let grads = |host: bool| {
            let xs: [Tensor<D>; P] = inputs(&device).map(|t| t.require_grad());
            let y = f(xs.clone(), host);
            let w = tensor(y.dims(), 7, &device);
            let g = (y * w).sum().backward();
            xs.map(|x| to_vec(x.grad(&g).expect("tracked")))
        };
        for (i, (mine, theirs)) in grads(true).into_iter().zip(grads(false)).enumerate() {
            assert_close(mine, theirs, &format!("{what}: gradient of input {i}"));
        }
    }

    #[test]
    fn layer_norm_matches_burn_for_input_scale_and_bias() {
        for n in [1, 5, 16, 37, 768] {
            check(
                &format!("layer norm, rows of {n}"),
                [[9, n], [1, n], [1, n]],
                |[x, g, b], host| {
                    if host {
                        assert!(served(&x));
                        let n = x.dims()[1];
                        layer_norm(x, g.reshape([n]), b.reshape([n]), 1e-5)
                    } else {
                        let mean = x.clone().mean_dim(1);
                        let centered = x - mean;
                        let var = centered.clone().square().mean_dim(1);
                        centered / (var + 1e-5).sqrt() * g + b
                    }
                },
            );
        }
    }

    #[test]
    fn softmax_matches_burn_on_every_axis() {
        for log in [false, true] {
            for axis in 0..3 {
                check(
                    &format!("softmax (log {log}) on axis {axis}"),
                    [[3, 19, 5]],
                    |[x], host| {
                        if host {
                            let [a, b, c] = x.dims();
                            let outer: usize = [a, b, c][..axis].iter().product();
                            let inner: usize = [a, b, c][axis + 1..].iter().product();
                            softmax(x.reshape([outer, [a, b, c][axis], inner]), log)
                                .reshape([a, b, c])
                        } else if log {
                            activation::log_softmax(x, axis)
                        } else {
                            activation::softmax(x, axis)
                        }
                    },
                );
            }
        }
    }

    #[test]
    fn gelu_matches_burn_in_both_forms() {
        for (kind, tanh) in [(Gelu::Erf, false), (Gelu::Tanh, true)] {
            check(&format!("{kind:?} GELU"), [[7, 4099]], |[x], host| {
                match (host, tanh) {
                    (true, _) => gelu(x, kind),
                    (false, false) => activation::gelu(x),
                    (false, true) => activation::gelu_approximate(x),
                }
            });
        }
    }

    #[test]
    fn double_precision_is_left_to_burn() {
        let x: Tensor<2> = Tensor::zeros([2, 3], (&compute_device(), DType::F64));
        assert!(!served(&x));
    }
}
