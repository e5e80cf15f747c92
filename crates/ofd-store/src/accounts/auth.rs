//! Signing in and recognising credentials: the policy both the JSON API and the portal use, so
//! the two cannot drift apart.
//!
//! - Sign-in: throttled per login and per address (a clear "retry after"), argon2id verified,
//!   locked after `lock_after` consecutive failures until an admin unlocks, optional TOTP; every
//!   outcome is audited.
//! - Sessions: valid while younger than the absolute limit, used within the idle limit, of the
//!   user's current epoch (a password change or disabling ends them) and of an enabled user.
//! - API keys: `ofk_<id>_<secret>`, checked in constant time, last use recorded at most once a
//!   minute per key.
//!
//! Everything here blocks (argon2 takes tens of milliseconds by design, and durable writes wait
//! for their fsync): async callers run it on `spawn_blocking`. Time comes in as a value.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use super::password;
use super::secrets::IssuedSession;
use super::types::*;
use crate::error::StoreError;
use crate::store::Store;

/// The knobs, with the daemon's defaults.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    /// A session unused this long is over.
    pub session_idle_secs: u64,
    /// A session this old is over, used or not.
    pub session_absolute_secs: u64,
    /// Consecutive failures that lock a user.
    pub lock_after: u32,
    /// Sign-in attempts per login per window.
    pub per_login: u32,
    /// Sign-in attempts per address per window.
    pub per_addr: u32,
    pub window_secs: u64,
    /// How long a one-time link works.
    pub link_ttl_secs: u64,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            lock_after: 10,
            per_login: 5,
            per_addr: 30,
            window_secs: 5 * 60,
            link_ttl_secs: 3 * 24 * 3600,
        }
    }
}

/// Why a sign-in did not start a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("too many sign-in attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error(
        "this account is locked after repeated failed sign-ins; ask your administrator to unlock it"
    )]
    Locked,
    #[error("wrong login or password")]
    BadCredentials,
    #[error("enter the code from your authenticator app")]
    TotpRequired,
    #[error("wrong authenticator code")]
    BadTotp,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Attempts in the current window, per key.
#[derive(Default)]
struct Window {
    started: u64,
    count: u32,
}

#[derive(Default)]
struct Throttle {
    by_login: HashMap<String, Window>,
    by_addr: HashMap<IpAddr, Window>,
}

/// Counts one attempt; `Err(retry_after)` when over `max` in the window.
fn hit<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Window>,
    k: K,
    now: u64,
    window: u64,
    max: u32,
) -> Result<(), u64> {
    // Bounded memory: an attacker spraying logins cannot grow the map without end.
    if map.len() > 100_000 {
        map.retain(|_, w| now < w.started + window);
    }
    let w = map.entry(k).or_default();
    if now >= w.started + window {
        *w = Window {
            started: now,
            count: 0,
        };
    }
    if w.count >= max {
        return Err(w.started + window - now);
    }
    w.count += 1;
    Ok(())
}

/// Signs people in and recognises sessions and keys.
pub struct Authenticator {
    store: Store,
    policy: AuthPolicy,
    throttle: Mutex<Throttle>,
    /// Last recorded use of each API key and session (to write it at most once a minute).
    touched: Mutex<HashMap<String, u64>>,
}

/// Where a request came from and who made it, for the audit log.
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
    pub org: Option<String>,
    pub addr: String,
}

impl Actor {
    /// The audit entry for a change this actor made at `at`, listed for `orgs` and for the
    /// actor's own organisation (the one rule the API and the portal share).
    pub fn entry(
        self,
        at: u64,
        action: &str,
        target: &str,
        orgs: &[&str],
        detail: serde_json::Value,
    ) -> AuditEntry {
        let mut all: Vec<String> = orgs.iter().map(|s| s.to_string()).collect();
        if let Some(o) = &self.org
            && !all.contains(o)
        {
            all.push(o.clone());
        }
        AuditEntry {
            seq: 0,
            at,
            actor: self.name,
            actor_org: self.org,
            orgs: all,
            addr: self.addr,
            action: action.to_string(),
            target: target.to_string(),
            detail,
        }
    }
}

