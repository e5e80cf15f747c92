//! `kill -9` at random moments, many times over: the real `ofdd` binary serves a fleet of
//! registers (some sending one document at a time, some pipelining bursts, one mixing document
//! types), is SIGKILLed at a random moment, restarted on the same data directory, and every
//! (FN, FD) it ever acknowledged must be served byte-identical — checked right after each restart
//! for what the killed process acknowledged, and for everything at the end.
//!
//! Registers behave like FNs: what was not acknowledged is kept and resent, in order, after
//! reconnecting (a resend of a document that was stored before the kill gets the stored
//! acknowledgement). Iterations: `OFDD_KILL9_ITERATIONS` (default 20, ~30 s); the seed of the
//! random kill moments is printed and can be fixed with `OFDD_KILL9_SEED`.

mod common;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ofd_proto::ack::{ResponseCode, decode_ack};
use ofd_proto::doctype::DocType;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// xorshift64*: reproducible kill moments from a printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// A register as its FN sees it: documents not yet acknowledged, oldest first.
struct Register {
    kkt: Kkt,
    unacked: VecDeque<Vec<u8>>,
    /// Documents sent per write (1 = one at a time; more = a pipelined backlog).
    burst: usize,
    /// Send a mix of document types instead of receipts only.
    mixed: bool,
}

impl Register {
    fn next_document(&mut self) -> Vec<u8> {
        if !self.mixed {
            return self.kkt.receipt();
        }
        let doc_type = match self.kkt.next_fd % 5 {
            0 => DocType::ShiftOpen,
            1 | 2 => DocType::Receipt,
            3 => DocType::ReceiptCorrection,
            _ => DocType::ShiftClose,
        };
        self.kkt.doc_at(doc_type, now() - 60)
    }
}

/// ((FN, FD), the document's bytes) of an acknowledged document.
type AckedDoc = ((String, u32), Vec<u8>);
type Acked = Vec<AckedDoc>;

