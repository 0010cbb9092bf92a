//! A table read from CSV (optionally gzip-compressed) in the schema's column order: the model
//! input rows as `f32` and the class index of each row.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::schema::Schema;

/// Rows of model input and their labels.
#[derive(Debug, Clone)]
pub struct Table {
    /// The CSV file.
    pub path: PathBuf,
    /// Values, row-major `n × width`, columns in the schema's order.
    pub rows: Vec<f32>,
    /// Columns per row.
    pub width: usize,
    /// The class index of each row.
    pub labels: Vec<usize>,
    /// The label text of each class index.
    pub classes: Vec<String>,
    /// SHA-256 of the file's bytes (as stored, compressed or not).
    pub sha256: String,
}

impl Table {
    /// Reads `path` (`.csv` or `.csv.gz`) with a header row; `label_column` (or the schema's
    /// `label`) names the class column. Labels map to class indices through the schema's
    /// `classes`, or are the integers 0, 1, … themselves.
    pub fn load(path: &Path, schema: &Schema, label_column: Option<&str>) -> Result<Table> {
        let bytes = std::fs::read(path).map_err(Error::io(path, "read it"))?;
        let sha256 = gauntlet_core::hash::sha256_hex(&bytes);
        let text = if path.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| Error::Data {
                    path: path.to_path_buf(),
                    reason: format!("not a readable gzip file ({e}); give the plain .csv instead"),
                })?;
            out
        } else {
            bytes
        };
        let mut table = Table::from_csv(&text, path, schema, label_column)?;
        table.sha256 = sha256;
        Ok(table)
    }

    /// Parses CSV bytes; `path` names the data in errors.
    pub fn from_csv(
        bytes: &[u8],
        path: &Path,
        schema: &Schema,
        label_column: Option<&str>,
    ) -> Result<Table> {
        let bad = |reason: String| Error::Data {
            path: path.to_path_buf(),
            reason,
        };
        let label_column = label_column.or(schema.label.as_deref()).ok_or_else(|| {
            bad(
                "no label column: give --label-column NAME or `label = \"NAME\"` in the schema"
                    .into(),
            )
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(format!("cannot read the header row: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        let position = |name: &str| header.iter().position(|h| h == name);
        let columns: Vec<usize> = schema
            .features
            .iter()
            .map(|f| {
                position(&f.name).ok_or_else(|| {
                    bad(format!(
                        "the schema's feature '{}' is not a column of the CSV header ({} columns: {}{})",
                        f.name,
                        header.len(),
                        header.iter().take(8).cloned().collect::<Vec<_>>().join(", "),
                        if header.len() > 8 { ", …" } else { "" }
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let label_at = position(label_column).ok_or_else(|| {
            bad(format!(
                "the label column '{label_column}' is not in the CSV header; name it with \
                 --label-column"
            ))
        })?;
        let width = columns.len();
        let mut rows = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        for (index, record) in reader.records().enumerate() {
            // Line numbers as an editor shows them: the header is line 1.
            let line = index + 2;
            let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
            for (&at, feature) in columns.iter().zip(&schema.features) {
                let cell = record.get(at).unwrap_or("");
                let value: f32 = cell.parse().map_err(|_| {
                    bad(format!(
                        "line {line}, column '{}': '{cell}' is not a number; fill or drop \
                         missing values, and encode categories as numbers",
                        feature.name
                    ))
                })?;
                rows.push(value);
            }
            texts.push(record.get(label_at).unwrap_or("").to_string());
        }
        if texts.is_empty() {
            return Err(bad("no data rows after the header".into()));
        }
        let (labels, classes) = class_indices(&texts, schema.classes.as_deref())
            .map_err(|reason| bad(format!("label column '{label_column}': {reason}")))?;
        Ok(Table {
            path: path.to_path_buf(),
            rows,
            width,
            labels,
            classes,
            sha256: String::new(),
        })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.width..(i + 1) * self.width]
    }
}

/// Class indices of label texts: through `classes` when given, else the texts must be the
/// integers 0..K−1 (written `1` or `1.0`).
fn class_indices(
    texts: &[String],
    classes: Option<&[String]>,
) -> std::result::Result<(Vec<usize>, Vec<String>), String> {
    if let Some(classes) = classes {
        let labels = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                classes.iter().position(|c| c == t).ok_or_else(|| {
                    format!(
                        "line {}: '{t}' is not one of the schema's classes [{}]",
                        i + 2,
                        classes.join(", ")
                    )
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok((labels, classes.to_vec()));
    }
    let mut labels = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let value: f64 = t.parse().map_err(|_| {
            format!(
                "line {}: '{t}' is not a class index; list the label texts in the schema as \
                 `classes = [\"…\", …]` (class 0 first)",
                i + 2
            )
        })?;
        if value < 0.0 || value.fract() != 0.0 || value > 1e6 {
            return Err(format!(
                "line {}: '{t}' is not a class index 0, 1, …; list the label texts in the \
                 schema as `classes`",
                i + 2
            ));
        }
        labels.push(value as usize);
    }
    let count = labels.iter().max().map_or(0, |m| m + 1).max(2);
    Ok((labels, (0..count).map(|c| c.to_string()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(classes: &str) -> Schema {
        Schema::parse(
            &format!(
                "{classes}\n[[feature]]\nname = \"b\"\nkind = \"continuous\"\n\
                 [[feature]]\nname = \"a\"\nkind = \"binary\"\n"
            ),
            "s",
        )
        .unwrap()
    }

    #[test]
    fn columns_follow_the_schema_and_labels_map_to_classes() {
        let csv = b"id,a,b,kind\n7,1,0.5,spam\n8, 0 ,2.25,ham\n";
        let s = schema("classes = [\"ham\", \"spam\"]");
        let t = Table::from_csv(csv, Path::new("t.csv"), &s, Some("kind")).unwrap();
        assert_eq!(t.rows, vec![0.5, 1.0, 2.25, 0.0]);
        assert_eq!(t.labels, vec![1, 0]);
        assert_eq!(t.row(1), &[2.25, 0.0]);
        let plain = Table::from_csv(
            b"a,b,y\n1,2,1.0\n0,1,0\n",
            Path::new("t"),
            &schema(""),
            Some("y"),
        )
        .unwrap();
        assert_eq!(plain.labels, vec![1, 0]);
        assert_eq!(plain.classes, vec!["0", "1"]);
    }

    #[test]
    fn problems_say_where_and_what_to_do() {
        let s = schema("");
        let err = |csv: &[u8], label: Option<&str>| {
            Table::from_csv(csv, Path::new("t.csv"), &s, label)
                .unwrap_err()
                .to_string()
        };
        assert!(err(b"a,y\n1,0\n", Some("y")).contains("feature 'b' is not a column"));
        assert!(err(b"a,b,y\n1,,0\n", Some("y")).contains("line 2, column 'b': '' is not a number"));
        assert!(err(b"a,b,y\n1,2,spam\n", Some("y")).contains("`classes = ["));
        assert!(err(b"a,b,y\n1,2,0\n", Some("z")).contains("'z' is not in the CSV header"));
        assert!(err(b"a,b,y\n1,2,0\n", None).contains("--label-column"));
        assert!(err(b"a,b,y\n", Some("y")).contains("no data rows"));
        let with_classes = schema("classes = [\"ham\", \"spam\"]");
        let e = Table::from_csv(
            b"a,b,y\n1,2,eggs\n",
            Path::new("t"),
            &with_classes,
            Some("y"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'eggs' is not one of the schema's classes [ham, spam]"));
    }
}
