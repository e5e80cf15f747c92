//! Secrets handed to people and programs: API keys, session tokens and one-time links.
//!
//! Each is 32 random bytes from the operating system (`getrandom`), shown once and stored only
//! as its SHA-256, so a copy of the database opens nothing. A lookup is by that hash (sessions,
//! links) or by a public ID followed by a constant-time comparison of the hash (API keys, whose
//! text is `ofk_<id>_<secret>`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::types::*;
use super::{get, key, not_found, scan_keys};
use crate::error::{StoreError, hex};
use crate::future::StoreFuture;
use crate::store::Store;

/// Every API key's text starts with this.
pub const ISSUED_KEY_PREFIX: &str = "ofk_";

/// A newly created API key: the record and the key text, shown once.
#[derive(Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub text: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Internal(format!("no random bytes from the OS: {e}")))?;
    Ok(hex(&buf))
}

fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// Splits `ofk_<id>_<secret>` into its ID and secret.
pub fn parse_api_key(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(ISSUED_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexish = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit());
    (hexish(id) && id.len() == 16 && hexish(secret) && secret.len() == 64).then_some((id, secret))
}

/// A new session: its record and the cookie value, shown once.
#[derive(Clone)]
pub struct IssuedSession {
    pub session: Session,
    pub token: String,
}

impl Store {
    // ---- API keys ----

    /// Creates an API key for an organisation.
    pub fn create_api_key(
        &self,
        org: String,
        scope: KeyScope,
        registers: Vec<String>,
        name: String,
        created_by: String,
        now: u64,
    ) -> StoreFuture<IssuedKey> {
        self.accounts_tx(move |tx| {
            if tx.get::<Org>(&key(b'O', &[org.as_bytes()]))?.is_none() {
                return Err(not_found(format!("organisation {org}")));
            }
            let id = random_hex(8)?;
            let secret = random_hex(32)?;
            let api_key = ApiKey {
                id: id.clone(),
                org: org.clone(),
                scope,
                registers,
                name,
                created_by,
                created_at: now,
                revoked_at: None,
                last_used_at: None,
                secret_sha256: sha256_hex(&secret),
            };
            tx.put(&key(b'K', &[id.as_bytes()]), &api_key)?;
            tx.put_raw(&key(b'k', &[org.as_bytes(), id.as_bytes()]), b"")?;
            Ok(IssuedKey {
                key: api_key,
                text: format!("{ISSUED_KEY_PREFIX}{id}_{secret}"),
            })
        })
    }

    /// The key a presented text names, when its secret matches and it is not revoked.
    pub fn check_api_key(&self, text: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some((id, secret)) = parse_api_key(text) else {
            return Ok(None);
        };
        let Some(k) = get::<ApiKey>(&self.shared().db()?, &key(b'K', &[id.as_bytes()]))? else {
            return Ok(None);
        };
        let ok = sha256_hex(secret)
            .as_bytes()
            .ct_eq(k.secret_sha256.as_bytes());
        Ok((bool::from(ok) && k.revoked_at.is_none()).then_some(k))
    }

