//! Reshape as a view of strided tensors, where the strides allow it (as NumPy and PyTorch
//! do), on the CPU backend.
//!
//! burn's reshape copies any tensor that is not laid out contiguously, yet exports reshape
//! transposed tensors all the time: attention splits heads out of a projection's columns
//! (`[T, B, 768] → [T, B·12, 64]`) and joins batches back (`[B·12, T, 64] → [B, 12, T, 64]`).
//! Most of those only split or merge axes that already sit at compatible strides, which a new
//! layout over the same buffer expresses. The backward pass reshapes the gradient back the
//! same way. A reshape that no layout can express still copies.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::{Shape, Tensor};

/// Reshape that keeps strided tensors as views where it can.
#[backend_extension(Flex, Autodiff)]
pub trait ViewKernels: Backend {
    /// `x` (same number of values) at physical shape `shape`.
    fn host_view_reshape(x: FloatTensor<Self>, shape: Vec<usize>) -> FloatTensor<Self>;
}

/// Strides of `new` over the memory of a tensor of shape `old` and strides `strides`, when
/// every new axis lies within one run of old axes that are laid out back to back; `None`
/// when the reshape needs a copy. Axes of length 1 fit anywhere.
pub fn view_strides(old: &[usize], strides: &[isize], new: &[usize]) -> Option<Vec<isize>> {
    if strides.iter().any(|&s| s < 0) {
        return None;
    }
    let count: usize = old.iter().product();
    if count == 0 || count != new.iter().product::<usize>() {
        return (count == new.iter().product::<usize>()).then(|| contiguous(new));
    }
    // Old axes of length 1 carry no layout; drop them.
    let (old, strides): (Vec<usize>, Vec<isize>) = old
        .iter()
        .zip(strides)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s))
        .unzip();
    let mut out = vec![0isize; new.len()];
    // Walk both shapes from the last axis: gather old axes into a run whose strides chain
    // (stride[i] = stride[i+1]·len[i+1]), then hand that run's values to new axes.
    let mut next_new = new.len();
    let mut end = old.len();
    while end > 0 {
        let mut start = end - 1;
        while start > 0 && strides[start - 1] == strides[start] * old[start] as isize {
            start -= 1;
        }
        let run: usize = old[start..end].iter().product();
        let mut stride = strides[end - 1];
        let mut covered = 1usize;
        while covered < run {
            next_new = next_new.checked_sub(1)?;
            out[next_new] = stride;
            stride *= new[next_new] as isize;
            covered *= new[next_new];
        }
        if covered != run {
            return None;
        }
        end = start;
    }
    // What remains of the new shape are axes of length 1.
    for i in 0..next_new {
        if new[i] != 1 {
            return None;
        }
        out[i] = 0;
    }
    Some(out)
}

/// Row-major strides of `shape`.
fn contiguous(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![1isize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1].max(1) as isize;
    }
    strides
}

/// `x` at shape `shape`: a view when the strides allow, else a contiguous copy.
fn reshape_flex(x: FlexTensor, shape: &[usize]) -> FlexTensor {
    let layout = x.layout();
    let target = Shape::from(shape.to_vec());
    if let Some(strides) = view_strides(layout.shape(), layout.strides(), shape) {
        let view = Layout::new(target, strides, layout.start_offset());
        return FlexTensor::from_arc(x.data_arc(), view, x.dtype());
    }
    x.to_contiguous().reshape(target)
}

impl ViewKernels for Flex {
    fn host_view_reshape(x: FlexTensor, shape: Vec<usize>) -> FlexTensor {
        reshape_flex(x, &shape)
    }
}

#[derive(Debug)]
struct ViewBackward;

impl Backward<Flex, 1> for ViewBackward {
    /// The input's shape.
    type State = Vec<usize>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, reshape_flex(grad, &ops.state));
        }
    }
}

impl<C: CheckpointStrategy> ViewKernels for Autodiff<Flex, C> {
    fn host_view_reshape(x: FloatTensor<Self>, shape: Vec<usize>) -> FloatTensor<Self> {
        match ViewBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = x.into_primitive();
                let dims = input.shape().to_vec();
                prep.finish(dims, reshape_flex(input, &shape))
            }
            OpsKind::UnTracked(prep) => prep.finish(reshape_flex(x.into_primitive(), &shape)),
        }
    }
}

