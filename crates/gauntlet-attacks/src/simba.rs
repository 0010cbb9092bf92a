//! SimBA, the Simple Black-box Attack (Guo, Gardner, You, Wilson & Weinberger, "Simple
//! Black-box Adversarial Attacks", ICML 2019): a score-based black-box attack that needs the
//! model's class scores and nothing else.
//!
//! Pick a direction `q` from an orthonormal basis (without replacement, in random order) and
//! try `x + δ + α q`, then `x + δ − α q`; keep the first that lowers the probability of the true
//! class (untargeted) or raises the target's (targeted), else leave δ alone. Probabilities are
//! the softmax of the returned scores, compared as log-probabilities (same order, no rounding
//! to 1 for confident models). Each direction costs one or two queries.
//!
//! - **Pixel basis** ([`Simba::pixel`], `simba`): the standard basis, every feature once per
//!   pass in a fresh random order. Step α = 0.2 by default.
//! - **DCT basis** ([`Simba::dct`], `simba-dct`): the orthonormal 2-D DCT basis of each
//!   channel's `H × W` plane (inverse DCT-II, i.e. DCT-III, computed here; the block is the
//!   whole plane, as in the authors' code). Low frequencies first, the paper's ordering: a
//!   random order over the `r × r` lowest frequencies of all channels with `r = ⌈side/8⌉`,
//!   then over each further band of width `⌈r/4⌉` (28 and 7 on 224-pixel images, the authors'
//!   ImageNet setting; 4 and 1 on MNIST). Step α = [`Simba::DCT_STEP`] by default.
//!
//! When the basis is used up, a new pass starts in a fresh order (directions already taken
//! may then grow further or be undone). Proposals that do not change the point (a pixel
//! already at the box edge) are skipped without a query.
//!
//! **Norms.** SimBA is natively L2: orthonormal steps of size α give `‖δ‖₂ = α√k` after `k`
//! accepted steps. Under an L2 budget ε each proposal is projected onto the ε-ball (rescaled)
//! and clipped to the box. Under **L∞**, a step has L∞ size `α ≤ ε` — `ε` itself unless
//! [`Simba::with_step`] sets a smaller α — (a pixel moves by ±α; a DCT basis image is scaled
//! to peak amplitude α), and the accumulated perturbation is clipped to the ε-ball and the
//! box after each step.
//!
//! **Batching and budgets.** A fixed-budget attack: every (sample, ε) pair is one row searched
//! inside its own budget, as in [`crate::square`]; all rows still standing share one `logits`
//! call per half-step (the `+α` proposals, then the `−α` ones). A row stops at its first
//! adversarial proposal, when its budget is spent, or when no direction can change its point
//! any more. The budget `queries` holds per (sample, ε) pair and counts the first query (the
//! clean input's scores): a row never costs more than `queries`. Rows with ε = 0 cost nothing.
//!
//! The search bases (pixel, DCT) and the DCT transforms are in `simba/basis.rs`.
//! The target must answer scores ([`Access::Scores`]): label-only targets are refused.

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::BudgetCandidates;
use crate::rows::{Active, Rows};
use crate::{Access, Attack, AttackInput, FixedBudget, Kind};

mod basis;

pub use basis::{dct2, idct2, Basis};

use basis::Directions;

/// Score-based SimBA, L2 and L∞; a fixed-budget attack.
#[derive(Debug, Clone)]
pub struct Simba {
    /// Query budget per (sample, ε), the first query included.
    queries: u64,
    basis: Basis,
    /// Step α; `None` = the basis default (L2) or ε (L∞).
    step: Option<f32>,
}

impl Simba {
    /// Default L2 step of the pixel basis (the paper's ε = 0.2).
    pub const PIXEL_STEP: f32 = 0.2;
    /// Default L2 step of the DCT basis.
    pub const DCT_STEP: f32 = 0.2;
    /// Query budget per sample and budget unless told otherwise.
    pub const DEFAULT_QUERIES: u64 = 10_000;

    /// SimBA with the pixel (standard) basis, `queries` per sample and budget (0: no query,
    /// every row keeps its clean input).
    pub fn pixel(queries: u64) -> Self {
        Simba {
            queries,
            basis: Basis::Pixel,
            step: None,
        }
    }

    /// SimBA-DCT: the low-frequency-first DCT basis, `queries` per sample and budget.
    pub fn dct(queries: u64) -> Self {
        Simba {
            queries,
            basis: Basis::Dct,
            step: None,
        }
    }

    /// Sets the step α, a positive number (L2 size of a step; under L∞, its peak size, capped
    /// at ε).
    pub fn with_step(mut self, alpha: f32) -> Result<Self> {
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::Parameter(format!(
                "Simba: step = {alpha} must be a positive number"
            )));
        }
        self.step = Some(alpha);
        Ok(self)
    }

    /// The basis searched.
    pub fn basis(&self) -> Basis {
        self.basis
    }

    /// The step a row with budget `eps` takes under `norm`.
    fn step_for(&self, norm: Norm, eps: f32) -> f32 {
        match norm {
            Norm::Linf => self.step.map_or(eps, |a| a.min(eps)),
            _ => self.step.unwrap_or(match self.basis {
                Basis::Pixel => Self::PIXEL_STEP,
                Basis::Dct => Self::DCT_STEP,
            }),
        }
    }
}

