//! Spam poisoning (`gauntlet_text::poison`) on the shipped demo corpus: the attack mails are
//! what the attack says, the retraining entry point scores exactly as the built-in filters,
//! the dictionary attack hurts ham (SpamBayes) or spam detection (Naive Bayes), RONI finds the
//! dictionary mails, and the study is reproducible from its seed.

use gauntlet_text::corpus::{demo_corpus_path, Label};
use gauntlet_text::filters::{LogisticOptions, LogisticRegression, NaiveBayes, SpamBayes};
use gauntlet_text::poison::craft::{attack_count, dictionary_mails};
use gauntlet_text::poison::dictionary::Dictionary;
use gauntlet_text::poison::learner::{FilterKind, Learner, Row};
use gauntlet_text::poison::{PoisonConfig, PoisonReport, PoisonRow};
use gauntlet_text::Classifier;

mod common;
use common::demo_split;

fn study(attacks: &str, fractions: &[f64], defenses: &str) -> PoisonReport {
    study_of("nb", attacks, fractions, defenses)
}

fn study_of(filter: &str, attacks: &str, fractions: &[f64], defenses: &str) -> PoisonReport {
    let mut c = PoisonConfig::new(demo_corpus_path());
    c.filter = filter.into();
    c.attacks = attacks.into();
    c.fractions = fractions.to_vec();
    c.defenses = defenses.into();
    // The demo's 480 training messages: a quarter trusted gives RONI its 71 (20 + 50 + 1).
    c.trusted_fraction = 0.25;
    c.targets = 4;
    c.validate().unwrap().run(&gauntlet_run::Silent).unwrap()
}

fn row<'a>(r: &'a PoisonReport, attack: &str, fraction: f64, defense: &str) -> &'a PoisonRow {
    r.rows
        .iter()
        .find(|x| x.attack == attack && x.fraction == fraction && x.defense == defense)
        .unwrap()
}

#[test]
fn dictionary_mails_are_spam_and_number_round_share_times_training() {
    let (train, _) = demo_split();
    let dict = Dictionary::wamerican().unwrap();
    for share in [0.001, 0.005, 0.01, 0.05, 0.1] {
        let k = attack_count(share, train.len());
        assert_eq!(k, (share * train.len() as f64).round() as usize);
        let mails = dictionary_mails(&dict, k, "dictionary");
        assert_eq!(mails.len(), k);
        for m in &mails {
            assert_eq!(m.label, Label::Spam);
            assert!(m.text.contains("\nzebra\n"));
        }
    }
    let r = study("dictionary,label-flip", &[0.01, 0.1], "none");
    let n = r.corpus.train_ham + r.corpus.train_spam;
    for x in &r.rows {
        assert_eq!(x.attack_mails, (x.fraction * n as f64).round() as usize);
    }
}

#[test]
fn retraining_scores_exactly_as_the_built_in_filters() {
    let (train, test) = demo_split();
    let texts: Vec<&str> = train.iter().chain(&test).map(|m| m.text.as_str()).collect();
    for kind in [FilterKind::Nb, FilterKind::Lr, FilterKind::SpamBayes] {
        let mut learner = Learner::new(kind);
        let x = learner.encode(&texts);
        let rows: Vec<Row> = train
            .iter()
            .zip(&x)
            .map(|(m, x)| Row {
                x,
                spam: m.label.is_spam(),
            })
            .collect();
        let fitted = learner.fit(&rows).unwrap();
        let held: Vec<String> = test.iter().map(|m| m.text.clone()).collect();
        let want = match kind {
            FilterKind::Nb => NaiveBayes::train("nb", &train).unwrap().scores(&held),
            FilterKind::SpamBayes => SpamBayes::train("sb", &train).unwrap().scores(&held),
            FilterKind::Lr => LogisticRegression::train("lr", &train, LogisticOptions::default())
                .unwrap()
                .scores(&held),
        }
        .unwrap();
        for (k, w) in want.iter().enumerate() {
            let got = fitted.score(&x[train.len() + k]);
            assert!((got - w).abs() < 1e-6, "{kind:?} message {k}: {got} vs {w}");
        }
        // The small-fit path (RONI's) agrees with a full fit on the same rows.
        let few = &rows[..30];
        let quiz = &rows[100..160];
        let full = learner.fit(few).unwrap();
        let (ham_cutoff, spam_cutoff) = kind.cutoffs();
        let expected = quiz
            .iter()
            .filter(|q| {
                let s = full.score(q.x);
                if q.spam {
                    s >= spam_cutoff
                } else {
                    s < ham_cutoff
                }
            })
            .count();
        let mut scratch = learner.scratch();
        assert_eq!(learner.correct_on(&mut scratch, few, quiz), expected);
        assert_eq!(
            learner.correct_on(&mut scratch, few, quiz),
            expected,
            "scratch is reset"
        );
    }
}

/// The dictionary attack wrecks the built-in (multinomial) Naive Bayes, but not the way it
/// wrecks SpamBayes: each attack mail adds tens of thousands of tokens to the spam class's
/// token total, so every word's P(w | spam) is diluted and everything, spam included, looks
/// like ham. Held-out spam missed rises with the attacker's share (and held-out ham
/// misclassified does not; docs/poisoning-spam.md has the full-corpus curve).
#[test]
fn dictionary_attack_makes_naive_bayes_miss_spam_as_the_share_grows() {
    let shares = [0.005, 0.01, 0.05, 0.1];
    let r = study("dictionary", &shares, "none");
    let clean = &r.clean[0];
    let missed: Vec<f64> = shares
        .iter()
        .map(|&f| row(&r, "dictionary", f, "none").spam_missed)
        .collect();
    assert!(
        missed[0] > clean.spam_missed + 0.3 && missed[3] > 0.9,
        "spam missed {missed:?} vs clean {}",
        clean.spam_missed
    );
    for w in missed.windows(2) {
        assert!(w[1] >= w[0] - 0.02, "not monotone: {missed:?}");
    }
    for &f in &shares {
        assert!(
            row(&r, "dictionary", f, "none").ham_misclassified <= clean.ham_misclassified + 0.02
        );
    }
}

