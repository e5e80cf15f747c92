//! `Store`: opening the database, the handle the daemon clones, and the queue to the committer.
//!
//! The top floor of the write path: it stands on the database handle (`db.rs`), the commands it
//! queues (`command.rs`) and the committer that runs them (`commit.rs`), none of which know it.
//! Every write is a `Command` sent to one committer thread (see `commit.rs`); reads go straight
//! to RocksDB from the calling thread. `Store` is a cheap `Clone` (an `Arc`); the database
//! closes when the last clone is dropped. `close()` stops the committer after it has answered
//! everything queued before the call.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::command::{Command, PutOutcome, Reply, fail_closed};
use crate::db::Shared;
use crate::error::StoreError;
use crate::future::{PutFuture, StoreFuture};
use crate::health::HealthState;
use crate::observer::{NoObserver, StoreObserver};
use crate::options::StoreOptions;
use crate::record::{NewDocument, RejectedMessage};

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
        let shared = Shared::open(&path, &opts, observer)?;
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
            fail_closed(cmd);
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
        // The bottom level is rewritten too: a file moved down whole would keep the compression
        // of the level it was written at, and documents an older release left in blob files
        // move into the tables only when compacted (`options.rs`).
        let mut full = rocksdb::CompactOptions::default();
        full.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        for name in crate::options::ALL_CFS {
            db.compact_range_cf_opt(db.cf(name)?, None::<&[u8]>, None::<&[u8]>, &full);
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
