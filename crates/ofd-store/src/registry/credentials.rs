//! The admission credential: issued by `issue_token` (the secret is returned once), stored only
//! as SHA-256(salt | secret) with a random per-record salt, and checked by `verify_token` in
//! constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::types::{CredentialInfo, IssuedToken, SecretHash};
use crate::db::Shared;
use crate::error::{StoreError, hex};
use crate::keys::Rn;
use crate::store::Store;

impl Store {
    /// Checks an admission credential in constant time. `false` for an unknown RN, a register
    /// without a credential, or a wrong system id or secret.
    pub fn verify_token(&self, rn: &Rn, system_id: &str, secret: &str) -> Result<bool, StoreError> {
        let Some(stored) = self.shared().load_kkt(rn)? else {
            return Ok(false);
        };
        let (Some(info), Some(hash)) = (&stored.record.credential, &stored.secret) else {
            return Ok(false);
        };
        let id_ok =
            Sha256::digest(info.system_id.as_bytes()).ct_eq(&Sha256::digest(system_id.as_bytes()));
        let computed = hex(&salted(&hash.salt, secret));
        let secret_ok = computed.as_bytes().ct_eq(hash.sha256.as_bytes());
        Ok(bool::from(id_ok & secret_ok))
    }
}

fn salted(salt: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().into()
}

impl Shared {
    pub(super) fn do_issue(&self, rn: Rn, now: u64) -> Result<IssuedToken, StoreError> {
        let mut s = self
            .load_kkt(&rn)?
            .ok_or(StoreError::RegisterNotFound { rn })?;
        let mut secret = [0u8; 32];
        let mut salt = [0u8; 16];
        crate::random::fill(&mut secret)?;
        crate::random::fill(&mut salt)?;
        let system_id = match &s.record.credential {
            Some(c) => c.system_id.clone(),
            None => {
                let mut id = [0u8; 8];
                crate::random::fill(&mut id)?;
                format!("kkt-{}", hex(&id))
            }
        };
        let secret = hex(&secret);
        let salt = hex(&salt);
        let hash = hex(&salted(&salt, &secret));
        s.secret = Some(SecretHash { salt, sha256: hash });
        s.record.credential = Some(CredentialInfo {
            system_id: system_id.clone(),
            issued_at: now,
        });
        s.record.updated_at = now;
        let mut batch = rocksdb::WriteBatch::default();
        self.put_kkt(&mut batch, &s)?;
        self.commit_registry(batch, Vec::new())?;
        Ok(IssuedToken { system_id, secret })
    }
}
