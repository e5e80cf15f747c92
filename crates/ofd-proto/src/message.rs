//! One whole message: session header + container header + payload, all borrowed from the frame.
//!
//! [`parse_message`] checks everything that makes a frame trustworthy as a frame (session header,
//! its CRC, the container flag, lengths, the container CRC) and that the container is one we
//! understand (message type, version, document type, BCD FN). It deliberately does **not** read
//! the document: an FN registered with encryption (1056 = 1) sends an opaque payload that only
//! the operator's crypto module can open, so the daemon decides per FN whether to call
//! [`Message::document`] or hand the payload to a decryptor. Nothing here allocates.
//!
//! [`encode_message`] is the inverse, used by the acknowledgement encoder and the builder: it
//! writes both headers around a payload with lengths and CRCs filled in.

use crate::container::{
    self, CONTAINER_HEADER_LEN, CONTAINER_VERSION, ContainerHeader, REQUEST_MESSAGE_TYPE,
};
use crate::doctype::DocType;
use crate::error::ProtoError;
use crate::framing::{FrameLimits, check_header};
use crate::session::{CrcMode, SESSION_HEADER_LEN, SessionHeader};
use crate::tlv::{Tlv, TlvError, TlvIter};

/// A parsed message borrowing its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// The whole frame, byte-for-byte (what gets stored).
    pub raw: &'a [u8],
    pub session: SessionHeader,
    pub container: ContainerHeader,
    /// The container's document type, known to be valid.
    pub doc_type: DocType,
    /// The container FN number unpacked to ASCII (nibble `F` → space).
    pub container_fn: [u8; 16],
    /// Container bytes after its 32-byte header: the document TLV and the trailer, or an
    /// encrypted body.
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// The session body: the whole container, header included.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.raw.get(SESSION_HEADER_LEN..).unwrap_or(&[])
    }

    /// Read the outer document TLV (its tag must equal the container's document type) and the
    /// trailing bytes after it (the message fiscal sign, kept byte-for-byte).
    pub fn document(&self) -> Result<(Tlv<'a>, &'a [u8]), ProtoError> {
        read_document(self.payload, self.doc_type)
    }
}

impl<'a> Container<'a> {
    /// The outer document TLV and the trailer, as [`Message::document`].
    pub fn document(&self) -> Result<(Tlv<'a>, &'a [u8]), ProtoError> {
        read_document(self.payload, self.doc_type)
    }
}

/// The outer document TLV of a container payload (its tag must equal the container's document
/// type) and the trailing bytes after it.
fn read_document(payload: &[u8], doc_type: DocType) -> Result<(Tlv<'_>, &[u8]), ProtoError> {
    let mut iter = TlvIter::new(payload);
    let tlv = match iter.next() {
        Some(item) => item?,
        None => {
            return Err(ProtoError::Tlv(TlvError::TruncatedHead {
                offset: 0,
                available: 0,
            }));
        }
    };
    let trailer = payload.get(iter.offset()..).unwrap_or(&[]);
    if tlv.tag != u16::from(doc_type.as_u8()) {
        return Err(ProtoError::DocTypeMismatch {
            container: doc_type.as_u8(),
            document: tlv.tag,
        });
    }
    Ok((tlv, trailer))
}

/// Parse one complete frame (exactly the bytes [`crate::framing::check_frame`] delimited) with
/// the default [`FrameLimits`].
pub fn parse_message(frame: &[u8]) -> Result<Message<'_>, ProtoError> {
    parse_message_with(frame, &FrameLimits::default())
}

/// [`parse_message`] with explicit framing limits (the daemon passes its configured ones).
pub fn parse_message_with<'a>(
    frame: &'a [u8],
    limits: &FrameLimits,
) -> Result<Message<'a>, ProtoError> {
    let (session, body) = parse_session(frame, limits)?;
    let Container {
        header: container,
        doc_type,
        fn_ascii: container_fn,
        payload,
    } = parse_container(body, &[REQUEST_MESSAGE_TYPE])?;
    Ok(Message {
        raw: frame,
        session,
        container,
        doc_type,
        container_fn,
        payload,
    })
}

