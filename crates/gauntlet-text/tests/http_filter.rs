//! The HTTP text target against a tiny spam filter served by a test thread: its scores and
//! the attacks' results equal those of the same rule run in-process, a flaky endpoint (HTTP
//! 500s) is retried, and the whole audit runs over HTTP.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gauntlet_text::attacks::goodword::frequent_words;
use gauntlet_text::attacks::{build_attack, AttackKind};
use gauntlet_text::classifier::{evaluate, Oracle};
use gauntlet_text::corpus::demo_corpus_path;
use gauntlet_text::filters::{HttpFilter, HttpFilterOptions, TextRequestTemplate};
use gauntlet_text::mime::extract_text;
use gauntlet_text::{Budget, Classifier, Error, TextAuditConfig};
use gauntlet_transport::RetryPolicy;
use rand::rngs::StdRng;
use rand::SeedableRng;

const SPAMMY: &[&str] = &[
    "free",
    "money",
    "click",
    "offer",
    "remove",
    "order",
    "credit",
    "cash",
    "income",
    "business",
    "guarantee",
    "guaranteed",
    "million",
    "dollars",
    "save",
    "investment",
    "mortgage",
    "rates",
    "unsubscribe",
    "opportunity",
    "marketing",
    "price",
    "win",
    "limited",
    "bonus",
    "earn",
    "buy",
    "cheap",
    "viagra",
    "loan",
    "debt",
];

/// The keyword rule: 1 − exp(−0.25 · spammy words).
fn rule(text: &str) -> f64 {
    let lower = text.to_lowercase();
    let hits = lower
        .split(|c: char| !c.is_ascii_lowercase())
        .filter(|w| SPAMMY.contains(w))
        .count();
    1.0 - (-0.25 * hits as f64).exp()
}

/// The rule in-process.
struct Rule;

impl Classifier for Rule {
    fn name(&self) -> String {
        "rule".into()
    }
    fn scores(&self, texts: &[String]) -> gauntlet_text::Result<Vec<f64>> {
        Ok(texts.iter().map(|t| rule(t)).collect())
    }
}

/// The rule behind HTTP: `POST {"message": {"body": TEXT}}` answers
/// `{"result": {"score": S}}`; requests whose index `fail` picks get HTTP 500.
/// Decides from the request's index and whether this same body failed before
/// whether the server answers HTTP 500.
type FailRule = fn(usize, bool) -> bool;

struct RuleServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl RuleServer {
    fn start(fail: FailRule) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let failed_bodies = Arc::new(Mutex::new(HashSet::new()));
        let (r, f) = (Arc::clone(&requests), Arc::clone(&failed));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, f, b) = (Arc::clone(&r), Arc::clone(&f), Arc::clone(&failed_bodies));
                std::thread::spawn(move || {
                    let _ = answer(stream, fail, &r, &f, &b);
                });
            }
        });
        RuleServer {
            addr,
            requests,
            failed,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/v1/classify", self.addr)
    }
}

