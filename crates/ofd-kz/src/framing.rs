//! Incremental framing: "does this buffer start with a whole message, and if not, how much more
//! is needed?" — the same contract as `ofd_proto::framing::check_frame`, so the daemon's codec
//! treats both protocols alike.
//!
//! Only the header is looked at (SIZE delimits the frame). It is pure and allocation-free and
//! rejects garbage as early as the bytes prove it: a wrong APPCODE byte fails on arrival, a SIZE
//! below 18 or above the cap as soon as the header is complete — not after a timeout.

use crate::error::KzError;
use crate::header::{HEADER_LEN, Header, check_appcode};

/// Limits applied while framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest whole message (header included) accepted. Default 1 MiB: a 30-item ticket is a
    /// few KiB, and a cap keeps one connection from making the daemon buffer gigabytes.
    pub max_size: u32,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits { max_size: 1 << 20 }
    }
}

/// Outcome of [`check_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Not a whole frame yet; at least `needed` **more** bytes must arrive.
    Incomplete { needed: usize },
    /// The first `len` bytes of the buffer are one whole frame.
    Complete { len: usize },
}

/// Decide whether `buf` starts with a whole frame. Bytes after it (the next message) are ignored.
pub fn check_frame(buf: &[u8], limits: &FrameLimits) -> Result<Framing, KzError> {
    if buf.len() < HEADER_LEN {
        check_appcode(buf)?;
        return Ok(Framing::Incomplete {
            needed: HEADER_LEN - buf.len(),
        });
    }
    let header = Header::decode(buf)?;
    if header.size > limits.max_size {
        return Err(KzError::SizeTooLarge {
            size: header.size,
            max: limits.max_size,
        });
    }
    let len = header.size as usize;
    Ok(if buf.len() >= len {
        Framing::Complete { len }
    } else {
        Framing::Incomplete {
            needed: len - buf.len(),
        }
    })
}

/// Split one whole frame (exactly `SIZE` bytes) into its header and protobuf body.
pub fn split_frame(frame: &[u8]) -> Result<(Header, &[u8]), KzError> {
    let header = Header::decode(frame)?;
    let declared = header.size as usize;
    if frame.len() < declared {
        return Err(KzError::Truncated {
            needed: declared,
            got: frame.len(),
        });
    }
    if frame.len() > declared {
        return Err(KzError::FrameLength {
            declared,
            actual: frame.len(),
        });
    }
    let body = frame.get(HEADER_LEN..).unwrap_or(&[]);
    Ok((header, body))
}
