//! The poisoning study as a library call: load the corpus, split it, and for every attack,
//! attacker share and defense retrain the built-in filter on the clean training mail plus the
//! poison, then measure on held-out mail. [`PoisonConfig`] (in [`super::config`]) holds the
//! settings (one per `gauntlet text-poison` flag), [`PoisonConfig::validate`] checks them into
//! a [`PoisonStudy`], and [`PoisonStudy::run`] returns the [`PoisonReport`].
//!
//! How decisions are counted: NB and LR give a spam score and call it spam at ≥ 0.5
//! (`Label::from_score`), so "ham misclassified" is held-out ham scored ≥ the cut-off (0.5, or
//! the dynamic threshold's) and "spam missed" is held-out spam below it. SpamBayes, which
//! Nelson et al. attacked, has a third verdict, "unsure" (scores in [0.20, 0.90)), and their
//! 36 % counts ham classified unsure *or* spam: for `spambayes`, `ham_misclassified` is that
//! count (ham at or above the ham cut-off), `ham_as_spam` the strict one (ham at or above the
//! spam cut-off), and "spam missed" is spam below the spam cut-off (unsure or ham). For NB and
//! LR the two ham counts coincide. The dynamic threshold picks one cut-off for every filter.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use gauntlet_run::Progress;

use super::attack::{PoisonAttack, PoisonDefense};
use super::config::PoisonConfig;
use super::craft::{attack_count, dictionary_mails, focused_mails, guessed_words, label_flips};
use super::dictionary::Dictionary;
use super::learner::{Features, FilterKind, Fitted, Learner, Row};
use super::report::{CleanRow, CorpusInfo, DictionaryInfo, PoisonReport, PoisonRow};
use super::roni::{rejected, Candidate, Roni};
use super::threshold::dynamic_threshold;
use crate::corpus::{class_counts, load_corpus, split_by_id, Message};
use crate::error::{Error, Result};

