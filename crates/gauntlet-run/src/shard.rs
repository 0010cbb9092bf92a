//! Sharding: one audit split over many processes or machines, each running a deterministic part
//! of the samples, merged afterwards into the report the whole run would have written.
//!
//! The unit of work is a *block*: the samples are cut into consecutive blocks of `batch_size`
//! once, before anything runs, and every attack works on what is left of each block. Block `b`
//! belongs to shard `b mod N` (round robin, so a data set sorted by class or difficulty still
//! spreads evenly). Because blocks — not shards — decide batching and seeds, a sharded run and
//! an unsharded one compute exactly the same batches.
//!
//! Every kind of audit (`audit`, `text-audit`, `tabular-audit`) leaves a [`SHARD_FILE`] in each
//! shard's output folder, starting with a [`ShardHeader`]; [`kind_of`] tells `gauntlet merge`
//! which kind of audit a set of folders holds and [`read_set`] checks that they are the complete
//! set of one run, once for all kinds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

impl ShardError {
    /// An error with `message`, which says what is wrong and what to do.
    pub fn new(message: impl Into<String>) -> ShardError {
        ShardError(message.into())
    }
}

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

/// The file every shard writes into its output folder beside its report.
pub const SHARD_FILE: &str = "shard.json";

/// The kind of a [`SHARD_FILE`] that names none: the image audit's (`gauntlet audit`), whose
/// shard files came before the other kinds.
pub const IMAGE_KIND: &str = "audit";

fn image_kind() -> String {
    IMAGE_KIND.to_string()
}

/// What every kind of audit's [`SHARD_FILE`] says, read before the merge knows the kind. A kind
/// adds its own fields beside these (e.g. its settings, from which the merge reruns it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardHeader {
    /// The command that ran the shard: `audit`, `text-audit` or `tabular-audit`.
    #[serde(default = "image_kind")]
    pub kind: String,
    /// Which part.
    pub shard: Shard,
    /// The whole run's fingerprint (data and model hashes, every setting): equal across the
    /// shards of one run.
    pub run_fingerprint: String,
    /// Whether every unit of work of the shard finished.
    pub complete: bool,
}

