//! DeepFool (Moosavi-Dezfooli et al., 2016), L2 and L∞.
//!
//! Each iteration linearizes the decision boundaries to the top candidate classes, steps to
//! the closest one, and stops per sample once the label flips. The final perturbation is
//! scaled by (1 + overshoot). It is untargeted by construction, and a minimum-norm attack: the
//! point it ends on is proposed at every budget.

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
use crate::rows::wrong_classes_by_score;
use crate::{Attack, AttackInput, Kind, MinimumNorm};

/// DeepFool: at most `steps` linearize-and-step iterations per sample over the 10
/// highest-scoring classes, overshoot 0.02.
#[derive(Debug, Clone)]
pub struct DeepFool {
    steps: usize,
    candidates: usize,
    overshoot: f32,
}

impl DeepFool {
    /// DeepFool with at most `steps` iterations (at least 1).
    pub fn new(steps: usize) -> Result<Self> {
        if steps == 0 {
            return Err(Error::Parameter(
                "DeepFool: steps must be at least 1".into(),
            ));
        }
        Ok(DeepFool {
            steps,
            candidates: 10,
            overshoot: 0.02,
        })
    }
}

impl Attack for DeepFool {
    fn name(&self) -> &str {
        "deepfool"
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::L2, Norm::Linf]
    }

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "steps": self.steps,
                "candidate_classes": self.candidates,
                "overshoot": self.overshoot,
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::MinimumNorm(self)
    }
}

impl MinimumNorm for DeepFool {
    fn minimize(&self, input: &AttackInput, _rng: &mut StdRng) -> Result<SampleCandidates> {
        if input.criterion().is_targeted() {
            return Err(Error::Parameter(
                "DeepFool is untargeted; use pgd or cw for a targeted criterion".into(),
            ));
        }
        let (n, f) = (input.len(), input.features());
        let device = compute_device();
        let norm = input.threat().norm();
        let b = input.threat().bounds();
        let classes = input.model().num_classes();
        let k = self.candidates.min(classes);

        // Candidate classes: the k highest-scoring classes on the clean input, label excluded.
        let clean_logits = to_vec(input.model().logits(from_rows(
            input.x().to_vec(),
            n,
            f,
            &device,
        ))?);
        let candidates: Vec<Vec<i64>> = (0..n)
            .map(|i| {
                let mut classes_by_score = wrong_classes_by_score(
                    &clean_logits[i * classes..(i + 1) * classes],
                    input.labels()[i],
                );
                classes_by_score.truncate(k - 1);
                classes_by_score
            })
            .collect();

        let mut perturbation = vec![0f32; n * f];
        let mut adversarial = input.x().to_vec();
        let mut active: Vec<usize> = (0..n).collect();
        let mut gradient_evals = 0u64;

        for _ in 0..self.steps {
            if active.is_empty() {
                break;
            }
            let rows: Vec<f32> = active
                .iter()
                .flat_map(|&i| adversarial[i * f..(i + 1) * f].iter().copied())
                .collect();
            let xt = from_rows(rows, active.len(), f, &device);
            let labels: Vec<i64> = active.iter().map(|&i| input.labels()[i]).collect();
            // Best (smallest) linearized distance per active sample: (distance, step row).
            let mut best: Vec<(f32, Vec<f32>)> = vec![(f32::INFINITY, Vec::new()); active.len()];
            let mut still_correct = vec![true; active.len()];
            // `slot` walks the ranks of every sample's own class list, not one list.
            #[allow(clippy::needless_range_loop)]
            for slot in 0..k - 1 {
                let positive: Vec<i64> = active.iter().map(|&i| candidates[i][slot]).collect();
                let lg = loss_and_grad(
                    input.model(),
                    &xt,
                    &Objective::LogitDifference {
                        positive: &positive,
                        negative: &labels,
                    },
                )?;
                gradient_evals += active.len() as u64;
                if slot == 0 {
                    let preds = argmax_rows(&lg.logits, classes);
                    for (a, &p) in preds.iter().enumerate() {
                        still_correct[a] = p == labels[a];
                    }
                }
                let grad = to_vec(lg.grad);
                for a in 0..active.len() {
                    let g = &grad[a * f..(a + 1) * f];
                    // Distance to the boundary z_k = z_y along the linearization.
                    let gap = (-lg.loss[a]).max(0.0) + 1e-4;
                    let (dual, step): (f32, Vec<f32>) = match norm {
                        Norm::L2 => {
                            let sq: f32 = g.iter().map(|v| v * v).sum::<f32>() + 1e-12;
                            (sq.sqrt(), g.iter().map(|v| gap / sq * v).collect())
                        }
                        _ => {
                            let l1: f32 = g.iter().map(|v| v.abs()).sum::<f32>() + 1e-12;
                            (l1, g.iter().map(|v| gap / l1 * v.signum()).collect())
                        }
                    };
                    let distance = gap / dual;
                    if distance < best[a].0 {
                        best[a] = (distance, step);
                    }
                }
            }
            let mut next_active = Vec::new();
            for (a, &i) in active.iter().enumerate() {
                if !still_correct[a] || best[a].1.is_empty() {
                    continue;
                }
                for j in 0..f {
                    perturbation[i * f + j] += best[a].1[j];
                    adversarial[i * f + j] = (input.x()[i * f + j]
                        + (1.0 + self.overshoot) * perturbation[i * f + j])
                        .clamp(b.min, b.max);
                }
                next_active.push(i);
            }
            active = next_active;
        }
        Ok(SampleCandidates {
            points: adversarial,
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
            DeepFool::new(0).unwrap_err().to_string(),
            "DeepFool: steps must be at least 1"
        );
        assert_eq!(DeepFool::new(50).unwrap().describe()["steps"], 50);
    }
}
