//! The stored document record: a small versioned header, the raw message, the acknowledgement.
//!
//! Layout of a record — a `doc_log` value after the document's key, a `docs` and a `conflicts`
//! value — all integers big-endian:
//!
//! ```text
//! 0  u8   format version (1)
//! 1  u8   document type            2  u8  FFD version (tag 1209 value, 0 = unknown)
//! 3  u8   outcome kind (0 accepted, 1 rejected, 2 encrypted-unacknowledged)
//! 4  u8   response code (tag 1022) for a rejection, else 0
//! 5  u16  caller flags (DocFlags)  7  u8  presence bits (1 = RN, 2 = shift)
//! 8  u64  received_at, unix ms     16 u32 doc_time (tag 1012, register-local)
//! 20 u32  shift number             24 [16] RN (zeros when absent)
//! 40 u32  raw length               44 u32 ack length
//! 48 raw message bytes, then acknowledgement bytes
//! ```
//!
//! The raw bytes are exactly what the caller passed: the store never re-encodes a document.
//! Decoding checks every length, so a damaged value is a typed error, not a panic or a short read.

use bytes::Bytes;

use crate::keys::{FnNumber, Rn};

const VERSION: u8 = 1;
const HEADER_LEN: usize = 48;
const HAS_RN: u8 = 1;
const HAS_SHIFT: u8 = 2;

/// What the operator answered (or will answer) to a stored document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: acknowledged with response code 0.
    Accepted,
    /// Stored but answered with a non-zero response code (tag 1022), e.g. 14 = failed ФЛК.
    Rejected { code: u8 },
    /// An encrypted body (tag 1056 = 1) kept raw and not acknowledged yet.
    EncryptedUnacknowledged,
}

impl Outcome {
    fn to_bytes(self) -> [u8; 2] {
        match self {
            Outcome::Accepted => [0, 0],
            Outcome::Rejected { code } => [1, code],
            Outcome::EncryptedUnacknowledged => [2, 0],
        }
    }

    fn from_bytes(kind: u8, code: u8) -> Option<Self> {
        match kind {
            0 => Some(Outcome::Accepted),
            1 => Some(Outcome::Rejected { code }),
            2 => Some(Outcome::EncryptedUnacknowledged),
            _ => None,
        }
    }

    /// Whether the document goes to the export outbox (everything except rejections).
    pub fn exported(self) -> bool {
        !matches!(self, Outcome::Rejected { .. })
    }
}

/// Bit flags the daemon attaches to a document. Unknown bits are kept as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DocFlags(pub u16);

impl DocFlags {
    /// The body is encrypted by the FN (tag 1056 = 1).
    pub const ENCRYPTED: u16 = 1;
    /// The FN was not bound to any register when the document was stored (the store decides
    /// this itself, from the registry, whatever the caller passes).
    pub const UNKNOWN_FN: u16 = 2;
    /// The document time was outside the accepted window but the document was kept.
    pub const TIME_OUT_OF_RANGE: u16 = 4;
    /// Cluster mode: stored from the cluster's stream, as another node accepted it (the node's
    /// view of the whole cluster). It is in the stream already, so it gets no outbox entry.
    pub const REPLICA: u16 = 8;

    pub fn contains(self, bit: u16) -> bool {
        self.0 & bit == bit
    }
}

/// The FN's self-reported health (documents 21 and 5), as the daemon decoded it.
///
/// Flags absent from a document type (21 has no 1050–1053) are `None` and leave the previously
/// known value unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FnHealth {
    /// 1097: documents not yet transmitted to the operator.
    pub untransmitted: u32,
    /// 1098: time of the first untransmitted document (0 = none).
    pub first_untransmitted_time: u32,
    /// 1116: number of the first untransmitted document (0 = none).
    pub first_untransmitted_number: u32,
    /// 1050: FN key expires soon.
    pub key_expiry_soon: Option<bool>,
    /// 1051: FN key replacement urgent.
    pub key_expiry_urgent: Option<bool>,
    /// 1052: FN memory over 99 %.
    pub memory_nearly_full: Option<bool>,
    /// 1053: operator acknowledgement overdue.
    pub ack_overdue: Option<bool>,
}

