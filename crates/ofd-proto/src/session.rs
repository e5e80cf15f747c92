//! The 30-byte session header that opens every message in both directions.
//!
//! It carries the transport facts: who is talking (the FN number, as 16 ASCII bytes), how long
//! the body is, whether a container follows, and which CRC mode protects what. Everything is kept
//! as on the wire (the P-version as its raw two bytes, the FN unparsed) so a message can be
//! re-encoded byte-for-byte; helpers interpret on demand.
//!
//! | off | len | field |
//! |---|---|---|
//! | 0 | 4 | signature `2A 08 41 0A` |
//! | 4 | 2 | S-protocol version `81 A2` |
//! | 6 | 2 | P-protocol version |
//! | 8 | 16 | FN number, ASCII |
//! | 24 | 2 | body length, u16 LE |
//! | 26 | 2 | flags, u16 LE |
//! | 28 | 2 | CRC, u16 LE (0 in mode "none") |

use crate::crc::crc16_parts;
use crate::doctype::FfdVersion;
use crate::error::ProtoError;

/// Session header length.
pub const SESSION_HEADER_LEN: usize = 30;
/// Bytes 0–3.
pub const SIGNATURE: [u8; 4] = [0x2A, 0x08, 0x41, 0x0A];
/// Bytes 4–5.
pub const S_VERSION: [u8; 2] = [0x81, 0xA2];
/// The flags real registers send: no CRC, container present, response expected.
pub const DEFAULT_FLAGS: u16 = 0x0014;

/// How the session CRC covers the message (flags bits 0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrcMode {
    /// `00`: no CRC, the CRC field is zero.
    None,
    /// `01`: CRC over header bytes 0–27.
    Header,
    /// `10`: CRC over header bytes 0–27, then the body.
    HeaderAndBody,
}

impl CrcMode {
    #[inline]
    pub fn bits(self) -> u16 {
        match self {
            CrcMode::None => 0,
            CrcMode::Header => 1,
            CrcMode::HeaderAndBody => 2,
        }
    }
}

/// The session flags word (u16 LE at offset 26), kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags(pub u16);

impl Flags {
    /// Flags for a message with a container, "response expected", and the given CRC mode.
    pub fn new(crc: CrcMode) -> Flags {
        Flags((DEFAULT_FLAGS & !0b11) | crc.bits())
    }

    /// Bits 0–1. Mode `11` is undefined and an error.
    #[inline]
    pub fn crc_mode(self) -> Result<CrcMode, ProtoError> {
        match self.0 & 0b11 {
            0 => Ok(CrcMode::None),
            1 => Ok(CrcMode::Header),
            2 => Ok(CrcMode::HeaderAndBody),
            _ => Err(ProtoError::BadCrcMode { flags: self.0 }),
        }
    }

    /// Bit 2: a container follows the header.
    #[inline]
    pub fn container(self) -> bool {
        self.0 & 0b100 != 0
    }

    /// Bits 4–5 equal `01`: the sender expects an answer.
    #[inline]
    pub fn response_expected(self) -> bool {
        (self.0 >> 4) & 0b11 == 0b01
    }

    /// Bits 6–7: priority.
    #[inline]
    pub fn priority(self) -> u8 {
        ((self.0 >> 6) & 0b11) as u8
    }
}

/// Is this P-protocol version one we know? (FFD 1.0 `01 00` / `00 01` / `00 02`, 1.05 `01 05`,
/// 1.1 `01 10`, 1.2 `01 20`.)
#[inline]
pub fn p_version_known(p: [u8; 2]) -> bool {
    matches!(
        p,
        [0x01, 0x00] | [0x00, 0x01] | [0x00, 0x02] | [0x01, 0x05] | [0x01, 0x10] | [0x01, 0x20]
    )
}

/// The FFD version a P-protocol version nominally names. Informational only: the FFD of a
/// document comes from its tag 1209 (see the module docs of [`crate::doctype`]).
pub fn p_version_ffd(p: [u8; 2]) -> Option<FfdVersion> {
    match p {
        [0x01, 0x00] | [0x00, 0x01] | [0x00, 0x02] => Some(FfdVersion::V1_0),
        [0x01, 0x05] => Some(FfdVersion::V1_05),
        [0x01, 0x10] => Some(FfdVersion::V1_1),
        [0x01, 0x20] => Some(FfdVersion::V1_2),
        _ => None,
    }
}

/// A decoded session header (signature and S-version are implied: decoding checks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHeader {
    /// P-protocol version, raw.
    pub p_version: [u8; 2],
    /// FN number as sent: 16 ASCII bytes (a test drive may send 15 digits and a space).
    pub fn_number: [u8; 16],
    /// Body (container) length.
    pub body_len: u16,
    pub flags: Flags,
    /// The CRC field as read (or as last encoded).
    pub crc: u16,
}

