//! The poisoning attacks on a spam filter's training mail (Nelson et al. 2008, "Exploiting
//! Machine Learning to Subvert Your Spam Filter"), and label flipping.

use serde::Serialize;

use crate::error::{Error, Result};

/// How the attacker corrupts the training mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoisonAttack {
    /// Attack mails holding a whole English word list, which the victim labels spam: every
    /// word gains spam evidence, so ordinary ham starts to look like spam.
    Dictionary,
    /// The same with the "optimal" dictionary: the ham vocabulary of the attacker's view of
    /// the training mail (every word ham is made of).
    Optimal,
    /// Attack mails aimed at one target ham message: the part of its words the attacker
    /// knows, plus a real spam body (so the mail reads, and is labelled, as spam).
    Focused,
    /// Training ham relabelled spam (the same direction as the other attacks: ham becomes
    /// spam evidence).
    LabelFlip,
}

impl PoisonAttack {
    /// Every attack, in report order.
    pub const ALL: [PoisonAttack; 4] = [
        PoisonAttack::Dictionary,
        PoisonAttack::Optimal,
        PoisonAttack::Focused,
        PoisonAttack::LabelFlip,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            PoisonAttack::Dictionary => "dictionary",
            PoisonAttack::Optimal => "optimal",
            PoisonAttack::Focused => "focused",
            PoisonAttack::LabelFlip => "label-flip",
        }
    }

    /// Parses a comma-separated list (`dictionary,focused`), without repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        parse_names(
            list,
            &Self::ALL,
            Self::name,
            "attack",
            "dictionary,optimal,focused,label-flip",
        )
    }
}

/// What the defender does about poisoned training mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoisonDefense {
    /// Train on everything received.
    None,
    /// Reject On Negative Impact: drop training mail that lowers accuracy on a quiz set.
    Roni,
    /// Dynamic threshold: choose the spam cut-off on a validation share of the training mail.
    Threshold,
}

impl PoisonDefense {
    /// Every defense, in report order.
    pub const ALL: [PoisonDefense; 3] = [
        PoisonDefense::None,
        PoisonDefense::Roni,
        PoisonDefense::Threshold,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            PoisonDefense::None => "none",
            PoisonDefense::Roni => "roni",
            PoisonDefense::Threshold => "threshold",
        }
    }

    /// Parses a comma-separated list (`none,roni`), without repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        parse_names(list, &Self::ALL, Self::name, "defense", "none,roni")
    }
}

/// Parses a comma-separated list of names out of `all`, without repeats; errors name the
/// setting (`field`), the unknown name and the choices.
fn parse_names<T: Copy + PartialEq>(
    list: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    field: &str,
    example: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for given in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let item = all
            .iter()
            .copied()
            .find(|&x| name(x) == given)
            .ok_or_else(|| {
                let choices: Vec<&str> = all.iter().map(|&x| name(x)).collect();
                Error::invalid(
                    field,
                    format!(
                        "unknown {field} {given:?}; choose from {}",
                        choices.join(", ")
                    ),
                )
            })?;
        if !out.contains(&item) {
            out.push(item);
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            field,
            format!("no {field} given; e.g. {example}"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_unknown_names_are_named() {
        assert_eq!(
            PoisonAttack::parse_list("dictionary, label-flip,dictionary").unwrap(),
            vec![PoisonAttack::Dictionary, PoisonAttack::LabelFlip]
        );
        let e = PoisonAttack::parse_list("dictonary")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"dictonary\"") && e.contains("label-flip"),
            "{e}"
        );
        assert_eq!(
            PoisonDefense::parse_list("none,roni,threshold").unwrap(),
            PoisonDefense::ALL.to_vec()
        );
        assert!(PoisonDefense::parse_list("").is_err());
    }
}
