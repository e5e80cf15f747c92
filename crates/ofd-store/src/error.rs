//! `StoreError`: every way the store can fail, typed.
//!
//! The daemon maps these to log lines, HTTP statuses and exit codes, so each variant says what
//! happened and, for the operator-facing ones (open failures), what to do about it. RocksDB's own
//! errors are classified by kind: corruption is never folded into a generic I/O error.

use std::path::PathBuf;

use crate::keys::Rn;

/// The error type of every fallible store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should contain the database directory does not exist.
    #[error(
        "cannot open the store at {path}: the parent directory {parent} does not exist \
         (create it, or fix the --data path)"
    )]
    MissingParent { path: PathBuf, parent: PathBuf },

    /// The database directory does not exist and `create_if_missing` is off.
    #[error("cannot open the store at {path}: no database there and create_if_missing is off")]
    Missing { path: PathBuf },

    /// Another process (or another `Store` in this process) holds the RocksDB LOCK file.
    #[error(
        "cannot open the store at {path}: the directory is locked ({detail}); \
         is another ofdd running on this --data directory?"
    )]
    Locked { path: PathBuf, detail: String },

    /// RocksDB found the database files damaged while opening.
    #[error(
        "the store at {path} is corrupt ({detail}); run `ofdd store check --data {path}`, then \
         restore a backup or salvage it with `ofdd store repair --data {path} --out NEW_DIR` \
         (see deploy/README.md, \"When the disk fails\")"
    )]
    CorruptDatabase { path: PathBuf, detail: String },

    /// Any other failure while opening.
    #[error("cannot open the store at {path}: {detail}")]
    Open { path: PathBuf, detail: String },

    /// RocksDB reported corruption during a read or write after open.
    #[error("RocksDB corruption during {op}: {detail}")]
    Corruption { op: &'static str, detail: String },

    /// RocksDB reported an I/O or other failure during a read or write.
    #[error("RocksDB {op} failed: {source}")]
    Db {
        op: &'static str,
        #[source]
        source: rocksdb::Error,
    },

    /// A stored value does not parse: a bug or on-disk damage, never silently skipped.
    #[error("corrupt {what} in column family {cf} at key {key}: {reason}")]
    CorruptRecord {
        cf: &'static str,
        what: &'static str,
        key: String,
        reason: String,
    },

    /// The store is degraded (disk full, I/O errors, damage) and refuses writes until it has
    /// healed; the operation did not happen. Returned at once, without queueing.
    #[error("the store is unavailable ({reason}): {detail}")]
    Unavailable {
        reason: crate::health::DegradedReason,
        detail: String,
    },

    /// Cluster mode: the replicated registry cannot take the change now (no quorum, a
    /// timeout); the change did not happen on this node.
    #[error("the cluster's registry cannot take the change now: {0}")]
    Replication(String),

    /// Cluster mode, inside the store only: another node changed the registry first, so the
    /// change is computed again on the new state (`replica.rs`). Never returned to a caller.
    #[error("the cluster's registry moved on while the change was computed")]
    RegistryBehind,

    /// The store was closed (or its committer thread is gone); the operation did not happen.
    #[error("the store is closed")]
    Closed,

    /// A broken internal invariant (a bug); the operation did not happen.
    #[error("internal store error: {0}")]
    Internal(String),

    /// A key value given by the caller is malformed.
    #[error(transparent)]
    InvalidKey(#[from] crate::keys::KeyError),

    /// Input the caller passed is out of range (e.g. a body over 4 GiB, an empty cursor name).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// `register` on an RN that exists and is not deregistered.
    #[error("register {rn} already exists (status {status}); update it or deregister it first")]
    RegisterExists { rn: Rn, status: &'static str },

    /// An operation on an RN the registry does not know.
    #[error("register {rn} is not in the registry")]
    RegisterNotFound { rn: Rn },

    /// An operation on something else that does not exist (a Kazakh register's system ID, …),
    /// or that is outside the caller's scope (answered the same, so existence is not revealed).
    #[error("{0} not found")]
    NotFound(String),

    /// Creating something that exists already (an organisation's INN, a user's login).
    #[error("{0} already exists")]
    Exists(String),

    /// A change that would reach outside the caller's scope, by the field that would.
    #[error("{field}: {reason}")]
    OutOfScope { field: &'static str, reason: String },
}

impl StoreError {
    /// Classifies a RocksDB error from a read/write: corruption stays distinguishable.
    pub(crate) fn db(op: &'static str, source: rocksdb::Error) -> Self {
        if source.kind() == rocksdb::ErrorKind::Corruption {
            StoreError::Corruption {
                op,
                detail: source.into_string(),
            }
        } else {
            StoreError::Db { op, source }
        }
    }
}

impl StoreError {
    /// The health reason this error counts under, for a write-failure metric: `None` for
    /// errors that are not about the disk (bad input, a closed store, a missing register).
    pub fn degraded_reason(&self) -> Option<crate::health::DegradedReason> {
        use crate::health::DegradedReason;
        match self {
            StoreError::Unavailable { reason, .. } => Some(*reason),
            StoreError::Db { source, .. } => Some(DegradedReason::classify(source)),
            StoreError::Corruption { .. } | StoreError::CorruptRecord { .. } => {
                Some(DegradedReason::Corruption)
            }
            StoreError::Internal(_) => Some(DegradedReason::Other),
            _ => None,
        }
    }
}

/// Lower-case hex of a key, for error messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
