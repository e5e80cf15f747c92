//! The operator acknowledgement (document 7): the only thing the operator ever sends to an FN.
//!
//! An FN keeps every document until an acknowledgement for it arrives, and blocks the register
//! after 30 days without them, so the answer matters as much as the request. It is addressed by
//! copying the request's P-version, FN number (ASCII and BCD), FD number and service data 1
//! ([`AckTarget`]), carries a response code (0 accepted, 11 not recognised, 14 ФЛК failed), and
//! is sealed by the operator's crypto module ([`Signer`]: ФПО, service data 2, message MAC).
//!
//! Layout written by [`encode_ack`], the layout of a production operator's answers
//! (`proto-spec/vectors/operator-ack-container-*`, `proto-spec/README.md` §8):
//! - session header: request's P-version and FN, flags `0x0014` (CRC mode "none"), CRC 0;
//! - container: message type **`0x5A`** (operator → FN), doc 7, version 1, service data 1, FN BCD
//!   and FD copied from the request, **service data 2 from the crypto module**, CRC computed;
//! - TLV 7 holding, in this order, 1017 (operator INN, space-padded to 12), **1078** (ФПО, 8
//!   bytes), 1041, 1040, 1012, 1068 {1022}, then 1206 when there is an operator message;
//! - the 10-byte trailer `82 06` + message MAC + `00 00`.
//!
//! [`decode_ack`] reads a whole answer, [`decode_ack_container`] a container alone (what the
//! captures kept); both take message type `0x5A` and, from older peers, `0xA5`.

use crate::checks::verify_inn;
use crate::container::{
    ANSWER_MESSAGE_TYPE, CONTAINER_VERSION, ContainerHeader, REQUEST_MESSAGE_TYPE,
};
use crate::doctype::DocType;
use crate::error::ProtoError;
use crate::framing::FrameLimits;
use crate::message::{
    Container, Message, begin_message, finish_message, parse_container, parse_session,
};
use crate::session::{DEFAULT_FLAGS, Flags, SessionHeader};
use crate::sign::{FPO_LEN, MAC_LEN, OperatorSeal, Signer};
use crate::tlv::{TlvIter, begin_stlv, end_stlv, write_tlv};
use crate::value::{read_byte, read_u32, trim_spaces};

/// The answer trailer's first two bytes (a request's trailer starts `81 06`).
pub const TRAILER_PREFIX: [u8; 2] = [0x82, 0x06];
/// The whole trailer: prefix, message MAC, two zero bytes.
pub const TRAILER_LEN: usize = 2 + MAC_LEN + 2;

/// Response code (tag 1022) of an operator acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// 0: accepted and stored.
    Accepted,
    /// 11: message not recognised.
    NotRecognised,
    /// 14: format-logic control (ФЛК) failed.
    FormatLogic,
    /// Any other code.
    Other(u8),
}

impl ResponseCode {
    pub fn from_u8(b: u8) -> ResponseCode {
        match b {
            0 => ResponseCode::Accepted,
            11 => ResponseCode::NotRecognised,
            14 => ResponseCode::FormatLogic,
            other => ResponseCode::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            ResponseCode::Accepted => 0,
            ResponseCode::NotRecognised => 11,
            ResponseCode::FormatLogic => 14,
            ResponseCode::Other(b) => b,
        }
    }
}

/// What an acknowledgement copies from the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckTarget {
    pub p_version: [u8; 2],
    /// FN number from the session header (ASCII, as sent).
    pub fn_ascii: [u8; 16],
    /// FN number from the container (BCD, as sent).
    pub fn_bcd: [u8; 8],
    pub fd_number: u32,
    pub service1: [u8; 2],
}

