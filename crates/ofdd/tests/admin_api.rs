//! The operator's admin API over real HTTP: registry lifecycle, admission, auth, bad requests.

mod common;

use common::*;
use ofd_proto::ack::ResponseCode;
use serde_json::json;

fn register_body(kkt: &Kkt) -> serde_json::Value {
    json!({
        "rn": kkt.rn_str(),
        "serial": String::from_utf8_lossy(&kkt.id.kkt_serial),
        "fn": kkt.fn_str(),
        "inn": String::from_utf8_lossy(&kkt.id.user_inn),
        "name": "ООО Ромашка",
        "address": "г. Москва, ул. Тверская, д. 1",
        "place": "Магазин №1",
        "connection": "sim",
        "tariff": "basic",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_lifecycle_and_admission() {
    let t = TestDaemon::start().await;
    let admin = t.admin();
    let mut kkt = Kkt::new(501);

    let created = admin.post("/api/v1/kkt", register_body(&kkt)).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["status"], "registered");
    let again = admin.post("/api/v1/kkt", register_body(&kkt)).await;
    assert_eq!(again.status, 409, "{}", again.text());

    // Filters.
    let other = Kkt::new(502);
    let mut body = register_body(&other);
    body["name"] = json!("ИП Петров");
    body["connection"] = json!("wired");
    assert_eq!(admin.post("/api/v1/kkt", body).await.status, 201);
    let sims = admin.get("/api/v1/kkt?connection=sim").await.json();
    assert_eq!(sims["items"].as_array().unwrap().len(), 1);
    let named = admin
        .get("/api/v1/kkt?name=%D0%BF%D0%B5%D1%82%D1%80%D0%BE%D0%B2")
        .await
        .json(); // "петров"
    assert_eq!(named["items"][0]["rn"], other.rn_str());
    let page = admin.get("/api/v1/kkt?limit=1").await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().expect("a next cursor").to_string();
    let page2 = admin
        .get(&format!("/api/v1/kkt?limit=1&after={next}"))
        .await
        .json();
    assert_ne!(page2["items"][0]["rn"], page["items"][0]["rn"]);

    // Edit.
    let patched = admin
        .request(
            "PATCH",
            &format!("/api/v1/kkt/{}", kkt.rn_str()),
            Some(json!({"tariff": "premium", "status": "saved"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["tariff"], "premium");
    assert_eq!(patched.json()["status"], "saved");

    // Documents are accepted while registered, refused once deregistered.
    let mut link = Link::connect(t.ingest_addr()).await;
    let day = now() / 86_400;
    assert_eq!(
        ack_of(&link.exchange(&kkt.receipt_today()).await).2,
        ResponseCode::Accepted
    );
    let status = admin
        .get(&format!("/api/v1/kkt/{}/status", kkt.rn_str()))
        .await
        .json();
    assert_eq!(status["liveness"], "green", "{status}");
    // Unless a midnight passed meanwhile (then the daemon may have asked either day).
    if now() / 86_400 == day {
        assert_eq!(status["documents_today"], 1, "{status}");
    }

    let dereg = admin
        .post(
            &format!("/api/v1/kkt/{}/deregister", kkt.rn_str()),
            json!({}),
        )
        .await;
    assert_eq!(dereg.status, 200, "{}", dereg.text());
    assert_eq!(dereg.json()["status"], "deregistered");
    let refused = link.exchange(&kkt.receipt()).await;
    assert_eq!(ack_of(&refused).2, ResponseCode::Other(10));
    let m = admin.metrics().await;
    assert_eq!(
        metric(
            &m,
            "ofd_documents_total{doc_type=\"receipt\",result=\"refused\"}"
        ),
        1.0
    );

    // Documents of the register, as JSON and CSV.
    let docs = admin
        .get(&format!("/api/v1/kkt/{}/documents", kkt.rn_str()))
        .await
        .json();
    assert_eq!(docs["count"], 1, "{docs}");
    let csv = admin
        .get(&format!(
            "/api/v1/kkt/{}/documents?format=csv",
            kkt.rn_str()
        ))
        .await;
    assert!(csv.content_type.starts_with("text/csv"));
    assert_eq!(csv.text().lines().count(), 2, "{}", csv.text());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_shown_once() {
    let t = TestDaemon::start().await;
    let admin = t.admin();
    let kkt = Kkt::new(601);
    assert_eq!(
        admin.post("/api/v1/kkt", register_body(&kkt)).await.status,
        201
    );
    let issued = admin
        .post(&format!("/api/v1/kkt/{}/token", kkt.rn_str()), json!({}))
        .await;
    assert_eq!(issued.status, 201);
    let issued = issued.json();
    let secret = issued["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 20);
    let shown = admin
        .get(&format!("/api/v1/kkt/{}", kkt.rn_str()))
        .await
        .text();
    assert!(!shown.contains(&secret), "the secret is never shown again");
    assert!(shown.contains(issued["system_id"].as_str().unwrap()));
    let rn = ofd_store::Rn::new(kkt.rn_str().as_bytes()).unwrap();
    let store = t.d().app.store();
    assert!(
        store
            .verify_token(&rn, issued["system_id"].as_str().unwrap(), &secret)
            .unwrap()
    );
    assert!(
        !store
            .verify_token(&rn, issued["system_id"].as_str().unwrap(), "wrong")
            .unwrap()
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_specific_4xx() {
    let t = TestDaemon::start().await;
    let admin = t.admin();
    let kkt = Kkt::new(701);

    let mut bad_rn = register_body(&kkt);
    let mut rn = kkt.rn_str().into_bytes();
    rn[15] = if rn[15] == b'9' { b'0' } else { rn[15] + 1 };
    bad_rn["rn"] = json!(String::from_utf8(rn).unwrap());
    let r = admin.post("/api/v1/kkt", bad_rn).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["error"].as_str().unwrap().contains("check digits"),
        "{}",
        r.text()
    );

    let mut bad_inn = register_body(&kkt);
    bad_inn["inn"] = json!("7702203277");
    let r = admin.post("/api/v1/kkt", bad_inn).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["error"].as_str().unwrap().contains("inn"),
        "{}",
        r.text()
    );

    let mut bad_conn = register_body(&kkt);
    bad_conn["connection"] = json!("pigeon");
    assert_eq!(admin.post("/api/v1/kkt", bad_conn).await.status, 422);

    let mut unknown_field = register_body(&kkt);
    unknown_field["colour"] = json!("red");
    assert_eq!(admin.post("/api/v1/kkt", unknown_field).await.status, 422);

    assert_eq!(admin.get("/api/v1/kkt/12345").await.status, 400);
    assert_eq!(admin.get("/api/v1/kkt/0000000000000000").await.status, 404);
    assert_eq!(admin.get("/api/v1/kkt?limit=0").await.status, 400);
    assert_eq!(admin.get("/api/v1/kkt?status=sleepy").await.status, 400);
    assert_eq!(admin.get("/api/v1/documents/abc/1").await.status, 400);
    assert_eq!(
        admin
            .get("/api/v1/documents/9999078900005488/x")
            .await
            .status,
        400
    );
    assert_eq!(
        admin
            .get("/api/v1/documents/9999078900005488/1")
            .await
            .status,
        404
    );
    assert_eq!(
        admin
            .get(&format!("/api/v1/kkt?name={}", "a".repeat(5000)))
            .await
            .status,
        414
    );
    assert_eq!(admin.get("/api/v1/nothing-here").await.status, 404);

    let big = json!({ "name": "x".repeat(100_000) });
    assert_eq!(admin.post("/api/v1/kkt", big).await.status, 413);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_paths() {
    let t = TestDaemon::start().await;
    let mut anon = t.admin();
    anon.token = None;
    let r = anon.get("/api/v1/kkt").await;
    assert_eq!(r.status, 401);
    assert!(r.json()["error"].as_str().unwrap().contains("bearer"));
    let mut wrong = t.admin();
    wrong.token = Some("not-the-token-at-all-xx".into());
    assert_eq!(wrong.get("/api/v1/kkt").await.status, 403);
    assert_eq!(
        wrong
            .post("/api/v1/kkt/0000000005008570/deregister", json!({}))
            .await
            .status,
        403
    );
    // Operational endpoints stay open on the (loopback) admin listener.
    assert_eq!(anon.get("/healthz").await.status, 200);
    assert_eq!(anon.get("/readyz").await.status, 200);
    assert_eq!(anon.get("/metrics").await.status, 200);
    t.stop().await;

    // No token configured: the API is disabled, not open.
    let t = TestDaemon::start_with(|c| c.admin_token = None).await;
    assert_eq!(t.admin().get("/api/v1/kkt").await.status, 503);
    t.stop().await;
}
