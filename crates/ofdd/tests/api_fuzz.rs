//! The JSON API against its own OpenAPI document, fuzzed by schemathesis (PyPI, installed by
//! `scripts/setup.sh`) against a live daemon with a tenant's write key: no 5xx, every answer
//! matches the document (status, content type, schema), a request without the key is refused,
//! and nothing of another tenant comes back. Also: the document lists exactly the router's
//! routes.

mod common;

use common::*;
use ofd_proto::ack::ResponseCode;
use ofd_proto::builder::KktIdentity;
use ofd_proto::checks::make_rn;
use ofdd::admin::routes::api_routes;
use serde_json::json;

const A: &str = "772998649896";
const B: &str = "779857229651";

fn schemathesis() -> String {
    for name in ["schemathesis", "st"] {
        if std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_string();
        }
    }
    panic!(
        "schemathesis is not installed: run scripts/setup.sh (pip install schemathesis==4.32.5)"
    );
}

struct Status {
    status: u16,
    body: String,
}

/// A request with any method (the common client knows GET, POST and PATCH).
async fn any_method(admin: &Admin, method: &str, path: &str, json_body: bool) -> Status {
    let url = format!("{}{path}", admin.base);
    let token = admin.token.clone().unwrap_or_default();
    let method = method.to_string();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let req = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(if json_body {
                b"{}".to_vec()
            } else {
                Vec::new()
            })
            .unwrap();
        let mut resp = agent.run(req).expect("HTTP request");
        Status {
            status: resp.status().as_u16(),
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_and_the_router_serves_every_documented_one() {
    let t = TestDaemon::start().await;
    let admin = t.admin();
    let doc = admin.get("/api/v1/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for item in paths.values() {
        documented += item.as_object().unwrap().len();
    }
    let routes = api_routes();
    assert_eq!(documented, routes.len(), "documented operations ≠ routes");
    for r in &routes {
        let item = &paths[&format!("/api/v1{}", r.path)];
        assert!(
            item[r.method.to_lowercase()].is_object(),
            "{} {} undocumented",
            r.method,
            r.path
        );
        // The router serves it: no fallback 404 "no such API endpoint", no 405.
        let path = r.path.replace('{', "x").replace('}', "");
        let a = any_method(
            &admin,
            r.method,
            &format!("/api/v1{path}"),
            r.body.is_some(),
        )
        .await;
        assert_ne!(a.status, 405, "{} {} not routed", r.method, r.path);
        assert!(
            !(a.status == 404 && a.body.contains("no such API endpoint")),
            "{} {} not routed",
            r.method,
            r.path
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_no_schema_mismatch_and_no_other_tenants_data() {
    let st = schemathesis();
    let t = TestDaemon::start().await;
    let admin = t.admin();
    for (inn, kind) in [(A, "taxpayer"), (B, "taxpayer")] {
        let r = admin
            .post(
                "/api/v1/organisations",
                json!({ "inn": inn, "name": inn, "kind": kind }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // B has a register with a document and a KKM: markers that must never reach A's key.
    let mut id = KktIdentity::generate(9001);
    id.user_inn = B.as_bytes().to_vec();
    id.rn = make_rn(9001, &id.user_inn, &id.kkt_serial).unwrap();
    let mut b1 = Kkt { id, next_fd: 1 };
    let r = admin
        .post(
            "/api/v1/kkt",
            json!({ "rn": b1.rn_str(), "serial": String::from_utf8_lossy(&b1.id.kkt_serial),
                    "fn": b1.fn_str(), "inn": B, "name": "ООО Бета", "connection": "sim" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut link = Link::connect(t.ingest_addr()).await;
    assert_eq!(
        ack_of(&link.exchange(&b1.receipt()).await).2,
        ResponseCode::Accepted
    );
    let key = admin
        .post(
            &format!("/api/v1/organisations/{A}/api-keys"),
            json!({ "scope": "write" }),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cassette.yaml");
    let base = format!("http://{}", t.d().admin_addr);
    let cmd = std::process::Command::new(&st)
        .args(["run", &format!("{base}/api/v1/openapi.json")])
        .args(["--url", &base])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,ignored_auth",
        ])
        .args(["--max-examples", "10", "--seed", "20261206", "--workers", "1"])
        // The fuzzing phase repeats until the time budget is spent: 90 s on top of the
        // examples and coverage phases keeps the suite inside CI's time.
        .args(["--phases", "examples,coverage,fuzzing", "--max-time", "90"])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--report", "vcr", "--report-vcr-path"])
        .arg(&cassette)
        .current_dir(dir.path())
        .output();
    let out = tokio::task::spawn_blocking(move || cmd)
        .await
        .unwrap()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = std::fs::read_to_string(&cassette).expect("the cassette");
    assert!(
        recorded.len() > 10_000,
        "schemathesis recorded too little: {} bytes",
        recorded.len()
    );
    for marker in [
        b1.fn_str(),
        b1.rn_str(),
        B.to_string(),
        "ООО Бета".to_string(),
    ] {
        assert!(
            !recorded.contains(&marker),
            "another tenant's {marker} came back to A's key"
        );
    }
    t.stop().await;
}