/// Reads `dir`'s [`SHARD_FILE`] as `T`.
fn read_file<T: DeserializeOwned>(dir: &Path) -> Result<T, ShardError> {
    let path = dir.join(SHARD_FILE);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        ShardError(format!(
            "'{}' holds no {SHARD_FILE}: it is not the output folder of an audit run with \
             --shard I/N (or that shard has not finished writing its report)",
            dir.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ShardError(format!("'{}' is not a shard record: {e}", path.display())))
}

/// The kind of audit (`audit`, `text-audit`, `tabular-audit`) the folders are shards of;
/// refuses no folder, a folder that holds no shard, and shards of different kinds.
pub fn kind_of(dirs: &[PathBuf]) -> Result<String, ShardError> {
    let Some(first_dir) = dirs.first() else {
        return Err(ShardError(
            "give the output folders of every shard of the run to merge".into(),
        ));
    };
    let first: ShardHeader = read_file(first_dir)?;
    for dir in &dirs[1..] {
        let header: ShardHeader = read_file(dir)?;
        if header.kind != first.kind {
            return Err(ShardError(format!(
                "'{}' is a shard of a `gauntlet {}` run but '{}' of a `gauntlet {}` run; merge \
                 the shards of one run",
                dir.display(),
                header.kind,
                first_dir.display(),
                first.kind
            )));
        }
    }
    Ok(first.kind)
}

/// Reads every folder's [`SHARD_FILE`] (header and the kind's own fields, `T`) and checks that
/// they are the complete set of one run of the audit `kind`: one run fingerprint and shard
/// count, each part once, none missing, all finished. Returns them in shard order, whatever
/// order the folders were given in.
pub fn read_set<T: DeserializeOwned>(
    dirs: &[PathBuf],
    kind: &str,
) -> Result<Vec<(PathBuf, T)>, ShardError> {
    let found = kind_of(dirs)?;
    if found != kind {
        return Err(ShardError(format!(
            "'{}' holds a shard of a `gauntlet {found}` run, not of `gauntlet {kind}`",
            dirs[0].display()
        )));
    }
    let mut headers: Vec<(PathBuf, ShardHeader)> = Vec::new();
    for dir in dirs {
        headers.push((dir.clone(), read_file(dir)?));
    }
    let (first_dir, first) = &headers[0];
    for (dir, header) in &headers[1..] {
        if header.run_fingerprint != first.run_fingerprint
            || header.shard.count != first.shard.count
        {
            return Err(ShardError(format!(
                "'{}' is a shard of another run than '{}' (the data, the model or the settings \
                 differ); merge only the shards of one run",
                dir.display(),
                first_dir.display()
            )));
        }
    }
    let count = first.shard.count;
    let mut by_index: Vec<Option<usize>> = vec![None; count];
    for (at, (dir, header)) in headers.iter().enumerate() {
        if let Some(other) = by_index[header.shard.index] {
            return Err(ShardError(format!(
                "shard {} is given twice: '{}' and '{}'",
                header.shard,
                headers[other].0.display(),
                dir.display()
            )));
        }
        by_index[header.shard.index] = Some(at);
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| by_index[i].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        let many = missing.len() > 1;
        return Err(ShardError(format!(
            "shard{} {} of the run {} missing; run {} (`gauntlet {kind} … --shard I/{count}`) \
             and give every shard's output folder",
            if many { "s" } else { "" },
            missing.join(", "),
            if many { "are" } else { "is" },
            if many { "them" } else { "it" },
        )));
    }
    if let Some((dir, header)) = headers.iter().find(|(_, h)| !h.complete) {
        return Err(ShardError(format!(
            "shard {} in '{}' did not finish (interrupted, or some work failed: see its report); \
             rerun its command with the same output folder to resume it, then merge",
            header.shard,
            dir.display()
        )));
    }
    by_index
        .into_iter()
        .map(|at| {
            let dir = &headers[at.expect("none missing")].0;
            Ok((dir.clone(), read_file(dir)?))
        })
        .collect()
}

/// The records of a shard's checkpoint journal `dir/file`, whose header holds `fingerprint`,
/// read without changing it; an error that names `shard` when it is gone or another's.
pub fn read_checkpoint<T: DeserializeOwned>(
    dir: &Path,
    file: &str,
    fingerprint: &str,
    shard: Shard,
) -> Result<Vec<T>, ShardError> {
    let path = dir.join(file);
    crate::journal::Journal::read(&path, fingerprint)
        .map_err(|e| ShardError(e.to_string()))?
        .ok_or_else(|| {
            ShardError(format!(
                "'{}' is missing or not shard {shard}'s checkpoint: the shard's results are gone \
                 (was its output folder cleaned?); rerun that shard, then merge",
                path.display()
            ))
        })
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

    fn write_shard(dir: &Path, kind: &str, shard: &str, fingerprint: &str, complete: bool) {
        std::fs::create_dir_all(dir).unwrap();
        let header = ShardHeader {
            kind: kind.into(),
            shard: shard.parse().unwrap(),
            run_fingerprint: fingerprint.into(),
            complete,
        };
        std::fs::write(dir.join(SHARD_FILE), serde_json::to_vec(&header).unwrap()).unwrap();
    }

    #[test]
    fn a_shard_set_is_read_in_order_and_every_bad_set_is_refused_by_name() {
        let root = std::env::temp_dir().join(format!("gauntlet-shard-set-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = |name: &str| root.join(name);
        for i in 0..3 {
            write_shard(
                &dir(&format!("s{i}")),
                "text-audit",
                &format!("{i}/3"),
                "f",
                true,
            );
        }
        let set = |names: &[&str]| -> Vec<PathBuf> { names.iter().map(|n| dir(n)).collect() };
        let read = read_set::<ShardHeader>(&set(&["s2", "s0", "s1"]), "text-audit").unwrap();
        let order: Vec<usize> = read.iter().map(|(_, h)| h.shard.index).collect();
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(read[1].0, dir("s1"));
        assert_eq!(kind_of(&set(&["s1"])).unwrap(), "text-audit");

        let err = |names: &[&str]| {
            read_set::<ShardHeader>(&set(names), "text-audit")
                .unwrap_err()
                .0
        };
        let e = err(&["s0", "s2"]);
        assert!(
            e.contains("shard 1/3") && e.contains("missing") && e.contains("text-audit"),
            "{e}"
        );
        assert!(err(&["s0", "s1", "s1", "s2"]).contains("given twice"));
        write_shard(&dir("other"), "text-audit", "1/3", "g", true);
        assert!(err(&["s0", "other", "s2"]).contains("another run"));
        write_shard(&dir("tabular"), "tabular-audit", "1/3", "f", true);
        let e = err(&["s0", "tabular", "s2"]);
        assert!(
            e.contains("tabular-audit") && e.contains("text-audit"),
            "{e}"
        );
        write_shard(&dir("unfinished"), "text-audit", "1/3", "f", false);
        assert!(err(&["s0", "unfinished", "s2"]).contains("did not finish"));
        std::fs::create_dir_all(dir("plain")).unwrap();
        assert!(err(&["plain"]).contains(SHARD_FILE));
        assert!(read_set::<ShardHeader>(&[], "text-audit")
            .unwrap_err()
            .0
            .contains("give"));
        let e = read_set::<ShardHeader>(&set(&["tabular"]), "text-audit")
            .unwrap_err()
            .0;
        assert!(e.contains("not of `gauntlet text-audit`"), "{e}");
        // The image audit's shard files name no kind.
        std::fs::write(
            dir("plain").join(SHARD_FILE),
            r#"{"shard":{"index":0,"count":1},"run_fingerprint":"x","complete":true}"#,
        )
        .unwrap();
        assert_eq!(kind_of(&set(&["plain"])).unwrap(), IMAGE_KIND);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