/// One row's search: its objective value, and its pass over the basis.
struct Search {
    /// log p_y (untargeted) or −log p_t (targeted) at the row's point; minimised.
    value: f64,
    order: Vec<usize>,
    position: usize,
    /// Directions tried in a row that could not change the point.
    idle: usize,
}

impl FixedBudget for Simba {
    fn attack_budgets(&self, input: &AttackInput, rng: &mut StdRng) -> Result<BudgetCandidates> {
        let f = input.features();
        let norm = input.threat().norm();
        let bounds = input.threat().bounds();
        let (lo, hi) = (bounds.min, bounds.max);
        let classes = input.model().num_classes();
        let targets = input.criterion().targets();
        let device = compute_device();
        let directions = Directions::new(self.basis, input.model().sample_shape(), f);
        let budget = self.queries;
        let objective = |i: usize, logits: &[f32]| match &targets {
            Some(t) => -log_softmax(logits, t[i] as usize),
            None => log_softmax(logits, input.labels()[i] as usize),
        };
        let query = |rows_data: Vec<f32>, m: usize| -> Result<(Vec<f32>, Vec<i64>)> {
            let logits = to_vec(input.model().logits(from_rows(rows_data, m, f, &device))?);
            let preds = argmax_rows(&logits, classes);
            Ok((logits, preds))
        };

        let mut rows = Rows::new(input);
        let open = if budget > 0 { rows.open() } else { Vec::new() };
        let fresh = || Search {
            value: f64::INFINITY,
            order: Vec::new(),
            position: 0,
            idle: 0,
        };
        let mut active = Active::new(open.clone(), open.iter().map(|_| fresh()).collect());

        // The clean input's scores.
        if !active.is_empty() {
            let (logits, preds) = query(rows.clean_rows(active.rows()), active.len())?;
            let mut leave = vec![false; active.len()];
            for (k, (r, search)) in active.iter_mut().enumerate() {
                let used = rows.spend(r);
                search.value = objective(rows.sample(r), &logits[k * classes..(k + 1) * classes]);
                leave[k] = rows.is_adversarial(r, preds[k]) || used >= budget;
            }
            active.drop_where(&leave);
        }

        let mut delta = vec![0f32; f];
        while !active.is_empty() {
            // First half-step: +α (or −α where +α changes nothing). A proposal is
            // (batch position, direction, sign); rows without one leave.
            let mut firsts: Vec<(usize, usize, f32)> = Vec::with_capacity(active.len());
            let mut batch = Vec::with_capacity(active.len() * f);
            for (a, (r, search)) in active.iter_mut().enumerate() {
                let step = self.step_for(norm, rows.eps(r));
                // Until a direction changes the point, or none can any more.
                while search.idle < f {
                    if search.position >= search.order.len() {
                        search.order = directions.order(rng);
                        search.position = 0;
                    }
                    let k = search.order[search.position];
                    search.position += 1;
                    let found = [1.0f32, -1.0].into_iter().find_map(|sign| {
                        let point = propose(
                            rows.clean(r),
                            rows.point(r),
                            &directions,
                            k,
                            sign * step,
                            norm,
                            rows.eps(r),
                            (lo, hi),
                            &mut delta,
                        );
                        (point != rows.point(r)).then_some((sign, point))
                    });
                    match found {
                        Some((sign, point)) => {
                            search.idle = 0;
                            firsts.push((a, k, sign));
                            batch.extend_from_slice(&point);
                            break;
                        }
                        None => search.idle += 1,
                    }
                }
            }
            if firsts.is_empty() {
                break;
            }
            let (logits, preds) = query(batch.clone(), firsts.len())?;
            let mut seconds: Vec<usize> = Vec::new();
            let mut second_batch = Vec::new();
            let mut done = vec![false; firsts.len()];
            for (j, &(a, k, sign)) in firsts.iter().enumerate() {
                let r = active.rows()[a];
                let used = rows.spend(r);
                let v = objective(rows.sample(r), &logits[j * classes..(j + 1) * classes]);
                let hit = rows.is_adversarial(r, preds[j]);
                let search = &mut active.state_mut()[a];
                if hit || v < search.value {
                    search.value = v;
                    rows.set_point(r, &batch[j * f..(j + 1) * f]);
                    done[j] = hit;
                    continue;
                }
                if sign > 0.0 && used < budget {
                    let step = self.step_for(norm, rows.eps(r));
                    let point = propose(
                        rows.clean(r),
                        rows.point(r),
                        &directions,
                        k,
                        -step,
                        norm,
                        rows.eps(r),
                        (lo, hi),
                        &mut delta,
                    );
                    if point != rows.point(r) {
                        seconds.push(j);
                        second_batch.extend_from_slice(&point);
                    }
                }
            }
            if !seconds.is_empty() {
                let (logits, preds) = query(second_batch.clone(), seconds.len())?;
                for (s, &j) in seconds.iter().enumerate() {
                    let a = firsts[j].0;
                    let r = active.rows()[a];
                    rows.spend(r);
                    let v = objective(rows.sample(r), &logits[s * classes..(s + 1) * classes]);
                    let hit = rows.is_adversarial(r, preds[s]);
                    let search = &mut active.state_mut()[a];
                    if hit || v < search.value {
                        search.value = v;
                        rows.set_point(r, &second_batch[s * f..(s + 1) * f]);
                        done[j] = hit;
                    }
                }
            }
            // Rows without a proposal leave, as do rows done or out of budget.
            let mut leave = vec![true; active.len()];
            for (j, &(a, _, _)) in firsts.iter().enumerate() {
                let r = active.rows()[a];
                leave[a] = done[j] || rows.used(r) >= budget || active.state()[a].idle >= f;
            }
            active.drop_where(&leave);
        }
        Ok(rows.into_candidates(0, true))
    }
}

