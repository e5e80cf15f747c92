//! The operator's web portal ("личный кабинет"): server-rendered pages for the people who use
//! an OFD — taxpayers and service partners watching and registering their cash registers and
//! reading their receipts, the operator's staff, and buyers checking a receipt by its QR code.
//!
//! **Owns:** the pages and their templates ([`maud`], checked at compile time) and the table
//! of its routes ([`routes`], which the tests walk as every kind of user), the portal's side of
//! sessions (cookie → user → scope, CSRF tokens in every form), Russian and English text, the
//! downloads (CSV, and Excel workbooks through `rust_xlsxwriter`), the public receipt checks
//! (Russian and Kazakh) and their per-address limit, the embedded stylesheet.
//!
//! **Must not:**
//! - open sockets or run its own server: the daemon serves [`router`] on its `portal_listen`
//!   listener, with the same limits, timeouts, metrics and shutdown as its other listeners;
//! - ingest anything or know the wire protocols beyond rendering a stored document;
//! - filter tenant data itself: every register, document and count a page shows comes from
//!   [`ofd_store::Scoped`], made from the signed-in user's scope by `Store::scope_of` — the same
//!   code the JSON API uses — so another tenant's object is a 404 here exactly as there. The
//!   accounts pages (users, keys, partners, notifications, statement, audit log) act on one
//!   organisation, and which one a user may read or change is decided in one place
//!   (`pages/organisation.rs`: `org_to_read`, `org_of`), the rule of the API's
//!   `require_org_admin`;
//! - keep a sign-in policy of its own: passwords, throttling, lockout, TOTP and sessions are
//!   [`ofd_store::accounts::auth::Authenticator`]'s.
//!
//! What only the daemon can do (send mail, change a Kazakh register's state under its lock,
//! read the clock that tests shift, decode a logged Kazakh exchange with the protocol crate)
//! comes in through [`Services`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ofd_store::Store;
use ofd_store::accounts::LinkPurpose;
use ofd_store::accounts::auth::Authenticator;

mod error;
mod format;
mod i18n;
mod kz_ticket;
mod layout;
mod pages;
mod receipt;
mod session;
mod throttle;
mod workbook;

pub use error::PageError;
pub use i18n::Lang;
pub use kz_ticket::{KzExchange, KzItem, KzOperation, KzPayment, KzShiftSums, KzTicket};
pub use pages::{PageRoute, router, routes};
pub use session::{SESSION_COOKIE, cookie, peer_addr};

/// A boxed future, for the [`Services`] the daemon provides.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the portal needs from the daemon.
pub trait Services: Send + Sync + 'static {
    /// Unix seconds (the daemon's clock, which tests may shift).
    fn now(&self) -> u64;

    /// Mails a one-time link. `Ok(false)` when no SMTP server is configured.
    fn mail_link<'a>(
        &'a self,
        to: &'a str,
        url: &'a str,
        purpose: LinkPurpose,
    ) -> BoxFuture<'a, Result<bool, String>>;

    /// A Kazakh register's card, when it is in `scoped`.
    fn kz_card(
        &self,
        scoped: &ofd_store::Scoped<'_>,
        system_id: u32,
    ) -> Result<Option<KzCard>, String>;

    /// A new token for a Kazakh register in `scoped` (`Ok(None)`: not in scope). Durable
    /// before it returns.
    fn kz_issue_token<'a>(
        &'a self,
        scoped: &'a ofd_store::Scoped<'a>,
        system_id: u32,
    ) -> BoxFuture<'a, Result<Option<u32>, String>>;

    /// The accepted ticket numbered `ticket_number` on the register registered as
    /// `registration_number` (RNM), decoded from its logged request: for the public check, so
    /// in no tenant's scope. A point read of the store's ticket index, never a scan.
    fn kz_ticket(
        &self,
        registration_number: &str,
        ticket_number: u64,
    ) -> Result<Option<KzTicket>, String>;

    /// What one logged exchange means to the shift reports, decoded from its bytes.
    fn kz_exchange(&self, entry: &ofd_store::KzLogEntry) -> KzExchange;
}

/// What a Kazakh register's card shows.
#[derive(Clone, Debug, Default)]
pub struct KzCard {
    pub system_id: u32,
    pub org_inn: String,
    pub org_name: String,
    pub address: String,
    pub serial: String,
    pub status: String,
    pub next_ticket_number: u64,
    pub shift_open: Option<u32>,
    pub last_shift_number: u32,
}

/// The portal's settings (from the daemon's configuration).
#[derive(Clone, Debug)]
pub struct PortalConfig {
    /// Where people reach the portal (links in mail, `Secure` cookies when https).
    pub public_url: String,
    /// A register silent this long turns yellow.
    pub yellow_after_secs: u64,
    /// … and this long, red.
    pub red_after_secs: u64,
    /// Lifetime of the session cookie.
    pub session_absolute_secs: u64,
    /// Public receipt checks per address per minute.
    pub checks_per_minute: u32,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            public_url: "http://127.0.0.1:8080".into(),
            yellow_after_secs: 86_400,
            red_after_secs: 3 * 86_400,
            session_absolute_secs: 12 * 3600,
            checks_per_minute: 30,
        }
    }
}

/// Everything a page handler reaches.
pub struct Portal {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub config: PortalConfig,
    pub services: Arc<dyn Services>,
    checks: throttle::PerAddress,
}

impl Portal {
    pub fn new(
        store: Store,
        auth: Arc<Authenticator>,
        config: PortalConfig,
        services: Arc<dyn Services>,
    ) -> Arc<Portal> {
        let checks = throttle::PerAddress::new(config.checks_per_minute, 60);
        Arc::new(Portal {
            store,
            auth,
            config,
            services,
            checks,
        })
    }

    fn now(&self) -> u64 {
        self.services.now()
    }

    fn secure_cookies(&self) -> bool {
        self.config.public_url.starts_with("https://")
    }
}
