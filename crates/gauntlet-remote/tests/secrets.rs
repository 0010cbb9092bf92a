//! A secret header read from the environment is sent, and never shown: not in `Debug`, not in
//! `describe()`, not in any error — even when a server echoes it back. (Its own test binary:
//! it sets an environment variable, which must not race with other threads.)

mod common;

use std::time::Duration;

use common::{quick_retries, Reply, TestServer};
use gauntlet_core::device::compute_device;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_remote::{HttpEndpoint, HttpSettings, RemoteClassifier, Shape, Transport};

const TOKEN: &str = "gt-9f8e7d6c5b4a-secret";

#[test]
fn the_token_is_sent_and_never_shown() {
    std::env::set_var("GAUNTLET_TEST_TOKEN", TOKEN);
    // The server accepts the right token, echoes any other Authorization in a 401, and on
    // /echo500 fails with the header in the answer (as some debugging servers do).
    let server = TestServer::start(|seen| {
        let auth = seen
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_default();
        if seen.path == "/echo500" {
            return Reply::json(500, format!(r#"{{"error": "internal", "auth": "{auth}"}}"#));
        }
        if seen.path == "/echo403" {
            return Reply::json(403, format!(r#"{{"error": "forbidden for {auth}"}}"#));
        }
        if auth == format!("Bearer {TOKEN}") {
            Reply::json(200, r#"{"scores": [[0.25, 0.75]]}"#)
        } else {
            Reply::json(401, format!(r#"{{"error": "bad token {auth}"}}"#))
        }
    });
    let settings = |path: &str| {
        let mut s = HttpSettings::new(server.url(path));
        s.headers.push((
            "Authorization".into(),
            "Bearer ${GAUNTLET_TEST_TOKEN}".into(),
        ));
        s.headers.push(("X-Client".into(), "gauntlet-tests".into()));
        s.retry = quick_retries(1);
        s.timeout = Duration::from_secs(5);
        s
    };
    let shape = Shape::new(vec![2], 2).unwrap();
    let x = || from_rows(vec![0.5, 0.5], 1, 2, &compute_device());

    let endpoint = HttpEndpoint::new(settings("/predict"), shape.clone()).unwrap();
    let shown = [
        format!("{endpoint:?}"),
        endpoint.describe(),
        Transport::describe(&endpoint),
    ];
    let target = RemoteClassifier::new(endpoint);
    assert_eq!(to_vec(target.logits(x()).unwrap()), vec![0.25, 0.75]);
    assert_eq!(
        target.describe(),
        format!(
            "POST {} (headers: Authorization: <redacted>, X-Client: <redacted>)",
            server.url("/predict")
        )
    );

    let mut messages = Vec::new();
    for path in ["/echo500", "/echo403"] {
        let target = RemoteClassifier::http(settings(path), shape.clone()).unwrap();
        let e = target.logits(x()).unwrap_err().to_string();
        assert!(
            e.contains("<redacted>"),
            "the echoed header is scrubbed: {e}"
        );
        messages.push(e);
    }
    // A connection that is refused.
    let mut refused = settings("/predict");
    refused.url = "http://127.0.0.1:1/predict".into();
    let target = RemoteClassifier::http(refused, shape.clone()).unwrap();
    messages.push(target.logits(x()).unwrap_err().to_string());
    messages.push(format!("{target:?}"));
    // A missing variable is named; no value is shown.
    let mut missing = settings("/predict");
    missing
        .headers
        .push(("X-Other".into(), "${GAUNTLET_TEST_TOKEN_MISSING}".into()));
    let e = HttpEndpoint::new(missing, shape.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains("GAUNTLET_TEST_TOKEN_MISSING is not set"), "{e}");
    messages.push(e);

    for text in shown.iter().chain(&messages) {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
        assert!(
            !text.contains("9f8e7d6c5b4a"),
            "part of the token leaked: {text}"
        );
    }
}
