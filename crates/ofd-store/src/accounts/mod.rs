//! Accounts: organisations, users, API keys, sessions, one-time links, partner links and the
//! audit log, in CF `accounts` behind this one module (so cluster mode can replicate it the way
//! it replicates the register registry).
//!
//! Changes run on the committer thread one at a time, each in its own synced batch
//! (`AccountsOp`), so a read-modify-write (a failed sign-in counter, consuming a one-time link,
//! accepting a partner request) never races another and is durable before the caller hears
//! back. Reads go straight to RocksDB. Slow work — argon2 hashing — is done by the caller before
//! it submits (`password.rs`), never on the committer.
//!
//! | key | value |
//! |---|---|
//! | `O inn` | organisation |
//! | `U login` | user |
//! | `u inn 0 login` | (index: users of an organisation) |
//! | `K id` | API key (secret as SHA-256) |
//! | `k inn 0 id` | (index: keys of an organisation) |
//! | `S sha256(token)` | session |
//! | `L sha256(token)` | one-time set-password link |
//! | `P taxpayer 0 partner` | partner link |
//! | `p partner 0 taxpayer` | (index: a partner's links) |
//! | `A seq(u64 BE)` | audit entry |
//! | `a inn 0 seq(u64 BE)` | (index: an organisation's audit entries) |

mod audit;
pub mod auth;
mod notify;
mod partners;
pub mod password;
mod requests;
mod secrets;
mod tariffs;
mod types;

pub use notify::{Notification, NotifySettings};
pub use requests::{ConnectionRequest, NewConnectionRequest, RequestStatus};
pub use secrets::{ISSUED_KEY_PREFIX, IssuedKey, IssuedSession, parse_api_key};
pub use tariffs::Tariff;
pub use types::*;

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::command::{Command, Reply};
use crate::db::{DbRef, Shared};
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::options::CF_ACCOUNTS;
use crate::store::Store;

/// An accounts change, queued to the committer: given the shared state when the store can take
/// writes, or the reason it cannot.
type Job = Box<dyn FnOnce(Result<&Shared, StoreError>) + Send>;

pub(crate) struct AccountsOp(Job);

/// Key (without the scanned prefix) and value pairs.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

impl AccountsOp {
    pub(crate) fn run(self, shared: Result<&Shared, StoreError>) {
        (self.0)(shared)
    }
}

/// A change being built on the committer: reads see the database, writes go to one batch.
pub(crate) struct Tx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) db: DbRef,
    pub(crate) batch: WriteBatch,
}

impl Tx<'_> {
    pub(crate) fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        get(&self.db, key)
    }

    pub(crate) fn put<T: Serialize>(&mut self, key: &[u8], value: &T) -> Result<(), StoreError> {
        let v = serde_json::to_vec(value).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.batch.put_cf(self.db.cf(CF_ACCOUNTS)?, key, v);
        Ok(())
    }

    pub(crate) fn put_raw(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.batch.put_cf(self.db.cf(CF_ACCOUNTS)?, key, value);
        Ok(())
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.batch.delete_cf(self.db.cf(CF_ACCOUNTS)?, key);
        Ok(())
    }
}

/// `tag | part | 0 | part | 0 | … | last part` (parts are INNs, logins and IDs: no 0 bytes).
pub(crate) fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![tag];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

pub(crate) fn get<T: DeserializeOwned>(db: &DbRef, key: &[u8]) -> Result<Option<T>, StoreError> {
    let Some(v) = db
        .get_pinned_cf(db.cf(CF_ACCOUNTS)?, key)
        .map_err(|e| StoreError::db("accounts get", e))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&v)
        .map(Some)
        .map_err(|e| StoreError::CorruptRecord {
            cf: CF_ACCOUNTS,
            what: "account record",
            key: String::from_utf8_lossy(key).into_owned(),
            reason: e.to_string(),
        })
}

/// Keys (without the prefix) under `prefix`, after `after` (exclusive), at most `limit`.
pub(crate) fn scan_keys(
    db: &DbRef,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Entries, StoreError> {
    let cf = db.cf(CF_ACCOUNTS)?;
    let start = match after {
        Some(a) => {
            let mut k = prefix.to_vec();
            k.extend_from_slice(a);
            k.push(0);
            k
        }
        None => prefix.to_vec(),
    };
    let mut out = Vec::new();
    for item in db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
        let (k, v) = item.map_err(|e| StoreError::db("accounts scan", e))?;
        let Some(rest) = k.strip_prefix(prefix) else {
            break;
        };
        if out.len() >= limit {
            break;
        }
        out.push((rest.to_vec(), v.to_vec()));
    }
    Ok(out)
}

