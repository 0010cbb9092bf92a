//! Word-level edits: what an attack changed in a message, located in the original.

use serde::{Deserialize, Serialize};

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    /// Two adjacent letters swapped.
    Swap,
    /// A letter deleted.
    Delete,
    /// A letter inserted.
    Insert,
    /// A letter replaced by a keyboard neighbour.
    KeyboardSub,
    /// Letters replaced by look-alikes from other scripts.
    Homoglyph,
    /// A letter replaced by its full-width form.
    FullWidth,
    /// An invisible character inserted.
    ZeroWidth,
    /// Letters replaced by digits/symbols.
    Leet,
    /// Letters spaced out.
    Spacing,
    /// A word appended.
    Append,
}

/// One word-level edit, located in the original text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    /// Byte offset of the replaced word in the original (for appends: its length).
    pub start: usize,
    /// End byte offset (equal to `start` for appends).
    pub end: usize,
    /// The original word ("" for appends).
    pub original: String,
    /// What replaced it (for appends, including the leading separator).
    pub replacement: String,
    /// Which trick.
    pub kind: EditKind,
    /// Levenshtein distance of `original` → `replacement` (characters).
    pub cost: usize,
}

/// Apply edits to the original text. Edits must not overlap; appends at the
/// same offset are applied in the given order.
pub fn apply_edits(original: &str, edits: &[Edit]) -> String {
    let mut order: Vec<&Edit> = edits.iter().collect();
    order.sort_by_key(|e| e.start); // stable: keeps append order
    let mut out = String::with_capacity(original.len() + 64);
    let mut last = 0;
    for e in order {
        out.push_str(&original[last..e.start]);
        out.push_str(&e.replacement);
        last = e.end;
    }
    out.push_str(&original[last..]);
    out
}
