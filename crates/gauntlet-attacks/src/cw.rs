//! Carlini & Wagner L2 attack (Carlini & Wagner, 2017).
//!
//! Minimizes ‖x' − x‖² + c·max(z_y − max_{j≠y} z_j, −κ) with Adam and a per-sample binary
//! search over c: a minimum-norm attack. The smallest successful perturbation found is the
//! sample's point (the last iterate where none succeeded); [`Attack::run`] projects it into
//! each budget.
//!
//! The box constraint is kept by projection (clipping after each Adam step) rather than by the
//! paper's tanh change of variables: with tanh, pixels at the box edges (most of an MNIST
//! digit) sit where the derivative vanishes and barely move within a practical step budget.

use burn::tensor::Tensor;
use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::SampleCandidates;
use crate::{Attack, AttackInput, Kind, MinimumNorm};

/// Carlini & Wagner L2: `steps` Adam steps for each of 5 binary-search steps over c (starting
/// at c = 1, learning rate 0.01, confidence κ = 0).
#[derive(Debug, Clone)]
pub struct CarliniWagner {
    steps: usize,
    binary_search_steps: usize,
    initial_c: f32,
    learning_rate: f32,
    confidence: f32,
}

impl CarliniWagner {
    /// C&W with `steps` optimizer steps (at least 1) per binary-search step.
    pub fn new(steps: usize) -> Result<Self> {
        if steps == 0 {
            return Err(Error::Parameter(
                "CarliniWagner: steps must be at least 1".into(),
            ));
        }
        Ok(CarliniWagner {
            steps,
            binary_search_steps: 5,
            initial_c: 1.0,
            learning_rate: 0.01,
            confidence: 0.0,
        })
    }
}

impl Attack for CarliniWagner {
    fn name(&self) -> &str {
        "cw"
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::L2]
    }

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "steps": self.steps,
                "binary_search_steps": self.binary_search_steps,
                "initial_c": self.initial_c,
                "learning_rate": self.learning_rate,
                "confidence": self.confidence,
                "optimizer": "adam, box kept by clipping",
                "loss": "‖δ‖² + c·max(margin, −κ)",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::MinimumNorm(self)
    }
}

impl MinimumNorm for CarliniWagner {
    fn minimize(&self, input: &AttackInput, _rng: &mut StdRng) -> Result<SampleCandidates> {
        let (n, f) = (input.len(), input.features());
        let device = compute_device();
        let b = input.threat().bounds();
        let classes = input.model().num_classes();
        let targets = input.criterion().targets();
        let objective = match &targets {
            Some(t) => Objective::TargetedMargin(t),
            None => Objective::Margin(input.labels()),
        };

        let x = from_rows(input.x().to_vec(), n, f, &device);

        let mut c = vec![self.initial_c; n];
        let mut c_lower = vec![0f32; n];
        let mut c_upper = vec![f32::INFINITY; n];
        let mut best_norm = vec![f32::INFINITY; n];
        let mut best: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut last: Vec<f32> = input.x().to_vec();
        let mut gradient_evals = 0u64;
        let (beta1, beta2, adam_eps) = (0.9f32, 0.999f32, 1e-8f32);

        for _ in 0..self.binary_search_steps {
            let c_col = from_rows(c.clone(), n, 1, &device);
            let mut xa = x.clone();
            let mut m = Tensor::<2>::zeros([n, f], &device);
            let mut v = Tensor::<2>::zeros([n, f], &device);
            let mut succeeded = vec![false; n];
            for t in 1..=self.steps {
                let lg = loss_and_grad(input.model(), &xa, &objective)?;
                gradient_evals += n as u64;
                let preds = argmax_rows(&lg.logits, classes);
                let xa_host = to_vec(xa.clone());
                for i in 0..n {
                    let row = &xa_host[i * f..(i + 1) * f];
                    if input.is_adversarial(i, preds[i]) {
                        succeeded[i] = true;
                        let d = Norm::L2.distance(input.row(i), row);
                        if d < best_norm[i] {
                            best_norm[i] = d;
                            best[i] = row.to_vec();
                        }
                    }
                }
                last = xa_host;
                // The hinge is active while the margin is below the confidence κ.
                let active: Vec<f32> = lg
                    .loss
                    .iter()
                    .map(|&margin| if margin < self.confidence { 1.0 } else { 0.0 })
                    .collect();
                let active = from_rows(active, n, 1, &device);
                let grad = (xa.clone() - x.clone()) * 2.0 - lg.grad * (c_col.clone() * active);
                m = m * beta1 + grad.clone() * (1.0 - beta1);
                v = v * beta2 + grad.square() * (1.0 - beta2);
                let m_hat = m.clone() / (1.0 - beta1.powi(t as i32));
                let v_hat = v.clone() / (1.0 - beta2.powi(t as i32));
                xa = (xa - m_hat / (v_hat.sqrt() + adam_eps) * self.learning_rate)
                    .clamp(b.min, b.max);
            }
            for i in 0..n {
                if succeeded[i] {
                    c_upper[i] = c_upper[i].min(c[i]);
                } else {
                    c_lower[i] = c_lower[i].max(c[i]);
                }
                c[i] = if c_upper[i].is_finite() {
                    (c_lower[i] + c_upper[i]) / 2.0
                } else {
                    c[i] * 10.0
                };
            }
        }

        let points: Vec<f32> = (0..n)
            .flat_map(|i| {
                if best[i].is_empty() {
                    last[i * f..(i + 1) * f].to_vec()
                } else {
                    best[i].clone()
                }
            })
            .collect();
        Ok(SampleCandidates {
            points,
            gradient_evals,
            queries: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rejects_zero_steps() {
        assert_eq!(
            CarliniWagner::new(0).unwrap_err().to_string(),
            "CarliniWagner: steps must be at least 1"
        );
        assert_eq!(CarliniWagner::new(30).unwrap().describe()["steps"], 30);
    }
}
