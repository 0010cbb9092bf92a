//! Resize (and the older Upsample): nearest, linear and cubic interpolation.
//!
//! Interpolation is separable, so each resized axis is done in turn: every output position
//! is a weighted sum of a few input positions along that axis (1 for nearest, 2 for linear,
//! 4 for cubic). Positions and weights are computed on the host in f32, as onnxruntime does;
//! the sum is burn's `select` and multiply-add, so the gradient reaches the input.

use burn::tensor::{Int, Tensor, TensorData};

use gauntlet_core::Result;

use super::{Ctx, Inputs};
use crate::value::{FloatValue, Value, RANK};

/// How output coordinates map back to input coordinates, and how the samples are mixed.
struct Sampling {
    mode: String,
    transform: String,
    nearest: String,
    cubic_a: f32,
    exclude_outside: bool,
}

impl Sampling {
    fn read(ctx: &Ctx) -> Result<Self> {
        // Before opset 11 coordinates were always asymmetric, and nearest took the next
        // sample up when shrinking and truncated otherwise (as onnxruntime keeps it).
        let old = ctx.opset < 11 || ctx.node.op == "Upsample";
        let mode = match ctx.string("mode", "nearest").as_str() {
            "bilinear" => "linear".to_string(),
            m => m.to_string(),
        };
        let sampling = Sampling {
            mode,
            transform: if old {
                "asymmetric".into()
            } else {
                ctx.string("coordinate_transformation_mode", "half_pixel")
            },
            nearest: if old {
                "simple".into()
            } else {
                ctx.string("nearest_mode", "round_prefer_floor")
            },
            cubic_a: ctx.float("cubic_coeff_a", -0.75),
            exclude_outside: ctx.int("exclude_outside", 0) != 0,
        };
        if !["nearest", "linear", "cubic"].contains(&sampling.mode.as_str()) {
            return Err(ctx.error(format!("mode '{}' is not supported", sampling.mode)));
        }
        if ctx.int("antialias", 0) != 0 {
            return Err(ctx.error("antialiased resizing is not supported"));
        }
        Ok(sampling)
    }

    /// The input coordinate of output position `i` on an axis resized from `input` to
    /// `output` values by `scale`.
    fn source(&self, ctx: &Ctx, i: usize, input: usize, output: usize, scale: f32) -> Result<f32> {
        let x = i as f32;
        Ok(match self.transform.as_str() {
            "half_pixel" => (x + 0.5) / scale - 0.5,
            "pytorch_half_pixel" if output > 1 => (x + 0.5) / scale - 0.5,
            "pytorch_half_pixel" => 0.0,
            "align_corners" if output > 1 => x * (input as f32 - 1.0) / (output as f32 - 1.0),
            "align_corners" => 0.0,
            "asymmetric" => x / scale,
            "tf_half_pixel_for_nn" => (x + 0.5) / scale,
            "half_pixel_symmetric" => {
                let adjustment = output as f32 / (scale * input as f32);
                let center = input as f32 / 2.0;
                center * (1.0 - adjustment) + (x + 0.5) / scale - 0.5
            }
            other => {
                return Err(ctx.error(format!(
                    "coordinate_transformation_mode '{other}' is not supported"
                )))
            }
        })
    }

    /// `(input index, weight)` pairs that make output position `i`.
    fn taps(
        &self,
        ctx: &Ctx,
        i: usize,
        input: usize,
        output: usize,
        scale: f32,
    ) -> Result<Vec<(usize, f32)>> {
        let x = self.source(ctx, i, input, output, scale)?;
        let last = input as i64 - 1;
        let clamp = |j: i64| j.clamp(0, last) as usize;
        Ok(match self.mode.as_str() {
            "nearest" => {
                let frac = x - x.floor();
                let j = match self.nearest.as_str() {
                    "simple" if scale < 1.0 => x.ceil(),
                    "simple" => x.trunc(),
                    "floor" => x.floor(),
                    "ceil" => x.ceil(),
                    "round_prefer_ceil" if frac == 0.5 => x.ceil(),
                    "round_prefer_ceil" => x.round(),
                    _ if frac == 0.5 => x.floor(),
                    _ => x.round(),
                };
                vec![(clamp(j as i64), 1.0)]
            }
            "linear" => {
                // Clamped to the input, each weight the distance to the other sample.
                let x = x.clamp(0.0, last as f32);
                let j0 = (x as i64).min(last);
                let j1 = (j0 + 1).min(last);
                if j0 == j1 {
                    vec![(clamp(j0), 1.0)]
                } else {
                    let (w0, w1) = ((j1 as f32 - x).abs(), (x - j0 as f32).abs());
                    vec![(clamp(j0), w0), (clamp(j1), w1)]
                }
            }
            _ => {
                let j = x.floor();
                let s = x - j;
                let a = self.cubic_a;
                let far = |d: f32| ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a;
                let near = |d: f32| ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0;
                let weights = [far(s + 1.0), near(s), near(1.0 - s), far(2.0 - s)];
                let mut taps: Vec<(i64, f32)> = (0..4)
                    .map(|t| (j as i64 - 1 + t as i64, weights[t]))
                    .collect();
                if self.exclude_outside {
                    taps.retain(|&(k, _)| (0..=last).contains(&k));
                    let total: f32 = taps.iter().map(|t| t.1).sum();
                    taps.iter_mut().for_each(|t| t.1 /= total);
                }
                taps.into_iter().map(|(k, w)| (clamp(k), w)).collect()
            }
        })
    }
}

