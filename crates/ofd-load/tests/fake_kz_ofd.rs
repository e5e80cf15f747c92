//! ofd-load `--protocol kz` against an in-process fake Kazakh OFD over real loopback TCP.
//!
//! The fake is `ofd_kz::decide` with its state in memory, applied the way the daemon must: the
//! new `RegisterFacts` and the answer are kept before the answer is sent, and a retry (same
//! TOKEN, REQNUM and command) gets the stored answer byte for byte. It records what it
//! accepted, so the tests check from the server's side too: every answer OK, tickets numbered
//! 1, 2, 3, … per register with none numbered twice, offline tickets accepted in the order the
//! register numbered them, retries answered, token rotation followed. No assertion depends on
//! timing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ofd_kz::{
    Decision, Event, FrameLimits, Framing, Input, Policy, RegInfo, RegisterFacts, ResultCode,
    TokenRotation, check_frame, decide, split_frame,
};
use ofd_load::{Config, ErrorKind, KzCredential, KzOptions, LoadError, Profile, Protocol, SimLink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One register as the fake OFD keeps it.
struct Reg {
    facts: RegisterFacts,
    /// The answer to the last authenticated request (what a retry gets).
    stored: Option<Vec<u8>>,
    /// Accepted tickets: (ticket number, offline ticket number).
    tickets: Vec<(u64, Option<u32>)>,
}

#[derive(Default)]
struct Shared {
    regs: HashMap<u32, Reg>,
    next_token: u32,
    retries: u64,
    rotations: u64,
    offline_periods: u64,
    /// Answers by result code.
    codes: HashMap<u32, u64>,
}

struct FakeKz {
    addr: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeKz {
    /// Register `n` KKMs (system IDs 22656, 22657, …) and return their credentials.
    fn register(&self, n: u32) -> Vec<KzCredential> {
        (0..n).map(|i| self.add(22_656 + i)).collect()
    }

    fn add(&self, id: u32) -> KzCredential {
        let token = 0x5EED_0000 ^ id.wrapping_mul(2_654_435_761);
        let reg = RegInfo {
            registration_number: format!("0101{id:08}"),
            kkm_id: id.to_string(),
            org_inn: "154000000016".into(),
            ..RegInfo::default()
        };
        self.shared.lock().unwrap().regs.insert(
            id,
            Reg {
                facts: RegisterFacts::new(reg, token),
                stored: None,
                tickets: Vec::new(),
            },
        );
        KzCredential {
            system_id: id,
            token,
            reqnum: None,
        }
    }

    fn non_ok_answers(&self) -> u64 {
        let s = self.shared.lock().unwrap();
        s.codes
            .iter()
            .filter(|(c, _)| **c != 0)
            .map(|(_, n)| n)
            .sum()
    }

    /// Every register's tickets are numbered 1..=n in the order accepted, and its offline
    /// tickets were accepted in the order the register numbered them. Returns (tickets, offline).
    fn check_numbering(&self) -> (u64, u64) {
        let s = self.shared.lock().unwrap();
        let (mut total, mut offline) = (0, 0);
        for (id, reg) in &s.regs {
            let numbers: Vec<u64> = reg.tickets.iter().map(|t| t.0).collect();
            let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
            assert_eq!(numbers, expected, "register {id}: tickets 1..=n in order");
            let off: Vec<u32> = reg.tickets.iter().filter_map(|t| t.1).collect();
            assert!(
                off.windows(2).all(|w| w[0] < w[1]),
                "register {id}: offline tickets replayed in order: {off:?}"
            );
            total += numbers.len() as u64;
            offline += off.len() as u64;
        }
        (total, offline)
    }
}

async fn fake_kz(rotation: TokenRotation) -> FakeKz {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let shared = Arc::new(Mutex::new(Shared {
        next_token: 1,
        ..Shared::default()
    }));
    let policy = Arc::new(Policy {
        rotation,
        ..Policy::default()
    });
    let s = shared.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, s.clone(), policy.clone()));
        }
    });
    FakeKz { addr, shared }
}

