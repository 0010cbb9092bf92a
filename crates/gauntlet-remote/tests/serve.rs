//! `serve` with the demo MNIST CNN, queried through `RemoteClassifier` over HTTP: the scores
//! must be bit-identical to calling the model directly, and the server must explain bad
//! requests.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::root;
use gauntlet_core::data::Dataset;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{AnswerKind, Classifier};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_onnx::OnnxModel;
use gauntlet_remote::{
    AnswerSpec, HttpSettings, RemoteClassifier, ServeOptions, ServerHandle, Shape,
};

const N: usize = 32;

fn model() -> Arc<OnnxModel> {
    Arc::new(OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap())
}

/// The first `N` demo digits, flat.
fn digits() -> Vec<f32> {
    let dir = root().join("data/mnist-demo");
    let data = Dataset::load(&dir.join("x.npy"), &dir.join("y.npy")).unwrap();
    data.inputs[..N * data.features()].to_vec()
}

fn start(model: Arc<OnnxModel>, labels_only: bool) -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let options = ServeOptions {
        labels_only,
        workers: 2,
        ..ServeOptions::default()
    };
    ServerHandle::start(model, addr, options).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn remote_scores_are_bit_identical_to_the_model_and_labels_only_is_one_hot() {
    let model = model();
    let x = digits();
    let f = model.features();
    let shape = Shape::new(model.sample_shape().to_vec(), model.num_classes()).unwrap();
    let direct = to_vec(
        model
            .logits(from_rows(x.clone(), N, f, &compute_device()))
            .unwrap(),
    );

    let server = start(Arc::clone(&model), false);
    let url = format!("http://{}/predict", server.addr());
    let remote = RemoteClassifier::http(HttpSettings::new(url.clone()), shape.clone()).unwrap();
    remote.probe().unwrap();
    assert_eq!(remote.sample_shape(), &[1, 28, 28]);
    let answered = to_vec(
        remote
            .logits(from_rows(x.clone(), N, f, &compute_device()))
            .unwrap(),
    );
    assert_eq!(bits(&answered), bits(&direct), "one request of 32 rows");

    // Split into 4 concurrent requests of 8: each must match the model on the same 8 rows.
    let mut settings = HttpSettings::new(url.clone());
    settings.rows_per_request = 8;
    settings.max_in_flight = 4;
    let split = RemoteClassifier::http(settings, shape.clone()).unwrap();
    let answered = to_vec(
        split
            .logits(from_rows(x.clone(), N, f, &compute_device()))
            .unwrap(),
    );
    let per_chunk: Vec<f32> = x
        .chunks(8 * f)
        .flat_map(|c| {
            to_vec(
                model
                    .logits(from_rows(c.to_vec(), 8, f, &compute_device()))
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        bits(&answered),
        bits(&per_chunk),
        "4 requests of 8 rows, reassembled in order"
    );
    assert_eq!(split.stats().requests, 4);

    let labels_server = start(Arc::clone(&model), true);
    let mut settings = HttpSettings::new(format!("http://{}/predict", labels_server.addr()));
    settings.answer = AnswerSpec::default_for(AnswerKind::Label);
    let labels = RemoteClassifier::http(settings, shape).unwrap();
    assert_eq!(labels.answer_kind(), AnswerKind::Label);
    let one_hot = to_vec(
        labels
            .logits(from_rows(x, N, f, &compute_device()))
            .unwrap(),
    );
    for row in one_hot.chunks(10) {
        assert_eq!(row.iter().filter(|&&v| v == 1.0).count(), 1);
        assert_eq!(row.iter().filter(|&&v| v == 0.0).count(), 9);
    }
    assert_eq!(argmax_rows(&one_hot, 10), argmax_rows(&direct, 10));
    server.stop();
    labels_server.stop();
}

/// Status and JSON body of one raw request.
fn raw(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(body.to_string())
        .unwrap();
    let mut response = agent.run(request).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

#[test]
fn the_server_explains_bad_requests() {
    let model = model();
    let server = start(Arc::clone(&model), false);
    let addr = server.addr();

    let (status, health) = raw(addr, "GET", "/health", "");
    assert_eq!(status, 200);
    assert_eq!(
        health,
        serde_json::json!({"sample_shape": [1, 28, 28], "num_classes": 10, "answer": "scores"})
    );

    // Flat [n, F] rows are accepted as well as nested samples, with the same answer.
    let zeros = vec![0.0f32; 784];
    let flat = format!(
        "{{\"inputs\": [{}]}}",
        serde_json::to_string(&zeros).unwrap()
    );
    let (status, answer) = raw(addr, "POST", "/predict", &flat);
    assert_eq!(status, 200);
    assert_eq!(answer["scores"].as_array().unwrap().len(), 1);
    assert_eq!(answer["scores"][0].as_array().unwrap().len(), 10);
    let nested = format!(
        "{{\"inputs\": [[{}]]}}",
        serde_json::to_string(&vec![vec![0.0f32; 28]; 28]).unwrap()
    );
    let (_, nested_answer) = raw(addr, "POST", "/predict", &nested);
    assert_eq!(nested_answer, answer);
    let (status, empty) = raw(addr, "POST", "/predict", r#"{"inputs": []}"#);
    assert_eq!(
        (status, empty),
        (200, serde_json::json!({"scores": [], "labels": []}))
    );

    let error = |method: &str, path: &str, body: &str| {
        let (status, v) = raw(addr, method, path, body);
        (
            status,
            v["error"]
                .as_str()
                .unwrap_or_else(|| panic!("no error in {v}"))
                .to_string(),
        )
    };
    let (status, e) = error("POST", "/predict", "{\"inputs\": [[1, 2,");
    assert!(
        status == 400 && e.contains("not valid JSON"),
        "{status} {e}"
    );
    let (status, e) = error("POST", "/predict", r#"{"inputs": [[NaN, 1]]}"#);
    assert!(status == 400 && e.contains("NaN"), "{status} {e}");
    let (status, e) = error("POST", "/predict", r#"{"data": [[1]]}"#);
    assert!(
        status == 400 && e.contains("the body has the key(s) data"),
        "{status} {e}"
    );
    let (status, e) = error("POST", "/predict", r#"{"inputs": [[1, 2, 3]]}"#);
    assert!(
        status == 400
            && e.contains("has shape [1, 3]")
            && e.contains("[n, 1, 28, 28]")
            && e.contains("[n, 784]"),
        "{status} {e}"
    );
    let mut with_null = vec![serde_json::json!(0.0); 784];
    with_null[5] = serde_json::Value::Null;
    let (status, e) = error(
        "POST",
        "/predict",
        &serde_json::json!({"inputs": [with_null]}).to_string(),
    );
    assert!(
        status == 400 && e.contains("inputs[0][5] is null"),
        "{status} {e}"
    );
    let (status, e) = error(
        "POST",
        "/predict",
        &format!(
            "{{\"inputs\": [{}, [1]]}}",
            serde_json::to_string(&zeros).unwrap()
        ),
    );
    assert!(
        status == 400 && e.contains("inputs[1] has 1 entries but 784 were expected"),
        "{status} {e}"
    );
    let (status, e) = error(
        "POST",
        "/predict",
        &format!(
            "{{\"inputs\": [{}]}}",
            serde_json::to_string(&zeros)
                .unwrap()
                .replacen("0.0", "1e39", 1)
        ),
    );
    assert!(
        status == 400 && e.contains("not a finite 32-bit float"),
        "{status} {e}"
    );
    let (status, e) = error("GET", "/nope", "");
    assert!(status == 404 && e.contains("POST /predict"), "{status} {e}");
    let (status, _) = error("GET", "/predict", "");
    assert_eq!(status, 405);
    server.stop();
}
