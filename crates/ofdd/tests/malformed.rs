//! The malformed-input catalogue: every way a register (buggy firmware, a flaky SIM link, or an
//! attacker) can get a message wrong, sent over real TCP to a real daemon, each with the exact
//! outcome the protocol prescribes — an answer with code 11 / 14 / the refusal code, or a closed
//! connection with a specific `ofd_frames_rejected_total{reason}` and
//! `ofd_connections_total{outcome}`.
//!
//! Throughout, a well-behaved register sends receipts on its own connection and must keep being
//! acknowledged after every case. No case may panic the daemon, hang (every read has a timeout)
//! or leak a connection slot: at the end `ofd_connections_open` is back to the well-behaved
//! connections still open.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ofd_proto::ack::{ResponseCode, decode_ack};
use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::container::{self, ContainerHeader};
use ofd_proto::doctype::DocType;
use ofd_proto::message::encode_message;
use ofd_proto::session::{CrcMode, SessionHeader};
use ofd_proto::tlv::{TlvIter, find, write_tlv};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Building malformed messages: take the builder's valid output, change one thing, and re-seal
// whatever the case needs intact.

/// A valid message of `doc_type` from register `seed` (FD 1, time a minute ago).
fn valid(seed: u64, doc_type: DocType, crc: CrcMode) -> Vec<u8> {
    valid_at(seed, doc_type, crc, now() - 60)
}

fn valid_at(seed: u64, doc_type: DocType, crc: CrcMode, time: u32) -> Vec<u8> {
    let spec = DocSpec {
        crc_mode: crc,
        ..DocSpec::new(doc_type, 1, time)
    };
    let mut out = Vec::new();
    build_message(&KktIdentity::generate(seed), &spec, &mut out).expect("builder");
    out
}

fn receipt(seed: u64) -> Vec<u8> {
    valid(seed, DocType::Receipt, CrcMode::HeaderAndBody)
}

/// Recompute the container's length and CRC (length := actual body size) and the session CRC
/// for the header's CRC mode, keeping the session body length field as it is.
fn reseal(mut raw: Vec<u8>) -> Vec<u8> {
    container::seal(&mut raw[30..]).expect("container fits");
    reseal_session(raw)
}

/// Recompute only the session CRC (for the header's CRC mode and current body).
fn reseal_session(mut raw: Vec<u8>) -> Vec<u8> {
    let h = SessionHeader::decode(&raw).expect("session header decodes");
    let head = h.encode(&raw[30..]).expect("encodable");
    raw[..30].copy_from_slice(&head);
    raw
}

/// Edit raw bytes, then re-seal both CRCs.
fn patched(raw: Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut raw = raw;
    f(&mut raw);
    reseal(raw)
}

/// Rewrite the document's top-level TLVs (tag, value) and re-encode the whole message with
/// correct lengths and CRCs.
fn edit_doc(raw: &[u8], f: impl FnOnce(&mut Vec<(u16, Vec<u8>)>)) -> Vec<u8> {
    let payload = &raw[62..];
    let doc = TlvIter::new(payload)
        .next()
        .expect("document")
        .expect("document TLV");
    let trailer = &payload[doc.wire_len()..];
    let mut kids: Vec<(u16, Vec<u8>)> = doc
        .children()
        .map(|c| c.map(|t| (t.tag, t.value.to_vec())))
        .collect::<Result<_, _>>()
        .expect("children");
    f(&mut kids);
    let mut value = Vec::new();
    for (t, v) in &kids {
        write_tlv(&mut value, *t, v);
    }
    let mut new_payload = Vec::new();
    write_tlv(&mut new_payload, doc.tag, &value);
    new_payload.extend_from_slice(trailer);
    with_payload(raw, &new_payload)
}

/// The same headers around another payload (lengths and CRCs recomputed).
fn with_payload(raw: &[u8], payload: &[u8]) -> Vec<u8> {
    let s = SessionHeader::decode(raw).expect("session header");
    let c = ContainerHeader::decode(&raw[30..]).expect("container header");
    let mut out = Vec::new();
    encode_message(&s, &c, payload, &mut out).expect("re-encode");
    out
}

fn set_tag(raw: &[u8], tag: u16, value: &[u8]) -> Vec<u8> {
    edit_doc(raw, |kids| {
        for (t, v) in kids.iter_mut() {
            if *t == tag {
                *v = value.to_vec();
            }
        }
    })
}

fn drop_tag(raw: &[u8], tag: u16) -> Vec<u8> {
    edit_doc(raw, |kids| kids.retain(|(t, _)| *t != tag))
}

fn tag_value(raw: &[u8], tag: u16) -> Vec<u8> {
    let doc = TlvIter::new(&raw[62..]).next().unwrap().unwrap();
    find(doc.value, tag).expect("tag present").value.to_vec()
}

