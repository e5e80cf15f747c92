//! Check digits of Russian fiscal identifiers: the KKT registration number (RN) and the
//! taxpayer number (INN). Pure functions over ASCII digits; see `proto-spec/README.md` §7.

use crate::crc::crc16;

/// Why an identifier failed its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("expected {expected} digits, got {got} characters")]
    Length { expected: &'static str, got: usize },
    #[error("non-digit character at position {0}")]
    NotDigit(usize),
    #[error("check digits do not match (expected {expected:06}, found {found:06})")]
    Mismatch { expected: u32, found: u32 },
}

fn digits(s: &[u8]) -> Result<(), CheckError> {
    match s.iter().position(|b| !b.is_ascii_digit()) {
        Some(i) => Err(CheckError::NotDigit(i)),
        None => Ok(()),
    }
}

fn weighted(digits: &[u8], weights: &[u32]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ((sum % 11) % 10) as u8
}

/// Verify an INN: 10 digits (legal entity) or 12 digits (individual), ASCII, already trimmed.
pub fn verify_inn(inn: &[u8]) -> Result<(), CheckError> {
    digits(inn)?;
    match inn.len() {
        10 => {
            let d10 = weighted(&inn[..9], &[2, 4, 10, 3, 5, 9, 4, 6, 8]);
            if d10 == inn[9] - b'0' {
                Ok(())
            } else {
                Err(CheckError::Mismatch {
                    expected: u32::from(d10),
                    found: u32::from(inn[9] - b'0'),
                })
            }
        }
        12 => {
            let d11 = weighted(&inn[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
            let d12 = weighted(&inn[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
            let expected = u32::from(d11) * 10 + u32::from(d12);
            let found = u32::from(inn[10] - b'0') * 10 + u32::from(inn[11] - b'0');
            if expected == found {
                Ok(())
            } else {
                Err(CheckError::Mismatch { expected, found })
            }
        }
        got => Err(CheckError::Length {
            expected: "10 or 12",
            got,
        }),
    }
}

/// The six check digits of an RN: CRC-16/CCITT-FALSE over the ASCII of
/// `first 10 RN digits + INN left-padded with '0' to 12 + KKT serial left-padded with '0' to 20`.
///
/// `inn` and `serial` are trimmed ASCII; returns `None` when they are longer than their fields.
/// Allocation-free: the 42 input bytes are assembled on the stack.
pub fn rn_check_digits(rn_prefix10: &[u8], inn: &[u8], serial: &[u8]) -> Option<u32> {
    if rn_prefix10.len() != 10 || inn.len() > 12 || serial.len() > 20 {
        return None;
    }
    let mut buf = [b'0'; 42];
    buf[..10].copy_from_slice(rn_prefix10);
    buf[10 + 12 - inn.len()..22].copy_from_slice(inn);
    buf[22 + 20 - serial.len()..].copy_from_slice(serial);
    Some(u32::from(crc16(&buf)))
}

/// Verify a 16-digit RN (trimmed ASCII) against the user INN and the KKT serial number.
pub fn verify_rn(rn: &[u8], inn: &[u8], serial: &[u8]) -> Result<(), CheckError> {
    if rn.len() != 16 {
        return Err(CheckError::Length {
            expected: "16",
            got: rn.len(),
        });
    }
    digits(rn)?;
    let expected = rn_check_digits(&rn[..10], inn, serial).ok_or(CheckError::Length {
        expected: "INN ≤ 12 and serial ≤ 20",
        got: inn.len().max(serial.len()),
    })?;
    let found = rn[10..]
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    if expected == found {
        Ok(())
    } else {
        Err(CheckError::Mismatch { expected, found })
    }
}

/// Build a valid 16-digit RN from a 10-digit sequence number, the user INN and the KKT serial.
pub fn make_rn(sequence: u64, inn: &[u8], serial: &[u8]) -> Option<[u8; 16]> {
    if sequence >= 10_000_000_000 {
        return None;
    }
    let mut rn = [0u8; 16];
    let mut n = sequence;
    for i in (0..10).rev() {
        rn[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let mut check = rn_check_digits(&rn[..10], inn, serial)?;
    for i in (10..16).rev() {
        rn[i] = b'0' + (check % 10) as u8;
        check /= 10;
    }
    Some(rn)
}

/// Make a valid INN from a seed: 10 digits (legal entity) or 12 (individual).
pub fn make_inn(seed: u64, individual: bool) -> Vec<u8> {
    let len = if individual { 12 } else { 10 };
    let body = len - if individual { 2 } else { 1 };
    let mut inn = Vec::with_capacity(len);
    let mut n = seed;
    for _ in 0..body {
        inn.push(b'0' + (n % 10) as u8);
        n /= 10;
    }
    // Avoid a leading zero region code of "00", which real INNs never have.
    if inn[0] == b'0' {
        inn[0] = b'7';
    }
    if individual {
        let d11 = weighted(&inn[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        inn.push(b'0' + d11);
        let d12 = weighted(&inn[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]);
        inn.push(b'0' + d12);
    } else {
        let d10 = weighted(&inn[..9], &[2, 4, 10, 3, 5, 9, 4, 6, 8]);
        inn.push(b'0' + d10);
    }
    inn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rn_examples_from_notes() {
        verify_rn(b"0000000005008570", b"7702203276", b"000000000002").unwrap();
        verify_rn(b"0149060006035849", b"504404744207", b"0149060006000651").unwrap();
        assert!(matches!(
            verify_rn(b"0000000005008571", b"7702203276", b"000000000002"),
            Err(CheckError::Mismatch { .. })
        ));
    }

    #[test]
    fn inn_examples() {
        verify_inn(b"7702203276").unwrap();
        verify_inn(b"7704358518").unwrap();
        verify_inn(b"504404744207").unwrap();
        // The real vector's cashier INN fails the 12-digit checksum (NOTES §9).
        assert!(verify_inn(b"771234567890").is_err());
        assert_eq!(
            verify_inn(b"77022032"),
            Err(CheckError::Length {
                expected: "10 or 12",
                got: 8
            })
        );
        assert_eq!(verify_inn(b"77022O3276"), Err(CheckError::NotDigit(5)));
    }

    #[test]
    fn made_identifiers_verify() {
        for seed in [0u64, 1, 42, 123_456_789, u64::MAX / 3] {
            let inn10 = make_inn(seed, false);
            let inn12 = make_inn(seed, true);
            verify_inn(&inn10).unwrap();
            verify_inn(&inn12).unwrap();
            let rn = make_rn(seed % 10_000_000_000, &inn10, b"0001234567").unwrap();
            verify_rn(&rn, &inn10, b"0001234567").unwrap();
        }
    }
}
