//! Attack properties on the shipped demo subset: every result stays within its
//! budget, claimed successes are confirmed by a fresh query, and results are
//! reproducible for a seed.

mod common;

use gauntlet_text::attacks::goodword::frequent_words;
use gauntlet_text::attacks::{apply_edits, build_attack, AttackKind, AttackResult, EditKind};
use gauntlet_text::classifier::Oracle;
use gauntlet_text::normalize::{NormalizeSteps, Normalizer};
use gauntlet_text::tokenize::{levenshtein, word_count};
use gauntlet_text::{Budget, Classifier};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn run(
    kind: AttackKind,
    clf: &dyn Classifier,
    text: &str,
    budget: &Budget,
    decision_only: bool,
    seed: u64,
) -> (AttackResult, u64) {
    let (train, _) = common::demo_split();
    let mut attack = build_attack(kind, &frequent_words(&train, 300));
    let mut rng = StdRng::seed_from_u64(seed);
    attack
        .prepare(&Oracle::new(clf, decision_only, None), &mut rng)
        .unwrap();
    let oracle = Oracle::new(clf, decision_only, budget.max_queries());
    let r = attack.attack(text, &oracle, budget, &mut rng).unwrap();
    (r, oracle.queries())
}

#[test]
fn every_attack_keeps_random_budgets_and_successes_are_real() {
    let (nb, spam) = common::demo_nb_and_detected_spam();
    assert!(spam.len() >= 8, "demo split should have detected spam");
    let mut rng = StdRng::seed_from_u64(42);
    let mut successes = 0;
    let mut cases = 0;
    for kind in AttackKind::ALL {
        for decision_only in [false, true] {
            for (_, text) in spam.iter().take(6) {
                let budget = Budget::new(
                    rng.gen_range(1..40) as f64,
                    rng.gen_range(0.02..0.5),
                    rng.gen_range(1..200) as f64,
                    if rng.gen_bool(0.3) {
                        Some(rng.gen_range(1..300) as f64)
                    } else {
                        None
                    },
                )
                .unwrap();
                let (r, queries) = run(kind, &nb, text, &budget, decision_only, rng.gen());
                cases += 1;
                let n_words = word_count(text);
                // Budget, checked independently of the attack's own accounting.
                assert!(
                    r.edits.len() <= budget.allowed_edits(n_words),
                    "{kind} edits {} > allowed",
                    r.edits.len()
                );
                assert!(
                    (r.edits.len() as f64) <= budget.max_word_fraction() * n_words as f64 + 1e-9
                );
                assert_eq!(
                    apply_edits(text, &r.edits),
                    r.adversarial,
                    "{kind}: edits do not reproduce the text"
                );
                let lev = levenshtein(text, &r.adversarial);
                assert!(
                    lev <= budget.max_levenshtein(),
                    "{kind}: Levenshtein {lev} > {}",
                    budget.max_levenshtein()
                );
                assert!(lev <= r.edits.iter().map(|e| e.cost).sum::<usize>());
                if let Some(q) = budget.max_queries() {
                    assert!(queries <= q, "{kind}: {queries} queries > limit {q}");
                }
                // A claimed success must hold up on a fresh query of the target.
                let fresh = nb.scores(std::slice::from_ref(&r.adversarial)).unwrap()[0];
                assert_eq!(
                    r.success,
                    fresh < 0.5,
                    "{kind} decision_only={decision_only}: claimed {} but fresh score {fresh}",
                    r.success
                );
                if r.success {
                    successes += 1;
                    assert!(!r.edits.is_empty());
                }
            }
        }
    }
    eprintln!("{successes}/{cases} random-budget attacks evaded the demo NB filter");
    assert!(
        successes > 0,
        "no attack ever succeeded: the property checks above never saw a success"
    );
}

#[test]
fn attacks_are_reproducible_for_a_seed() {
    let (nb, spam) = common::demo_nb_and_detected_spam();
    let budget = Budget::new(20.0, 0.3, 100.0, None).unwrap();
    for kind in AttackKind::ALL {
        for decision_only in [false, true] {
            for (_, text) in spam.iter().take(3) {
                let a = run(kind, &nb, text, &budget, decision_only, 7);
                let b = run(kind, &nb, text, &budget, decision_only, 7);
                assert_eq!(a, b, "{kind} is not deterministic for a fixed seed");
            }
        }
    }
}

