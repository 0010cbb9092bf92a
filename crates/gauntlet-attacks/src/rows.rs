//! Row bookkeeping of the fixed-budget attacks that run every budget in one batch (PGD, APGD,
//! Square, SimBA): every (sample, ε) pair is one row `r = e·n + i`, rows leave the batch once
//! adversarial, and each row's final point is its budget's candidate.

use crate::outcome::BudgetCandidates;
use crate::AttackInput;

/// Every (sample, ε) row of an input and what the attack has made of it: its current point
/// (the clean input until the attack moves it), whether that point is adversarial, and the
/// queries the row has cost.
pub(crate) struct Rows<'a> {
    input: AttackInput<'a>,
    n: usize,
    f: usize,
    points: Vec<f32>,
    done: Vec<bool>,
    used: Vec<u64>,
}

impl<'a> Rows<'a> {
    /// All `budgets · n` rows at their clean inputs.
    pub(crate) fn new(input: &AttackInput<'a>) -> Rows<'a> {
        let (n, f) = (input.len(), input.features());
        let count = input.threat().epsilons().len() * n;
        let mut points = Vec::with_capacity(count * f);
        for _ in input.threat().epsilons() {
            points.extend_from_slice(input.x());
        }
        Rows {
            input: *input,
            n,
            f,
            points,
            done: vec![false; count],
            used: vec![0; count],
        }
    }

    /// The sample of row `r`.
    pub(crate) fn sample(&self, r: usize) -> usize {
        r % self.n
    }

    /// The budget of row `r`.
    pub(crate) fn eps(&self, r: usize) -> f32 {
        self.input.threat().epsilons()[r / self.n]
    }

    /// The clean input of row `r`.
    pub(crate) fn clean(&self, r: usize) -> &'a [f32] {
        self.input.row(self.sample(r))
    }

    /// The true label of row `r`'s sample.
    pub(crate) fn label(&self, r: usize) -> i64 {
        self.input.labels()[self.sample(r)]
    }

    /// Whether `prediction` satisfies the criterion for row `r`'s sample.
    pub(crate) fn is_adversarial(&self, r: usize, prediction: i64) -> bool {
        self.input.is_adversarial(self.sample(r), prediction)
    }

    /// Rows still worth attacking: not yet adversarial, with a budget above 0 (nothing is
    /// within a zero budget, so those cost nothing and keep the clean input).
    pub(crate) fn open(&self) -> Vec<usize> {
        (0..self.done.len())
            .filter(|&r| !self.done[r] && self.eps(r) > 0.0)
            .collect()
    }

    /// Row `r`'s current point.
    pub(crate) fn point(&self, r: usize) -> &[f32] {
        &self.points[r * self.f..(r + 1) * self.f]
    }

    /// Moves row `r` to `point`.
    pub(crate) fn set_point(&mut self, r: usize, point: &[f32]) {
        self.points[r * self.f..(r + 1) * self.f].copy_from_slice(point);
    }

    /// Counts one query for row `r` and returns its total.
    pub(crate) fn spend(&mut self, r: usize) -> u64 {
        self.used[r] += 1;
        self.used[r]
    }

    /// The queries row `r` has cost.
    pub(crate) fn used(&self, r: usize) -> u64 {
        self.used[r]
    }

    /// The clean inputs of `rows`, flat, in that order.
    pub(crate) fn clean_rows(&self, rows: &[usize]) -> Vec<f32> {
        rows.iter()
            .flat_map(|&r| self.clean(r).iter().copied())
            .collect()
    }

    /// The budgets of `rows`.
    pub(crate) fn radii(&self, rows: &[usize]) -> Vec<f32> {
        rows.iter().map(|&r| self.eps(r)).collect()
    }

    /// The true labels of `rows`.
    pub(crate) fn labels(&self, rows: &[usize]) -> Vec<i64> {
        rows.iter().map(|&r| self.label(r)).collect()
    }

    /// The criterion's targets of `rows`, if it is targeted.
    pub(crate) fn targets(&self, rows: &[usize]) -> Option<Vec<i64>> {
        let targets = self.input.criterion().targets()?;
        Some(rows.iter().map(|&r| targets[self.sample(r)]).collect())
    }

    /// Records a batch of iterates of `rows` (flat, in that order): rows where `success`
    /// holds are adversarial and keep that point for good; the others move to theirs only if
    /// `keep_rest` (so a row's candidate is its last iterate rather than its clean input).
    pub(crate) fn record(
        &mut self,
        rows: &[usize],
        batch: &[f32],
        success: &[bool],
        keep_rest: bool,
    ) {
        let f = self.f;
        for (k, &r) in rows.iter().enumerate() {
            if success[k] || keep_rest {
                self.points[r * f..(r + 1) * f].copy_from_slice(&batch[k * f..(k + 1) * f]);
            }
            if success[k] {
                self.done[r] = true;
            }
        }
    }

    /// Each row's point as its budget's candidate; with the queries per row for a black-box
    /// attack.
    pub(crate) fn into_candidates(self, gradient_evals: u64, counted: bool) -> BudgetCandidates {
        let chunk = self.n * self.f;
        let rows = if chunk == 0 {
            vec![Vec::new(); self.input.threat().epsilons().len()]
        } else {
            self.points.chunks(chunk).map(<[f32]>::to_vec).collect()
        };
        BudgetCandidates {
            rows,
            gradient_evals,
            queries: counted.then_some(self.used),
        }
    }
}

/// The rows still in a batch, in batch order, each with the per-row state `S` an attack
/// carries along.
pub(crate) struct Active<S = ()> {
    rows: Vec<usize>,
    state: Vec<S>,
}

