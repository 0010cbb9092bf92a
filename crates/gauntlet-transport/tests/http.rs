//! The HTTP client against a hand-written server that fails on purpose: retries, timeouts,
//! malformed answers, redirects, client errors, `Retry-After`, the in-flight bound and
//! secrets.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{quick_retries, Reply, TestServer};
use gauntlet_transport::{HttpClient, HttpOptions, TransportError};

fn client(url: String, edit: impl FnOnce(&mut HttpOptions)) -> HttpClient {
    let mut options = HttpOptions::new(url);
    options.retry = quick_retries(3);
    options.timeout = Duration::from_secs(5);
    edit(&mut options);
    HttpClient::new(options).unwrap()
}

/// Decodes `{"score": x}`.
fn score(answer: &str) -> Result<f64, String> {
    let v: serde_json::Value =
        serde_json::from_str(answer).map_err(|e| format!("not JSON ({e})"))?;
    v["score"]
        .as_f64()
        .ok_or_else(|| "no number at /score".to_string())
}

#[test]
fn server_errors_are_retried_then_the_answer_is_decoded() {
    let server = TestServer::start(|seen| {
        if seen.index < 2 {
            Reply::json(500, r#"{"error": "warming up"}"#)
        } else {
            let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
            assert_eq!(body, serde_json::json!({"text": "hi"}));
            assert_eq!(seen.headers["content-type"], "application/json");
            Reply::json(200, r#"{"score": 0.25}"#)
        }
    });
    let c = client(server.url("/score"), |_| {});
    assert_eq!(c.exchange(r#"{"text": "hi"}"#, score).unwrap(), 0.25);
    let stats = c.stats();
    assert_eq!(
        (
            stats.requests,
            stats.attempts,
            stats.failures,
            stats.answered
        ),
        (1, 3, 2, 1)
    );
    assert_eq!(server.requests(), 3);
    let body = serde_json::json!({"text": "hi"});
    assert_eq!(c.exchange_json(&body, score).unwrap(), 0.25);
}

#[test]
fn giving_up_on_server_errors_names_the_endpoint_and_the_last_answer() {
    let server = TestServer::start(|_| Reply::json(503, r#"{"error": "overloaded"}"#));
    let c = client(server.url("/score"), |o| o.retry = quick_retries(2));
    let e = c.exchange("{}", score).unwrap_err();
    assert!(matches!(e, TransportError::Failed(_)));
    let e = e.to_string();
    assert!(
        e.contains(&format!(
            "the endpoint POST {} failed 3 times in a row",
            server.url("/score")
        )),
        "{e}"
    );
    assert!(
        e.contains("HTTP 503 Service Unavailable") && e.contains("overloaded"),
        "{e}"
    );
    assert!(e.contains("Check that the endpoint is up"), "{e}");
}

#[test]
fn a_slow_server_times_out_and_is_retried() {
    let server = TestServer::start(|_| Reply {
        delay: Duration::from_secs(5),
        ..Reply::json(200, r#"{"score": 1}"#)
    });
    let c = client(server.url("/slow"), |o| {
        o.timeout = Duration::from_millis(200);
        o.retry = quick_retries(1);
    });
    let started = Instant::now();
    let e = c.exchange("{}", score).unwrap_err().to_string();
    assert!(e.contains("failed 2 times in a row"), "{e}");
    assert!(
        e.contains("no complete answer within the timeout of 200 ms"),
        "{e}"
    );
    assert_eq!(c.stats().attempts, 2);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_answers_are_retried_then_explained() {
    let server = TestServer::start(|seen| {
        if seen.index == 0 {
            Reply::json(200, "<html>502 from the proxy</html>")
        } else {
            Reply::json(200, r#"{"score": 0.5}"#)
        }
    });
    let c = client(server.url("/score"), |_| {});
    assert_eq!(
        c.exchange("{}", score).unwrap(),
        0.5,
        "a flaky answer is retried"
    );

    let server = TestServer::start(|_| Reply::json(200, "<html>502 from the proxy</html>"));
    let c = client(server.url("/score"), |o| {
        o.retry = quick_retries(2);
        o.unusable_advice = "Check the answer pointer".into();
    });
    let e = c.exchange("{}", score).unwrap_err().to_string();
    assert!(e.contains("failed 3 times in a row"), "{e}");
    assert!(
        e.contains("HTTP 200, but the answer cannot be used: not JSON"),
        "{e}"
    );
    assert!(e.ends_with("Check the answer pointer"), "{e}");
    assert_eq!(server.requests(), 3);
}

#[test]
fn client_errors_are_not_retried() {
    let server =
        TestServer::start(|_| Reply::json(400, r#"{"detail": "field 'text' is missing"}"#));
    let c = client(server.url("/score"), |_| {});
    let e = c.exchange("{}", score).unwrap_err().to_string();
    assert!(
        e.contains("answered HTTP 400 Bad Request, a client error that is not retried"),
        "{e}"
    );
    assert!(e.contains("field 'text' is missing"), "{e}");
    assert_eq!(server.requests(), 1);
}

#[test]
fn redirects_stay_on_the_same_host() {
    let server = TestServer::start(|seen| match seen.path.as_str() {
        "/old" => Reply {
            headers: vec![("Location".into(), "/v2/score".into())],
            ..Reply::json(307, "")
        },
        "/v2/score" => Reply::json(200, r#"{"score": 0.75}"#),
        _ => Reply {
            headers: vec![(
                "Location".into(),
                "http://evil.example.com:8080/steal?k=1".into(),
            )],
            ..Reply::json(302, "")
        },
    });
    assert_eq!(
        client(server.url("/old"), |_| {})
            .exchange("{}", score)
            .unwrap(),
        0.75
    );
    let before = server.requests();
    let e = client(server.url("/moved"), |_| {})
        .exchange("{}", score)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("redirects (HTTP 302) to another host or scheme, http://evil.example.com:8080"),
        "{e}"
    );
    assert!(!e.contains("steal"), "only the origin is shown: {e}");
    assert_eq!(
        server.requests() - before,
        1,
        "a refused redirect is not retried"
    );
}

#[test]
fn retry_after_is_honoured() {
    let server = TestServer::start(|seen| {
        if seen.index == 0 {
            Reply {
                headers: vec![("Retry-After".into(), "1".into())],
                ..Reply::json(429, r#"{"error": "slow down"}"#)
            }
        } else {
            Reply::json(200, r#"{"score": 0}"#)
        }
    });
    let c = client(server.url("/score"), |_| {});
    let started = Instant::now();
    assert_eq!(c.exchange("{}", score).unwrap(), 0.0);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn requests_in_flight_are_bounded_over_threads() {
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (a, p) = (Arc::clone(&active), Arc::clone(&peak));
    let server = TestServer::start(move |_| {
        let now = a.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        a.fetch_sub(1, Ordering::SeqCst);
        Reply::json(200, r#"{"score": 1}"#)
    });
    let c = client(server.url("/score"), |o| o.max_in_flight = 2);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| c.exchange("{}", score).unwrap());
        }
    });
    assert_eq!(server.requests(), 6);
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "{}",
        peak.load(Ordering::SeqCst)
    );
}

#[test]
fn the_rate_limit_spaces_requests() {
    let server = TestServer::start(|_| Reply::json(200, r#"{"score": 1}"#));
    let c = client(server.url("/score"), |o| {
        o.max_requests_per_second = Some(20.0)
    });
    let started = Instant::now();
    for _ in 0..5 {
        c.exchange("{}", score).unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "{:?}",
        started.elapsed()
    );
    let mut bad = HttpOptions::new(server.url("/"));
    bad.max_requests_per_second = Some(0.0);
    assert!(matches!(
        HttpClient::new(bad),
        Err(TransportError::Settings(_))
    ));
}

#[test]
fn a_secret_is_sent_and_never_shown() {
    const TOKEN: &str = "tr-5e6f7a8b9c-secret";
    let env = |name: &str| match name {
        "TRANSPORT_TEST_TOKEN" => Ok(TOKEN.to_string()),
        _ => Err(std::env::VarError::NotPresent),
    };
    let server = TestServer::start(|seen| {
        let auth = seen
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_default();
        match seen.path.as_str() {
            "/echo500" => Reply::json(500, format!(r#"{{"auth": "{auth}"}}"#)),
            "/echo403" => Reply::json(403, format!(r#"{{"forbidden": "{auth}"}}"#)),
            "/echo200" => Reply::json(200, format!(r#"{{"not a score": "{auth}"}}"#)),
            _ if auth == format!("Bearer {TOKEN}") => Reply::json(200, r#"{"score": 0.5}"#),
            _ => Reply::json(401, r#"{"error": "bad token"}"#),
        }
    });
    let options = |url: String| {
        let mut o = HttpOptions::new(url);
        o.headers.push((
            "Authorization".into(),
            "Bearer ${TRANSPORT_TEST_TOKEN}".into(),
        ));
        o.retry = quick_retries(1);
        o.timeout = Duration::from_secs(5);
        o
    };
    let ok = HttpClient::with_env(options(server.url("/score")), env).unwrap();
    assert_eq!(ok.exchange("{}", score).unwrap(), 0.5);
    let mut shown = vec![format!("{ok:?}"), ok.describe()];
    assert_eq!(
        ok.describe(),
        format!(
            "POST {} (headers: Authorization: <redacted>)",
            server.url("/score")
        )
    );
    for path in ["/echo500", "/echo403", "/echo200"] {
        let c = HttpClient::with_env(options(server.url(path)), env).unwrap();
        // The decoder quotes the answer, as a careless one might.
        let e = c
            .exchange("{}", |a| Err::<(), _>(format!("cannot use {a}")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("<redacted>"), "{e}");
        shown.push(e);
    }
    let refused = HttpClient::with_env(options("http://127.0.0.1:1/score".into()), env).unwrap();
    shown.push(refused.exchange("{}", score).unwrap_err().to_string());
    let mut secret_url =
        options("http://127.0.0.1:1/score?key=${TRANSPORT_TEST_TOKEN}".to_string());
    secret_url.headers.clear();
    let c = HttpClient::with_env(secret_url, env).unwrap();
    shown.push(c.describe());
    shown.push(c.exchange("{}", score).unwrap_err().to_string());
    for text in &shown {
        assert!(
            !text.contains(TOKEN) && !text.contains("5e6f7a8b9c"),
            "the token leaked: {text}"
        );
    }
}
