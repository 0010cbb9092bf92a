//! Fixtures for the remote tests: the fault-injecting HTTP server of gauntlet-transport's tests
//! (shared, not copied), and the demo MNIST model and digits.

// Each test binary includes this module and uses only some of its helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "../../../gauntlet-transport/tests/common/mod.rs"]
mod fault_server;
// Test binaries that need no fault server leave these re-exports unused.
#[allow(unused_imports)]
pub use fault_server::*;

/// The inputs of a request body `{"inputs": [[…], …]}` as rows of numbers.
pub fn inputs_of(body: &str) -> Vec<Vec<f64>> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
