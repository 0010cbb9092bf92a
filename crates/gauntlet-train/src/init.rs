//! A fresh start: weights drawn by layer kind, as the frameworks initialize them.
//!
//! Convolution kernels: Kaiming (He et al., 2015) uniform for the ReLU networks they mostly
//! feed, bound √(6 / fan_in). Matrices (Gemm, MatMul): Glorot (Glorot & Bengio, 2010)
//! uniform, bound √(6 / (fan_in + fan_out)). Biases and shifts 0, scales 1, PRelu slopes
//! 0.25, running mean 0 and variance 1.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::parameters::{Parameters, Role};

/// Reinitializes every parameter from `seed`.
pub fn reinitialize(parameters: &mut Parameters, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for p in &mut parameters.list {
        let uniform = |bound: f32, rng: &mut StdRng, n: usize| -> Vec<f32> {
            (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
        };
        let n = p.values.len();
        p.values = match p.role {
            Role::ConvWeight => uniform((6.0 / p.fan_in.max(1) as f32).sqrt(), &mut rng, n),
            Role::MatrixWeight => uniform(
                (6.0 / (p.fan_in + p.fan_out).max(1) as f32).sqrt(),
                &mut rng,
                n,
            ),
            Role::Bias | Role::Shift | Role::RunningMean => vec![0.0; n],
            Role::Scale | Role::RunningVar => vec![1.0; n],
            Role::Slope => vec![0.25; n],
        };
    }
}
