//! Corpus loading, bad input, the split, and the built-in filters' quality.

mod common;

use std::io::Write;

use gauntlet_text::classifier::evaluate;
use gauntlet_text::corpus::{class_counts, load_corpus, parse_corpus, split_by_id, Label};
use gauntlet_text::filters::{LogisticOptions, LogisticRegression, NaiveBayes};
use gauntlet_text::Error;

/// A temporary file ending in `name`, holding `bytes`, removed when dropped.
fn temp_file(name: &str, bytes: &[u8]) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .prefix("gauntlet-text-test-")
        .suffix(name)
        .tempfile()
        .unwrap();
    file.write_all(bytes).unwrap();
    file.into_temp_path()
}

#[test]
fn empty_corpus_is_a_clear_error() {
    let p = temp_file("empty.jsonl", b"");
    let e = load_corpus(&p).unwrap_err();
    assert!(matches!(e, Error::EmptyCorpus { .. }), "{e}");
    assert!(e.to_string().contains("empty"), "{e}");
    let p = temp_file("junk.jsonl", b"not json\n{\"id\": 1}\n");
    let e = load_corpus(&p).unwrap_err();
    assert!(e.to_string().contains("2 lines skipped"), "{e}");
    let e = load_corpus(std::path::Path::new("/nonexistent/corpus.jsonl")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

#[test]
fn bad_lines_become_failure_records_and_the_rest_loads() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"id\": \"a\", \"label\": \"spam\", \"text\": \"free money\"}\n");
    bytes.extend_from_slice(b"{\"id\": \"b\", \"label\": \"ham\", \"text\": \"caf\xe9\"}\n"); // Latin-1 byte: not UTF-8
    bytes.extend_from_slice(b"{\"id\": \"c\", \"label\": \"maybe\", \"text\": \"x\"}\n");
    bytes.extend_from_slice(b"{\"id\": \"d\", \"label\": \"ham\"}\n");
    bytes.extend_from_slice(b"\n");
    bytes.extend_from_slice(b"{\"id\": 5, \"label\": \"HAM\", \"text\": \"see you\"}");
    let c = parse_corpus(&bytes[..]).unwrap();
    assert_eq!(
        c.messages.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["a", "5"]
    );
    assert_eq!(c.messages[1].label, Label::Ham);
    let lines: Vec<usize> = c.failures.iter().map(|f| f.line).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert!(c.failures[0].reason.contains("UTF-8"));
    assert!(c.failures[1].reason.contains("maybe"));
    assert!(c.failures[2].reason.contains("text"));
}

#[test]
fn split_is_deterministic_disjoint_and_about_80_20() {
    let (train, test) = common::demo_split();
    let (train2, test2) = common::demo_split();
    assert_eq!(train, train2);
    assert_eq!(test, test2);
    assert!(train.iter().all(|m| !test.iter().any(|t| t.id == m.id)));
    let frac = train.len() as f64 / (train.len() + test.len()) as f64;
    assert!((0.7..0.9).contains(&frac), "train fraction {frac}");
    let (ham, spam) = class_counts(&test);
    assert!(ham > 0 && spam > 0);
}

#[test]
fn training_needs_both_classes() {
    let (train, _) = common::demo_split();
    let only_spam: Vec<_> = train.into_iter().filter(|m| m.label.is_spam()).collect();
    assert!(matches!(
        NaiveBayes::train("nb", &only_spam),
        Err(Error::Training { .. })
    ));
    assert!(LogisticRegression::train("lr", &[], LogisticOptions::default()).is_err());
}

#[test]
fn builtin_filters_learn_the_demo_subset() {
    let (train, test) = common::demo_split();
    let nb = NaiveBayes::train("nb", &train).unwrap();
    let lr = LogisticRegression::train("lr", &train, LogisticOptions::default()).unwrap();
    for (m, _) in [evaluate(&nb, &test, 32), evaluate(&lr, &test, 32)] {
        eprintln!(
            "demo {}: accuracy {:.3} precision {:.3} recall {:.3} f1 {:.3}",
            m.filter, m.accuracy, m.precision, m.recall, m.f1
        );
        assert_eq!(m.n, test.len());
        assert!(m.accuracy >= 0.9, "{m:?}");
    }
}

#[test]
fn builtin_filters_reach_95_percent_on_the_full_corpus() {
    let Some(messages) = common::full_corpus() else {
        return;
    };
    let (train, test) = split_by_id(&messages, 0.8);
    let nb = NaiveBayes::train("nb", &train).unwrap();
    let lr = LogisticRegression::train("lr", &train, LogisticOptions::default()).unwrap();
    for (m, _) in [evaluate(&nb, &test, 64), evaluate(&lr, &test, 64)] {
        eprintln!(
            "full {}: accuracy {:.4} precision {:.4} recall {:.4} f1 {:.4}",
            m.filter, m.accuracy, m.precision, m.recall, m.f1
        );
        assert!(m.accuracy >= 0.95, "{m:?}");
    }
}