/// `x + Π_ε(current − x + α q_k)`, clipped to the box, with the arithmetic the verification
/// uses to rebuild it (so the row answered is the row verified). `delta` is scratch space of one row.
#[allow(clippy::too_many_arguments)]
fn propose(
    x: &[f32],
    current: &[f32],
    directions: &Directions,
    k: usize,
    alpha: f32,
    norm: Norm,
    eps: f32,
    (lo, hi): (f32, f32),
    delta: &mut Vec<f32>,
) -> Vec<f32> {
    delta.clear();
    delta.extend(current.iter().zip(x).map(|(a, b)| a - b));
    directions.add(delta, k, alpha, norm);
    norm.project_rows(delta, x.len().max(1), eps);
    let mut point: Vec<f32> = x
        .iter()
        .zip(delta.iter())
        .map(|(a, d)| (a + d).clamp(lo, hi))
        .collect();
    // Once more, as verify will: clip(x + (point − x)), projected.
    delta.clear();
    delta.extend(point.iter().zip(x).map(|(a, b)| a - b));
    norm.project_rows(delta, x.len().max(1), eps);
    for ((p, a), d) in point.iter_mut().zip(x).zip(delta.iter()) {
        *p = (a + d).clamp(lo, hi);
    }
    point
}

/// `log softmax(logits)[class]`, stable also when the class holds almost all the mass
/// (computed as `−log(1 + Σ_{j≠c} e^{z_j − z_c})` in f64).
fn log_softmax(logits: &[f32], class: usize) -> f64 {
    let zc = logits[class] as f64;
    let top = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != class)
        .map(|(_, &z)| z as f64 - zc)
        .fold(f64::NEG_INFINITY, f64::max);
    if top <= 0.0 {
        let s: f64 = logits
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != class)
            .map(|(_, &z)| (z as f64 - zc).exp())
            .sum();
        -s.ln_1p()
    } else {
        // log p_c = −(M + log Σ_j e^{d_j − M}), d_j = z_j − z_c (d_c = 0), M = max d_j > 0.
        let s: f64 = logits.iter().map(|&z| (z as f64 - zc - top).exp()).sum();
        -(top + s.ln())
    }
}

impl Attack for Simba {
    fn name(&self) -> &str {
        match self.basis {
            Basis::Pixel => "simba",
            Basis::Dct => "simba-dct",
        }
    }

    fn access(&self) -> Access {
        Access::Scores
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::L2, Norm::Linf]
    }

    fn describe(&self) -> serde_json::Value {
        let step = match self.step {
            Some(alpha) => json!(alpha),
            None => json!(format!("{} (L2), ε (L∞)", self.step_for(Norm::L2, 0.0))),
        };
        described(
            self,
            json!({
                "queries": self.queries,
                "queries_per": "sample and budget",
                "basis": match self.basis { Basis::Pixel => "pixel", Basis::Dct => "dct" },
                "step": step,
                "loss": "log-probability of the label (of the target, raised, when targeted)",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::FixedBudget(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rejects_bad_values_by_field() {
        for bad in [0.0, -1.0, f32::NAN] {
            let err = Simba::pixel(10).with_step(bad).unwrap_err().to_string();
            assert!(err.starts_with("Simba: step"), "{err}");
        }
        let simba = Simba::dct(150).with_step(0.1).unwrap();
        assert_eq!(simba.describe()["step"], 0.1f32 as f64);
        assert_eq!(simba.describe()["basis"], "dct");
        assert_eq!(simba.describe()["queries"], 150);
    }

    #[test]
    fn log_softmax_is_stable_and_exact() {
        let z = [2.0f32, 1.0, 0.5];
        let lse = (2f64.exp() + 1f64.exp() + 0.5f64.exp()).ln();
        for c in 0..3 {
            assert!((log_softmax(&z, c) - (z[c] as f64 - lse)).abs() < 1e-9);
        }
        // A confident class still gets a usable (non-zero) log-probability.
        let confident = [40.0f32, 0.0, 1.0];
        let lp = log_softmax(&confident, 0);
        assert!(lp < 0.0 && lp > -1e-15);
        let other = [40.0f32, 2.0, 0.0];
        assert!(log_softmax(&other, 0) < lp);
    }
}
