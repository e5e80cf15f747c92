// Fuzz harness bodies, shared by two users through `include!`:
//
// * the cargo-fuzz targets in `fuzz/fuzz_targets/*.rs` (one `fuzz_<target>` each), and
// * `crates/ofd-proto/tests/fuzz_corpus.rs`, which replays every committed corpus input and
//   every past crash (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) in a plain
//   `cargo test`, so a fixed crash can never come back unnoticed.
//
// Keeping the bodies here (and not in a `pub mod fuzzing` of ofd-proto) keeps test-only code out
// of the library. Plain `//` comments only: `include!` does not allow inner doc comments.
//
// Every function takes arbitrary bytes and panics only when an invariant of ofd-proto is broken
// (a panic inside ofd-proto is a finding by itself). Inputs that start with a "mode" byte use
// bit 0 of it to ask for the frame to be *resealed* (lengths and both CRCs recomputed), so the
// fuzzer reaches the document checks instead of dying at a CRC.

use ofd_proto::ack::{
    AckContent, AckEncoder, AckTarget, ResponseCode, decode_ack, encode_ack_with,
};
use ofd_proto::decide::{Decision, FnStanding, Policy, Refusal, decide, keep_encrypted};
use ofd_proto::container;
use ofd_proto::doctype::DocType;
use ofd_proto::error::{Disposition, ProtoError};
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::session::{SESSION_HEADER_LEN, SessionHeader};
use ofd_proto::sign::{FPO_LEN, HmacSigner, MAC_LEN, OperatorSeal, Signer};
use ofd_proto::tlv::{TlvError, TlvIter, parse_tlv, write_tlv};
use ofd_proto::validate::{ValidationConfig, validate};

/// The fixed "now" of every harness (2023-11-14): the crate reads no clock, neither do we.
pub const FUZZ_NOW: u32 = 1_700_000_000;

/// Operator INN written into the pipeline's answers (valid check digits).
pub const FUZZ_OPERATOR_INN: &[u8] = b"7704358518";

/// Largest frame the wire allows: a 30-byte header and a u16 body.
const MAX_FRAME: usize = SESSION_HEADER_LEN + u16::MAX as usize;

// ---------------------------------------------------------------------------------------------
// shared helpers

/// Every error must map to a listed metric label and render.
fn check_error(e: &ProtoError) {
    assert!(
        ProtoError::REASONS.contains(&e.reason()),
        "unlisted reason {:?} for {e:?}",
        e.reason()
    );
    assert!(!e.to_string().is_empty());
}

/// Split off the mode byte; bit 0 set → reseal the rest.
fn moded(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    Some(if mode & 1 == 1 {
        reseal(rest)
    } else {
        rest.to_vec()
    })
}

/// Make lengths and CRCs of a would-be frame consistent with its actual size, where the headers
/// decode at all: session body length := len − 30, then the container's length and CRC, then
/// the session CRC per the frame's CRC mode. Anything undecodable is returned unchanged.
pub fn reseal(frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    if out.len() < SESSION_HEADER_LEN + container::CONTAINER_HEADER_LEN || out.len() > MAX_FRAME {
        return out;
    }
    let body_len = u16::try_from(out.len() - SESSION_HEADER_LEN).unwrap_or(u16::MAX);
    out[24..26].copy_from_slice(&body_len.to_le_bytes());
    let (head, body) = out.split_at_mut(SESSION_HEADER_LEN);
    if container::seal(body).is_err() {
        return out;
    }
    if let Ok(h) = SessionHeader::decode(head)
        && let Ok(encoded) = h.encode(body)
    {
        head.copy_from_slice(&encoded);
    }
    out
}

/// How a walk over a byte stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StreamEnd {
    /// Every byte belonged to a whole frame.
    Clean,
    /// This many bytes of an unfinished frame are buffered.
    Incomplete(usize),
    /// The framer rejected the bytes at the head of the buffer.
    Error(ProtoError),
}

