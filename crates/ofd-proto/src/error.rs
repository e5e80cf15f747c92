//! Every way a message can be wrong, as one typed enum, and what the operator does about it.
//!
//! The protocol gives an operator exactly three reactions to a bad message, so each error knows
//! its own [`Disposition`]:
//!
//! * the frame itself is broken (signature, versions, lengths, either CRC, no container): nothing
//!   in it can be trusted, not even the FN number an answer would be addressed to, so the daemon
//!   closes the connection ([`Disposition::Close`]);
//! * the container is intact but its content is not something we understand (message type,
//!   container version, document type, BCD, undecodable TLV): answer code 11, "not recognised";
//! * the document decodes but fails format-logic control (ФЛК): answer code 14.
//!
//! Variants carry the tag and the reason so logs say exactly what was wrong; every payload is
//! `Copy`, so producing an error never allocates. [`ProtoError::reason`] maps each variant to a
//! short label from a small fixed set, for metrics.

use crate::ack::ResponseCode;
use crate::checks::CheckError;
use crate::doctype::FfdVersion;
use crate::tlv::TlvError;
use crate::value::ValueError;

/// What the daemon does with a message that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Framing is broken: no acknowledgement is possible, close the connection.
    Close,
    /// Answer with an acknowledgement carrying this code (11 or 14).
    Nack(ResponseCode),
}

/// Errors from [`crate::framing::check_frame`] are the header-level subset of [`ProtoError`]
/// (all with [`Disposition::Close`]).
pub type FrameError = ProtoError;

/// FN numbers in errors are shown as text without allocating on the hot path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FnText(pub [u8; 16]);

impl std::fmt::Display for FnText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for FnText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Up to eight tag numbers without allocating (the tags a document lacks; more are counted).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct TagList {
    tags: [u16; 8],
    len: u8,
    /// Tags beyond the eight kept.
    more: u16,
}

impl TagList {
    /// Add a tag (kept while there is room, counted after).
    pub fn push(&mut self, tag: u16) {
        match self.tags.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = tag;
                self.len += 1;
            }
            None => self.more = self.more.saturating_add(1),
        }
    }

    /// The tags kept, in the order pushed.
    pub fn as_slice(&self) -> &[u16] {
        self.tags.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl<const N: usize> From<[u16; N]> for TagList {
    fn from(tags: [u16; N]) -> TagList {
        let mut list = TagList::default();
        for t in tags {
            list.push(t);
        }
        list
    }
}

impl std::fmt::Display for TagList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, t) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}")?;
        }
        if self.more > 0 {
            write!(f, " and {} more", self.more)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for TagList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{self}]")
    }
}

