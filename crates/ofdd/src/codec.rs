//! The tokio-util codec for register connections: FN–OFD session messages and, on the same port,
//! KKM–OFD (Kazakhstan) messages.
//!
//! All protocol knowledge stays in `ofd_proto::framing` and `ofd_kz::framing`: this adapter only
//! asks "is a whole frame buffered?" and splits that frame off the read buffer without copying.
//! A connection's first byte says which protocol it speaks — FN–OFD starts `2A 08 41 0A`,
//! KKM–OFD `A2 81` — and the connection keeps it. Garbage is rejected as soon as the bytes that
//! prove it arrive (a wrong signature after its first byte), so a stray HTTP request or a port
//! scan does not sit in memory until a timeout.

use bytes::{Bytes, BytesMut};
use ofd_proto::error::ProtoError;
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use tokio_util::codec::Decoder;

/// Most buffer space reserved ahead of bytes that have not arrived yet (see `decode`).
pub const MAX_RESERVE_AHEAD: usize = 8 * 1024;

/// The first byte of a KKM–OFD message (APPCODE `0x81A2`, little-endian).
const KZ_FIRST_BYTE: u8 = ofd_kz::header::APPCODE_BYTES[0];

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("framing: {0}")]
    Framing(ProtoError),
    #[error("framing (KKM–OFD): {0}")]
    KzFraming(ofd_kz::KzError),
}

impl CodecError {
    /// Label for `ofd_frames_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            CodecError::Io(_) => "io_error",
            CodecError::Framing(e) => e.reason(),
            CodecError::KzFraming(e) => e.reason(),
        }
    }
}

/// Which protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Russian registers: FN–OFD.
    Fn,
    /// Kazakh registers: KKM–OFD 2.0.x.
    Kz,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Fn => "fn",
            Protocol::Kz => "kz",
        }
    }
}

/// One whole frame of the connection's protocol.
#[derive(Debug, Clone)]
pub struct Frame {
    pub protocol: Protocol,
    pub bytes: Bytes,
}

#[derive(Debug, Clone)]
pub struct FrameCodec {
    limits: FrameLimits,
    /// `None` when Kazakh registers are not served (their bytes are then FN–OFD garbage).
    kz_limits: Option<ofd_kz::FrameLimits>,
    /// Decided by the connection's first byte.
    protocol: Option<Protocol>,
}

impl FrameCodec {
    pub fn new(limits: FrameLimits, kz_limits: Option<ofd_kz::FrameLimits>) -> Self {
        FrameCodec {
            limits,
            kz_limits,
            protocol: None,
        }
    }

    /// The connection's protocol, once its first byte arrived.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        let Some(&first) = src.first() else {
            return Ok(None);
        };
        let protocol = *self.protocol.get_or_insert(match self.kz_limits {
            Some(_) if first == KZ_FIRST_BYTE => Protocol::Kz,
            _ => Protocol::Fn,
        });
        let framing = match (protocol, self.kz_limits) {
            (Protocol::Kz, Some(kz)) => match ofd_kz::check_frame(src, &kz) {
                Ok(ofd_kz::Framing::Incomplete { needed }) => Framing::Incomplete { needed },
                Ok(ofd_kz::Framing::Complete { len }) => Framing::Complete { len },
                Err(e) => return Err(CodecError::KzFraming(e)),
            },
            _ => check_frame(src, &self.limits).map_err(CodecError::Framing)?,
        };
        match framing {
            Framing::Incomplete { needed } => {
                // Reserve room for what the frame still needs, but never more than
                // `MAX_RESERVE_AHEAD` at a time: the length comes from the peer, and reserving
                // all of it would let a header pin 64 KiB (or a KKM's megabyte) per connection
                // (thousands of such connections = gigabytes). Memory now grows only as bytes
                // really arrive.
                src.reserve(needed.min(MAX_RESERVE_AHEAD));
                Ok(None)
            }
            Framing::Complete { len } => Ok(Some(Frame {
                protocol,
                bytes: src.split_to(len).freeze(),
            })),
        }
    }
}