/// The session-level checks: the header, the frame's length, the session CRC in the mode the
/// flags name, and the container flag. Returns the header and the body (the container).
pub fn parse_session<'a>(
    frame: &'a [u8],
    limits: &FrameLimits,
) -> Result<(SessionHeader, &'a [u8]), ProtoError> {
    let (session, body) = split_frame(frame, limits)?;
    let mode = session.flags.crc_mode()?;
    if mode != CrcMode::None {
        let expected = session.compute_crc(body)?;
        if expected != session.crc {
            return Err(ProtoError::SessionCrc {
                expected,
                found: session.crc,
            });
        }
    }
    if !session.flags.container() {
        return Err(ProtoError::NoContainer {
            flags: session.flags.0,
        });
    }
    Ok((session, body))
}

/// A container (session body) that passed the container-level checks, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Container<'a> {
    pub header: ContainerHeader,
    /// The container's document type, known to be valid.
    pub doc_type: DocType,
    /// The BCD FN number unpacked to ASCII (nibble `F` → space).
    pub fn_ascii: [u8; 16],
    /// Bytes after the 32-byte header.
    pub payload: &'a [u8],
}

/// The checks every container gets, request or answer: its length field equals its size, its
/// CRC verifies, its message type is one of `message_types` (a request must be `0xA5`; the
/// acknowledgement decoder also takes the operator's `0x5A`), its version is 1, its document
/// type is known and its BCD FN is decimal. Checked in that order.
pub fn parse_container<'a>(
    body: &'a [u8],
    message_types: &[u8],
) -> Result<Container<'a>, ProtoError> {
    let header = ContainerHeader::decode(body)?;
    if usize::from(header.len) != body.len() {
        return Err(ProtoError::ContainerLength {
            container: header.len,
            body: u16::try_from(body.len()).unwrap_or(u16::MAX),
        });
    }
    let expected =
        container::compute_crc(body).ok_or(ProtoError::ContainerTooShort { len: body.len() })?;
    if expected != header.crc {
        return Err(ProtoError::ContainerCrc {
            expected,
            found: header.crc,
        });
    }
    if !message_types.contains(&header.message_type) {
        return Err(ProtoError::UnknownMessageType(header.message_type));
    }
    if header.version != CONTAINER_VERSION {
        return Err(ProtoError::UnknownContainerVersion(header.version));
    }
    let doc_type =
        DocType::from_u8(header.doc_type).ok_or(ProtoError::UnknownDocType(header.doc_type))?;
    let fn_ascii = container::bcd_to_ascii(&header.fn_bcd)?;
    Ok(Container {
        header,
        doc_type,
        fn_ascii,
        payload: body.get(CONTAINER_HEADER_LEN..).unwrap_or(&[]),
    })
}

/// Session header and body of a frame whose length matches its header exactly.
pub(crate) fn split_frame<'a>(
    frame: &'a [u8],
    limits: &FrameLimits,
) -> Result<(SessionHeader, &'a [u8]), ProtoError> {
    let session = SessionHeader::decode(frame)?;
    check_header(&session, limits)?;
    let declared = SESSION_HEADER_LEN + usize::from(session.body_len);
    if frame.len() < declared {
        return Err(ProtoError::Truncated {
            needed: declared,
            got: frame.len(),
        });
    }
    if frame.len() > declared {
        return Err(ProtoError::FrameLength {
            declared,
            actual: frame.len(),
        });
    }
    let body = frame.get(SESSION_HEADER_LEN..).unwrap_or(&[]);
    Ok((session, body))
}

/// Append a whole message to `out`: a session header (P-version, FN and flags from `session`;
/// length and CRC computed), a container header (fields from `container`; length and CRC
/// computed), then `payload`.
pub fn encode_message(
    session: &SessionHeader,
    container: &ContainerHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    out.reserve(HEADERS_LEN + payload.len());
    let start = begin_message(out);
    out.extend_from_slice(payload);
    finish_message(out, start, session, container)
}

/// Both headers' length: the payload of a message started with [`begin_message`] begins this
/// many bytes after the returned position.
pub const HEADERS_LEN: usize = SESSION_HEADER_LEN + CONTAINER_HEADER_LEN;

/// Start a message in place: reserves room for both headers and returns the message's start.
/// Append the payload to `out`, then call [`finish_message`]. Saves assembling the payload in a
/// separate buffer (the builder and the acknowledgement encoder write straight into `out`).
pub fn begin_message(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADERS_LEN]);
    start
}

