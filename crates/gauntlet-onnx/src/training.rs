//! Running the graph the way a trainer needs it: the file's weights replaced by tensors the
//! caller owns (autodiff leaves, so gradients reach them), and the operators that behave
//! differently while learning — BatchNormalization (batch statistics) and Dropout (random
//! masks) — in their training form.
//!
//! The interpreter itself stays read-only: a [`Pass`] only says which tensors to read in place
//! of which initializers and in which mode, and the batch statistics a training pass measured
//! come back to the caller ([`BatchStatistics`]), who decides whether to fold them into the
//! running averages.

use std::cell::RefCell;
use std::collections::HashMap;

use burn::tensor::Tensor;

/// How one forward pass runs.
#[derive(Clone, Copy)]
pub struct Pass<'a> {
    /// Flat tensors read in place of the file's initializers of the same name; each holds as
    /// many values as the initializer (its shape is taken from the file). Leaves on the
    /// autodiff device with `require_grad` receive gradients.
    pub parameters: &'a HashMap<String, Tensor<1>>,
    /// Training form: BatchNormalization normalizes by the batch's own statistics and reports
    /// them; Dropout drops. Otherwise both behave as at inference.
    pub train: bool,
    /// Seed of this pass's Dropout masks (each node mixes in its position).
    pub seed: u64,
}

/// What one BatchNormalization node measured on a training batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStatistics {
    /// The node's name.
    pub node: String,
    /// The initializer holding the running mean (the node's fourth input).
    pub mean_name: String,
    /// The initializer holding the running variance (the node's fifth input).
    pub var_name: String,
    /// The batch's per-channel mean.
    pub mean: Vec<f32>,
    /// The batch's per-channel variance, unbiased (what running averages accumulate, as in
    /// PyTorch); the normalization itself divides by the biased one.
    pub var: Vec<f32>,
    /// ONNX momentum: running = running · momentum + batch · (1 − momentum).
    pub momentum: f32,
}

impl BatchStatistics {
    /// Folds this batch into running statistics `(mean, var)` in place.
    pub fn update(&self, running_mean: &mut [f32], running_var: &mut [f32]) {
        let m = self.momentum;
        for (r, b) in running_mean.iter_mut().zip(&self.mean) {
            *r = *r * m + b * (1.0 - m);
        }
        for (r, b) in running_var.iter_mut().zip(&self.var) {
            *r = *r * m + b * (1.0 - m);
        }
    }
}

/// What training-form operators see while the graph runs.
pub(crate) struct TrainingState {
    pub train: bool,
    pub seed: u64,
    pub statistics: RefCell<Vec<BatchStatistics>>,
}

impl TrainingState {
    pub fn new(pass: &Pass) -> Self {
        TrainingState {
            train: pass.train,
            seed: pass.seed,
            statistics: RefCell::new(Vec::new()),
        }
    }
}

/// A uniform number in [0, 1) from a 64-bit key (SplitMix64's finalizer): Dropout masks that
/// depend only on (seed, node, element), so a pass is reproducible and needs no generator
/// state.
pub(crate) fn uniform(key: u64) -> f32 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_uniforms_are_uniform() {
        let n = 100_000u64;
        let below: usize = (0..n).filter(|&i| uniform(i ^ 77 << 32) < 0.3).count();
        let share = below as f64 / n as f64;
        assert!((share - 0.3).abs() < 0.01, "{share}");
        assert!((0..1000u64).all(|i| (0.0..1.0).contains(&uniform(i))));
    }

    #[test]
    fn running_statistics_follow_the_onnx_momentum() {
        let s = BatchStatistics {
            node: "bn".into(),
            mean_name: "m".into(),
            var_name: "v".into(),
            mean: vec![1.0],
            var: vec![3.0],
            momentum: 0.9,
        };
        let (mut m, mut v) = (vec![0.0], vec![1.0]);
        s.update(&mut m, &mut v);
        assert!((m[0] - 0.1).abs() < 1e-7 && (v[0] - 1.2).abs() < 1e-6);
    }
}
