//! `Store`: opening the database, the handle the daemon clones, and the queue to the committer.
//!
//! Every write is a `Command` sent to one committer thread (see `commit.rs`); reads go straight
//! to RocksDB from the calling thread. `Store` is a cheap `Clone` (an `Arc`); the database
//! closes when the last clone is dropped. `close()` stops the committer after it has answered
//! everything queued before the call.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};
use std::thread::JoinHandle;

use rocksdb::{ColumnFamily, DB, WriteOptions};
use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::future::{PutFuture, StoreFuture};
use crate::health::{DegradedReason, Health, HealthEvent, HealthState};
use crate::keys::{LiveKey, u64_from_be};
use crate::liveness::{LivenessIndex, LivenessRecord};
use crate::observer::{NoObserver, StoreObserver};
use crate::options::{CF_LIVENESS, CF_META, CF_OUTBOX, CF_REJECTED, StoreOptions};
use crate::record::{NewDocument, RejectedMessage};
use crate::registry::RegistryOp;

/// Where a committed command's result goes.
pub(crate) struct Reply<T>(oneshot::Sender<Result<T, StoreError>>);

impl<T> Reply<T> {
    pub(crate) fn send(self, r: Result<T, StoreError>) {
        // The caller may have stopped waiting (dropped the future); the write stands anyway.
        let _ = self.0.send(r);
    }
}

/// A unit of work for the committer.
pub(crate) enum Command {
    Doc(Box<NewDocument>, Reply<crate::PutOutcome>),
    Rejected(Box<RejectedMessage>, Reply<u64>),
    Kz(Box<crate::kz::KzWrite>, Reply<crate::kz::KzCommitted>),
    Registry(RegistryOp),
    /// An accounts change (`accounts/`), run alone on the committer thread with its own synced
    /// batch, like a registry mutation; given the error instead when the store cannot write.
    Accounts(crate::accounts::AccountsOp),
    Shutdown,
}

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
    pub(crate) liveness: RwLock<LivenessIndex>,
    /// FN → register status, for per-message admission without a database read.
    pub(crate) admission: RwLock<crate::admission::AdmissionMap>,
    /// Last assigned outbox sequence number (0: none yet).
    pub(crate) outbox_head: AtomicU64,
    pub(crate) observer: Arc<dyn StoreObserver>,
    pub(crate) health: Health,
    pub(crate) max_batch: usize,
    /// Whether commits fsync the WAL (`StoreOptions::sync`).
    pub(crate) sync: bool,
    /// Held while a Kazakh register's system ID is issued (`kz.rs`).
    pub(crate) kz_issue: Mutex<()>,
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
        self.db()?.write_opt(batch, &self.write_opts).map_err(|e| {
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

    pub(crate) fn corrupt_doc(&self, key: &[u8], reason: String) -> StoreError {
        StoreError::CorruptRecord {
            cf: crate::options::CF_DOCS,
            what: "document record",
            key: crate::error::hex(key),
            reason,
        }
    }

    /// Rebuilds everything kept in memory from the open database — the sequence counters, the
    /// outbox head, the liveness index and the admission map — at open and after a reopen
    /// (when batches written but never made durable may have vanished with the old instance).
    pub(crate) fn load_state(&self) -> Result<Seqs, StoreError> {
        let outbox_next = self.next_seq(CF_OUTBOX)?;
        self.outbox_head.store(outbox_next - 1, Ordering::Release);
        let seqs = Seqs {
            outbox_next,
            rejected_next: self.next_seq(CF_REJECTED)?,
            conflict_next: self
                .meta_u64(crate::commit::META_CONFLICT_SEQ)?
                .unwrap_or(1),
        };
        load_liveness(self)?;
        self.load_admission()?;
        Ok(seqs)
    }

    /// The key after the last one in `cf`, read as a big-endian u64 (1 when empty).
    fn next_seq(&self, cf: &'static str) -> Result<u64, StoreError> {
        let db = self.db()?;
        let mut it = db.raw_iterator_cf(db.cf(cf)?);
        it.seek_to_last();
        let last = match it.key() {
            Some(k) => u64_from_be(k).ok_or_else(|| StoreError::CorruptRecord {
                cf,
                what: "sequence key",
                key: crate::error::hex(k),
                reason: "not 8 bytes".into(),
            })?,
            None => 0,
        };
        it.status().map_err(|e| StoreError::db("seek_to_last", e))?;
        Ok(last + 1)
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

/// The committer's next sequence numbers, derived from the database.
pub(crate) struct Seqs {
    pub(crate) outbox_next: u64,
    pub(crate) rejected_next: u64,
    pub(crate) conflict_next: u64,
}

struct Inner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    committer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        stop(&self.tx, &self.committer);
    }
}

fn stop(tx: &mpsc::Sender<Command>, committer: &Mutex<Option<JoinHandle<()>>>) {
    let handle = committer.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(h) = handle {
        let _ = tx.send(Command::Shutdown);
        if h.join().is_err() {
            tracing::error!("ofd-store committer thread panicked");
        }
    }
}

/// The handle to an open store. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.shared.path)
            .finish_non_exhaustive()
    }
}

