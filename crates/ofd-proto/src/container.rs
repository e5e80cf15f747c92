//! The 32-byte container header that opens the session body, and the BCD FN number in it.
//!
//! The container is the FN's own envelope around a document: it repeats the FN number (packed
//! BCD) and the document number (3 bytes, **big-endian**, unlike everything else), carries the
//! document type, and has its own CRC over the whole container except the CRC field. Opaque
//! service fields are kept raw because an answer copies service data 1 back.
//!
//! | off | len | field |
//! |---|---|---|
//! | 0 | 2 | length, u16 LE (whole container) |
//! | 2 | 2 | CRC, u16 LE, over bytes 0–1 then 4..end |
//! | 4 | 1 | message type: `0xA5` FN → operator, `0x5A` operator → FN |
//! | 5 | 1 | document type |
//! | 6 | 1 | container version `1` |
//! | 7 | 2 | service data 1 |
//! | 9 | 8 | FN number, packed BCD, nibble `F` = no digit |
//! | 17 | 3 | FD number, big-endian |
//! | 20 | 12 | service data 2 |

use crate::crc::crc16_parts;
use crate::error::ProtoError;

/// Container header length.
pub const CONTAINER_HEADER_LEN: usize = 32;
/// Message type of a request, FN → operator (every captured request).
pub const REQUEST_MESSAGE_TYPE: u8 = 0xA5;
/// Message type of an answer, operator → FN (both captured production acknowledgements).
pub const ANSWER_MESSAGE_TYPE: u8 = 0x5A;
/// The only container version seen in the wild.
pub const CONTAINER_VERSION: u8 = 1;
/// FD numbers are 24-bit on the wire.
pub const MAX_FD_NUMBER: u32 = 0x00FF_FFFF;

/// A container header, fields as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContainerHeader {
    /// Whole container length, header included.
    pub len: u16,
    /// The CRC field as read (or as last sealed).
    pub crc: u16,
    pub message_type: u8,
    /// Raw document type byte (see [`crate::doctype::DocType::from_u8`]).
    pub doc_type: u8,
    pub version: u8,
    pub service1: [u8; 2],
    /// FN number, packed BCD (see [`bcd_to_ascii`]).
    pub fn_bcd: [u8; 8],
    /// FD number (24 bits).
    pub fd_number: u32,
    pub service2: [u8; 12],
}

