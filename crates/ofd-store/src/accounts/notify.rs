//! Notifications to an organisation: its settings (who gets mail, the webhook and its secret,
//! after how many silent days a register is reported), and every event the notifier found —
//! recorded durably *before* it is delivered, keyed by what it is about, so each event is sent
//! once across restarts and retried until delivered.
//!
//! Keys: `N org` → settings; `V org \0 event` → [`Notification`]; `v org \0 event` → "" while it
//! still has a channel to deliver to (the retry queue).

use serde::{Deserialize, Serialize};

use super::{get, key, scan_keys};
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::store::Store;

/// How an organisation wants to hear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifySettings {
    /// Addresses mailed for every event (empty: no mail).
    #[serde(default)]
    pub emails: Vec<String>,
    /// JSON POSTed here for every event (empty: no webhook).
    #[serde(default)]
    pub webhook_url: String,
    /// HMAC-SHA256 key of the webhook's `X-Ofdd-Signature`.
    #[serde(default)]
    pub webhook_secret: String,
    /// A register silent this many days is reported (its circle is red by then).
    pub silent_days: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            emails: Vec::new(),
            webhook_url: String::new(),
            webhook_secret: String::new(),
            silent_days: 3,
        }
    }
}

/// One event, and how its delivery went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub org: String,
    /// What it is about, unique per organisation (`silent:<register>:<last document time>`…).
    pub event: String,
    /// `silent`, `key_expiry_30`, `key_expiry_3`, `kz_shift_open`.
    pub kind: String,
    pub register: String,
    /// A sentence for people.
    pub text: String,
    pub created_at: u64,
    #[serde(default)]
    pub email_sent_at: Option<u64>,
    #[serde(default)]
    pub webhook_sent_at: Option<u64>,
    /// Whether mail and the webhook are owed (set from the settings when found).
    #[serde(default)]
    pub wants_email: bool,
    #[serde(default)]
    pub wants_webhook: bool,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub next_attempt_at: u64,
    #[serde(default)]
    pub last_error: String,
}

impl Notification {
    /// Every channel it is owed on has taken it.
    pub fn delivered(&self) -> bool {
        (!self.wants_email || self.email_sent_at.is_some())
            && (!self.wants_webhook || self.webhook_sent_at.is_some())
    }
}

fn settings_key(org: &str) -> Vec<u8> {
    key(b'N', &[org.as_bytes()])
}

fn event_key(tag: u8, org: &str, event: &str) -> Vec<u8> {
    key(tag, &[org.as_bytes(), event.as_bytes()])
}

impl Store {
    pub fn notify_settings(&self, org: &str) -> Result<Option<NotifySettings>, StoreError> {
        get(&self.shared().db()?, &settings_key(org))
    }

    /// Callers check the caller may manage `org`'s accounts.
    pub fn set_notify_settings(
        &self,
        org: String,
        s: NotifySettings,
    ) -> StoreFuture<NotifySettings> {
        self.accounts_tx(move |tx| {
            tx.put(&settings_key(&org), &s)?;
            Ok(s)
        })
    }

    /// Every organisation that set up notifications.
    pub fn notify_orgs(&self) -> Result<Vec<(String, NotifySettings)>, StoreError> {
        let db = self.shared().db()?;
        let mut out = Vec::new();
        for (k, v) in scan_keys(&db, b"N", None, usize::MAX)? {
            let s: NotifySettings = super::decode(&v, "notification settings")?;
            out.push((String::from_utf8_lossy(&k).into_owned(), s));
        }
        Ok(out)
    }

    /// Records a newly found event; `false` (and nothing written) when it was recorded before.
    pub fn record_notification(&self, n: Notification) -> StoreFuture<bool> {
        self.accounts_tx(move |tx| {
            let k = event_key(b'V', &n.org, &n.event);
            if tx.get::<Notification>(&k)?.is_some() {
                return Ok(false);
            }
            tx.put(&k, &n)?;
            if !n.delivered() {
                tx.put_raw(&event_key(b'v', &n.org, &n.event), b"")?;
            }
            Ok(true)
        })
    }

    /// Stores a delivery attempt's outcome; a delivered event leaves the retry queue.
    pub fn update_notification(&self, n: Notification) -> StoreFuture<()> {
        self.accounts_tx(move |tx| {
            tx.put(&event_key(b'V', &n.org, &n.event), &n)?;
            let q = event_key(b'v', &n.org, &n.event);
            if n.delivered() {
                tx.delete(&q)?;
            } else {
                tx.put_raw(&q, b"")?;
            }
            Ok(())
        })
    }

    /// Events still owed to some channel (all organisations).
    pub fn pending_notifications(&self) -> Result<Vec<Notification>, StoreError> {
        let db = self.shared().db()?;
        let mut out = Vec::new();
        for (k, _) in scan_keys(&db, b"v", None, usize::MAX)? {
            let mut full = vec![b'V'];
            full.extend_from_slice(&k);
            if let Some(n) = get::<Notification>(&db, &full)? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// An organisation's events, newest first, at most `limit`.
    pub fn notifications_of(
        &self,
        org: &str,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let db = self.shared().db()?;
        let mut out: Vec<Notification> = Vec::new();
        for (_, v) in scan_keys(&db, &key(b'V', &[org.as_bytes(), b""]), None, usize::MAX)? {
            out.push(super::decode(&v, "notification")?);
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.event.cmp(&a.event)));
        out.truncate(limit);
        Ok(out)
    }
}