/// Everything that can be wrong with an FN–OFD message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    // ---- session header / framing: Close ----
    /// A signature byte (`2A 08 41 0A`) is wrong.
    #[error("bad session signature: byte {offset} is {found:#04x}")]
    BadSignature { offset: usize, found: u8 },
    /// An S-protocol version byte (`81 A2`) is wrong.
    #[error("bad S-protocol version: byte {offset} is {found:#04x}")]
    BadSVersion { offset: usize, found: u8 },
    /// The P-protocol version is none of the known ones.
    #[error("unknown P-protocol version {:02x} {:02x}", .0[0], .0[1])]
    UnknownPVersion([u8; 2]),
    /// The session header announces a zero-length body.
    #[error("session body length is 0")]
    EmptyBody,
    /// The session header announces a body larger than the configured limit.
    #[error("session body length {len} exceeds the limit {max}")]
    BodyTooLong { len: u16, max: u16 },
    /// CRC mode `11` in the flags is not defined.
    #[error("invalid CRC mode 3 in session flags {flags:#06x}")]
    BadCrcMode { flags: u16 },
    /// The session header CRC does not match.
    #[error("session CRC mismatch: computed {expected:#06x}, header says {found:#06x}")]
    SessionCrc { expected: u16, found: u16 },
    /// Fewer bytes than a session header (or than the header says) were given to the parser.
    #[error("truncated frame: {got} byte(s), at least {needed} needed")]
    Truncated { needed: usize, got: usize },
    /// The frame is longer than header + body length (the parser wants exactly one frame).
    #[error("frame is {actual} bytes but its header says {declared}")]
    FrameLength { declared: usize, actual: usize },
    /// The session flags do not say a container is present.
    #[error("session flags {flags:#06x} do not announce a container")]
    NoContainer { flags: u16 },
    /// The body is too short to hold a 32-byte container header.
    #[error("body of {len} bytes cannot hold a 32-byte container header")]
    ContainerTooShort { len: usize },
    /// Container length field and session body length disagree.
    #[error("container length {container} differs from session body length {body}")]
    ContainerLength { container: u16, body: u16 },
    /// The container CRC does not match.
    #[error("container CRC mismatch: computed {expected:#06x}, header says {found:#06x}")]
    ContainerCrc { expected: u16, found: u16 },

    // ---- container intact, content not recognised: code 11 ----
    /// Message type other than `0xA5`.
    #[error("unknown message type {0:#04x}")]
    UnknownMessageType(u8),
    /// Container version other than 1.
    #[error("unknown container version {0}")]
    UnknownContainerVersion(u8),
    /// Document type not in the FFD list.
    #[error("unknown document type {0}")]
    UnknownDocType(u8),
    /// The FN number in the container is not packed BCD.
    #[error("invalid BCD in container FN at nibble {nibble_index}: {nibble:#x}")]
    BadBcd { nibble_index: usize, nibble: u8 },
    /// The document (or a nested STLV) is not a well-formed TLV sequence.
    #[error("undecodable TLV: {0}")]
    Tlv(TlvError),
    /// STLVs nested deeper than any real document.
    #[error("STLV {tag} nested deeper than {max} levels")]
    TooDeep { tag: u16, max: usize },

    // ---- format-logic control (ФЛК): code 14 ----
    /// The outer TLV tag differs from the container's document type.
    #[error("container says document type {container}, outer TLV tag is {document}")]
    DocTypeMismatch { container: u8, document: u16 },
    /// A message of another document type was expected (e.g. decoding an acknowledgement).
    #[error("expected document type {expected}, got {found}")]
    UnexpectedDocType { expected: u8, found: u8 },
    /// A mandatory tag is missing from the document.
    #[error("document type {doc_type}: mandatory tag {tag} missing")]
    MissingTag { doc_type: u8, tag: u16 },
    /// Several mandatory tags are missing (all of them named, in the form's order).
    #[error("document type {doc_type} (FFD {ffd}): mandatory tags {tags} missing")]
    MissingTags {
        doc_type: u8,
        ffd: FfdVersion,
        tags: TagList,
    },
    /// A mandatory tag is missing inside an STLV (e.g. an item 1059 without 1043).
    #[error("tag {parent}: mandatory nested tag {tag} missing")]
    MissingNestedTag { parent: u16, tag: u16 },
    /// A value longer than the dictionary allows.
    #[error("tag {tag}: length {len} exceeds maximum {max}")]
    TagTooLong { tag: u16, len: usize, max: u16 },
    /// A value shorter than the dictionary allows.
    #[error("tag {tag}: length {len} below minimum {min}")]
    TagTooShort { tag: u16, len: usize, min: u16 },
    /// A fixed-length value of the wrong length.
    #[error("tag {tag}: length {len}, exactly {expected} required")]
    TagWrongLength { tag: u16, len: usize, expected: u16 },
    /// A value that does not decode as its dictionary type.
    #[error("tag {tag}: {err}")]
    Value { tag: u16, err: ValueError },
    /// A digit-string field (FN, RN, INN) in the wrong shape.
    #[error("tag {tag}: {reason}")]
    BadFormat { tag: u16, reason: &'static str },
    /// An INN that must verify (1018 user, 1017 operator) fails its check digits or format.
    #[error("tag {tag}: bad INN: {reason}")]
    BadInn { tag: u16, reason: CheckError },
    /// The RN check digits do not match user INN and KKT serial.
    #[error("bad RN: {0}")]
    BadRn(CheckError),
    /// Tag 1209 holds no known FFD version.
    #[error("unknown FFD version {0} in tag 1209")]
    UnknownFfdVersion(u8),
    /// A time earlier than the configured minimum.
    #[error("tag {tag}: time {time} is before the minimum {min}")]
    TimeTooOld { tag: u16, time: u32, min: u32 },
    /// A time further in the future than allowed.
    #[error("tag {tag}: time {time} is more than {max_future} s after now ({now})")]
    TimeInFuture {
        tag: u16,
        time: u32,
        now: u32,
        max_future: u32,
    },
    /// FN numbers of session, container and tag 1041 disagree.
    #[error("FN mismatch: session {session}, {other_source} {other}")]
    FnMismatch {
        session: FnText,
        other: FnText,
        other_source: &'static str,
    },
    /// Container FD number differs from tag 1040.
    #[error("FD number mismatch: container {container}, tag 1040 {document}")]
    FdMismatch { container: u32, document: u32 },

    // ---- encoders (our own side) ----
    /// A value does not fit its wire field (e.g. FD number ≥ 2^24, a body over 65535 bytes).
    #[error("{what}: {value} does not fit (max {max})")]
    Overflow {
        what: &'static str,
        value: u64,
        max: u64,
    },
}

impl From<TlvError> for ProtoError {
    fn from(e: TlvError) -> Self {
        ProtoError::Tlv(e)
    }
}

