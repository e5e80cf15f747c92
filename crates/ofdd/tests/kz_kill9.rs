//! Token rotation and ticket numbering survive `kill -9` at random moments: the real `ofdd`
//! binary rotates every KKM's token in every ticket answer, is SIGKILLed, restarted on the same
//! data directory, and every KKM keeps working with the last token it knows: a KKM that did not
//! get its answer resends the same request (same TOKEN and REQNUM) and is answered (the stored
//! answer, if the request was stored before the kill). At the end every ticket a KKM was told
//! about is in the register's log with the number it was told, and the numbers run 1, 2, 3…
//! without a gap or a repeat.
//!
//! Iterations: `OFDD_KZ_KILL9_ITERATIONS` (default 8); seed printed, fixed with `OFDD_KILL9_SEED`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use ofd_kz::builder::{Kkm, TicketSpec};
use ofd_kz::codec::decode_response;
use ofd_kz::time::LocalDateTime;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Register {
    kkm: Kkm,
    /// A ticket request whose answer never came, with its total: resent byte for byte after
    /// reconnecting.
    unanswered: Option<(Vec<u8>, u64)>,
    /// Ticket number → total, as the KKM was told.
    acked: BTreeMap<u64, u64>,
    seed: u64,
}

async fn read_answer(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 18];
    stream.read_exact(&mut head).await.ok()?;
    let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let mut frame = head.to_vec();
    frame.resize(size.max(18), 0);
    stream.read_exact(&mut frame[18..]).await.ok()?;
    Some(frame)
}

/// Sell until the daemon goes away.
async fn drive(mut reg: Register, addr: SocketAddr) -> Register {
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
    else {
        return reg;
    };
    loop {
        let (frame, total) = match reg.unanswered.take() {
            Some(unanswered) => unanswered,
            None => {
                reg.seed += 1;
                let time = LocalDateTime::from_unix(u64::from(now()), 5 * 3600);
                let spec = TicketSpec::sample(reg.seed, time);
                (reg.kkm.frame(&spec.request()), spec.total())
            }
        };
        let sent = stream.write_all(&frame).await.is_ok();
        let answer = if sent {
            tokio::time::timeout(Duration::from_secs(5), read_answer(&mut stream))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let Some(answer) = answer else {
            reg.unanswered = Some((frame, total));
            return reg;
        };
        let (h, resp) = decode_response(&answer).expect("a well-formed answer");
        assert_eq!(
            resp.result.result_code, 0,
            "KKM {} (token {}) refused: {:?}",
            reg.kkm.id, reg.kkm.token, resp.result
        );
        reg.kkm.accept(&h);
        let number: u64 = resp
            .ticket
            .expect("a ticket answer")
            .ticket_number
            .parse()
            .expect("a numeric ticket number");
        reg.acked.insert(number, total);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kkm_tokens_and_tickets_survive_kill_9() {
    let iterations: usize = std::env::var("OFDD_KZ_KILL9_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("OFDD_KILL9_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| u64::from(now()) | 1);
    println!("kz kill -9: {iterations} iterations, seed {seed}");
    let mut rng = seed;
    let mut below = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("ofdd.toml");
    std::fs::write(&config, "[kz]\ntoken_rotation = \"always\"\n").unwrap();
    let opts = SpawnOpts {
        config: Some(config),
        ..SpawnOpts::default()
    };

    let mut proc = spawn_ofdd_with(&data, &opts).await;
    let mut regs = Vec::new();
    for i in 0..4 {
        let a = proc
            .admin
            .post(
                "/api/v1/kz/kkm",
                json!({"registration_number": format!("0101000{i}"), "serial": format!("K{i}"),
                       "iin_bin": "990740002243", "name": "ТОО «Тест»", "pos_address": "Астана"}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text());
        let v = a.json();
        regs.push(Register {
            kkm: Kkm::new(
                v["system_id"].as_u64().unwrap() as u32,
                v["token"].as_u64().unwrap() as u32,
            ),
            unanswered: None,
            acked: BTreeMap::new(),
            seed: i * 1_000_000,
        });
    }

    for _ in 0..iterations {
        let addr = proc.ingest;
        let tasks: Vec<_> = regs
            .drain(..)
            .map(|r| tokio::spawn(drive(r, addr)))
            .collect();
        tokio::time::sleep(Duration::from_millis(100 + below(500))).await;
        proc.child.kill().expect("SIGKILL");
        let _ = proc.child.wait();
        for t in tasks {
            regs.push(t.await.expect("driver task"));
        }
        proc = spawn_ofdd_with(&data, &opts).await;
    }

    // One more round on the last process, then check the logs.
    let addr = proc.ingest;
    let deadline = Instant::now() + Duration::from_millis(300);
    let tasks: Vec<_> = regs
        .drain(..)
        .map(|r| tokio::spawn(drive(r, addr)))
        .collect();
    tokio::time::sleep(deadline.saturating_duration_since(Instant::now())).await;
    proc.child.kill().expect("SIGKILL");
    let _ = proc.child.wait();
    for t in tasks {
        regs.push(t.await.expect("driver task"));
    }
    let mut proc = spawn_ofdd_with(&data, &opts).await;
    let mut told = 0;
    for r in &mut regs {
        // The last request may be unanswered: its retry, with the token the KKM knows, must
        // still be accepted.
        if let Some((f, total)) = r.unanswered.take() {
            let mut stream = TcpStream::connect(proc.ingest).await.unwrap();
            stream.write_all(&f).await.unwrap();
            let a = read_answer(&mut stream)
                .await
                .expect("the retry is answered");
            let (h, resp) = decode_response(&a).unwrap();
            assert_eq!(resp.result.result_code, 0, "{:?}", resp.result);
            r.kkm.accept(&h);
            let number = resp.ticket.unwrap().ticket_number.parse().unwrap();
            r.acked.insert(number, total);
        }
        let v = proc
            .admin
            .get(&format!("/api/v1/kz/kkm/{}/tickets", r.kkm.id))
            .await
            .json();
        let logged: BTreeMap<u64, u64> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["ticket_number"].as_u64().unwrap(),
                    i["total_tiyn"].as_u64().unwrap(),
                )
            })
            .collect();
        let numbers: Vec<u64> = logged.keys().copied().collect();
        assert_eq!(
            numbers,
            (1..=numbers.len() as u64).collect::<Vec<_>>(),
            "KKM {}: ticket numbers run 1, 2, 3… without gaps or repeats",
            r.kkm.id
        );
        for (n, total) in &r.acked {
            assert_eq!(
                logged.get(n),
                Some(total),
                "KKM {}: ticket {n} was answered but is not in the log as answered",
                r.kkm.id
            );
        }
        told += r.acked.len();
    }
    // The last daemon is not left running after the test.
    let _ = proc.child.kill();
    let _ = proc.child.wait();
    println!("kz kill -9: {told} tickets answered, all in the logs");
    assert!(told > 0, "no ticket was answered at all");
}