    pub fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        get(&self.shared().db()?, &key(b'K', &[id.as_bytes()]))
    }

    /// An organisation's keys (revoked ones too), by ID.
    pub fn api_keys_of(&self, org: &str) -> Result<Vec<ApiKey>, StoreError> {
        let db = self.shared().db()?;
        let prefix = key(b'k', &[org.as_bytes(), b""]);
        let mut out = Vec::new();
        for (id, _) in scan_keys(&db, &prefix, None, usize::MAX)? {
            if let Some(k) = get::<ApiKey>(&db, &key(b'K', &[&id]))? {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// Revokes a key (kept, for the audit trail).
    pub fn revoke_api_key(&self, id: String, now: u64) -> StoreFuture<ApiKey> {
        self.accounts_tx(move |tx| {
            let k = key(b'K', &[id.as_bytes()]);
            let mut api_key: ApiKey = tx
                .get(&k)?
                .ok_or_else(|| not_found(format!("API key {id}")))?;
            api_key.revoked_at.get_or_insert(now);
            tx.put(&k, &api_key)?;
            Ok(api_key)
        })
    }

    /// Records a key's last use (callers throttle this to about once a minute per key).
    pub fn touch_api_key(&self, id: String, now: u64) -> StoreFuture<()> {
        self.accounts_tx(move |tx| {
            let k = key(b'K', &[id.as_bytes()]);
            if let Some(mut api_key) = tx.get::<ApiKey>(&k)? {
                api_key.last_used_at = Some(now);
                tx.put(&k, &api_key)?;
            }
            Ok(())
        })
    }

    // ---- sessions ----

    /// Starts a session for a user.
    pub fn create_session(&self, login: String, now: u64) -> StoreFuture<IssuedSession> {
        self.accounts_tx(move |tx| {
            let user: User = tx
                .get(&key(b'U', &[login.as_bytes()]))?
                .ok_or_else(|| not_found(format!("user {login}")))?;
            let token = random_hex(32)?;
            let session = Session {
                login: user.login,
                created_at: now,
                last_seen: now,
                epoch: user.session_epoch,
                csrf: random_hex(16)?,
            };
            tx.put(&key(b'S', &[sha256_hex(&token).as_bytes()]), &session)?;
            Ok(IssuedSession { session, token })
        })
    }

    /// The session a cookie names (whether it is still valid is the caller's policy: idle and
    /// absolute expiry, the user's epoch and state).
    pub fn get_session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        get(
            &self.shared().db()?,
            &key(b'S', &[sha256_hex(token).as_bytes()]),
        )
    }

    /// Moves a session's idle clock.
    pub fn touch_session(&self, token: &str, now: u64) -> StoreFuture<()> {
        let k = key(b'S', &[sha256_hex(token).as_bytes()]);
        self.accounts_tx(move |tx| {
            if let Some(mut s) = tx.get::<Session>(&k)? {
                s.last_seen = now;
                tx.put(&k, &s)?;
            }
            Ok(())
        })
    }

    /// Ends a session (sign-out, or found expired).
    pub fn end_session(&self, token: &str) -> StoreFuture<()> {
        let k = key(b'S', &[sha256_hex(token).as_bytes()]);
        self.accounts_tx(move |tx| tx.delete(&k))
    }

    // ---- one-time links ----

    /// Issues a one-time set-password link token for a user; it expires at `expires_at`.
    pub fn issue_link(
        &self,
        login: String,
        purpose: LinkPurpose,
        now: u64,
        expires_at: u64,
    ) -> StoreFuture<String> {
        self.accounts_tx(move |tx| {
            let login = super::normalise_login(&login)?;
            if tx.get::<User>(&key(b'U', &[login.as_bytes()]))?.is_none() {
                return Err(not_found(format!("user {login}")));
            }
            let token = random_hex(32)?;
            let link = OneTimeLink {
                login,
                purpose,
                created_at: now,
                expires_at,
                used_at: None,
            };
            tx.put(&key(b'L', &[sha256_hex(&token).as_bytes()]), &link)?;
            Ok(token)
        })
    }

    /// A link as it stands, without using it (to show the set-password form).
    pub fn peek_link(&self, token: &str) -> Result<Option<OneTimeLink>, StoreError> {
        get(
            &self.shared().db()?,
            &key(b'L', &[sha256_hex(token).as_bytes()]),
        )
    }

    /// Uses a link once and sets the user's password hash in the same durable change (which
    /// unlocks the user and ends its sessions). `NotFound` for an unknown, used or expired link.
    pub fn use_link(&self, token: &str, phc: String, now: u64) -> StoreFuture<User> {
        let lk = key(b'L', &[sha256_hex(token).as_bytes()]);
        self.accounts_tx(move |tx| {
            let gone = || not_found("this link is unknown, already used or expired");
            let mut link: OneTimeLink = tx.get(&lk)?.ok_or_else(gone)?;
            if link.used_at.is_some() || now >= link.expires_at {
                return Err(gone());
            }
            link.used_at = Some(now);
            tx.put(&lk, &link)?;
            let uk = key(b'U', &[link.login.as_bytes()]);
            let mut u: User = tx.get(&uk)?.ok_or_else(gone)?;
            u.password = Some(phc);
            u.session_epoch += 1;
            u.failed_logins = 0;
            u.locked = false;
            tx.put(&uk, &u)?;
            Ok(u)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_parses_only_in_its_own_shape() {
        let id = "0123456789abcdef";
        let secret = "ab".repeat(32);
        let text = format!("ofk_{id}_{secret}");
        assert_eq!(parse_api_key(&text), Some((id, secret.as_str())));
        assert_eq!(parse_api_key(&text[1..]), None);
        assert_eq!(parse_api_key(&format!("ofk_{id}_{}", &secret[2..])), None);
        assert_eq!(parse_api_key(&format!("ofk_{id}x_{secret}")), None);
        assert_eq!(parse_api_key("ofk__"), None);
    }
}
