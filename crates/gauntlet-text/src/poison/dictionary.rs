//! The dictionary an attack mail carries: an English word list (Debian's `wamerican`, embedded,
//! or any file), or the "optimal" dictionary of the corpus's own ham vocabulary. Either way the
//! words are kept as the filters tokenize them, so the count is what the filter will see.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::corpus::Message;
use crate::error::{Error, Result};
use crate::mime::extract_text;
use crate::tokenize::{for_each_token, word_tokens};

/// Debian's `wamerican` word list (`data/words/`, SCOWL licence in `COPYRIGHT-wamerican`).
const WAMERICAN_GZ: &[u8] = include_bytes!("../../../../data/words/american-english.gz");

/// A list of distinct tokens, in first-seen order, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dictionary {
    /// Where the words came from (a file, the embedded list, the ham vocabulary).
    pub source: String,
    /// SHA-256 (hex) of the source bytes (for the ham vocabulary: of the words, one a line).
    pub sha256: String,
    /// Distinct tokens.
    #[serde(skip)]
    pub words: Vec<String>,
}

impl Dictionary {
    /// The embedded `wamerican` list: works without any file.
    pub fn wamerican() -> Result<Self> {
        Self::from_bytes("wamerican 2020.12.07-2 (embedded)", WAMERICAN_GZ)
    }

    /// A word list file, gzip or plain text; every token in it counts (one word a line is
    /// usual, but any text works).
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&path.display().to_string(), &bytes).map_err(|e| match e {
            Error::InvalidConfig { reason, .. } => Error::invalid("dictionary", reason),
            other => other,
        })
    }

    fn from_bytes(source: &str, bytes: &[u8]) -> Result<Self> {
        let mut text = String::new();
        let read = if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(bytes).read_to_string(&mut text)
        } else {
            bytes.as_ref().read_to_string(&mut text)
        };
        read.map_err(|e| {
            Error::invalid(
                "dictionary",
                format!("{source} is not UTF-8 text or valid gzip ({e}); give a word list, one word a line"),
            )
        })?;
        let mut seen = std::collections::HashSet::new();
        let mut words = Vec::new();
        for_each_token(&text, |t| {
            if seen.insert(t.to_string()) {
                words.push(t.to_string());
            }
        });
        if words.is_empty() {
            return Err(Error::invalid(
                "dictionary",
                format!("{source} holds no word of 2 to 40 letters or digits; give a word list, one word a line"),
            ));
        }
        Ok(Dictionary {
            source: source.to_string(),
            sha256: hex_sha256(bytes),
            words,
        })
    }

    /// The "optimal" dictionary: every token of the given ham (the attacker's view of the
    /// training ham), sorted.
    pub fn ham_vocabulary<'a>(ham: impl Iterator<Item = &'a Message>) -> Self {
        let mut set = BTreeSet::new();
        let mut n = 0usize;
        for m in ham {
            n += 1;
            set.extend(word_tokens(&extract_text(&m.text)));
        }
        let words: Vec<String> = set.into_iter().collect();
        Dictionary {
            source: format!("ham vocabulary of {n} training ham messages"),
            sha256: hex_sha256(words.join("\n").as_bytes()),
            words,
        }
    }

    /// The body of a dictionary attack mail: every word once, one a line.
    pub fn mail_text(&self) -> String {
        self.words.join("\n")
    }
}

/// SHA-256 in hex.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Label;

    #[test]
    fn embedded_wamerican_is_the_shipped_list_as_tokens() {
        let d = Dictionary::wamerican().unwrap();
        assert_eq!(
            d.sha256,
            "74bdfff56440580ff9be0970ed761d5ea019980743de1762bf4584e2a932e527"
        );
        // 104,334 lines; lower-casing and dropping possessive "s" and one-letter words merge
        // many of them, but tens of thousands of distinct tokens remain, each a token as the
        // filters see it.
        assert!(
            d.words.len() > 50_000 && d.words.len() < 104_334,
            "{}",
            d.words.len()
        );
        assert!(d.words.iter().any(|w| w == "zebra"));
        for w in d.words.iter().take(500) {
            assert_eq!(word_tokens(w), vec![w.clone()]);
        }
        let distinct: std::collections::HashSet<_> = d.words.iter().collect();
        assert_eq!(distinct.len(), d.words.len());
    }

    #[test]
    fn files_and_vocabularies_keep_distinct_tokens() {
        let dir = std::env::temp_dir().join(format!("gauntlet-dict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("w.txt");
        std::fs::write(&f, "Apple\napple's\nx\nbanana\n").unwrap();
        assert_eq!(
            Dictionary::from_file(&f).unwrap().words,
            vec!["apple", "banana"]
        );
        std::fs::write(&f, "a\n-\n").unwrap();
        let e = Dictionary::from_file(&f).unwrap_err().to_string();
        assert!(e.contains("no word"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let ham = [Message {
            id: "1".into(),
            label: Label::Ham,
            text: "Meeting at noon, bring the slides".into(),
        }];
        let v = Dictionary::ham_vocabulary(ham.iter());
        assert_eq!(
            v.words,
            vec!["at", "bring", "meeting", "noon", "slides", "the"]
        );
    }
}
