//! The operator fiscal sign (ФПО, tag 1078) behind a trait.
//!
//! In production the ФПО is computed by the operator's **certified cryptographic module** (a
//! hardware/software product certified by the FSB, holding the operator's keys); the FN verifies
//! it. This crate cannot and must not reimplement that. So the acknowledgement encoder takes a
//! [`Signer`], and a deployment plugs its crypto module in behind it.
//!
//! # ⚠ `HmacSigner` is a stand-in
//!
//! [`HmacSigner`] (HMAC-SHA256 with an operator key, truncated to [`FPO_LEN`] bytes) exists so
//! tests, the load generator and a development daemon produce well-formed, deterministic,
//! verifiable acknowledgements. **A real fiscal drive will not accept it.** It is not the
//! algorithm of any certified module and makes no claim to be.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of the ФПО this project writes in tag 1078 (sources give 16–18 bytes; we use 18).
pub const FPO_LEN: usize = 18;

/// Computes the operator fiscal sign over the acknowledged message and the acknowledgement.
///
/// `parts` are signed as if concatenated (the request frame, then the acknowledgement
/// document's tags before 1078), so no buffer is assembled to sign.
pub trait Signer: Send + Sync {
    fn sign(&self, parts: &[&[u8]]) -> [u8; FPO_LEN];
}

/// HMAC-SHA256 stand-in for the certified crypto module. **Not accepted by real FNs**; see the
/// module docs.
#[derive(Clone)]
pub struct HmacSigner {
    mac: Hmac<Sha256>,
}

impl HmacSigner {
    /// A signer with the given operator key (any length).
    pub fn new(key: &[u8]) -> HmacSigner {
        // HMAC accepts keys of every length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        HmacSigner { mac }
    }

    /// Check a ФПО produced by this signer (constant-time comparison).
    pub fn verify(&self, parts: &[&[u8]], fpo: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        fpo.len() == FPO_LEN && mac.verify_truncated_left(fpo).is_ok()
    }
}

impl std::fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSigner { key: <redacted> }")
    }
}

impl Signer for HmacSigner {
    fn sign(&self, parts: &[&[u8]]) -> [u8; FPO_LEN] {
        let mut mac = self.mac.clone();
        for p in parts {
            mac.update(p);
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; FPO_LEN];
        out.copy_from_slice(&full[..FPO_LEN]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_sign_like_concatenation_and_verify() {
        let s = HmacSigner::new(b"operator key");
        let a = s.sign(&[b"hello ", b"world"]);
        assert_eq!(a, s.sign(&[b"hello world"]));
        assert!(s.verify(&[b"hello world"], &a));
        assert!(!s.verify(&[b"hello worle"], &a));
        assert!(!HmacSigner::new(b"other").verify(&[b"hello world"], &a));
        assert!(!s.verify(&[b"hello world"], &a[..16]));
    }
}