impl PoisonConfig {
    /// Checks every setting that can be checked without reading the corpus.
    pub fn validate(&self) -> Result<PoisonStudy> {
        let kind = FilterKind::parse(&self.filter)?;
        let attacks = PoisonAttack::parse_list(&self.attacks)?;
        let defenses = PoisonDefense::parse_list(&self.defenses)?;
        if self.fractions.is_empty() {
            return Err(Error::invalid(
                "fraction",
                "no attacker share given; e.g. 0.01 for 1 % of the training mail",
            ));
        }
        for &f in &self.fractions {
            if !(f.is_finite() && f > 0.0 && f <= 0.5) {
                return Err(Error::invalid(
                    "fraction",
                    format!("{f} is outside (0, 0.5]; it is the attacker's share of the training mail, e.g. 0.01 for 1 %"),
                ));
            }
        }
        let unit = |name: &str, v: f64, hi_closed: bool| {
            let ok = v.is_finite() && v > 0.0 && (v < 1.0 || (hi_closed && v == 1.0));
            if ok {
                Ok(())
            } else {
                Err(Error::invalid(
                    name,
                    format!("{v} must be in (0, 1{}", if hi_closed { "]" } else { ")" }),
                ))
            }
        };
        unit("train_fraction", self.train_fraction, false)?;
        unit("knowledge", self.knowledge, true)?;
        unit("trusted_fraction", self.trusted_fraction, false)?;
        unit("validation_fraction", self.validation_fraction, false)?;
        if attacks.contains(&PoisonAttack::Focused) && self.targets == 0 {
            return Err(Error::invalid(
                "targets",
                "the focused attack needs at least 1 target",
            ));
        }
        if !self.corpus.exists() {
            return Err(Error::Io {
                path: self.corpus.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let dictionary = if attacks.contains(&PoisonAttack::Dictionary) {
            Some(match &self.dictionary {
                Some(path) => Dictionary::from_file(path)?,
                None => Dictionary::wamerican()?,
            })
        } else {
            None
        };
        let mut fractions = self.fractions.clone();
        fractions.sort_by(f64::total_cmp);
        fractions.dedup();
        Ok(PoisonStudy {
            config: self.clone(),
            kind,
            attacks,
            defenses,
            fractions,
            dictionary,
        })
    }
}

/// A checked study, ready to run.
#[derive(Debug)]
pub struct PoisonStudy {
    config: PoisonConfig,
    kind: FilterKind,
    attacks: Vec<PoisonAttack>,
    defenses: Vec<PoisonDefense>,
    fractions: Vec<f64>,
    dictionary: Option<Dictionary>,
}

/// A seeded generator per purpose and key, independent of run order.
fn rng_for(seed: u64, purpose: u64, key: u64) -> StdRng {
    StdRng::seed_from_u64(unit_hash(seed, purpose, key))
}

fn unit_hash(seed: u64, purpose: u64, key: u64) -> u64 {
    // splitmix64 over the three parts.
    let mut z = seed
        ^ purpose.wrapping_mul(0xD6E8_FEB8_6659_FD93)
        ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const TRUSTED: u64 = 1;
const VALIDATION: u64 = 2;
const TARGETS: u64 = 3;
const GUESS: u64 = 4;
const FOCUSED: u64 = 5;
const FLIPS: u64 = 6;
/// Keys of attack mails in RONI and the validation split start here (training indices below).
const ATTACK_KEYS: u64 = 1 << 40;

/// The training mail of one scenario as the defender receives it.
struct Received<'a> {
    rows: Vec<Row<'a>>,
    /// Per row: poison (an attack mail or a flipped label).
    poison: Vec<bool>,
    /// Per row: the key seeding its RONI samples and validation draw.
    keys: Vec<u64>,
}

/// What a defense produced.
struct Defended {
    fitted: Fitted,
    /// The ham cut-off (scores at or above it are not ham).
    ham_threshold: f64,
    /// The spam cut-off.
    threshold: f64,
    attack_flagged: Option<f64>,
    clean_flagged: Option<f64>,
}

/// One scenario's measurements.
#[derive(Default, Clone)]
struct Measured {
    ham_misclassified: f64,
    ham_as_spam: f64,
    spam_missed: f64,
    attack_flagged: Option<f64>,
    clean_flagged: Option<f64>,
    threshold: f64,
    target_hit: Option<bool>,
}

/// Everything fixed across scenarios.
struct Setting<'a> {
    train: &'a [Message],
    train_x: &'a [Features],
    test_spam: Vec<bool>,
    test_x: &'a [Features],
    trusted: Vec<bool>,
    /// RONI impacts of the clean training mail (trusted: calibration), when RONI runs.
    clean_impacts: Option<Vec<f64>>,
    roni_threshold: f64,
}

impl PoisonStudy {
    /// Runs every (attack, share, defense) and the clean baselines.
    pub fn run(&self, progress: &dyn Progress) -> Result<PoisonReport> {
        let started = Instant::now();
        let c = &self.config;
        let corpus = load_corpus(&c.corpus)?;
        let (train, test) = split_by_id(&corpus.messages, c.train_fraction);
        for (split, msgs) in [("train", &train), ("test", &test)] {
            let (ham, spam) = class_counts(msgs);
            for (n, label) in [(ham, "ham"), (spam, "spam")] {
                if n == 0 {
                    return Err(Error::MissingClass {
                        what: "poisoning".into(),
                        split: split.into(),
                        label: label.into(),
                    });
                }
            }
        }
        progress.begin("encoding mail", 1);
        let mut learner = Learner::new(self.kind);
        let texts: Vec<&str> = train.iter().chain(&test).map(|m| m.text.as_str()).collect();
        let encoded = learner.encode(&texts);
        let (train_x, test_x) = encoded.split_at(train.len());
        progress.advance(1);
        progress.end();

        // The trusted pool: a seeded share of the clean training mail, both classes.
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng_for(c.seed, TRUSTED, 0));
        let n_trusted = ((c.trusted_fraction * train.len() as f64).round() as usize).max(1);
        let mut trusted = vec![false; train.len()];
        order[..n_trusted].iter().for_each(|&i| trusted[i] = true);

        let mut setting = Setting {
            train: &train,
            train_x,
            test_spam: test.iter().map(|m| m.label.is_spam()).collect(),
            test_x,
            trusted,
            clean_impacts: None,
            roni_threshold: f64::NEG_INFINITY,
        };
        let mut roni_threshold = None;
        if self.defenses.contains(&PoisonDefense::Roni) {
            let (impacts, threshold) = self.clean_impacts(&learner, &setting, progress)?;
            setting.clean_impacts = Some(impacts);
            setting.roni_threshold = threshold;
            roni_threshold = Some(threshold);
        }

        // Clean baselines.
        let clean_received = self.received(&setting, &[], &[]);
        let mut clean = Vec::new();
        for &d in &self.defenses {
            let m = self.measure(&learner, &setting, &clean_received, d, &[], None)?;
            clean.push(CleanRow {
                defense: d.name().into(),
                ham_misclassified: m.ham_misclassified,
                ham_as_spam: m.ham_as_spam,
                spam_missed: m.spam_missed,
                clean_flagged: m.clean_flagged,
                threshold: m.threshold,
            });
        }

        let mut rows = Vec::new();
        let mut optimal_info = None;
        for &attack in &self.attacks {
            let per = if attack == PoisonAttack::Focused {
                c.targets
            } else {
                1
            };
            progress.begin(
                &format!("{} attack", attack.name()),
                (self.fractions.len() * self.defenses.len() * per) as u64,
            );
            let new_rows = match attack {
                PoisonAttack::Dictionary | PoisonAttack::Optimal => {
                    let dict = if attack == PoisonAttack::Dictionary {
                        self.dictionary.clone().expect("loaded in validate")
                    } else {
                        let d =
                            Dictionary::ham_vocabulary(train.iter().filter(|m| !m.label.is_spam()));
                        optimal_info = Some(DictionaryInfo::of(&d));
                        d
                    };
                    self.dictionary_rows(&mut learner, &setting, attack, &dict, progress)?
                }
                PoisonAttack::LabelFlip => self.label_flip_rows(&learner, &setting, progress)?,
                PoisonAttack::Focused => {
                    self.focused_rows(&mut learner, &setting, &test, progress)?
                }
            };
            progress.end();
            rows.extend(new_rows);
            if progress.cancelled() {
                return Err(Error::invalid(
                    "poisoning run",
                    "interrupted (Ctrl-C) before every attack ran; no report was written",
                ));
            }
        }

        let (train_ham, train_spam) = class_counts(&train);
        let (test_ham, test_spam) = class_counts(&test);
        Ok(PoisonReport {
            tool: format!("gauntlet-text {}", env!("CARGO_PKG_VERSION")),
            seed: c.seed,
            filter: self.kind.name().into(),
            corpus: CorpusInfo {
                path: c.corpus.display().to_string(),
                sha256: corpus.sha256.clone(),
                messages: corpus.messages.len(),
                skipped_lines: corpus.failures.len(),
                train_ham,
                train_spam,
                test_ham,
                test_spam,
                trusted: n_trusted,
            },
            dictionary: self.dictionary.as_ref().map(DictionaryInfo::of),
            optimal_dictionary: optimal_info,
            config: c.clone(),
            roni_threshold,
            clean,
            rows,
            seconds: started.elapsed().as_secs_f64(),
            command: None,
        })
    }

    /// RONI impacts of every clean training message (the trusted ones against samples without
    /// themselves) and the threshold calibrated on the trusted ones.
    fn clean_impacts(
        &self,
        learner: &Learner,
        s: &Setting,
        progress: &dyn Progress,
    ) -> Result<(Vec<f64>, f64)> {
        let roni = self.roni(learner, s)?;
        let trusted_index: HashMap<usize, usize> = (0..s.train.len())
            .filter(|&i| s.trusted[i])
            .enumerate()
            .map(|(k, i)| (i, k))
            .collect();
        let candidates: Vec<Candidate> = (0..s.train.len())
            .map(|i| Candidate {
                key: i as u64,
                row: Row {
                    x: &s.train_x[i],
                    spam: s.train[i].label.is_spam(),
                },
                trusted_index: trusted_index.get(&i).copied(),
            })
            .collect();
        progress.begin("RONI: clean training mail", candidates.len() as u64);
        let impacts = roni.impacts(&candidates);
        progress.advance(candidates.len() as u64);
        progress.end();
        let calibration: Vec<f64> = (0..s.train.len())
            .filter(|&i| s.trusted[i])
            .map(|i| impacts[i])
            .collect();
        let threshold = roni.threshold(&calibration);
        Ok((impacts, threshold))
    }

    fn roni<'a>(&self, learner: &'a Learner, s: &Setting<'a>) -> Result<Roni<'a>> {
        let trusted: Vec<Row> = (0..s.train.len())
            .filter(|&i| s.trusted[i])
            .map(|i| Row {
                x: &s.train_x[i],
                spam: s.train[i].label.is_spam(),
            })
            .collect();
        Roni::new(learner, trusted, self.config.roni, self.config.seed)
    }

    /// The training mail with `flipped` labels turned to spam and `added` attack mails.
    fn received<'a>(
        &self,
        s: &Setting<'a>,
        flipped: &[usize],
        added: &'a [Features],
    ) -> Received<'a> {
        let mut rows = Vec::with_capacity(s.train.len() + added.len());
        let mut poison = Vec::with_capacity(rows.capacity());
        let mut keys = Vec::with_capacity(rows.capacity());
        for (i, m) in s.train.iter().enumerate() {
            let flip = flipped.binary_search(&i).is_ok();
            rows.push(Row {
                x: &s.train_x[i],
                spam: m.label.is_spam() || flip,
            });
            poison.push(flip);
            keys.push(i as u64);
        }
        for (j, x) in added.iter().enumerate() {
            rows.push(Row { x, spam: true });
            poison.push(true);
            keys.push(ATTACK_KEYS + j as u64);
        }
        Received { rows, poison, keys }
    }

    /// Fits under `defense` and measures on the held-out mail (less `exclude`d test indices);
    /// `target` is a test index whose verdict is reported.
    fn measure(
        &self,
        learner: &Learner,
        s: &Setting,
        r: &Received,
        defense: PoisonDefense,
        exclude: &[usize],
        target: Option<usize>,
    ) -> Result<Measured> {
        let d = self.defend(learner, s, r, defense)?;
        let xs: Vec<&[(u32, f32)]> = s.test_x.iter().map(|x| &x[..]).collect();
        let scores = d.fitted.scores(&xs);
        let (mut ham, mut ham_bad, mut ham_spam) = (0usize, 0usize, 0usize);
        let (mut spam, mut spam_bad) = (0usize, 0usize);
        for (k, (&score, &is_spam)) in scores.iter().zip(&s.test_spam).enumerate() {
            if exclude.contains(&k) {
                continue;
            }
            let flagged = score >= d.threshold;
            if is_spam {
                spam += 1;
                spam_bad += usize::from(!flagged);
            } else {
                ham += 1;
                ham_bad += usize::from(score >= d.ham_threshold);
                ham_spam += usize::from(flagged);
            }
        }
        Ok(Measured {
            ham_misclassified: ham_bad as f64 / ham.max(1) as f64,
            ham_as_spam: ham_spam as f64 / ham.max(1) as f64,
            spam_missed: spam_bad as f64 / spam.max(1) as f64,
            attack_flagged: d.attack_flagged,
            clean_flagged: d.clean_flagged,
            threshold: d.threshold,
            target_hit: target.map(|t| scores[t] >= d.threshold),
        })
    }

    fn defend(
        &self,
        learner: &Learner,
        s: &Setting,
        r: &Received,
        defense: PoisonDefense,
    ) -> Result<Defended> {
        let (ham_cutoff, spam_cutoff) = self.kind.cutoffs();
        match defense {
            PoisonDefense::None => Ok(Defended {
                fitted: learner.fit(&r.rows)?,
                ham_threshold: ham_cutoff,
                threshold: spam_cutoff,
                attack_flagged: None,
                clean_flagged: None,
            }),
            PoisonDefense::Threshold => {
                let seed = self.config.seed;
                let held = |k: u64| {
                    let unit = (unit_hash(seed, VALIDATION, k) >> 11) as f64 / (1u64 << 53) as f64;
                    unit < self.config.validation_fraction
                };
                let (mut fit, mut validation) = (Vec::new(), Vec::new());
                for (row, &k) in r.rows.iter().zip(&r.keys) {
                    if held(k) {
                        validation.push(*row)
                    } else {
                        fit.push(*row)
                    }
                }
                let fitted = learner.fit(&fit)?;
                let scored: Vec<(f64, bool)> = validation
                    .iter()
                    .map(|v| (fitted.score(v.x), v.spam))
                    .collect();
                let threshold = dynamic_threshold(&scored);
                Ok(Defended {
                    ham_threshold: threshold,
                    threshold,
                    fitted,
                    attack_flagged: r.poison.iter().any(|&p| p).then_some(0.0),
                    clean_flagged: Some(0.0),
                })
            }
            PoisonDefense::Roni => {
                let clean_impacts = s.clean_impacts.as_ref().expect("computed when RONI runs");
                // Impacts of the poison (fresh; a flipped message keeps its key, so it is
                // judged on the same samples as its clean self).
                let poison_idx: Vec<usize> = (0..r.rows.len()).filter(|&i| r.poison[i]).collect();
                let roni = self.roni(learner, s)?;
                let candidates: Vec<Candidate> = poison_idx
                    .iter()
                    .map(|&i| Candidate {
                        key: r.keys[i],
                        row: r.rows[i],
                        trusted_index: None,
                    })
                    .collect();
                let poison_impacts = roni.impacts(&candidates);
                let mut reject = vec![false; r.rows.len()];
                for (&i, &impact) in poison_idx.iter().zip(&poison_impacts) {
                    reject[i] = rejected(impact, s.roni_threshold);
                }
                let (mut clean_n, mut clean_rejected) = (0usize, 0usize);
                for i in 0..s.train.len() {
                    if !r.poison[i] && !s.trusted[i] {
                        clean_n += 1;
                        reject[i] = rejected(clean_impacts[i], s.roni_threshold);
                        clean_rejected += usize::from(reject[i]);
                    }
                }
                let kept: Vec<Row> = r
                    .rows
                    .iter()
                    .zip(&reject)
                    .filter(|(_, &x)| !x)
                    .map(|(row, _)| *row)
                    .collect();
                let attack_rejected = poison_idx.iter().filter(|&&i| reject[i]).count();
                Ok(Defended {
                    fitted: learner.fit(&kept)?,
                    ham_threshold: ham_cutoff,
                    threshold: spam_cutoff,
                    attack_flagged: (!poison_idx.is_empty())
                        .then(|| attack_rejected as f64 / poison_idx.len() as f64),
                    clean_flagged: Some(clean_rejected as f64 / clean_n.max(1) as f64),
                })
            }
        }
    }

    fn row(
        &self,
        attack: PoisonAttack,
        fraction: f64,
        defense: PoisonDefense,
        attack_mails: usize,
        m: &Measured,
        started: Instant,
    ) -> PoisonRow {
        PoisonRow {
            attack: attack.name().into(),
            fraction,
            defense: defense.name().into(),
            attack_mails,
            ham_misclassified: m.ham_misclassified,
            ham_as_spam: m.ham_as_spam,
            spam_missed: m.spam_missed,
            attack_flagged: m.attack_flagged,
            clean_flagged: m.clean_flagged,
            focused_success: None,
            targets: None,
            threshold: m.threshold,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    fn dictionary_rows(
        &self,
        learner: &mut Learner,
        s: &Setting,
        attack: PoisonAttack,
        dict: &Dictionary,
        progress: &dyn Progress,
    ) -> Result<Vec<PoisonRow>> {
        let mut out = Vec::new();
        for &f in &self.fractions {
            let k = attack_count(f, s.train.len());
            let mails = dictionary_mails(dict, k, attack.name());
            // The mails are one text: encode it once.
            let added: Vec<Features> = match mails.first() {
                Some(m) => vec![learner.encode(&[m.text.as_str()]).remove(0); k],
                None => Vec::new(),
            };
            let r = self.received(s, &[], &added);
            for &d in &self.defenses {
                let t0 = Instant::now();
                let m = self.measure(learner, s, &r, d, &[], None)?;
                out.push(self.row(attack, f, d, k, &m, t0));
                progress.advance(1);
            }
        }
        Ok(out)
    }

    fn label_flip_rows(
        &self,
        learner: &Learner,
        s: &Setting,
        progress: &dyn Progress,
    ) -> Result<Vec<PoisonRow>> {
        let eligible: Vec<usize> = (0..s.train.len())
            .filter(|&i| !s.train[i].label.is_spam() && !s.trusted[i])
            .collect();
        let mut out = Vec::new();
        for (fi, &f) in self.fractions.iter().enumerate() {
            let k = attack_count(f, s.train.len());
            let flips = label_flips(
                &eligible,
                k,
                &mut rng_for(self.config.seed, FLIPS, fi as u64),
            )?;
            let r = self.received(s, &flips, &[]);
            for &d in &self.defenses {
                let t0 = Instant::now();
                let m = self.measure(learner, s, &r, d, &[], None)?;
                out.push(self.row(PoisonAttack::LabelFlip, f, d, k, &m, t0));
                progress.advance(1);
            }
        }
        Ok(out)
    }

    fn focused_rows(
        &self,
        learner: &mut Learner,
        s: &Setting,
        test: &[Message],
        progress: &dyn Progress,
    ) -> Result<Vec<PoisonRow>> {
        let c = &self.config;
        let mut ham: Vec<usize> = (0..test.len())
            .filter(|&i| !test[i].label.is_spam())
            .collect();
        ham.shuffle(&mut rng_for(c.seed, TARGETS, 0));
        ham.truncate(c.targets);
        ham.sort_unstable();
        let targets = ham;
        let spam_view: Vec<&Message> = s.train.iter().filter(|m| m.label.is_spam()).collect();
        // Per (fraction, defense): the sum over targets.
        let mut sums: Vec<Vec<(Measured, usize, f64)>> =
            vec![vec![(Measured::default(), 0, 0.0); self.defenses.len()]; self.fractions.len()];
        for &t in &targets {
            let guessed =
                guessed_words(&test[t], c.knowledge, &mut rng_for(c.seed, GUESS, t as u64));
            for (fi, &f) in self.fractions.iter().enumerate() {
                let k = attack_count(f, s.train.len());
                let mails: Vec<Arc<Message>> = focused_mails(
                    &guessed,
                    &spam_view,
                    k,
                    &mut rng_for(c.seed, FOCUSED, ((t as u64) << 8) | fi as u64),
                )?;
                let texts: Vec<&str> = mails.iter().map(|m| m.text.as_str()).collect();
                let added = learner.encode(&texts);
                let r = self.received(s, &[], &added);
                for (di, &d) in self.defenses.iter().enumerate() {
                    let t0 = Instant::now();
                    let m = self.measure(learner, s, &r, d, &targets, Some(t))?;
                    let acc = &mut sums[fi][di];
                    acc.0.ham_misclassified += m.ham_misclassified;
                    acc.0.ham_as_spam += m.ham_as_spam;
                    acc.0.spam_missed += m.spam_missed;
                    acc.0.threshold += m.threshold;
                    if let Some(a) = m.attack_flagged {
                        *acc.0.attack_flagged.get_or_insert(0.0) += a;
                    }
                    if let Some(a) = m.clean_flagged {
                        *acc.0.clean_flagged.get_or_insert(0.0) += a;
                    }
                    acc.1 += usize::from(m.target_hit == Some(true));
                    acc.2 += t0.elapsed().as_secs_f64();
                    progress.advance(1);
                }
            }
        }
        let n = targets.len() as f64;
        let mut out = Vec::new();
        for (fi, &f) in self.fractions.iter().enumerate() {
            for (di, &d) in self.defenses.iter().enumerate() {
                let (m, hits, secs) = &sums[fi][di];
                out.push(PoisonRow {
                    attack: PoisonAttack::Focused.name().into(),
                    fraction: f,
                    defense: d.name().into(),
                    attack_mails: attack_count(f, s.train.len()),
                    ham_misclassified: m.ham_misclassified / n,
                    ham_as_spam: m.ham_as_spam / n,
                    spam_missed: m.spam_missed / n,
                    attack_flagged: m.attack_flagged.map(|a| a / n),
                    clean_flagged: m.clean_flagged.map(|a| a / n),
                    focused_success: Some(*hits as f64 / n),
                    targets: Some(targets.len()),
                    threshold: m.threshold / n,
                    seconds: *secs,
                });
            }
        }
        Ok(out)
    }
}