/// A 30-byte session header only (valid signature/versions), with the given length and flags.
fn bare_header(body_len: u16, flags: u16) -> Vec<u8> {
    let mut h = vec![0x2A, 0x08, 0x41, 0x0A, 0x81, 0xA2, 0x01, 0x05];
    h.extend_from_slice(b"9960000000077777");
    h.extend_from_slice(&body_len.to_le_bytes());
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&[0, 0]);
    h
}

/// Deterministic pseudo-random bytes (xorshift), never starting with the signature byte.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    if out[0] == 0x2A {
        out[0] = 0x2B;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Expected outcomes.

fn rejected(reason: &str) -> String {
    format!("ofd_frames_rejected_total{{reason=\"{reason}\"}}")
}
fn conns(outcome: &str) -> String {
    format!("ofd_connections_total{{outcome=\"{outcome}\"}}")
}
fn docs(doc_type: &str, result: &str) -> String {
    format!("ofd_documents_total{{doc_type=\"{doc_type}\",result=\"{result}\"}}")
}

/// How the case's bytes go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// In one write.
    Whole,
    /// In one write, then the client half-closes (the FN's link drops mid-message).
    ThenHalfClose,
    /// One byte every `ms` milliseconds (a slowloris).
    Dribble { ms: u64 },
    /// Nothing at all (an idle connection).
    Nothing,
}

struct Expect {
    /// Response codes of the answers, in order.
    codes: Vec<u8>,
    /// After the answers the server closes (else the connection must stay usable).
    closes: bool,
    /// Metric series and the exact amount each must grow by.
    metrics: Vec<(String, f64)>,
}

/// Closed without an answer; the frame is counted under `reason`.
fn close(reason: &str) -> Expect {
    Expect {
        codes: vec![],
        closes: true,
        metrics: vec![(rejected(reason), 1.0), (conns("framing_error"), 1.0)],
    }
}

/// Closed without an answer after a read-level failure (truncation, slowloris).
fn cut(reason: &str) -> Expect {
    Expect {
        codes: vec![],
        closes: true,
        metrics: vec![(rejected(reason), 1.0), (conns(reason), 1.0)],
    }
}

/// Answered with `code`, counted as `result` for `doc_type`; the connection stays usable (a
/// valid receipt sent after it on the same connection is accepted).
fn answer(code: u8, doc_type: &str, result: &str) -> Expect {
    Expect {
        codes: vec![code],
        closes: false,
        metrics: vec![(docs(doc_type, result), 1.0), (conns("closed"), 1.0)],
    }
}

struct Case {
    name: &'static str,
    /// Sent and acknowledged (code 0) on the same connection before `bytes`.
    setup: Option<Vec<u8>>,
    bytes: Vec<u8>,
    delivery: Delivery,
    expect: Expect,
}

fn case(name: &'static str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        setup: None,
        bytes,
        delivery: Delivery::Whole,
        expect,
    }
}

// ---------------------------------------------------------------------------------------------
// The well-behaved register that runs throughout.

