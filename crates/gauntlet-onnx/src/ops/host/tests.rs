//! The host kernels against burn's own operators: forward values and every gradient.

use super::*;
use crate::ops::activation_kernel::Activation;
use crate::ops::conv_shape::ConvWindow;
use crate::ops::kernel_testing::{assert_close, tensor};
use crate::ops::pool_kernel::Axis;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use gauntlet_core::device::{autodiff_device, compute_device};
use gauntlet_core::tensor::to_vec;

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

/// Batch, channels, output channels, groups, kernel, stride, padding, dilation.
type ConvCase = (
    usize,
    usize,
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    [(usize, usize); 2],
    [usize; 2],
);
const CONV_CASES: [ConvCase; 16] = [
    // One group, stride 1, batches of 9: the direct kernels (tiles of 4 channels, and of one
    // when there are fewer), im2col for the weights' gradient.
    (9, 1, 16, 1, [5, 5], [1, 1], [(0, 0), (0, 0)], [1, 1]),
    (9, 3, 2, 1, [3, 3], [1, 1], [(1, 1), (2, 0)], [1, 1]),
    // One group: im2col and products; batches of 9 run one task per sample, smaller ones
    // split the products across output rows.
    (9, 4, 8, 1, [3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1]),
    (1, 3, 5, 1, [3, 2], [1, 2], [(2, 0), (0, 1)], [1, 1]),
    (2, 2, 3, 1, [3, 3], [1, 1], [(2, 2), (2, 2)], [2, 2]),
    (1, 1, 2, 1, [1, 7], [1, 1], [(0, 0), (3, 3)], [1, 1]),
    (1, 3, 40, 1, [3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1]),
    // 1×1 stride 1: the input is the column matrix.
    (5, 3, 4, 1, [1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1]),
    (1, 20, 40, 1, [1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1]),
    // Grouped: one product per group.
    (9, 4, 6, 2, [3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1]),
    (2, 6, 9, 3, [3, 2], [2, 1], [(1, 0), (2, 1)], [2, 1]),
    (1, 8, 4, 2, [1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1]),
    // Depthwise, one and two filters per channel.
    (9, 5, 5, 5, [3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1]),
    (1, 4, 4, 4, [5, 5], [2, 2], [(2, 2), (2, 2)], [1, 1]),
    (2, 3, 6, 3, [3, 3], [1, 2], [(0, 1), (1, 1)], [2, 2]),
    (3, 2, 2, 2, [2, 4], [3, 2], [(0, 0), (3, 0)], [1, 1]),
];

