//! What a register is: its record, status, connection, FN bindings and credential, and the
//! requests that create, change and bind it.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::keys::{FnNumber, Rn};

/// How the register reaches the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionType {
    Sim,
    Wired,
}

impl std::str::FromStr for ConnectionType {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "sim" => Ok(ConnectionType::Sim),
            "wired" => Ok(ConnectionType::Wired),
            other => Err(StoreError::InvalidInput(format!(
                "connection type must be `sim` or `wired`, got {other:?}"
            ))),
        }
    }
}

/// Lifecycle of a register in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KktStatus {
    /// Registered and served.
    Registered,
    /// Edited but not confirmed.
    Saved,
    /// Deregistered: kept for history, not counted in liveness.
    Deregistered,
}

impl KktStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KktStatus::Registered => "registered",
            KktStatus::Saved => "saved",
            KktStatus::Deregistered => "deregistered",
        }
    }
}

/// One FN a register has used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnBinding {
    pub fn_number: FnNumber,
    /// Unix seconds.
    pub bound_at: u64,
    /// Unix seconds when another FN replaced it; `None` for the current one.
    pub unbound_at: Option<u64>,
}

/// The public part of an admission credential (the secret is never stored in clear).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    pub system_id: String,
    pub issued_at: u64,
}

/// A register as the registry knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KktRecord {
    pub rn: Rn,
    pub kkt_serial: String,
    /// The FN currently installed, if known.
    pub fn_number: Option<FnNumber>,
    /// Every FN bound to this RN, oldest first (the current one included).
    #[serde(default)]
    pub fn_history: Vec<FnBinding>,
    pub user_inn: String,
    pub user_name: String,
    pub address: String,
    pub place: String,
    pub connection: ConnectionType,
    pub tariff: String,
    pub status: KktStatus,
    /// Tag 1056: the register encrypts its documents.
    pub encrypted: bool,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// When it last became `registered` (the registration-date filter uses this).
    pub registered_at: Option<u64>,
    pub deregistered_at: Option<u64>,
    pub credential: Option<CredentialInfo>,
}

/// What is persisted: the record plus the hashed secret.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    #[serde(flatten)]
    pub(crate) record: KktRecord,
    #[serde(default)]
    pub(crate) secret: Option<SecretHash>,
}

impl Stored {
    pub(crate) fn record(&self) -> &KktRecord {
        &self.record
    }
}

#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct SecretHash {
    pub(crate) salt: String,
    pub(crate) sha256: String,
}

/// A register to create with `Store::register`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKkt {
    pub rn: Rn,
    pub kkt_serial: String,
    pub fn_number: Option<FnNumber>,
    pub user_inn: String,
    pub user_name: String,
    pub address: String,
    pub place: String,
    pub connection: ConnectionType,
    pub tariff: String,
    /// `Registered` or `Saved` (a `Deregistered` request is an error).
    pub status: KktStatus,
    pub encrypted: bool,
}

/// Fields to change with `Store::update`; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KktPatch {
    pub kkt_serial: Option<String>,
    pub user_inn: Option<String>,
    pub user_name: Option<String>,
    pub address: Option<String>,
    pub place: Option<String>,
    pub connection: Option<ConnectionType>,
    pub tariff: Option<String>,
    pub status: Option<KktStatus>,
    pub encrypted: Option<bool>,
}

/// A freshly issued credential; `secret` is shown once and never stored in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub system_id: String,
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("system_id", &self.system_id)
            .finish_non_exhaustive()
    }
}

/// What `bind_fn` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindOutcome {
    /// The RN was new: a register was created in status `registered`.
    pub created: bool,
    /// The FN this register used before, when the binding moved.
    pub previous_fn: Option<FnNumber>,
    /// Another RN the FN was bound to before (should not happen with real drives).
    pub taken_from: Option<Rn>,
}

/// Registration data from a registration report (document 1 or 11), for `bind_fn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FnBindRequest {
    pub rn: Rn,
    pub fn_number: FnNumber,
    pub kkt_serial: String,
    pub user_inn: String,
    pub encrypted: bool,
    /// Unix seconds.
    pub time: u64,
}

/// Filter and paging for `Store::list_registers`. All conditions must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KktFilter {
    pub status: Option<KktStatus>,
    /// Case-insensitive substring of the user name.
    pub name_contains: Option<String>,
    /// RN starts with these digits.
    pub rn_prefix: Option<String>,
    pub connection: Option<ConnectionType>,
    /// `registered_at` within `[from, to]` (unix seconds, inclusive); registers never
    /// registered are excluded when either bound is set.
    pub registered_from: Option<u64>,
    pub registered_to: Option<u64>,
    /// Cursor: start after this RN (the `next` of the previous page).
    pub after: Option<Rn>,
    /// Page size (at most 10 000).
    pub limit: usize,
}

impl KktFilter {
    /// Whether a register passes every condition but the cursor and the RN prefix's seek.
    pub fn matches(&self, r: &KktRecord) -> bool {
        self.status.is_none_or(|s| s == r.status)
            && self.connection.is_none_or(|c| c == r.connection)
            && self
                .rn_prefix
                .as_ref()
                .is_none_or(|p| r.rn.as_str().starts_with(p.as_str()))
            && self
                .name_contains
                .as_ref()
                .is_none_or(|n| r.user_name.to_lowercase().contains(&n.to_lowercase()))
            && (self.registered_from.is_none() && self.registered_to.is_none()
                || r.registered_at.is_some_and(|t| {
                    self.registered_from.is_none_or(|f| t >= f)
                        && self.registered_to.is_none_or(|to| t <= to)
                }))
    }
}

impl Default for KktFilter {
    fn default() -> Self {
        KktFilter {
            status: None,
            name_contains: None,
            rn_prefix: None,
            connection: None,
            registered_from: None,
            registered_to: None,
            after: None,
            limit: 100,
        }
    }
}

/// One page of registers in RN order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KktPage {
    pub items: Vec<KktRecord>,
    /// Pass as `after` to get the next page; `None` when this was the last.
    pub next: Option<Rn>,
}