/// What a `put` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Newly stored and synced. `outbox_seq` is its export sequence number (`None` for an
    /// outcome that is not exported: a rejection).
    Stored { outbox_seq: Option<u64> },
    /// This (FN, FD) is already stored with the same raw bytes: answer with `ack`, the very
    /// bytes stored with it.
    Duplicate { ack: bytes::Bytes },
    /// This (FN, FD) is stored with different raw bytes. Nothing was overwritten; the new bytes
    /// are kept in the `conflicts` column family under `conflict_seq`.
    Conflict { conflict_seq: u64 },
}

impl Store {
    /// Opens (or creates) the store at `path`, with no observer.
    pub fn open(path: impl AsRef<Path>, opts: StoreOptions) -> Result<Store, StoreError> {
        Store::open_with_observer(path, opts, Arc::new(NoObserver))
    }

    /// Opens the store and reports every commit to `observer`.
    pub fn open_with_observer(
        path: impl AsRef<Path>,
        opts: StoreOptions,
        observer: Arc<dyn StoreObserver>,
    ) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = open_db(&path, &opts)?;
        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(opts.sync);
        let shared = Shared {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.clone(),
            opts: opts.clone(),
            write_opts,
            liveness: RwLock::new(LivenessIndex::default()),
            admission: RwLock::new(crate::admission::AdmissionMap::default()),
            outbox_head: AtomicU64::new(0),
            observer,
            health: Health::new(),
            max_batch: opts.max_batch.clamp(1, 65_536),
            sync: opts.sync,
            kz_issue: Mutex::new(()),
        };
        let seqs = shared.load_state()?;
        shared.migrate_owners()?;
        let total = crate::heal::disk_space(&path).map_or(0, |(_, total)| total);
        let reserve = crate::heal::effective_reserve(opts.reserve_bytes, total);
        if reserve < opts.reserve_bytes {
            tracing::warn!(
                configured = opts.reserve_bytes,
                reserve,
                file_system = total,
                "reserve capped at {} (1/{} of this {} file system) instead of the configured {}, so that a small volume can heal",
                crate::health::human_bytes(reserve),
                crate::heal::RESERVE_SHARE,
                crate::health::human_bytes(total),
                crate::health::human_bytes(opts.reserve_bytes),
            );
        }
        if let Err(e) = crate::heal::ensure_reserve(&path, reserve) {
            tracing::warn!(error = %e, bytes = reserve, "cannot create the reserve file (is the disk nearly full?)");
        }
        let shared = Arc::new(shared);
        let (tx, rx) = mpsc::channel();
        let committer = crate::commit::Committer::new(shared.clone(), seqs);
        let handle = std::thread::Builder::new()
            .name("ofd-store-commit".into())
            .spawn(move || committer.run(rx))
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                detail: format!("cannot start committer: {e}"),
            })?;
        tracing::info!(path = %path.display(), "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                tx,
                committer: Mutex::new(Some(handle)),
                closed: AtomicBool::new(false),
            }),
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    pub(crate) fn submit<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> StoreFuture<T> {
        let (tx, rx) = oneshot::channel();
        if self.inner.closed.load(Ordering::Acquire) {
            let _ = tx.send(Err(StoreError::Closed));
        } else if let Err(mpsc::SendError(cmd)) = self.inner.tx.send(make(Reply(tx))) {
            // The committer is gone; the command (with its reply) comes back here.
            fail(cmd);
        }
        StoreFuture::new(rx)
    }

    /// `submit` for a write that must not queue while the store is degraded: one atomic load
    /// on the hot path, and an immediate `Unavailable` instead of a wait when it fails.
    pub(crate) fn submit_write<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> StoreFuture<T> {
        if self.inner.shared.health.is_healthy() {
            return self.submit(make);
        }
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Err(self.inner.shared.unavailable()));
        StoreFuture::new(rx)
    }

    /// Stores a document durably. Resolves after the batch holding it is synced; at once with
    /// `StoreError::Unavailable` while the store is degraded.
    pub fn put(&self, doc: NewDocument) -> PutFuture {
        self.submit_write(|r| Command::Doc(Box::new(doc), r))
    }

    /// Whether the store accepts writes now (one atomic load).
    pub fn is_healthy(&self) -> bool {
        self.inner.shared.health.is_healthy()
    }

    /// Healthy, or degraded with its reason, start and first error.
    pub fn health(&self) -> HealthState {
        self.inner.shared.health.state()
    }

    /// (free, total) bytes of the data directory's file system (statvfs; free as an
    /// unprivileged process may use it).
    pub fn disk_space(&self) -> Result<(u64, u64), StoreError> {
        let path = &self.inner.shared.path;
        crate::heal::disk_space(path)
            .map_err(|e| StoreError::Internal(format!("statvfs {}: {e}", path.display())))
    }

    /// `put`, blocking the calling thread until the outcome is durable.
    pub fn put_blocking(&self, doc: NewDocument) -> Result<PutOutcome, StoreError> {
        self.put(doc).wait()
    }

    /// Keeps a message that failed validation, for audit. Resolves to its sequence number.
    pub fn put_rejected(&self, msg: RejectedMessage) -> StoreFuture<u64> {
        self.submit_write(|r| Command::Rejected(Box::new(msg), r))
    }

    /// `put_rejected`, blocking.
    pub fn put_rejected_blocking(&self, msg: RejectedMessage) -> Result<u64, StoreError> {
        self.put_rejected(msg).wait()
    }

    /// Stops accepting writes, answers everything queued before, and joins the committer.
    /// Later writes fail with `StoreError::Closed`; reads keep working until the last clone is
    /// dropped, which closes RocksDB.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        stop(&self.inner.tx, &self.inner.committer);
    }

    /// Flushes memtables to SST files (not needed for durability: the WAL is synced).
    pub fn flush(&self) -> Result<(), StoreError> {
        let db = self.shared().db()?;
        db.flush_wal(true)
            .map_err(|e| StoreError::db("flush_wal", e))?;
        for name in crate::options::ALL_CFS {
            db.flush_cf(db.cf(name)?)
                .map_err(|e| StoreError::db("flush", e))?;
        }
        Ok(())
    }

    /// Compacts every column family fully (benchmarks, maintenance).
    pub fn compact(&self) -> Result<(), StoreError> {
        self.flush()?;
        let db = self.shared().db()?;
        for name in crate::options::ALL_CFS {
            db.compact_range_cf(db.cf(name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Bytes of table and blob files across all column families (documents live in blob
    /// files since BlobDB was enabled for `docs`, so SST size alone undercounts them).
    pub fn disk_bytes(&self) -> Result<u64, StoreError> {
        let db = self.shared().db()?;
        let mut total = 0;
        for name in crate::options::ALL_CFS {
            let cf = db.cf(name)?;
            for prop in [
                "rocksdb.total-sst-files-size",
                "rocksdb.total-blob-file-size",
            ] {
                total += db
                    .property_int_value_cf(cf, prop)
                    .map_err(|e| StoreError::db("property", e))?
                    .unwrap_or(0);
            }
        }
        Ok(total)
    }
}

fn fail(cmd: Command) {
    match cmd {
        Command::Doc(_, r) => r.send(Err(StoreError::Closed)),
        Command::Rejected(_, r) => r.send(Err(StoreError::Closed)),
        Command::Kz(_, r) => r.send(Err(StoreError::Closed)),
        Command::Registry(op) => op.fail(|| StoreError::Closed),
        Command::Accounts(op) => op.run(Err(StoreError::Closed)),
        Command::Shutdown => {}
    }
}

pub(crate) fn fail_closed(cmd: Command) {
    fail(cmd)
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
    DB::open_cf_descriptors(&opts.db_options(), path, opts.column_families()).map_err(|e| {
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

fn load_liveness(shared: &Shared) -> Result<(), StoreError> {
    let db = shared.db()?;
    let mut fresh = LivenessIndex::default();
    let idx = &mut fresh;
    let mut it = db.raw_iterator_cf(db.cf(CF_LIVENESS)?);
    it.seek_to_first();
    while let Some((k, v)) = it.item() {
        let bad = |reason: &str| StoreError::CorruptRecord {
            cf: CF_LIVENESS,
            what: "liveness record",
            key: crate::error::hex(k),
            reason: reason.to_owned(),
        };
        let key = LiveKey::decode(k).ok_or_else(|| bad("bad key"))?;
        let rec = LivenessRecord::decode(v).ok_or_else(|| bad("bad value"))?;
        idx.set(key, rec);
        it.next();
    }
    it.status()
        .map_err(|e| StoreError::db("liveness load", e))?;
    drop(it);
    *shared.liveness_write() = fresh;
    Ok(())
}
