//! An append-only journal for per-item resume: one JSON line per finished item, flushed to disk
//! before the audit moves on, so a run killed at any instant (SIGKILL, power loss) loses at
//! most the item in hand, and a rerun skips every item the journal holds.
//!
//! Layout: the first line is a header holding the run's *fingerprint* (a digest of everything
//! that decides the results: settings, data, versions); every further line is one record.
//! [`Journal::open`] returns the records of a journal whose fingerprint matches, and discards a
//! journal written by a run with other settings, so records of two runs are never mixed. A last
//! line torn by a kill mid-write is dropped (its item is simply redone); so is anything after a
//! line that does not parse.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fs::{sync_dir, write_atomic};

/// Version of the journal layout, in every header.
const FORMAT: u32 = 1;

/// The first line of a journal.
#[derive(Serialize, Deserialize)]
struct Header {
    gauntlet_journal: u32,
    fingerprint: String,
}

/// A journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error(
        "checkpoint journal '{path}': cannot {action}: {source}; check that the output directory \
         exists and is writable (or delete the file, or start afresh, to recompute everything)"
    )]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A record could not be turned into JSON.
    #[error("checkpoint journal '{path}': cannot encode a record as JSON: {source}")]
    Encode {
        /// The journal file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// How [`Journal::open`] found the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// There was no journal: a new one was started.
    New,
    /// The journal of an earlier run with the same fingerprint: its records were returned.
    Resumed {
        /// Records returned.
        records: usize,
        /// Lines dropped at the end: a line torn by a kill, or lines after one that does not
        /// parse. Their items are redone.
        dropped_lines: usize,
    },
    /// A journal was there but was discarded, for `reason`; a new one was started.
    Discarded {
        /// Why (asked to start afresh, another run's fingerprint, an unreadable header).
        reason: String,
    },
}

/// An opened journal, the records it already held, and how it started.
#[derive(Debug)]
pub struct Opened<T> {
    /// The journal, ready for [`Journal::append`].
    pub journal: Journal,
    /// Records of the earlier run, in the order they were appended.
    pub records: Vec<T>,
    /// Whether it was new, resumed or discarded.
    pub start: Start,
}

/// `x` rounded to 15 significant digits, which a journal gives back bit for bit (serde_json's
/// default float parser, the workspace's, is exact only for up to 15 digits). Audits round the
/// measurements their records keep when they make them: an outcome restored from a journal —
/// on resume, or in a merge of shards — then equals the one computed, and so do the report's
/// means over them.
pub fn exact(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.14e}").parse().unwrap_or(x)
}

