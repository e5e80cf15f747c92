//! Identifiers and the byte layout of every key the store writes.
//!
//! `FnNumber` (fiscal drive serial) and `Rn` (registration number) are fixed 16-byte ASCII values,
//! so keys built from them are fixed-width and sort as the numbers do. Numbers inside keys are
//! big-endian for the same reason: RocksDB orders keys bytewise, so `FN | FD(BE)` iterates a
//! drive's documents in FD order and `seq(BE)` iterates the outbox in commit order.

use std::fmt;

/// A malformed identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "FN number must be 1 to 16 ASCII digits optionally right-padded with spaces to 16, got {0:?}"
    )]
    BadFn(String),
    #[error("registration number must be 16 ASCII digits (trailing spaces are trimmed), got {0:?}")]
    BadRn(String),
}

/// A fiscal drive (FN) serial: 16 ASCII bytes, digits right-padded with spaces.
///
/// Test drives carry 15-digit numbers ("999907891234567 "); those are padded, never rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnNumber([u8; 16]);

impl FnNumber {
    /// Accepts 1..=16 ASCII digits followed by optional spaces, 16 bytes at most; pads with
    /// spaces to 16.
    pub fn new(bytes: &[u8]) -> Result<Self, KeyError> {
        let bad = || KeyError::BadFn(String::from_utf8_lossy(bytes).into_owned());
        if bytes.is_empty() || bytes.len() > 16 {
            return Err(bad());
        }
        let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0
            || bytes
                .get(digits..)
                .is_some_and(|rest| rest.iter().any(|&b| b != b' '))
        {
            return Err(bad());
        }
        let mut out = [b' '; 16];
        out[..digits].copy_from_slice(&bytes[..digits]);
        Ok(FnNumber(out))
    }

    /// The 16 stored bytes (digits then spaces).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The digits without padding.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and spaces can be in here (checked in `new`/`from_key`).
        std::str::from_utf8(&self.0).map_or("", |s| s.trim_end())
    }

    pub(crate) fn from_key(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 16] = bytes.try_into().ok()?;
        FnNumber::new(&arr).ok()
    }
}

impl std::str::FromStr for FnNumber {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        FnNumber::new(s.as_bytes())
    }
}

impl fmt::Display for FnNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FnNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FnNumber({})", self.as_str())
    }
}

/// A register's registration number (RN, tag 1037): 16 ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rn([u8; 16]);

impl Rn {
    /// Accepts exactly 16 ASCII digits after trimming trailing spaces (tag 1037 is padded to 20).
    pub fn new(bytes: &[u8]) -> Result<Self, KeyError> {
        let end = bytes.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        let trimmed = &bytes[..end];
        match <[u8; 16]>::try_from(trimmed) {
            Ok(arr) if arr.iter().all(u8::is_ascii_digit) => Ok(Rn(arr)),
            _ => Err(KeyError::BadRn(String::from_utf8_lossy(bytes).into_owned())),
        }
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub(crate) fn from_key(bytes: &[u8]) -> Option<Self> {
        Rn::new(bytes).ok().filter(|_| bytes.len() == 16)
    }
}

impl std::str::FromStr for Rn {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Rn::new(s.as_bytes())
    }
}

impl fmt::Display for Rn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Rn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rn({})", self.as_str())
    }
}

