//! Incremental framing: "does this buffer start with a whole message, and if not, how much more
//! is needed?"
//!
//! TCP delivers the FN's messages in arbitrary chunks. [`check_frame`] looks only at the 30-byte
//! session header (the body length in it delimits the frame), is pure and allocation-free, and
//! rejects garbage as early as the bytes prove it: a wrong signature byte fails on arrival, not
//! after 30 bytes or a timeout. The daemon wraps it in a tokio-util `Decoder`; fuzzers feed it
//! arbitrary chunkings. Whole-frame checks (the body CRC, the container) are
//! [`crate::message::parse_message`]'s job.

use crate::error::{FrameError, ProtoError};
use crate::session::{CrcMode, SESSION_HEADER_LEN, SessionHeader, check_prefix, p_version_known};

/// Limits applied while framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrameLimits {
    /// Largest body (container) accepted, 1..=65535. Default 65535, the wire maximum.
    pub max_body: u16,
    /// Accept P-protocol versions outside the known list (NOTES marks FFD 1.2's `01 20` as
    /// single-source). Default `false`.
    pub accept_unknown_p_version: bool,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_body: u16::MAX,
            accept_unknown_p_version: false,
        }
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

/// Decide whether `buf` starts with a whole frame.
///
/// Below 30 bytes, the signature and S-version bytes present are checked. With a header, it also
/// checks the P-version, body length (`1..=limits.max_body`), CRC mode and, in CRC mode `01`,
/// the header CRC. Bytes after the frame (the next message) are ignored.
pub fn check_frame(buf: &[u8], limits: &FrameLimits) -> Result<Framing, FrameError> {
    let Some(head) = buf.get(..SESSION_HEADER_LEN) else {
        check_prefix(buf)?;
        return Ok(Framing::Incomplete {
            needed: SESSION_HEADER_LEN - buf.len(),
        });
    };
    let header = SessionHeader::decode(head)?;
    check_header(&header, limits)?;
    if header.flags.crc_mode()? == CrcMode::Header {
        let expected = header.compute_crc(&[])?;
        if expected != header.crc {
            return Err(ProtoError::SessionCrc {
                expected,
                found: header.crc,
            });
        }
    }
    let len = SESSION_HEADER_LEN + usize::from(header.body_len);
    Ok(if buf.len() >= len {
        Framing::Complete { len }
    } else {
        Framing::Incomplete {
            needed: len - buf.len(),
        }
    })
}

/// Header checks shared by the framer and the parser: P-version and body length.
pub(crate) fn check_header(header: &SessionHeader, limits: &FrameLimits) -> Result<(), ProtoError> {
    if !limits.accept_unknown_p_version && !p_version_known(header.p_version) {
        return Err(ProtoError::UnknownPVersion(header.p_version));
    }
    if header.body_len == 0 {
        return Err(ProtoError::EmptyBody);
    }
    if header.body_len > limits.max_body {
        return Err(ProtoError::BodyTooLong {
            len: header.body_len,
            max: limits.max_body,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Flags;

    fn frame(flags: u16, body_len: u16) -> Vec<u8> {
        let body = vec![0xAB; usize::from(body_len)];
        let h = SessionHeader {
            p_version: [1, 5],
            fn_number: *b"9999078900005488",
            body_len,
            flags: Flags(flags),
            crc: 0,
        };
        let mut out = h.encode(&body).unwrap().to_vec();
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn incomplete_then_complete() {
        let f = frame(0x14, 10);
        let limits = FrameLimits::default();
        assert_eq!(
            check_frame(&[], &limits),
            Ok(Framing::Incomplete { needed: 30 })
        );
        assert_eq!(
            check_frame(&f[..7], &limits),
            Ok(Framing::Incomplete { needed: 23 })
        );
        assert_eq!(
            check_frame(&f[..30], &limits),
            Ok(Framing::Incomplete { needed: 10 })
        );
        assert_eq!(check_frame(&f, &limits), Ok(Framing::Complete { len: 40 }));
        let mut two = f.clone();
        two.extend_from_slice(&f[..3]);
        assert_eq!(
            check_frame(&two, &limits),
            Ok(Framing::Complete { len: 40 })
        );
    }

    #[test]
    fn garbage_rejected_at_first_wrong_byte() {
        let limits = FrameLimits::default();
        assert_eq!(
            check_frame(b"G", &limits),
            Err(ProtoError::BadSignature {
                offset: 0,
                found: b'G'
            })
        );
        assert_eq!(
            check_frame(b"GET / HTTP/1.1\r\n", &limits),
            Err(ProtoError::BadSignature {
                offset: 0,
                found: b'G'
            })
        );
    }

    #[test]
    fn header_field_errors() {
        let limits = FrameLimits::default();
        let mut f = frame(0x14, 10);
        f[6] = 9;
        assert_eq!(
            check_frame(&f, &limits),
            Err(ProtoError::UnknownPVersion([9, 5]))
        );
        assert!(
            check_frame(
                &f,
                &FrameLimits {
                    accept_unknown_p_version: true,
                    ..limits
                }
            )
            .is_ok()
        );

        assert_eq!(
            check_frame(&frame(0x14, 0), &limits),
            Err(ProtoError::EmptyBody)
        );
        let small = FrameLimits {
            max_body: 9,
            ..limits
        };
        assert_eq!(
            check_frame(&frame(0x14, 10), &small),
            Err(ProtoError::BodyTooLong { len: 10, max: 9 })
        );
        let mut f = frame(0x14, 10);
        f[26] = 0x17;
        assert_eq!(
            check_frame(&f, &limits),
            Err(ProtoError::BadCrcMode { flags: 0x17 })
        );

        // Mode 01: the header CRC is checked here, before the body arrives.
        let mut f = frame(0x15, 10);
        assert!(check_frame(&f[..30], &limits).is_ok());
        f[29] ^= 1;
        assert!(matches!(
            check_frame(&f[..30], &limits),
            Err(ProtoError::SessionCrc { .. })
        ));
        // Mode 10 needs the body: not the framer's business.
        let mut f = frame(0x16, 10);
        f[29] ^= 1;
        assert!(check_frame(&f, &limits).is_ok());
    }
}
