//! Flags over a `--config` file, for every command that takes one. The flags are a struct whose
//! field names are the config's keys; the ones given on the command line are written over the
//! file's keys and the result is deserialized once into the library's config, so a flag
//! without a key cannot exist and flags always win.

use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A flag that was not given: clap leaves options `None`, switches `false` and repeatable
/// flags empty, and none of those can be typed on the command line.
fn given(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false)) && value != &Value::Array(Vec::new())
}

/// The config `C` from `file` (a `gauntlet.toml`, if any) with the `flags` given written over
/// it. `renamed` pairs a key with the older name a file may still use for it
/// (`("fail_under", "thresholds")`): a flag given replaces that too.
pub fn flags_over_file<C: DeserializeOwned>(
    file: Option<&Path>,
    flags: &impl Serialize,
    renamed: &[(&str, &str)],
) -> Result<C> {
    let mut merged = serde_json::Map::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the config '{}'; check the path",
                path.display()
            )
        })?;
        // The file alone first: its own errors name the key (unknown, or of the wrong type).
        let in_file = || format!("in the config '{}'", path.display());
        toml::from_str::<C>(&text)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
            .with_context(in_file)?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
            .with_context(in_file)?;
        if let Value::Object(keys) = serde_json::to_value(table)? {
            merged = keys;
        }
    }
    if let Value::Object(flags) = serde_json::to_value(flags).context("cannot collect the flags")? {
        for (key, value) in flags.into_iter().filter(|(_, v)| given(v)) {
            for (new, old) in renamed {
                if key == *new {
                    merged.remove(*old);
                }
            }
            merged.insert(key, value);
        }
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| anyhow::anyhow!("{e}"))
}
