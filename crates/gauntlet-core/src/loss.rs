//! Objectives that attacks maximize, each a value (not a subclass), computed per sample.
//!
//! Class indices that a loss needs (the best other class, the top-3 for DLR) are chosen on the
//! host from detached logits and then gathered from the tracked logits: the gradient equals
//! that of the max/sort formulation, without needing a differentiable sort.

use burn::tensor::{activation::log_softmax, Int, Tensor, TensorData};

/// What an attack maximizes. Labels and targets are per sample.
#[derive(Debug, Clone, Copy)]
pub enum Objective<'a> {
    /// Cross-entropy of the true label (untargeted: push the true class down).
    CrossEntropy(&'a [i64]),
    /// Negative cross-entropy of a target class (targeted: pull the target up).
    TargetedCrossEntropy(&'a [i64]),
    /// Carlini–Wagner margin, best other logit minus the true logit.
    Margin(&'a [i64]),
    /// Target logit minus the best non-target logit.
    TargetedMargin(&'a [i64]),
    /// Difference of Logits Ratio (Croce & Hein 2020), untargeted.
    Dlr(&'a [i64]),
    /// Targeted DLR: `-(z_y - z_t) / (z_π1 - (z_π3 + z_π4)/2)`.
    TargetedDlr {
        /// True class `y` per sample.
        labels: &'a [i64],
        /// Target class `t` per sample.
        targets: &'a [i64],
    },
    /// `z_positive - z_negative`, the linearized boundary DeepFool walks to.
    LogitDifference {
        /// Class whose logit counts positively, per sample.
        positive: &'a [i64],
        /// Class whose logit is subtracted, per sample.
        negative: &'a [i64],
    },
}

fn gather(logits: &Tensor<2>, idx: Vec<i64>) -> Tensor<1> {
    let n = idx.len();
    let idx: Tensor<2, Int> = Tensor::from_data(TensorData::new(idx, [n, 1]), &logits.device());
    logits.clone().gather(1, idx).reshape([n])
}

/// Indices of each row's entries sorted descending (host side).
fn ranked(logits: &[f32], classes: usize) -> Vec<Vec<usize>> {
    logits
        .chunks(classes)
        .map(|row| {
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
            order
        })
        .collect()
}

/// Best class other than `exclude` in each row.
pub fn best_other(logits: &[f32], classes: usize, exclude: &[i64]) -> Vec<i64> {
    logits
        .chunks(classes)
        .zip(exclude)
        .map(|(row, &ex)| {
            let mut best: Option<usize> = None;
            for (j, v) in row.iter().enumerate() {
                if j as i64 == ex {
                    continue;
                }
                if best.is_none_or(|b| *v > row[b]) {
                    best = Some(j);
                }
            }
            best.unwrap_or(0) as i64
        })
        .collect()
}

impl<'a> Objective<'a> {
    /// The same objective for the samples `rows` of the batch (its per-sample labels and
    /// targets sliced alike).
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Objective<'a> {
        let r = |v: &'a [i64]| &v[rows.clone()];
        match *self {
            Objective::CrossEntropy(labels) => Objective::CrossEntropy(r(labels)),
            Objective::TargetedCrossEntropy(targets) => Objective::TargetedCrossEntropy(r(targets)),
            Objective::Margin(labels) => Objective::Margin(r(labels)),
            Objective::TargetedMargin(targets) => Objective::TargetedMargin(r(targets)),
            Objective::Dlr(labels) => Objective::Dlr(r(labels)),
            Objective::TargetedDlr { labels, targets } => Objective::TargetedDlr {
                labels: r(labels),
                targets: r(targets),
            },
            Objective::LogitDifference { positive, negative } => Objective::LogitDifference {
                positive: r(positive),
                negative: r(negative),
            },
        }
    }
}

impl Objective<'_> {
    /// The objective per sample, `[N]`, built on `logits` (tracked or not).
    /// `host` holds the same logits on the host, used only to choose indices.
    pub fn per_sample(&self, logits: Tensor<2>, host: &[f32], classes: usize) -> Tensor<1> {
        match *self {
            Objective::CrossEntropy(labels) => {
                let logp = log_softmax(logits, 1);
                gather(&logp, labels.to_vec()).neg()
            }
            Objective::TargetedCrossEntropy(targets) => {
                let logp = log_softmax(logits, 1);
                gather(&logp, targets.to_vec())
            }
            Objective::Margin(labels) => {
                let other = best_other(host, classes, labels);
                gather(&logits, other) - gather(&logits, labels.to_vec())
            }
            Objective::TargetedMargin(targets) => {
                let other = best_other(host, classes, targets);
                gather(&logits, targets.to_vec()) - gather(&logits, other)
            }
            Objective::Dlr(labels) => {
                let order = ranked(host, classes);
                let other = best_other(host, classes, labels);
                let top1: Vec<i64> = order.iter().map(|o| o[0] as i64).collect();
                let top3: Vec<i64> = order.iter().map(|o| o[2.min(classes - 1)] as i64).collect();
                let numerator = gather(&logits, labels.to_vec()) - gather(&logits, other);
                let denominator = gather(&logits, top1) - gather(&logits, top3) + 1e-12;
                (numerator / denominator).neg()
            }
            Objective::TargetedDlr { labels, targets } => {
                let order = ranked(host, classes);
                let top1: Vec<i64> = order.iter().map(|o| o[0] as i64).collect();
                let top3: Vec<i64> = order.iter().map(|o| o[2.min(classes - 1)] as i64).collect();
                let top4: Vec<i64> = order.iter().map(|o| o[3.min(classes - 1)] as i64).collect();
                let numerator =
                    gather(&logits, labels.to_vec()) - gather(&logits, targets.to_vec());
                let denominator = gather(&logits, top1)
                    - (gather(&logits, top3) + gather(&logits, top4)) * 0.5
                    + 1e-12;
                (numerator / denominator).neg()
            }
            Objective::LogitDifference { positive, negative } => {
                gather(&logits, positive.to_vec()) - gather(&logits, negative.to_vec())
            }
        }
    }
}
