//! Dates at the day boundary, with the daemon's clock moved to 30 s after midnight UTC
//! (`ofdd::clock::set_offset_for_tests`; process-wide, which is why these tests have a file, and
//! so a process, of their own). A register's "documents today" counts by the document's date in
//! UTC days of the daemon's clock: a receipt dated one minute ago is yesterday's here.

mod common;

use common::*;
use ofd_proto::ack::ResponseCode;
use ofd_proto::doctype::DocType;
use serde_json::json;

/// Move the daemon clock to `secs_after` seconds after the next midnight UTC; returns that
/// midnight (Unix seconds).
fn clock_after_midnight(secs_after: u64) -> u32 {
    ofdd::clock::set_offset_for_tests(0);
    let real_ms = ofdd::clock::unix_now_ms();
    let midnight = (real_ms / 1000 / 86_400 + 1) * 86_400;
    let target_ms = (midnight + secs_after) * 1000;
    ofdd::clock::set_offset_for_tests(i64::try_from(target_ms - real_ms).unwrap());
    u32::try_from(midnight).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_today_counts_from_midnight_utc() {
    let midnight = clock_after_midnight(30);
    let since = now() - midnight;
    assert!(
        (30..3600).contains(&since),
        "the daemon clock is {since} s after midnight"
    );
    let t = TestDaemon::start().await;
    let admin = t.admin();
    let mut kkt = Kkt::new(801);
    let created = admin
        .post(
            "/api/v1/kkt",
            json!({
                "rn": kkt.rn_str(),
                "serial": String::from_utf8_lossy(&kkt.id.kkt_serial),
                "fn": kkt.fn_str(),
                "inn": String::from_utf8_lossy(&kkt.id.user_inn),
                "name": "ООО Полночь",
                "address": "г. Москва, ул. Тверская, д. 1",
                "place": "Магазин №1",
                "connection": "wired",
                "tariff": "basic",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let rn = kkt.rn_str();
    let status = || {
        let admin = admin.clone();
        let rn = rn.clone();
        async move { admin.get(&format!("/api/v1/kkt/{rn}/status")).await.json() }
    };
    let mut link = Link::connect(t.ingest_addr()).await;

    // A receipt of a minute ago: 23:59:30 yesterday. Fresh (green), but not today's.
    let yesterday = kkt.doc_at(DocType::Receipt, now() - 60);
    assert_eq!(
        ack_of(&link.exchange(&yesterday).await).2,
        ResponseCode::Accepted
    );
    let s = status().await;
    assert_eq!(s["liveness"], "green", "{s}");
    assert!(
        s["last_document_time"].as_u64().unwrap() < u64::from(midnight),
        "{s}"
    );
    assert_eq!(
        s["documents_today"], 0,
        "yesterday's receipt counted as today: {s}"
    );

    // Two receipts after midnight: today's.
    for after in [5, 20] {
        let doc = kkt.doc_at(DocType::Receipt, midnight + after);
        assert_eq!(ack_of(&link.exchange(&doc).await).2, ResponseCode::Accepted);
    }
    let s = status().await;
    assert_eq!(s["last_document_time"], midnight + 20, "{s}");
    assert_eq!(s["documents_today"], 2, "{s}");

    // A late one from yesterday (an FN's backlog) does not count as today's either.
    let late = kkt.doc_at(DocType::Receipt, midnight - 600);
    assert_eq!(
        ack_of(&link.exchange(&late).await).2,
        ResponseCode::Accepted
    );
    let s = status().await;
    assert_eq!(s["documents_today"], 2, "{s}");
    assert_eq!(s["last_document_time"], midnight + 20, "{s}");
    drop(link);
    t.stop().await;
    ofdd::clock::set_offset_for_tests(0);
}