/// An append-only JSON Lines journal (see the module docs).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens the journal at `path` for a run with `fingerprint` (stored verbatim in the header:
    /// pass a digest when the settings may hold secrets). With `fresh`, or when the file was
    /// written by a run with another fingerprint, the old journal is discarded. Otherwise its
    /// records are read back as `T`; a torn last line is dropped and cut from the file, so new
    /// records never join a fragment.
    pub fn open<T: DeserializeOwned>(
        path: &Path,
        fingerprint: &str,
        fresh: bool,
    ) -> Result<Opened<T>, JournalError> {
        let io = |action: &'static str| {
            move |source| JournalError::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let existing = match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("read it")(e)),
        };
        let Some(bytes) = existing else {
            return Self::start(path, fingerprint).map(|journal| Opened {
                journal,
                records: Vec::new(),
                start: Start::New,
            });
        };
        let discard = |reason: &str| {
            Self::start(path, fingerprint).map(|journal| Opened {
                journal,
                records: Vec::new(),
                start: Start::Discarded {
                    reason: reason.to_string(),
                },
            })
        };
        if fresh {
            return discard("a fresh start was asked for");
        }
        let Some(header_end) = bytes.iter().position(|&b| b == b'\n') else {
            return discard("its header is incomplete (the run was stopped as it started)");
        };
        match serde_json::from_slice::<Header>(&bytes[..header_end]) {
            Ok(h) if h.gauntlet_journal == FORMAT && h.fingerprint == fingerprint => {}
            Ok(h) if h.gauntlet_journal != FORMAT => {
                return discard("it was written in another journal format")
            }
            Ok(_) => {
                return discard("it was written by a run with other settings, data or version")
            }
            Err(_) => return discard("its first line is not a journal header"),
        }
        let mut records = Vec::new();
        let mut good_end = header_end + 1;
        let mut dropped_lines = 0;
        while good_end < bytes.len() {
            let rest = &bytes[good_end..];
            let Some(len) = rest.iter().position(|&b| b == b'\n') else {
                dropped_lines = 1; // torn by a kill mid-write
                break;
            };
            match serde_json::from_slice::<T>(&rest[..len]) {
                Ok(record) => {
                    records.push(record);
                    good_end += len + 1;
                }
                Err(_) => {
                    let complete = rest.iter().filter(|&&b| b == b'\n').count();
                    dropped_lines = complete + usize::from(rest.last() != Some(&b'\n'));
                    break;
                }
            }
        }
        if good_end < bytes.len() {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io("open it to cut a torn line"))?;
            file.set_len(good_end as u64)
                .map_err(io("cut a torn line"))?;
            file.sync_all().map_err(io("flush it to disk"))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io("open it for appending"))?;
        let start = Start::Resumed {
            records: records.len(),
            dropped_lines,
        };
        Ok(Opened {
            journal: Journal {
                path: path.to_path_buf(),
                file,
            },
            records,
            start,
        })
    }

    /// A journal holding only the header (written atomically, so never half a header).
    fn start(path: &Path, fingerprint: &str) -> Result<Journal, JournalError> {
        let io = |action: &'static str| {
            move |source| JournalError::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let header = Header {
            gauntlet_journal: FORMAT,
            fingerprint: fingerprint.to_string(),
        };
        let mut line = serde_json::to_vec(&header).map_err(|source| JournalError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
        line.push(b'\n');
        write_atomic(path, &line).map_err(io("start it"))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io("open it for appending"))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one record as one line and flushes it to disk before returning: once this
    /// returns, a rerun finds the record whatever happens to the process.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).map_err(|source| JournalError::Encode {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        let path = &self.path;
        let io = |action: &'static str| {
            move |source| JournalError::Io {
                path: path.clone(),
                action,
                source,
            }
        };
        self.file.write_all(&line).map_err(io("append a record"))?;
        self.file.sync_data().map_err(io("flush a record to disk"))
    }

    /// The records of the journal at `path`, read without changing it (a finished shard's
    /// journal, read by a merge): `None` when there is no such file or it was written by a run
    /// with another fingerprint. A torn last line is left out, as [`Journal::open`] would.
    pub fn read<T: DeserializeOwned>(
        path: &Path,
        fingerprint: &str,
    ) -> Result<Option<Vec<T>>, JournalError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(JournalError::Io {
                    path: path.to_path_buf(),
                    action: "read it",
                    source,
                })
            }
        };
        let mut lines = bytes.split(|&b| b == b'\n');
        match lines
            .next()
            .and_then(|h| serde_json::from_slice::<Header>(h).ok())
        {
            Some(h) if h.gauntlet_journal == FORMAT && h.fingerprint == fingerprint => {}
            _ => return Ok(None),
        }
        Ok(Some(
            lines
                .filter(|line| !line.is_empty())
                .map_while(|line| serde_json::from_slice::<T>(line).ok())
                .collect(),
        ))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the journal: the run is complete and reported, so there is nothing to resume and
    /// the next run measures afresh.
    pub fn finish(self) -> Result<(), JournalError> {
        let Journal { path, file } = self;
        drop(file);
        std::fs::remove_file(&path).map_err(|source| JournalError::Io {
            path: path.clone(),
            action: "remove it",
            source,
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            sync_dir(dir).map_err(|source| JournalError::Io {
                path: path.clone(),
                action: "flush its directory",
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Item {
        id: String,
        value: f64,
    }

    fn item(i: usize) -> Item {
        Item {
            id: format!("m{i}"),
            value: i as f64 / 4.0,
        }
    }

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "gauntlet-run-journal-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        fn file(&self) -> PathBuf {
            self.0.join("checkpoint.jsonl")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_items(path: &Path, fingerprint: &str, n: usize) {
        let mut opened = Journal::open::<Item>(path, fingerprint, false).unwrap();
        for i in 0..n {
            opened.journal.append(&item(i)).unwrap();
        }
    }

    #[test]
    fn rounded_measurements_come_back_bit_for_bit() {
        let mut x = 0.1f64;
        for i in 0..2000 {
            x = (x * 7.3 + f64::from(i)).fract() + 1e-3 * f64::from(i % 7);
            let y = exact(x);
            assert!((y - x).abs() <= 1e-14 * x.abs());
            let back: f64 = serde_json::from_str(&serde_json::to_string(&y).unwrap()).unwrap();
            assert_eq!(back.to_bits(), y.to_bits(), "{x}");
        }
        assert_eq!(exact(0.0), 0.0);
        assert!(exact(f64::NAN).is_nan());
    }

    #[test]
    fn read_returns_the_records_and_leaves_the_file_as_it_was() {
        let s = Scratch::new("read");
        assert!(Journal::read::<Item>(&s.file(), "fp").unwrap().is_none());
        write_items(&s.file(), "fp", 3);
        let mut bytes = std::fs::read(s.file()).unwrap();
        bytes.extend_from_slice(b"{\"id\": \"m3\", \"va");
        std::fs::write(s.file(), &bytes).unwrap();
        let read = Journal::read::<Item>(&s.file(), "fp").unwrap().unwrap();
        assert_eq!(read, (0..3).map(item).collect::<Vec<_>>());
        assert!(Journal::read::<Item>(&s.file(), "other").unwrap().is_none());
        assert_eq!(
            std::fs::read(s.file()).unwrap(),
            bytes,
            "nothing is cut or discarded"
        );
    }

    #[test]
    fn records_come_back_in_order_and_finish_removes_the_file() {
        let s = Scratch::new("roundtrip");
        let first = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert_eq!(first.start, Start::New);
        drop(first);
        write_items(&s.file(), "fp", 3);
        let again = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert_eq!(again.records, vec![item(0), item(1), item(2)]);
        assert_eq!(
            again.start,
            Start::Resumed {
                records: 3,
                dropped_lines: 0
            }
        );
        // Appending after a resume continues the same file.
        let mut journal = again.journal;
        journal.append(&item(3)).unwrap();
        drop(journal);
        let all = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert_eq!(all.records.len(), 4);
        all.journal.finish().unwrap();
        assert!(!s.file().exists());
    }

    #[test]
    fn another_fingerprint_or_fresh_discards_and_never_mixes() {
        let s = Scratch::new("fingerprint");
        write_items(&s.file(), "settings A", 2);
        let other = Journal::open::<Item>(&s.file(), "settings B", false).unwrap();
        assert!(other.records.is_empty());
        assert!(
            matches!(&other.start, Start::Discarded { reason } if reason.contains("other settings")),
            "{:?}",
            other.start
        );
        drop(other);
        // The old records are gone for good: going back to A finds nothing to resume.
        let back = Journal::open::<Item>(&s.file(), "settings A", false).unwrap();
        assert!(matches!(back.start, Start::Discarded { .. }));
        drop(back);
        write_items(&s.file(), "settings A", 2);
        let fresh = Journal::open::<Item>(&s.file(), "settings A", true).unwrap();
        assert!(fresh.records.is_empty());
        assert!(matches!(&fresh.start, Start::Discarded { reason } if reason.contains("fresh")));
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_cut_so_appends_stay_whole() {
        let s = Scratch::new("torn");
        write_items(&s.file(), "fp", 2);
        // A kill in the middle of writing the third record.
        let mut f = OpenOptions::new().append(true).open(s.file()).unwrap();
        f.write_all(br#"{"id":"m2","val"#).unwrap();
        drop(f);
        let opened = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert_eq!(opened.records, vec![item(0), item(1)]);
        assert_eq!(
            opened.start,
            Start::Resumed {
                records: 2,
                dropped_lines: 1
            }
        );
        let mut journal = opened.journal;
        journal.append(&item(2)).unwrap();
        drop(journal);
        let text = std::fs::read_to_string(s.file()).unwrap();
        assert_eq!(
            text.lines().count(),
            4,
            "header and three whole records: {text}"
        );
        let again = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert_eq!(again.records, vec![item(0), item(1), item(2)]);
    }

    #[test]
    fn everything_after_an_unreadable_line_is_dropped() {
        let s = Scratch::new("garbage");
        write_items(&s.file(), "fp", 1);
        let mut f = OpenOptions::new().append(true).open(s.file()).unwrap();
        f.write_all(b"not json\n{\"id\":\"m1\",\"value\":0.25}\n")
            .unwrap();
        drop(f);
        let opened = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert_eq!(opened.records, vec![item(0)]);
        assert_eq!(
            opened.start,
            Start::Resumed {
                records: 1,
                dropped_lines: 2
            }
        );
    }

    #[test]
    fn a_torn_or_foreign_header_starts_afresh() {
        let s = Scratch::new("header");
        std::fs::write(s.file(), br#"{"gauntlet_journal":1,"finger"#).unwrap();
        let torn = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert!(
            matches!(&torn.start, Start::Discarded { reason } if reason.contains("incomplete"))
        );
        drop(torn);
        std::fs::write(s.file(), "id,value\nm0,1\n").unwrap();
        let foreign = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert!(
            matches!(&foreign.start, Start::Discarded { reason } if reason.contains("not a journal header"))
        );
        drop(foreign);
        std::fs::write(
            s.file(),
            "{\"gauntlet_journal\":99,\"fingerprint\":\"fp\"}\n",
        )
        .unwrap();
        let future = Journal::open::<Item>(&s.file(), "fp", false).unwrap();
        assert!(matches!(&future.start, Start::Discarded { reason } if reason.contains("format")));
    }

    #[test]
    fn an_unwritable_place_is_an_error_naming_the_file() {
        let s = Scratch::new("unwritable");
        let path = s.0.join("missing-dir/checkpoint.jsonl");
        let err = Journal::open::<Item>(&path, "fp", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("checkpoint.jsonl") && err.contains("writable"),
            "{err}"
        );
    }
}
