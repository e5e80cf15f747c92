//! Where a register's frames begin and end: FN–OFD session messages and, on the same port,
//! KKM–OFD (Kazakhstan) messages.
//!
//! All protocol knowledge stays in `ofd_proto::framing` and `ofd_kz::framing`: this module only
//! asks "is a whole frame buffered, and how long is it?"; the connection (`connection.rs`)
//! splits it off its read buffer without copying.
//! A connection's first byte says which protocol it speaks — FN–OFD starts `2A 08 41 0A`,
//! KKM–OFD `A2 81` — and the connection keeps it. Garbage is rejected as soon as the bytes that
//! prove it arrive (a wrong signature after its first byte), so a stray HTTP request or a port
//! scan does not sit in memory until a timeout.

use bytes::{Bytes, BytesMut};
use ofd_proto::error::ProtoError;
use ofd_proto::framing::{FrameLimits, Framing, check_frame};

/// Most buffer space reserved ahead of bytes that have not arrived yet (see [`FrameCodec::decode`]).
pub const MAX_RESERVE_AHEAD: usize = 8 * 1024;

/// The first byte of a KKM–OFD message (APPCODE `0x81A2`, little-endian).
const KZ_FIRST_BYTE: u8 = ofd_kz::header::APPCODE_BYTES[0];

/// Bytes that are no frame of the connection's protocol: nothing can be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FramingError {
    #[error("framing: {0}")]
    Fn(ProtoError),
    #[error("framing (KKM–OFD): {0}")]
    Kz(ofd_kz::KzError),
}

impl FramingError {
    /// Label for `ofd_frames_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            FramingError::Fn(e) => e.reason(),
            FramingError::Kz(e) => e.reason(),
        }
    }
}

/// What the buffered bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffered {
    /// A whole frame of `len` bytes at the front.
    Frame { protocol: Protocol, len: usize },
    /// Not a whole frame yet: at least `needed` more bytes (0 when nothing is buffered).
    Partial { needed: usize },
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

impl FrameCodec {
    /// Split one whole frame off the front of `src` (no copy: the frame shares the buffer's
    /// allocation), or reserve room for the rest of it and say `None`. Garbage is an error as
    /// soon as the bytes that prove it are in, so a port scan or a stray HTTP request does not
    /// wait for a timeout.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        match self.check(src)? {
            Buffered::Frame { protocol, len } => Ok(Some(Frame {
                protocol,
                bytes: src.split_to(len).freeze(),
            })),
            Buffered::Partial { needed } => {
                // Reserve room for what the frame still needs, but never more than
                // `MAX_RESERVE_AHEAD` at a time: the length comes from the peer, and reserving
                // all of it would let a header pin 64 KiB (or a KKM's megabyte) per connection
                // (thousands of such connections = gigabytes). Memory grows only as bytes
                // really arrive.
                src.reserve(needed.min(MAX_RESERVE_AHEAD));
                Ok(None)
            }
        }
    }

    /// Look at the front of `buf`. The connection's first byte fixes its protocol.
    pub fn check(&mut self, buf: &[u8]) -> Result<Buffered, FramingError> {
        let Some(&first) = buf.first() else {
            return Ok(Buffered::Partial { needed: 0 });
        };
        let protocol = *self.protocol.get_or_insert(match self.kz_limits {
            Some(_) if first == KZ_FIRST_BYTE => Protocol::Kz,
            _ => Protocol::Fn,
        });
        let framing = match (protocol, self.kz_limits) {
            (Protocol::Kz, Some(kz)) => match ofd_kz::check_frame(buf, &kz) {
                Ok(ofd_kz::Framing::Incomplete { needed }) => Framing::Incomplete { needed },
                Ok(ofd_kz::Framing::Complete { len }) => Framing::Complete { len },
                Err(e) => return Err(FramingError::Kz(e)),
            },
            _ => check_frame(buf, &self.limits).map_err(FramingError::Fn)?,
        };
        Ok(match framing {
            Framing::Incomplete { needed } => Buffered::Partial { needed },
            Framing::Complete { len } => Buffered::Frame { protocol, len },
        })
    }
}
