//! Sharding: one audit split over many processes or machines, each running a deterministic part
//! of the samples, merged afterwards into the report the whole run would have written.
//!
//! The unit of work is a *block*: the samples are cut into consecutive blocks of `batch_size`
//! once, before anything runs, and every attack works on what is left of each block. Block `b`
//! belongs to shard `b mod N` (round robin, so a data set sorted by class or difficulty still
//! spreads evenly). Because blocks — not shards — decide batching and seeds, a sharded run and
//! an unsharded one compute exactly the same batches.

use std::fmt;
use std::str::FromStr;

/// Which part of a run this process does: shard `index` of `count` (`0 ≤ index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards the run is split into.
    pub count: usize,
}

/// A shard specification that cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

/// The environment variable a Kubernetes manifest sets to the Indexed Job's `completions`
/// (Kubernetes gives each pod its `JOB_COMPLETION_INDEX`, not the count).
pub const SHARD_COUNT_VAR: &str = "GAUNTLET_SHARDS";

impl Shard {
    /// The whole run as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// A checked shard.
    pub fn new(index: usize, count: usize) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError(
                "a run needs at least one shard; give --shard I/N with N ≥ 1".into(),
            ));
        }
        if index >= count {
            return Err(ShardError(format!(
                "shard {index}/{count} does not exist: shards are numbered 0…{}",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// Whether this is the whole run.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// `I/N`, or `auto`: read from the job scheduler's environment ([`Shard::from_env`]).
    pub fn resolve(spec: &str) -> Result<Shard, ShardError> {
        if spec.trim() == "auto" {
            Shard::from_env(|name| std::env::var(name).ok())
        } else {
            spec.parse()
        }
    }

    /// The shard a job scheduler assigned: a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`,
    /// with the count in [`SHARD_COUNT_VAR`]) or a Slurm job array (`SLURM_ARRAY_TASK_ID`,
    /// `SLURM_ARRAY_TASK_COUNT`, counted from `SLURM_ARRAY_TASK_MIN`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let number = |name: &str| -> Result<Option<usize>, ShardError> {
            match var(name) {
                None => Ok(None),
                Some(text) => text.trim().parse().map(Some).map_err(|_| {
                    ShardError(format!("{name}='{text}' is not a non-negative integer"))
                }),
            }
        };
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = number(SHARD_COUNT_VAR)?.ok_or_else(|| {
                ShardError(format!(
                    "--shard auto found the Kubernetes JOB_COMPLETION_INDEX but not the shard \
                     count; set the environment variable {SHARD_COUNT_VAR} to the Job's \
                     `completions` in the pod template"
                ))
            })?;
            return Shard::new(index, count);
        }
        if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
            let count = number("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                ShardError(
                    "--shard auto found SLURM_ARRAY_TASK_ID but not SLURM_ARRAY_TASK_COUNT; \
                     submit with sbatch --array"
                        .into(),
                )
            })?;
            let first = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = task.checked_sub(first).ok_or_else(|| {
                ShardError(format!(
                    "SLURM_ARRAY_TASK_ID {task} is below SLURM_ARRAY_TASK_MIN {first}"
                ))
            })?;
            return Shard::new(index, count);
        }
        Err(ShardError(
            "--shard auto needs a job scheduler's index: JOB_COMPLETION_INDEX (a Kubernetes \
             Indexed Job, with GAUNTLET_SHARDS) or SLURM_ARRAY_TASK_ID (a Slurm job array); \
             outside one, give --shard I/N"
                .into(),
        ))
    }

    /// Whether block `block` is this shard's.
    pub fn owns(&self, block: usize) -> bool {
        block % self.count == self.index
    }

    /// The indices of this shard's samples among `samples`, cut into blocks of `block_size`,
    /// ascending.
    pub fn samples(&self, samples: usize, block_size: usize) -> Vec<usize> {
        let block_size = block_size.max(1);
        (0..samples)
            .filter(|&i| self.owns(i / block_size))
            .collect()
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let bad = || {
            ShardError(format!(
                "cannot read the shard '{text}'; give I/N (this process runs part I of N, \
                 counted from 0, e.g. 0/4) or auto"
            ))
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        let index = index.trim().parse().map_err(|_| bad())?;
        let count = count.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_does_not_exist() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert!("4/4".parse::<Shard>().unwrap_err().0.contains("0…3"));
        assert!("0/0".parse::<Shard>().is_err());
        assert!("two".parse::<Shard>().unwrap_err().0.contains("I/N"));
        assert_eq!(Shard::WHOLE.to_string(), "0/1");
    }

    #[test]
    fn the_shards_partition_the_samples_by_whole_blocks() {
        let (n, block) = (203, 10);
        let parts: Vec<Vec<usize>> = (0..4)
            .map(|i| Shard::new(i, 4).unwrap().samples(n, block))
            .collect();
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "every sample exactly once");
        for (i, part) in parts.iter().enumerate() {
            assert!(part.iter().all(|s| (s / block) % 4 == i));
        }
        assert_eq!(Shard::WHOLE.samples(5, 2), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn schedulers_assign_the_shard() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3"), ("GAUNTLET_SHARDS", "8")]);
        assert_eq!(Shard::from_env(k8s).unwrap(), Shard { index: 3, count: 8 });
        let no_count = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert!(Shard::from_env(no_count)
            .unwrap_err()
            .0
            .contains("GAUNTLET_SHARDS"));
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
        ]);
        assert_eq!(
            Shard::from_env(slurm).unwrap(),
            Shard { index: 3, count: 4 }
        );
        assert!(Shard::from_env(env(&[])).unwrap_err().0.contains("I/N"));
    }
}