/// Send and collect acknowledgements until the daemon goes away (counting them in `acks`);
/// returns the register (with whatever is still unacknowledged) and what was acknowledged.
async fn drive(mut reg: Register, addr: SocketAddr, acks: Arc<AtomicUsize>) -> (Register, Acked) {
    let mut acked = Vec::new();
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
    else {
        return (reg, acked);
    };
    loop {
        while reg.unacked.len() < reg.burst {
            let doc = reg.next_document();
            reg.unacked.push_back(doc);
        }
        let batch: Vec<u8> = reg.unacked.iter().flatten().copied().collect();
        if stream.write_all(&batch).await.is_err() {
            return (reg, acked);
        }
        for _ in 0..reg.unacked.len() {
            let Some(ack) = read_frame(&mut stream, Duration::from_secs(10)).await else {
                return (reg, acked);
            };
            let a = decode_ack(&ack).expect("a well-formed acknowledgement");
            assert_eq!(
                a.code,
                ResponseCode::Accepted,
                "a valid document (or its resend) must be accepted"
            );
            let doc = reg
                .unacked
                .pop_front()
                .expect("an answer for a sent document");
            let fn_str = String::from_utf8_lossy(a.fn_number).trim_end().to_string();
            assert_eq!(fn_str, reg.kkt.fn_str());
            acked.push(((fn_str, a.fd_number), doc));
            acks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every (FN, FD) in `docs` is served byte-identical by the daemon behind `admin` (checked by
/// eight concurrent HTTP clients).
async fn assert_stored(admin: &Admin, docs: &[AckedDoc], when: &str) {
    let chunk = docs.len().div_ceil(8).max(1);
    let checks: Vec<_> = docs
        .chunks(chunk)
        .map(|part| {
            let (admin, part, when) = (admin.clone(), part.to_vec(), when.to_string());
            tokio::spawn(async move {
                for ((f, fd), raw) in part {
                    let got = admin.get(&format!("/api/v1/documents/{f}/{fd}/raw")).await;
                    assert_eq!(
                        got.status, 200,
                        "{when}: acknowledged FN {f} FD {fd} is lost"
                    );
                    assert!(
                        got.body == raw,
                        "{when}: FN {f} FD {fd} is not byte-identical"
                    );
                }
            })
        })
        .collect();
    for c in checks {
        c.await.expect("stored-document check");
    }
}

/// The last `n` documents each register had acknowledged: the ones a kill puts most at risk.
fn last_per_register(acked: &Acked, n: usize) -> Acked {
    let mut by_fn: HashMap<&str, Vec<&AckedDoc>> = HashMap::new();
    for item in acked {
        by_fn.entry(item.0.0.as_str()).or_default().push(item);
    }
    by_fn
        .into_values()
        .flat_map(|v| v.into_iter().rev().take(n).cloned().collect::<Vec<_>>())
        .collect()
}

async fn kill_nine(iterations: usize) {
    let seed = std::env::var("OFDD_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill -9 test: {iterations} iterations, OFDD_KILL9_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();

    let mut fleet: Vec<Register> = (0..8u64)
        .map(|i| Register {
            kkt: Kkt::new(90_000 + i),
            unacked: VecDeque::new(),
            burst: [1, 1, 1, 4, 4, 16, 1, 2][i as usize],
            mixed: i == 6,
        })
        .collect();
    let mut all: HashMap<(String, u32), Vec<u8>> = HashMap::new();
    let mut previous: Acked = Vec::new();
    let mut resent_after_kill = 0usize;
    let mut under_load = 0usize;

    for i in 0..iterations {
        let mut proc = spawn_ofdd(&data).await;
        // What the previous process acknowledged last before it was killed survived the kill
        // (everything is checked at the end).
        assert_stored(
            &proc.admin,
            &last_per_register(&previous, 16),
            &format!("after kill {i}"),
        )
        .await;

        resent_after_kill += fleet.iter().map(|r| r.unacked.len()).sum::<usize>();
        let acks = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = std::mem::take(&mut fleet)
            .into_iter()
            .map(|r| tokio::spawn(drive(r, proc.ingest, acks.clone())))
            .collect();
        // A random moment: sometimes right after start-up, mostly under load: then once this
        // process has acknowledged 10 documents (however long that takes on a loaded machine),
        // and a random while later.
        let wait = match rng.below(10) {
            0 => rng.below(30),
            _ => {
                under_load += 1;
                let deadline = Instant::now() + Duration::from_secs(120);
                while acks.load(Ordering::Relaxed) < 10 {
                    assert!(
                        Instant::now() < deadline,
                        "iteration {i}: fewer than 10 documents acknowledged in 120 s"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                rng.below(600)
            }
        };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        proc.child.kill().expect("SIGKILL"); // std's Child::kill sends SIGKILL on unix
        proc.child.wait().unwrap();

        previous.clear();
        for t in tasks {
            let (reg, acked) = t.await.expect("register task");
            fleet.push(reg);
            previous.extend(acked);
        }
        for (key, raw) in &previous {
            if let Some(old) = all.insert(key.clone(), raw.clone()) {
                assert_eq!(&old, raw, "{key:?} acknowledged twice with different bytes");
            }
        }
    }

    // Final restart: everything ever acknowledged is there, byte for byte, and the registers'
    // unacknowledged tails go through.
    let mut proc = spawn_ofdd(&data).await;
    let everything: Acked = all.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_stored(&proc.admin, &everything, "at the end").await;
    let pending: usize = fleet.iter().map(|r| r.unacked.len()).sum();
    for reg in &mut fleet {
        let mut link = Link::connect(proc.ingest).await;
        while let Some(doc) = reg.unacked.pop_front() {
            assert_eq!(ack_of(&link.exchange(&doc).await).2, ResponseCode::Accepted);
        }
    }
    unsafe { libc::kill(proc.child.id() as i32, libc::SIGTERM) };
    assert!(
        proc.child.wait().unwrap().success(),
        "ofdd exits 0 on SIGTERM"
    );

    assert!(
        all.len() >= 10 * under_load,
        "too little load to mean anything: {} documents in {under_load} kills under load",
        all.len()
    );
    eprintln!(
        "kill -9 test: {iterations} kills, {} documents acknowledged and all present byte-identical, \
         {resent_after_kill} resent after a kill, {pending} pending at the end, {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_documents_survive_repeated_kill_9() {
    let iterations = std::env::var("OFDD_KILL9_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    kill_nine(iterations).await;
}