impl ProtoError {
    /// What the daemon should do about this error.
    pub fn disposition(&self) -> Disposition {
        use ProtoError::*;
        match self {
            BadSignature { .. }
            | BadSVersion { .. }
            | UnknownPVersion(_)
            | EmptyBody
            | BodyTooLong { .. }
            | BadCrcMode { .. }
            | SessionCrc { .. }
            | Truncated { .. }
            | FrameLength { .. }
            | NoContainer { .. }
            | ContainerTooShort { .. }
            | ContainerLength { .. }
            | ContainerCrc { .. }
            | Overflow { .. } => Disposition::Close,
            UnknownMessageType(_)
            | UnknownContainerVersion(_)
            | UnknownDocType(_)
            | BadBcd { .. }
            | Tlv(_)
            | TooDeep { .. } => Disposition::Nack(ResponseCode::NotRecognised),
            DocTypeMismatch { .. }
            | UnexpectedDocType { .. }
            | MissingTag { .. }
            | MissingTags { .. }
            | MissingNestedTag { .. }
            | TagTooLong { .. }
            | TagTooShort { .. }
            | TagWrongLength { .. }
            | Value { .. }
            | BadFormat { .. }
            | BadInn { .. }
            | BadRn(_)
            | UnknownFfdVersion(_)
            | TimeTooOld { .. }
            | TimeInFuture { .. }
            | FnMismatch { .. }
            | FdMismatch { .. } => Disposition::Nack(ResponseCode::FormatLogic),
        }
    }

    /// A short snake_case label from a small fixed set, for metric labels.
    pub fn reason(&self) -> &'static str {
        use ProtoError::*;
        match self {
            BadSignature { .. } => "bad_signature",
            BadSVersion { .. } => "bad_s_version",
            UnknownPVersion(_) => "unknown_p_version",
            EmptyBody | BodyTooLong { .. } => "bad_body_length",
            BadCrcMode { .. } => "bad_crc_mode",
            SessionCrc { .. } => "session_crc",
            Truncated { .. }
            | FrameLength { .. }
            | ContainerTooShort { .. }
            | ContainerLength { .. } => "length_mismatch",
            NoContainer { .. } => "no_container",
            ContainerCrc { .. } => "container_crc",
            UnknownMessageType(_) => "unknown_message_type",
            UnknownContainerVersion(_) => "unknown_container_version",
            UnknownDocType(_) => "unknown_doc_type",
            BadBcd { .. } => "bad_bcd",
            Tlv(_) | TooDeep { .. } => "bad_tlv",
            DocTypeMismatch { .. } | UnexpectedDocType { .. } => "doc_type_mismatch",
            MissingTag { .. } | MissingTags { .. } | MissingNestedTag { .. } => "missing_tag",
            TagTooLong { .. } | TagTooShort { .. } | TagWrongLength { .. } => "tag_length",
            Value { .. } => "bad_value",
            BadFormat { .. } => "bad_format",
            BadInn { .. } => "bad_inn",
            BadRn(_) => "bad_rn",
            UnknownFfdVersion(_) => "unknown_ffd_version",
            TimeTooOld { .. } | TimeInFuture { .. } => "time_window",
            FnMismatch { .. } => "fn_mismatch",
            FdMismatch { .. } => "fd_mismatch",
            Overflow { .. } => "overflow",
        }
    }

    /// All labels [`reason`](Self::reason) can return (to pre-register metric series).
    pub const REASONS: &'static [&'static str] = &[
        "bad_signature",
        "bad_s_version",
        "unknown_p_version",
        "bad_body_length",
        "bad_crc_mode",
        "session_crc",
        "length_mismatch",
        "no_container",
        "container_crc",
        "unknown_message_type",
        "unknown_container_version",
        "unknown_doc_type",
        "bad_bcd",
        "bad_tlv",
        "doc_type_mismatch",
        "missing_tag",
        "tag_length",
        "bad_value",
        "bad_format",
        "bad_inn",
        "bad_rn",
        "unknown_ffd_version",
        "time_window",
        "fn_mismatch",
        "fd_mismatch",
        "overflow",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_and_dispositions_split() {
        let samples = [
            ProtoError::BadSignature {
                offset: 0,
                found: 0,
            },
            ProtoError::SessionCrc {
                expected: 1,
                found: 2,
            },
            ProtoError::UnknownDocType(99),
            ProtoError::MissingTag {
                doc_type: 3,
                tag: 1040,
            },
            ProtoError::FnMismatch {
                session: FnText(*b"9999078900005488"),
                other: FnText([b'1'; 16]),
                other_source: "tag 1041",
            },
        ];
        for e in samples {
            assert!(ProtoError::REASONS.contains(&e.reason()), "{}", e.reason());
        }
        assert_eq!(samples[0].disposition(), Disposition::Close);
        assert_eq!(samples[1].disposition(), Disposition::Close);
        assert_eq!(
            samples[2].disposition(),
            Disposition::Nack(ResponseCode::NotRecognised)
        );
        assert_eq!(
            samples[3].disposition(),
            Disposition::Nack(ResponseCode::FormatLogic)
        );
        assert!(samples[4].to_string().contains("9999078900005488"));
    }
}
