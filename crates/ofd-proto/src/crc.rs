//! CRC-16/CCITT-FALSE, the only checksum the FN–OFD exchange uses.
//!
//! Poly 0x1021, init 0xFFFF, no reflection, no final xor; `check("123456789") == 0x29B1`.
//! The session header, the container and the RN check digits all use this one CRC, so it lives
//! in one place and is computed table-driven (the `crc` crate's const table).

use crc::{CRC_16_IBM_3740, Crc, Digest, Table};

/// CRC-16/IBM-3740 is the catalogue name of CRC-16/CCITT-FALSE.
pub const CCITT_FALSE: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// The same CRC with slice-by-16 tables (8 KiB, in a `static` so it is built at compile time and
/// never copied): every message is CRC'd once or twice on the hot path, and byte-at-a-time
/// tables cap that at a few hundred MB/s, slice-by-16 runs several times faster.
static CCITT_FALSE_16: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_IBM_3740);

/// CRC of one contiguous slice.
#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    CCITT_FALSE_16.checksum(data)
}

/// CRC over several slices as if they were concatenated (e.g. the container CRC skips its own
/// field, so it is computed over `bytes[0..2]` then `bytes[4..]`), without copying.
#[inline]
pub fn crc16_parts(parts: &[&[u8]]) -> u16 {
    let mut digest: Digest<'_, u16, Table<16>> = CCITT_FALSE_16.digest();
    for part in parts {
        digest.update(part);
    }
    digest.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn slice16_matches_bytewise() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in [0, 1, 15, 16, 17, 434, 1000] {
            assert_eq!(crc16(&data[..len]), CCITT_FALSE.checksum(&data[..len]));
            assert_eq!(
                crc16_parts(&[&data[..len / 3], &data[len / 3..len]]),
                CCITT_FALSE.checksum(&data[..len])
            );
        }
    }

    #[test]
    fn parts_equal_whole() {
        assert_eq!(crc16_parts(&[b"1234", b"", b"56789"]), 0x29B1);
    }
}
