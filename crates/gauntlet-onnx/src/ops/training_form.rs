//! The training form of the operators that learn or randomize: BatchNormalization by the
//! batch's own statistics (reported back for the running averages) and Dropout's random
//! masks. Used only inside a trainer's pass ([`crate::training::Pass`] with `train`).

use burn::tensor::{Tensor, TensorData};

use gauntlet_core::Result;

use super::Ctx;
use crate::training::{uniform, BatchStatistics, TrainingState};
use crate::value::{FloatValue, RANK};

/// `y = (x − μ_B) / √(σ²_B + ε) · γ + β` over every axis but the channel axis (1), with the
/// batch's mean and biased variance; the unbiased variance goes into the statistics, as
/// PyTorch accumulates it.
pub fn batch_norm(
    ctx: &Ctx,
    training: &TrainingState,
    x: FloatValue,
    scale: Tensor<RANK>,
    bias: Tensor<RANK>,
    eps: f32,
) -> Result<FloatValue> {
    let channel = x.axis(1);
    let dims = x.t.dims();
    let count: usize = dims
        .iter()
        .enumerate()
        .filter(|&(a, _)| a != channel)
        .map(|(_, d)| d)
        .product();
    if count < 2 {
        return Err(ctx.error(
            "training needs at least two values per channel to measure a batch variance; use a \
             batch of at least 2",
        ));
    }
    let over_batch = |t: Tensor<RANK>| {
        (0..RANK)
            .filter(|&a| a != channel && dims[a] > 1)
            .fold(t, |t, a| t.mean_dim(a))
    };
    let mean = over_batch(x.t.clone());
    let centered = x.t - mean.clone();
    let var = over_batch(centered.clone().square());
    let y = centered / (var.clone() + eps).sqrt() * scale + bias;
    let host = |t: Tensor<RANK>| -> Vec<f32> {
        t.detach()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    };
    let unbiased = count as f32 / (count - 1) as f32;
    let node = ctx.node;
    training.statistics.borrow_mut().push(BatchStatistics {
        node: node.name.clone(),
        mean_name: node.inputs.get(3).cloned().unwrap_or_default(),
        var_name: node.inputs.get(4).cloned().unwrap_or_default(),
        mean: host(mean),
        var: host(var).into_iter().map(|v| v * unbiased).collect(),
        momentum: ctx.float("momentum", 0.9),
    });
    Ok(FloatValue { t: y, rank: x.rank })
}

/// Inverted dropout: each value kept with probability 1 − `ratio` and scaled by
/// 1 / (1 − `ratio`), from a mask that depends only on the pass's seed, the node and the
/// element.
pub fn dropout(
    ctx: &Ctx,
    training: &TrainingState,
    x: FloatValue,
    ratio: f32,
) -> Result<FloatValue> {
    if !(0.0..1.0).contains(&ratio) {
        return Err(ctx.error(format!("ratio {ratio} must be in [0, 1)")));
    }
    if ratio == 0.0 {
        return Ok(x);
    }
    // FNV-1a of the node's name: masks differ between nodes of one pass.
    let node_key = ctx
        .node
        .name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let base = training.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ node_key;
    let keep = 1.0 / (1.0 - ratio);
    let dims = x.t.dims();
    let mask: Vec<f32> = (0..dims.iter().product::<usize>() as u64)
        .map(|i| {
            if uniform(base.wrapping_add(i)) < ratio {
                0.0
            } else {
                keep
            }
        })
        .collect();
    let mask = Tensor::<RANK>::from_data(TensorData::new(mask, dims), (ctx.device, x.t.dtype()));
    Ok(FloatValue {
        t: x.t * mask,
        rank: x.rank,
    })
}
