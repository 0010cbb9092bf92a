//! The tabular audit's files: `report.json` (the contract), `report.md`, `report.html`,
//! `samples.jsonl` (one line per attacked row and attack) and `adversarial.csv` (the cheapest
//! evading row found for each attacked row, in the schema's columns). Every file is written
//! atomically.

use std::path::Path;

use gauntlet_run::fs::write_atomic;

use crate::error::{Error, Result};
use crate::markdown::markdown;
use crate::outcome::RowOutcome;
use crate::report::{Report, REPORT_FILE};
use crate::schema::Schema;
use crate::table::Table;

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).map_err(Error::io(path, "write it"))
}

/// Writes every file of the report into `out`.
pub fn write_all(
    out: &Path,
    report: &Report,
    outcomes: &[RowOutcome],
    worst: &[&RowOutcome],
    schema: &Schema,
    table: &Table,
) -> Result<()> {
    let json = serde_json::to_string_pretty(report).expect("the report serializes");
    write(&out.join(REPORT_FILE), json.as_bytes())?;
    write(&out.join("report.md"), markdown(report).as_bytes())?;
    write(
        &out.join("report.html"),
        crate::html::page(report, worst, schema, table).as_bytes(),
    )?;
    let mut lines = String::new();
    for o in outcomes {
        lines.push_str(&serde_json::to_string(o).expect("an outcome serializes"));
        lines.push('\n');
    }
    write(&out.join("samples.jsonl"), lines.as_bytes())?;
    write(
        &out.join("adversarial.csv"),
        &adversarial_csv(worst, schema, table)?,
    )?;
    Ok(())
}

/// The cheapest evading row per attacked row: `row,attack,<features…>,<label>`.
fn adversarial_csv(worst: &[&RowOutcome], schema: &Schema, table: &Table) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let label = schema.label.clone().unwrap_or_else(|| "label".into());
    let mut header = vec!["row".to_string(), "attack".to_string()];
    header.extend(schema.names());
    header.push(label);
    let fail = |e: csv::Error| Error::Data {
        path: "adversarial.csv".into(),
        reason: format!("cannot write: {e}"),
    };
    writer.write_record(&header).map_err(fail)?;
    for o in worst.iter().filter(|o| o.evaded) {
        let Some(row) = &o.adversarial else { continue };
        let mut record = vec![o.row.to_string(), o.attack.clone()];
        record.extend(row.iter().map(|v| v.to_string()));
        record.push(table.classes[o.label].clone());
        writer.write_record(&record).map_err(fail)?;
    }
    writer.into_inner().map_err(|e| Error::Data {
        path: "adversarial.csv".into(),
        reason: format!("cannot write: {e}"),
    })
}
