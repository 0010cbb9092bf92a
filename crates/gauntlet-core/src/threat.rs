//! Threat models: what the attacker may change, checked once into a validated value.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::tensor::{from_rows, to_vec};
use crate::{Error, Result};

/// The norm that measures a perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// The largest absolute change of any feature.
    Linf,
    /// The Euclidean length of the change.
    L2,
    /// The sum of absolute changes.
    L1,
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
            Norm::L1 => "l1",
        })
    }
}

impl FromStr for Norm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "linf" | "inf" | "l_inf" | "l-inf" => Ok(Norm::Linf),
            "l2" | "2" => Ok(Norm::L2),
            "l1" | "1" => Ok(Norm::L1),
            other => Err(Error::Parameter(format!(
                "unknown norm '{other}'; use one of linf, l2, l1"
            ))),
        }
    }
}

impl Norm {
    /// Per-row norm of a flat batch, as an `[N, 1]` column (ready to broadcast).
    pub fn measure(&self, delta: Tensor<2>) -> Tensor<2> {
        match self {
            Norm::Linf => delta.abs().max_dim(1),
            Norm::L2 => delta.square().sum_dim(1).sqrt(),
            Norm::L1 => delta.abs().sum_dim(1),
        }
    }

    /// Per-row norms on the host.
    pub fn measure_rows(&self, delta: &[f32], features: usize) -> Vec<f32> {
        delta
            .chunks(features)
            .map(|row| self.measure_row(row))
            .collect()
    }

    /// The norm of one flat row on the host; the arithmetic every host-side measurement
    /// shares, so that a size an attack compares is the size the verification reports.
    pub fn measure_row(&self, row: &[f32]) -> f32 {
        match self {
            Norm::Linf => row.iter().fold(0f32, |m, v| m.max(v.abs())),
            Norm::L2 => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
            Norm::L1 => row.iter().map(|v| v.abs()).sum(),
        }
    }

    /// `‖a − x‖` for two rows of equal length (`x` the clean input, `a` a candidate).
    pub fn distance(&self, x: &[f32], a: &[f32]) -> f32 {
        let delta: Vec<f32> = a.iter().zip(x).map(|(a, x)| a - x).collect();
        self.measure_row(&delta)
    }

    /// The dual norm (L∞ ↔ L1, L2 ↔ L2): a linearized boundary `m + w·δ = 0` lies
    /// `|m| / ‖w‖_dual` away in this norm.
    pub fn dual(&self) -> Norm {
        match self {
            Norm::Linf => Norm::L1,
            Norm::L2 => Norm::L2,
            Norm::L1 => Norm::Linf,
        }
    }

    /// Projects each row of `delta` onto the ball of radius `eps` (an `[N, 1]` column).
    pub fn project(&self, delta: Tensor<2>, eps: &Tensor<2>) -> Tensor<2> {
        match self {
            Norm::Linf => {
                let eps = eps.clone();
                delta.clone().clamp_max(0.0).max_pair(eps.clone().neg())
                    + delta.clamp_min(0.0).min_pair(eps)
            }
            Norm::L2 => {
                let norm = self.measure(delta.clone());
                let factor = (eps.clone() / (norm + 1e-12)).clamp_max(1.0);
                delta * factor
            }
            Norm::L1 => {
                let [n, f] = delta.dims();
                let device = delta.device();
                let eps = to_vec(eps.clone());
                let projected = project_l1_rows(to_vec(delta), f, &eps);
                from_rows(projected, n, f, &device)
            }
        }
    }
}

impl Norm {
    /// Host-side projection of each row of `delta` onto the ball of radius `eps`.
    pub fn project_rows(&self, delta: &mut Vec<f32>, features: usize, eps: f32) {
        match self {
            Norm::Linf => delta.iter_mut().for_each(|v| *v = v.clamp(-eps, eps)),
            Norm::L2 => {
                for row in delta.chunks_mut(features) {
                    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                    if norm > eps {
                        // Scale slightly inside so rounding never leaves the ball.
                        let factor = eps / norm * (1.0 - 1e-6);
                        row.iter_mut().for_each(|v| *v *= factor);
                    }
                }
            }
            Norm::L1 => {
                let rows = delta.len() / features.max(1);
                let projected = project_l1_rows(
                    std::mem::take(delta),
                    features,
                    &vec![eps * (1.0 - 1e-6); rows],
                );
                *delta = projected;
            }
        }
    }
}