impl AckTarget {
    /// Read the addressing fields straight from a frame's headers, without the semantic checks
    /// of [`parse_message`]. This is how a message that failed with a code-11 error (unknown
    /// document type, bad BCD, …) still gets its answer. `None` if the frame is shorter than
    /// both headers or its session signature is wrong.
    pub fn from_frame(frame: &[u8]) -> Option<AckTarget> {
        let session = SessionHeader::decode(frame).ok()?;
        let container =
            ContainerHeader::decode(frame.get(crate::session::SESSION_HEADER_LEN..)?).ok()?;
        Some(AckTarget {
            p_version: session.p_version,
            fn_ascii: session.fn_number,
            fn_bcd: container.fn_bcd,
            fd_number: container.fd_number,
            service1: container.service1,
        })
    }
}

impl From<&Message<'_>> for AckTarget {
    fn from(m: &Message<'_>) -> AckTarget {
        AckTarget {
            p_version: m.session.p_version,
            fn_ascii: m.session.fn_number,
            fn_bcd: m.container.fn_bcd,
            fd_number: m.container.fd_number,
            service1: m.container.service1,
        }
    }
}

/// What an acknowledgement says, besides its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckContent {
    /// Tag 1068 / 1022.
    pub code: ResponseCode,
    /// Tag 1012, the operator's time.
    pub time: u32,
    /// Tag 1206 (FFD 1.1+ "сообщение оператора", a bit field), written only when present.
    pub operator_message: Option<u8>,
}

/// Append an acknowledgement of `request_raw` (the request frame, sealed together with the
/// answer) to `out`, with no operator message. See [`encode_ack_with`].
pub fn encode_ack(
    target: &AckTarget,
    code: ResponseCode,
    operator_inn: &[u8],
    time: u32,
    request_raw: &[u8],
    signer: &dyn Signer,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    let content = AckContent {
        code,
        time,
        operator_message: None,
    };
    encode_ack_with(target, &content, operator_inn, request_raw, signer, out)
}

/// Append an acknowledgement to `out` in the module's layout.
///
/// `operator_inn` is the operator's INN (10 or 12 digits, optionally space-padded); it must pass
/// its check digits. The seal covers `[request_raw, <document 7 without its 1078 element>]`
/// ([`Ack::sealed_parts`] gives the same parts back from a decoded answer).
/// On error nothing is appended.
pub fn encode_ack_with(
    target: &AckTarget,
    content: &AckContent,
    operator_inn: &[u8],
    request_raw: &[u8],
    signer: &dyn Signer,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    let inn12 = operator_inn12(operator_inn)?;
    write_ack(target, content, &inn12, request_raw, signer, out)
}

/// The operator INN as tag 1017 carries it (12 bytes, space-padded), after its check digits.
fn operator_inn12(operator_inn: &[u8]) -> Result<[u8; 12], ProtoError> {
    let inn = trim_spaces(operator_inn);
    verify_inn(inn).map_err(|reason| ProtoError::BadInn { tag: 1017, reason })?;
    let mut inn12 = [b' '; 12];
    inn12[..inn.len()].copy_from_slice(inn);
    Ok(inn12)
}

/// The operator's answers, built once at start-up: the operator INN is checked there (a bad one
/// is a configuration error, not a per-message one) and the signer is held.
pub struct AckEncoder {
    inn12: [u8; 12],
    signer: Box<dyn Signer>,
}

impl std::fmt::Debug for AckEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckEncoder")
            .field("operator_inn", &String::from_utf8_lossy(&self.inn12))
            .finish_non_exhaustive()
    }
}

impl AckEncoder {
    /// Fails when `operator_inn` does not pass its check digits.
    pub fn new(operator_inn: &[u8], signer: Box<dyn Signer>) -> Result<AckEncoder, ProtoError> {
        Ok(AckEncoder {
            inn12: operator_inn12(operator_inn)?,
            signer,
        })
    }