// ---------------------------------------------------------------------------------------------
// (a) framing under arbitrary chunking
//
// Input: byte 0 = number of cut sizes n (mod 16), the next n bytes = chunk sizes (each + 1,
// cycled), the rest = the stream. The stream framed all at once and framed as it arrives in those
// chunks (append a chunk, take every whole frame off the front, like the daemon's codec) must
// give the same frames and end the same way. `needed` must be a true lower bound, and exact once
// the 30-byte header is in.

pub fn fuzz_framing(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (cuts, stream) = rest.split_at(n);
    let cuts: Vec<usize> = if cuts.is_empty() {
        vec![1]
    } else {
        cuts.iter().map(|&c| usize::from(c) + 1).collect()
    };
    let limits = FrameLimits::default();

    let (whole, whole_end) = frames_whole(stream, &limits);
    let (chunked, chunked_end) = frames_chunked(stream, &cuts, &limits);
    assert_eq!(whole, chunked, "chunking changed the frames");
    assert_eq!(
        whole_end, chunked_end,
        "chunking changed how the stream ended"
    );
    // A tighter limit never accepts a frame the default one rejects.
    let small = FrameLimits {
        max_body: 300,
        ..limits
    };
    let (tight, _) = frames_whole(stream, &small);
    assert!(tight.len() <= whole.len());
    assert_eq!(tight[..], whole[..tight.len()]);
}

fn frames_whole<'a>(stream: &'a [u8], limits: &FrameLimits) -> (Vec<&'a [u8]>, StreamEnd) {
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        if rest.is_empty() {
            return (frames, StreamEnd::Clean);
        }
        match check_frame(rest, limits) {
            Ok(Framing::Complete { len }) => {
                assert!(
                    len > SESSION_HEADER_LEN && len <= rest.len() && len <= MAX_FRAME,
                    "bad frame length {len}"
                );
                let (frame, tail) = rest.split_at(len);
                frames.push(frame);
                rest = tail;
            }
            Ok(Framing::Incomplete { needed }) => {
                assert!(needed > 0, "Incomplete must ask for at least one byte");
                assert!(rest.len() + needed <= MAX_FRAME);
                return (frames, StreamEnd::Incomplete(rest.len()));
            }
            Err(e) => {
                check_error(&e);
                assert_eq!(
                    e.disposition(),
                    Disposition::Close,
                    "a framing error must close: {e:?}"
                );
                return (frames, StreamEnd::Error(e));
            }
        }
    }
}

fn frames_chunked<'a>(
    stream: &'a [u8],
    cuts: &[usize],
    limits: &FrameLimits,
) -> (Vec<&'a [u8]>, StreamEnd) {
    let mut frames = Vec::new();
    // The buffer is a window stream[start..end]; frames borrow from the stream.
    let (mut start, mut end) = (0usize, 0usize);
    // Lower bound on the current frame's end promised by the last Incomplete.
    let mut promised = 0usize;
    let mut cuts = cuts.iter().copied().cycle();
    while end < stream.len() {
        end = (end + cuts.next().unwrap_or(1)).min(stream.len());
        loop {
            let buf = &stream[start..end];
            if buf.is_empty() {
                break;
            }
            match check_frame(buf, limits) {
                Ok(Framing::Complete { len }) => {
                    assert!(
                        start + len >= promised,
                        "frame ended before the promised length"
                    );
                    frames.push(&stream[start..start + len]);
                    start += len;
                    promised = start;
                }
                Ok(Framing::Incomplete { needed }) => {
                    assert!(needed > 0);
                    assert!(end + needed >= promised, "needed went backwards");
                    if buf.len() >= SESSION_HEADER_LEN {
                        // With the header in, the frame length is known: needed is exact.
                        let body = usize::from(u16::from_le_bytes([buf[24], buf[25]]));
                        assert_eq!(buf.len() + needed, SESSION_HEADER_LEN + body);
                    }
                    promised = end + needed;
                    break;
                }
                Err(e) => return (frames, StreamEnd::Error(e)),
            }
        }
    }
    let end = if start == stream.len() {
        StreamEnd::Clean
    } else {
        StreamEnd::Incomplete(stream.len() - start)
    };
    (frames, end)
}