/// Euclidean projection of each row onto the L1 ball of radius `eps[row]`
/// (Duchi et al., 2008, sort-based).
pub fn project_l1_rows(mut delta: Vec<f32>, features: usize, eps: &[f32]) -> Vec<f32> {
    for (row, &radius) in delta.chunks_mut(features).zip(eps) {
        let l1: f32 = row.iter().map(|v| v.abs()).sum();
        if l1 <= radius {
            continue;
        }
        if radius <= 0.0 {
            row.iter_mut().for_each(|v| *v = 0.0);
            continue;
        }
        let mut mags: Vec<f32> = row.iter().map(|v| v.abs()).collect();
        mags.sort_by(|a, b| b.total_cmp(a));
        let mut cumulative = 0f32;
        let mut theta = 0f32;
        for (k, m) in mags.iter().enumerate() {
            cumulative += m;
            let candidate = (cumulative - radius) / (k as f32 + 1.0);
            if *m > candidate {
                theta = candidate;
            } else {
                break;
            }
        }
        for v in row.iter_mut() {
            *v = v.signum() * (v.abs() - theta).max(0.0);
        }
    }
    delta
}

/// The valid input range, e.g. `[0, 1]` for images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Smallest valid feature value.
    pub min: f32,
    /// Largest valid feature value.
    pub max: f32,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { min: 0.0, max: 1.0 }
    }
}

impl Bounds {
    /// Clamps a batch into the box.
    pub fn clip(&self, x: Tensor<2>) -> Tensor<2> {
        x.clamp(self.min, self.max)
    }
}

/// An Lp threat model: a norm, the budgets to evaluate, and the valid box.
/// Constructed only through [`ThreatModel::new`], which rejects invalid values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreatModel {
    norm: Norm,
    epsilons: Vec<f32>,
    bounds: Bounds,
    /// Per feature, 1 where the attacker may change it and 0 where it must stay exactly as
    /// it is (a region: the glasses, a sticker); `None`: every feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mask: Option<Vec<f32>>,
}

impl ThreatModel {
    /// Validates and builds a threat model. Budgets are sorted ascending and deduplicated.
    pub fn new(norm: Norm, epsilons: &[f32], bounds: Bounds) -> Result<Self> {
        if epsilons.is_empty() {
            return Err(Error::Parameter(
                "no perturbation budget given: `epsilons` is empty; give at least one, e.g. [0.1, 0.3]"
                    .into(),
            ));
        }
        for &eps in epsilons {
            if !eps.is_finite() || eps < 0.0 {
                return Err(Error::Parameter(format!(
                    "budget ε = {eps} is out of range; every ε must be a finite number ≥ 0"
                )));
            }
        }
        if !(bounds.min.is_finite() && bounds.max.is_finite() && bounds.min < bounds.max) {
            return Err(Error::Parameter(format!(
                "invalid valid-input box [{}, {}]; it needs finite min < max",
                bounds.min, bounds.max
            )));
        }
        if norm == Norm::Linf {
            let width = bounds.max - bounds.min;
            if let Some(&too_big) = epsilons.iter().find(|&&e| e > width) {
                return Err(Error::Parameter(format!(
                    "L∞ budget ε = {too_big} exceeds the width of the input box ({width}); \
                     budgets are in input units (e.g. 8/255 ≈ 0.031 for images in [0, 1])"
                )));
            }
        }
        let mut epsilons = epsilons.to_vec();
        epsilons.sort_by(f32::total_cmp);
        epsilons.dedup();
        Ok(ThreatModel {
            norm,
            epsilons,
            bounds,
            mask: None,
        })
    }

    /// The same threat model confined to a region: `mask` holds one value per feature, 1
    /// where the attacker may change the feature and 0 where it must not change at all.
    pub fn with_mask(self, mask: Vec<f32>) -> Result<Self> {
        if let Some((i, v)) = mask.iter().enumerate().find(|(_, &v)| v != 0.0 && v != 1.0) {
            return Err(Error::Parameter(format!(
                "mask value {v} at feature {i}: a mask holds only 0 (never changes) and 1 (may change)"
            )));
        }
        if !mask.contains(&1.0) {
            return Err(Error::Parameter(
                "the mask allows no change anywhere (it is all 0); paint the region the attacker \
                 may change white"
                    .into(),
            ));
        }
        Ok(ThreatModel {
            mask: Some(mask),
            ..self
        })
    }

