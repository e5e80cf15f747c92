//! The tokio-util codec for FN–OFD session messages.
//!
//! All protocol knowledge stays in `ofd_proto::framing`: this adapter only asks it "is a whole
//! frame buffered?" and splits that frame off the read buffer without copying. Garbage is
//! rejected as soon as the bytes that prove it arrive (a wrong signature after its first byte), so
//! a stray HTTP request or a port scan does not sit in memory until a timeout.

use bytes::{Bytes, BytesMut};
use ofd_proto::error::ProtoError;
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use tokio_util::codec::Decoder;

/// Most buffer space reserved ahead of bytes that have not arrived yet (see `decode`).
pub const MAX_RESERVE_AHEAD: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("framing: {0}")]
    Framing(ProtoError),
}

#[derive(Debug, Clone)]
pub struct FrameCodec {
    limits: FrameLimits,
}

impl FrameCodec {
    pub fn new(limits: FrameLimits) -> Self {
        FrameCodec { limits }
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        if src.is_empty() {
            return Ok(None);
        }
        match check_frame(src, &self.limits).map_err(CodecError::Framing)? {
            Framing::Incomplete { needed } => {
                // Reserve room for what the frame still needs, but never more than
                // `MAX_RESERVE_AHEAD` at a time: the length comes from the peer, and reserving
                // all of it would let a 30-byte header pin 64 KiB per connection (thousands of
                // such connections = gigabytes). Memory now grows only as bytes really arrive.
                src.reserve(needed.min(MAX_RESERVE_AHEAD));
                Ok(None)
            }
            Framing::Complete { len } => Ok(Some(src.split_to(len).freeze())),
        }
    }
}
