//! What the operator's crypto module adds to an acknowledgement, behind a trait.
//!
//! A real operator's answer (two production captures in `proto-spec/vectors/`) carries three
//! values that only its **certified cryptographic module** (a hardware/software product certified
//! by the FSB, holding the operator's keys) can produce, and that the FN verifies with its key:
//! - the operator fiscal sign ФПО, tag 1078: 8 bytes, `88 06` followed by 6 bytes;
//! - service data 2 of the answer's container header: 12 bytes;
//! - the message MAC, 6 bytes, carried in the 10-byte trailer `82 06` + MAC + `00 00` (mirroring
//!   the FN's own `81 06` + MAC + `00 00`).
//!
//! This crate cannot and must not reimplement that module. The acknowledgement encoder asks a
//! [`Signer`] for an [`OperatorSeal`] holding all three, and a deployment plugs its module in
//! behind the trait.
//!
//! # ⚠ `HmacSigner` is a stand-in
//!
//! [`HmacSigner`] (HMAC-SHA256 with an operator key; the first 24 bytes of the MAC become the
//! ФПО's 6 bytes, service data 2 and the message MAC) exists so tests, the load generator and a
//! development daemon produce well-formed, deterministic, verifiable acknowledgements of the
//! real layout. **A real fiscal drive will not accept it.** It is not the algorithm of any
//! certified module and makes no claim to be.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of the ФПО value (tag 1078) as a production operator sends it: `88 06` + 6 bytes.
pub const FPO_LEN: usize = 8;
/// Length of the container's service data 2.
pub const SERVICE2_LEN: usize = 12;
/// Length of the message MAC inside the answer's trailer.
pub const MAC_LEN: usize = 6;

/// The three values the crypto module produces for one acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OperatorSeal {
    /// Tag 1078, written as is.
    pub fpo: [u8; FPO_LEN],
    /// Service data 2 of the answer's container header.
    pub service2: [u8; SERVICE2_LEN],
    /// The message MAC; the encoder writes the trailer `82 06` + MAC + `00 00`.
    pub mac: [u8; MAC_LEN],
}

/// The operator's crypto module: seals an acknowledgement of a request.
///
/// `parts` are sealed as if concatenated: the request frame, then the acknowledgement's
/// document 7 without its 1078 element (see [`crate::ack::Ack::sealed_parts`]), so no buffer is
/// assembled to sign.
pub trait Signer: Send + Sync {
    fn seal(&self, parts: &[&[u8]]) -> OperatorSeal;
}

/// HMAC-SHA256 stand-in for the certified crypto module. **Not accepted by real FNs**; see the
/// module docs.
#[derive(Clone)]
pub struct HmacSigner {
    mac: Hmac<Sha256>,
}

/// The ФПО's first two bytes in real answers.
const FPO_PREFIX: [u8; 2] = [0x88, 0x06];

impl HmacSigner {
    /// A signer with the given operator key (any length).
    pub fn new(key: &[u8]) -> HmacSigner {
        // HMAC accepts keys of every length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        HmacSigner { mac }
    }

    /// Check a seal produced by this signer: ФПО, service data 2 and message MAC, compared in
    /// constant time.
    pub fn verify(&self, parts: &[&[u8]], fpo: &[u8], service2: &[u8], mac: &[u8]) -> bool {
        let (Some(prefix), Some(sign)) = (fpo.get(..2), fpo.get(2..)) else {
            return false;
        };
        if fpo.len() != FPO_LEN || service2.len() != SERVICE2_LEN || mac.len() != MAC_LEN {
            return false;
        }
        let mut got = [0u8; FPO_LEN - 2 + SERVICE2_LEN + MAC_LEN];
        got[..6].copy_from_slice(sign);
        got[6..18].copy_from_slice(service2);
        got[18..].copy_from_slice(mac);
        let mut hmac = self.mac.clone();
        for p in parts {
            hmac.update(p);
        }
        prefix == FPO_PREFIX && hmac.verify_truncated_left(&got).is_ok()
    }
}

impl std::fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSigner { key: <redacted> }")
    }
}

impl Signer for HmacSigner {
    fn seal(&self, parts: &[&[u8]]) -> OperatorSeal {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        let d = mac.finalize().into_bytes();
        let mut seal = OperatorSeal {
            fpo: [0; FPO_LEN],
            service2: [0; SERVICE2_LEN],
            mac: [0; MAC_LEN],
        };
        seal.fpo[..2].copy_from_slice(&FPO_PREFIX);
        seal.fpo[2..].copy_from_slice(&d[..6]);
        seal.service2.copy_from_slice(&d[6..18]);
        seal.mac.copy_from_slice(&d[18..24]);
        seal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_seal_like_concatenation_and_verify() {
        let s = HmacSigner::new(b"operator key");
        let a = s.seal(&[b"hello ", b"world"]);
        assert_eq!(a, s.seal(&[b"hello world"]));
        assert_eq!(a.fpo[..2], FPO_PREFIX);
        assert!(s.verify(&[b"hello world"], &a.fpo, &a.service2, &a.mac));
        assert!(!s.verify(&[b"hello worle"], &a.fpo, &a.service2, &a.mac));
        assert!(!HmacSigner::new(b"other").verify(&[b"hello world"], &a.fpo, &a.service2, &a.mac));
        assert!(!s.verify(&[b"hello world"], &a.fpo[..7], &a.service2, &a.mac));
        let mut bad = a.mac;
        bad[5] ^= 1;
        assert!(!s.verify(&[b"hello world"], &a.fpo, &a.service2, &bad));
    }
}
