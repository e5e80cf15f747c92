//! The healer: the committer's once-a-second look at the store's health, and the way back from
//! `Degraded` without a restart.
//!
//! It runs on the committer thread (the only writer, and so the only code that may swap the
//! database under the writes), between batches and whenever the queue is idle for a second:
//! - healthy: poll RocksDB's `rocksdb.background-errors` counter; a rise (a failed flush or
//!   compaction) degrades the store;
//! - degraded: send the reminder once a minute; release the reserve file if the disk is full;
//!   once free space is back above the reserve (statvfs), reopen the database if the cause
//!   poisoned it (a failed WAL write or fsync — RocksDB 10.4's C API has no `Resume()`, and a
//!   failed log writer keeps its error), then make a synced probe write. Only when the probe
//!   is durable does the store turn healthy again; if it fails on the old instance, the healer
//!   reopens once more and retries.
//!
//! A reopen waits for the syncer to answer everything written to the old instance (those
//! callers get errors: nothing written to a poisoned instance is acknowledged), closes it once
//! no reader holds it (`Shared::close_db`), opens it again (RocksDB replays its WAL up to the
//! last intact record: everything acknowledged was synced, so it is all there), and rebuilds
//! what the committer keeps in memory (`Shared::load_state`). Readers meanwhile get
//! `Unavailable`, never a half-open database.
//!
//! The reserve file (`ofdd-reserve`, `StoreOptions::reserve_bytes`) is space set aside while all
//! is well and given back the moment the disk fills, so that recovery itself can write.

use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::commit::Committer;
use crate::error::StoreError;
use crate::health::DegradedReason;
use crate::options::CF_META;
use crate::sync::ToSync;

/// How often the healer looks.
pub(crate) const TICK: Duration = Duration::from_secs(1);
/// How often a degraded store reminds the observer (and so the log).
pub(crate) const REMINDER: Duration = Duration::from_secs(60);
/// How long a reopen waits for readers to let go of the old instance.
const READER_WAIT: Duration = Duration::from_secs(5);

/// The reserve file's name inside the data directory (RocksDB ignores names it does not own).
pub const RESERVE_FILE: &str = "ofdd-reserve";

const PROBE_KEY: &[u8] = b"health_probe";

/// Free bytes an unprivileged writer may use on `path`'s file system.
pub(crate) fn free_bytes(path: &Path) -> io::Result<u64> {
    disk_space(path).map(|(free, _)| free)
}

/// (free bytes for an unprivileged writer, total bytes) of `path`'s file system.
// `fsblkcnt_t` is u64 on some targets and u32 on others.
#[allow(clippy::useless_conversion)]
pub(crate) fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points at writable memory of the
    // right type; statvfs only writes into it and we read it only when it returned 0.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    let unit = u64::from(st.f_frsize);
    Ok((
        u64::from(st.f_bavail).saturating_mul(unit),
        u64::from(st.f_blocks).saturating_mul(unit),
    ))
}

/// Creates the reserve file at full size if it is missing or short. A failure (the disk is
/// already nearly full) leaves no partial file behind.
pub(crate) fn ensure_reserve(dir: &Path, bytes: u64) -> io::Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    let path = dir.join(RESERVE_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= bytes) {
        return Ok(());
    }
    let made = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&path)?;
        // Zeros written, not a sparse `set_len`: the blocks must really be taken.
        let chunk = vec![0u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
            f.write_all(chunk.get(..n).unwrap_or(&chunk))?;
            left -= n as u64;
        }
        f.sync_all()
    })();
    if made.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    made
}

/// Gives the reserve back to the file system. Returns whether there was one.
pub(crate) fn release_reserve(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(RESERVE_FILE)).is_ok()
}

/// Whether there is room to resume: `reserve` bytes free on top of recreating the reserve file.
fn space_back(dir: &Path, reserve: u64) -> bool {
    let present = std::fs::metadata(dir.join(RESERVE_FILE)).is_ok_and(|m| m.len() >= reserve);
    let needed = if present { reserve } else { reserve * 2 };
    free_bytes(dir).is_ok_and(|free| free >= needed.max(1 << 20))
}