impl Authenticator {
    pub fn new(store: Store, policy: AuthPolicy) -> Authenticator {
        Authenticator {
            store,
            policy,
            throttle: Mutex::new(Throttle::default()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Signs in with a password (and a TOTP code when the user has one). Blocks.
    pub fn login(
        &self,
        login: &str,
        password: &str,
        totp_code: Option<&str>,
        addr: IpAddr,
        now: u64,
    ) -> Result<IssuedSession, LoginError> {
        let login = super::normalise_login(login).unwrap_or_else(|_| login.trim().to_lowercase());
        {
            let mut t = self.throttle.lock().unwrap_or_else(|p| p.into_inner());
            let p = &self.policy;
            let by_addr = hit(&mut t.by_addr, addr, now, p.window_secs, p.per_addr);
            let by_login = by_addr.and_then(|()| {
                hit(
                    &mut t.by_login,
                    login.clone(),
                    now,
                    p.window_secs,
                    p.per_login,
                )
            });
            if let Err(retry_after_secs) = by_login {
                return Err(LoginError::Throttled { retry_after_secs });
            }
        }
        let user = self.store.get_user(&login)?;
        let actor = Actor {
            name: login.clone(),
            org: user.as_ref().map(|u| u.org.clone()),
            addr: addr.to_string(),
        };
        // An unknown login costs the same argon2 work as a known one.
        let phc = user
            .as_ref()
            .and_then(|u| u.password.clone())
            .unwrap_or_else(|| password::dummy_hash().to_string());
        let password_ok = password::verify(password, &phc);
        let failed =
            |detail: serde_json::Value| self.audit(&actor, "login.failed", &login, detail, now);
        let Some(user) = user.filter(|u| u.password.is_some() && !u.disabled) else {
            failed(serde_json::json!({"reason": "unknown login, no password yet, or disabled"}))?;
            return Err(LoginError::BadCredentials);
        };
        if user.locked {
            failed(serde_json::json!({"reason": "locked"}))?;
            return Err(LoginError::Locked);
        }
        if !password_ok {
            let after = self
                .store
                .login_failed(login.clone(), self.policy.lock_after)
                .wait()?;
            failed(
                serde_json::json!({"reason": "wrong password", "consecutive": after.failed_logins}),
            )?;
            if after.locked {
                self.audit(
                    &actor,
                    "user.locked",
                    &login,
                    serde_json::json!({"after_failures": after.failed_logins}),
                    now,
                )?;
                return Err(LoginError::Locked);
            }
            return Err(LoginError::BadCredentials);
        }
        if let Some(secret) = &user.totp {
            let Some(code) = totp_code.filter(|c| !c.trim().is_empty()) else {
                return Err(LoginError::TotpRequired);
            };
            if !totp_matches(secret, code.trim(), &login, now) {
                self.store
                    .login_failed(login.clone(), self.policy.lock_after)
                    .wait()?;
                failed(serde_json::json!({"reason": "wrong TOTP code"}))?;
                return Err(LoginError::BadTotp);
            }
        }
        self.store.login_succeeded(login.clone(), now).wait()?;
        let session = self.store.create_session(login.clone(), now).wait()?;
        self.audit(&actor, "login", &login, serde_json::Value::Null, now)?;
        Ok(session)
    }

    /// The session a cookie names, with its user, while valid; an expired one is removed.
    pub fn session(&self, token: &str, now: u64) -> Result<Option<(Session, User)>, StoreError> {
        if token.len() != 64 || !token.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(s) = self.store.get_session(token)? else {
            return Ok(None);
        };
        let user = self.store.get_user(&s.login)?;
        let p = &self.policy;
        let valid = now < s.created_at + p.session_absolute_secs
            && now < s.last_seen + p.session_idle_secs
            && user
                .as_ref()
                .is_some_and(|u| !u.disabled && u.session_epoch == s.epoch);
        // Neither write is waited for: a lost touch only shortens a session, and a request
        // must not wait for an fsync to be recognised.
        if !valid {
            drop(self.store.end_session(token));
            return Ok(None);
        }
        if self.due(token, now) {
            drop(self.store.touch_session(token, now));
        }
        Ok(user.map(|u| (s, u)))
    }

    /// The API key a bearer text names, while valid; records its use.
    pub fn api_key(&self, text: &str, now: u64) -> Result<Option<ApiKey>, StoreError> {
        let Some(k) = self.store.check_api_key(text)? else {
            return Ok(None);
        };
        if self.due(&k.id, now) {
            drop(self.store.touch_api_key(k.id.clone(), now));
        }
        Ok(Some(k))
    }

    /// Whether a credential's last use is worth writing now (once a minute at most).
    fn due(&self, id: &str, now: u64) -> bool {
        let mut t = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() > 100_000 {
            t.retain(|_, at| now < *at + 60);
        }
        match t.get(id) {
            Some(&at) if now < at + 60 => false,
            _ => {
                t.insert(id.to_string(), now);
                true
            }
        }
    }

    /// Sets a password from a one-time link. Blocks (argon2).
    pub fn set_password(
        &self,
        token: &str,
        new_password: &str,
        now: u64,
        addr: &str,
    ) -> Result<User, SetPasswordError> {
        let link = self
            .store
            .peek_link(token)?
            .filter(|l| l.used_at.is_none() && now < l.expires_at)
            .ok_or(SetPasswordError::LinkGone)?;
        password::check_policy(new_password, &link.login).map_err(SetPasswordError::Weak)?;
        let phc = password::hash(new_password).map_err(StoreError::Internal)?;
        let user = self
            .store
            .use_link(token, phc, now)
            .wait()
            .map_err(|e| match e {
                StoreError::NotFound(_) => SetPasswordError::LinkGone,
                e => SetPasswordError::Store(e),
            })?;
        let actor = Actor {
            name: user.login.clone(),
            org: Some(user.org.clone()),
            addr: addr.to_string(),
        };
        self.audit(
            &actor,
            "user.password_set",
            &user.login,
            serde_json::json!({"via": link.purpose}),
            now,
        )?;
        Ok(user)
    }

    /// A one-time link for a user, valid for the policy's time.
    pub fn issue_link(
        &self,
        login: &str,
        purpose: LinkPurpose,
        now: u64,
    ) -> Result<String, StoreError> {
        self.store
            .issue_link(
                login.to_string(),
                purpose,
                now,
                now + self.policy.link_ttl_secs,
            )
            .wait()
    }

    /// Appends an audit entry for `actor`, durable before it returns.
    pub fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
        now: u64,
    ) -> Result<u64, StoreError> {
        self.store
            .audit(actor.clone().entry(now, action, target, &[], detail))
            .wait()
    }
}

/// Why a password was not set.
#[derive(Debug, thiserror::Error)]
pub enum SetPasswordError {
    #[error("this link is unknown, already used or expired; ask for a new one")]
    LinkGone,
    #[error("password: {0}")]
    Weak(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn totp(secret: &str, login: &str) -> Option<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .ok()?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some("ofdd".into()),
        login.to_string(),
    )
    .ok()
}

/// Whether `code` is the current (or an adjacent) TOTP code of `secret` at `now`.
pub fn totp_matches(secret: &str, code: &str, login: &str, now: u64) -> bool {
    totp(secret, login).is_some_and(|t| t.check(code, now))
}

/// A new TOTP secret (base32) and its `otpauth://` URL for authenticator apps.
pub fn new_totp(login: &str) -> Option<(String, String)> {
    let secret = totp_rs::Secret::generate_secret().to_encoded().to_string();
    let url = totp(&secret, login)?.get_url();
    Some((secret, url))
}

/// The current code of a secret (for tests and for showing the enrolment worked).
pub fn totp_now(secret: &str, login: &str, now: u64) -> Option<String> {
    Some(totp(secret, login)?.generate(now))
}