fn answer(
    stream: TcpStream,
    fail: FailRule,
    requests: &AtomicUsize,
    failed: &AtomicUsize,
    failed_bodies: &Mutex<HashSet<Vec<u8>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0;
    let mut auth = String::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "x-api-key" => auth = v.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let index = requests.fetch_add(1, Ordering::SeqCst);
    let (status, reply) = if auth != "k-42" {
        (401, r#"{"error": "bad key"}"#.to_string())
    } else if fail(index, failed_bodies.lock().unwrap().contains(&body)) {
        failed.fetch_add(1, Ordering::SeqCst);
        failed_bodies.lock().unwrap().insert(body);
        (500, r#"{"error": "flaky"}"#.to_string())
    } else {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = v["message"]["body"].as_str().unwrap();
        (
            200,
            serde_json::json!({"result": {"score": rule(text)}}).to_string(),
        )
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}

const TEMPLATE: &str = r#"{"message": {"body": "{{text}}"}}"#;

fn filter(server: &RuleServer) -> HttpFilter {
    let mut o = HttpFilterOptions::new(server.url());
    o.template = TextRequestTemplate::parse(TEMPLATE).unwrap();
    o.answer_pointer = "/result/score".into();
    o.headers.push(("X-Api-Key".into(), "${RULE_KEY}".into()));
    o.retry = RetryPolicy {
        retries: 3,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
    };
    o.timeout = Duration::from_secs(10);
    HttpFilter::with_env(o, |name| match name {
        "RULE_KEY" => Ok("k-42".into()),
        _ => Err(std::env::VarError::NotPresent),
    })
    .unwrap()
}

#[test]
fn scores_and_attacks_over_http_equal_the_rule_in_process_even_when_flaky() {
    // Every 7th request fails with HTTP 500 and is retried; a body fails at
    // most once, so concurrent requests cannot line the same one up for every retry.
    let server = RuleServer::start(|i, failed_before| i % 7 == 3 && !failed_before);
    let http = filter(&server);
    let (train, test) = common::demo_split();
    let (m_http, s_http) = evaluate(&http, &test, 16);
    let (m_rule, s_rule) = evaluate(&Rule, &test, 16);
    assert_eq!(s_http, s_rule);
    assert!(m_http.failures.is_empty(), "{:?}", m_http.failures);
    assert_eq!(
        (m_http.tp, m_http.fp, m_http.tn, m_http.fn_),
        (m_rule.tp, m_rule.fp, m_rule.tn, m_rule.fn_)
    );
    assert!(m_rule.tp > 0, "the rule should catch some demo spam");
    assert!(
        server.failed.load(Ordering::SeqCst) > 0,
        "the server did fail"
    );
    let stats = http.stats();
    assert_eq!(
        stats.failures as usize,
        server.failed.load(Ordering::SeqCst)
    );
    assert!(
        http.name()
            .starts_with(&format!("http:POST {}", server.url())),
        "{}",
        http.name()
    );
    assert!(!http.name().contains("k-42"));

    // The same attack, seed and budget give the same result over HTTP as in-process.
    let spam: Vec<String> = test
        .iter()
        .filter(|m| m.label.is_spam())
        .map(|m| extract_text(&m.text))
        .filter(|t| rule(t) >= 0.5)
        .take(3)
        .collect();
    assert!(!spam.is_empty());
    let budget = Budget::new(30.0, 0.3, 150.0, None).unwrap();
    let words = frequent_words(&train, 100);
    for kind in [AttackKind::DeepWordBug, AttackKind::GoodWord] {
        for text in &spam {
            let run = |clf: &dyn Classifier| {
                let mut attack = build_attack(kind, &words);
                let mut rng = StdRng::seed_from_u64(7);
                attack
                    .prepare(&Oracle::new(clf, false, None), &mut rng)
                    .unwrap();
                let oracle = Oracle::new(clf, false, None);
                let r = attack.attack(text, &oracle, &budget, &mut rng).unwrap();
                (r.adversarial, r.success, oracle.queries())
            };
            assert_eq!(run(&http), run(&Rule), "{kind}");
        }
    }
}

#[test]
fn an_endpoint_that_keeps_failing_gives_a_clear_error() {
    let server = RuleServer::start(|_, _| true);
    let e = filter(&server).scores(&["free money".into()]).unwrap_err();
    assert!(matches!(e, Error::Transport(_)));
    let e = e.to_string();
    assert!(
        e.contains("failed 4 times in a row") && e.contains("HTTP 500"),
        "{e}"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 4);
    let mut o = HttpFilterOptions::new(server.url());
    o.headers
        .push(("X-Api-Key".into(), "${GAUNTLET_TEXT_TEST_UNSET_KEY}".into()));
    let e = HttpFilter::new(o).unwrap_err().to_string();
    assert!(e.contains("GAUNTLET_TEXT_TEST_UNSET_KEY is not set"), "{e}");
}

#[test]
fn the_audit_runs_against_an_http_filter() {
    // The first requests fail; the audit goes on as if nothing happened.
    let server = RuleServer::start(|i, _| i < 2);
    std::env::set_var("GAUNTLET_TEXT_RULE_KEY", "k-42");
    let mut cfg = TextAuditConfig::new(demo_corpus_path());
    cfg.train_fraction = 0.8;
    cfg.filter_url = Some(server.url());
    cfg.header = vec!["X-Api-Key: ${GAUNTLET_TEXT_RULE_KEY}".into()];
    cfg.request_template = Some(TEMPLATE.into());
    cfg.answer_pointer = "/result/score".into();
    cfg.attacks = vec!["deepwordbug".into(), "goodword".into()];
    cfg.max_messages = 3;
    cfg.dictionary_size = 100;
    cfg.no_defenses = true;
    cfg.max_edits = 30.0;
    cfg.max_word_fraction = 0.3;
    let r = cfg
        .validate()
        .unwrap()
        .evaluate(&gauntlet_run::Silent)
        .unwrap();
    assert_eq!(server.failed.load(Ordering::SeqCst), 2);
    let (_, test) = common::demo_split();
    let (m_rule, _) = evaluate(&Rule, &test, 64);
    let m = &r.filters[0].metrics;
    assert!(m.failures.is_empty(), "{:?}", m.failures);
    assert_eq!(
        (m.tp, m.fp, m.tn, m.fn_),
        (m_rule.tp, m_rule.fp, m_rule.tn, m_rule.fn_)
    );
    assert_eq!(r.runs.len(), 2);
    assert!(
        r.runs[0].attacked > 0 && r.runs.iter().any(|x| x.evaded > 0),
        "{:?}",
        r.runs
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("k-42"), "the key reached the report");
    assert!(
        json.contains("<redacted>"),
        "header values are redacted in the recorded config"
    );
}

#[test]
fn a_sharded_http_audit_keeps_its_key_out_of_the_shard_files_and_merges_without_a_query() {
    let server = RuleServer::start(|_, _| false);
    std::env::set_var("GAUNTLET_TEXT_SHARD_KEY", "k-42");
    let root =
        std::env::temp_dir().join(format!("gauntlet-text-http-shard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let config = |out: &str, shard: Option<&str>| {
        let mut cfg = TextAuditConfig::new(demo_corpus_path());
        cfg.filter_url = Some(server.url());
        cfg.header = vec!["X-Api-Key: ${GAUNTLET_TEXT_SHARD_KEY}".into()];
        cfg.request_template = Some(TEMPLATE.into());
        cfg.answer_pointer = "/result/score".into();
        cfg.attacks = vec!["deepwordbug".into(), "leet".into()];
        cfg.max_messages = 4;
        cfg.no_defenses = true;
        cfg.max_word_fraction = 0.3;
        cfg.quiet = true;
        cfg.out = root.join(out);
        cfg.shard = shard.map(str::to_string);
        cfg
    };
    let whole = config("out", None)
        .validate()
        .unwrap()
        .run(&gauntlet_run::Silent)
        .unwrap();
    assert!(whole.report.outcomes.len() >= 6);
    std::fs::rename(root.join("out"), root.join("unsharded")).unwrap();
    for i in 0..2 {
        let shard = format!("{i}/2");
        config(&format!("s{i}"), Some(&shard))
            .validate()
            .unwrap()
            .run(&gauntlet_run::Silent)
            .unwrap();
        let record = std::fs::read_to_string(root.join(format!("s{i}/shard.json"))).unwrap();
        assert!(!record.contains("k-42") && record.contains("<redacted>"));
    }
    // The merge needs neither the key nor the endpoint: it sends nothing.
    std::env::remove_var("GAUNTLET_TEXT_SHARD_KEY");
    let sent = server.requests.load(Ordering::SeqCst);
    let shards = [root.join("s1"), root.join("s0")];
    gauntlet_text::shard::merge(
        &shards,
        &root.join("out"),
        true,
        false,
        &gauntlet_run::Silent,
    )
    .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), sent);
    let report = |dir: &str| {
        std::fs::read_to_string(root.join(dir).join("text-report.json"))
            .unwrap()
            .lines()
            .filter(|l| !l.contains("seconds\":"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(report("out"), report("unsharded"));
    std::fs::remove_dir_all(&root).unwrap();
}