    /// The same threat model (norm, box, region) at other budgets.
    pub fn with_epsilons(&self, epsilons: &[f32]) -> Result<Self> {
        let mut threat = ThreatModel::new(self.norm, epsilons, self.bounds)?;
        threat.mask = self.mask.clone();
        Ok(threat)
    }

    /// The region the attacker may change, one 0/1 value per feature; `None`: everywhere.
    pub fn mask(&self) -> Option<&[f32]> {
        self.mask.as_deref()
    }

    /// `delta` (rows of `features` values) with every change outside the mask removed.
    pub fn confine(&self, delta: &mut [f32], features: usize) {
        if let Some(mask) = &self.mask {
            for row in delta.chunks_mut(features) {
                for (d, m) in row.iter_mut().zip(mask) {
                    *d *= m;
                }
            }
        }
    }

    /// The norm budgets are measured in.
    pub fn norm(&self) -> Norm {
        self.norm
    }

    /// The budgets, ascending and distinct.
    pub fn epsilons(&self) -> &[f32] {
        &self.epsilons
    }

    /// The valid input box.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }
}

/// Parses a comma-separated budget list such as `0.1,0.3` or `8/255`.
pub fn parse_epsilons(text: &str) -> Result<Vec<f32>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let value = match s.split_once('/') {
                Some((a, b)) => a
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .zip(b.trim().parse::<f32>().ok())
                    .map(|(a, b)| a / b),
                None => s.parse::<f32>().ok(),
            };
            value.ok_or_else(|| {
                Error::Parameter(format!(
                    "cannot read budget '{s}'; write numbers like 0.1 or fractions like 8/255"
                ))
            })
        })
        .collect()
}

/// A budget given in `f32` as the `f64` its decimal text says: `0.3f32` is 0.30000001192… as
/// an `f64` cast, which reports would print; this gives 0.3.
pub fn decimal(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_their_decimal_text() {
        assert_eq!(decimal(0.3), 0.3);
        assert_eq!(decimal(0.075), 0.075);
        assert_eq!(decimal(8.0 / 255.0), 0.03137255);
    }

    #[test]
    fn rejects_invalid_budgets() {
        assert!(ThreatModel::new(Norm::Linf, &[-0.1], Bounds::default()).is_err());
        assert!(ThreatModel::new(Norm::L2, &[f32::NAN], Bounds::default()).is_err());
        assert!(ThreatModel::new(Norm::L2, &[], Bounds::default()).is_err());
        assert!(ThreatModel::new(Norm::Linf, &[1.5], Bounds::default()).is_err());
        assert!("l3".parse::<Norm>().is_err());
        let tm = ThreatModel::new(Norm::L2, &[2.0, 0.5, 2.0], Bounds::default()).unwrap();
        assert_eq!(tm.epsilons(), &[0.5, 2.0]);
    }

    #[test]
    fn parses_fractions() {
        assert_eq!(
            parse_epsilons("8/255, 0.1").unwrap(),
            vec![8.0 / 255.0, 0.1]
        );
        assert!(parse_epsilons("abc").is_err());
    }

    #[test]
    fn l1_projection_lands_on_ball() {
        let d = vec![0.5, -0.3, 0.2, 0.0, 1.0, 1.0, 1.0, 1.0];
        let p = project_l1_rows(d, 4, &[0.5, 2.0]);
        let n = Norm::L1.measure_rows(&p, 4);
        assert!((n[0] - 0.5).abs() < 1e-5 && (n[1] - 2.0).abs() < 1e-5);
        // direction preserved: signs unchanged
        assert!(p[0] > 0.0 && p[1] <= 0.0);
    }

    #[test]
    fn row_helpers_agree_with_the_batch_measurement() {
        let rows = [0.3f32, -0.4, 0.0, 1.0, -2.0, 0.5];
        for norm in [Norm::Linf, Norm::L2, Norm::L1] {
            let batch = norm.measure_rows(&rows, 3);
            assert_eq!(
                batch,
                vec![norm.measure_row(&rows[..3]), norm.measure_row(&rows[3..])]
            );
            let delta: Vec<f32> = (0..3).map(|j| rows[3 + j] - rows[j]).collect();
            assert_eq!(
                norm.distance(&rows[..3], &rows[3..]),
                norm.measure_row(&delta)
            );
            assert_eq!(norm.dual().dual(), norm);
        }
        assert_eq!(Norm::L2.measure_row(&[3.0, 4.0]), 5.0);
        assert_eq!(Norm::Linf.dual(), Norm::L1);
        assert_eq!(Norm::L1.measure_row(&[]), 0.0);
    }
}
