//! Gradient steps on the host: SGD (momentum, Nesterov, weight decay) and Adam / AdamW.
//!
//! Parameters live on the host between steps (the trainer uploads them as autodiff leaves for
//! each batch), so an update is a loop over each tensor's values; tensors are updated in
//! parallel.

use rayon::prelude::*;
use serde::Serialize;

/// Which update rule, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OptimizerKind {
    /// Stochastic gradient descent; weight decay is added to the gradient (L2 penalty).
    Sgd {
        /// Momentum coefficient (0: none).
        momentum: f32,
        /// Nesterov's look-ahead form of momentum.
        nesterov: bool,
        /// L2 penalty coefficient.
        weight_decay: f32,
    },
    /// Adam (Kingma & Ba, 2015); `decoupled` weight decay is AdamW (Loshchilov & Hutter,
    /// 2019), otherwise the decay is added to the gradient.
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Denominator guard.
        eps: f32,
        /// Weight decay coefficient.
        weight_decay: f32,
        /// AdamW: decay applied to the weights directly, scaled by the learning rate.
        decoupled: bool,
    },
}

impl OptimizerKind {
    /// `sgd` (momentum 0.9, Nesterov off, decay 5e-4), `adam`, or `adamw` (decay 0.01),
    /// with `weight_decay` overriding the default when given.
    pub fn parse(name: &str, weight_decay: Option<f32>) -> Result<OptimizerKind, String> {
        match name {
            "sgd" => Ok(OptimizerKind::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: weight_decay.unwrap_or(5e-4),
            }),
            "nesterov" => Ok(OptimizerKind::Sgd {
                momentum: 0.9,
                nesterov: true,
                weight_decay: weight_decay.unwrap_or(5e-4),
            }),
            "adam" | "adamw" => Ok(OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: weight_decay.unwrap_or(if name == "adamw" { 0.01 } else { 0.0 }),
                decoupled: name == "adamw",
            }),
            other => Err(format!(
                "unknown optimizer '{other}'; use sgd, nesterov, adam or adamw"
            )),
        }
    }
}

/// An optimizer with its per-value state.
#[derive(Debug, Clone)]
pub struct Optimizer {
    /// The rule.
    pub kind: OptimizerKind,
    /// Steps taken.
    pub steps: u64,
    /// First state buffer per tensor (momentum / Adam's first moment).
    pub first: Vec<Vec<f32>>,
    /// Second state buffer per tensor (Adam's second moment; empty for SGD).
    pub second: Vec<Vec<f32>>,
}

impl Optimizer {
    /// A fresh optimizer for tensors of the given sizes.
    pub fn new(kind: OptimizerKind, sizes: &[usize]) -> Optimizer {
        let zeros = || sizes.iter().map(|&n| vec![0.0; n]).collect::<Vec<_>>();
        let second = match kind {
            OptimizerKind::Adam { .. } => zeros(),
            OptimizerKind::Sgd { .. } => sizes.iter().map(|_| Vec::new()).collect(),
        };
        Optimizer {
            kind,
            steps: 0,
            first: zeros(),
            second,
        }
    }

    /// One step at learning rate `lr`: `values[i] -= …(grads[i])`.
    pub fn step(&mut self, values: &mut [&mut Vec<f32>], grads: &[Vec<f32>], lr: f32) {
        self.steps += 1;
        let kind = self.kind;
        let t = self.steps as i32;
        values
            .par_iter_mut()
            .zip(grads.par_iter())
            .zip(self.first.par_iter_mut())
            .zip(self.second.par_iter_mut())
            .for_each(|(((w, g), m), v)| match kind {
                OptimizerKind::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                } => {
                    for ((w, &g), m) in w.iter_mut().zip(g).zip(m.iter_mut()) {
                        let g = g + weight_decay * *w;
                        if momentum == 0.0 {
                            *w -= lr * g;
                            continue;
                        }
                        // PyTorch's form: the buffer starts at the first gradient.
                        *m = if t == 1 { g } else { momentum * *m + g };
                        let d = if nesterov { g + momentum * *m } else { *m };
                        *w -= lr * d;
                    }
                }
                OptimizerKind::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                } => {
                    let c1 = 1.0 - beta1.powi(t);
                    let c2 = 1.0 - beta2.powi(t);
                    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut())
                    {
                        let g = if decoupled {
                            *w -= lr * weight_decay * *w;
                            g
                        } else {
                            g + weight_decay * *w
                        };
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        *w -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch 2.15's torch.optim in float64: lr 0.1, w0 = [1, −2], gradients [0.5, 0.25]
    /// then [−1, 2]; SGD and Nesterov with momentum 0.9 (weight decay 0 and 0.01), Adam, and
    /// AdamW with decay 0.01.
    #[test]
    fn two_steps_match_pytorch() {
        let cases: [(&str, Option<f32>, [f32; 2]); 4] = [
            ("sgd", Some(0.0), [1.005, -2.2475]),
            ("nesterov", Some(0.01), [1.0500741, -2.438447]),
            ("adam", Some(0.0), [0.9366104, -2.1821466]),
            ("adamw", Some(0.01), [0.9347114, -2.1780486]),
        ];
        for (name, decay, expected) in cases {
            let kind = OptimizerKind::parse(name, decay).unwrap();
            let mut opt = Optimizer::new(kind, &[2]);
            let mut w = vec![1.0f32, -2.0];
            for g in [[0.5f32, 0.25], [-1.0, 2.0]] {
                opt.step(&mut [&mut w], &[g.to_vec()], 0.1);
            }
            for (a, b) in w.iter().zip(expected) {
                assert!((a - b).abs() < 1e-5, "{name}: {w:?} vs {expected:?}");
            }
        }
    }
}