struct GoodRegister {
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl GoodRegister {
    fn spawn(addr: std::net::SocketAddr, seed: u64) -> GoodRegister {
        let acked = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (acked.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut kkt = Kkt::new(seed);
            let mut link = Link::connect(addr).await;
            while !s.load(Ordering::Relaxed) {
                let fd = kkt.next_fd;
                let ack = link.exchange(&kkt.receipt()).await;
                assert_eq!(
                    ack_of(&ack),
                    (kkt.fn_str(), fd, ResponseCode::Accepted),
                    "well-behaved register refused"
                );
                a.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        GoodRegister { acked, stop, task }
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// The register got at least one more acknowledgement since `from`.
    async fn progressed_since(&self, from: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.acked() <= from {
            assert!(
                !self.task.is_finished(),
                "well-behaved register died during {what}"
            );
            assert!(
                Instant::now() < deadline,
                "well-behaved register stalled during {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let acked = self.acked.clone();
        self.task.await.expect("well-behaved register task");
        acked.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// Running a case.

/// (session FN, container FD, code) of an answer. Falls back to reading the headers and TLVs by
/// hand when the strict decoder refuses it — which it does for the code-11 answer to a broken
/// BCD FN, because the answer copies the request's BCD as the protocol says.
fn answer_of(bytes: &[u8]) -> (String, u32, u8) {
    if let Ok(a) = decode_ack(bytes) {
        return (
            String::from_utf8_lossy(a.fn_number).trim_end().to_string(),
            a.fd_number,
            a.code.as_u8(),
        );
    }
    let s = SessionHeader::decode(bytes).expect("answer has a session header");
    let c = ContainerHeader::decode(&bytes[30..]).expect("answer has a container header");
    assert_eq!(c.doc_type, 7, "an answer is document 7");
    let doc = TlvIter::new(&bytes[62..])
        .next()
        .expect("doc")
        .expect("doc TLV");
    let code = find(doc.value, 1068)
        .and_then(|m| find(m.value, 1022))
        .expect("1068/1022")
        .value[0];
    (
        String::from_utf8_lossy(&s.fn_number).trim_end().to_string(),
        c.fd_number,
        code,
    )
}

/// Wait for EOF (or a reset) without any byte arriving first.
async fn closed_without_answer(link: &mut Link, within: Duration) -> Result<(), String> {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(within, link.stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Ok(()),
        Ok(Ok(n)) => Err(format!(
            "got {n} byte(s) instead of a close: {:02x?}",
            &buf[..n.min(32)]
        )),
        Err(_) => Err(format!("still open after {within:?}")),
    }
}

/// Send bytes, tolerating a server that has already closed (it may reject at the first byte).
async fn send_lenient(link: &mut Link, bytes: &[u8]) {
    let _ = link.stream.write_all(bytes).await;
}

async fn metric_values(admin: &Admin, series: &[(String, f64)]) -> Vec<f64> {
    let text = admin.metrics().await;
    series.iter().map(|(s, _)| metric(&text, s)).collect()
}

async fn run_case(t: &TestDaemon, good: &GoodRegister, follow_up: &mut Kkt, c: Case) {
    let admin = t.admin();
    let before = metric_values(&admin, &c.expect.metrics).await;
    let acked_before = good.acked();
    let started = Instant::now();
    let mut link = Link::connect(t.ingest_addr()).await;

    if let Some(setup) = &c.setup {
        let ack = link.exchange(setup).await;
        assert_eq!(
            answer_of(&ack).2,
            0,
            "{}: setup message not accepted",
            c.name
        );
    }
    match c.delivery {
        Delivery::Whole => send_lenient(&mut link, &c.bytes).await,
        Delivery::ThenHalfClose => {
            send_lenient(&mut link, &c.bytes).await;
            link.stream.shutdown().await.expect("half-close");
        }
        Delivery::Dribble { ms } => {
            // Keep dribbling until the server hangs up (it must, well before the bytes run out).
            let mut buf = [0u8; 64];
            let mut closed = false;
            for b in &c.bytes {
                if link
                    .stream
                    .write_all(std::slice::from_ref(b))
                    .await
                    .is_err()
                {
                    closed = true;
                    break;
                }
                match tokio::time::timeout(Duration::from_millis(ms), link.stream.read(&mut buf))
                    .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        closed = true;
                        break;
                    }
                    Ok(Ok(n)) => panic!("{}: slowloris got {n} bytes of answer", c.name),
                    Err(_) => {}
                }
            }
            assert!(closed, "{}: a slowloris was never cut off", c.name);
        }
        Delivery::Nothing => {}
    }

    for (i, &code) in c.expect.codes.iter().enumerate() {
        let ans = link
            .read_frame()
            .await
            .unwrap_or_else(|| panic!("{}: answer {i} missing", c.name));
        let (fn_ascii, fd, got) = answer_of(&ans);
        assert_eq!(
            got, code,
            "{}: answer {i} has code {got}, expected {code}",
            c.name
        );
        if c.expect.codes.len() == 1 {
            // Addressed to the message: its session FN and container FD.
            let s = SessionHeader::decode(&c.bytes).unwrap();
            let ch = ContainerHeader::decode(&c.bytes[30..]).unwrap();
            assert_eq!(
                fn_ascii,
                String::from_utf8_lossy(&s.fn_number).trim_end(),
                "{}: answer FN",
                c.name
            );
            assert_eq!(fd, ch.fd_number, "{}: answer FD", c.name);
        }
    }
    if c.expect.closes {
        if !matches!(c.delivery, Delivery::Dribble { .. }) {
            let within = if c.delivery == Delivery::Nothing {
                Duration::from_secs(15)
            } else {
                Duration::from_secs(10)
            };
            if let Err(e) = closed_without_answer(&mut link, within).await {
                panic!("{}: expected the server to close: {e}", c.name);
            }
        }
    } else {
        // A negative answer does not end the session: the next document goes through.
        let fd = follow_up.next_fd;
        let ack = link.exchange(&follow_up.receipt()).await;
        assert_eq!(
            ack_of(&ack),
            (follow_up.fn_str(), fd, ResponseCode::Accepted),
            "{}: connection unusable after the answer",
            c.name
        );
    }
    drop(link);

    // The counters move by exactly the expected amounts (connection outcomes are counted when
    // the server's task ends, so give it a moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = metric_values(&admin, &c.expect.metrics).await;
        let deltas: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        let want: Vec<f64> = c.expect.metrics.iter().map(|(_, d)| *d).collect();
        if deltas == want {
            break;
        }
        if Instant::now() > deadline {
            let text = admin.metrics().await;
            let relevant: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.starts_with("ofd_frames_rejected")
                        || l.starts_with("ofd_connections")
                        || l.starts_with("ofd_documents")
                })
                .collect();
            panic!(
                "{}: metric deltas {:?}, expected {:?}\n{}",
                c.name,
                deltas,
                c.expect.metrics,
                relevant.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    good.progressed_since(acked_before, c.name).await;
    eprintln!("ok {:<48} {:>6} ms", c.name, started.elapsed().as_millis());
}

/// `ofd_connections_open` returns to `n`.
async fn open_connections_return_to(admin: &Admin, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = metric(&admin.metrics().await, "ofd_connections_open");
        if open == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ofd_connections_open is {open}, expected {n}: a slot leaked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The catalogue.

fn catalogue() -> Vec<Case> {
    use CrcMode::{Header, HeaderAndBody, None as NoCrc};
    let hb = HeaderAndBody;
    let mut seed = 70_000u64;
    let mut next = || {
        seed += 1;
        seed
    };
    let mut cases = vec![
        // ---- session header: closed, nothing in it can be trusted ----
        case(
            "bad signature",
            {
                let mut r = receipt(next());
                r[0] = 0x2B;
                r
            },
            close("bad_signature"),
        ),
        case(
            "bad signature, last byte",
            {
                let mut r = receipt(next());
                r[3] = 0x0B;
                r
            },
            close("bad_signature"),
        ),
        case(
            "bad S-version",
            {
                let mut r = receipt(next());
                r[5] = 0xA3;
                r
            },
            close("bad_s_version"),
        ),
        case(
            "unknown P-version",
            patched(receipt(next()), |r| r[6..8].copy_from_slice(&[0x02, 0x07])),
            close("unknown_p_version"),
        ),
        case(
            "zero body length",
            bare_header(0, 0x14),
            close("bad_body_length"),
        ),
        case(
            "body length over the configured maximum",
            bare_header(5000, 0x14),
            close("bad_body_length"),
        ),
        case(
            "CRC mode 11",
            {
                let mut r = receipt(next());
                r[26] = 0x17;
                r
            },
            close("bad_crc_mode"),
        ),
        case(
            "no container flag",
            reseal_session({
                let mut r = receipt(next());
                r[26] = 0x12;
                r
            }),
            close("no_container"),
        ),
        case(
            "session CRC wrong, header-only mode",
            {
                let mut r = valid(next(), DocType::Receipt, Header);
                r[28] ^= 0x01;
                r
            },
            close("session_crc"),
        ),
        case(
            "session CRC wrong, header+body mode (CRC field)",
            {
                let mut r = receipt(next());
                r[29] ^= 0x80;
                r
            },
            close("session_crc"),
        ),
        case(
            "session CRC wrong, header+body mode (body byte)",
            {
                let mut r = receipt(next());
                let n = r.len();
                r[n - 3] ^= 0x10;
                r
            },
            close("session_crc"),
        ),
        case(
            "container CRC wrong (no session CRC)",
            {
                let mut r = valid(next(), DocType::Receipt, NoCrc);
                r[32] ^= 0x01;
                r
            },
            close("container_crc"),
        ),
        case(
            "container CRC wrong under a valid session CRC",
            reseal_session({
                let mut r = receipt(next());
                r[33] ^= 0x01;
                r
            }),
            close("container_crc"),
        ),
        case(
            "container length differs from session length",
            {
                let mut r = receipt(next());
                let len = u16::from_le_bytes([r[30], r[31]]) - 1;
                r[30..32].copy_from_slice(&len.to_le_bytes());
                let crc = container::compute_crc(&r[30..]).unwrap();
                r[32..34].copy_from_slice(&crc.to_le_bytes());
                reseal_session(r)
            },
            close("length_mismatch"),
        ),
        case(
            "body shorter than a container header",
            reseal_session({
                let mut h = bare_header(10, 0x16);
                h.extend_from_slice(&[0xA5; 10]);
                h
            }),
            close("length_mismatch"),
        ),
        case("random garbage", garbage(7, 700), close("bad_signature")),
        case(
            "HTTP request on the ingest port",
            b"GET /api/v1/kkt HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            close("bad_signature"),
        ),
        case(
            "TLS ClientHello on the ingest port",
            vec![
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03,
            ],
            close("bad_signature"),
        ),
        Case {
            name: "truncated header, then the link drops",
            setup: None,
            bytes: receipt(next())[..17].to_vec(),
            delivery: Delivery::ThenHalfClose,
            expect: cut("truncated"),
        },
        Case {
            name: "truncated body, then the link drops",
            setup: None,
            bytes: {
                let r = receipt(next());
                r[..r.len() - 40].to_vec()
            },
            delivery: Delivery::ThenHalfClose,
            expect: cut("truncated"),
        },
        // ---- container intact, content not recognised: code 11 ----
        case(
            "unknown message type",
            patched(receipt(next()), |r| r[34] = 0xA6),
            answer(11, "unknown", "rejected"),
        ),
        case(
            "unknown container version",
            patched(receipt(next()), |r| r[36] = 2),
            answer(11, "unknown", "rejected"),
        ),
        case(
            "unknown document type",
            patched(receipt(next()), |r| r[35] = 99),
            answer(11, "unknown", "rejected"),
        ),
        case(
            "invalid BCD in the container FN",
            patched(receipt(next()), |r| r[41] = 0x9A),
            answer(11, "unknown", "rejected"),
        ),
        case(
            "document TLV overruns the container",
            patched(receipt(next()), |r| {
                let len = u16::from_le_bytes([r[64], r[65]]) + 50;
                r[64..66].copy_from_slice(&len.to_le_bytes());
            }),
            answer(11, "receipt", "rejected"),
        ),
        case(
            "item STLV child overruns its parent",
            edit_doc(&receipt(next()), |kids| {
                let item = kids.iter_mut().find(|(t, _)| *t == 1059).expect("an item");
                item.1.extend_from_slice(&[0x2F, 0x04, 0xFF, 0x00, 1, 2]); // tag 1071 declaring 255 bytes
            }),
            answer(11, "receipt", "rejected"),
        ),
        case(
            "STLVs nested deeper than any FFD",
            edit_doc(&receipt(next()), |kids| {
                let mut v = Vec::new();
                for _ in 0..6 {
                    let mut outer = Vec::new();
                    write_tlv(&mut outer, 1059, &v);
                    v = outer;
                }
                kids.push((1059, v));
            }),
            answer(11, "receipt", "rejected"),
        ),
        // ---- format-logic control: code 14 ----
        case(
            "container says shift close, TLV says receipt",
            patched(receipt(next()), |r| r[35] = 5),
            answer(14, "shift_close", "rejected"),
        ),
        case(
            "container BCD FN differs from the session FN",
            patched(receipt(next()), |r| r[46] ^= 0x01),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "tag 1041 differs from the session FN",
            {
                let r = receipt(next());
                set_tag(&r, 1041, b"9960000000000001")
            },
            answer(14, "receipt", "rejected"),
        ),
        case(
            "container FD differs from tag 1040",
            patched(receipt(next()), |r| r[49] ^= 0x02),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "mandatory tag 1077 (ФПД) missing",
            drop_tag(&receipt(next()), 1077),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "mandatory tag 1041 (FN) missing",
            drop_tag(&receipt(next()), 1041),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "item without its sum 1043",
            edit_doc(&receipt(next()), |kids| {
                let item = kids.iter_mut().find(|(t, _)| *t == 1059).expect("an item");
                let mut v = Vec::new();
                for c in TlvIter::new(&item.1)
                    .map(Result::unwrap)
                    .filter(|c| c.tag != 1043)
                {
                    write_tlv(&mut v, c.tag, c.value);
                }
                item.1 = v;
            }),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "over-long user name (300 bytes)",
            set_tag(&receipt(next()), 1048, &[0x8E; 300]),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "FN tag 1041 of 15 bytes",
            {
                let r = receipt(next());
                let f = tag_value(&r, 1041);
                set_tag(&r, 1041, &f[..15])
            },
            answer(14, "receipt", "rejected"),
        ),
        case(
            "time 1012 of 3 bytes",
            set_tag(&receipt(next()), 1012, &[1, 2, 3]),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "user INN with a letter",
            set_tag(&receipt(next()), 1018, b"77A2203276  "),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "user INN with a wrong check digit",
            {
                let r = receipt(next());
                let mut inn = tag_value(&r, 1018);
                let last = inn.iter().rposition(u8::is_ascii_digit).unwrap();
                inn[last] = if inn[last] == b'9' {
                    b'0'
                } else {
                    inn[last] + 1
                };
                set_tag(&r, 1018, &inn)
            },
            answer(14, "receipt", "rejected"),
        ),
        case(
            "registration report with wrong RN check digits",
            {
                let r = valid(next(), DocType::Registration, hb);
                let mut rn = tag_value(&r, 1037);
                rn[15] = if rn[15] == b'9' { b'0' } else { rn[15] + 1 };
                set_tag(&r, 1037, &rn)
            },
            answer(14, "registration", "rejected"),
        ),
        case(
            "RN with a letter",
            {
                let r = receipt(next());
                let mut rn = tag_value(&r, 1037);
                rn[3] = b'X';
                set_tag(&r, 1037, &rn)
            },
            answer(14, "receipt", "rejected"),
        ),
        case(
            "document time three days in the future",
            valid_at(next(), DocType::Receipt, hb, now() + 3 * 86_400),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "document time before 2016-09-01",
            valid_at(next(), DocType::Receipt, hb, 1_451_606_400),
            answer(14, "receipt", "rejected"),
        ),
        case(
            "unknown FFD version in 1209",
            set_tag(&receipt(next()), 1209, &[9]),
            answer(14, "receipt", "rejected"),
        ),
    ];

    // ---- sequences on one connection ----
    let first = receipt(next());
    cases.push(Case {
        name: "replay of a stored document",
        setup: Some(first.clone()),
        bytes: first,
        delivery: Delivery::Whole,
        expect: answer(0, "receipt", "duplicate"),
    });
    let s = next();
    cases.push(Case {
        name: "same FN and FD, different bytes (forged resend)",
        setup: Some(valid_at(s, DocType::Receipt, hb, now() - 600)),
        bytes: valid_at(s, DocType::Receipt, hb, now() - 300),
        delivery: Delivery::Whole,
        expect: answer(14, "receipt", "conflict"),
    });
    let mut broken = receipt(next());
    broken[40] ^= 0x01;
    cases.push(Case {
        name: "pipelined: a valid message, then a broken one",
        setup: None,
        bytes: [receipt(next()), broken].concat(),
        delivery: Delivery::Whole,
        expect: Expect {
            codes: vec![0],
            closes: true,
            metrics: vec![
                (rejected("session_crc"), 1.0),
                (conns("framing_error"), 1.0),
            ],
        },
    });
    // ---- slow and silent links ----
    cases.push(Case {
        name: "slowloris (one byte every 300 ms, deadline 2 s)",
        setup: None,
        bytes: receipt(next()),
        delivery: Delivery::Dribble { ms: 300 },
        expect: cut("slowloris"),
    });
    cases.push(Case {
        name: "idle connection (idle timeout 3 s)",
        setup: None,
        bytes: Vec::new(),
        delivery: Delivery::Nothing,
        expect: Expect {
            codes: vec![],
            closes: true,
            metrics: vec![(conns("idle_timeout"), 1.0)],
        },
    });
    cases
}

fn catalogue_config(cfg: &mut ofdd::config::Config) {
    cfg.limits.message_deadline_secs = 2;
    cfg.limits.idle_timeout_secs = 3;
    cfg.limits.max_message_bytes = 4096;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_catalogue() {
    let t = TestDaemon::start_with(catalogue_config).await;
    let admin = t.admin();
    let good = GoodRegister::spawn(t.ingest_addr(), 69_001);
    let mut follow_up = Kkt::new(69_002);

    let cases = catalogue();
    let n = cases.len();
    assert!(n >= 30, "the catalogue has {n} cases");
    for c in cases {
        run_case(&t, &good, &mut follow_up, c).await;
    }

    // A register deregistered by the operator is refused with the configured code.
    let mut kkt = Kkt::new(69_003);
    let body = json!({
        "rn": kkt.rn_str(), "serial": String::from_utf8_lossy(&kkt.id.kkt_serial), "fn": kkt.fn_str(),
        "inn": String::from_utf8_lossy(&kkt.id.user_inn), "name": "ООО Ромашка", "address": "г. Москва",
        "place": "Магазин", "connection": "sim", "tariff": "basic",
    });
    assert_eq!(admin.post("/api/v1/kkt", body).await.status, 201);
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/kkt/{}/deregister", kkt.rn_str()),
                json!({})
            )
            .await
            .status,
        200
    );
    let refused = kkt.receipt();
    run_case(
        &t,
        &good,
        &mut follow_up,
        case(
            "document from a deregistered register",
            refused,
            answer(10, "receipt", "refused"),
        ),
    )
    .await;

    open_connections_return_to(&admin, 1.0).await;
    let acked = good.finish().await;
    open_connections_return_to(&admin, 0.0).await;
    eprintln!(
        "{} cases; the well-behaved register got {acked} acknowledgements meanwhile",
        n + 1
    );
    t.stop().await;
}

/// An FN registered with encryption (1056 = 1): its encrypted receipt is stored raw, counted as
/// `encrypted`, and by default not acknowledged (the FN keeps it until the operator's crypto
/// module can read it). A resend is recognised and stays silent too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_body_is_stored_raw_and_not_acknowledged() {
    let t = TestDaemon::start().await;
    let admin = t.admin();
    let good = GoodRegister::spawn(t.ingest_addr(), 69_101);
    let id = KktIdentity::generate(69_102);
    let fn_str = String::from_utf8_lossy(&id.fn_number)
        .trim_end()
        .to_string();
    let build = |spec: DocSpec| {
        let mut out = Vec::new();
        build_message(&id, &spec, &mut out).unwrap();
        out
    };
    let reg = build(DocSpec {
        encrypted: true,
        ..DocSpec::new(DocType::Registration, 1, now() - 3600)
    });
    let enc = build(DocSpec {
        encrypted: true,
        ..DocSpec::new(DocType::Receipt, 2, now() - 60)
    });

    let mut link = Link::connect(t.ingest_addr()).await;
    assert_eq!(
        ack_of(&link.exchange(&reg).await),
        (fn_str.clone(), 1, ResponseCode::Accepted)
    );
    let before = good.acked();
    link.send(&enc).await;
    let mut buf = [0u8; 64];
    let silent = tokio::time::timeout(Duration::from_secs(2), link.stream.read(&mut buf)).await;
    assert!(
        silent.is_err(),
        "an encrypted document must not be answered by default: {silent:?}"
    );

    let raw = admin
        .get(&format!("/api/v1/documents/{fn_str}/2/raw"))
        .await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    assert_eq!(raw.body, enc, "the encrypted frame is stored byte for byte");
    let m = admin.metrics().await;
    assert_eq!(metric(&m, &docs("receipt", "encrypted")), 1.0);

    // The FN resends (no answer came): still silent, no second record.
    link.send(&enc).await;
    let silent = tokio::time::timeout(Duration::from_secs(1), link.stream.read(&mut buf)).await;
    assert!(
        silent.is_err(),
        "a resent encrypted document stays unanswered"
    );
    let m = admin.metrics().await;
    assert_eq!(metric(&m, &docs("receipt", "duplicate")), 1.0);
    assert_eq!(metric(&m, &docs("receipt", "encrypted")), 1.0);
    good.progressed_since(before, "encrypted").await;
    drop(link);
    open_connections_return_to(&admin, 1.0).await;
    good.finish().await;
    t.stop().await;
}

/// A flood from one address: past `limits.max_connections_per_ip` connections are refused (and
/// counted), the ones inside the limit and the well-behaved register keep working, and every
/// slot comes back once the flood goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_over_the_per_ip_limit() {
    const CAP: usize = 5;
    const FLOOD: usize = 40;
    let t = TestDaemon::start_with(|cfg| cfg.limits.max_connections_per_ip = CAP).await;
    let admin = t.admin();
    let good = GoodRegister::spawn(t.ingest_addr(), 69_201);
    open_connections_return_to(&admin, 1.0).await;
    let before = good.acked();

    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        flood.push(Link::connect(t.ingest_addr()).await);
    }
    // Exactly CAP − 1 of them got a slot (the well-behaved register holds one); the rest are
    // closed at once.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = admin.metrics().await;
        let refused = metric(&m, &conns("refused_ip_limit"));
        if refused == (FLOOD - (CAP - 1)) as f64 && metric(&m, "ofd_connections_open") == CAP as f64
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "flood not limited as expected: refused {refused}\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each flood connection sends a receipt: one holding a slot is answered, a refused one was
    // closed without a byte (EOF or reset). No race on how fast a close arrives.
    let mut served = 0;
    let mut kkt = Kkt::new(69_202);
    for link in &mut flood {
        let fd = kkt.next_fd;
        let receipt = kkt.receipt();
        let _ = link.stream.write_all(&receipt).await; // a refused one may be reset already
        match read_frame(&mut link.stream, Duration::from_secs(30)).await {
            Some(ack) => {
                assert_eq!(ack_of(&ack), (kkt.fn_str(), fd, ResponseCode::Accepted));
                served += 1;
            }
            None => kkt.next_fd = fd, // refused: the same FD goes on the next connection
        }
    }
    assert_eq!(served, CAP - 1, "connections inside the limit are served");
    good.progressed_since(before, "flood").await;
    drop(flood);
    open_connections_return_to(&admin, 1.0).await;
    // Slots are back: new connections are served again.
    let mut link = Link::connect(t.ingest_addr()).await;
    let fd = kkt.next_fd;
    assert_eq!(
        ack_of(&link.exchange(&kkt.receipt()).await),
        (kkt.fn_str(), fd, ResponseCode::Accepted)
    );
    drop(link);
    good.finish().await;
    open_connections_return_to(&admin, 0.0).await;
    t.stop().await;
}

/// Nothing administrative answers on the ingest port: HTTP requests for the admin API and the
/// metrics are cut off at their first byte, counted as `bad_signature`, with no HTTP answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_on_the_ingest_port_gets_no_http_answer() {
    let t = TestDaemon::start().await;
    let admin = t.admin();
    for (i, req) in [
        format!("GET /metrics HTTP/1.1\r\nHost: {}\r\n\r\n", t.ingest_addr()),
        format!("GET /api/v1/kkt HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"),
        "POST /api/v1/kkt HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}".to_string(),
        "OPTIONS * HTTP/1.1\r\n\r\n".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let mut link = Link::connect(t.ingest_addr()).await;
        send_lenient(&mut link, req.as_bytes()).await;
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), link.stream.read_to_end(&mut answer))
                .await;
        assert!(
            read.is_ok(),
            "request {i}: the ingest port kept the connection open"
        );
        assert!(
            answer.is_empty(),
            "request {i}: got an answer: {}",
            String::from_utf8_lossy(&answer)
        );
        let m = admin.metrics().await;
        assert_eq!(metric(&m, &rejected("bad_signature")), (i + 1) as f64);
    }
    t.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Regressions for findings of this catalogue.

/// Finding: a 30-byte header announcing a 65 535-byte body made the codec reserve the whole body
/// at once, so every connection could pin 64 KiB for a whole message deadline by sending 30
/// bytes (50 000 connections ≈ 3 GiB). Reservation is now capped; the frame still completes.
#[test]
fn a_header_alone_does_not_reserve_its_announced_body() {
    use ofdd::codec::{FrameCodec, MAX_RESERVE_AHEAD};
    let mut codec = FrameCodec::new(ofd_proto::framing::FrameLimits::default(), None);
    let mut buf = bytes::BytesMut::with_capacity(4096);
    buf.extend_from_slice(&bare_header(u16::MAX, 0x14));
    assert!(codec.decode(&mut buf).expect("a valid header").is_none());
    assert!(
        buf.capacity() <= 30 + 2 * MAX_RESERVE_AHEAD,
        "30 header bytes made the codec reserve {} bytes",
        buf.capacity()
    );
    // The body arriving in pieces still yields the whole frame.
    let body = garbage(3, usize::from(u16::MAX));
    for piece in body.chunks(1000) {
        assert!(codec.decode(&mut buf).expect("incomplete").is_none());
        buf.extend_from_slice(piece);
    }
    let frame = codec
        .decode(&mut buf)
        .expect("complete")
        .expect("a frame")
        .bytes;
    assert_eq!(frame.len(), 30 + usize::from(u16::MAX));
    assert_eq!(&frame[30..], &body[..]);
}

/// Captured log output of this test binary (the daemons run in-process).
fn capture_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    struct W(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
    let b = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || W(b.clone()))
        .try_init()
        .expect("the only test that installs a subscriber");
    buf
}

