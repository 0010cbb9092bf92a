//! [`TextAuditConfig::validate`]: every setting checked once, before any work, into a
//! [`TextAudit`]. Errors name the configuration key (which is also the flag's name).

use gauntlet_run::{Gate, Shard};

use crate::attacks::AttackKind;
use crate::budget::Budget;
use crate::config::{FilterSpec, Settings, TextAudit, TextAuditConfig};
use crate::error::{Error, Result};
use crate::filters::{HttpFilter, TextRequestTemplate};
use crate::gate;

impl TextAuditConfig {
    /// Checks every setting and loads the gate's baseline; nothing is trained, sent or written.
    /// An HTTP filter's `${ENV_VAR}`s must be set. Thresholds must name rows this audit
    /// produces (see [`crate::gate`]).
    pub fn validate(&self) -> Result<TextAudit> {
        let c = self;
        let corpus = c.corpus.clone().ok_or_else(|| {
            Error::invalid(
                "corpus",
                "is required: the JSON Lines corpus (id, label, text) to audit",
            )
        })?;
        if !(c.train_fraction > 0.0 && c.train_fraction < 1.0) {
            return Err(Error::invalid(
                "train_fraction",
                format!(
                    "{} must be strictly between 0 and 1 (0.8 trains on 80 % of the messages)",
                    c.train_fraction
                ),
            ));
        }
        let mut attacks: Vec<AttackKind> = Vec::new();
        for name in &c.attacks {
            let kind: AttackKind = name.parse().map_err(|_| {
                Error::invalid("attacks", format!("unknown attack {name:?}; choose from deepwordbug, homoglyph, leet, goodword"))
            })?;
            if !attacks.contains(&kind) {
                attacks.push(kind);
            }
        }
        if attacks.is_empty() {
            return Err(Error::invalid(
                "attacks",
                "no attack selected; choose from deepwordbug, homoglyph, leet, goodword",
            ));
        }
        let budget = Budget::new(
            c.max_edits,
            c.max_word_fraction,
            c.max_levenshtein,
            c.max_queries,
        )?;
        if c.max_messages == 0 {
            return Err(Error::invalid("max_messages", "must be at least 1"));
        }
        if c.dictionary_size == 0 && attacks.contains(&AttackKind::GoodWord) {
            return Err(Error::invalid(
                "dictionary_size",
                "must be at least 1 for the goodword attack",
            ));
        }
        let filter = resolve_filter(c)?;
        if matches!(filter, FilterSpec::Http { .. }) {
            // Checks the URL, the answer pointer and that every ${ENV_VAR} is set; sends nothing.
            http_filter(&filter)?;
        }
        let settings = Settings {
            corpus,
            train_fraction: c.train_fraction,
            filter,
            attacks,
            budget,
            decision_only: c.decision_only,
            max_messages: c.max_messages,
            seed: c.seed,
            defenses: !c.no_defenses,
            adv_train: c.adv_train,
            dictionary_size: c.dictionary_size,
        };
        let gate = Gate::parse(
            &c.fail_under,
            c.baseline.as_deref(),
            c.max_drop,
            gate::REPORT_FILE,
            gate::baseline_rows,
        )?
        .with_measure(gate::MEASURE);
        gate.check_applicable(&gate::plan(&settings.attacks, &settings.variants()))?;
        let shard = match &c.shard {
            None => Shard::WHOLE,
            Some(spec) => {
                Shard::resolve(spec).map_err(|e| Error::invalid("shard", e.to_string()))?
            }
        };
        Ok(TextAudit {
            config: c.clone(),
            settings,
            gate,
            shard,
            restore_only: false,
        })
    }
}

fn positive_seconds(field: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(Error::invalid(
            field,
            format!("{value} must be a positive number of seconds"),
        ))
    }
}