/// RONI judges each mail against small trusted samples; the dictionary mails' impact is
/// negative far more often than clean mail's (not always: see the docs), and the clean mail it
/// rejects stays near the calibration quantile.
#[test]
fn roni_rejects_dictionary_mail_far_more_often_than_clean_mail() {
    let r = study("dictionary", &[0.1], "none,roni");
    let x = row(&r, "dictionary", 0.1, "roni");
    let (attack, clean) = (x.attack_flagged.unwrap(), x.clean_flagged.unwrap());
    assert!(x.attack_mails > 40);
    assert!(clean <= 0.05, "clean flagged {clean}");
    assert!(
        attack >= 0.15 && attack >= 5.0 * clean,
        "attack flagged {attack} vs clean {clean}"
    );
    let baseline = r.clean.iter().find(|c| c.defense == "roni").unwrap();
    assert_eq!(
        baseline.clean_flagged,
        Some(clean),
        "clean mail is judged once, the same way"
    );
}

#[test]
fn the_study_is_reproducible_from_its_seed() {
    let strip = |r: &PoisonReport| -> Vec<String> {
        r.rows
            .iter()
            .map(|x| {
                let mut v = serde_json::to_value(x).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                v.to_string()
            })
            .collect()
    };
    let a = study("focused,label-flip", &[0.02], "none,threshold");
    let b = study("focused,label-flip", &[0.02], "none,threshold");
    assert_eq!(strip(&a), strip(&b));
    let f = row(&a, "focused", 0.02, "none");
    assert_eq!(f.targets, Some(4));
    assert!(f.focused_success.is_some());
}

#[test]
fn bad_settings_are_named() {
    let mut c = PoisonConfig::new(demo_corpus_path());
    c.fractions = vec![0.6];
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("fraction") && e.contains("(0, 0.5]"), "{e}");
    c.fractions = vec![0.01];
    c.attacks = "dictionary,nope".into();
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("\"nope\""), "{e}");
    c.attacks = "label-flip".into();
    c.filter = "svm".into();
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("nb, lr or spambayes"));
}

/// SpamBayes counts a word once per message, so a word seen only in spam is spam evidence
/// (f > 0.5) however often it is repeated, and repeating it changes nothing.
#[test]
fn spambayes_counts_presence_and_spam_only_words_lean_spam() {
    let (train, _) = demo_split();
    let base = SpamBayes::train("sb", &train).unwrap();
    assert_eq!(base.word_prob("zzqxspamonly"), 0.5, "unknown word");
    let with = |text: &str| {
        let mut t = train.clone();
        t.push(gauntlet_text::corpus::Message {
            id: "extra".into(),
            label: Label::Spam,
            text: text.into(),
        });
        SpamBayes::train("sb", &t).unwrap()
    };
    let once = with("zzqxspamonly offer");
    let many = with(&"zzqxspamonly ".repeat(50));
    assert!(once.word_prob("zzqxspamonly") > 0.5);
    assert_eq!(
        once.word_prob("zzqxspamonly"),
        many.word_prob("zzqxspamonly")
    );
    // Scoring counts presence too: repeating a ham's words does not change its score.
    let ham = train.iter().find(|m| m.label == Label::Ham).unwrap();
    let doubled = format!("{}\n{}", ham.text, ham.text);
    assert!((base.score(&ham.text) - base.score(&doubled)).abs() < 1e-12);
}

/// On SpamBayes the dictionary attack does what Nelson et al. saw: every dictionary word
/// becomes "seen in some spam", so ordinary ham is pulled out of the ham band (unsure or
/// spam), more as the share grows.
#[test]
fn dictionary_attack_makes_spambayes_misclassify_ham() {
    let shares = [0.01, 0.05];
    let r = study_of("spambayes", "dictionary", &shares, "none");
    let clean = &r.clean[0];
    let ham: Vec<f64> = shares
        .iter()
        .map(|&f| row(&r, "dictionary", f, "none").ham_misclassified)
        .collect();
    assert!(
        ham[0] > clean.ham_misclassified + 0.1 && ham[1] >= ham[0],
        "ham misclassified {ham:?} vs clean {}",
        clean.ham_misclassified
    );
    for &f in &shares {
        let x = row(&r, "dictionary", f, "none");
        assert!(x.ham_as_spam <= x.ham_misclassified);
    }
}

/// RONI on SpamBayes: one dictionary mail in a small training sample makes the quiz ham's
/// words spam-leaning, a consistent negative impact, so the dictionary mails are rejected
/// (and few clean ones).
#[test]
fn roni_flags_dictionary_mail_on_spambayes() {
    let r = study_of("spambayes", "dictionary", &[0.05], "none,roni");
    let x = row(&r, "dictionary", 0.05, "roni");
    let (attack, clean) = (x.attack_flagged.unwrap(), x.clean_flagged.unwrap());
    assert!(x.attack_mails >= 20);
    assert!(clean <= 0.05, "clean flagged {clean}");
    assert!(attack >= 0.9, "attack flagged {attack} vs clean {clean}");
    let none = row(&r, "dictionary", 0.05, "none");
    assert!(x.ham_misclassified < none.ham_misclassified);
}
