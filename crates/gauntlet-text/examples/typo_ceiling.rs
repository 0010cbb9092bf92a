//! White-box upper bound on what any one-typo-per-word attack can achieve
//! against the built-in Naive Bayes filter.
//!
//! The filter's log-odds is a sum over tokens, and a typo inside a word changes
//! exactly that word's token. So for a message with `k` words allowed, the most
//! any attack touching `k` words with one typo each can lower the log-odds is
//! the sum of the `k` largest per-word gains `llr(word) - min over typos
//! llr(typo)` (an unknown token counts 0). A message is evadable only if that
//! sum exceeds its log-odds. This reads the model (the attacks never do); it
//! tells how far the black-box attack is from the best possible one, and
//! whether a target success rate is reachable at all.
//!
//! ```sh
//! cargo run --release -p gauntlet-text --example typo_ceiling -- \
//!     ../shared/data/spamassassin/spamassassin.jsonl.gz 200
//! ```
//! Arguments: corpus path, how many detected held-out spam (in the audit's
//! order, by id hash), optional train fraction (0.8).

use gauntlet_text::attacks::{DeepWordBug, WordTransform};
use gauntlet_text::corpus::{id_hash_unit, load_corpus, split_by_id};
use gauntlet_text::filters::NaiveBayes;
use gauntlet_text::mime::extract_text;
use gauntlet_text::tokenize::{single_edits, word_count, word_spans};
use rand::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: typo_ceiling CORPUS [N_SPAM] [TRAIN_FRACTION]")?;
    let n_spam: usize = args.get(1).map_or(Ok(200), |s| s.parse())?;
    let train_fraction: f64 = args.get(2).map_or(Ok(0.8), |s| s.parse())?;
    let corpus = load_corpus(std::path::Path::new(path))?;
    let (train, test) = split_by_id(&corpus.messages, train_fraction);
    let nb = NaiveBayes::train("naive-bayes", &train)?;
    let mut spam: Vec<_> = test.iter().filter(|m| m.label.is_spam()).collect();
    spam.sort_by(|a, b| id_hash_unit(&a.id).total_cmp(&id_hash_unit(&b.id)));

    let llr = |token: &str| -> f64 {
        let n = token.chars().count();
        if (2..=40).contains(&n) {
            nb.word_llr(&token.to_lowercase()).unwrap_or(0.0)
        } else {
            0.0
        }
    };
    let fractions = [0.05, 0.10, 0.20, 0.30, 0.50];
    let bounds = [
        "removal only (typo → unknown word)",
        "DeepWordBug's typos (gauntlet's candidate set)",
        "any single edit, any letter, any position",
    ];
    let mut evadable = vec![[0usize; 5]; bounds.len()];
    let mut detected = 0;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for m in spam {
        let text = extract_text(&m.text);
        let (z, _) = nb.log_odds(&text);
        if z < 0.0 {
            continue; // the filter already misses it; the audit attacks detected spam only
        }
        detected += 1;
        if detected > n_spam {
            detected -= 1;
            break;
        }
        let n_words = word_count(&text);
        let mut gains: Vec<Vec<f64>> = vec![Vec::new(); bounds.len()];
        for (s, e) in word_spans(&text) {
            let word = &text[s..e];
            if !DeepWordBug.applies(word) {
                continue;
            }
            let cur = llr(word);
            let best = |cands: &mut dyn Iterator<Item = String>| {
                cands.map(|c| llr(&c)).fold(0f64, f64::min)
            };
            gains[0].push(cur);
            gains[1].push(
                cur - best(
                    &mut DeepWordBug
                        .candidates(word, &mut rng)
                        .into_iter()
                        .map(|(c, _)| c),
                ),
            );
            gains[2].push(cur - best(&mut single_edits(&word.to_lowercase()).into_iter()));
        }
        for (b, g) in gains.iter_mut().enumerate() {
            g.sort_by(|a, b| b.total_cmp(a));
            for (f, &fraction) in fractions.iter().enumerate() {
                let k = (fraction * n_words as f64 + 1e-9).floor() as usize;
                if z - g.iter().take(k).filter(|&&x| x > 0.0).sum::<f64>() < 0.0 {
                    evadable[b][f] += 1;
                }
            }
        }
    }
    println!("Upper bound on one-typo-per-word evasion of the built-in Naive Bayes filter");
    println!("({detected} detected held-out spam of {path}, train fraction {train_fraction}):\n");
    print!("| typos allowed |");
    for f in fractions {
        print!(" ≤ {:.0} % of words |", f * 100.0);
    }
    println!("\n|---|{}", "---|".repeat(fractions.len()));
    for (b, name) in bounds.iter().enumerate() {
        print!("| {name} |");
        for count in evadable[b] {
            print!(" {:.1} % |", 100.0 * count as f64 / detected.max(1) as f64);
        }
        println!();
    }
    Ok(())
}
