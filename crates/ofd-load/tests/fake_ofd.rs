//! ofd-load against a tiny fake OFD over real TCP: every profile gets every document
//! acknowledged and reports it; wrong answers are counted as errors by kind; non-loopback targets
//! are refused. No assertion depends on timing.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ofd_load::target::TargetError;
use ofd_load::{Config, ErrorKind, LoadError, Profile, SimLink};
use ofd_proto::ack::{AckTarget, ResponseCode, encode_ack};
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::sign::HmacSigner;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake OFD answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accept,
    WrongFd,
    Code14,
    /// Read everything, answer nothing.
    Silent,
}

/// (FN, FD) → the first copy of the message and how many times it arrived.
type Received = HashMap<([u8; 16], u32), (Vec<u8>, u32)>;

/// What the fake OFD saw.
#[derive(Default)]
struct Seen {
    docs: Mutex<Received>,
    /// A resend whose bytes differ from the first copy.
    conflicts: AtomicU64,
    connections: AtomicU64,
}

struct FakeOfd {
    addr: String,
    seen: Arc<Seen>,
}

async fn fake_ofd(answer: Answer) -> FakeOfd {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            s.connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(serve(stream, answer, s.clone()));
        }
    });
    FakeOfd { addr, seen }
}

async fn serve(mut stream: TcpStream, answer: Answer, seen: Arc<Seen>) {
    let signer = HmacSigner::new(b"k");
    let limits = FrameLimits::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    let mut out = Vec::new();
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        out.clear();
        loop {
            let len = match check_frame(&buf, &limits) {
                Ok(Framing::Complete { len }) => len,
                Ok(Framing::Incomplete { .. }) => break,
                Err(e) => panic!("fake OFD got a bad frame: {e}"),
            };
            let frame: Vec<u8> = buf.drain(..len).collect();
            let msg = parse_message(&frame).expect("ofd-load sends valid messages");
            let mut target = AckTarget::from(&msg);
            {
                let mut docs = seen.docs.lock().unwrap();
                let entry = docs
                    .entry((target.fn_ascii, target.fd_number))
                    .or_insert_with(|| (frame.clone(), 0));
                if entry.0 != frame {
                    seen.conflicts.fetch_add(1, Ordering::Relaxed);
                }
                entry.1 += 1;
            }
            let code = match answer {
                Answer::Silent => continue,
                Answer::Code14 => ResponseCode::FormatLogic,
                Answer::WrongFd => {
                    target.fd_number += 1;
                    ResponseCode::Accepted
                }
                Answer::Accept => ResponseCode::Accepted,
            };
            encode_ack(
                &target,
                code,
                b"7704358518",
                1_750_000_000,
                &frame,
                &signer,
                &mut out,
            )
            .unwrap();
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn config(addr: &str, profile: Profile, documents: u64) -> Config {
    Config {
        registers: 12,
        connections: 4,
        documents: Some(documents),
        seed: 77,
        max_duration: Duration::from_secs(60),
        ..Config::new(addr, profile)
    }
}

/// Every line of `--acked-out` is a distinct (FN, FD) the fake OFD received, and per FN the FD
/// numbers are 1, 2, 3, … with no gap.
fn check_acked_out(path: &std::path::Path, seen: &Seen, expected: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut per_fn: HashMap<String, Vec<u32>> = HashMap::new();
    let docs = seen.docs.lock().unwrap();
    for line in text.lines() {
        let (fn_s, fd_s) = line.split_once(' ').unwrap();
        let fd: u32 = fd_s.parse().unwrap();
        let fn_b: [u8; 16] = fn_s.as_bytes().try_into().unwrap();
        assert!(docs.contains_key(&(fn_b, fd)), "{line} was never received");
        per_fn.entry(fn_s.to_owned()).or_default().push(fd);
    }
    let mut total = 0;
    for fds in per_fn.values_mut() {
        fds.sort_unstable();
        let n = fds.len() as u32;
        assert_eq!(
            *fds,
            (1..=n).collect::<Vec<_>>(),
            "FDs of one FN must be 1..=n without gaps or repeats"
        );
        total += fds.len();
    }
    assert_eq!(total, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wired_pipelined_every_document_acknowledged() {
    let ofd = fake_ofd(Answer::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acked.txt");
    let cfg = Config {
        pipeline: 8,
        acked_out: Some(out.clone()),
        ..config(&ofd.addr, Profile::Wired, 600)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert_eq!(r.errors.total(), 0, "{}", r.human());
    assert_eq!((r.documents, r.sent), (600, 600));
    assert!(r.clean());
    assert_eq!(r.connections, 4);
    assert_eq!(r.connects, 4, "persistent connections");
    assert_eq!(r.reconnects, 0);
    assert_eq!(r.by_type.values().sum::<u64>(), 600);
    assert!(
        r.by_type.contains_key("2") && r.by_type.contains_key("3"),
        "shift opens and receipts"
    );
    check_acked_out(&out, &ofd.seen, 600);
    assert_eq!(ofd.seen.docs.lock().unwrap().len(), 600);
    assert_eq!(ofd.seen.conflicts.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_drops_and_resends_yet_every_document_acknowledged() {
    let ofd = fake_ofd(Answer::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acked.txt");
    let sim = SimLink {
        latency: Duration::from_micros(500),
        jitter: Duration::from_micros(500),
        max_segment: 64,
        segment_gap: Duration::from_micros(200),
        drop_mid_message: 0.2,
        drop_before_ack: 0.2,
    };
    let cfg = Config {
        sim,
        acked_out: Some(out.clone()),
        ..config(&ofd.addr, Profile::Sim, 300)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert_eq!(
        r.errors.total(),
        0,
        "simulated drops are not errors: {}",
        r.human()
    );
    assert_eq!((r.documents, r.sent), (300, 300));
    assert!(
        r.reconnects > 0 && r.resends > 0 && r.duplicates > 0,
        "{}",
        r.human()
    );
    assert_eq!(r.connects, 4 + r.reconnects);
    check_acked_out(&out, &ofd.seen, 300);
    // Resends are byte-identical, and the documents written completely before a drop arrived
    // more than once.
    assert_eq!(ofd.seen.conflicts.load(Ordering::Relaxed), 0);
    let received_twice = ofd
        .seen
        .docs
        .lock()
        .unwrap()
        .values()
        .filter(|(_, n)| *n > 1)
        .count() as u64;
    assert!(received_twice > 0 && received_twice <= r.duplicates);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_opens_a_connection_per_document() {
    let ofd = fake_ofd(Answer::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acked.txt");
    let cfg = Config {
        pipeline: 8,
        acked_out: Some(out.clone()),
        ..config(&ofd.addr, Profile::OneShot, 120)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert_eq!(r.errors.total(), 0, "{}", r.human());
    assert_eq!((r.documents, r.sent, r.pipeline), (120, 120, 1));
    assert_eq!(r.connects, 120);
    assert_eq!(ofd.seen.connections.load(Ordering::Relaxed), 120);
    check_acked_out(&out, &ofd.seen, 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prebuilt_run_sends_exactly_the_requested_documents() {
    let ofd = fake_ofd(Answer::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acked.txt");
    // 301 over 4 connections: shares of 76, 75, 75, 75.
    let cfg = Config {
        prebuild: true,
        pipeline: 4,
        acked_out: Some(out.clone()),
        ..config(&ofd.addr, Profile::Wired, 301)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert!(r.clean(), "{}", r.human());
    assert_eq!((r.documents, r.sent), (301, 301));
    check_acked_out(&out, &ofd.seen, 301);
}

#[tokio::test]
async fn prebuild_without_a_document_count_is_refused() {
    let cfg = Config {
        prebuild: true,
        duration: Some(Duration::from_secs(1)),
        ..Config::new("127.0.0.1:9", Profile::Wired)
    };
    assert!(matches!(
        ofd_load::run(cfg).await,
        Err(LoadError::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_rate_acknowledges_everything() {
    let ofd = fake_ofd(Answer::Accept).await;
    let cfg = Config {
        rate: Some(5000.0),
        pipeline: 4,
        ..config(&ofd.addr, Profile::Wired, 200)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert!(r.clean(), "{}", r.human());
    assert_eq!(r.documents, 200);
    assert_eq!(r.rate, Some(5000.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_send_one_document_each_then_hold() {
    let ofd = fake_ofd(Answer::Accept).await;
    // The idle profile holds its connections for the whole duration, and each must have
    // connected and sent its one document by then: a generous 5 s, not a race on a busy machine.
    let cfg = Config {
        connections: 10,
        documents: None,
        duration: Some(Duration::from_secs(5)),
        ..config(&ofd.addr, Profile::Idle, 1)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert!(r.clean(), "{}", r.human());
    assert_eq!((r.documents, r.connects), (10, 10));
    assert_eq!(ofd.seen.connections.load(Ordering::Relaxed), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_fd_answers_are_errors() {
    let ofd = fake_ofd(Answer::WrongFd).await;
    let r = ofd_load::run(config(&ofd.addr, Profile::Wired, 50))
        .await
        .unwrap();
    assert_eq!(r.documents, 0);
    assert_eq!(r.errors.get(ErrorKind::FdMismatch), 50);
    assert_eq!(r.errors.total(), 50);
    assert!(!r.clean());
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["errors"]["fd_mismatch"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_14_answers_are_errors() {
    let ofd = fake_ofd(Answer::Code14).await;
    let r = ofd_load::run(Config {
        pipeline: 3,
        ..config(&ofd.addr, Profile::Wired, 40)
    })
    .await
    .unwrap();
    assert_eq!(r.documents, 0);
    assert_eq!(r.errors.get(ErrorKind::Code14), 40);
    assert_eq!(r.errors.total(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_daemon_times_out_resends_then_gives_up() {
    let ofd = fake_ofd(Answer::Silent).await;
    let cfg = Config {
        registers: 1,
        connections: 1,
        ack_timeout: Duration::from_millis(100),
        max_attempts: 2,
        ..config(&ofd.addr, Profile::Wired, 2)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert_eq!(r.documents, 0);
    assert_eq!(r.errors.get(ErrorKind::GaveUp), 2);
    assert_eq!(
        r.errors.get(ErrorKind::Timeout),
        4,
        "two attempts per document"
    );
    assert_eq!(r.resends, 2);
    // Each document arrived twice, byte-identical.
    assert!(ofd.seen.docs.lock().unwrap().values().all(|(_, n)| *n == 2));
    assert_eq!(ofd.seen.conflicts.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn non_loopback_target_is_refused() {
    for target in [
        "192.0.2.1:7777",
        "ofd.example.com:7777",
        "[2001:db8::1]:7777",
    ] {
        let err = ofd_load::run(Config::new(target, Profile::Wired))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LoadError::Target(TargetError::NotLoopback(_))),
            "{target}: {err}"
        );
    }
}

#[test]
fn cli_refuses_non_loopback_target_with_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ofd-load"))
        .args(["--target", "192.0.2.1:7777", "--documents", "1", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing non-loopback target"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn cli_json_is_exactly_one_object() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ofd = rt.block_on(fake_ofd(Answer::Accept));
    let out = Command::new(env!("CARGO_BIN_EXE_ofd-load"))
        .args([
            "--target",
            &ofd.addr,
            "--documents",
            "100",
            "--registers",
            "5",
            "--json",
            "--seed",
            "3",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut stream = serde_json::Deserializer::from_str(&stdout).into_iter::<serde_json::Value>();
    let v = stream.next().unwrap().unwrap();
    assert!(
        stream.next().is_none(),
        "more than one JSON value on stdout"
    );
    for key in [
        "docs_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "documents",
        "errors",
        "reconnects",
        "duration_s",
        "profile",
        "connections",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["documents"], 100);
    assert_eq!(v["errors"]["total"], 0);
    assert_eq!(v["profile"], "wired");
    assert_eq!(v["connections"], 5);
}
