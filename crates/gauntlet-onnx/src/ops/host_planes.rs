//! Whole-plane operations of [`plane_kernel`] (global average pooling, per-plane scaling) as
//! burn operations on the CPU backend, with their own backward passes: a backend extension
//! beside [`super::host`]'s, in the same way. Other backends keep burn's operators: the public
//! functions hand the tensors back when the host kernels do not serve them.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::{Shape, Tensor, TensorData};

use super::host::{activation_served, values, values_mut};
use super::plane_kernel;

/// Plane means and plane scaling computed by gauntlet's host kernels.
#[backend_extension(Flex, Autodiff)]
pub trait HostPlaneKernels: Backend {
    /// The mean of each `len`-value plane of `x`, shaped `out`.
    fn host_plane_mean(x: FloatTensor<Self>, len: usize, out: Shape) -> FloatTensor<Self>;

    /// Plane `i` of `x` (`len` values) times `s[i]`.
    fn host_plane_scale(
        x: FloatTensor<Self>,
        s: FloatTensor<Self>,
        len: usize,
    ) -> FloatTensor<Self>;
}

fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl HostPlaneKernels for Flex {
    fn host_plane_mean(x: FlexTensor, len: usize, out: Shape) -> FlexTensor {
        tensor(plane_kernel::mean(&values(&x), len), out)
    }

    fn host_plane_scale(mut x: FlexTensor, s: FlexTensor, len: usize) -> FlexTensor {
        if let Some(v) = values_mut(&mut x) {
            plane_kernel::scale_in_place(v, &values(&s), len);
            return x;
        }
        tensor(
            plane_kernel::scale(&values(&x), &values(&s), len),
            x.shape(),
        )
    }
}

#[derive(Debug)]
struct MeanBackward;

impl Backward<Flex, 1> for MeanBackward {
    /// Plane length and the input's shape.
    type State = (usize, Shape);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (len, shape) = ops.state;
        if let Some(node) = node_x {
            let dx = plane_kernel::mean_backward(&values(&grad), len);
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
    }
}

#[derive(Debug)]
struct ScaleBackward;

impl Backward<Flex, 2> for ScaleBackward {
    /// The planes, the factors and the plane length.
    type State = (FlexTensor, FlexTensor, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_s] = ops.parents;
        let mut grad = grads.consume::<Flex>(&ops.node);
        let (x, s, len) = ops.state;
        if let Some(node) = node_s {
            let ds = plane_kernel::scale_grad_factors(&values(&x), &values(&grad), len);
            grads.register::<Flex>(node.id, tensor(ds, s.shape()));
        }
        if let Some(node) = node_x {
            let factors = values(&s);
            let dx = if let Some(g) = values_mut(&mut grad) {
                plane_kernel::scale_in_place(g, &factors, len);
                grad
            } else {
                tensor(
                    plane_kernel::scale(&values(&grad), &factors, len),
                    x.shape(),
                )
            };
            grads.register::<Flex>(node.id, dx);
        }
    }
}

impl<C: CheckpointStrategy> HostPlaneKernels for Autodiff<Flex, C> {
    fn host_plane_mean(x: FloatTensor<Self>, len: usize, out: Shape) -> FloatTensor<Self> {
        match MeanBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let shape = x.shape();
                prep.finish((len, shape), Flex::host_plane_mean(x, len, out))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::host_plane_mean(x.into_primitive(), len, out))
            }
        }
    }

    fn host_plane_scale(
        x: FloatTensor<Self>,
        s: FloatTensor<Self>,
        len: usize,
    ) -> FloatTensor<Self> {
        match ScaleBackward
            .prepare::<C>([x.node(), s.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, s) = (x.into_primitive(), s.into_primitive());
                // The backward step keeps `x`, so the product gets a buffer of its own.
                let y = Flex::host_plane_scale(x.clone(), s.clone(), len);
                prep.finish((x, s, len), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::host_plane_scale(
                x.into_primitive(),
                s.into_primitive(),
                len,
            )),
        }
    }
}

/// The mean over the trailing `axes` axes of `x` (those axes become 1), for an `x` that
/// [`activation_served`] accepts.
pub fn plane_mean<const D: usize>(x: Tensor<D>, axes: usize) -> Tensor<D> {
    let mut out = x.dims();
    let axes = axes.min(D);
    let len = out[D - axes..].iter().product();
    out[D - axes..].fill(1);
    Tensor::from_dispatch(<Dispatch as HostPlaneKernels>::host_plane_mean(
        x.into_dispatch(),
        len,
        out.into(),
    ))
}

/// The plane length when `x · s` is a per-plane product the host kernels serve: `s` has
/// `x`'s shape with trailing axes of length 1 (`[N, C, 1, 1]` against `[N, C, H, W]`), both
/// float32 on the CPU backend. `None` leaves the product to burn.
pub fn plane_scale_len<const D: usize>(x: &Tensor<D>, s: &Tensor<D>) -> Option<usize> {
    let (xd, sd) = (x.dims(), s.dims());
    // The plane axes: from the first axis after which `s` has only ones.
    let k = sd.iter().rposition(|&d| d != 1).map_or(0, |i| i + 1);
    let fits = xd[..k] == sd[..k] && activation_served(x) && activation_served(s);
    fits.then(|| xd[k..].iter().product())
}

/// `x · s`, every plane of `len` values scaled by its factor, for a `len` from
/// [`plane_scale_len`].
pub fn plane_scale<const D: usize>(x: Tensor<D>, s: Tensor<D>, len: usize) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as HostPlaneKernels>::host_plane_scale(
        x.into_dispatch(),
        s.into_dispatch(),
        len,
    ))
}

#[cfg(test)]
mod tests;
