//! Durability across `kill -9`: the real `ofdd` binary is killed while registers are sending,
//! restarted on the same data directory, and every acknowledged document must be served
//! byte-identical. Also a clean SIGTERM shutdown exits 0.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ofd_proto::ack::ResponseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_documents_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // (FN, FD) → raw bytes of every acknowledged document.
    let mut acked: HashMap<(String, u32), Vec<u8>> = HashMap::new();
    // Each register with the message it has not had acknowledged yet (an FN resends exactly
    // those bytes).
    let mut fleet: Vec<(Kkt, Option<Vec<u8>>)> =
        (0..8).map(|i| (Kkt::new(9000 + i), None)).collect();

    for round in 0..3u64 {
        let mut proc = spawn_ofdd(&data).await;
        let addr = proc.ingest;
        // Registers send concurrently; the daemon is killed while they are mid-stream.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let acks = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (mut kkt, mut unacked) in std::mem::take(&mut fleet) {
            let tx = tx.clone();
            let acks = acks.clone();
            tasks.push(tokio::spawn(async move {
                let mut link = Link::connect(addr).await;
                loop {
                    let msg = unacked.take().unwrap_or_else(|| kkt.receipt());
                    link.send(&msg).await;
                    match link.read_frame().await {
                        Some(ack) => {
                            let (f, fd, code) = ack_of(&ack);
                            assert_eq!(code, ResponseCode::Accepted);
                            let _ = tx.send(((f, fd), msg));
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        // Not acknowledged: the FN keeps it and resends it after reconnecting.
                        None => return (kkt, Some(msg)),
                    }
                }
            }));
        }
        drop(tx);
        // Mid-stream: once this process has acknowledged 20 documents (however long that takes
        // on a loaded machine), and a little later each round.
        let deadline = Instant::now() + Duration::from_secs(120);
        while acks.load(Ordering::Relaxed) < 20 {
            assert!(
                Instant::now() < deadline,
                "round {round}: fewer than 20 documents acknowledged in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50 * round)).await;
        proc.child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on unix
        proc.child.wait().unwrap();
        for task in tasks {
            fleet.push(task.await.unwrap());
        }
        while let Some((key, msg)) = rx.recv().await {
            acked.insert(key, msg);
        }
    }
    assert!(
        acked.len() >= 60,
        "three rounds of at least 20 acknowledged documents each, got {}",
        acked.len()
    );

    // Restart on the same data and check every acknowledged document.
    let mut proc = spawn_ofdd(&data).await;
    for ((f, fd), msg) in &acked {
        let raw = proc
            .admin
            .get(&format!("/api/v1/documents/{f}/{fd}/raw"))
            .await;
        assert_eq!(
            raw.status, 200,
            "acknowledged FN {f} FD {fd} lost after kill -9"
        );
        assert_eq!(&raw.body, msg, "FN {f} FD {fd} not byte-identical");
    }
    // Resending the unacknowledged tail works: the FN's retry logic converges.
    let mut link = Link::connect(proc.ingest).await;
    for (_, unacked) in &fleet {
        if let Some(msg) = unacked {
            let ack = link.exchange(msg).await;
            assert_eq!(
                ack_of(&ack).2,
                ResponseCode::Accepted,
                "a resend after kill -9 is accepted or a duplicate"
            );
        }
    }

    // SIGTERM: graceful shutdown, exit 0.
    unsafe { libc::kill(proc.child.id() as i32, libc::SIGTERM) };
    let status = proc.child.wait().unwrap();
    assert!(status.success(), "ofdd exits 0 on SIGTERM, got {status:?}");
}
