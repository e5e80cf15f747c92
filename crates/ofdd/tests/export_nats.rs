//! The NATS JetStream exporter against a real `nats-server -js` on loopback, with an outage in
//! the middle: documents keep being accepted while NATS is down, `ofd_export_lag` on `/metrics`
//! says how many wait, and once NATS is back the backlog drains so that the stream holds every
//! accepted document exactly once, in order, byte-identical to what the admin API serves raw.
//! A replay from cursor 0 afterwards adds nothing: JetStream drops the repeats by their
//! `FN:FD` message ids.
//!
//! `nats-server` is required (Debian package `nats-server`, installed by `scripts/setup.sh`): a
//! missing binary fails the test with instructions rather than skipping it.

mod common;

use std::time::{Duration, Instant};

use common::nats::{NatsServer, restartable_port};
use common::*;
use ofd_proto::ack::ResponseCode;
use ofd_proto::doctype::DocType;
use ofdd::config::{Config, NatsExport};
use ofdd::daemon::Daemon;

const STREAM: &str = "OFD";
const CURSOR: &str = "nats";

fn export_config(port: u16) -> NatsExport {
    NatsExport {
        enabled: true,
        url: format!("nats://127.0.0.1:{port}"),
        // Small batches so the drain crosses many batch boundaries; quick retries for the test.
        batch: 7,
        ack_timeout_secs: 2,
        max_backoff_secs: 1,
        ..NatsExport::default()
    }
}

fn admin_of(d: &Daemon) -> Admin {
    Admin {
        base: format!("http://{}", d.admin_addr),
        token: Some(TOKEN.to_string()),
    }
}

async fn lag(admin: &Admin) -> f64 {
    let m = admin.metrics().await;
    assert!(
        m.contains("ofd_export_lag "),
        "no ofd_export_lag in /metrics:\n{m}"
    );
    metric(&m, "ofd_export_lag")
}