impl SessionHeader {
    /// Decode the first 30 bytes of `bytes`: checks signature, S-version and the CRC mode.
    /// P-version knowledge, length limits and the CRC value are the framer's and parser's job.
    pub fn decode(bytes: &[u8]) -> Result<SessionHeader, ProtoError> {
        let h: &[u8; SESSION_HEADER_LEN] = bytes
            .get(..SESSION_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(ProtoError::Truncated {
                needed: SESSION_HEADER_LEN,
                got: bytes.len(),
            })?;
        check_prefix(h)?;
        let mut fn_number = [0u8; 16];
        fn_number.copy_from_slice(&h[8..24]);
        let header = SessionHeader {
            p_version: [h[6], h[7]],
            fn_number,
            body_len: u16::from_le_bytes([h[24], h[25]]),
            flags: Flags(u16::from_le_bytes([h[26], h[27]])),
            crc: u16::from_le_bytes([h[28], h[29]]),
        };
        header.flags.crc_mode()?;
        Ok(header)
    }

    /// The FFD version the P-version nominally names (informational; see [`p_version_ffd`]).
    pub fn nominal_ffd(&self) -> Option<FfdVersion> {
        p_version_ffd(self.p_version)
    }

    /// Bytes 0–27 (everything but the CRC field).
    pub fn prefix(&self) -> [u8; 28] {
        let mut h = [0u8; 28];
        h[0..4].copy_from_slice(&SIGNATURE);
        h[4..6].copy_from_slice(&S_VERSION);
        h[6..8].copy_from_slice(&self.p_version);
        h[8..24].copy_from_slice(&self.fn_number);
        h[24..26].copy_from_slice(&self.body_len.to_le_bytes());
        h[26..28].copy_from_slice(&self.flags.0.to_le_bytes());
        h
    }

    /// The CRC this header should carry for `body` under its CRC mode (0 for mode "none").
    pub fn compute_crc(&self, body: &[u8]) -> Result<u16, ProtoError> {
        let prefix = self.prefix();
        Ok(match self.flags.crc_mode()? {
            CrcMode::None => 0,
            CrcMode::Header => crc16_parts(&[&prefix]),
            CrcMode::HeaderAndBody => crc16_parts(&[&prefix, body]),
        })
    }

    /// Encode the 30 bytes, computing the CRC for `body` per the flags' CRC mode (the `crc`
    /// field is ignored). `body_len` is written as is: keep it equal to `body.len()`.
    pub fn encode(&self, body: &[u8]) -> Result<[u8; SESSION_HEADER_LEN], ProtoError> {
        let crc = self.compute_crc(body)?;
        let mut out = [0u8; SESSION_HEADER_LEN];
        out[..28].copy_from_slice(&self.prefix());
        out[28..].copy_from_slice(&crc.to_le_bytes());
        Ok(out)
    }
}

/// Check the signature and S-version bytes present in `prefix` (any length): the first wrong
/// byte is an error. Used by the framer on partial headers.
#[inline]
pub(crate) fn check_prefix(prefix: &[u8]) -> Result<(), ProtoError> {
    for (offset, (&found, &want)) in prefix
        .iter()
        .zip(SIGNATURE.iter().chain(S_VERSION.iter()))
        .enumerate()
    {
        if found != want {
            return Err(if offset < 4 {
                ProtoError::BadSignature { offset, found }
            } else {
                ProtoError::BadSVersion { offset, found }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u16) -> SessionHeader {
        SessionHeader {
            p_version: [1, 5],
            fn_number: *b"9999078900005488",
            body_len: 3,
            flags: Flags(flags),
            crc: 0,
        }
    }

    #[test]
    fn encode_decode_all_modes() {
        let body = [1u8, 2, 3];
        for flags in [0x14, 0x15, 0x16] {
            let h = header(flags);
            let bytes = h.encode(&body).unwrap();
            let d = SessionHeader::decode(&bytes).unwrap();
            assert_eq!(d.crc, h.compute_crc(&body).unwrap());
            assert_eq!(SessionHeader { crc: 0, ..d }, h);
        }
        assert_eq!(header(0x14).encode(&body).unwrap()[28..], [0, 0]);
        // Mode 01 and 10 differ: only 10 covers the body.
        assert_eq!(
            header(0x15).compute_crc(&[9]).unwrap(),
            header(0x15).compute_crc(&[8]).unwrap()
        );
        assert_ne!(
            header(0x16).compute_crc(&[9]).unwrap(),
            header(0x16).compute_crc(&[8]).unwrap()
        );
    }

    #[test]
    fn crc_mode_11_is_an_error() {
        assert_eq!(
            header(0x17).encode(&[]),
            Err(ProtoError::BadCrcMode { flags: 0x17 })
        );
        let mut bytes = header(0x14).encode(&[]).unwrap();
        bytes[26] = 0x17;
        assert_eq!(
            SessionHeader::decode(&bytes),
            Err(ProtoError::BadCrcMode { flags: 0x17 })
        );
    }

    #[test]
    fn flags_bits() {
        let f = Flags(0x0014);
        assert!(f.container() && f.response_expected());
        assert_eq!(f.priority(), 0);
        assert_eq!(Flags(0xC0).priority(), 3);
        assert_eq!(Flags::new(CrcMode::HeaderAndBody), Flags(0x16));
    }

    #[test]
    fn bad_prefix_bytes() {
        assert_eq!(
            check_prefix(&[0x2A, 0x09]),
            Err(ProtoError::BadSignature {
                offset: 1,
                found: 9
            })
        );
        assert_eq!(
            check_prefix(&[0x2A, 0x08, 0x41, 0x0A, 0x81, 0xA3]),
            Err(ProtoError::BadSVersion {
                offset: 5,
                found: 0xA3
            })
        );
        assert_eq!(check_prefix(&[0x2A, 0x08, 0x41]), Ok(()));
    }
}
