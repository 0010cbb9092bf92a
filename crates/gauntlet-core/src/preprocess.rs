//! Preprocessing that belongs to the model, so that budgets stay in input space.
//!
//! A model trained on normalized inputs `(x − mean) / std` is audited on raw `x` in the valid
//! box: the normalization runs inside the model wrapper, and its gradient with it.

use burn::tensor::Tensor;

use crate::tensor::from_rows;
use crate::{Device, Error, Result};

/// Per-channel normalization, expanded to per-feature rows for a flat batch.
#[derive(Debug, Clone)]
pub struct Normalization {
    /// Mean subtracted from every value, as given: one value for all channels or one per
    /// channel, in input units.
    pub mean: Vec<f32>,
    /// Standard deviation divided by, as given (one value or one per channel); each > 0.
    pub std: Vec<f32>,
    offset_row: Vec<f32>,
    scale_row: Vec<f32>,
}

impl Normalization {
    /// Validates `mean`/`std` (one value, or one per channel = `sample_shape[0]`).
    pub fn new(mean: Vec<f32>, std: Vec<f32>, sample_shape: &[usize]) -> Result<Self> {
        let channels = if sample_shape.len() >= 2 {
            sample_shape[0]
        } else {
            1
        };
        let features: usize = sample_shape.iter().product();
        let expand = |v: &[f32], what: &str| -> Result<Vec<f32>> {
            match v.len() {
                1 => Ok(vec![v[0]; channels]),
                n if n == channels => Ok(v.to_vec()),
                n => Err(Error::Parameter(format!(
                    "{n} {what} values for {channels} channel(s); give one value or one per channel"
                ))),
            }
        };
        let mean_c = expand(&mean, "mean")?;
        let std_c = expand(&std, "std")?;
        if std_c.iter().any(|s| !s.is_finite() || *s <= 0.0)
            || mean_c.iter().any(|m| !m.is_finite())
        {
            return Err(Error::Parameter(
                "normalization std must be > 0 and mean finite".into(),
            ));
        }
        let per_channel = features / channels;
        let offset_row = (0..features).map(|i| mean_c[i / per_channel]).collect();
        let scale_row = (0..features)
            .map(|i| 1.0 / std_c[i / per_channel])
            .collect();
        Ok(Normalization {
            mean,
            std,
            offset_row,
            scale_row,
        })
    }

    /// `(x − mean) / std` for a flat batch `[N, F]`.
    pub fn apply(&self, x: Tensor<2>, device: &Device) -> Tensor<2> {
        let f = self.offset_row.len();
        let offset = from_rows(self.offset_row.clone(), 1, f, device);
        let scale = from_rows(self.scale_row.clone(), 1, f, device);
        (x - offset) * scale
    }
}
