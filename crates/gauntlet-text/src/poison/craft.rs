//! Crafting the poison for one attack and one attacker share: attack mails (labelled spam, as
//! the victim labels them) added to the training mail, or training ham relabelled spam.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::dictionary::Dictionary;
use crate::corpus::{Label, Message};
use crate::error::{Error, Result};
use crate::mime::extract_text;
use crate::tokenize::word_tokens;

/// How many attack mails (or label flips) an attacker share of a training set of `training`
/// messages is: `round(share × training)`. The share is of the clean training mail, so the
/// poisoned set holds `k / (training + k)` attack mail, slightly less than `share`.
pub fn attack_count(share: f64, training: usize) -> usize {
    (share * training as f64).round() as usize
}

/// `count` dictionary attack mails (Nelson et al.: identical mails, each the whole word list).
/// They share one allocation.
pub fn dictionary_mails(dictionary: &Dictionary, count: usize, tag: &str) -> Vec<Arc<Message>> {
    let mail = Arc::new(Message {
        id: format!("poison-{tag}"),
        label: Label::Spam,
        text: dictionary.mail_text(),
    });
    vec![mail; count]
}

/// The words of `target` the attacker knows: `round(knowledge × distinct tokens)` of them,
/// drawn at random (at least one).
pub fn guessed_words(target: &Message, knowledge: f64, rng: &mut StdRng) -> Vec<String> {
    let mut words = word_tokens(&extract_text(&target.text));
    words.sort_unstable();
    words.dedup();
    let keep = ((knowledge * words.len() as f64).round() as usize).clamp(1, words.len().max(1));
    words.shuffle(rng);
    words.truncate(keep);
    words.sort_unstable();
    words
}

/// `count` focused attack mails on one target: the guessed words, then the body of a spam
/// message from the attacker's view (`spam`, drawn at random per mail), as Nelson et al.'s
/// focused attack mails carry spam headers. Labelled spam.
pub fn focused_mails(
    guessed: &[String],
    spam: &[&Message],
    count: usize,
    rng: &mut StdRng,
) -> Result<Vec<Arc<Message>>> {
    if spam.is_empty() && count > 0 {
        return Err(Error::invalid(
            "attack",
            "the focused attack needs spam in the training mail to dress its mails as spam",
        ));
    }
    let words = guessed.join(" ");
    Ok((0..count)
        .map(|i| {
            let body = &spam[rng.gen_range(0..spam.len())].text;
            Arc::new(Message {
                id: format!("poison-focused-{i}"),
                label: Label::Spam,
                text: format!("{words}\n\n{body}"),
            })
        })
        .collect())
}

/// Label flipping: `count` distinct indices of `eligible` training ham (indices into the
/// training set) whose label the attacker turns to spam.
pub fn label_flips(eligible_ham: &[usize], count: usize, rng: &mut StdRng) -> Result<Vec<usize>> {
    if count > eligible_ham.len() {
        return Err(Error::invalid(
            "fraction",
            format!(
                "label flipping {count} messages needs that much training ham, but only {} can be flipped; \
                 use a smaller fraction",
                eligible_ham.len()
            ),
        ));
    }
    let mut picked: Vec<usize> = eligible_ham.choose_multiple(rng, count).copied().collect();
    picked.sort_unstable();
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn counts_round_to_the_share_of_the_training_mail() {
        assert_eq!(attack_count(0.01, 4837), 48);
        assert_eq!(attack_count(0.001, 480), 0);
        assert_eq!(attack_count(0.005, 500), 3);
        assert_eq!(attack_count(0.1, 4837), 484);
    }

    #[test]
    fn focused_mails_carry_the_guessed_words_and_spam() {
        let target = Message {
            id: "t".into(),
            label: Label::Ham,
            text: "alpha beta gamma delta epsilon zeta eta theta iota kappa".into(),
        };
        let mut rng = StdRng::seed_from_u64(3);
        let guessed = guessed_words(&target, 0.3, &mut rng);
        assert_eq!(guessed.len(), 3);
        let spam = Message {
            id: "s".into(),
            label: Label::Spam,
            text: "cheap pills now".into(),
        };
        let mails = focused_mails(&guessed, &[&spam], 4, &mut rng).unwrap();
        assert_eq!(mails.len(), 4);
        for m in &mails {
            assert_eq!(m.label, Label::Spam);
            assert!(m.text.contains("cheap pills"));
            for w in &guessed {
                assert!(target.text.contains(w.as_str()) && m.text.contains(w.as_str()));
            }
        }
    }

    #[test]
    fn label_flips_are_distinct_eligible_and_exact() {
        let eligible: Vec<usize> = (0..100).filter(|i| i % 3 == 0).collect();
        let mut rng = StdRng::seed_from_u64(1);
        let f = label_flips(&eligible, 20, &mut rng).unwrap();
        assert_eq!(f.len(), 20);
        assert!(f.windows(2).all(|w| w[0] < w[1]));
        assert!(f.iter().all(|i| i % 3 == 0));
        assert!(label_flips(&eligible, 35, &mut rng).is_err());
    }
}
