//! `[accounts]`: people and integrators — sessions, sign-in throttling and lockout, one-time
//! links, and the SMTP relay that mails them.

use anyhow::ensure;
use ofd_store::accounts::auth::AuthPolicy;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Where people reach the portal; set-password links start with it, and an `https://` URL
    /// makes session cookies `Secure`.
    pub public_url: String,
    /// A session unused this long ends.
    pub session_idle_secs: u64,
    /// A session this old ends, used or not.
    pub session_absolute_secs: u64,
    /// Consecutive failed sign-ins that lock a user until an admin unlocks it.
    pub lock_after_failures: u32,
    /// Sign-in attempts allowed per login, and per remote address, in one window.
    pub attempts_per_login: u32,
    pub attempts_per_address: u32,
    pub attempt_window_secs: u64,
    /// How long a one-time set-password link works.
    pub link_ttl_secs: u64,
    /// Mail set-password links (and notifications) through this relay; without it the link is
    /// shown once to the admin who created the user.
    pub smtp: Option<SmtpConfig>,
}

/// `[accounts.smtp]`: a relay that takes plain SMTP (usually the machine's own MTA).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// The sender address, e.g. `"ОФД <noreply@ofd.example>"`.
    pub from: String,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

fn default_smtp_port() -> u16 {
    25
}

fn default_smtp_timeout() -> u64 {
    10
}

impl Default for AccountsConfig {
    fn default() -> Self {
        let p = AuthPolicy::default();
        AccountsConfig {
            public_url: "http://127.0.0.1:8080".into(),
            session_idle_secs: p.session_idle_secs,
            session_absolute_secs: p.session_absolute_secs,
            lock_after_failures: p.lock_after,
            attempts_per_login: p.per_login,
            attempts_per_address: p.per_addr,
            attempt_window_secs: p.window_secs,
            link_ttl_secs: p.link_ttl_secs,
            smtp: None,
        }
    }
}

impl AccountsConfig {
    pub fn policy(&self) -> AuthPolicy {
        AuthPolicy {
            session_idle_secs: self.session_idle_secs,
            session_absolute_secs: self.session_absolute_secs,
            lock_after: self.lock_after_failures,
            per_login: self.attempts_per_login,
            per_addr: self.attempts_per_address,
            window_secs: self.attempt_window_secs,
            link_ttl_secs: self.link_ttl_secs,
        }
    }

    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(
            self.public_url.starts_with("http://") || self.public_url.starts_with("https://"),
            "accounts.public_url must start with http:// or https://"
        );
        ensure!(
            self.session_idle_secs > 0,
            "accounts.session_idle_secs must be > 0"
        );
        ensure!(
            self.session_absolute_secs >= self.session_idle_secs,
            "accounts.session_absolute_secs must be at least accounts.session_idle_secs"
        );
        ensure!(
            self.lock_after_failures > 0,
            "accounts.lock_after_failures must be > 0"
        );
        ensure!(
            self.attempts_per_login > 0 && self.attempts_per_address > 0,
            "accounts.attempts_per_login and attempts_per_address must be > 0"
        );
        ensure!(
            self.attempt_window_secs > 0,
            "accounts.attempt_window_secs must be > 0"
        );
        ensure!(self.link_ttl_secs > 0, "accounts.link_ttl_secs must be > 0");
        if let Some(s) = &self.smtp {
            ensure!(!s.host.is_empty(), "accounts.smtp.host must not be empty");
            s.from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| anyhow::anyhow!("accounts.smtp.from {:?}: {e}", s.from))?;
        }
        Ok(())
    }
}