impl Active<()> {
    /// `rows` with no state of their own.
    pub(crate) fn plain(rows: Vec<usize>) -> Active<()> {
        let state = vec![(); rows.len()];
        Active { rows, state }
    }
}

impl<S> Active<S> {
    /// `rows` with one state each.
    pub(crate) fn new(rows: Vec<usize>, state: Vec<S>) -> Active<S> {
        assert_eq!(rows.len(), state.len(), "one state per row");
        Active { rows, state }
    }

    /// The rows, in batch order.
    pub(crate) fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// The rows' states, in batch order.
    pub(crate) fn state(&self) -> &[S] {
        &self.state
    }

    /// The rows' states, to update in place.
    pub(crate) fn state_mut(&mut self) -> &mut [S] {
        &mut self.state
    }

    /// Each row with its state, to update in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut S)> {
        self.rows.iter().copied().zip(self.state.iter_mut())
    }

    /// Rows in the batch.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Drops the rows at the batch positions where `leave` holds; returns the positions kept,
    /// in order, for selecting the same rows of the attack's tensors ([`select_rows`]).
    pub(crate) fn drop_where(&mut self, leave: &[bool]) -> Vec<usize> {
        let kept: Vec<usize> = (0..self.rows.len()).filter(|&k| !leave[k]).collect();
        let mut k = 0;
        self.rows.retain(|_| {
            k += 1;
            !leave[k - 1]
        });
        let mut k = 0;
        self.state.retain(|_| {
            k += 1;
            !leave[k - 1]
        });
        kept
    }
}

/// The rows of `v` (of `f` values each) at `rows`, in that order: on the host.
pub(crate) fn keep_host_rows(v: &[f32], f: usize, rows: &[usize]) -> Vec<f32> {
    rows.iter()
        .flat_map(|&r| v[r * f..(r + 1) * f].iter().copied())
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Identity;
    use gauntlet_core::criterion::Criterion;
    use gauntlet_core::threat::{Bounds, Norm, ThreatModel};

    #[test]
    fn rows_are_sample_budget_pairs_and_keep_what_was_found() {
        let model = Identity::new(2);
        let threat = ThreatModel::new(Norm::L2, &[0.0, 0.5, 1.0], Bounds::default()).unwrap();
        let criterion = Criterion::Targeted(vec![1, 0]);
        let x = [0.9f32, 0.1, 0.2, 0.8];
        let input = AttackInput::new(&model, &x, &[0, 1], &criterion, &threat).unwrap();
        let mut rows = Rows::new(&input);

        // Row e·n + i: sample i at budget e; budget 0 is never open.
        assert_eq!((rows.sample(3), rows.eps(3), rows.label(3)), (1, 0.5, 1));
        assert_eq!(rows.clean(5), &[0.2, 0.8]);
        assert_eq!(rows.open(), vec![2, 3, 4, 5]);
        assert_eq!(rows.clean_rows(&[4, 1]), vec![0.9, 0.1, 0.2, 0.8]);
        assert_eq!(rows.radii(&[1, 4]), vec![0.0, 1.0]);
        assert_eq!(rows.labels(&[2, 3]), vec![0, 1]);
        assert_eq!(rows.targets(&[2, 3]), Some(vec![1, 0]));
        assert!(rows.is_adversarial(2, 1) && !rows.is_adversarial(2, 0));

        // A success is kept for good; the rest move only when asked to.
        rows.record(&[2, 3], &[0.4, 0.6, 0.5, 0.5], &[true, false], false);
        assert_eq!(rows.point(2), &[0.4, 0.6]);
        assert_eq!(rows.point(3), &[0.2, 0.8]);
        rows.record(&[3, 4], &[0.3, 0.7, 0.1, 0.1], &[false, false], true);
        assert_eq!(rows.point(3), &[0.3, 0.7]);
        assert_eq!(rows.open(), vec![3, 4, 5]);
        rows.set_point(5, &[0.0, 1.0]);
        assert_eq!(rows.spend(5), 1);
        assert_eq!(rows.spend(5), 2);
        assert_eq!(rows.used(4), 0);

        let found = rows.into_candidates(7, true);
        assert_eq!(found.gradient_evals, 7);
        assert_eq!(found.rows.len(), 3, "one candidate set per budget");
        assert_eq!(found.rows[0], x.to_vec(), "budget 0 keeps the clean inputs");
        assert_eq!(found.rows[1], vec![0.4, 0.6, 0.3, 0.7]);
        assert_eq!(found.rows[2], vec![0.1, 0.1, 0.0, 1.0]);
        assert_eq!(found.queries, Some(vec![0, 0, 0, 0, 0, 2]));
    }

    #[test]
    fn active_rows_leave_together_with_their_state() {
        let mut active = Active::new(vec![4, 7, 9, 12], vec!['a', 'b', 'c', 'd']);
        let kept = active.drop_where(&[false, true, false, true]);
        assert_eq!(
            kept,
            vec![0, 2],
            "positions kept, for selecting tensor rows"
        );
        assert_eq!(active.rows(), &[4, 9]);
        assert_eq!(active.state(), &['a', 'c']);
        for (r, s) in active.iter_mut() {
            if r == 9 {
                *s = 'z';
            }
        }
        active.state_mut()[0] = 'y';
        assert_eq!(active.state(), &['y', 'z']);
        assert!(active.drop_where(&[true, true]).is_empty());
        assert!(active.is_empty());
        assert_eq!(active.len(), 0);
        let plain = Active::plain(vec![1, 2]);
        assert_eq!(plain.len(), 2);
    }

    #[test]
    fn wrong_classes_come_highest_first_without_the_label() {
        assert_eq!(
            wrong_classes_by_score(&[0.1, 0.9, 0.5, 0.3], 1),
            vec![2, 3, 0]
        );
    }
}