/// Fill in both headers of a message begun at `start` whose payload is everything after them.
/// On error `out` is truncated back to `start`.
pub fn finish_message(
    out: &mut Vec<u8>,
    start: usize,
    session: &SessionHeader,
    container: &ContainerHeader,
) -> Result<(), ProtoError> {
    let result = fill_headers(out, start, session, container);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn fill_headers(
    out: &mut [u8],
    start: usize,
    session: &SessionHeader,
    container: &ContainerHeader,
) -> Result<(), ProtoError> {
    let msg = out.get_mut(start..).ok_or(ProtoError::Truncated {
        needed: start,
        got: 0,
    })?;
    if msg.len() < HEADERS_LEN {
        return Err(ProtoError::Truncated {
            needed: HEADERS_LEN,
            got: msg.len(),
        });
    }
    let (head, body) = msg.split_at_mut(SESSION_HEADER_LEN);
    let body_len = u16::try_from(body.len()).map_err(|_| ProtoError::Overflow {
        what: "container length",
        value: body.len() as u64,
        max: 65535,
    })?;
    let header = ContainerHeader {
        len: body_len,
        crc: 0,
        ..*container
    }
    .encode()?;
    body[..CONTAINER_HEADER_LEN].copy_from_slice(&header);
    container::seal(body)?;
    let session = SessionHeader {
        body_len,
        ..*session
    };
    head.copy_from_slice(&session.encode(body)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Flags;
    use crate::tlv::write_tlv;

    fn sample(flags: u16, doc_type: u8) -> Vec<u8> {
        let mut payload = Vec::new();
        write_tlv(&mut payload, u16::from(doc_type), &[0x28, 0x04, 0, 0]);
        payload.extend_from_slice(&[1, 2, 3]);
        let session = SessionHeader {
            p_version: [1, 5],
            fn_number: *b"9999078900005488",
            body_len: 0,
            flags: Flags(flags),
            crc: 0,
        };
        let container = ContainerHeader {
            len: 0,
            crc: 0,
            message_type: REQUEST_MESSAGE_TYPE,
            doc_type,
            version: 1,
            service1: [0x10, 0x09],
            fn_bcd: [0x99, 0x99, 0x07, 0x89, 0x00, 0x00, 0x54, 0x88],
            fd_number: 77,
            service2: [0; 12],
        };
        let mut out = Vec::new();
        encode_message(&session, &container, &payload, &mut out).unwrap();
        out
    }

    #[test]
    fn encode_then_parse_in_every_crc_mode() {
        for flags in [0x14, 0x15, 0x16] {
            let raw = sample(flags, 2);
            let m = parse_message(&raw).unwrap();
            assert_eq!(m.doc_type, DocType::ShiftOpen);
            assert_eq!(m.container.fd_number, 77);
            assert_eq!(&m.container_fn, b"9999078900005488");
            let (doc, trailer) = m.document().unwrap();
            assert_eq!(doc.tag, 2);
            assert_eq!(trailer, &[1, 2, 3]);
        }
    }

    #[test]
    fn frame_level_errors() {
        let raw = sample(0x16, 2);
        let mut bad = raw.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            parse_message(&bad),
            Err(ProtoError::SessionCrc { .. })
        ));

        let raw = sample(0x14, 2);
        let mut bad = raw.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            parse_message(&bad),
            Err(ProtoError::ContainerCrc { .. })
        ));

        let mut bad = raw.clone();
        bad[26] = 0x10;
        assert_eq!(
            parse_message(&bad),
            Err(ProtoError::NoContainer { flags: 0x10 })
        );

        assert!(matches!(
            parse_message(&raw[..raw.len() - 1]),
            Err(ProtoError::Truncated { .. })
        ));
        let mut long = raw.clone();
        long.push(0);
        assert!(matches!(
            parse_message(&long),
            Err(ProtoError::FrameLength { .. })
        ));
    }

    #[test]
    fn doc_type_mismatch_and_unknown_type() {
        let raw = sample(0x14, 2);
        let mut bad = raw.clone();
        bad[SESSION_HEADER_LEN + 5] = 5; // container says 5, TLV says 2
        let body = &mut bad[SESSION_HEADER_LEN..];
        container::seal(body).unwrap();
        let m = parse_message(&bad).unwrap();
        assert_eq!(
            m.document(),
            Err(ProtoError::DocTypeMismatch {
                container: 5,
                document: 2
            })
        );

        bad[SESSION_HEADER_LEN + 5] = 99;
        container::seal(&mut bad[SESSION_HEADER_LEN..]).unwrap();
        assert_eq!(parse_message(&bad), Err(ProtoError::UnknownDocType(99)));
    }
}