/// Finding: every connection logged an info line when it ended, so anyone could make the daemon
/// write a log line per TCP connect (log flooding). Connections that got no answer now log at
/// debug; broken frames stay visible through the rate-limited warning and the counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_does_not_flood_the_log() {
    const N: usize = 300;
    let logs = capture_logs();
    let t = TestDaemon::start().await;
    let mut ports = Vec::new();
    for batch in 0..N / 50 {
        let mut links = Vec::new();
        for _ in 0..50 {
            let mut link = Link::connect(t.ingest_addr()).await;
            ports.push(link.stream.local_addr().unwrap().port());
            let bytes = if batch % 2 == 0 {
                b"GET / HTTP/1.0\r\n\r\n".to_vec()
            } else {
                let mut h = bare_header(100, 0x14);
                h[6..8].copy_from_slice(&[9, 9]); // unknown P-version
                h
            };
            send_lenient(&mut link, &bytes).await;
            links.push(link);
        }
        for mut link in links {
            let _ = closed_without_answer(&mut link, Duration::from_secs(5)).await;
        }
    }
    let admin = t.admin();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&admin.metrics().await, &conns("framing_error")) < N as f64 {
        assert!(Instant::now() < deadline, "flood connections not all ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.stop().await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| {
            ports
                .iter()
                .any(|p| l.contains(&format!("peer=127.0.0.1:{p} ")))
        })
        .collect();
    assert!(
        ours.iter().any(|l| l.contains("broken frame")),
        "broken frames must still be logged (rate-limited)"
    );
    // The gate allows 10 lines per second of the daemon's clock, however long the flood takes on
    // a busy machine: count per second of the lines' own timestamps (`2026-01-01T00:00:00.…`),
    // with room for a line stamped just after the second its gate counted it in.
    let mut per_second: std::collections::BTreeMap<&str, usize> = Default::default();
    for l in &ours {
        *per_second.entry(l.get(..19).unwrap_or(l)).or_default() += 1;
    }
    let busiest = per_second.values().copied().max().unwrap_or(0);
    assert!(
        busiest <= 20 && ours.len() < N,
        "{N} hostile connections wrote {} log lines, up to {busiest} in one second:\n{}",
        ours.len(),
        ours[..ours.len().min(5)].join("\n")
    );
}

/// The admin API is not exposed by default: its listener is on loopback, the ingest listener is
/// the only public one.
#[test]
fn admin_listener_is_loopback_by_default() {
    let cfg = ofdd::config::Config::default();
    assert!(
        cfg.admin_listen.ip().is_loopback(),
        "default admin_listen {}",
        cfg.admin_listen
    );
    assert_ne!(cfg.admin_listen.port(), cfg.listen.port());
    assert!(
        cfg.admin_token.is_none(),
        "no built-in token: the API stays disabled (503) until one is set"
    );
}