/// The filter `filter`, `filter_cmd`, `filter_url` and their options describe.
fn resolve_filter(c: &TextAuditConfig) -> Result<FilterSpec> {
    let kind = match (c.filter.as_deref(), &c.filter_url, &c.filter_cmd) {
        (Some(f), _, _) => f.trim().to_ascii_lowercase(),
        (None, Some(_), None) => "http".into(),
        (None, None, Some(_)) => "external".into(),
        (None, Some(_), Some(_)) => {
            return Err(Error::invalid(
                "filter_url",
                "give either filter_url (an HTTP filter) or filter_cmd (a command), not both",
            ))
        }
        (None, None, None) => "nb".into(),
    };
    if kind != "http" && (c.filter_url.is_some() || !c.header.is_empty()) {
        return Err(Error::invalid(
            "filter_url",
            "filter_url and header need filter = \"http\" (or no filter)",
        ));
    }
    if kind != "http" && (c.request_template.is_some() || c.rate_limit.is_some()) {
        return Err(Error::invalid(
            "request_template",
            "request_template and rate_limit apply to an HTTP filter (filter_url)",
        ));
    }
    if kind != "external" && c.filter_cmd.is_some() {
        return Err(Error::invalid(
            "filter_cmd",
            "filter_cmd needs filter = \"external\" (or no filter)",
        ));
    }
    Ok(match kind.as_str() {
        "nb" | "naive-bayes" | "naive_bayes" => FilterSpec::NaiveBayes,
        "lr" | "logistic" => FilterSpec::Logistic,
        "external" => {
            let argv: Vec<String> = c
                .filter_cmd
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect();
            if argv.is_empty() {
                return Err(Error::invalid(
                    "filter_cmd",
                    "filter = \"external\" needs filter_cmd, the command to run (e.g. 'python3 filter.py')",
                ));
            }
            FilterSpec::External {
                argv,
                timeout_s: positive_seconds("filter_timeout", c.filter_timeout)?,
            }
        }
        "http" => {
            let url = c.filter_url.clone().ok_or_else(|| {
                Error::invalid(
                    "filter_url",
                    "filter = \"http\" needs filter_url, the endpoint's URL",
                )
            })?;
            let mut headers = Vec::new();
            for h in &c.header {
                let Some((name, value)) = h.split_once(':') else {
                    return Err(Error::invalid(
                        "header",
                        format!("{h:?} is not 'Name: value' (e.g. 'Authorization: Bearer ${{API_TOKEN}}')"),
                    ));
                };
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
            if let Some(t) = &c.request_template {
                TextRequestTemplate::parse(t)?;
            }
            if let Some(r) = c.rate_limit {
                if !(r.is_finite() && r > 0.0) {
                    return Err(Error::invalid(
                        "rate_limit",
                        format!("{r} must be a positive number of requests per second"),
                    ));
                }
            }
            FilterSpec::Http {
                url,
                headers,
                request_template: c.request_template.clone(),
                answer_pointer: c.answer_pointer.clone(),
                timeout_s: positive_seconds("filter_timeout", c.filter_timeout)?,
                retries: c.retries,
                rate_limit: c.rate_limit,
            }
        }
        other => {
            return Err(Error::invalid(
                "filter",
                format!("unknown filter '{other}'; use nb, lr, external or http"),
            ))
        }
    })
}

/// The HTTP filter a [`FilterSpec::Http`] describes.
pub fn http_filter(spec: &FilterSpec) -> Result<HttpFilter> {
    use crate::filters::HttpFilterOptions;
    use std::time::Duration;
    let FilterSpec::Http {
        url,
        headers,
        request_template,
        answer_pointer,
        timeout_s,
        retries,
        rate_limit,
    } = spec
    else {
        return Err(Error::invalid("filter", "not an HTTP filter"));
    };
    let mut options = HttpFilterOptions::new(url.clone());
    options.headers = headers.clone();
    if let Some(t) = request_template {
        options.template = TextRequestTemplate::parse(t)?;
    }
    options.answer_pointer = answer_pointer.clone();
    options.timeout = Duration::from_secs_f64(*timeout_s);
    options.retry.retries = *retries;
    options.rate_limit = *rate_limit;
    HttpFilter::new(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change to a valid configuration.
    type Change = Box<dyn Fn(&mut TextAuditConfig)>;

    fn field_of(c: &TextAuditConfig) -> String {
        match c.validate().unwrap_err() {
            Error::InvalidConfig { field, .. } => field,
            e => panic!("not a setting error: {e}"),
        }
    }

    #[test]
    fn errors_name_the_configuration_key() {
        let ok = TextAuditConfig::new("corpus.jsonl");
        ok.validate().unwrap();
        let cases: Vec<(&str, Change)> = vec![
            ("corpus", Box::new(|c| c.corpus = None)),
            ("train_fraction", Box::new(|c| c.train_fraction = 1.0)),
            ("attacks", Box::new(|c| c.attacks = vec!["fgsm".into()])),
            ("attacks", Box::new(|c| c.attacks.clear())),
            ("max_edits", Box::new(|c| c.max_edits = 2.5)),
            ("max_word_fraction", Box::new(|c| c.max_word_fraction = 0.0)),
            ("max_queries", Box::new(|c| c.max_queries = Some(0.0))),
            ("max_messages", Box::new(|c| c.max_messages = 0)),
            ("dictionary_size", Box::new(|c| c.dictionary_size = 0)),
            ("filter", Box::new(|c| c.filter = Some("svm".into()))),
            (
                "filter_cmd",
                Box::new(|c| c.filter = Some("external".into())),
            ),
            (
                "filter_cmd",
                Box::new(|c| {
                    c.filter = Some("nb".into());
                    c.filter_cmd = Some("python3 f.py".into());
                }),
            ),
            (
                "filter_timeout",
                Box::new(|c| {
                    c.filter_cmd = Some("python3 f.py".into());
                    c.filter_timeout = 0.0;
                }),
            ),
            (
                "filter_url",
                Box::new(|c| {
                    c.filter_cmd = Some("python3 f.py".into());
                    c.filter_url = Some("http://localhost:9".into());
                }),
            ),
            ("filter_url", Box::new(|c| c.header = vec!["X: y".into()])),
            ("filter_url", Box::new(|c| c.filter = Some("http".into()))),
            (
                "header",
                Box::new(|c| {
                    c.filter_url = Some("http://localhost:9".into());
                    c.header = vec!["no colon".into()];
                }),
            ),
            (
                "request_template",
                Box::new(|c| c.request_template = Some("{}".into())),
            ),
            (
                "request_template",
                Box::new(|c| {
                    c.filter_url = Some("http://localhost:9".into());
                    c.request_template = Some("{\"text\": {{text}}}".into());
                }),
            ),
            (
                "rate_limit",
                Box::new(|c| {
                    c.filter_url = Some("http://localhost:9".into());
                    c.rate_limit = Some(-1.0);
                }),
            ),
            (
                "answer_pointer",
                Box::new(|c| {
                    c.filter_url = Some("http://localhost:9".into());
                    c.answer_pointer = "score".into();
                }),
            ),
        ];
        for (field, change) in cases {
            let mut c = ok.clone();
            change(&mut c);
            assert_eq!(field_of(&c), field, "{c:?}");
        }
    }

    #[test]
    fn the_filter_follows_from_the_keys_given() {
        let mut c = TextAuditConfig::new("corpus.jsonl");
        assert_eq!(
            c.validate().unwrap().settings().filter,
            FilterSpec::NaiveBayes
        );
        c.filter = Some("LR".into());
        assert_eq!(
            c.validate().unwrap().settings().filter,
            FilterSpec::Logistic
        );
        c.filter = None;
        c.filter_cmd = Some(" python3  filter.py --fast ".into());
        let argv = vec!["python3".to_string(), "filter.py".into(), "--fast".into()];
        assert_eq!(
            c.validate().unwrap().settings().filter,
            FilterSpec::External {
                argv,
                timeout_s: 10.0
            }
        );
        c.filter_cmd = None;
        c.filter_url = Some("http://localhost:9/score".into());
        c.header = vec!["X-Key:  ${HOME}".into()];
        let FilterSpec::Http { headers, .. } = &c.validate().unwrap().settings().filter.clone()
        else {
            panic!()
        };
        assert_eq!(headers, &[("X-Key".to_string(), "${HOME}".to_string())]);
    }

    #[test]
    fn gate_settings_are_checked_before_any_work() {
        let mut c = TextAuditConfig::new("corpus.jsonl");
        c.fail_under = vec![
            "deepwordbug=0.3".into(),
            "worst+normalized=0.1".into(),
            "goodword+adversarial-training=0".into(),
        ];
        c.validate().unwrap();
        for (bad, needle) in [
            ("deepwordbug=abc", "not a number"),
            ("fgsm=0.3", "this audit runs deepwordbug"),
            ("deepwordbug:linf:0.1=0.3", "write deepwordbug=0.3"),
        ] {
            c.fail_under = vec![bad.into()];
            let e = c.validate().unwrap_err();
            assert!(
                matches!(e, Error::Gate(_)) && e.to_string().contains(needle),
                "{bad}: {e}"
            );
        }
        // Without defenses there is no normalized variant to gate.
        c.fail_under = vec!["worst+normalized=0.1".into()];
        c.no_defenses = true;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("this audit runs deepwordbug, homoglyph, leet, goodword, worst;"));
        c.fail_under.clear();
        c.max_drop = Some(0.1);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("needs a baseline"));
        // The adversarially trained variants exist for built-in filters only.
        let mut ext = TextAuditConfig::new("corpus.jsonl");
        ext.filter_cmd = Some("python3 f.py".into());
        ext.fail_under = vec!["leet+adversarial-training=0.5".into()];
        assert!(ext.validate().is_err());
        ext.fail_under = vec!["leet+normalized=0.5".into()];
        ext.validate().unwrap();
    }
}
