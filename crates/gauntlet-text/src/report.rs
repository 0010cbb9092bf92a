//! The audit's findings: serializable summary types and the Markdown rendering. Writing the
//! files is [`crate::output`]'s job; the HTML page is [`crate::html`]'s.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::attacks::{AttackKind, Edit};
use crate::classifier::FilterMetrics;
use crate::config::TextAuditConfig;
use crate::corpus::LoadFailure;

/// Corpus and split sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusSummary {
    /// Corpus file.
    pub path: String,
    /// Usable messages.
    pub messages: usize,
    /// Lines skipped as unusable.
    pub skipped_lines: usize,
    /// The first few skipped lines and why.
    pub first_skipped: Vec<LoadFailure>,
    /// Train ham.
    pub train_ham: usize,
    /// Train spam.
    pub train_spam: usize,
    /// Held-out ham.
    pub test_ham: usize,
    /// Held-out spam.
    pub test_spam: usize,
}

/// Held-out quality of one filter variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterReport {
    /// baseline, normalized, adversarial-training, normalized+adversarial.
    pub variant: String,
    /// Accuracy, precision, recall, F1 and the confusion matrix.
    pub metrics: FilterMetrics,
    /// Seconds spent training (including attacks for adversarial training).
    pub train_seconds: f64,
}

/// How the adversarial-training set was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdversarialTrainingSummary {
    /// Training spam messages attacked (per attack, summed).
    pub attacked_training_messages: usize,
    /// Evasive versions added to the training set as spam.
    pub added_examples: usize,
    /// Seconds for attacking and retraining.
    pub seconds: f64,
}

/// What happened to one message under one attack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageOutcome {
    /// Filter variant.
    pub variant: String,
    /// Attack.
    pub attack: AttackKind,
    /// Message id.
    pub id: String,
    /// Evaded: the attack claimed success, a fresh query confirmed ham, and the
    /// budget was kept.
    pub success: bool,
    /// Score from the confirming query.
    pub verified_score: Option<f64>,
    /// Words in the original.
    pub n_words: usize,
    /// Words changed or appended.
    pub words_touched: usize,
    /// `words_touched / n_words`.
    pub words_touched_fraction: f64,
    /// Character Levenshtein distance to the original.
    pub levenshtein: usize,
    /// `1 - levenshtein / max(len)`.
    pub similarity: f64,
    /// Queries the attack made.
    pub queries: u64,
    /// Whether the independent budget re-check passed.
    pub within_budget: bool,
    /// Why the attack stopped without success.
    pub note: Option<String>,
    /// Set when the message could not be attacked (e.g. the filter failed).
    pub error: Option<String>,
    /// The edits (applied to the extracted text, they give the adversarial text).
    pub edits: Vec<Edit>,
}

impl MessageOutcome {
    /// A per-message failure record.
    pub fn failed(variant: &str, attack: AttackKind, id: &str, error: String) -> Self {
        MessageOutcome {
            variant: variant.to_string(),
            attack,
            id: id.to_string(),
            success: false,
            verified_score: None,
            n_words: 0,
            words_touched: 0,
            words_touched_fraction: 0.0,
            levenshtein: 0,
            similarity: 1.0,
            queries: 0,
            within_budget: true,
            note: None,
            error: Some(error),
            edits: Vec::new(),
        }
    }
}

/// Aggregate of one (variant, attack) run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackRunSummary {
    /// Filter variant.
    pub variant: String,
    /// Attack.
    pub attack: AttackKind,
    /// "scores" or "decision-only".
    pub mode: String,
    /// Correctly detected held-out spam messages attacked.
    pub attacked: usize,
    /// Of those, evaded (verified).
    pub evaded: usize,
    /// Messages that could not be attacked (errors).
    pub failed: usize,
    /// evaded / (attacked - failed).
    pub success_rate: f64,
    /// The gate's measure: the share of attacked spam the variant still catches,
    /// `1 - success_rate`; `None` when no message was attacked without error.
    #[serde(default)]
    pub still_caught: Option<f64>,
    /// Mean edits over evasions.
    pub mean_edits: f64,
    /// Mean fraction of words touched over evasions.
    pub mean_words_touched_fraction: f64,
    /// Largest fraction of words touched in any attacked message.
    pub max_words_touched_fraction: f64,
    /// Mean Levenshtein distance over evasions.
    pub mean_levenshtein: f64,
    /// Mean Levenshtein similarity to the original over evasions.
    pub mean_similarity: f64,
    /// Mean queries per attacked message (all attempts).
    pub mean_queries: f64,
    /// Mean queries per evasion.
    pub mean_queries_success: f64,
    /// Message-independent setup queries (good-word search).
    pub setup_queries: u64,
    /// Messages whose independent budget re-check failed (should be 0).
    pub budget_violations: usize,
    /// Wall time.
    pub seconds: f64,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