/// Whether `t` lives on the CPU backend (with or without autodiff), where views are ours.
pub fn served<const D: usize>(t: &Tensor<D>) -> bool {
    let cpu = gauntlet_core::device::compute_device();
    let device = t.device();
    device == cpu || device == cpu.autodiff()
}

/// `x` at physical shape `shape`, for tensors [`served`]: a view when the strides allow.
pub fn reshape<const D: usize>(x: Tensor<D>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ViewKernels>::host_view_reshape(
        x.into_dispatch(),
        shape.to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_follow_runs_of_chained_axes() {
        // Contiguous: any reshape is a view.
        assert_eq!(
            view_strides(&[2, 3, 4], &[12, 4, 1], &[6, 4]),
            Some(vec![4, 1])
        );
        // [T, B, 768] transposed from [B, T, 768]: splitting 768 keeps a view...
        let (t, b) = (5, 3);
        let strides = [768, (t * 768) as isize, 1];
        assert_eq!(
            view_strides(&[t, b, 768], &strides, &[t, b, 12, 64]),
            Some(vec![768, (t * 768) as isize, 64, 1])
        );
        // ...merging T and B does not.
        assert_eq!(view_strides(&[t, b, 768], &strides, &[t * b, 768]), None);
        // A column block of a [T, B, 2304] projection: heads split out, B and heads merge
        // only when B is 1.
        let strides = [(b * 2304) as isize, 2304, 1];
        assert_eq!(view_strides(&[t, b, 768], &strides, &[t, b * 12, 64]), None);
        assert_eq!(
            view_strides(&[t, 1, 768], &[2304, 2304, 1], &[t, 12, 64]),
            Some(vec![2304, 64, 1])
        );
        // Unit axes come and go anywhere.
        assert_eq!(
            view_strides(&[1, 4, 1, 3], &[99, 1, 7, 4], &[4, 3, 1]),
            Some(vec![1, 4, 4])
        );
        // Broadcast (stride 0) axes stay broadcast.
        assert_eq!(
            view_strides(&[4, 3], &[0, 1], &[2, 2, 3]),
            Some(vec![0, 0, 1])
        );
        assert_eq!(view_strides(&[4, 3], &[0, 1], &[12]), None);
    }

    #[test]
    fn views_and_copies_hold_the_same_values() {
        use burn::tensor::TensorData;
        use gauntlet_core::device::{autodiff_device, compute_device};
        use gauntlet_core::tensor::to_vec;

        use crate::value::RANK;
        let shapes = [
            [1, 1, 3, 2, 5, 4],
            [1, 3, 2, 5, 2, 2],
            [1, 1, 1, 6, 5, 4],
            [1, 1, 1, 1, 1, 120],
        ];
        for (device, tracked) in [(compute_device(), false), (autodiff_device(), true)] {
            // A transposed input, reshaped as a view (or copy) and by burn.
            let input = || {
                let values: Vec<f32> = (0..120).map(|v| v as f32).collect();
                let x: Tensor<RANK> =
                    Tensor::from_data(TensorData::new(values, [1, 1, 2, 3, 4, 5]), &device);
                let x = if tracked { x.require_grad() } else { x };
                (x.clone(), x.permute([0, 1, 3, 2, 5, 4]))
            };
            for shape in shapes {
                let run = |ours: bool| {
                    let (x, t) = input();
                    let y = if ours {
                        reshape(t, shape)
                    } else {
                        t.reshape(shape)
                    };
                    let values = to_vec(y.clone());
                    let grad = tracked.then(|| {
                        let w: Vec<f32> = (0..120).map(|v| (v % 7) as f32).collect();
                        let w = Tensor::from_data(TensorData::new(w, shape), &device);
                        let g = (y * w).sum().backward();
                        to_vec(x.grad(&g).expect("tracked"))
                    });
                    (values, grad)
                };
                assert_eq!(run(true), run(false), "{shape:?}");
            }
        }
    }
}
