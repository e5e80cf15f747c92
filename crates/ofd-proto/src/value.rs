//! Typed views of TLV values. Decoding is lazy and borrowed: a [`Cp866`] keeps the raw bytes and
//! converts only when asked, numbers are read straight from the slice, and money is an exact
//! decimal ([`Fvln`] / kopecks as `u64`), never a float.

use std::borrow::Cow;
use std::fmt;

/// Why a value does not fit its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("length {got} is not allowed for {kind} (allowed: {allowed})")]
    Length {
        kind: &'static str,
        got: usize,
        allowed: &'static str,
    },
    #[error("FVLN scale {0} exceeds the mantissa's digits")]
    Scale(u8),
}

/// The wire types of the FFD tag dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Byte,
    U16,
    U32,
    UnixTime,
    String,
    Vln,
    Fvln,
    Stlv,
    Bytes,
}

/// `byte`: exactly one byte; a zero-length value reads as 0 (NOTES §3).
#[inline]
pub fn read_byte(v: &[u8]) -> Result<u8, ValueError> {
    match v {
        [] => Ok(0),
        [b] => Ok(*b),
        _ => Err(ValueError::Length {
            kind: "byte",
            got: v.len(),
            allowed: "0 or 1",
        }),
    }
}

/// `U16`: 2 bytes LE.
#[inline]
pub fn read_u16(v: &[u8]) -> Result<u16, ValueError> {
    match v {
        [a, b] => Ok(u16::from_le_bytes([*a, *b])),
        _ => Err(ValueError::Length {
            kind: "U16",
            got: v.len(),
            allowed: "2",
        }),
    }
}

/// `U32` and `UnixTime`: 4 bytes LE.
#[inline]
pub fn read_u32(v: &[u8]) -> Result<u32, ValueError> {
    match v {
        [a, b, c, d] => Ok(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => Err(ValueError::Length {
            kind: "U32",
            got: v.len(),
            allowed: "4",
        }),
    }
}

/// `VLN`: unsigned LE integer whose high zero bytes may be dropped; at most 8 bytes here (the
/// dictionary's per-tag maximum, e.g. 6 for sums, is checked by validation).
#[inline]
pub fn read_vln(v: &[u8]) -> Result<u64, ValueError> {
    if v.len() > 8 {
        return Err(ValueError::Length {
            kind: "VLN",
            got: v.len(),
            allowed: "0..=8",
        });
    }
    Ok(v.iter()
        .rev()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Minimal VLN encoding of `n` (no high zero bytes; zero is one zero byte).
pub fn vln_bytes(n: u64) -> ([u8; 8], usize) {
    let bytes = n.to_le_bytes();
    let len = (8 - (n.leading_zeros() as usize / 8)).max(1);
    (bytes, len)
}

/// `FVLN`: first byte = digits after the decimal point, rest = VLN mantissa.
/// `02 15 CD 5B 07` is 1234567.89.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fvln {
    pub scale: u8,
    pub mantissa: u64,
}

impl Fvln {
    pub fn read(v: &[u8]) -> Result<Fvln, ValueError> {
        let (&scale, rest) = v.split_first().ok_or(ValueError::Length {
            kind: "FVLN",
            got: 0,
            allowed: "1..=9",
        })?;
        if rest.len() > 8 {
            return Err(ValueError::Length {
                kind: "FVLN",
                got: v.len(),
                allowed: "1..=9",
            });
        }
        if scale > 19 {
            return Err(ValueError::Scale(scale));
        }
        Ok(Fvln {
            scale,
            mantissa: read_vln(rest)?,
        })
    }

    /// Wire bytes: scale then minimal VLN mantissa.
    pub fn to_bytes(self) -> Vec<u8> {
        let (m, len) = vln_bytes(self.mantissa);
        let mut out = Vec::with_capacity(1 + len);
        out.push(self.scale);
        out.extend_from_slice(&m[..len]);
        out
    }
}

impl fmt::Display for Fvln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.mantissa);
        }
        let pow = 10u128.pow(u32::from(self.scale));
        let m = u128::from(self.mantissa);
        write!(
            f,
            "{}.{:0width$}",
            m / pow,
            m % pow,
            width = self.scale as usize
        )
    }
}

/// A CP866 string borrowed from the message; decoded only on demand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cp866<'a>(pub &'a [u8]);

impl<'a> Cp866<'a> {
    /// Decode to UTF-8. ASCII-only values (most identifiers) borrow without allocating.
    pub fn decode(&self) -> Cow<'a, str> {
        encoding_rs::IBM866.decode_without_bom_handling(self.0).0
    }

    /// The raw bytes with trailing spaces removed (RN, INN and FN padding).
    #[inline]
    pub fn trimmed(&self) -> &'a [u8] {
        trim_spaces(self.0)
    }
}

impl fmt::Debug for Cp866<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.decode(), f)
    }
}

/// Encode UTF-8 text as CP866 (the builder's side). Unmappable characters become `?`.
pub fn encode_cp866(s: &str) -> Vec<u8> {
    let (bytes, _, _) = encoding_rs::IBM866.encode(s);
    bytes.into_owned()
}

/// Strip trailing ASCII spaces (and NULs some firmware pads with).
#[inline]
pub fn trim_spaces(v: &[u8]) -> &[u8] {
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != 0)
        .map_or(0, |i| i + 1);
    &v[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fvln_example_from_notes() {
        let f = Fvln::read(&[0x02, 0x15, 0xCD, 0x5B, 0x07]).unwrap();
        assert_eq!(
            f,
            Fvln {
                scale: 2,
                mantissa: 123_456_789
            }
        );
        assert_eq!(f.to_string(), "1234567.89");
        assert_eq!(
            Fvln {
                scale: 3,
                mantissa: 5
            }
            .to_string(),
            "0.005"
        );
        assert_eq!(Fvln::read(&f.to_bytes()).unwrap(), f);
    }

    #[test]
    fn vln_and_byte() {
        assert_eq!(read_vln(&[0x10, 0x27]).unwrap(), 10_000);
        assert_eq!(read_vln(&[]).unwrap(), 0);
        let (b, n) = vln_bytes(10_000);
        assert_eq!(&b[..n], &[0x10, 0x27]);
        assert_eq!(vln_bytes(0).1, 1);
        assert_eq!(read_byte(&[]).unwrap(), 0);
        assert!(read_byte(&[1, 2]).is_err());
        assert!(read_u32(&[1, 2, 3]).is_err());
    }

    #[test]
    fn cp866_round_trip() {
        let raw = encode_cp866("ООО РАПКАТ-центр ");
        assert_eq!(&raw[..3], &[0x8e, 0x8e, 0x8e]);
        assert_eq!(Cp866(&raw).decode(), "ООО РАПКАТ-центр ");
        assert_eq!(Cp866(b"7702203276  ").trimmed(), b"7702203276");
    }
}