/// What a receipt settled: its kind (tag 1054: 1 sale, 2 return of a sale, 3 purchase, 4 return
/// of a purchase) and its total (tag 1020, kopecks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub kind: u8,
    pub total: u64,
}

/// A document to store, filled in by the daemon after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDocument {
    pub fn_number: FnNumber,
    /// FD number (container header / tag 1040).
    pub fd: u32,
    /// Registration number from tag 1037 when known; `None` makes the store resolve it through
    /// the registry's FN → RN binding.
    pub rn: Option<Rn>,
    /// When the daemon received the message, unix milliseconds (the store never reads a clock).
    pub received_at_ms: u64,
    pub doc_type: u8,
    /// FFD version from tag 1209 (1 = 1.0 … 4 = 1.2), 0 if unknown (encrypted).
    pub ffd: u8,
    pub outcome: Outcome,
    pub flags: DocFlags,
    /// Tag 1012, register-local unix seconds (0 if unknown).
    pub doc_time: u32,
    /// Tag 1038 when the document carries it.
    pub shift: Option<u32>,
    /// Tags 1097/1098/1116/1050–1053 when the document carries them.
    pub health: Option<FnHealth>,
    /// Tags 1054 and 1020 of a receipt, for the current shift's sums in its liveness record.
    pub settlement: Option<Settlement>,
    /// The message exactly as received (the connection's buffer, shared, not copied).
    pub raw: Bytes,
    /// The acknowledgement bytes that were (or will be) sent for it; may be empty. Shared with
    /// the answer that is sent once the write is durable.
    pub ack: Bytes,
}

/// The decoded header of a stored document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocHeader {
    pub version: u8,
    pub received_at_ms: u64,
    pub doc_type: u8,
    pub ffd: u8,
    pub outcome: Outcome,
    pub flags: DocFlags,
    pub doc_time: u32,
    pub shift: Option<u32>,
    /// The RN the document was indexed under (`None`: FN unknown when stored).
    pub rn: Option<Rn>,
}

/// A document as read back: header, raw message, acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDocument {
    pub key: crate::keys::DocKey,
    pub header: DocHeader,
    pub raw: Vec<u8>,
    pub ack: Vec<u8>,
}

/// Encodes a record; fails only if a body exceeds `u32::MAX` bytes.
pub(crate) fn encode(
    doc: &NewDocument,
    rn: Option<&Rn>,
    flags: DocFlags,
) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    encode_after(&mut v, doc, rn, flags)?;
    Ok(v)
}

/// Bytes of `doc`'s record.
pub(crate) fn encoded_len(doc: &NewDocument) -> usize {
    HEADER_LEN + doc.raw.len() + doc.ack.len()
}

/// Appends the record to `v` (a `doc_log` value starts with the document's key).
pub(crate) fn encode_after(
    v: &mut Vec<u8>,
    doc: &NewDocument,
    rn: Option<&Rn>,
    flags: DocFlags,
) -> Result<(), String> {
    let raw_len = u32::try_from(doc.raw.len()).map_err(|_| "raw message over 4 GiB".to_owned())?;
    let ack_len = u32::try_from(doc.ack.len()).map_err(|_| "ack over 4 GiB".to_owned())?;
    v.reserve(encoded_len(doc));
    v.push(VERSION);
    v.push(doc.doc_type);
    v.push(doc.ffd);
    v.extend_from_slice(&doc.outcome.to_bytes());
    v.extend_from_slice(&flags.0.to_be_bytes());
    let presence =
        if rn.is_some() { HAS_RN } else { 0 } | if doc.shift.is_some() { HAS_SHIFT } else { 0 };
    v.push(presence);
    v.extend_from_slice(&doc.received_at_ms.to_be_bytes());
    v.extend_from_slice(&doc.doc_time.to_be_bytes());
    v.extend_from_slice(&doc.shift.unwrap_or(0).to_be_bytes());
    v.extend_from_slice(rn.map_or(&[0u8; 16], |r| r.as_bytes()));
    v.extend_from_slice(&raw_len.to_be_bytes());
    v.extend_from_slice(&ack_len.to_be_bytes());
    v.extend_from_slice(&doc.raw);
    v.extend_from_slice(&doc.ack);
    Ok(())
}