async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Shared>>, policy: Arc<Policy>) {
    let _ = stream.set_nodelay(true);
    let limits = FrameLimits::default();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        out.clear();
        loop {
            let len = match check_frame(&buf, &limits) {
                Ok(Framing::Complete { len }) => len,
                Ok(Framing::Incomplete { .. }) => break,
                Err(e) => panic!("the fake OFD got a bad frame: {e}"),
            };
            let frame: Vec<u8> = buf.drain(..len).collect();
            out.extend_from_slice(&answer(&frame, &shared, &policy));
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Decide, keep the new state and the answer, then return the answer (the daemon's order).
fn answer(frame: &[u8], shared: &Mutex<Shared>, policy: &Policy) -> Vec<u8> {
    let (header, body) = split_frame(frame).expect("ofd-load frames are well-formed");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut s = shared.lock().unwrap();
    s.next_token = s
        .next_token
        .wrapping_mul(1_103_515_245)
        .wrapping_add(12_345);
    let fresh_token = s.next_token;
    let Shared {
        regs,
        retries,
        rotations,
        offline_periods,
        codes,
        ..
    } = &mut *s;
    let reg = regs.get_mut(&header.id);
    let decision = decide(&Input {
        header,
        body,
        register: reg.as_ref().map(|r| &r.facts),
        policy,
        now,
        store_available: true,
        fresh_token,
    });
    match decision {
        Decision::Retry => {
            *retries += 1;
            let reg = reg.expect("a retry is of a known register");
            reg.stored.clone().expect("a retry has a stored answer")
        }
        Decision::Answer(a) => {
            *codes.entry(a.code.wire()).or_default() += 1;
            if let (Some(state), Some(reg)) = (a.state, reg) {
                reg.facts = state;
                reg.stored = Some(a.bytes.clone());
                for e in &a.events {
                    match e {
                        Event::TicketAccepted {
                            ticket_number,
                            offline_ticket_number,
                            ..
                        } => reg.tickets.push((*ticket_number, *offline_ticket_number)),
                        Event::TokenRotated { .. } => *rotations += 1,
                        Event::OfflinePeriod { .. } => *offline_periods += 1,
                        _ => {}
                    }
                }
            }
            a.bytes
        }
    }
}

fn kz_config(addr: &str, profile: Profile, fleet: Vec<KzCredential>, documents: u64) -> Config {
    Config {
        protocol: Protocol::Kz,
        connections: 4,
        documents: Some(documents),
        seed: 21,
        max_duration: Duration::from_secs(60),
        kz: KzOptions {
            fleet,
            shift_tickets: 15,
            placement_chance: 0.1,
            ..KzOptions::default()
        },
        ..Config::new(addr, profile)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wired_kz_fleet_every_answer_ok_tickets_in_order_rotation_followed() {
    let ofd = fake_kz(TokenRotation::EveryN(3)).await;
    let fleet = ofd.register(12);
    let cfg = Config {
        pipeline: 3,
        ..kz_config(&ofd.addr, Profile::Wired, fleet.clone(), 1500)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert!(r.clean(), "{}", r.human());
    assert_eq!((r.documents, r.sent), (1500, 1500));
    assert_eq!(r.protocol, "kz");
    assert_eq!((r.connects, r.reconnects), (4, 0));
    assert_eq!(ofd.non_ok_answers(), 0);
    // INFO first, once per register; then tickets, placements and shift closes.
    assert_eq!(r.by_type.get("info"), Some(&12), "{:?}", r.by_type);
    for command in ["ticket", "money_placement", "close_shift"] {
        assert!(
            r.by_type.get(command).is_some_and(|n| *n > 0),
            "{command}: {:?}",
            r.by_type
        );
    }
    let kz = r.kz.unwrap().counters;
    let (tickets, offline) = ofd.check_numbering();
    assert_eq!(kz.tickets, tickets);
    assert_eq!(r.by_type["ticket"], tickets);
    assert_eq!(
        (offline, kz.offline_tickets),
        (0, 0),
        "wired never goes offline"
    );
    let s = ofd.shared.lock().unwrap();
    assert!(kz.token_rotations > 100, "{}", r.human());
    assert_eq!(kz.token_rotations, s.rotations, "every rotation followed");
    // The tokens ofd-load ends with are the server's current ones.
    assert_eq!(r.kz_fleet_after.len(), 12);
    for c in &r.kz_fleet_after {
        assert_eq!(c.token, s.regs[&c.system_id].facts.token, "{c:?}");
    }
    let ids: Vec<u32> = r.kz_fleet_after.iter().map(|c| c.system_id).collect();
    assert_eq!(ids, fleet.iter().map(|c| c.system_id).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kz_drops_retries_and_offline_replay_every_answer_ok() {
    let ofd = fake_kz(TokenRotation::Always).await;
    let fleet = ofd.register(8);
    let cfg = Config {
        connections: 8,
        sim: SimLink {
            latency: Duration::from_micros(300),
            jitter: Duration::from_micros(300),
            // Tickets are a few KB: segments of up to 1 KB keep the run short.
            max_segment: 1024,
            segment_gap: Duration::from_micros(100),
            drop_mid_message: 0.1,
            drop_before_ack: 0.15,
        },
        kz: KzOptions {
            offline_chance: 0.08,
            ..kz_config("", Profile::Sim, fleet, 0).kz
        },
        ..kz_config(&ofd.addr, Profile::Sim, Vec::new(), 800)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert_eq!(
        r.errors.total(),
        0,
        "simulated drops are not errors: {}",
        r.human()
    );
    assert!(r.clean(), "{}", r.human());
    assert_eq!((r.documents, r.sent), (800, 800));
    assert_eq!(ofd.non_ok_answers(), 0);
    let kz = r.kz.unwrap().counters;
    let (tickets, offline) = ofd.check_numbering();
    // A retried ticket was numbered once: the server's count equals the answers ofd-load got.
    assert_eq!(kz.tickets, tickets);
    assert!(
        r.reconnects > 0 && r.resends > 0 && r.duplicates > 0,
        "{}",
        r.human()
    );
    let s = ofd.shared.lock().unwrap();
    assert!(kz.retries_answered > 0, "{}", r.human());
    assert!(
        s.retries > 0 && s.retries <= r.duplicates,
        "server retries {} of {} duplicates",
        s.retries,
        r.duplicates
    );
    assert!(
        offline > 0 && kz.offline_tickets == offline,
        "{}",
        r.human()
    );
    assert!(kz.offline_periods > 0 && kz.offline_periods == s.offline_periods);
    assert_eq!(kz.token_rotations, s.rotations, "every rotation followed");
    for c in &r.kz_fleet_after {
        assert_eq!(c.token, s.regs[&c.system_id].facts.token, "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_continues_with_the_tokens_and_reqnums_of_the_first() {
    let ofd = fake_kz(TokenRotation::Always).await;
    let fleet = ofd.register(3);
    let first = ofd_load::run(kz_config(&ofd.addr, Profile::Wired, fleet.clone(), 200))
        .await
        .unwrap();
    assert!(first.clean(), "{}", first.human());
    let second = ofd_load::run(kz_config(
        &ofd.addr,
        Profile::OneShot,
        first.kz_fleet_after.clone(),
        60,
    ))
    .await
    .unwrap();
    assert!(second.clean(), "{}", second.human());
    assert_eq!(second.connects, 60);
    ofd.check_numbering();
    // With the original tokens the server refuses (code 2): the rotation was real.
    let stale = ofd_load::run(kz_config(&ofd.addr, Profile::Wired, fleet, 6))
        .await
        .unwrap();
    assert_eq!(stale.errors.get(ErrorKind::KzCode2), 6, "{}", stale.human());
    // An empty fleet is a configuration error.
    let empty = ofd_load::run(kz_config(&ofd.addr, Profile::Wired, Vec::new(), 1)).await;
    assert!(matches!(empty, Err(LoadError::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_and_unknown_ids_are_counted_by_code() {
    let ofd = fake_kz(TokenRotation::Never).await;
    let mut fleet = ofd.register(2);
    fleet[0].token ^= 1;
    fleet.push(KzCredential {
        system_id: 999,
        token: 1,
        reqnum: None,
    });
    // One connection: its registers take turns, ten requests each.
    let cfg = Config {
        connections: 1,
        ..kz_config(&ofd.addr, Profile::Wired, fleet, 30)
    };
    let r = ofd_load::run(cfg).await.unwrap();
    assert!(!r.clean());
    assert_eq!(r.errors.get(ErrorKind::KzCode2), 10, "{}", r.human());
    assert_eq!(r.errors.get(ErrorKind::KzCode1), 10, "{}", r.human());
    assert_eq!(r.documents, 10);
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["errors"]["kz_code_2"], 10);
    assert_eq!(
        json["kz"]["tickets"].as_u64(),
        r.kz.map(|k| k.counters.tickets)
    );
    assert_eq!(
        ofd.shared
            .lock()
            .unwrap()
            .codes
            .get(&ResultCode::InvalidToken.wire()),
        Some(&10)
    );
}

/// A minimal admin API: `POST /api/v1/kz/kkm` registers the KKM in the fake OFD and answers
/// `201 {"system_id", "token"}` (the contract ofd-load is built against).
fn fake_admin(
    ofd: Arc<Mutex<Shared>>,
) -> (String, std::thread::JoinHandle<Vec<serde_json::Value>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut next_id = 40_000u32;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return bodies;
            }
            assert_eq!(line.trim_end(), "POST /api/v1/kz/kkm HTTP/1.1");
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "authorization" => auth = v.trim().to_owned(),
                    _ => {}
                }
            }
            assert_eq!(auth, "Bearer s3cret");
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let iin = v["iin_bin"].as_str().unwrap();
            assert!(
                iin.len() == 12 && iin.bytes().all(|b| b.is_ascii_digit()),
                "{v}"
            );
            bodies.push(v);
            let id = next_id;
            next_id += 1;
            let token = 0x5EED_0000 ^ id.wrapping_mul(2_654_435_761);
            ofd.lock().unwrap().regs.insert(
                id,
                Reg {
                    facts: RegisterFacts::new(RegInfo::default(), token),
                    stored: None,
                    tickets: Vec::new(),
                },
            );
            let answer = format!("{{\"system_id\":{id},\"token\":{token}}}");
            write!(
                writer,
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
        }
    });
    (url, handle)
}

#[test]
fn cli_registers_through_the_admin_api_then_runs_and_keeps_the_tokens() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ofd = rt.block_on(fake_kz(TokenRotation::EveryN(2)));
    let (admin, registered) = fake_admin(ofd.shared.clone());
    let dir = tempfile::tempdir().unwrap();
    let fleet_file = dir.path().join("fleet.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_ofd-load"))
        .args([
            "--protocol",
            "kz",
            "--target",
            &ofd.addr,
            "--register-via",
            &admin,
        ])
        .args([
            "--admin-token",
            "s3cret",
            "--registers",
            "5",
            "--documents",
            "300",
        ])
        .args([
            "--kz-fleet-out",
            fleet_file.to_str().unwrap(),
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["protocol"], "kz");
    assert_eq!(v["documents"], 300);
    assert_eq!(v["errors"]["total"], 0);
    assert!(v["kz"]["token_rotations"].as_u64().unwrap() > 0, "{v}");
    let bodies = registered.join().unwrap();
    assert_eq!(bodies.len(), 5);
    let fleet = ofd_load::kz::read_fleet(&fleet_file).unwrap();
    assert_eq!(fleet.len(), 5);
    {
        let s = ofd.shared.lock().unwrap();
        for c in &fleet {
            assert_eq!(
                c.token, s.regs[&c.system_id].facts.token,
                "file holds the current token"
            );
        }
    }
    // The file drives the next run (one KKM per connection, a connection per request).
    let out = Command::new(env!("CARGO_BIN_EXE_ofd-load"))
        .args([
            "--protocol",
            "kz",
            "--target",
            &ofd.addr,
            "--profile",
            "one-shot",
        ])
        .args([
            "--kz-fleet",
            fleet_file.to_str().unwrap(),
            "--documents",
            "40",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("kz one-shot profile"), "{stdout}");
    ofd.check_numbering();
    assert_eq!(ofd.non_ok_answers(), 0);
}

#[test]
fn cli_kz_without_a_fleet_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ofd-load"))
        .args(["--protocol", "kz", "--documents", "1", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kz-fleet"));
}