impl AttackRunSummary {
    /// Aggregate outcomes.
    pub fn from_outcomes(
        variant: &str,
        attack: AttackKind,
        decision_only: bool,
        o: &[MessageOutcome],
        setup_queries: u64,
        seconds: f64,
    ) -> Self {
        let ok: Vec<&MessageOutcome> = o.iter().filter(|x| x.error.is_none()).collect();
        let wins: Vec<&MessageOutcome> = ok.iter().copied().filter(|x| x.success).collect();
        AttackRunSummary {
            variant: variant.to_string(),
            attack,
            mode: if decision_only {
                "decision-only"
            } else {
                "scores"
            }
            .to_string(),
            attacked: o.len(),
            evaded: wins.len(),
            failed: o.len() - ok.len(),
            success_rate: if ok.is_empty() {
                0.0
            } else {
                wins.len() as f64 / ok.len() as f64
            },
            still_caught: (!ok.is_empty())
                .then(|| (ok.len() - wins.len()) as f64 / ok.len() as f64),
            mean_edits: mean(wins.iter().map(|x| x.words_touched as f64)),
            mean_words_touched_fraction: mean(wins.iter().map(|x| x.words_touched_fraction)),
            max_words_touched_fraction: ok
                .iter()
                .map(|x| x.words_touched_fraction)
                .fold(0.0, f64::max),
            mean_levenshtein: mean(wins.iter().map(|x| x.levenshtein as f64)),
            mean_similarity: mean(wins.iter().map(|x| x.similarity)),
            mean_queries: mean(ok.iter().map(|x| x.queries as f64)),
            mean_queries_success: mean(wins.iter().map(|x| x.queries as f64)),
            setup_queries,
            budget_violations: ok.iter().filter(|x| !x.within_budget).count(),
            seconds,
        }
    }
}

/// An evading message with its edits highlighted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Filter variant.
    pub variant: String,
    /// Attack.
    pub attack: AttackKind,
    /// Message id.
    pub id: String,
    /// Score of the adversarial text.
    pub final_score: Option<f64>,
    /// Excerpts around each edit, Markdown: `~~original~~ → **replacement**`.
    pub highlighted: Vec<String>,
}

