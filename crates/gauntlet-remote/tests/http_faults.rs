//! The HTTP transport against a hand-written server that fails on purpose: retries, timeouts,
//! malformed answers, redirects, client errors and the client-side rate limit.

mod common;

use std::time::{Duration, Instant};

use common::{inputs_of, quick_retries, Reply, Seen, TestServer};
use gauntlet_core::device::compute_device;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_remote::{HttpSettings, RemoteClassifier, Shape};

/// The server's model: two features in, scores [x0 + x1, x0 − x1] out.
fn scores_for(seen: &Seen) -> Reply {
    let rows: Vec<String> = inputs_of(&seen.body)
        .iter()
        .map(|x| format!("[{}, {}]", x[0] + x[1], x[0] - x[1]))
        .collect();
    Reply::json(200, format!("{{\"scores\": [{}]}}", rows.join(", ")))
}

fn remote(url: String, edit: impl FnOnce(&mut HttpSettings)) -> RemoteClassifier {
    let mut settings = HttpSettings::new(url);
    settings.retry = quick_retries(3);
    settings.timeout = Duration::from_secs(5);
    edit(&mut settings);
    RemoteClassifier::http(settings, Shape::new(vec![2], 2).unwrap()).unwrap()
}

fn query(target: &RemoteClassifier, rows: Vec<f32>) -> gauntlet_core::Result<Vec<f32>> {
    let n = rows.len() / 2;
    target
        .logits(from_rows(rows, n, 2, &compute_device()))
        .map(to_vec)
}

