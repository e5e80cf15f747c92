//! A null Kazakh OFD: `ofd_kz::decide` with every register's state and last answer in memory —
//! the protocol's full rules (tokens, rotation every 10 answers, retries, ticket numbering,
//! shifts, reports), but no store, no fsync, no export.
//!
//! It writes a fleet file of N registers (system IDs from 1, random tokens) for
//! `ofd-load --kz-fleet`, then serves them. The difference between ofd-load's figures against
//! it and against ofdd is what the daemon's storage and durability cost.
//!
//! ```text
//! cargo run --release -p ofd-load --example null_kz_ofd -- 127.0.0.1:17779 /tmp/kz-fleet.jsonl 256
//! ofd-load --protocol kz --kz-fleet /tmp/kz-fleet.jsonl --target 127.0.0.1:17779 --duration 15s
//! ```
//!
//! A broken frame closes its connection; nothing here panics on input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ofd_kz::{
    Decision, FrameLimits, Framing, Input, Policy, RegInfo, RegisterFacts, TokenRotation,
    check_frame, decide, split_frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// system ID → (state, the last answer for retries).
type Registers = HashMap<u32, (RegisterFacts, Vec<u8>)>;

struct Shared {
    registers: Mutex<Registers>,
    policy: Policy,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:17779".into());
    let fleet_path = args.next().unwrap_or_else(|| "kz-fleet.jsonl".into());
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(256);

    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 16) as u32 | 1
    };
    let mut registers = Registers::new();
    let mut fleet = String::new();
    for id in 1..=n {
        let token = random();
        let reg = RegInfo {
            registration_number: format!("{id:012}"),
            kkm_id: id.to_string(),
            ..RegInfo::default()
        };
        registers.insert(id, (RegisterFacts::new(reg, token), Vec::new()));
        fleet.push_str(&format!("{{\"system_id\":{id},\"token\":{token}}}\n"));
    }
    std::fs::write(&fleet_path, fleet)?;
    let shared = Arc::new(Shared {
        registers: Mutex::new(registers),
        policy: Policy {
            rotation: TokenRotation::EveryN(10),
            ..Policy::default()
        },
    });

    let listener = TcpListener::bind(&addr).await?;
    eprintln!("null KZ OFD on {addr}: {n} registers in {fleet_path} (state in memory only)");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream, shared.clone(), random()));
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>, mut token_seed: u32) {
    let _ = stream.set_nodelay(true);
    let limits = FrameLimits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut out = Vec::with_capacity(1024);
    loop {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        out.clear();
        let mut used = 0;
        while let Some(rest) = buf.get(used..) {
            let len = match check_frame(rest, &limits) {
                Ok(Framing::Complete { len }) => len,
                Ok(Framing::Incomplete { .. }) => break,
                Err(_) => return,
            };
            let Some(Ok((header, body))) = rest.get(..len).map(split_frame) else {
                return;
            };
            token_seed = token_seed
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let Ok(mut registers) = shared.registers.lock() else {
                return;
            };
            let entry = registers.get_mut(&header.id);
            let decision = decide(&Input {
                header,
                body,
                register: entry.as_ref().map(|(facts, _)| facts),
                policy: &shared.policy,
                now,
                store_available: true,
                fresh_token: token_seed,
            });
            match (decision, entry) {
                (Decision::Retry, Some((_, stored))) => out.extend_from_slice(stored),
                (Decision::Retry, None) => return,
                (Decision::Answer(a), entry) => {
                    if let (Some(state), Some((facts, stored))) = (a.state, entry) {
                        *facts = state;
                        stored.clone_from(&a.bytes);
                    }
                    out.extend_from_slice(&a.bytes);
                }
            }
            used += len;
        }
        buf.drain(..used);
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}
