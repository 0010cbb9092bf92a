//! How many queries black-box attacks needed: success rate as a function of the query budget,
//! and the median and mean queries of the samples they broke.

use serde::Serialize;

use gauntlet_core::threat::Norm;
use gauntlet_eval::{AttackResult, Evaluation};

/// Query statistics of one black-box attack at one budget.
#[derive(Debug, Clone, Serialize)]
pub struct QueryEfficiency {
    /// Attack name, as in the results.
    pub attack: String,
    /// Norm of the budget.
    pub norm: Norm,
    /// The budget ε, in input units.
    pub eps: f32,
    /// Samples the attack spent at least one query on.
    pub attacked: usize,
    /// Of those, the samples it broke.
    pub successful: usize,
    /// Median queries of the successful samples (`None` when there are none).
    pub median_queries: Option<f64>,
    /// Mean queries of the successful samples.
    pub mean_queries: Option<f64>,
    /// Queries spent on all attacked samples at this budget.
    pub total_queries: u64,
    /// `(q, rate)`: fraction of attacked samples broken within `q` queries, at budgets
    /// 1, 2, 5, 10, 20, 50, … up to the largest count spent.
    pub curve: Vec<(u64, f64)>,
}

/// Statistics for every result that recorded per-sample queries.
pub fn query_efficiency(evaluation: &Evaluation) -> Vec<QueryEfficiency> {
    evaluation
        .results
        .iter()
        .filter(|r| !r.sample_queries.is_empty())
        .map(of_result)
        .collect()
}

fn of_result(r: &AttackResult) -> QueryEfficiency {
    let attacked: Vec<usize> = (0..r.sample_queries.len())
        .filter(|&i| r.sample_queries[i] > 0)
        .collect();
    let mut broken: Vec<u64> = attacked
        .iter()
        .filter(|&&i| r.success[i])
        .map(|&i| r.sample_queries[i])
        .collect();
    broken.sort_unstable();
    let median = match broken.len() {
        0 => None,
        k if k % 2 == 1 => Some(broken[k / 2] as f64),
        k => Some((broken[k / 2 - 1] + broken[k / 2]) as f64 / 2.0),
    };
    let mean =
        (!broken.is_empty()).then(|| broken.iter().sum::<u64>() as f64 / broken.len() as f64);
    let total = attacked.iter().map(|&i| r.sample_queries[i]).sum();
    let largest = attacked
        .iter()
        .map(|&i| r.sample_queries[i])
        .max()
        .unwrap_or(0);
    let mut budgets = Vec::new();
    let mut decade = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            let q = m * decade;
            if q >= largest {
                break 'outer;
            }
            budgets.push(q);
        }
        decade *= 10;
    }
    if largest > 0 {
        budgets.push(largest);
    }
    let curve = budgets
        .into_iter()
        .map(|q| {
            let within = broken.partition_point(|&b| b <= q);
            (q, within as f64 / attacked.len().max(1) as f64)
        })
        .collect();
    QueryEfficiency {
        attack: r.attack.clone(),
        norm: r.norm,
        eps: r.eps,
        attacked: attacked.len(),
        successful: broken.len(),
        median_queries: median,
        mean_queries: mean,
        total_queries: total,
        curve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_mean_and_curve_count_only_attacked_samples() {
        let r = AttackResult {
            attack: "square".into(),
            norm: Norm::Linf,
            eps: 0.3,
            robust_accuracy: 0.0,
            attack_success_rate: 0.0,
            mean_perturbation: 0.0,
            seconds: 0.0,
            gradient_evals: 0,
            queries: 0,
            unattacked: 0,
            sample_queries: vec![3, 0, 10, 40, 5000],
            success: vec![true, false, true, true, false],
            predictions: vec![],
            perturbation: vec![],
            adversarial: Default::default(),
        };
        let q = of_result(&r);
        assert_eq!((q.attacked, q.successful), (4, 3));
        assert_eq!(q.median_queries, Some(10.0));
        assert!((q.mean_queries.unwrap() - 53.0 / 3.0).abs() < 1e-9);
        assert_eq!(q.total_queries, 5053);
        assert_eq!(q.curve.first(), Some(&(1, 0.0)));
        assert!(
            q.curve.contains(&(5, 0.25))
                && q.curve.contains(&(10, 0.5))
                && q.curve.contains(&(50, 0.75))
        );
        assert_eq!(q.curve.last(), Some(&(5000, 0.75)));
        assert!(q
            .curve
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    }
}
