//! Poisoning the built-in spam filters' training mail, measuring the damage, and defending
//! (Nelson et al. 2008, "Exploiting Machine Learning to Subvert Your Spam Filter").
//!
//! * [`attack`]: the attacks (dictionary, optimal dictionary, focused, label flipping) and
//!   the defenses, by name.
//! * [`dictionary`]: the attack's word list (embedded `wamerican`, a file, or the training
//!   ham vocabulary).
//! * [`craft`]: the attack mails and label flips for one attacker share.
//! * [`learner`]: retraining `NaiveBayes` / `SpamBayes` / `LogisticRegression` on pre-encoded mail with the
//!   filters' own arithmetic.
//! * [`roni`]: Reject On Negative Impact; [`threshold`]: the dynamic threshold.
//! * [`config`]: the settings; [`experiment`]: the study as a library call ([`PoisonConfig`]
//!   → `validate` → [`PoisonStudy::run`]);
//!   [`report`]: `report.{json,md,html}`.

pub mod attack;
pub mod config;
pub mod craft;
pub mod dictionary;
pub mod experiment;
pub mod learner;
pub mod report;
pub mod roni;
pub mod threshold;

pub use attack::{PoisonAttack, PoisonDefense};
pub use config::{PoisonConfig, DEFAULT_FRACTIONS};
pub use experiment::PoisonStudy;
pub use report::{PoisonReport, PoisonRow};
