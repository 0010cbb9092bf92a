//! The poisoning study's report: `report.json` (one row per attack, attacker share and
//! defense, plus the clean baselines, the seed, versions and the corpus's SHA-256),
//! `report.md` (the tables) and `report.html` (the curves: held-out ham misclassified and spam
//! missed vs the attacker's share, one line per attack and defense).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use gauntlet_run::markup::escape;
use gauntlet_run::plot::{plot, Axes, Series};

use super::config::PoisonConfig;
use super::dictionary::Dictionary;
use crate::error::{Error, Result};
use crate::html::STYLE;
use crate::output::{write_files, ReportFiles};

/// The corpus and its split.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusInfo {
    /// The file as given.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Usable messages.
    pub messages: usize,
    /// Lines skipped as unusable.
    pub skipped_lines: usize,
    /// Training ham.
    pub train_ham: usize,
    /// Training spam.
    pub train_spam: usize,
    /// Held-out ham.
    pub test_ham: usize,
    /// Held-out spam.
    pub test_spam: usize,
    /// Training messages the defender trusts (RONI's pool).
    pub trusted: usize,
}

/// A dictionary as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DictionaryInfo {
    /// Where it came from.
    pub source: String,
    /// Distinct tokens (what the filter sees).
    pub words: usize,
    /// SHA-256 of the source.
    pub sha256: String,
}

impl DictionaryInfo {
    /// The record of a dictionary.
    pub fn of(d: &Dictionary) -> Self {
        DictionaryInfo {
            source: d.source.clone(),
            words: d.words.len(),
            sha256: d.sha256.clone(),
        }
    }
}

/// The filter trained on clean mail, under each defense.
#[derive(Debug, Clone, Serialize)]
pub struct CleanRow {
    /// none, roni or threshold.
    pub defense: String,
    /// Held-out ham not called ham: at or above the ham cut-off (SpamBayes: unsure or spam,
    /// Nelson et al.'s count; NB, LR: spam).
    pub ham_misclassified: f64,
    /// Held-out ham called spam: at or above the spam cut-off (the strict count; equal to
    /// `ham_misclassified` for filters without an unsure band).
    pub ham_as_spam: f64,
    /// Held-out spam below the cut-off.
    pub spam_missed: f64,
    /// RONI: share of the (untrusted) clean training mail it rejects.
    pub clean_flagged: Option<f64>,
    /// The spam cut-off used.
    pub threshold: f64,
}

/// One (attack, attacker share, defense).
#[derive(Debug, Clone, Serialize)]
pub struct PoisonRow {
    /// dictionary, optimal, focused or label-flip.
    pub attack: String,
    /// The attacker's share of the training mail.
    pub fraction: f64,
    /// none, roni or threshold.
    pub defense: String,
    /// Attack mails added (focused: per target) or labels flipped: round(fraction × training).
    pub attack_mails: usize,
    /// Held-out ham not called ham: at or above the ham cut-off (SpamBayes: unsure or spam,
    /// Nelson et al.'s count; NB, LR: spam). Focused: mean over targets, targets excluded.
    pub ham_misclassified: f64,
    /// Held-out ham called spam: at or above the spam cut-off (the strict count; equal to
    /// `ham_misclassified` for filters without an unsure band).
    pub ham_as_spam: f64,
    /// Held-out spam below the cut-off.
    pub spam_missed: f64,
    /// Defenses: share of the poison rejected (null without poison or without a defense).
    pub attack_flagged: Option<f64>,
    /// Defenses: share of the clean (untrusted) training mail rejected.
    pub clean_flagged: Option<f64>,
    /// Focused attack: share of targets classified spam.
    pub focused_success: Option<f64>,
    /// Focused attack: targets attacked (one at a time).
    pub targets: Option<usize>,
    /// The spam cut-off used (focused: mean over targets).
    pub threshold: f64,
    /// Seconds the row took (fit, defense, measurement).
    pub seconds: f64,
}

/// Everything a poisoning study measured.
#[derive(Debug, Clone, Serialize)]
pub struct PoisonReport {
    /// The library and its version.
    pub tool: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// The filter retrained: nb, lr or spambayes.
    pub filter: String,
    /// The corpus.
    pub corpus: CorpusInfo,
    /// The dictionary attack's word list.
    pub dictionary: Option<DictionaryInfo>,
    /// The optimal attack's dictionary (the training ham vocabulary).
    pub optimal_dictionary: Option<DictionaryInfo>,
    /// The settings as run.
    pub config: PoisonConfig,
    /// RONI's calibrated threshold (impact below it is rejected).
    pub roni_threshold: Option<f64>,
    /// The unpoisoned filter under each defense.
    pub clean: Vec<CleanRow>,
    /// One row per (attack, share, defense).
    pub rows: Vec<PoisonRow>,
    /// Wall-clock seconds of the whole study.
    pub seconds: f64,
    /// The command line, when run from the CLI.
    pub command: Option<String>,
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or("–".into(), pct)
}