impl ContainerHeader {
    /// Split the 32 header bytes into fields. No semantic checks (message type, version, BCD):
    /// those belong to [`crate::message::parse_message`], so an intact-but-unknown container can
    /// still be answered.
    pub fn decode(bytes: &[u8]) -> Result<ContainerHeader, ProtoError> {
        let h: &[u8; CONTAINER_HEADER_LEN] = bytes
            .get(..CONTAINER_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(ProtoError::ContainerTooShort { len: bytes.len() })?;
        let mut fn_bcd = [0u8; 8];
        fn_bcd.copy_from_slice(&h[9..17]);
        let mut service2 = [0u8; 12];
        service2.copy_from_slice(&h[20..32]);
        Ok(ContainerHeader {
            len: u16::from_le_bytes([h[0], h[1]]),
            crc: u16::from_le_bytes([h[2], h[3]]),
            message_type: h[4],
            doc_type: h[5],
            version: h[6],
            service1: [h[7], h[8]],
            fn_bcd,
            fd_number: u32::from_be_bytes([0, h[17], h[18], h[19]]),
            service2,
        })
    }

    /// The 32 header bytes as stored (the `crc` field written as is; see [`seal`]).
    /// Fails when the FD number does not fit 24 bits.
    pub fn encode(&self) -> Result<[u8; CONTAINER_HEADER_LEN], ProtoError> {
        if self.fd_number > MAX_FD_NUMBER {
            return Err(ProtoError::Overflow {
                what: "FD number",
                value: u64::from(self.fd_number),
                max: u64::from(MAX_FD_NUMBER),
            });
        }
        let mut h = [0u8; CONTAINER_HEADER_LEN];
        h[0..2].copy_from_slice(&self.len.to_le_bytes());
        h[2..4].copy_from_slice(&self.crc.to_le_bytes());
        h[4] = self.message_type;
        h[5] = self.doc_type;
        h[6] = self.version;
        h[7..9].copy_from_slice(&self.service1);
        h[9..17].copy_from_slice(&self.fn_bcd);
        h[17..20].copy_from_slice(&self.fd_number.to_be_bytes()[1..]);
        h[20..32].copy_from_slice(&self.service2);
        Ok(h)
    }
}

/// The CRC a whole container (header + payload) should carry: over bytes 0–1, then 4..end.
/// `None` if `container` is shorter than the 4 bytes the CRC skips around.
#[inline]
pub fn compute_crc(container: &[u8]) -> Option<u16> {
    let (len, rest) = container.split_at_checked(2)?;
    let after = rest.get(2..)?;
    Some(crc16_parts(&[len, after]))
}

/// Write the length and CRC fields of a whole container in place.
pub fn seal(container: &mut [u8]) -> Result<(), ProtoError> {
    let len = u16::try_from(container.len()).map_err(|_| ProtoError::Overflow {
        what: "container length",
        value: container.len() as u64,
        max: 65535,
    })?;
    if container.len() < CONTAINER_HEADER_LEN {
        return Err(ProtoError::ContainerTooShort {
            len: container.len(),
        });
    }
    container[0..2].copy_from_slice(&len.to_le_bytes());
    let crc = compute_crc(container).unwrap_or(0);
    container[2..4].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Unpack a BCD FN into its ASCII form: two digits per byte, high nibble first; nibble `F`
/// (a missing digit) becomes a space, so "999907891234567F" reads as "999907891234567 ", the
/// form test drives send in tag 1041. Any other non-decimal nibble is [`ProtoError::BadBcd`].
pub fn bcd_to_ascii(bcd: &[u8; 8]) -> Result<[u8; 16], ProtoError> {
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        let byte = bcd[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0F };
        *slot = match nibble {
            0..=9 => b'0' + nibble,
            0xF => b' ',
            _ => {
                return Err(ProtoError::BadBcd {
                    nibble_index: i,
                    nibble,
                });
            }
        };
    }
    Ok(out)
}

/// Pack an ASCII FN into BCD: digits become nibbles, a space (padding) becomes `F`.
/// Any other byte is an error naming its position.
pub fn ascii_to_bcd(ascii: &[u8; 16]) -> Result<[u8; 8], ProtoError> {
    let mut out = [0u8; 8];
    for (i, &c) in ascii.iter().enumerate() {
        let nibble = match c {
            b'0'..=b'9' => c - b'0',
            b' ' => 0xF,
            _ => {
                return Err(ProtoError::BadFormat {
                    tag: 1041,
                    reason: "FN number has a byte that is neither digit nor space",
                });
            }
        };
        if i % 2 == 0 {
            out[i / 2] = nibble << 4;
        } else {
            out[i / 2] |= nibble;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_round_trip_and_test_drive_fn() {
        let bcd = [0x99, 0x99, 0x07, 0x89, 0x00, 0x00, 0x54, 0x88];
        assert_eq!(&bcd_to_ascii(&bcd).unwrap(), b"9999078900005488");
        assert_eq!(ascii_to_bcd(b"9999078900005488").unwrap(), bcd);
        let short = ascii_to_bcd(b"999907891234567 ").unwrap();
        assert_eq!(short[7], 0x7F);
        assert_eq!(&bcd_to_ascii(&short).unwrap(), b"999907891234567 ");
        assert_eq!(
            bcd_to_ascii(&[0x99, 0xA9, 0, 0, 0, 0, 0, 0]),
            Err(ProtoError::BadBcd {
                nibble_index: 2,
                nibble: 0xA
            })
        );
        assert!(ascii_to_bcd(b"99990789000054x8").is_err());
    }

    #[test]
    fn header_round_trip_fd_big_endian() {
        let h = ContainerHeader {
            len: 40,
            crc: 0x1234,
            message_type: REQUEST_MESSAGE_TYPE,
            doc_type: 3,
            version: 1,
            service1: [0x10, 0x09],
            fn_bcd: [0x99; 8],
            fd_number: 0x010203,
            service2: [7; 12],
        };
        let bytes = h.encode().unwrap();
        assert_eq!(&bytes[17..20], &[1, 2, 3]);
        assert_eq!(ContainerHeader::decode(&bytes).unwrap(), h);
        assert!(
            ContainerHeader {
                fd_number: 1 << 24,
                ..h
            }
            .encode()
            .is_err()
        );
    }

    #[test]
    fn seal_writes_length_and_crc() {
        let mut c = vec![0u8; 40];
        c[4] = REQUEST_MESSAGE_TYPE;
        seal(&mut c).unwrap();
        let h = ContainerHeader::decode(&c).unwrap();
        assert_eq!(h.len, 40);
        assert_eq!(Some(h.crc), compute_crc(&c));
        assert!(seal(&mut [0u8; 10]).is_err());
    }
}
