//! The 18-byte header that precedes every protobuf message, in both directions.
//!
//! | off | len | field   | meaning                                            |
//! |-----|-----|---------|----------------------------------------------------|
//! | 0   | 2   | APPCODE | always `0x81A2` (bytes `A2 81`)                    |
//! | 2   | 2   | VERSION | decimal X.Y.Z: 202 = 2.0.2                          |
//! | 4   | 4   | SIZE    | the whole message **including** this header         |
//! | 8   | 4   | ID      | device (system) ID issued at registration           |
//! | 12  | 4   | TOKEN   | rotating exchange key issued by the operator        |
//! | 16  | 2   | REQNUM  | request counter, +1 per request, wraps to 0         |
//!
//! All little-endian. There is no checksum: the protocol relies on TCP.

use crate::error::KzError;

/// Length of the header.
pub const HEADER_LEN: usize = 18;
/// The APPCODE value.
pub const APPCODE: u16 = 0x81A2;
/// APPCODE as it appears on the wire.
pub const APPCODE_BYTES: [u8; 2] = APPCODE.to_le_bytes();
/// Protocol version 2.0.2, the one the public document describes.
pub const VERSION_202: u16 = 202;
/// Protocol version 2.0.3 (`OrgRegInfo` field 6 became `address_kz`; see `proto-spec/kz/README.md`).
pub const VERSION_203: u16 = 203;

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Protocol version, decimal X.Y.Z (202 = 2.0.2). Not checked: devices in the wild send 124
    /// to 203 and the protobuf layout is compatible across them; answers echo it.
    pub version: u16,
    /// The whole message length including the header.
    pub size: u32,
    /// Device (system) ID.
    pub id: u32,
    /// Exchange token.
    pub token: u32,
    /// Request number.
    pub reqnum: u16,
}

impl Header {
    /// Decode the first 18 bytes of `buf`, checking the APPCODE and that SIZE covers the header.
    /// SIZE against a cap is [`crate::framing::check_frame`]'s business.
    pub fn decode(buf: &[u8]) -> Result<Header, KzError> {
        check_appcode(buf)?;
        let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(KzError::Truncated {
                needed: HEADER_LEN,
                got: buf.len(),
            });
        };
        let [
            _,
            _,
            v0,
            v1,
            s0,
            s1,
            s2,
            s3,
            i0,
            i1,
            i2,
            i3,
            t0,
            t1,
            t2,
            t3,
            r0,
            r1,
        ] = *h;
        let header = Header {
            version: u16::from_le_bytes([v0, v1]),
            size: u32::from_le_bytes([s0, s1, s2, s3]),
            id: u32::from_le_bytes([i0, i1, i2, i3]),
            token: u32::from_le_bytes([t0, t1, t2, t3]),
            reqnum: u16::from_le_bytes([r0, r1]),
        };
        if (header.size as usize) < HEADER_LEN {
            return Err(KzError::SizeTooSmall { size: header.size });
        }
        Ok(header)
    }

    /// The 18 header bytes, with SIZE as stored in `self`.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let parts: [&[u8]; 6] = [
            &APPCODE_BYTES,
            &self.version.to_le_bytes(),
            &self.size.to_le_bytes(),
            &self.id.to_le_bytes(),
            &self.token.to_le_bytes(),
            &self.reqnum.to_le_bytes(),
        ];
        let mut at = 0;
        for part in parts {
            for (dst, src) in out.iter_mut().skip(at).zip(part) {
                *dst = *src;
            }
            at += part.len();
        }
        out
    }

    /// The header of an answer to this request: same version, ID and REQNUM, the given token,
    /// SIZE for a `body_len`-byte body (`None` if it would not fit in a u32).
    pub fn answer(&self, token: u32, body_len: usize) -> Option<Header> {
        let size = u32::try_from(body_len.checked_add(HEADER_LEN)?).ok()?;
        Some(Header {
            version: self.version,
            size,
            id: self.id,
            token,
            reqnum: self.reqnum,
        })
    }
}

/// Check the APPCODE bytes present in `buf` (0, 1 or 2 of them): garbage fails on arrival.
pub(crate) fn check_appcode(buf: &[u8]) -> Result<(), KzError> {
    for (offset, (&found, &want)) in buf.iter().zip(APPCODE_BYTES.iter()).enumerate() {
        if found != want {
            return Err(KzError::BadAppCode { offset, found });
        }
    }
    Ok(())
}