// ---------------------------------------------------------------------------------------------
// (b) the TLV reader, walked recursively (every value is tried as an STLV)
//
// Input: the bytes of a TLV sequence. The iterator must consume exactly the elements it yields
// (re-encoding them reproduces the input's prefix), report a precise error at the right offset,
// end after an error, and agree with `validate()` and the nom parser `parse_tlv`.

pub fn fuzz_tlv(data: &[u8]) {
    walk_tlv(data, 0);
}

fn walk_tlv(bytes: &[u8], depth: usize) {
    let mut iter = TlvIter::new(bytes);
    let mut reencoded = Vec::with_capacity(bytes.len());
    let mut count = 0usize;
    let mut error = None;
    for item in iter.by_ref() {
        match item {
            Ok(t) => {
                write_tlv(&mut reencoded, t.tag, t.value);
                count += 1;
                if depth < 6 {
                    walk_tlv(t.value, depth + 1);
                }
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert!(
        iter.next().is_none(),
        "the iterator must end after an error or the last element"
    );
    assert_eq!(
        iter.offset(),
        reencoded.len(),
        "offset must count exactly the consumed elements"
    );
    assert_eq!(
        &bytes[..reencoded.len()],
        &reencoded[..],
        "elements do not re-encode to their bytes"
    );
    let consumed = reencoded.len();
    match error {
        None => assert_eq!(consumed, bytes.len(), "a clean end must consume everything"),
        Some(TlvError::TruncatedHead { offset, available }) => {
            assert_eq!(offset, consumed);
            assert_eq!(available, bytes.len() - consumed);
            assert!((1..4).contains(&available));
        }
        Some(TlvError::Overrun {
            tag,
            offset,
            len,
            available,
        }) => {
            assert_eq!(offset, consumed);
            assert_eq!(available, bytes.len() - consumed - 4);
            assert!(usize::from(len) > available);
            assert_eq!(
                tag,
                u16::from_le_bytes([bytes[consumed], bytes[consumed + 1]])
            );
        }
    }
    assert_eq!(TlvIter::new(bytes).validate(), error.map_or(Ok(count), Err));
    match (parse_tlv(bytes), TlvIter::new(bytes).next()) {
        (Ok((rest, a)), Some(Ok(b))) => {
            assert_eq!(a, b);
            assert_eq!(rest.len(), bytes.len() - a.wire_len());
        }
        (Err(_), Some(Err(_))) => {}
        (Err(_), None) => assert!(bytes.is_empty()),
        (nom, iter) => panic!("parse_tlv and TlvIter disagree: {nom:?} vs {iter:?}"),
    }
    if let Some(Ok(first)) = TlvIter::new(bytes).next() {
        assert_eq!(ofd_proto::tlv::find(bytes, first.tag), Some(first));
    }
}

// ---------------------------------------------------------------------------------------------
// (c) format-logic control
//
// Input: mode byte (bit 0: reseal), then one frame. parse → document → validate (default and
// lenient rules, fixed now). Errors after a successful parse must be answerable (never Close);
// an accepted document must agree with its headers and respect the time window; what the
// strict rules accept the lenient ones accept too.

pub fn fuzz_flk(data: &[u8]) {
    let Some(frame) = moded(data) else { return };
    let m = match parse_message(&frame) {
        Ok(m) => m,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    assert_eq!(m.raw, &frame[..]);
    assert_eq!(m.body().len(), usize::from(m.session.body_len));
    assert_eq!(
        m.payload.len() + container::CONTAINER_HEADER_LEN,
        m.body().len()
    );
    let strict = ValidationConfig::default();
    let lenient = ValidationConfig {
        min_time: 0,
        max_future_secs: u32::MAX,
        accept_zero_left_padded_inn: true,
        check_rn_digits: false,
        check_inn_digits: false,
    };
    let document = m.document();
    let mut accepted_strictly = false;
    for (i, cfg) in [strict, lenient].iter().enumerate() {
        match validate(&m, cfg, FUZZ_NOW) {
            Ok(d) => {
                accepted_strictly |= i == 0;
                assert_eq!(d.doc_type, m.doc_type);
                assert_eq!(d.fd_number, m.container.fd_number);
                assert_eq!(d.fn_number, m.session.fn_number);
                assert_eq!(d.fn_number, m.container_fn);
                assert!(d.time.is_some_and(|t| {
                    t >= cfg.min_time && t <= FUZZ_NOW.saturating_add(cfg.max_future_secs)
                }) || (d.time.is_none() && m.doc_type.is_marking()));
                let (tlv, trailer) = document.expect("validate succeeded, so the document decodes");
                assert_eq!((tlv, trailer), (d.tlv, d.trailer));
                if let Some(rn) = d.rn {
                    assert!(
                        rn.len() == 16 && rn.iter().all(u8::is_ascii_digit),
                        "RN {rn:?}"
                    );
                }
                if let Some(inn) = d.user_inn {
                    assert!(
                        matches!(inn.len(), 10 | 12) && inn.iter().all(u8::is_ascii_digit),
                        "INN {inn:?}"
                    );
                }
                assert!(d.fiscal_sign().is_none_or(|s| s <= u64::from(u32::MAX)));
                if let Some(name) = d.user_name {
                    let _ = name.decode();
                }
            }
            Err(e) => {
                check_error(&e);
                assert!(
                    !accepted_strictly,
                    "lenient rules rejected what strict rules accepted: {e:?}"
                );
                assert_ne!(
                    e.disposition(),
                    Disposition::Close,
                    "a parsed message must get an answer: {e:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (d) the acknowledgement decoder
//
// Input: mode byte (bit 0: reseal), then one frame. Whatever decodes as an acknowledgement must
// be consistent (document 7, the signed part a prefix of the document), and re-encoding it with
// `encode_ack` (a signer that replays its ФПО) must decode to the same fields.

struct ReplaySigner(OperatorSeal);

impl Signer for ReplaySigner {
    fn seal(&self, _parts: &[&[u8]]) -> OperatorSeal {
        self.0
    }
}

pub fn fuzz_ack(data: &[u8]) {
    let Some(frame) = moded(data) else { return };
    let a = match decode_ack(&frame) {
        Ok(a) => a,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    assert_eq!(a.container.doc_type, DocType::OperatorAck.as_u8());
    assert_eq!(ResponseCode::from_u8(a.code.as_u8()), a.code);
    let [before, after] = a.sealed_parts();
    assert!(a.document.starts_with(before) && a.document.ends_with(after));
    let target = a.target().expect("a whole message has a session header");
    let (Ok(fpo), Some(Ok(mac))) = (
        <[u8; FPO_LEN]>::try_from(a.fpo),
        a.message_mac().map(<[u8; MAC_LEN]>::try_from),
    ) else {
        return;
    };
    let seal = OperatorSeal {
        fpo,
        service2: a.container.service2,
        mac,
    };
    let mut out = Vec::new();
    let content = AckContent {
        code: a.code,
        time: a.time,
        operator_message: a.operator_message,
    };
    if encode_ack_with(
        &target,
        &content,
        a.operator_inn,
        b"",
        &ReplaySigner(seal),
        &mut out,
    )
    .is_err()
    {
        return; // e.g. an operator INN that fails its check digits: we never send that
    }
    let b = decode_ack(&out).expect("a re-encoded acknowledgement decodes");
    assert_eq!(b.code, a.code);
    assert_eq!(b.time, a.time);
    assert_eq!(b.fpo, a.fpo);
    assert_eq!(b.message_mac(), a.message_mac());
    assert_eq!(b.container.service2, a.container.service2);
    assert_eq!(b.operator_message, a.operator_message);
    assert_eq!(b.operator_inn, a.operator_inn);
    assert_eq!(b.fd_number, a.container.fd_number);
    assert_eq!(b.fn_number, &target.fn_ascii[..]);
    assert_eq!(b.target(), Some(target));
}

// ---------------------------------------------------------------------------------------------
// (e) the whole sans-IO pipeline: bytes → frames → decision → answer → decoded answer
//
// Input: mode byte, then a stream. Bit 0: reseal the rest as one frame. Bits 1–2: the FN's
// standing in the registry (unknown, registered, deregistered, registered encrypting); bit 3:
// refuse unknown FNs; bit 4: acknowledge encrypted bodies. Each whole frame goes through
// `ofd_proto::decide::decide`, the very function the daemon calls (with no decryptor, as the
// daemon without a crypto module): close → stop; refuse → its code at its target; accept (or
// keep encrypted, acknowledged) → code 0. Every answer must encode, frame as exactly one frame,
// decode back to the code and address it was given, and carry a ФПО that verifies over the
// request.

pub fn fuzz_pipeline(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let stream = if mode & 1 == 1 {
        reseal(rest)
    } else {
        rest.to_vec()
    };
    let standing = match (mode >> 1) & 3 {
        0 => FnStanding::Unknown,
        1 => FnStanding::Registered { encrypted: false },
        2 => FnStanding::Deregistered { encrypted: false },
        _ => FnStanding::Registered { encrypted: true },
    };
    let policy = Policy {
        accept_unknown_fn: mode & 8 == 0,
        refuse_code: ResponseCode::from_u8(3),
        acknowledge_encrypted: mode & 16 != 0,
        ..Policy::default()
    };
    let limits = FrameLimits::default();
    const KEY: &[u8] = b"fuzz operator key";
    let encoder = AckEncoder::new(FUZZ_OPERATOR_INN, Box::new(HmacSigner::new(KEY)))
        .expect("the fuzz operator INN is valid");
    let signer = HmacSigner::new(KEY);
    let (frames, _end) = frames_whole(&stream, &limits);
    for frame in frames {
        let mut decision = decide(frame, &limits, |_| standing, &policy, FUZZ_NOW);
        if let Decision::Decrypt { msg, standing } = decision {
            assert!(msg.document().is_err(), "a readable document went to the decryptor");
            decision = keep_encrypted(msg, standing, &policy);
        }
        let (target, code) = match decision {
            Decision::Close(e) => {
                check_error(&e);
                assert_eq!(e.disposition(), Disposition::Close);
                return;
            }
            Decision::Refuse { target, code, why, .. } => {
                if let Refusal::Invalid(e) = &why {
                    check_error(e);
                    assert_eq!(e.disposition(), Disposition::Nack(code));
                } else {
                    assert_eq!(code, policy.refuse_code);
                    assert_ne!(standing, FnStanding::Registered { encrypted: false });
                }
                (target, code)
            }
            Decision::Accept { msg, doc } => {
                assert!(!matches!(standing, FnStanding::Deregistered { .. }));
                assert_eq!(doc.fd_number, msg.container.fd_number);
                (AckTarget::from(&msg), ResponseCode::Accepted)
            }
            Decision::KeepEncrypted { msg, acknowledge } => {
                assert_eq!(standing, FnStanding::Registered { encrypted: true });
                if !acknowledge {
                    continue;
                }
                (AckTarget::from(&msg), ResponseCode::Accepted)
            }
            Decision::Decrypt { .. } => unreachable!("handled above"),
        };
        let mut out = Vec::new();
        encoder
            .encode(&target, code, FUZZ_NOW, frame, &mut out)
            .expect("an answer to a framed message always encodes");
        assert_eq!(
            check_frame(&out, &limits),
            Ok(Framing::Complete { len: out.len() })
        );
        match decode_ack(&out) {
            Ok(a) => {
                assert_eq!(a.code, code);
                assert_eq!(a.fd_number, target.fd_number);
                assert_eq!(a.fn_number, &target.fn_ascii[..]);
                assert_eq!(a.operator_inn, FUZZ_OPERATOR_INN);
                assert_eq!(a.target(), Some(target));
                let [before, after] = a.sealed_parts();
                let mac = a.message_mac().expect("our answer has the 82 06 trailer");
                assert!(
                    signer.verify(&[frame, before, after], a.fpo, &a.container.service2, mac),
                    "the seal does not verify"
                );
            }
            // The answer copies the request's container FN; a request whose BCD is broken gets
            // it back as sent (code 11), which our own strict decoder then refuses.
            Err(ProtoError::BadBcd { .. }) => {
                assert!(container::bcd_to_ascii(&target.fn_bcd).is_err())
            }
            Err(e) => panic!("our own answer does not decode: {e:?}"),
        }
    }
}
