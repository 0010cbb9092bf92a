//! Loading a labelled message corpus (JSON Lines, optionally gzip) and splitting
//! it deterministically by a hash of each message id.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Ground-truth class of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Legitimate mail.
    Ham,
    /// Unsolicited bulk mail.
    Spam,
}

impl Label {
    /// `true` for spam.
    pub fn is_spam(self) -> bool {
        self == Label::Spam
    }
    /// Label for a spam score under the 0.5 decision threshold.
    pub fn from_score(score: f64) -> Label {
        if score >= 0.5 {
            Label::Spam
        } else {
            Label::Ham
        }
    }
}

/// One labelled message. `text` is the raw body (may still be MIME encoded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique id (used for the split).
    pub id: String,
    /// Ground truth.
    pub label: Label,
    /// Raw body text.
    pub text: String,
}

/// A line of the corpus that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadFailure {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong with it.
    pub reason: String,
}

/// A loaded corpus: the usable messages plus a record of every skipped line.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Usable messages, in file order.
    pub messages: Vec<Message>,
    /// Lines that were skipped.
    pub failures: Vec<LoadFailure>,
    /// SHA-256 (hex) of the file's bytes as stored (empty when parsed from a reader): what the
    /// audit's checkpoint fingerprint records of the data.
    pub sha256: String,
}

#[derive(Deserialize)]
struct RawLine {
    id: Option<serde_json::Value>,
    label: Option<String>,
    text: Option<String>,
}

/// Load a JSON Lines corpus (fields `id`, `label`, `text`; others are ignored —
/// in particular `headers`, which can leak the label). Gzip input is detected by
/// its magic bytes. Bad lines (not UTF-8, not JSON, missing fields, unknown
/// label) become [`LoadFailure`]s; a corpus with no usable line is an error.
pub fn load_corpus(path: &Path) -> Result<Corpus> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let reader: Box<dyn BufRead> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            bytes.as_slice(),
        )))
    } else {
        Box::new(BufReader::new(bytes.as_slice()))
    };
    let mut corpus = parse_corpus(reader).map_err(io)?;
    corpus.sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if corpus.messages.is_empty() {
        let detail = if corpus.failures.is_empty() {
            "the file is empty".to_string()
        } else {
            format!(
                "{} lines skipped, first: line {}: {}",
                corpus.failures.len(),
                corpus.failures[0].line,
                corpus.failures[0].reason
            )
        };
        return Err(Error::EmptyCorpus {
            path: path.to_path_buf(),
            detail,
        });
    }
    Ok(corpus)
}

/// Parse JSON Lines from a reader; see [`load_corpus`]. Only I/O errors abort.
pub fn parse_corpus(mut reader: impl BufRead) -> std::io::Result<Corpus> {
    let mut corpus = Corpus::default();
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let fail = |reason: String| LoadFailure {
            line: line_no,
            reason,
        };
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => s.trim(),
            Err(e) => {
                corpus.failures.push(fail(format!(
                    "not valid UTF-8 ({e}); re-encode the file as UTF-8"
                )));
                continue;
            }
        };
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(m) => corpus.messages.push(m),
            Err(reason) => corpus.failures.push(fail(reason)),
        }
    }
    Ok(corpus)
}

fn parse_line(line: &str) -> std::result::Result<Message, String> {
    let raw: RawLine = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let id = match raw.id {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => return Err("field `id` must be a string or number".into()),
        None => return Err("missing field `id`".into()),
    };
    let label = match raw.label.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
        Some(ref s) if s == "spam" => Label::Spam,
        Some(ref s) if s == "ham" => Label::Ham,
        Some(other) => return Err(format!("label {other:?} is neither \"spam\" nor \"ham\"")),
        None => return Err("missing field `label`".into()),
    };
    let text = raw.text.ok_or_else(|| "missing field `text`".to_string())?;
    Ok(Message { id, label, text })
}

/// Fraction in [0, 1) derived from SHA-256 of the id: stable across runs,
/// machines and corpus order.
pub fn id_hash_unit(id: &str) -> f64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Deterministic train/test split: a message goes to train when
/// `id_hash_unit(id) < train_fraction`.
pub fn split_by_id(messages: &[Message], train_fraction: f64) -> (Vec<Message>, Vec<Message>) {
    messages
        .iter()
        .cloned()
        .partition(|m| id_hash_unit(&m.id) < train_fraction)
}

/// Counts per class.
pub fn class_counts(messages: &[Message]) -> (usize, usize) {
    let spam = messages.iter().filter(|m| m.label.is_spam()).count();
    (messages.len() - spam, spam)
}

/// Where the full SpamAssassin corpus lives in CI (`../shared` beside the clone).
pub fn full_corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/spamassassin/spamassassin.jsonl.gz")
}

/// The demo subset shipped in the repository.
pub fn demo_corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/spam-demo/spam-demo.jsonl.gz")
}