    /// Append the answer with `code` to `request` (addressed to `target`) to `out`. On error
    /// (none is possible for an answer of this size) nothing is appended.
    pub fn encode(
        &self,
        target: &AckTarget,
        code: ResponseCode,
        time: u32,
        request: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProtoError> {
        let content = AckContent {
            code,
            time,
            operator_message: None,
        };
        write_ack(
            target,
            &content,
            &self.inn12,
            request,
            self.signer.as_ref(),
            out,
        )
    }

    /// The signer, for verifying answers in tests and tools.
    pub fn signer(&self) -> &dyn Signer {
        self.signer.as_ref()
    }
}

fn write_ack(
    target: &AckTarget,
    content: &AckContent,
    inn12: &[u8; 12],
    request_raw: &[u8],
    signer: &dyn Signer,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    let start = begin_message(out);
    let doc = begin_stlv(out, DocType::OperatorAck.as_u8().into());
    write_tlv(out, 1017, inn12);
    let fpo_element = out.len();
    write_tlv(out, 1078, &[0; FPO_LEN]);
    let after_fpo = out.len();
    write_tlv(out, 1041, &target.fn_ascii);
    write_tlv(out, 1040, &target.fd_number.to_le_bytes());
    write_tlv(out, 1012, &content.time.to_le_bytes());
    let msg = begin_stlv(out, 1068);
    write_tlv(out, 1022, &[content.code.as_u8()]);
    end_stlv(out, msg);
    if let Some(m) = content.operator_message {
        write_tlv(out, 1206, &[m]);
    }
    end_stlv(out, doc);
    let trailer = out.len();

    let seal: OperatorSeal = signer.seal(&[
        request_raw,
        out.get(doc..fpo_element).unwrap_or(&[]),
        out.get(after_fpo..trailer).unwrap_or(&[]),
    ]);
    if let Some(v) = out.get_mut(after_fpo - FPO_LEN..after_fpo) {
        v.copy_from_slice(&seal.fpo);
    }
    out.extend_from_slice(&TRAILER_PREFIX);
    out.extend_from_slice(&seal.mac);
    out.extend_from_slice(&[0, 0]);

    let session = SessionHeader {
        p_version: target.p_version,
        fn_number: target.fn_ascii,
        body_len: 0,
        flags: Flags(DEFAULT_FLAGS),
        crc: 0,
    };
    let container = ContainerHeader {
        len: 0,
        crc: 0,
        message_type: ANSWER_MESSAGE_TYPE,
        doc_type: DocType::OperatorAck.as_u8(),
        version: CONTAINER_VERSION,
        service1: target.service1,
        fn_bcd: target.fn_bcd,
        fd_number: target.fd_number,
        service2: seal.service2,
    };
    finish_message(out, start, &session, &container)
}

/// A decoded acknowledgement, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack<'a> {
    /// The session header; `None` when decoded from a container alone.
    pub session: Option<SessionHeader>,
    pub container: ContainerHeader,
    /// The container's FN number unpacked to ASCII.
    pub container_fn: [u8; 16],
    /// Tag 1041.
    pub fn_number: &'a [u8],
    /// Tag 1040.
    pub fd_number: u32,
    /// Tag 1068 / 1022.
    pub code: ResponseCode,
    /// Tag 1012.
    pub time: u32,
    /// Tag 1017, trailing spaces trimmed.
    pub operator_inn: &'a [u8],
    /// Tag 1078 (8 bytes from a production operator and from [`encode_ack`]).
    pub fpo: &'a [u8],
    /// Tag 1206, when present.
    pub operator_message: Option<u8>,
    /// Document 7's value (its tags in wire order).
    pub document: &'a [u8],
    /// Where the 1078 element (head included) lies in `document`.
    fpo_element: (usize, usize),
    /// The bytes after document 7 (`82 06` + message MAC + `00 00` in real answers).
    pub trailer: &'a [u8],
}

impl<'a> Ack<'a> {
    /// What the seal covers after the request: document 7 without its 1078 element, in two
    /// pieces (before and after it). Verify with `[request, parts[0], parts[1]]`.
    pub fn sealed_parts(&self) -> [&'a [u8]; 2] {
        let (from, to) = self.fpo_element;
        [
            self.document.get(..from).unwrap_or(&[]),
            self.document.get(to..).unwrap_or(&[]),
        ]
    }

