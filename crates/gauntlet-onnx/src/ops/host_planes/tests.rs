//! The plane kernels against burn's own operators: forward values and every gradient.

use super::*;
use crate::ops::kernel_testing::{assert_close, tensor};
use gauntlet_core::device::{autodiff_device, compute_device};
use gauntlet_core::tensor::to_vec;

/// Small planes, and planes enough for several rayon tasks.
const SHAPES: [[usize; 4]; 2] = [[2, 3, 5, 4], [4, 64, 20, 20]];

#[test]
fn plane_means_match_burn_forward_and_backward() {
    for shape in SHAPES {
        let burn_mean = |x: Tensor<4>| x.mean_dim(3).mean_dim(2);
        let x = tensor(shape, 1, &compute_device());
        assert!(activation_served(&x));
        let mine = plane_mean(x.clone(), 2);
        assert_eq!(mine.dims(), [shape[0], shape[1], 1, 1]);
        assert_close(to_vec(mine), to_vec(burn_mean(x)), "forward");
        let device = autodiff_device();
        let grad = |host: bool| {
            let x = tensor(shape, 1, &device).require_grad();
            let y = if host {
                plane_mean(x.clone(), 2)
            } else {
                burn_mean(x.clone())
            };
            let g = (y * tensor([shape[0], shape[1], 1, 1], 4, &device))
                .sum()
                .backward();
            to_vec(x.grad(&g).unwrap())
        };
        assert_close(grad(true), grad(false), &format!("gradient {shape:?}"));
    }
}

#[test]
fn plane_scaling_matches_burn_forward_and_backward() {
    for shape in SHAPES {
        let factors = [shape[0], shape[1], 1, 1];
        let x = tensor(shape, 1, &compute_device());
        let s = tensor(factors, 2, &compute_device());
        let len = plane_scale_len(&x, &s).unwrap();
        assert_eq!(len, shape[2] * shape[3]);
        let theirs = to_vec(x.clone() * s.clone());
        let shared = plane_scale(x.clone(), s.clone(), len);
        assert_close(to_vec(shared), theirs.clone(), "forward");
        // Sole owner of its buffer: scaled in place.
        assert_close(to_vec(plane_scale(x, s, len)), theirs, "in place");
        let device = autodiff_device();
        let grads = |host: bool| {
            let x = tensor(shape, 1, &device).require_grad();
            let s = tensor(factors, 2, &device).require_grad();
            let y = if host {
                plane_scale(x.clone(), s.clone(), len)
            } else {
                x.clone() * s.clone()
            };
            let g = (y * tensor(shape, 4, &device)).sum().backward();
            [to_vec(x.grad(&g).unwrap()), to_vec(s.grad(&g).unwrap())]
        };
        let [mine, theirs] = [grads(true), grads(false)];
        for (i, name) in ["planes", "factors"].into_iter().enumerate() {
            assert_close(
                mine[i].clone(),
                theirs[i].clone(),
                &format!("{name} {shape:?}"),
            );
        }
    }
    // Factors that are not per plane are left to burn.
    let x = tensor([2, 3, 4, 4], 1, &compute_device());
    for factors in [[2, 1, 4, 1], [1, 3, 1, 1]] {
        let s = tensor(factors, 2, &compute_device());
        assert!(plane_scale_len(&x, &s).is_none());
    }
}
