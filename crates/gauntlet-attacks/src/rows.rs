//! Row bookkeeping shared by the batched attacks: every (sample, ε) pair is one row, rows leave
//! the batch once adversarial, and the rows found become the per-budget candidates.

use burn::tensor::{Int, Tensor, TensorData};

/// The rows of `t` at `rows`, in that order.
pub(crate) fn select_rows(t: Tensor<2>, rows: &[usize]) -> Tensor<2> {
    let idx: Tensor<1, Int> = Tensor::from_data(
        TensorData::new(rows.iter().map(|&r| r as i64).collect::<Vec<_>>(), [rows.len()]),
        &t.device(),
    );
    t.select(0, idx)
}

/// The classes other than `label`, highest logit first (one row of logits).
pub(crate) fn wrong_classes_by_score(logits: &[f32], label: i64) -> Vec<i64> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]));
    order
        .into_iter()
        .filter(|&c| c as i64 != label)
        .map(|c| c as i64)
        .collect()
}

/// Per-budget candidate rows: row `e·n + i` of `found` if the attack found one, else
/// `fallback(e·n + i, i)` (the last iterate, or the clean sample).
pub(crate) fn candidates(
    found: &[Option<Vec<f32>>],
    budgets: usize,
    n: usize,
    fallback: impl Fn(usize, usize) -> Vec<f32>,
) -> Vec<Vec<f32>> {
    (0..budgets)
        .map(|e| {
            (0..n)
                .flat_map(|i| {
                    let r = e * n + i;
                    match &found[r] {
                        Some(row) => row.clone(),
                        None => fallback(r, i),
                    }
                })
                .collect()
        })
        .collect()
}