/// Output lengths and scales per axis, from the `scales` or `sizes` input.
fn plan(ctx: &Ctx, inputs: &mut Inputs, shape: &[usize]) -> Result<(Vec<usize>, Vec<f32>)> {
    let rank = shape.len();
    let floats = |v: Value| v.to_host_f32();
    let (scales, sizes) = if ctx.node.op == "Upsample" && ctx.opset < 9 {
        // The scales are an attribute (read below).
        (None, None)
    } else if ctx.node.op == "Upsample" || ctx.opset < 11 {
        (inputs.opt(1).map(floats), None)
    } else {
        (
            inputs.opt(2).map(floats).filter(|s| !s.is_empty()),
            inputs.ints_opt(3).map(|v| v.data).filter(|s| !s.is_empty()),
        )
    };
    let scales = match (ctx.node.attributes.get("scales"), scales) {
        (Some(crate::graph::Attribute::Floats(s)), _) => Some(s.clone()),
        (_, s) => s,
    };
    let axes: Vec<usize> = match ctx.ints("axes") {
        Some(a) => a
            .iter()
            .map(|&a| ctx.axis(a, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).collect(),
    };
    let mut out = shape.to_vec();
    let mut factors = vec![1.0f32; rank];
    if let Some(sizes) = sizes {
        if sizes.len() != axes.len() {
            return Err(ctx.error(format!("{} sizes for {} axes", sizes.len(), axes.len())));
        }
        let ratio = |k: usize| sizes[k] as f32 / shape[axes[k]] as f32;
        let policy = ctx.string("keep_aspect_ratio_policy", "stretch");
        let common = match policy.as_str() {
            "not_larger" => Some((0..axes.len()).map(ratio).fold(f32::INFINITY, f32::min)),
            "not_smaller" => Some((0..axes.len()).map(ratio).fold(0.0, f32::max)),
            _ => None,
        };
        for (k, &a) in axes.iter().enumerate() {
            match common {
                Some(s) => {
                    factors[a] = s;
                    out[a] = (s * shape[a] as f32).round() as usize;
                }
                None => {
                    factors[a] = ratio(k);
                    out[a] = sizes[k].max(0) as usize;
                }
            }
        }
    } else if let Some(scales) = scales {
        if scales.len() != axes.len() {
            return Err(ctx.error(format!("{} scales for {} axes", scales.len(), axes.len())));
        }
        for (k, &a) in axes.iter().enumerate() {
            if scales[k] <= 0.0 {
                return Err(ctx.error(format!("scale {} is not positive", scales[k])));
            }
            factors[a] = scales[k];
            out[a] = (shape[a] as f32 * scales[k]) as usize;
        }
    } else {
        return Err(ctx.error("needs either scales or sizes"));
    }
    Ok((out, factors))
}

pub fn resize(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let x = inputs.float(0, ctx)?;
    let shape = x.shape();
    let sampling = Sampling::read(ctx)?;
    let (out, scales) = plan(ctx, &mut inputs, &shape)?;
    let mut y = x;
    for axis in 0..shape.len() {
        if out[axis] == shape[axis] && scales[axis] == 1.0 {
            continue;
        }
        let taps = (0..out[axis])
            .map(|i| sampling.taps(ctx, i, shape[axis], out[axis], scales[axis]))
            .collect::<Result<Vec<_>>>()?;
        y = along_axis(ctx, y, axis, &taps)?;
    }
    Ok(y)
}

/// `y[.., i, ..] = Σ_t w_t · x[.., j_t, ..]` along `axis` for the taps `(j_t, w_t)` of each
/// output position `i`.
fn along_axis(
    ctx: &Ctx,
    x: FloatValue,
    axis: usize,
    taps: &[Vec<(usize, f32)>],
) -> Result<FloatValue> {
    let phys = x.axis(axis);
    let width = taps.iter().map(Vec::len).max().unwrap_or(0);
    let mut weight_shape = [1usize; RANK];
    weight_shape[phys] = taps.len();
    let mut acc: Option<Tensor<RANK>> = None;
    for t in 0..width {
        // The t-th tap of every output position (positions with fewer taps add weight 0).
        let index: Vec<i64> = taps
            .iter()
            .map(|p| p.get(t).map_or(p[0].0, |tap| tap.0) as i64)
            .collect();
        let weights: Vec<f32> = taps
            .iter()
            .map(|p| p.get(t).map_or(0.0, |tap| tap.1))
            .collect();
        let n = index.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [n]), ctx.device);
        let picked = x.t.clone().select(phys, index);
        let term = if width == 1 && weights.iter().all(|&w| w == 1.0) {
            picked
        } else {
            let w = Tensor::<RANK>::from_data(TensorData::new(weights, weight_shape), ctx.device)
                .cast(x.t.dtype());
            picked * w
        };
        acc = Some(match acc {
            Some(a) => a + term,
            None => term,
        });
    }
    let t = acc.ok_or_else(|| ctx.error("an axis resized to no taps"))?;
    Ok(FloatValue { t, rank: x.rank })
}
