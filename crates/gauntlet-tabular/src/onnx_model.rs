//! A network on table rows (an MLP exported to ONNX, say), run by gauntlet's interpreter: its
//! outputs are the scores and the interpreter's autodiff gives the gradient attacks their
//! input gradients.

use gauntlet_core::loss::Objective;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::Device;
use gauntlet_onnx::OnnxModel;

use crate::error::{Error, Result};
use crate::model::{Goal, Gradient, TabularModel};

/// An ONNX network whose input is one row of `width` numbers.
pub struct OnnxTabular {
    model: OnnxModel,
    width: usize,
    device: Device,
}

impl OnnxTabular {
    /// Wraps a loaded model; its input must be a flat row of `width` values.
    pub fn new(model: OnnxModel, width: usize) -> Result<Self> {
        let shape = model.sample_shape().to_vec();
        let features: usize = shape.iter().product();
        if features != width {
            return Err(Error::Model {
                model: format!("{model:?}"),
                reason: format!(
                    "reads samples of shape {shape:?} ({features} values) but the schema lists \
                     {width} features; list exactly the model's input columns, in its order"
                ),
            });
        }
        Ok(OnnxTabular {
            model,
            width,
            device: gauntlet_core::device::compute_device(),
        })
    }
}

impl TabularModel for OnnxTabular {
    fn width(&self) -> usize {
        self.width
    }

    fn classes(&self) -> usize {
        self.model.num_classes()
    }

    fn scores(&self, rows: &[f32]) -> Result<Vec<f32>> {
        let n = rows.len() / self.width;
        let x = from_rows(rows.to_vec(), n, self.width, &self.device);
        Ok(to_vec(self.model.logits(x)?))
    }

    fn margin_gradient(&self, rows: &[f32], goals: &[Goal]) -> Option<Result<Gradient>> {
        let n = goals.len();
        let x = from_rows(rows.to_vec(), n, self.width, &self.device);
        // One objective per batch: every goal of a batch is of one kind (an audit attacks in
        // one direction), so the first decides.
        let classes: Vec<i64> = goals
            .iter()
            .map(|g| match *g {
                Goal::Untargeted { label } => label as i64,
                Goal::Targeted { target } => target as i64,
            })
            .collect();
        let objective = match goals.first() {
            Some(Goal::Targeted { .. }) => Objective::TargetedMargin(&classes),
            _ => Objective::Margin(&classes),
        };
        if goals.iter().any(|g| {
            matches!(g, Goal::Targeted { .. }) != matches!(objective, Objective::TargetedMargin(_))
        }) {
            return Some(Err(Error::config(
                "direction",
                "one batch mixes targeted and untargeted goals",
            )));
        }
        Some(
            loss_and_grad(&self.model, &x, &objective)
                .map(|out| Gradient {
                    scores: out.logits,
                    gradient: to_vec(out.grad),
                })
                .map_err(Error::from),
        )
    }

    fn describe(&self) -> String {
        format!(
            "ONNX network ({} operators, opset {}), gradients by gauntlet's interpreter",
            self.model.operators().len(),
            self.model.opset()
        )
    }
}
