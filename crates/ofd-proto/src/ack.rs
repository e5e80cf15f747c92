//! The operator acknowledgement (document 7): the only thing the operator ever sends to an FN.
//!
//! An FN keeps every document until an acknowledgement for it arrives, and blocks the register
//! after 30 days without them, so the answer matters as much as the request. It is addressed by
//! copying the request's P-version, FN number (ASCII and BCD), FD number and service data 1
//! ([`AckTarget`]), carries a response code (0 accepted, 11 not recognised, 14 ФЛК failed), and
//! is signed by the operator (ФПО, tag 1078, via a [`Signer`]).
//!
//! Layout written by [`encode_ack`] (see `proto-spec/README.md`):
//! session header (request's P-version and FN, flags `0x0014`, i.e. CRC mode "none", CRC 0 — the
//! form real registers use and every FN accepts), container (type `0xA5`, doc 7, version 1,
//! service 1 / FN BCD / FD copied, service 2 zero, CRC computed), then TLV 7 holding
//! 1017, 1041, 1040, 1012, 1068 {1022}, 1078, and no trailer.

use crate::checks::verify_inn;
use crate::container::{CONTAINER_VERSION, ContainerHeader, MESSAGE_TYPE};
use crate::doctype::DocType;
use crate::error::ProtoError;
use crate::message::{Message, begin_message, finish_message, parse_message};
use crate::session::{DEFAULT_FLAGS, Flags, SessionHeader};
use crate::sign::Signer;
use crate::tlv::{TlvIter, begin_stlv, end_stlv, write_tlv};
use crate::value::{read_byte, read_u32, trim_spaces};

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

/// Append an acknowledgement of `request_raw` (the request frame, signed together with the
/// answer) to `out`.
///
/// `operator_inn` is the operator's INN (10 or 12 digits, optionally space-padded); it must pass
/// its check digits. The ФПО is `signer.sign([request_raw, <doc-7 tags before 1078>])`.
/// On error nothing is appended.
pub fn encode_ack(
    target: &AckTarget,
    code: ResponseCode,
    operator_inn: &[u8],
    time: u32,
    request_raw: &[u8],
    signer: &dyn Signer,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    let inn = trim_spaces(operator_inn);
    verify_inn(inn).map_err(|reason| ProtoError::BadInn { tag: 1017, reason })?;
    let mut inn12 = [b' '; 12];
    inn12[..inn.len()].copy_from_slice(inn);

    let start = begin_message(out);
    let doc = begin_stlv(out, DocType::OperatorAck.as_u8().into());
    write_tlv(out, 1017, &inn12);
    write_tlv(out, 1041, &target.fn_ascii);
    write_tlv(out, 1040, &target.fd_number.to_le_bytes());
    write_tlv(out, 1012, &time.to_le_bytes());
    let msg = begin_stlv(out, 1068);
    write_tlv(out, 1022, &[code.as_u8()]);
    end_stlv(out, msg);
    let fpo = signer.sign(&[request_raw, out.get(doc..).unwrap_or(&[])]);
    write_tlv(out, 1078, &fpo);
    end_stlv(out, doc);

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
        message_type: MESSAGE_TYPE,
        doc_type: DocType::OperatorAck.as_u8(),
        version: CONTAINER_VERSION,
        service1: target.service1,
        fn_bcd: target.fn_bcd,
        fd_number: target.fd_number,
        service2: [0; 12],
    };
    finish_message(out, start, &session, &container)
}

/// A decoded acknowledgement, borrowing its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack<'a> {
    /// The whole message (headers included).
    pub message: Message<'a>,
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
    /// Tag 1078.
    pub fpo: &'a [u8],
    /// The document 7 value up to (not including) 1078: what the ФПО signs after the request.
    pub signed_document: &'a [u8],
}

/// Decode an acknowledgement message (for clients, tests and the load generator).
pub fn decode_ack(bytes: &[u8]) -> Result<Ack<'_>, ProtoError> {
    let message = parse_message(bytes)?;
    if message.doc_type != DocType::OperatorAck {
        return Err(ProtoError::UnexpectedDocType {
            expected: 7,
            found: message.doc_type.as_u8(),
        });
    }
    let (doc, _trailer) = message.document()?;
    let mut fn_number = None;
    let mut fd_number = None;
    let mut code = None;
    let mut time = None;
    let mut operator_inn = None;
    let mut fpo = None;
    let mut signed_document = doc.value;
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
                signed_document = doc.value.get(..offset).unwrap_or(&[]);
            }
            _ => {}
        }
    }
    let missing = |tag| ProtoError::MissingTag { doc_type: 7, tag };
    Ok(Ack {
        message,
        fn_number: fn_number.ok_or(missing(1041))?,
        fd_number: fd_number.ok_or(missing(1040))?,
        code: ResponseCode::from_u8(code.ok_or(missing(1068))?),
        time: time.ok_or(missing(1012))?,
        operator_inn: operator_inn.ok_or(missing(1017))?,
        fpo: fpo.ok_or(missing(1078))?,
        signed_document,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{FPO_LEN, HmacSigner};

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
            assert!(signer.verify(&[request, ack.signed_document], ack.fpo));
            assert_eq!(ack.message.session.flags, Flags(0x0014));
            assert_eq!(ack.message.session.crc, 0);
            assert_eq!(ack.message.session.p_version, [0, 1]);
            assert_eq!(ack.message.container.service1, [0x10, 0x09]);
            assert_eq!(ack.message.container.service2, [0; 12]);
            assert_eq!(AckTarget::from(&ack.message), target());
            assert_eq!(AckTarget::from_frame(&out[1..]), Some(target()));
        }
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
