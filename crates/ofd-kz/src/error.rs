//! Every way a KKM–OFD frame can be wrong before its protobuf body is looked at, and what the
//! daemon does about it.
//!
//! A broken header (APPCODE, SIZE) means nothing in the frame can be trusted — not even the ID an
//! answer would be addressed to — so the only reaction is to close the connection
//! ([`Disposition::Close`]). Everything after the header (undecodable protobuf, unknown command,
//! wrong token, …) is answered with a result code by [`crate::decision::decide`] instead, never
//! with an error: the device needs an answer to know what to do.

/// What the daemon does with a frame that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The header is broken: no answer is possible, close the connection.
    Close,
}

/// A header-level error (all [`Disposition::Close`]). Every payload is `Copy`, so producing an
/// error never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KzError {
    /// An APPCODE byte is not `A2 81`.
    #[error("bad APPCODE: byte {offset} is {found:#04x}")]
    BadAppCode { offset: usize, found: u8 },
    /// SIZE is smaller than the 18-byte header it includes.
    #[error("SIZE {size} is below the 18-byte header")]
    SizeTooSmall { size: u32 },
    /// SIZE exceeds the configured cap.
    #[error("SIZE {size} exceeds the limit {max}")]
    SizeTooLarge { size: u32, max: u32 },
    /// Fewer bytes than the header or its SIZE say.
    #[error("truncated frame: {got} byte(s), {needed} needed")]
    Truncated { needed: usize, got: usize },
    /// More bytes than SIZE (the decoder wants exactly one frame).
    #[error("frame is {actual} bytes but its SIZE says {declared}")]
    FrameLength { declared: usize, actual: usize },
}

impl KzError {
    /// Every label [`KzError::reason`] can return, for metrics.
    pub const REASONS: &'static [&'static str] = &[
        "bad_appcode",
        "size_too_small",
        "size_too_large",
        "truncated",
        "frame_length",
    ];

    /// What the daemon does: always close (see the module docs).
    pub fn disposition(&self) -> Disposition {
        Disposition::Close
    }

    /// A short fixed label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            KzError::BadAppCode { .. } => "bad_appcode",
            KzError::SizeTooSmall { .. } => "size_too_small",
            KzError::SizeTooLarge { .. } => "size_too_large",
            KzError::Truncated { .. } => "truncated",
            KzError::FrameLength { .. } => "frame_length",
        }
    }
}