    /// The message MAC, when the trailer has the answer's shape `82 06` + 6 bytes + `00 00`.
    pub fn message_mac(&self) -> Option<&'a [u8]> {
        match self.trailer {
            [0x82, 0x06, mac @ .., 0, 0] if mac.len() == MAC_LEN => Some(mac),
            _ => None,
        }
    }

    /// The address this answer carries, as a request's [`AckTarget`]; `None` without a session
    /// header (its P-version is unknown).
    pub fn target(&self) -> Option<AckTarget> {
        let session = self.session?;
        Some(AckTarget {
            p_version: session.p_version,
            fn_ascii: session.fn_number,
            fn_bcd: self.container.fn_bcd,
            fd_number: self.container.fd_number,
            service1: self.container.service1,
        })
    }
}

/// Decode a whole acknowledgement message (for clients, tests and the load generator).
pub fn decode_ack(bytes: &[u8]) -> Result<Ack<'_>, ProtoError> {
    let (session, body) = parse_session(bytes, &FrameLimits::default())?;
    let mut ack = decode_ack_container(body)?;
    ack.session = Some(session);
    Ok(ack)
}

/// Decode an acknowledgement's container alone (session body; what captures often keep).
pub fn decode_ack_container(body: &[u8]) -> Result<Ack<'_>, ProtoError> {
    let container: Container<'_> =
        parse_container(body, &[ANSWER_MESSAGE_TYPE, REQUEST_MESSAGE_TYPE])?;
    if container.doc_type != DocType::OperatorAck {
        return Err(ProtoError::UnexpectedDocType {
            expected: 7,
            found: container.doc_type.as_u8(),
        });
    }
    let (doc, trailer) = container.document()?;
    let mut fn_number = None;
    let mut fd_number = None;
    let mut code = None;
    let mut time = None;
    let mut operator_inn = None;
    let mut fpo = None;
    let mut operator_message = None;
    let mut fpo_element = (doc.value.len(), doc.value.len());
    let mut iter = TlvIter::new(doc.value);
    loop {
        let offset = iter.offset();
        let Some(item) = iter.next() else { break };
        let t = item?;
        let value_err = |err| ProtoError::Value { tag: t.tag, err };
        match t.tag {
            1017 => operator_inn = Some(trim_spaces(t.value)),
            1041 => fn_number = Some(t.value),
            1040 => fd_number = Some(read_u32(t.value).map_err(value_err)?),
            1012 => time = Some(read_u32(t.value).map_err(value_err)?),
            1206 => operator_message = Some(read_byte(t.value).map_err(value_err)?),
            1068 => {
                for c in t.children() {
                    let c = c?;
                    if c.tag == 1022 {
                        code = Some(
                            read_byte(c.value)
                                .map_err(|err| ProtoError::Value { tag: 1022, err })?,
                        );
                    }
                }
                if code.is_none() {
                    return Err(ProtoError::MissingNestedTag {
                        parent: 1068,
                        tag: 1022,
                    });
                }
            }
            1078 => {
                fpo = Some(t.value);
                fpo_element = (offset, iter.offset());
            }
            _ => {}
        }
    }
    let missing = |tag| ProtoError::MissingTag { doc_type: 7, tag };
    Ok(Ack {
        session: None,
        container: container.header,
        container_fn: container.fn_ascii,
        fn_number: fn_number.ok_or(missing(1041))?,
        fd_number: fd_number.ok_or(missing(1040))?,
        code: ResponseCode::from_u8(code.ok_or(missing(1068))?),
        time: time.ok_or(missing(1012))?,
        operator_inn: operator_inn.ok_or(missing(1017))?,
        fpo: fpo.ok_or(missing(1078))?,
        operator_message,
        document: doc.value,
        fpo_element,
        trailer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::HmacSigner;

    fn target() -> AckTarget {
        AckTarget {
            p_version: [0, 1],
            fn_ascii: *b"9999078900005488",
            fn_bcd: [0x99, 0x99, 0x07, 0x89, 0x00, 0x00, 0x54, 0x88],
            fd_number: 1,
            service1: [0x10, 0x09],
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let signer = HmacSigner::new(b"k");
        let request = b"request bytes";
        for code in [
            ResponseCode::Accepted,
            ResponseCode::NotRecognised,
            ResponseCode::FormatLogic,
            ResponseCode::Other(3),
        ] {
            let mut out = vec![0xEE]; // appends after existing content
            encode_ack(
                &target(),
                code,
                b"7704358518",
                1_700_000_000,
                request,
                &signer,
                &mut out,
            )
            .unwrap();
            let ack = decode_ack(&out[1..]).unwrap();
            assert_eq!(ack.code, code);
            assert_eq!(ack.fn_number, b"9999078900005488");
            assert_eq!(ack.fd_number, 1);
            assert_eq!(ack.time, 1_700_000_000);
            assert_eq!(ack.operator_inn, b"7704358518");
            assert_eq!(ack.fpo.len(), FPO_LEN);
            assert_eq!(ack.fpo[..2], [0x88, 0x06]);
            assert_eq!(ack.operator_message, None);
            let [before, after] = ack.sealed_parts();
            let mac = ack.message_mac().expect("82 06 trailer");
            assert!(signer.verify(
                &[request, before, after],
                ack.fpo,
                &ack.container.service2,
                mac
            ));
            let session = ack.session.unwrap();
            assert_eq!(session.flags, Flags(0x0014));
            assert_eq!(session.crc, 0);
            assert_eq!(session.p_version, [0, 1]);
            assert_eq!(ack.container.message_type, ANSWER_MESSAGE_TYPE);
            assert_eq!(ack.container.service1, [0x10, 0x09]);
            assert_ne!(ack.container.service2, [0; 12]);
            assert_eq!(ack.trailer.len(), TRAILER_LEN);
            assert_eq!(ack.target(), Some(target()));
            assert_eq!(AckTarget::from_frame(&out[1..]), Some(target()));
            // The container alone decodes to the same values, without a session.
            let alone = decode_ack_container(&out[1 + 30..]).unwrap();
            assert_eq!(alone.session, None);
            assert_eq!(alone.target(), None);
            assert_eq!((alone.code, alone.fpo), (ack.code, ack.fpo));
        }
    }

    #[test]
    fn tag_order_and_operator_message() {
        let signer = HmacSigner::new(b"k");
        let content = AckContent {
            code: ResponseCode::Accepted,
            time: 5,
            operator_message: Some(0b10),
        };
        let mut out = Vec::new();
        encode_ack_with(&target(), &content, b"7704358518", b"r", &signer, &mut out).unwrap();
        let ack = decode_ack(&out).unwrap();
        let tags: Vec<u16> = TlvIter::new(ack.document).map(|t| t.unwrap().tag).collect();
        assert_eq!(tags, [1017, 1078, 1041, 1040, 1012, 1068, 1206]);
        assert_eq!(ack.operator_message, Some(0b10));
        let [before, after] = ack.sealed_parts();
        assert!(!before.is_empty() && !after.is_empty());
        assert!(signer.verify(
            &[b"r", before, after],
            ack.fpo,
            &ack.container.service2,
            ack.message_mac().unwrap()
        ));
    }

    #[test]
    fn bad_operator_inn_appends_nothing() {
        let mut out = Vec::new();
        let r = encode_ack(
            &target(),
            ResponseCode::Accepted,
            b"7704358519",
            0,
            b"",
            &HmacSigner::new(b"k"),
            &mut out,
        );
        assert!(matches!(r, Err(ProtoError::BadInn { tag: 1017, .. })));
        assert!(out.is_empty());
    }
}
