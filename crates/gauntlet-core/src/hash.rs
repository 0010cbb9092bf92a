//! Content hashes recorded in every report, so a run can be tied to its exact inputs.

use sha2::{Digest, Sha256};

/// Hex-encoded SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex-encoded SHA-256 over several byte slices taken in order (e.g. inputs then labels).
pub fn sha256_hex_parts(parts: &[&[u8]]) -> String {
    let mut hasher = PartsHasher::default();
    for part in parts {
        hasher.begin_part(part.len() as u64);
        hasher.update(part);
    }
    hasher.finish()
}

/// [`sha256_hex_parts`] fed piece by piece, for files too large to hold: each part's length
/// is given before its bytes (the hash covers it), and the bytes may come in any chunks.
#[derive(Default)]
pub struct PartsHasher(Sha256);

impl PartsHasher {
    /// Starts a part of `len` bytes.
    pub fn begin_part(&mut self, len: u64) {
        self.0.update(len.to_le_bytes());
    }

    /// The next bytes of the current part.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