#[test]
fn convolution_matches_burn_forward_and_backward() {
    for (n, c, c_out, groups, [kh, kw], stride, padding, dilation) in CONV_CASES {
        let what = format!(
            "{c}→{c_out} channels in {groups} group(s), k {kh}×{kw} stride {stride:?} padding \
             {padding:?} dilation {dilation:?} batch {n}"
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
            groups,
        };
        // Forward without a tape.
        let device = compute_device();
        let (x, w, b) = (
            tensor([n, c, 11, 10], 1, &device),
            tensor([c_out, c / groups, kh, kw], 2, &device),
            tensor([c_out], 3, &device),
        );
        let mine = host_conv(x.clone(), w.clone(), Some(b.clone()), window, groups).unwrap();
        let theirs = burn::tensor::module::conv2d(x, w, Some(b), options.clone());
        assert_eq!(mine.dims(), theirs.dims(), "{what}");
        assert_close(to_vec(mine), to_vec(theirs), &format!("forward, {what}"));
        // Gradients with respect to input, weights and bias, through a weighted sum.
        let device = autodiff_device();
        let grads = |host: bool| {
            let x = tensor([n, c, 11, 10], 1, &device).require_grad();
            let w = tensor([c_out, c / groups, kh, kw], 2, &device).require_grad();
            let b = tensor([c_out], 3, &device).require_grad();
            let y = if host {
                host_conv(x.clone(), w.clone(), Some(b.clone()), window, groups).unwrap()
            } else {
                burn::tensor::module::conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone())
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
fn only_the_input_tracked_gets_a_gradient_and_mismatched_groups_go_to_burn() {
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
    // Grouped and depthwise convolutions run here too; weights that do not fit the groups
    // (3 filters in 2 groups, or 2 channels per filter in 2 groups of 1) are left to burn.
    let w = tensor([4, 1, 3, 3], 2, &device);
    assert!(host_conv(x.clone(), w.clone(), None, window, 2).is_some());
    assert!(host_conv(x.clone(), w, None, window, 1).is_none());
    let w = tensor([3, 1, 3, 3], 2, &device);
    assert!(host_conv(x, w, None, window, 2).is_none());
}

#[test]
fn max_pooling_matches_burn_forward_and_backward() {
    // 36 planes: tasks of several planes, the last one shorter (on two threads, 5 per task).
    let (n, c, ih, iw) = (4, 9, 9, 8);
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

#[test]
fn activations_match_burn_forward_and_backward() {
    // Values on both sides of every kink (0 for ReLU, ±3 for HardSwish, ±2.5 for
    // HardSigmoid 0.2/0.5), and a tensor large enough to be split across threads.
    let burn_form = |f: Activation, t: Tensor<3>| match f {
        Activation::Relu => burn::tensor::activation::relu(t),
        Activation::HardSigmoid { alpha, beta } => (t * alpha + beta).clamp(0.0, 1.0),
        Activation::HardSwish => t.clone() * (t * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0),
    };
    let kinds = [
        Activation::Relu,
        Activation::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Activation::HardSwish,
    ];
    for f in kinds {
        for shape in [[2, 3, 7], [4, 64, 300]] {
            let device = autodiff_device();
            let input = |device: &Device| tensor(shape, 9, device) * 4.3;
            let x = input(&compute_device());
            assert!(activation_served(&x));
            let what = format!("{f:?} {shape:?}");
            // Shared (a new buffer) and then sole owner of its buffer (overwritten).
            let theirs = to_vec(burn_form(f, x.clone()));
            let shared = to_vec(activation(x.clone(), f));
            assert_close(shared, theirs.clone(), &format!("forward, {what}"));
            assert_close(
                to_vec(activation(x, f)),
                theirs,
                &format!("in place, {what}"),
            );
            let grad = |host: bool| {
                let x = input(&device).require_grad();
                // A product's output is owned by the activation alone, so ReLU overwrites it
                // and differentiates from its output.
                let z = x.clone() * 1.0;
                let y = if host {
                    activation(z, f)
                } else {
                    burn_form(f, z)
                };
                let g = (y * tensor(shape, 4, &device)).sum().backward();
                x.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap()
            };
            assert_close(grad(true), grad(false), &format!("gradient, {what}"));
        }
    }
}

#[test]
fn dense_products_match_burn_forward_and_backward() {
    // (m, k, n): one row, fewer rows than threads, blocks of rows that do not divide m.
    for (m, k, n) in [
        (1, 7, 3),
        (3, 512, 100),
        (64, 512, 100),
        (301, 33, 10),
        (5, 1, 9),
    ] {
        for b_transposed in [false, true] {
            let what = format!("{m}×{k} · {k}×{n}, b stored transposed: {b_transposed}");
            let b_dims = if b_transposed { [n, k] } else { [k, n] };
            let device = compute_device();
            let (a, b) = (tensor([m, k], 1, &device), tensor(b_dims, 2, &device));
            let shape = dense_shape(&a, &b, b_transposed).expect("float32 on the CPU");
            let theirs_b = |b: Tensor<2>| if b_transposed { b.transpose() } else { b };
            let mine = dense(a.clone(), b.clone(), shape);
            let theirs = a.matmul(theirs_b(b));
            assert_eq!(mine.dims(), [m, n], "{what}");
            assert_close(to_vec(mine), to_vec(theirs), &format!("forward, {what}"));
            let device = autodiff_device();
            let grads = |host: bool| {
                let a = tensor([m, k], 1, &device).require_grad();
                let b = tensor(b_dims, 2, &device).require_grad();
                let y = if host {
                    dense(a.clone(), b.clone(), shape)
                } else {
                    a.clone().matmul(theirs_b(b.clone()))
                };
                let weights = tensor(y.dims(), 4, &device);
                let g = (y * weights).sum().backward();
                [
                    a.grad(&g).unwrap().into_data(),
                    b.grad(&g).unwrap().into_data(),
                ]
                .map(|d| d.try_to_vec::<f32>().unwrap())
            };
            for (name, (mine, theirs)) in ["a", "b"]
                .into_iter()
                .zip(grads(true).into_iter().zip(grads(false)))
            {
                assert_close(mine, theirs, &format!("{name} gradient, {what}"));
            }
        }
    }
}