fn exists(what: &str) -> StoreError {
    StoreError::Exists(what.to_string())
}

fn not_found(what: impl Into<String>) -> StoreError {
    StoreError::NotFound(what.into())
}

/// Lower-cases and checks an e-mail login.
pub fn normalise_login(login: &str) -> Result<String, StoreError> {
    let l = login.trim().to_lowercase();
    let ok = l.len() <= 254
        && l.split_once('@').is_some_and(|(a, d)| {
            !a.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !l.bytes().any(|c| c.is_ascii_whitespace() || c == 0);
    if !ok {
        return Err(StoreError::InvalidInput(format!(
            "login must be an e-mail address, got {login:?}"
        )));
    }
    Ok(l)
}

/// A new user, as an admin or staff creates it (no password: a one-time link sets it).
#[derive(Clone, Debug)]
pub struct NewUser {
    pub login: String,
    pub name: String,
    pub org: String,
    pub role: Role,
    pub places: Vec<String>,
    pub registers: Vec<String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub places: Option<Vec<String>>,
    pub registers: Option<Vec<String>>,
}

impl Store {
    /// Runs `f` on the committer with a fresh batch, writes the batch synced, and answers. In
    /// cluster mode `f` may run more than once: again on the new state after another node's
    /// change was first (`replica.rs`), hence `Clone`.
    pub(crate) fn accounts_tx<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Clone + Send + 'static,
    ) -> StoreFuture<T> {
        self.submit(move |reply: Reply<T>| {
            Command::Accounts(AccountsOp(Box::new(move |shared| {
                let result = shared.and_then(|shared| {
                    shared.retrying(|| {
                        let mut tx = Tx {
                            shared,
                            db: shared.db()?,
                            batch: WriteBatch::default(),
                        };
                        let value = (f.clone())(&mut tx)?;
                        let Tx { shared, batch, .. } = tx;
                        if !batch.is_empty() {
                            shared.write_registry(batch)?;
                        }
                        Ok(value)
                    })
                });
                reply.send(result)
            })))
        })
    }

    // ---- organisations ----

    /// Creates an organisation; `Exists` if its INN is taken.
    pub fn create_org(&self, org: Org) -> StoreFuture<Org> {
        self.accounts_tx(move |tx| {
            let k = key(b'O', &[org.inn.as_bytes()]);
            if tx.get::<Org>(&k)?.is_some() {
                return Err(exists(&format!("organisation {}", org.inn)));
            }
            tx.put(&k, &org)?;
            Ok(org)
        })
    }

    pub fn get_org(&self, inn: &str) -> Result<Option<Org>, StoreError> {
        get(&self.shared().db()?, &key(b'O', &[inn.as_bytes()]))
    }

    /// Organisations in INN order after `after`, at most `limit`.
    pub fn list_orgs(&self, after: Option<&str>, limit: usize) -> Result<Vec<Org>, StoreError> {
        let db = self.shared().db()?;
        scan_keys(&db, b"O", after.map(str::as_bytes), limit)?
            .into_iter()
            .map(|(_, v)| decode(&v, "organisation"))
            .collect()
    }

    // ---- users ----

    /// Creates a user of an existing organisation, with a role that fits its kind.
    pub fn create_user(&self, u: NewUser, now: u64) -> StoreFuture<User> {
        self.accounts_tx(move |tx| {
            let login = normalise_login(&u.login)?;
            let org: Org = tx
                .get(&key(b'O', &[u.org.as_bytes()]))?
                .ok_or_else(|| not_found(format!("organisation {}", u.org)))?;
            if !u.role.fits(org.kind) {
                return Err(StoreError::InvalidInput(format!(
                    "role {} does not fit a {} organisation",
                    u.role.as_str(),
                    org.kind.as_str()
                )));
            }
            let k = key(b'U', &[login.as_bytes()]);
            if tx.get::<User>(&k)?.is_some() {
                return Err(exists(&format!("user {login}")));
            }
            let user = User {
                login: login.clone(),
                name: u.name,
                org: org.inn.clone(),
                role: u.role,
                places: u.places,
                registers: u.registers,
                disabled: false,
                locked: false,
                failed_logins: 0,
                password: None,
                totp: None,
                session_epoch: 0,
                created_at: now,
                last_login_at: None,
            };
            tx.put(&k, &user)?;
            tx.put_raw(&key(b'u', &[org.inn.as_bytes(), login.as_bytes()]), b"")?;
            Ok(user)
        })
    }

    pub fn get_user(&self, login: &str) -> Result<Option<User>, StoreError> {
        let Ok(login) = normalise_login(login) else {
            return Ok(None);
        };
        get(&self.shared().db()?, &key(b'U', &[login.as_bytes()]))
    }

    /// An organisation's users in login order.
    pub fn users_of(&self, inn: &str) -> Result<Vec<User>, StoreError> {
        let db = self.shared().db()?;
        let prefix = key(b'u', &[inn.as_bytes(), b""]);
        let mut out = Vec::new();
        for (login, _) in scan_keys(&db, &prefix, None, usize::MAX)? {
            if let Some(u) = get::<User>(&db, &key(b'U', &[&login]))? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Changes a user. Disabling ends every session of the user.
    pub fn update_user(&self, login: String, p: UserPatch) -> StoreFuture<User> {
        self.with_user(login, move |_, u| {
            if let Some(n) = p.name {
                u.name = n;
            }
            if let Some(r) = p.role {
                u.role = r;
            }
            if let Some(pl) = p.places {
                u.places = pl;
            }
            if let Some(r) = p.registers {
                u.registers = r;
            }
            if let Some(d) = p.disabled {
                if d && !u.disabled {
                    u.session_epoch += 1;
                }
                u.disabled = d;
            }
            Ok(())
        })
    }

    /// Sets a new password hash (`password::hash`): unlocks the user and ends its sessions.
    pub fn set_password_hash(&self, login: String, phc: String) -> StoreFuture<User> {
        self.with_user(login, move |_, u| {
            u.password = Some(phc);
            u.session_epoch += 1;
            u.failed_logins = 0;
            u.locked = false;
            Ok(())
        })
    }

    /// Counts a failed sign-in; locks the user at `lock_after` consecutive failures. Returns the
    /// user as it now is.
    pub fn login_failed(&self, login: String, lock_after: u32) -> StoreFuture<User> {
        self.with_user(login, move |_, u| {
            u.failed_logins = u.failed_logins.saturating_add(1);
            if u.failed_logins >= lock_after {
                u.locked = true;
            }
            Ok(())
        })
    }

    /// Records a successful sign-in.
    pub fn login_succeeded(&self, login: String, now: u64) -> StoreFuture<User> {
        self.with_user(login, move |_, u| {
            u.failed_logins = 0;
            u.last_login_at = Some(now);
            Ok(())
        })
    }

    /// Lifts a lockout.
    pub fn unlock_user(&self, login: String) -> StoreFuture<User> {
        self.with_user(login, |_, u| {
            u.locked = false;
            u.failed_logins = 0;
            Ok(())
        })
    }

    /// Turns the TOTP second factor on (with its base32 secret) or off.
    pub fn set_totp(&self, login: String, secret: Option<String>) -> StoreFuture<User> {
        self.with_user(login, move |_, u| {
            u.totp = secret;
            Ok(())
        })
    }

    fn with_user(
        &self,
        login: String,
        f: impl FnOnce(&mut Tx<'_>, &mut User) -> Result<(), StoreError> + Clone + Send + 'static,
    ) -> StoreFuture<User> {
        self.accounts_tx(move |tx| {
            let login = normalise_login(&login)?;
            let k = key(b'U', &[login.as_bytes()]);
            let mut u: User = tx
                .get(&k)?
                .ok_or_else(|| not_found(format!("user {login}")))?;
            f(tx, &mut u)?;
            tx.put(&k, &u)?;
            Ok(u)
        })
    }
}

pub(crate) fn decode<T: DeserializeOwned>(v: &[u8], what: &'static str) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::CorruptRecord {
        cf: CF_ACCOUNTS,
        what,
        key: String::new(),
        reason: e.to_string(),
    })
}