/// Poll `/metrics` until `ofd_export_lag` equals `want` (bounded).
async fn wait_for_lag(admin: &Admin, want: f64, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        let now = lag(admin).await;
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: ofd_export_lag is {now}, expected {want} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait (bounded) until all `n` documents are exported: the saved cursor reached `n` and
/// `/metrics` shows no lag. (The gauge alone could still show 0 from before the documents came:
/// the exporter refreshes it every few tens of milliseconds, not at the commit.)
async fn wait_drained(
    admin: &Admin,
    store: &ofd_store::Store,
    n: usize,
    within: Duration,
    what: &str,
) {
    let deadline = Instant::now() + within;
    loop {
        let cursor = store.outbox_cursor(CURSOR).unwrap();
        if cursor == n as u64 && lag(admin).await == 0.0 {
            assert_eq!(
                store.outbox_head(),
                n as u64,
                "{what}: one outbox entry per accepted document"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: cursor {cursor} of {n} after {within:?}, lag {}",
            lag(admin).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Send `n` documents from `kkt` over `link`, all acknowledged; returns (FN, FD, bytes) in order.
async fn send(link: &mut Link, kkt: &mut Kkt, types: &[DocType]) -> Vec<(String, u32, Vec<u8>)> {
    let mut sent = Vec::new();
    for &t in types {
        let fd = kkt.next_fd;
        let msg = kkt.doc_at(t, now() - 60);
        let ack = link.exchange(&msg).await;
        assert_eq!(ack_of(&ack), (kkt.fn_str(), fd, ResponseCode::Accepted));
        sent.push((kkt.fn_str(), fd, msg));
    }
    sent
}

async fn jetstream(port: u16) -> async_nats::jetstream::Context {
    let client = tokio::time::timeout(
        Duration::from_secs(10),
        async_nats::connect(format!("nats://127.0.0.1:{port}")),
    )
    .await
    .expect("connecting the reader to NATS timed out")
    .expect("the reader connects to NATS");
    async_nats::jetstream::new(client)
}

/// Read the whole stream back by sequence and compare it with what was sent and what the admin
/// API serves: exactly once each, in order, byte for byte.
async fn assert_stream_holds(
    port: u16,
    admin: &Admin,
    sent: &[(String, u32, Vec<u8>)],
    types: &[DocType],
) {
    let js = jetstream(port).await;
    let mut stream = tokio::time::timeout(Duration::from_secs(10), js.get_stream(STREAM))
        .await
        .expect("stream lookup timed out")
        .expect("the exporter created the stream");
    let info = stream.info().await.expect("stream info").clone();
    assert_eq!(info.config.subjects, vec!["ofd.documents.>".to_string()]);
    assert_eq!(
        info.config.duplicate_window,
        Duration::from_secs(86_400),
        "the configured duplicate window"
    );
    assert_eq!(
        info.state.messages,
        sent.len() as u64,
        "one message per accepted document, no more"
    );
    assert_eq!(
        (info.state.first_sequence, info.state.last_sequence),
        (1, sent.len() as u64)
    );

    for (i, ((fn_s, fd, bytes), doc_type)) in sent.iter().zip(types).enumerate() {
        let seq = i as u64 + 1;
        let m = tokio::time::timeout(Duration::from_secs(10), stream.get_raw_message(seq))
            .await
            .expect("reading a message timed out")
            .unwrap_or_else(|e| panic!("stream message {seq}: {e}"));
        let header = |name: &str| m.headers.get(name).map(|v| v.as_str().to_string());
        assert_eq!(
            header("Nats-Msg-Id").as_deref(),
            Some(format!("{fn_s}:{fd}").as_str()),
            "stream order at seq {seq}"
        );
        assert_eq!(
            m.subject.as_str(),
            format!("ofd.documents.{}", doc_type.label())
        );
        assert_eq!(header("Ofd-Fn").as_deref(), Some(fn_s.as_str()));
        assert_eq!(header("Ofd-Fd"), Some(fd.to_string()));
        assert_eq!(header("Ofd-Doc-Type").as_deref(), Some(doc_type.label()));
        assert_eq!(
            header("Ofd-Doc-Type-Code"),
            Some(doc_type.as_u8().to_string())
        );
        assert_eq!(header("Ofd-Outcome").as_deref(), Some("accepted"));
        let received_at: u64 = header("Ofd-Received-At")
            .expect("Ofd-Received-At")
            .parse()
            .expect("milliseconds");
        assert!(
            received_at / 1000 >= u64::from(now()) - 600,
            "Ofd-Received-At {received_at} is recent"
        );
        let doc_time: u32 = header("Ofd-Doc-Time")
            .expect("Ofd-Doc-Time")
            .parse()
            .expect("seconds");
        assert!(
            doc_time <= now() && doc_time >= now() - 600,
            "Ofd-Doc-Time {doc_time}"
        );
        let raw = admin
            .get(&format!("/api/v1/documents/{fn_s}/{fd}/raw"))
            .await;
        assert_eq!(raw.status, 200);
        assert_eq!(
            m.payload.as_ref(),
            raw.body.as_slice(),
            "payload of seq {seq} is the stored raw message"
        );
        assert_eq!(
            m.payload.as_ref(),
            bytes.as_slice(),
            "payload of seq {seq} is what the register sent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_survives_a_nats_restart_exactly_once_and_in_order() {
    let nats_dir = tempfile::tempdir().unwrap();
    let port = restartable_port(); // NATS comes back on it
    let nats = NatsServer::start(port, nats_dir.path());

    let mut t = TestDaemon::start_with(|c| c.export.nats = export_config(port)).await;
    let admin = t.admin();
    let mut link = Link::connect(t.ingest_addr()).await;
    let mut kkt_a = Kkt::new(701);
    let mut kkt_b = Kkt::new(702);

    // Phase 1: NATS up. Two registers, several document types, interleaved.
    let mut types = vec![DocType::Registration];
    types.extend([DocType::Receipt; 10]);
    let mut sent = send(&mut link, &mut kkt_a, &types).await;
    let b_types = [
        DocType::Registration,
        DocType::Receipt,
        DocType::Receipt,
        DocType::ShiftClose,
    ];
    sent.extend(send(&mut link, &mut kkt_b, &b_types).await);
    types.extend(b_types);
    wait_drained(
        &admin,
        t.d().app.store(),
        sent.len(),
        Duration::from_secs(30),
        "phase 1 export",
    )
    .await;

    // Phase 2: NATS down. Registers are still acknowledged; the backlog shows on /metrics.
    nats.stop();
    let down_types = [[DocType::Receipt; 12].as_slice(), &[DocType::ShiftClose]].concat();
    sent.extend(send(&mut link, &mut kkt_a, &down_types).await);
    types.extend(&down_types);
    let b_more = [DocType::Receipt; 8];
    sent.extend(send(&mut link, &mut kkt_b, &b_more).await);
    types.extend(b_more);
    let backlog = (down_types.len() + b_more.len()) as f64;
    wait_for_lag(
        &admin,
        backlog,
        Duration::from_secs(10),
        "lag while NATS is down",
    )
    .await;
    // It stays there while NATS is down (several back-off rounds), nothing is lost meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        lag(&admin).await,
        backlog,
        "the backlog waits in the outbox"
    );
    assert_eq!(
        t.d().app.store().outbox_cursor(CURSOR).unwrap(),
        sent.len() as u64 - backlog as u64
    );

    // Phase 3: NATS back on the same port and storage. The backlog drains in order.
    let nats = NatsServer::start(port, nats_dir.path());
    wait_drained(
        &admin,
        t.d().app.store(),
        sent.len(),
        Duration::from_secs(60),
        "draining after NATS returned",
    )
    .await;
    // And new documents flow straight through again.
    let after = [DocType::Receipt; 3];
    sent.extend(send(&mut link, &mut kkt_b, &after).await);
    types.extend(after);
    wait_drained(
        &admin,
        t.d().app.store(),
        sent.len(),
        Duration::from_secs(30),
        "export after recovery",
    )
    .await;
    assert_stream_holds(port, &admin, &sent, &types).await;
    drop(link);

    // Phase 4: replay everything (cursor reset to 0 with the daemon stopped, as an operator
    // would): every message is republished and every one is dropped as a duplicate.
    let daemon = t.daemon.take().unwrap();
    daemon.shutdown().await.unwrap();
    let mut cfg: Config = test_config(t.dir.path());
    cfg.export.nats = export_config(port);
    {
        let store = ofd_store::Store::open(&cfg.data, ofd_store::StoreOptions::default()).unwrap();
        assert_eq!(
            store.outbox_cursor(CURSOR).unwrap(),
            sent.len() as u64,
            "the cursor survived the restart"
        );
        store.set_outbox_cursor(CURSOR, 0).unwrap();
        store.close();
    }
    let daemon = Daemon::start(cfg).await.expect("daemon restarts");
    let admin = admin_of(&daemon);
    wait_drained(
        &admin,
        daemon.app.store(),
        sent.len(),
        Duration::from_secs(30),
        "the replay",
    )
    .await;
    assert_stream_holds(port, &admin, &sent, &types).await;
    daemon.shutdown().await.unwrap();
    nats.stop();
}

/// Starting with NATS unreachable is not an error for the daemon: it serves registers, the lag
/// counts up, and the first successful connection exports everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_starts_when_nats_appears_later() {
    let nats_dir = tempfile::tempdir().unwrap();
    let port = restartable_port(); // NATS starts on it later
    let t = TestDaemon::start_with(|c| c.export.nats = export_config(port)).await;
    let admin = t.admin();
    let mut link = Link::connect(t.ingest_addr()).await;
    let mut kkt = Kkt::new(703);
    let types = [
        DocType::Registration,
        DocType::Receipt,
        DocType::Receipt,
        DocType::Receipt,
        DocType::ShiftClose,
    ];
    let sent = send(&mut link, &mut kkt, &types).await;
    wait_for_lag(
        &admin,
        types.len() as f64,
        Duration::from_secs(10),
        "lag before NATS exists",
    )
    .await;

    let nats = NatsServer::start(port, nats_dir.path());
    wait_drained(
        &admin,
        t.d().app.store(),
        sent.len(),
        Duration::from_secs(30),
        "export once NATS is up",
    )
    .await;
    assert_stream_holds(port, &admin, &sent, &types).await;
    t.stop().await;
    nats.stop();
}

/// An exporter backing off from an unreachable NATS does not hold up the daemon's shutdown, and
/// the cursor it never advanced is still at 0 afterwards (nothing was claimed exported).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_an_unreachable_nats() {
    let port = free_port();
    let mut t = TestDaemon::start_with(|c| {
        c.export.nats = export_config(port);
        c.export.nats.max_backoff_secs = 30;
    })
    .await;
    let mut link = Link::connect(t.ingest_addr()).await;
    let mut kkt = Kkt::new(704);
    send(
        &mut link,
        &mut kkt,
        &[DocType::Registration, DocType::Receipt],
    )
    .await;
    wait_for_lag(
        &t.admin(),
        2.0,
        Duration::from_secs(10),
        "lag with NATS absent",
    )
    .await;
    // Let the back-off grow past a few seconds.
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(link);
    let daemon = t.daemon.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon.shutdown())
        .await
        .expect("shutdown finished within 10 s although NATS is unreachable")
        .unwrap();
    let store = ofd_store::Store::open(
        t.dir.path().join("data"),
        ofd_store::StoreOptions::default(),
    )
    .unwrap();
    assert_eq!(store.outbox_cursor(CURSOR).unwrap(), 0);
    assert_eq!(store.outbox_head(), 2);
    store.close();
}
