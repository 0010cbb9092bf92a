//! Shared test helpers.
#![allow(dead_code)]

use gauntlet_text::corpus::{
    demo_corpus_path, full_corpus_path, load_corpus, split_by_id, Message,
};
use gauntlet_text::filters::NaiveBayes;
use gauntlet_text::mime::extract_text;
use gauntlet_text::Classifier;

/// Demo subset split 80/20.
pub fn demo_split() -> (Vec<Message>, Vec<Message>) {
    let c = load_corpus(&demo_corpus_path()).expect("shipped demo corpus loads");
    split_by_id(&c.messages, 0.8)
}

/// The full corpus, or `None` (with a printed message) when ../shared is absent.
pub fn full_corpus() -> Option<Vec<Message>> {
    let p = full_corpus_path();
    if !p.exists() {
        eprintln!(
            "SKIP: full SpamAssassin corpus not found at {} (only CI has ../shared)",
            p.display()
        );
        return None;
    }
    Some(load_corpus(&p).expect("full corpus loads").messages)
}

/// NB trained on the demo train split, plus the extracted texts of held-out
/// spam it detects.
pub fn demo_nb_and_detected_spam() -> (NaiveBayes, Vec<(String, String)>) {
    let (train, test) = demo_split();
    let nb = NaiveBayes::train("nb", &train).unwrap();
    let spam: Vec<(String, String)> = test
        .iter()
        .filter(|m| m.label.is_spam())
        .map(|m| (m.id.clone(), extract_text(&m.text)))
        .filter(|(_, t)| nb.scores(std::slice::from_ref(t)).unwrap()[0] >= 0.5)
        .collect();
    (nb, spam)
}

/// python3 if available (CI has it), else `None` with a printed message.
pub fn python3() -> Option<String> {
    match std::process::Command::new("python3")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => Some("python3".to_string()),
        _ => {
            eprintln!("SKIP: python3 not found on PATH");
            None
        }
    }
}

/// Path of a test fixture.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}
