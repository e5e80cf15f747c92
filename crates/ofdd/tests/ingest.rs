//! End to end over real TCP, real RocksDB and real HTTP: what a register and an operator see.

mod common;

use common::*;
use ofd_proto::ack::ResponseCode;
use ofd_proto::doctype::{DocType, FfdVersion};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_vector_is_acknowledged_and_served_raw() {
    let t = TestDaemon::start().await;
    let mut link = Link::connect(t.ingest_addr()).await;
    let ack = link.exchange(real_vector()).await;
    assert_eq!(
        ack_of(&ack),
        ("9999078900005488".to_string(), 1, ResponseCode::Accepted)
    );

    let admin = t.admin();
    let raw = admin.get("/api/v1/documents/9999078900005488/1/raw").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.content_type, "application/octet-stream");
    assert_eq!(raw.body.len(), 466);
    assert_eq!(raw.body, real_vector());

    let doc = admin
        .get("/api/v1/documents/9999078900005488/1")
        .await
        .json();
    assert_eq!(
        doc["document"]["fiscalReportCorrection"]["kktRegId"],
        "0000000005008570"
    );
    assert_eq!(doc["outcome"], "accepted");

    // The registration-change report bound its FN to the RN.
    let kkt = admin.get("/api/v1/kkt/0000000005008570").await;
    assert_eq!(kkt.status, 200, "{}", kkt.text());
    assert_eq!(kkt.json()["fn"], "9999078900005488");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_gets_identical_ack_and_one_record() {
    let t = TestDaemon::start().await;
    let mut kkt = Kkt::new(7);
    let msg = kkt.receipt();
    let mut link = Link::connect(t.ingest_addr()).await;
    let first = link.exchange(&msg).await;
    // The FN resends on a new connection, as after a dropped SIM link.
    let mut link2 = Link::connect(t.ingest_addr()).await;
    let second = link2.exchange(&msg).await;
    assert_eq!(
        first, second,
        "a resend must get the very same acknowledgement bytes"
    );

    let m = t.admin().metrics().await;
    assert_eq!(
        metric(
            &m,
            "ofd_documents_total{doc_type=\"receipt\",result=\"accepted\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "ofd_documents_total{doc_type=\"receipt\",result=\"duplicate\"}"
        ),
        1.0
    );
    let fns = t
        .d()
        .app
        .store()
        .docs_of_fn(
            &ofd_store::FnNumber::new(kkt.fn_str().as_bytes()).unwrap(),
            0..=u32::MAX,
        )
        .unwrap();
    assert_eq!(fns.count(), 1, "the store holds one record");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_documents_over_one_connection() {
    let t = TestDaemon::start().await;
    let mut kkt = Kkt::new(11);
    let mut link = Link::connect(t.ingest_addr()).await;
    for fd in 1..=1000u32 {
        let ack = link.exchange(&kkt.receipt()).await;
        assert_eq!(ack_of(&ack), (kkt.fn_str(), fd, ResponseCode::Accepted));
    }
    // A backlog sent in one burst (pipelined) is answered in order.
    let burst: Vec<Vec<u8>> = (0..100).map(|_| kkt.receipt()).collect();
    link.send(&burst.concat()).await;
    for fd in 1001..=1100u32 {
        let ack = link.read_frame().await.expect("ack");
        assert_eq!(ack_of(&ack).1, fd);
    }
    let m = t.admin().metrics().await;
    assert_eq!(
        metric(
            &m,
            "ofd_documents_total{doc_type=\"receipt\",result=\"accepted\"}"
        ),
        1100.0
    );
    assert!(metric(&m, "ofd_ack_latency_seconds_count") >= 1100.0);
    assert!(metric(&m, "ofd_store_commit_seconds_count") >= 1.0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_connections() {
    let t = TestDaemon::start().await;
    let addr = t.ingest_addr();
    let mut tasks = Vec::new();
    for seed in 0..50u64 {
        tasks.push(tokio::spawn(async move {
            let mut kkt = Kkt::new(1000 + seed);
            let mut link = Link::connect(addr).await;
            for fd in 1..=20u32 {
                let ack = link.exchange(&kkt.receipt()).await;
                assert_eq!(ack_of(&ack), (kkt.fn_str(), fd, ResponseCode::Accepted));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let m = t.admin().metrics().await;
    assert_eq!(
        metric(
            &m,
            "ofd_documents_total{doc_type=\"receipt\",result=\"accepted\"}"
        ),
        1000.0
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_at_a_time_sender_succeeds() {
    let t = TestDaemon::start().await;
    let mut kkt = Kkt::new(21);
    let msg = kkt.receipt();
    let mut link = Link::connect(t.ingest_addr()).await;
    for b in &msg {
        link.send(std::slice::from_ref(b)).await;
        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
    }
    let ack = link
        .read_frame()
        .await
        .expect("ack after a byte-by-byte message");
    assert_eq!(ack_of(&ack), (kkt.fn_str(), 1, ResponseCode::Accepted));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crc_broken_message_closes_only_its_connection() {
    let t = TestDaemon::start().await;
    let mut good = Kkt::new(31);
    let mut bad = Kkt::new(32);
    let mut good_link = Link::connect(t.ingest_addr()).await;
    assert_eq!(
        ack_of(&good_link.exchange(&good.receipt()).await).2,
        ResponseCode::Accepted
    );

    let mut msg = bad.receipt();
    let last = msg.len() - 1;
    msg[last] ^= 0xFF; // a body byte: breaks the container CRC (flags 0x0014 carry no session CRC)
    let mut bad_link = Link::connect(t.ingest_addr()).await;
    bad_link.send(&msg).await;
    assert!(
        bad_link.closed_by_server().await,
        "a broken frame gets no answer and a closed connection"
    );

    // The well-behaved register keeps being served on its open connection.
    assert_eq!(
        ack_of(&good_link.exchange(&good.receipt()).await).2,
        ResponseCode::Accepted
    );
    let m = t.admin().metrics().await;
    assert_eq!(
        metric(&m, "ofd_frames_rejected_total{reason=\"container_crc\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "ofd_connections_total{outcome=\"framing_error\"}"),
        1.0
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_logic_failure_gets_code_14_and_is_audited() {
    let t = TestDaemon::start().await;
    let mut kkt = Kkt::new(41);
    // A document dated before 2016-09-01 fails the time window.
    let msg = kkt.doc_at(DocType::Receipt, 1_400_000_000);
    let mut link = Link::connect(t.ingest_addr()).await;
    let ack = link.exchange(&msg).await;
    assert_eq!(ack_of(&ack), (kkt.fn_str(), 1, ResponseCode::FormatLogic));
    // Nothing was stored as a document; the raw message is in the audit log.
    assert!(
        t.d()
            .app
            .store()
            .get(
                &ofd_store::FnNumber::new(kkt.fn_str().as_bytes()).unwrap(),
                1
            )
            .unwrap()
            .is_none()
    );
    let audit = t.d().app.store().rejected_read(0, 10).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].1.raw, msg);
    // The connection stays usable.
    assert_eq!(
        ack_of(&link.exchange(&kkt.receipt()).await).2,
        ResponseCode::Accepted
    );
    let m = t.admin().metrics().await;
    assert_eq!(
        metric(
            &m,
            "ofd_documents_total{doc_type=\"receipt\",result=\"rejected\"}"
        ),
        1.0
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_colours_follow_document_times() {
    let t = TestDaemon::start().await;
    let day = 86_400;
    let mut link = Link::connect(t.ingest_addr()).await;
    for (seed, age) in [(51u64, 600u32), (52, 2 * day), (53, 4 * day)] {
        let mut kkt = Kkt::new(seed);
        // Each register registers (binding FN ↔ RN), then sends a shift close `age` ago.
        let reg = kkt.doc_at(DocType::Registration, now() - age - 3600);
        assert_eq!(ack_of(&link.exchange(&reg).await).2, ResponseCode::Accepted);
        let close = kkt.doc_at(DocType::ShiftClose, now() - age);
        assert_eq!(
            ack_of(&link.exchange(&close).await).2,
            ResponseCode::Accepted
        );
    }
    let m = t.admin().metrics().await;
    assert_eq!(metric(&m, "ofd_kkt_liveness{state=\"green\"}"), 1.0, "{m}");
    assert_eq!(metric(&m, "ofd_kkt_liveness{state=\"yellow\"}"), 1.0);
    assert_eq!(metric(&m, "ofd_kkt_liveness{state=\"red\"}"), 1.0);
    let live = t.admin().get("/api/v1/liveness").await.json();
    assert_eq!(
        (
            live["green"].as_u64(),
            live["yellow"].as_u64(),
            live["red"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let status = t
        .admin()
        .get(&format!("/api/v1/kkt/{}/status", Kkt::new(52).rn_str()))
        .await
        .json();
    assert_eq!(status["liveness"], "yellow", "{status}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_resend_is_kept_apart_and_answered_14() {
    let t = TestDaemon::start().await;
    let mut kkt = Kkt::new(61);
    let original = kkt.doc_at(DocType::Receipt, now() - 120);
    kkt.next_fd = 1;
    let different = kkt.doc_at(DocType::Receipt, now() - 60);
    assert_ne!(original, different);
    let mut link = Link::connect(t.ingest_addr()).await;
    assert_eq!(
        ack_of(&link.exchange(&original).await).2,
        ResponseCode::Accepted
    );
    assert_eq!(
        ack_of(&link.exchange(&different).await),
        (kkt.fn_str(), 1, ResponseCode::FormatLogic)
    );
    // The stored document is the original, untouched; the other version is kept in conflicts.
    let raw = t
        .admin()
        .get(&format!("/api/v1/documents/{}/1/raw", kkt.fn_str()))
        .await;
    assert_eq!(raw.body, original);
    let fn_number = ofd_store::FnNumber::new(kkt.fn_str().as_bytes()).unwrap();
    let conflicts = t.d().app.store().conflicts_of(&fn_number, 1).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].1.raw, different);
    let m = t.admin().metrics().await;
    assert_eq!(
        metric(
            &m,
            "ofd_documents_total{doc_type=\"receipt\",result=\"conflict\"}"
        ),
        1.0
    );
    t.stop().await;
}

/// The real FFD 1.2 registration change (no 1048, no 1009) over real TCP: code 14, as the
/// production operator answered it, in an answer laid out like the operator's byte for byte
/// except the crypto module's values and the clock; the audit record names both tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffd12_report_the_production_operator_refused_is_refused_alike() {
    // The capture's operator (its INN is configuration, not a crypto value).
    let t = TestDaemon::start_with(|c| c.operator.inn = "7704211201".into()).await;
    let (request, theirs) = ffd12_vector();
    let mut link = Link::connect(t.ingest_addr()).await;
    let ours = link.exchange(request).await;
    assert_eq!(
        ack_of(&ours),
        ("9999078902013267".to_string(), 1, ResponseCode::FormatLogic)
    );
    let ours_c = &ours[30..];
    assert_eq!(ours_c.len(), theirs.len());
    let decoded = ofd_proto::ack::decode_ack(&ours).unwrap();
    let fpo_at = 32 + 4 + 16 + 4;
    let time_at = 32 + 4 + 16 + 12 + 20 + 8 + 4;
    let same_except = |i: usize| {
        (2..4).contains(&i) // CRC
            || (20..32).contains(&i) // service data 2
            || (fpo_at + 2..fpo_at + 8).contains(&i) // ФПО
            || (time_at..time_at + 4).contains(&i) // 1012, the operator's clock
            || (theirs.len() - 8..theirs.len() - 2).contains(&i) // message MAC
    };
    let differing: Vec<usize> = (0..theirs.len())
        .filter(|&i| ours_c[i] != theirs[i])
        .collect();
    assert!(
        differing.iter().all(|&i| same_except(i)),
        "layout differs at {differing:?}"
    );
    assert_eq!(decoded.time.to_le_bytes(), ours_c[time_at..time_at + 4]);
    let audit = t.d().app.store().rejected_read(0, 10).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].1.raw, request);
    assert!(
        audit[0].1.reason.contains("1048, 1009"),
        "{}",
        audit[0].1.reason
    );
    // A resend gets the same answer again (refusals are not stored, so it is re-signed, but
    // with the same code and layout).
    assert_eq!(
        ack_of(&link.exchange(request).await).2,
        ResponseCode::FormatLogic
    );
    t.stop().await;
}

/// Valid FFD 1.2 documents of every type a register sends get code 0 over real TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_ffd12_documents_of_every_type_get_code_0() {
    let t = TestDaemon::start().await;
    let mut kkt = Kkt::new(1212);
    let mut link = Link::connect(t.ingest_addr()).await;
    for doc_type in DocType::ALL {
        if doc_type == DocType::OperatorAck {
            continue; // the operator's own document, never a register's
        }
        let msg = kkt.doc_ffd(doc_type, FfdVersion::V1_2);
        let (_, fd, code) = ack_of(&link.exchange(&msg).await);
        assert_eq!(code, ResponseCode::Accepted, "{doc_type}");
        assert_eq!(fd, kkt.next_fd - 1, "{doc_type}");
    }
    assert!(t.d().app.store().rejected_read(0, 10).unwrap().is_empty());
    t.stop().await;
}