#[test]
fn decision_only_oracle_reveals_labels_only() {
    let (nb, spam) = common::demo_nb_and_detected_spam();
    let texts: Vec<String> = spam
        .iter()
        .take(5)
        .map(|(_, t)| t.clone())
        .chain(["hello, lunch tomorrow?".to_string()])
        .collect();
    let o = Oracle::new(&nb, true, None);
    let s = o.query(&texts).unwrap();
    assert!(s.iter().all(|&x| x == 0.0 || x == 1.0), "{s:?}");
    assert_eq!(o.queries(), texts.len() as u64);
    let limited = Oracle::new(&nb, false, Some(3));
    assert!(limited.query(&texts).is_err());
    assert_eq!(limited.queries(), 0);
}

#[test]
fn character_attacks_use_their_own_tricks() {
    let (nb, spam) = common::demo_nb_and_detected_spam();
    let budget = Budget::new(50.0, 0.5, 200.0, None).unwrap();
    let allowed = |kind: AttackKind, e: EditKind| match kind {
        AttackKind::DeepWordBug => matches!(
            e,
            EditKind::Swap | EditKind::Delete | EditKind::Insert | EditKind::KeyboardSub
        ),
        AttackKind::Homoglyph => matches!(
            e,
            EditKind::Homoglyph | EditKind::FullWidth | EditKind::ZeroWidth
        ),
        AttackKind::Leet => matches!(e, EditKind::Leet | EditKind::Spacing),
        AttackKind::GoodWord => e == EditKind::Append,
    };
    for kind in AttackKind::ALL {
        for (_, text) in spam.iter().take(4) {
            let (r, _) = run(kind, &nb, text, &budget, false, 1);
            assert!(
                r.edits.iter().all(|e| allowed(kind, e.kind)),
                "{kind}: {:?}",
                r.edits
            );
        }
    }
}

#[test]
fn normalization_undoes_homoglyph_and_leet_edits() {
    let (train, _) = common::demo_split();
    let (nb, spam) = common::demo_nb_and_detected_spam();
    let norm = Normalizer::from_training(
        &train,
        NormalizeSteps {
            spell: false,
            ..Default::default()
        },
    );
    let budget = Budget::new(50.0, 0.5, 300.0, None).unwrap();
    let mut checked = 0;
    for kind in [AttackKind::Homoglyph, AttackKind::Leet] {
        for (_, text) in spam.iter().take(6) {
            let (r, _) = run(kind, &nb, text, &budget, false, 3);
            for e in &r.edits {
                // One-letter leet is ambiguous for '1' (i or l), and de-leeting
                // also rewrites digits the original word had ("1Arm"), so
                // words with digits are skipped and the rest compared case-folded.
                let fixed = norm.normalize(&e.replacement).to_lowercase();
                if e.original.chars().any(|c| c.is_ascii_digit()) {
                    continue;
                }
                let want = e.original.to_lowercase();
                if kind == AttackKind::Leet && fixed != want {
                    // i/l ambiguity without a vocabulary hit is the only allowed miss.
                    assert_eq!(fixed.replace('l', "i"), want.replace('l', "i"), "{e:?}");
                } else {
                    assert_eq!(fixed, want, "{e:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
}

/// A filter whose log-odds is a weighted word count: "offer" +4, "money" +2, and
/// the typo "mondy" (e → d, a keyboard neighbour) happens to be a strong ham word.
struct WeightedWords;

impl Classifier for WeightedWords {
    fn name(&self) -> String {
        "weighted-words".into()
    }
    fn scores(&self, texts: &[String]) -> gauntlet_text::Result<Vec<f64>> {
        Ok(texts
            .iter()
            .map(|t| {
                let z: f64 = gauntlet_text::tokenize::word_tokens(t)
                    .iter()
                    .map(|w| match w.as_str() {
                        "offer" => 4.0,
                        "money" => 2.0,
                        "mondy" => -10.0,
                        _ => 0.0,
                    })
                    .sum();
                1.0 / (1.0 + (-z).exp())
            })
            .collect())
    }
}

#[test]
fn deepwordbug_edits_the_word_whose_typo_helps_most_not_the_most_important_word() {
    // One edit allowed. Removing "offer" matters most (4 > 2) but cannot evade
    // (z = 2); only the typo money → mondy does (z = 4 + 0 - 10 < 0).
    let text = "offer money please now";
    let budget = Budget::new(5.0, 0.25, 10.0, None).unwrap();
    let (r, _) = run(
        AttackKind::DeepWordBug,
        &WeightedWords,
        text,
        &budget,
        false,
        0,
    );
    assert!(r.success, "{r:?}");
    assert_eq!(r.adversarial, "offer mondy please now");
    assert_eq!(r.edits.len(), 1);
}