/// A record split into its parts, borrowing the value.
pub(crate) struct RecordView<'a> {
    pub header: DocHeader,
    pub raw: &'a [u8],
    pub ack: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes a record, checking the version and every length.
pub(crate) fn decode(v: &[u8]) -> Result<RecordView<'_>, String> {
    let head = v
        .get(..HEADER_LEN)
        .ok_or_else(|| format!("{} bytes, shorter than the header", v.len()))?;
    if head[0] != VERSION {
        return Err(format!("unknown record version {}", head[0]));
    }
    let outcome = Outcome::from_bytes(head[3], head[4])
        .ok_or_else(|| format!("unknown outcome kind {}", head[3]))?;
    let presence = head[7];
    let received_at_ms = u64::from_be_bytes(head[8..16].try_into().map_err(|_| "header")?);
    let doc_time = be32(head, 16).ok_or("header")?;
    let shift = be32(head, 20).ok_or("header")?;
    let rn = if presence & HAS_RN != 0 {
        Some(Rn::new(&head[24..40]).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let raw_len = usize::try_from(be32(head, 40).ok_or("header")?).map_err(|_| "raw length")?;
    let ack_len = usize::try_from(be32(head, 44).ok_or("header")?).map_err(|_| "ack length")?;
    let body = &v[HEADER_LEN..];
    if body.len() != raw_len.saturating_add(ack_len) {
        return Err(format!(
            "lengths say {raw_len} + {ack_len} body bytes, value has {}",
            body.len()
        ));
    }
    let (raw, ack) = body.split_at(raw_len);
    Ok(RecordView {
        header: DocHeader {
            version: head[0],
            received_at_ms,
            doc_type: head[1],
            ffd: head[2],
            outcome,
            flags: DocFlags(u16::from_be_bytes([head[5], head[6]])),
            doc_time,
            shift: (presence & HAS_SHIFT != 0).then_some(shift),
            rn,
        },
        raw,
        ack,
    })
}

/// `by_rn` index value: doc_time(BE u32) | shift(BE u32) | has_shift(u8), so time and shift
/// filters run on the index without reading the document.
pub(crate) fn by_rn_value(doc_time: u32, shift: Option<u32>) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[..4].copy_from_slice(&doc_time.to_be_bytes());
    v[4..8].copy_from_slice(&shift.unwrap_or(0).to_be_bytes());
    v[8] = u8::from(shift.is_some());
    v
}

pub(crate) fn decode_by_rn_value(v: &[u8]) -> Option<(u32, Option<u32>)> {
    if v.len() != 9 {
        return None;
    }
    let t = be32(v, 0)?;
    let s = be32(v, 4)?;
    Some((t, (v[8] != 0).then_some(s)))
}

/// A message that failed validation, kept for audit in the `rejected` column family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedMessage {
    pub received_at_ms: u64,
    /// The FN from the session header, if it got that far.
    pub fn_number: Option<FnNumber>,
    pub fd: Option<u32>,
    /// Why it was rejected (the validation error, human-readable).
    pub reason: String,
    pub raw: Bytes,
    /// The answer sent, if any (may be empty).
    pub ack: Bytes,
}

/// Layout: version u8 | received_at u64 | has_fn u8 | fn[16] | has_fd u8 | fd u32 |
/// reason_len u32 | reason | raw_len u32 | raw | ack_len u32 | ack.
pub(crate) fn encode_rejected(m: &RejectedMessage) -> Result<Vec<u8>, String> {
    let mut v = Vec::with_capacity(40 + m.reason.len() + m.raw.len() + m.ack.len());
    v.push(VERSION);
    v.extend_from_slice(&m.received_at_ms.to_be_bytes());
    v.push(u8::from(m.fn_number.is_some()));
    v.extend_from_slice(m.fn_number.as_ref().map_or(&[b' '; 16], |f| f.as_bytes()));
    v.push(u8::from(m.fd.is_some()));
    v.extend_from_slice(&m.fd.unwrap_or(0).to_be_bytes());
    for part in [m.reason.as_bytes(), &m.raw, &m.ack] {
        let len = u32::try_from(part.len()).map_err(|_| "rejected message part over 4 GiB")?;
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(part);
    }
    Ok(v)
}