/// A share as a percentage without float noise (0.001 → "0.1").
fn share(f: f64) -> String {
    let s = format!("{:.4}", f * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl PoisonReport {
    /// The tables, as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# gauntlet spam-filter poisoning: {} on {}\n",
            self.filter, self.corpus.path
        );
        let _ = writeln!(
            s,
            "Training {} ham / {} spam (trusted by RONI: {}), held out {} ham / {} spam; seed {}; {}; {:.1} s.\n",
            self.corpus.train_ham,
            self.corpus.train_spam,
            self.corpus.trusted,
            self.corpus.test_ham,
            self.corpus.test_spam,
            self.seed,
            self.tool,
            self.seconds
        );
        if let Some(d) = &self.dictionary {
            let _ = writeln!(s, "Dictionary: {} ({} tokens).\n", d.source, d.words);
        }
        if let Some(d) = &self.optimal_dictionary {
            let _ = writeln!(
                s,
                "Optimal dictionary: {} ({} tokens).\n",
                d.source, d.words
            );
        }
        s.push_str("Ham misclassified = held-out ham not called ham (at or above the ham cut-off: for SpamBayes unsure or spam, Nelson et al.'s count); ham as spam = held-out ham at or above the spam cut-off (the strict count); spam missed = held-out spam below the spam cut-off.\n\n");
        s.push_str("## Unpoisoned filter\n\n| defense | ham misclassified | ham as spam | spam missed | clean flagged | cut-off |\n|---|---|---|---|---|---|\n");
        for c in &self.clean {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.3} |",
                c.defense,
                pct(c.ham_misclassified),
                pct(c.ham_as_spam),
                pct(c.spam_missed),
                opt_pct(c.clean_flagged),
                c.threshold
            );
        }
        s.push_str("\n## Poisoned\n\n| attack | share | defense | attack mails | ham misclassified | ham as spam | spam missed | attack flagged | clean flagged | focused success | cut-off | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} % | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.1} |",
                r.attack,
                share(r.fraction),
                r.defense,
                r.attack_mails,
                pct(r.ham_misclassified),
                pct(r.ham_as_spam),
                pct(r.spam_missed),
                opt_pct(r.attack_flagged),
                opt_pct(r.clean_flagged),
                opt_pct(r.focused_success),
                r.threshold,
                r.seconds
            );
        }
        s
    }

    /// One self-contained page: the curves and the tables.
    pub fn to_html(&self) -> String {
        let mut s = String::new();
        s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        let _ = writeln!(
            s,
            "<title>gauntlet spam-filter poisoning: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
            escape(&self.filter)
        );
        let _ = writeln!(s, "<h1>gauntlet spam-filter poisoning</h1>");
        let _ = writeln!(
            s,
            "<section class=\"verdict\"><p>Filter <code>{}</code> retrained on corpus <code>{}</code> (SHA-256 <code>{}</code>): training {} ham / {} spam, held out {} ham / {} spam. Seed {}; {}.</p>",
            escape(&self.filter),
            escape(&self.corpus.path),
            escape(&self.corpus.sha256),
            self.corpus.train_ham,
            self.corpus.train_spam,
            self.corpus.test_ham,
            self.corpus.test_spam,
            self.seed,
            escape(&self.tool)
        );
        for c in &self.clean {
            let _ = writeln!(
                s,
                "<p>Unpoisoned, defense <code>{}</code>: {} of held-out ham misclassified, {} of spam missed.</p>",
                escape(&c.defense),
                pct(c.ham_misclassified),
                pct(c.spam_missed)
            );
        }
        s.push_str("</section>\n");
        type Pick = fn(&PoisonRow) -> Option<f64>;
        let curves: [(&str, &'static str, Pick); 4] = [
            ("ham", "ham misclassified", |r| Some(r.ham_misclassified)),
            ("spam", "spam missed", |r| Some(r.spam_missed)),
            ("flagged", "attack mail flagged", |r| r.attack_flagged),
            ("focused", "focused-attack success", |r| r.focused_success),
        ];
        for (id, y_label, pick) in curves {
            let series = self.series(pick);
            if series.is_empty() {
                continue;
            }
            let _ = writeln!(s, "<h2 id=\"{id}\">{y_label} vs the attacker's share</h2>");
            let axes = Axes {
                x_label: "attacker share of the training mail (%)".into(),
                y_label,
                log_x: true,
                worst_last: false,
            };
            plot(&mut s, &axes, &series);
        }
        let _ = writeln!(s, "<h2 id=\"tables\">Tables</h2>");
        let md = self.to_markdown();
        let _ = writeln!(s, "<pre><code>{}</code></pre>", escape(&md));
        s.push_str("</body>\n</html>\n");
        s
    }

    /// One series per (attack, defense) with a value at every share.
    fn series(&self, pick: fn(&PoisonRow) -> Option<f64>) -> Vec<Series> {
        let mut out: Vec<Series> = Vec::new();
        for r in &self.rows {
            let Some(y) = pick(r) else { continue };
            let name = format!("{} / {}", r.attack, r.defense);
            let point = (r.fraction * 100.0, y);
            match out.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push(point),
                None => out.push(Series {
                    name,
                    points: vec![point],
                }),
            }
        }
        out
    }

    /// Writes `report.json`, `report.md` and `report.html` into `dir` (created if missing),
    /// each atomically.
    pub fn write(&self, dir: &Path) -> Result<ReportFiles> {
        let body = serde_json::to_string_pretty(self).map_err(|e| Error::Report {
            path: dir.join("report.json"),
            detail: e.to_string(),
        })?;
        write_files(dir, "report", &body, &self.to_markdown(), &self.to_html())
    }
}
