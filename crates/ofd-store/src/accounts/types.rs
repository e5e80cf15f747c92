//! What the accounts are: organisations, users and their roles, API keys, sessions, one-time
//! links, partner links and audit entries. Stored as JSON (rare writes, human-inspectable,
//! forward-compatible through serde defaults); secrets only as SHA-256 or argon2id hashes.

use serde::{Deserialize, Serialize};

/// What an organisation is to the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    /// A taxpayer: owns registers.
    Taxpayer,
    /// A service partner (ЦТО): connects and serves its clients' registers while linked.
    Partner,
    /// The operator itself: its users are staff or support.
    Operator,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Taxpayer => "taxpayer",
            OrgKind::Partner => "partner",
            OrgKind::Operator => "operator",
        }
    }
}

/// An organisation, by INN (RU, 10 or 12 digits) or IIN/BIN (KZ, 12 digits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub inn: String,
    pub name: String,
    pub kind: OrgKind,
    /// Unix seconds.
    pub created_at: u64,
}

/// A user's role. `Admin`, `Manager` and `Viewer` belong to taxpayers and partners; `Staff` and
/// `Support` to the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the organisation's users, keys and partners, and everything on registers.
    Admin,
    /// Everything on registers.
    Manager,
    /// Reads.
    Viewer,
    /// The operator's staff: everything, for every organisation.
    Staff,
    /// The operator's support: reads everything, changes nothing.
    Support,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Viewer => "viewer",
            Role::Staff => "staff",
            Role::Support => "support",
        }
    }

    /// The operator's people (staff and support), who see every organisation.
    pub fn is_operator(self) -> bool {
        matches!(self, Role::Staff | Role::Support)
    }

    /// Whether this role may register, edit and deregister registers and issue their tokens.
    pub fn may_change_registers(self) -> bool {
        matches!(self, Role::Staff | Role::Admin | Role::Manager)
    }

    /// Whether an organisation of `kind` may have users with this role.
    pub fn fits(self, kind: OrgKind) -> bool {
        match self {
            Role::Admin | Role::Manager | Role::Viewer => kind != OrgKind::Operator,
            Role::Staff | Role::Support => kind == OrgKind::Operator,
        }
    }
}

/// A person who signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// E-mail address, lower case.
    pub login: String,
    pub name: String,
    /// The organisation's INN.
    pub org: String,
    pub role: Role,
    /// Limited to these points of sale (empty: all of the organisation's).
    #[serde(default)]
    pub places: Vec<String>,
    /// Limited to these registers, RNs or Kazakh system IDs (empty: all).
    #[serde(default)]
    pub registers: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Locked after repeated failed sign-ins, until an admin unlocks it.
    #[serde(default)]
    pub locked: bool,
    /// Consecutive failed sign-ins.
    #[serde(default)]
    pub failed_logins: u32,
    /// argon2id PHC string; `None` until the user sets a password from a one-time link.
    #[serde(default)]
    pub password: Option<String>,
    /// Base32 TOTP secret, when the second factor is on.
    #[serde(default)]
    pub totp: Option<String>,
    /// Bumped when the password changes or the user is disabled: sessions of an older epoch
    /// are over.
    #[serde(default)]
    pub session_epoch: u64,
    pub created_at: u64,
    #[serde(default)]
    pub last_login_at: Option<u64>,
}

impl User {
    /// The public view: no hashes.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }
}

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    Read,
    Write,
}

/// An organisation's API key (the secret itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public identifier, also inside the key text.
    pub id: String,
    pub org: String,
    pub scope: KeyScope,
    /// Limited to these registers (empty: all the organisation may reach).
    #[serde(default)]
    pub registers: Vec<String>,
    #[serde(default)]
    pub name: String,
    /// Who created it (login, or `root`).
    pub created_by: String,
    pub created_at: u64,
    #[serde(default)]
    pub revoked_at: Option<u64>,
    #[serde(default)]
    pub last_used_at: Option<u64>,
    /// SHA-256 of the secret part, hex.
    pub(crate) secret_sha256: String,
}

/// A signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub login: String,
    pub created_at: u64,
    pub last_seen: u64,
    /// The user's `session_epoch` when it started.
    pub epoch: u64,
    /// The token forms must echo (double-submit is not needed: it is bound to the session).
    pub csrf: String,
}

/// Why a one-time link was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkPurpose {
    /// A new user sets a first password.
    Invite,
    /// "Forgot password".
    Reset,
}

/// A one-time set-password link (stored by the SHA-256 of its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeLink {
    pub login: String,
    pub purpose: LinkPurpose,
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default)]
    pub used_at: Option<u64>,
}

/// Where a partner link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    /// Asked by one side, waiting for the other.
    Requested,
    /// In force: the partner acts on the taxpayer's registers.
    Active,
    /// Refused by the side that was asked.
    Declined,
    /// Ended by either side.
    Ended,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Requested => "requested",
            LinkStatus::Active => "active",
            LinkStatus::Declined => "declined",
            LinkStatus::Ended => "ended",
        }
    }
}

/// Which side of a partner link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Taxpayer,
    Partner,
    /// The operator's staff (links made at once).
    Operator,
}

/// A service partner's link to a taxpayer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerLink {
    pub taxpayer: String,
    pub partner: String,
    pub status: LinkStatus,
    /// Who asked.
    pub requested_by: Side,
    /// Who last changed it (declined or ended it), when not the asker.
    #[serde(default)]
    pub changed_by: Option<Side>,
    /// What the partner asked for ("serve", or connecting a register), free text.
    #[serde(default)]
    pub note: String,
    pub created_at: u64,
    pub updated_at: u64,
}

/// One audit entry: who did what, for which organisations, from where, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Assigned when appended.
    #[serde(default)]
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    /// `root`, a login, or `key:<id>`.
    pub actor: String,
    /// The actor's organisation, if any.
    #[serde(default)]
    pub actor_org: Option<String>,
    /// The organisations the change concerns (the entry is listed for each).
    #[serde(default)]
    pub orgs: Vec<String>,
    /// Remote address.
    #[serde(default)]
    pub addr: String,
    /// e.g. `register.create`, `user.role`, `login.failed`.
    pub action: String,
    /// What it was done to (an RN, a login, a key ID…).
    #[serde(default)]
    pub target: String,
    /// What changed.
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Which audit entries to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Prefix of the action (`register.` matches every register change).
    pub action: Option<String>,
    pub from: Option<u64>,
    pub to: Option<u64>,
    /// Start after this sequence number.
    pub after: Option<u64>,
    pub limit: usize,
}

impl AuditFilter {
    /// Whether `e` passes the actor, action and time filters (`after` and `limit` are paging).
    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|a| &e.actor == a)
            && self
                .action
                .as_ref()
                .is_none_or(|a| e.action.starts_with(a.as_str()))
            && self.from.is_none_or(|t| e.at >= t)
            && self.to.is_none_or(|t| e.at <= t)
    }
}