/// Make invisible characters visible.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if crate::confusables::is_zero_width(c) {
                format!("⟨U+{:04X}⟩", c as u32)
            } else if c == '\n' {
                "⏎".to_string()
            } else if !c.is_ascii() && crate::confusables::to_latin(c).is_some() {
                format!("{c}⟨U+{:04X}⟩", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn md_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\`*_[]<>|~#".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

impl Example {
    /// Build from an outcome; `original` is the extracted text that was attacked.
    pub fn new(
        variant: &str,
        attack: AttackKind,
        id: &str,
        original: &str,
        o: &MessageOutcome,
    ) -> Self {
        let mut edits: Vec<&Edit> = o.edits.iter().collect();
        edits.sort_by_key(|e| e.start);
        let ctx = |s: &str, tail: bool| -> String {
            let chars: Vec<char> = s.chars().collect();
            let keep = 30.min(chars.len());
            let part: String = if tail {
                chars[..keep].iter().collect()
            } else {
                chars[chars.len() - keep..].iter().collect()
            };
            md_escape(&part.replace('\n', " "))
        };
        let highlighted = edits
            .iter()
            .take(8)
            .map(|e| {
                if e.original.is_empty() {
                    return format!(
                        "…{} **+{}**",
                        ctx(&original[..e.start], false),
                        md_escape(&visible(e.replacement.trim_start()))
                    );
                }
                format!(
                    "…{} ~~{}~~ → **{}** {}…",
                    ctx(&original[..e.start], false),
                    md_escape(&visible(&e.original)),
                    md_escape(&visible(&e.replacement)),
                    ctx(&original[e.end..], true)
                )
            })
            .collect();
        Example {
            variant: variant.to_string(),
            attack,
            id: id.to_string(),
            final_score: o.verified_score,
            highlighted,
        }
    }
}

/// Everything a text audit found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextAuditReport {
    /// Producer and version.
    pub tool: String,
    /// Filter under audit.
    pub filter: String,
    /// The configuration used.
    pub config: TextAuditConfig,
    /// Corpus and split.
    pub corpus: CorpusSummary,
    /// Held-out quality of each filter variant.
    pub filters: Vec<FilterReport>,
    /// How the adversarially trained variant was built (built-in filters only).
    pub adversarial_training: Option<AdversarialTrainingSummary>,
    /// One summary per (variant, attack).
    pub runs: Vec<AttackRunSummary>,
    /// Example evasions.
    pub examples: Vec<Example>,
    /// Every per-message outcome.
    pub outcomes: Vec<MessageOutcome>,
    /// Wall time of the whole audit (of the last process, when it was resumed).
    pub total_seconds: f64,
    /// `complete`, or `incomplete` when the run was stopped before it finished (the report
    /// then holds what was done; rerunning the same command resumes).
    #[serde(default = "complete")]
    pub status: String,
    /// Message outcomes restored from the checkpoint of an interrupted run instead of computed.
    #[serde(default)]
    pub resumed: usize,
    /// The rows the CI gate judges, with the share of attacked spam still caught (see
    /// [`crate::gate`] for their names).
    #[serde(default)]
    pub gate_rows: Vec<GateRow>,
}

fn complete() -> String {
    "complete".into()
}

/// One row of the CI gate: a (variant, attack) or worst case, and its measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRow {
    /// The row name thresholds use (`deepwordbug`, `worst+normalized`).
    pub row: String,
    /// Share of attacked spam still caught.
    pub still_caught: f64,
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

impl TextAuditReport {
    /// Render as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let c = &self.config;
        let _ = writeln!(md, "# Spam-filter evasion audit\n");
        let _ = writeln!(
            md,
            "Filter: `{}` — corpus `{}` — {}",
            self.filter, self.corpus.path, self.tool
        );
        if self.status != "complete" {
            let _ = writeln!(
                md,
                "\n**Incomplete:** the run was stopped before it finished; this report holds what was done. \
                 Rerun the same command to resume."
            );
        }
        let _ = writeln!(
            md,
            "\nBudget per message: at most {} edits, {} of words, Levenshtein distance {}{}. Attacks see {}. Seed {}.\n",
            c.max_edits,
            pct(c.max_word_fraction),
            c.max_levenshtein,
            c.max_queries.map_or(String::new(), |q| format!(", {q} queries")),
            if c.decision_only { "labels only (decision-only)" } else { "spam scores" },
            c.seed
        );
        let s = &self.corpus;
        let _ = writeln!(md, "## Data\n");
        let _ = writeln!(
            md,
            "{} messages ({} lines skipped); split by SHA-256 of id, {:.0} % train: train {} ham / {} spam, held out {} ham / {} spam.\n",
            s.messages,
            s.skipped_lines,
            100.0 * c.train_fraction,
            s.train_ham,
            s.train_spam,
            s.test_ham,
            s.test_spam
        );
        for f in &s.first_skipped {
            let _ = writeln!(md, "- skipped line {}: {}", f.line, md_escape(&f.reason));
        }
        let _ = writeln!(md, "## Filters on the held-out split\n");
        let _ = writeln!(md, "| variant | accuracy | precision | recall | F1 | TP | FP | TN | FN | failed | train s |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
        for f in &self.filters {
            let m = &f.metrics;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                f.variant,
                pct(m.accuracy),
                pct(m.precision),
                pct(m.recall),
                pct(m.f1),
                m.tp,
                m.fp,
                m.tn,
                m.fn_,
                m.failures.len(),
                f.train_seconds
            );
        }
        for f in self
            .filters
            .iter()
            .filter(|f| !f.metrics.failures.is_empty())
        {
            let shown = f.metrics.failures.len().min(5);
            let _ = writeln!(
                md,
                "\nThe {} filter failed on {} held-out messages (first {shown}):\n",
                f.variant,
                f.metrics.failures.len()
            );
            for (id, reason) in f.metrics.failures.iter().take(shown) {
                let _ = writeln!(md, "- `{id}`: {}", md_escape(reason));
            }
        }
        if let Some(a) = &self.adversarial_training {
            let _ = writeln!(
                md,
                "\nAdversarial training: {} attacks on training spam, {} evasive versions added as spam, retrained ({:.1} s).",
                a.attacked_training_messages, a.added_examples, a.seconds
            );
        }
        let _ = writeln!(md, "\n## Attacks\n");
        let _ = writeln!(md, "Attacked: held-out spam the variant detects. Edits, words touched, Levenshtein and similarity are means over evasions; queries over all attempts.\n");
        let _ = writeln!(md, "| variant | attack | attacked | evaded | success | mean edits | mean words touched | max words touched | mean Levenshtein | mean similarity | mean queries | setup queries | failed | over budget | s |");
        let _ = writeln!(
            md,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.runs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | **{}** | {:.1} | {} | {} | {:.1} | {:.4} | {:.1} | {} | {} | {} | {:.1} |",
                r.variant,
                r.attack,
                r.attacked,
                r.evaded,
                pct(r.success_rate),
                r.mean_edits,
                pct(r.mean_words_touched_fraction),
                pct(r.max_words_touched_fraction),
                r.mean_levenshtein,
                r.mean_similarity,
                r.mean_queries,
                r.setup_queries,
                r.failed,
                r.budget_violations,
                r.seconds
            );
        }
        if !self.gate_rows.is_empty() {
            let _ = writeln!(md, "\n## Spam still caught (the CI gate's rows)\n");
            let _ = writeln!(md, "Share of attacked spam each variant still catches; `worst`: caught under every attack.\n");
            let _ = writeln!(md, "| row | still caught |");
            let _ = writeln!(md, "|---|---|");
            for r in &self.gate_rows {
                let _ = writeln!(md, "| `{}` | {} |", r.row, pct(r.still_caught));
            }
        }
        let variants: Vec<&str> = self.filters.iter().map(|f| f.variant.as_str()).collect();
        if variants.len() > 1 {
            let _ = writeln!(md, "\n## Before and after hardening (success rate)\n");
            let _ = writeln!(md, "| attack | {} |", variants.join(" | "));
            let _ = writeln!(md, "|---|{}", "---|".repeat(variants.len()));
            for a in &c.attacks {
                let cells: Vec<String> = variants
                    .iter()
                    .map(|v| {
                        self.runs
                            .iter()
                            .find(|r| r.variant == *v && r.attack.as_str() == a)
                            .map_or("–".into(), |r| pct(r.success_rate))
                    })
                    .collect();
                let _ = writeln!(md, "| {} | {} |", a, cells.join(" | "));
            }
        }
        if !self.examples.is_empty() {
            let _ = writeln!(md, "\n## Examples\n");
            for e in &self.examples {
                let _ = writeln!(
                    md,
                    "**{} / {}** — `{}` (score after: {}):\n",
                    e.variant,
                    e.attack,
                    e.id,
                    e.final_score.map_or("?".into(), |s| format!("{s:.3}"))
                );
                for h in &e.highlighted {
                    let _ = writeln!(md, "- {h}");
                }
                let _ = writeln!(md);
            }
        }
        let failures: Vec<&MessageOutcome> = self
            .outcomes
            .iter()
            .filter(|o| o.error.is_some())
            .take(10)
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(md, "\n## Per-message failures (first {})\n", failures.len());
            for f in failures {
                let _ = writeln!(
                    md,
                    "- {} / {} / `{}`: {}",
                    f.variant,
                    f.attack,
                    f.id,
                    md_escape(f.error.as_deref().unwrap_or(""))
                );
            }
        }
        let resumed = if self.resumed > 0 {
            format!(
                " ({} message outcomes restored from the checkpoint of an interrupted run)",
                self.resumed
            )
        } else {
            String::new()
        };
        let _ = writeln!(md, "\nTotal time: {:.1} s{resumed}.", self.total_seconds);
        md
    }
}