impl serde::Serialize for Rn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Rn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Rn::new(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for FnNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FnNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        FnNumber::new(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// The identity of a fiscal document: drive serial and document (FD) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DocKey {
    pub fn_number: FnNumber,
    pub fd: u32,
}

/// `docs` key: `FN(16) | FD(u32 BE)`.
pub(crate) const DOC_KEY_LEN: usize = 20;

/// The leading part of a `docs` key (its FN) and of a `by_rn` key (its RN): every query of
/// those two column families stays within one such prefix, and their memtables are hashed by it
/// (`options.rs`).
pub(crate) const KEY_PREFIX_LEN: usize = 16;

impl DocKey {
    pub fn new(fn_number: FnNumber, fd: u32) -> Self {
        DocKey { fn_number, fd }
    }

    pub(crate) fn encode(&self) -> [u8; DOC_KEY_LEN] {
        let mut k = [0u8; DOC_KEY_LEN];
        k[..16].copy_from_slice(&self.fn_number.0);
        k[16..].copy_from_slice(&self.fd.to_be_bytes());
        k
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (f, fd) = bytes.split_at_checked(16)?;
        Some(DocKey {
            fn_number: FnNumber::from_key(f)?,
            fd: u32::from_be_bytes(fd.try_into().ok()?),
        })
    }
}

/// `by_rn` key: `RN(16) | FN(16) | FD(u32 BE)`.
pub(crate) fn by_rn_key(rn: &Rn, key: &DocKey) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..16].copy_from_slice(&rn.0);
    k[16..].copy_from_slice(&key.encode());
    k
}

/// `conflicts` key: `FN(16) | FD(u32 BE) | seq(u64 BE)`.
pub(crate) fn conflict_key(key: &DocKey, seq: u64) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..20].copy_from_slice(&key.encode());
    k[20..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// `liveness` key: `b'R' | RN` when the register is known, else `b'F' | FN`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LiveKey {
    Rn(Rn),
    Fn(FnNumber),
    /// A Kazakh register, by system ID.
    Kz(u32),
}

impl LiveKey {
    pub(crate) fn encode(&self) -> [u8; 17] {
        let mut k = [0u8; 17];
        match self {
            LiveKey::Rn(rn) => {
                k[0] = b'R';
                k[1..].copy_from_slice(&rn.0);
            }
            LiveKey::Fn(f) => {
                k[0] = b'F';
                k[1..].copy_from_slice(&f.0);
            }
            LiveKey::Kz(id) => {
                k[0] = b'K';
                k[1..5].copy_from_slice(&id.to_be_bytes());
            }
        }
        k
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (tag, rest) = bytes.split_first()?;
        match tag {
            b'R' => Rn::from_key(rest).map(LiveKey::Rn),
            b'F' => FnNumber::from_key(rest).map(LiveKey::Fn),
            b'K' => match rest {
                [a, b, c, d, pad @ ..] if pad.iter().all(|&x| x == 0) => {
                    Some(LiveKey::Kz(u32::from_be_bytes([*a, *b, *c, *d])))
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// `meta` key of the next conflict sequence number (conflicts are keyed `FN | FD | seq`, so
/// the last one cannot be found by a seek like the outbox's).
pub(crate) const META_CONFLICT_SEQ: &[u8] = b"conflict_seq";

pub(crate) fn u64_from_be(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fn_number_pads_short_and_rejects_garbage() {
        let f = FnNumber::new(b"999907891234567 ").unwrap();
        assert_eq!(f.as_str(), "999907891234567");
        assert_eq!(FnNumber::new(b"999907891234567").unwrap(), f);
        assert!(FnNumber::new(b"").is_err());
        assert!(FnNumber::new(b"12 3").is_err());
        assert!(FnNumber::new(b"12345678901234567").is_err());
        assert!(FnNumber::new(b" 123").is_err());
    }

    #[test]
    fn rn_trims_tag_padding() {
        let rn = Rn::new(b"0000000005008570    ").unwrap();
        assert_eq!(rn.as_str(), "0000000005008570");
        assert!(Rn::new(b"000000000500857").is_err());
        assert!(Rn::new(b"000000000500857a").is_err());
    }

    #[test]
    fn doc_key_round_trips_and_sorts_by_fd() {
        let f = FnNumber::new(b"9999078900005488").unwrap();
        let a = DocKey::new(f, 2).encode();
        let b = DocKey::new(f, 256).encode();
        assert!(a < b);
        assert_eq!(DocKey::decode(&b), Some(DocKey::new(f, 256)));
        assert_eq!(DocKey::decode(&b[..19]), None);
    }
}