pub(crate) fn decode_rejected(v: &[u8]) -> Result<RejectedMessage, String> {
    let short = || format!("{} bytes, truncated", v.len());
    if v.first() != Some(&VERSION) {
        return Err("unknown rejected-record version".to_owned());
    }
    let received_at_ms = u64::from_be_bytes(
        v.get(1..9)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?,
    );
    let has_fn = *v.get(9).ok_or_else(short)? != 0;
    let fn_bytes = v.get(10..26).ok_or_else(short)?;
    let has_fd = *v.get(26).ok_or_else(short)? != 0;
    let fd = be32(v, 27).ok_or_else(short)?;
    let mut at = 31;
    let mut parts: [&[u8]; 3] = [&[], &[], &[]];
    for part in &mut parts {
        let len = usize::try_from(be32(v, at).ok_or_else(short)?).map_err(|_| short())?;
        at += 4;
        *part = v.get(at..at.saturating_add(len)).ok_or_else(short)?;
        at += len;
    }
    if at != v.len() {
        return Err(format!("{} trailing bytes", v.len() - at));
    }
    Ok(RejectedMessage {
        received_at_ms,
        fn_number: if has_fn {
            Some(FnNumber::new(fn_bytes).map_err(|e| e.to_string())?)
        } else {
            None
        },
        fd: has_fd.then_some(fd),
        reason: String::from_utf8(parts[0].to_vec()).map_err(|_| "reason is not UTF-8")?,
        raw: Bytes::copy_from_slice(parts[1]),
        ack: Bytes::copy_from_slice(parts[2]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> NewDocument {
        NewDocument {
            fn_number: FnNumber::new(b"9999078900005488").unwrap(),
            fd: 7,
            rn: None,
            received_at_ms: 1_700_000_000_123,
            doc_type: 3,
            ffd: 2,
            outcome: Outcome::Rejected { code: 14 },
            flags: DocFlags(DocFlags::ENCRYPTED),
            doc_time: 1_488_541_080,
            shift: Some(12),
            health: None,
            settlement: None,
            raw: Bytes::from_static(b"raw bytes"),
            ack: Bytes::from_static(b"ack"),
        }
    }

    #[test]
    fn record_round_trips() {
        let d = doc();
        let rn = Rn::new(b"0000000005008570").unwrap();
        let v = encode(&d, Some(&rn), d.flags).unwrap();
        let r = decode(&v).unwrap();
        assert_eq!(r.raw, b"raw bytes");
        assert_eq!(r.ack, b"ack");
        assert_eq!(r.header.rn, Some(rn));
        assert_eq!(r.header.shift, Some(12));
        assert_eq!(r.header.outcome, Outcome::Rejected { code: 14 });
        assert_eq!(r.header.doc_time, 1_488_541_080);
        assert_eq!(r.header.received_at_ms, 1_700_000_000_123);
    }

    #[test]
    fn damaged_records_are_errors() {
        let d = doc();
        let v = encode(&d, None, d.flags).unwrap();
        assert!(decode(&v[..v.len() - 1]).is_err());
        assert!(decode(&v[..10]).is_err());
        let mut bad = v.clone();
        bad[0] = 9;
        assert!(decode(&bad).is_err());
        let mut longer = v;
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn rejected_round_trips() {
        let m = RejectedMessage {
            received_at_ms: 5,
            fn_number: Some(FnNumber::new(b"123").unwrap()),
            fd: None,
            reason: "bad CRC".into(),
            raw: Bytes::from_static(&[1, 2, 3]),
            ack: Bytes::new(),
        };
        let v = encode_rejected(&m).unwrap();
        assert_eq!(decode_rejected(&v).unwrap(), m);
        assert!(decode_rejected(&v[..v.len() - 1]).is_err());
    }
}
