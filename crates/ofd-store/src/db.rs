//! The database handle: one open RocksDB instance behind a swappable slot, and the state every
//! `Store` clone shares with the committer and the syncer.
//!
//! This is the floor the write path stands on. It knows how to open RocksDB with the store's
//! options (turning its failures into operator-readable errors), hands readers a `DbRef` that
//! keeps the instance open for the length of one operation, and lets the healer swap the
//! instance for a reopened one. It does not know about commands, batches or the public `Store`:
//! the committer and syncer (`commit.rs`, `sync.rs`) are built on it, and `Store` (`store.rs`) on
//! them, so the crate reads bottom-up — keys and records, this handle, the committer and
//! syncer, `Store`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rocksdb::{ColumnFamily, DB, WriteOptions};

use crate::error::StoreError;
use crate::health::{DegradedReason, Health, HealthEvent, HealthState};
use crate::keys::u64_from_be;
use crate::liveness::LivenessIndex;
use crate::observer::StoreObserver;
use crate::options::{CF_META, StoreOptions};

/// One open RocksDB instance, as readers hold it for the length of one operation (or one
/// iterator). The healer can only close the database after every such handle is gone, so a
/// reader never sees it closed under its feet; while it is being reopened, `Shared::db` answers
/// `Unavailable` instead of handing out a half-open database.
#[derive(Clone)]
pub(crate) struct DbRef(Arc<DB>);

impl std::ops::Deref for DbRef {
    type Target = DB;
    fn deref(&self) -> &DB {
        &self.0
    }
}

impl DbRef {
    pub(crate) fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.0
            .cf_handle(name)
            .ok_or_else(|| StoreError::Internal(format!("column family {name} missing")))
    }
}

/// State shared by every `Store` clone and the committer thread.
pub(crate) struct Shared {
    /// The open database; `None` only while the healer reopens it. Swapped only by the
    /// committer thread, which is also the only writer, so a batch is always built and written
    /// against the same instance.
    db: RwLock<Option<Arc<DB>>>,
    pub(crate) path: PathBuf,
    pub(crate) opts: StoreOptions,
    pub(crate) write_opts: WriteOptions,
    /// Writes made durable by a later sync: the committer's batches (the syncer syncs the WAL
    /// before any answer) and `write_unsynced`.
    pub(crate) unsynced_opts: WriteOptions,
    pub(crate) liveness: RwLock<LivenessIndex>,
    /// FN → register status, for per-message admission without a database read.
    pub(crate) admission: RwLock<crate::admission::AdmissionMap>,
    /// Last assigned outbox sequence number (0: none yet).
    pub(crate) outbox_head: AtomicU64,
    /// The store has documents in `docs`, written before the document log (`doc_log.rs`);
    /// found at open, and constant while open: nothing new is written there.
    pub(crate) legacy_docs: AtomicBool,
    pub(crate) observer: Arc<dyn StoreObserver>,
    pub(crate) health: Health,
    pub(crate) max_batch: usize,
    /// Whether commits fsync the WAL (`StoreOptions::sync`).
    pub(crate) sync: bool,
    /// Held while a Kazakh register's system ID is issued (`kz.rs`).
    pub(crate) kz_issue: Mutex<()>,
    /// Cluster mode: the registry's replicated log (`replica.rs`); unset, changes are local.
    pub(crate) registry_log: OnceLock<Arc<dyn crate::replica::RegistryLog>>,
}

impl Shared {
    /// The open database, or `Unavailable` while it is being reopened.
    pub(crate) fn db(&self) -> Result<DbRef, StoreError> {
        match &*self.db.read().unwrap_or_else(|p| p.into_inner()) {
            Some(db) => Ok(DbRef(db.clone())),
            None => Err(self.unavailable()),
        }
    }

    /// The error a write gets while degraded (or a read while the database is reopened).
    pub(crate) fn unavailable(&self) -> StoreError {
        match self.health.state() {
            HealthState::Degraded { reason, detail, .. } => {
                StoreError::Unavailable { reason, detail }
            }
            HealthState::Healthy => StoreError::Unavailable {
                reason: DegradedReason::Other,
                detail: "the database is being reopened".into(),
            },
        }
    }