#[test]
fn two_server_errors_then_success_takes_three_attempts() {
    let server = TestServer::start(|seen| {
        if seen.index < 2 {
            Reply::json(500, r#"{"error": "warming up"}"#)
        } else {
            scores_for(seen)
        }
    });
    let target = remote(server.url("/predict"), |_| {});
    let out = query(&target, vec![1.0, 2.0, 0.5, 0.25]).unwrap();
    assert_eq!(out, vec![3.0, -1.0, 0.75, 0.25]);
    let stats = target.stats();
    assert_eq!(
        (stats.requests, stats.attempts, stats.failures, stats.rows),
        (1, 3, 2, 2)
    );
    assert_eq!(server.requests(), 3);
}

#[test]
fn a_server_slower_than_the_timeout_is_retried_then_reported() {
    let server = TestServer::start(|seen| Reply {
        delay: Duration::from_secs(5),
        ..scores_for(seen)
    });
    let target = remote(server.url("/slow"), |s| {
        s.timeout = Duration::from_millis(200);
        s.retry = quick_retries(1);
    });
    let started = Instant::now();
    let e = query(&target, vec![1.0, 2.0]).unwrap_err().to_string();
    assert!(e.contains("failed 2 times in a row"), "{e}");
    assert!(
        e.contains("no complete answer within the timeout of 200 ms"),
        "{e}"
    );
    assert!(
        e.contains(&format!("POST http://{}/slow", server.addr)),
        "{e}"
    );
    assert_eq!(target.stats().attempts, 2);
    // Each try was cut at the timeout instead of waiting for the slow answer.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_answers_are_retried_then_reported() {
    let server = TestServer::start(|_| Reply::json(200, "<html>502 from the proxy</html>"));
    let target = remote(server.url("/predict"), |s| s.retry = quick_retries(2));
    let e = query(&target, vec![1.0, 2.0]).unwrap_err().to_string();
    assert!(e.contains("failed 3 times in a row"), "{e}");
    assert!(
        e.contains("not valid JSON") && e.contains("<html>502 from the proxy"),
        "{e}"
    );
    assert_eq!(server.requests(), 3);

    // Valid JSON of the wrong shape is also a flaky answer: retried, then explained.
    let server = TestServer::start(|_| Reply::json(200, r#"{"scores": [[1, 2, 3]]}"#));
    let wrong_shape = remote(server.url("/predict"), |s| s.retry = quick_retries(1));
    let e = query(&wrong_shape, vec![1.0, 2.0]).unwrap_err().to_string();
    assert!(
        e.contains("has 3 score(s) but the model has 2 classes"),
        "{e}"
    );
    assert_eq!(server.requests(), 2);
}

#[test]
fn client_errors_are_not_retried_and_show_the_answer() {
    let long = "x".repeat(500);
    let body = format!(r#"{{"detail": "field 'inputs' must be a list {long}"}}"#);
    let server = TestServer::start(move |_| Reply::json(400, body.clone()));
    let target = remote(server.url("/predict"), |_| {});
    let e = query(&target, vec![1.0, 2.0]).unwrap_err().to_string();
    assert!(
        e.contains("answered HTTP 400 Bad Request, a client error that is not retried"),
        "{e}"
    );
    assert!(e.contains("field 'inputs' must be a list"), "{e}");
    assert!(
        !e.contains(&"x".repeat(300)),
        "the answer is cut to 200 characters: {e}"
    );
    assert_eq!(server.requests(), 1);
    assert_eq!(target.stats().attempts, 1);
}

#[test]
fn redirects_are_followed_on_the_same_host_only() {
    let server = TestServer::start(|seen| match seen.path.as_str() {
        "/old" => Reply {
            headers: vec![("Location".into(), "/v2/predict".into())],
            ..Reply::json(307, "")
        },
        "/v2/predict" => scores_for(seen),
        _ => Reply {
            headers: vec![(
                "Location".into(),
                "http://evil.example.com:8080/steal?k=1".into(),
            )],
            ..Reply::json(302, "")
        },
    });
    let same = remote(server.url("/old"), |_| {});
    assert_eq!(query(&same, vec![1.0, 2.0]).unwrap(), vec![3.0, -1.0]);

    let before = server.requests();
    let elsewhere = remote(server.url("/moved"), |_| {});
    let e = query(&elsewhere, vec![1.0, 2.0]).unwrap_err().to_string();
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
fn batches_are_split_sent_concurrently_and_reassembled_in_order() {
    // Later rows are answered faster, so answers arrive out of order.
    let server = TestServer::start(|seen| {
        let first = inputs_of(&seen.body)[0][0];
        Reply {
            delay: Duration::from_millis(60u64.saturating_sub(first as u64 * 5)),
            ..scores_for(seen)
        }
    });
    let target = remote(server.url("/predict"), |s| {
        s.rows_per_request = 3;
        s.max_in_flight = 3;
    });
    let rows: Vec<f32> = (0..10).flat_map(|i| [i as f32, 1.0]).collect();
    let out = query(&target, rows).unwrap();
    let expected: Vec<f32> = (0..10)
        .flat_map(|i| [i as f32 + 1.0, i as f32 - 1.0])
        .collect();
    assert_eq!(out, expected);
    assert_eq!(target.stats().requests, 4);
    assert_eq!(server.requests(), 4);
}

#[test]
fn the_rate_limit_spaces_requests() {
    let server = TestServer::start(scores_for);
    let target = remote(server.url("/predict"), |s| {
        s.max_requests_per_second = Some(20.0);
        s.rows_per_request = 1;
        s.max_in_flight = 4;
    });
    let started = Instant::now();
    query(&target, vec![0.5; 20]).unwrap();
    assert_eq!(server.requests(), 10);
    // Ten requests at 20 per second: the tenth leaves 9/20 s after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn probe_catches_a_wrong_number_of_classes_early() {
    let server = TestServer::start(|_| Reply::json(200, r#"{"scores": [[0.1, 0.2, 0.7]]}"#));
    let mut settings = HttpSettings::new(server.url("/predict"));
    settings.retry = quick_retries(0);
    let target = RemoteClassifier::http(settings, Shape::new(vec![2], 10).unwrap()).unwrap();
    let e = target.probe().unwrap_err().to_string();
    assert!(
        e.contains("one all-zero input (2 values, 10 classes, scores)"),
        "{e}"
    );
    assert!(
        e.contains("has 3 score(s) but the model has 10 classes"),
        "{e}"
    );
}