impl Committer {
    /// Called between batches and when idle; does its work at most once per `TICK`.
    pub(crate) fn tick(&mut self, to_sync: &mpsc::Sender<ToSync>) {
        let now = Instant::now();
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        let shared = self.shared.clone();
        if shared.health.is_healthy() {
            self.reminder_at = None;
            self.check_background_errors();
            return;
        }
        let due = *self.reminder_at.get_or_insert(now + REMINDER);
        if now >= due {
            self.reminder_at = Some(now + REMINDER);
            shared.report(shared.health.reminder());
        }
        // Whoever degraded it (a write here, the syncer's fsync, a background error), the first
        // look comes a tick later: the cause rarely goes in a millisecond, and the degradation
        // stays visible (`/readyz` 503, the health gauge) for at least that long.
        if shared.health.degraded_for().is_some_and(|d| d < TICK) {
            return;
        }
        self.heal(to_sync);
    }

    /// The store just failed a write: degrade it (once) and, if the disk is full, hand the
    /// reserve back at once so RocksDB can finish what it started.
    pub(crate) fn degrade(&mut self, reason: DegradedReason, detail: String, poison: bool) {
        let shared = self.shared.clone();
        let event = shared.health.degrade(reason, detail, poison);
        if event.is_some() {
            // The first look comes a tick from now: the cause rarely goes in a millisecond.
            self.next_tick = Instant::now() + TICK;
        }
        if reason == DegradedReason::NoSpace {
            release_reserve(&shared.path);
        }
        shared.report(event);
    }

    fn check_background_errors(&mut self) {
        let Ok(db) = self.shared.db() else { return };
        let Ok(Some(n)) = db.property_int_value("rocksdb.background-errors") else {
            return;
        };
        drop(db);
        if n > self.background_errors {
            self.background_errors = n;
            // The counter says nothing about the error: a probe write does. If RocksDB has
            // stopped writes, it answers with the background error (classified from its
            // message); if it recovered by itself, nothing is degraded.
            if let Err(e) = self.probe() {
                let reason = e.degraded_reason().unwrap_or(DegradedReason::Other);
                self.degrade(
                    reason,
                    format!("RocksDB background error (flush or compaction): {e}"),
                    false,
                );
            }
        }
    }

    fn heal(&mut self, to_sync: &mpsc::Sender<ToSync>) {
        let shared = self.shared.clone();
        if shared.health.reason() == Some(DegradedReason::Corruption) {
            // Damaged data does not go away by itself: stay degraded until an operator has run
            // `ofdd store check` (and a repair or restore) and restarted.
            return;
        }
        let reserve = shared.opts.reserve_bytes;
        if !space_back(&shared.path, reserve) {
            // Still full: make sure the reserve is not what fills it.
            release_reserve(&shared.path);
            return;
        }
        let mut reopened = false;
        if shared.health.needs_reopen() || shared.db().is_err() {
            if !self.reopen(to_sync) {
                return;
            }
            reopened = true;
        }
        if let Err(e) = self.probe() {
            tracing::debug!(error = %e, "health probe failed");
            if reopened || !self.reopen(to_sync) {
                return;
            }
            reopened = true;
            if self.probe().is_err() {
                return;
            }
        }
        if let Err(e) = ensure_reserve(&shared.path, reserve) {
            tracing::debug!(error = %e, "cannot recreate the reserve file yet");
        }
        shared.report(shared.health.recover(reopened));
    }

    /// A synced write of one small key: the store is writable and durable again.
    fn probe(&self) -> Result<(), StoreError> {
        let db = self.shared.db()?;
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        db.put_cf_opt(db.cf(CF_META)?, PROBE_KEY, stamp.to_be_bytes(), &wo)
            .map_err(|e| StoreError::db("health probe", e))
    }

    /// Closes and reopens the database in-process (see the module doc). False if it could not
    /// be done now; the next tick tries again.
    fn reopen(&mut self, to_sync: &mpsc::Sender<ToSync>) -> bool {
        let shared = self.shared.clone();
        // Everything written to the old instance is answered (with errors) before it closes.
        let (tx, rx) = mpsc::channel();
        if to_sync.send(ToSync::Barrier(tx)).is_ok() {
            let _ = rx.recv();
        }
        if !shared.close_db(READER_WAIT) {
            tracing::debug!("reopen postponed: readers still hold the database");
            return false;
        }
        let db = match crate::store::open_db(&shared.path, &shared.opts) {
            Ok(db) => db,
            Err(e) => {
                tracing::debug!(error = %e, "reopening the store failed");
                return false;
            }
        };
        shared.install_db(db);
        match shared.load_state() {
            Ok(seqs) => self.set_seqs(seqs),
            Err(e) => {
                tracing::debug!(error = %e, "reloading state after reopen failed");
                shared.close_db(READER_WAIT);
                return false;
            }
        }
        self.background_errors = 0;
        tracing::debug!("store reopened");
        true
    }
}