    /// Takes the database out for a reopen: waits (up to `wait`) until no reader holds it, then
    /// closes it. Returns false (leaving it in place) if readers did not let go in time.
    pub(crate) fn close_db(&self, wait: std::time::Duration) -> bool {
        let Some(db) = self.db.write().unwrap_or_else(|p| p.into_inner()).take() else {
            return true;
        };
        let deadline = std::time::Instant::now() + wait;
        while Arc::strong_count(&db) > 1 {
            if std::time::Instant::now() > deadline {
                *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(db);
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(db);
        true
    }

    /// Installs a freshly opened database.
    pub(crate) fn install_db(&self, db: DB) {
        *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(db));
    }

    /// Whether reads must also look in `docs` (see `legacy_docs`).
    pub(crate) fn legacy_docs(&self) -> bool {
        self.legacy_docs.load(Ordering::Acquire)
    }

    /// A read found damaged data: the store stops taking writes (and `/readyz` says why) until
    /// an operator has checked it — corruption does not heal by itself.
    pub(crate) fn read_failed(&self, e: &rocksdb::Error) {
        if e.kind() == rocksdb::ErrorKind::Corruption {
            self.report(self.health.degrade(
                DegradedReason::Corruption,
                e.as_ref().to_owned(),
                false,
            ));
        }
    }

    /// Reports a health transition or reminder to the observer.
    pub(crate) fn report(&self, event: Option<HealthEvent>) {
        if let Some(e) = event {
            self.observer.on_health(&e);
        }
    }

    /// A synced write of a registry change (on the committer thread). A failure degrades the
    /// store just as a failed document batch does.
    pub(crate) fn write(&self, batch: rocksdb::WriteBatch) -> Result<(), StoreError> {
        self.write_with(batch, &self.write_opts)
    }

    /// A write without fsync, made durable by the next synced one: only for what a crash may
    /// lose without harm (a follower's position when nothing else moved).
    pub(crate) fn write_unsynced(&self, batch: rocksdb::WriteBatch) -> Result<(), StoreError> {
        self.write_with(batch, &self.unsynced_opts)
    }

    fn write_with(
        &self,
        batch: rocksdb::WriteBatch,
        opts: &WriteOptions,
    ) -> Result<(), StoreError> {
        self.db()?.write_opt(batch, opts).map_err(|e| {
            let reason = DegradedReason::classify(&e);
            self.report(self.health.degrade(reason, e.as_ref().to_owned(), true));
            StoreError::db("write", e)
        })
    }

    pub(crate) fn liveness_read(&self) -> RwLockReadGuard<'_, LivenessIndex> {
        // A panic while holding the lock cannot leave the index half-updated (updates are
        // single assignments), so a poisoned lock is still usable.
        self.liveness.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn liveness_write(&self) -> RwLockWriteGuard<'_, LivenessIndex> {
        self.liveness.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A document record read from `cf` (`doc_log` or `docs`) that does not decode.
    pub(crate) fn corrupt_doc(&self, cf: &'static str, key: &[u8], reason: String) -> StoreError {
        StoreError::CorruptRecord {
            cf,
            what: "document record",
            key: crate::error::hex(key),
            reason,
        }
    }

    pub(crate) fn meta_u64(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        let db = self.db()?;
        match db
            .get_pinned_cf(db.cf(CF_META)?, key)
            .map_err(|e| StoreError::db("meta get", e))?
        {
            Some(v) => u64_from_be(&v)
                .map(Some)
                .ok_or_else(|| StoreError::CorruptRecord {
                    cf: CF_META,
                    what: "counter",
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason: "not 8 bytes".into(),
                }),
            None => Ok(None),
        }
    }
}

impl Shared {
    /// Opens the database at `path` and the state around it; nothing is loaded into memory
    /// yet (`Shared::load_state`).
    pub(crate) fn open(
        path: &Path,
        opts: &StoreOptions,
        observer: Arc<dyn StoreObserver>,
    ) -> Result<Shared, StoreError> {
        let db = open_db(path, opts)?;
        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(opts.sync);
        let mut unsynced_opts = WriteOptions::default();
        unsynced_opts.set_sync(false);
        Ok(Shared {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_path_buf(),
            opts: opts.clone(),
            write_opts,
            unsynced_opts,
            liveness: RwLock::new(LivenessIndex::default()),
            admission: RwLock::new(crate::admission::AdmissionMap::default()),
            outbox_head: AtomicU64::new(0),
            legacy_docs: AtomicBool::new(true),
            observer,
            health: Health::new(),
            max_batch: opts.max_batch.clamp(1, 65_536),
            sync: opts.sync,
            kz_issue: Mutex::new(()),
            registry_log: OnceLock::new(),
        })
    }
}

/// Opens RocksDB, turning its failures into operator-readable errors.
pub(crate) fn open_db(path: &Path, opts: &StoreOptions) -> Result<DB, StoreError> {
    let parent = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => Path::new("/"),
    };
    if !parent.is_dir() {
        return Err(StoreError::MissingParent {
            path: path.to_path_buf(),
            parent: parent.to_path_buf(),
        });
    }
    if !opts.create_if_missing && !path.join("CURRENT").exists() {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    DB::open_cf_descriptors(&opts.db_options(), path, opts.column_families())
        .and_then(|db| crate::options::set_after_open(&db).map(|()| db))
        .map_err(|e| {
            let detail = e.clone().into_string();
            let path = path.to_path_buf();
            match e.kind() {
                rocksdb::ErrorKind::Corruption => StoreError::CorruptDatabase {
                    detail: with_log_hint(&path, detail),
                    path,
                },
                rocksdb::ErrorKind::IOError if detail.contains("LOCK") => {
                    StoreError::Locked { path, detail }
                }
                _ => StoreError::Open { path, detail },
            }
        })
}

/// RocksDB's open error for a damaged WAL says only "checksum mismatch"; its info log in the
/// data directory names the file. The last such lines are appended to the error.
pub(crate) fn with_log_hint(path: &Path, detail: String) -> String {
    let Ok(log) = std::fs::read_to_string(path.join("LOG")) else {
        return detail;
    };
    let hints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Corruption") || l.contains("dropping") || l.contains("corrupt"))
        .collect();
    match hints.last() {
        Some(line) => {
            let line = line.trim();
            let start = line.len().saturating_sub(300);
            let tail = line.get(start..).unwrap_or(line);
            format!("{detail}; RocksDB's LOG says: {tail}")
        }
        None => detail,
    }
}
