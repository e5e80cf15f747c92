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
//! is well and given back the moment the disk fills, so that recovery itself can write. It is
//! capped at 1/[`RESERVE_SHARE`] of the file system ([`effective_reserve`], recomputed every
//! look, so a grown volume gets its full reserve back): a 64 MiB reserve cannot be made on a
//! 24 MiB volume, and resuming without it would want 128 MiB free, more than that volume grown to
//! 128 MiB ever has. What the healer waits for is kept in the health cell ([`HealWait`]):
//! `/readyz`, the reminder and a metric say it ("waiting for 32 MiB free, 20 MiB now").

use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::commit::Committer;
use crate::error::StoreError;
use crate::health::{DegradedReason, HealWait};
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

/// The reserve is at most this share of the file system: 1/8.
pub const RESERVE_SHARE: u64 = 8;

/// The reserve actually kept: the configured size, capped at 1/[`RESERVE_SHARE`] of a file system
/// of `total` bytes (unknown size, 0: the configured size).
pub fn effective_reserve(configured: u64, total: u64) -> u64 {
    if total == 0 {
        configured
    } else {
        configured.min(total / RESERVE_SHARE)
    }
}

/// (free bytes needed to resume, free bytes now): the reserve free on top of recreating the
/// reserve file (so twice the reserve when the file is missing), at least 1 MiB.
fn space_needed(dir: &Path, configured: u64) -> io::Result<(u64, u64)> {
    let (free, total) = disk_space(dir)?;
    let reserve = effective_reserve(configured, total);
    let present = std::fs::metadata(dir.join(RESERVE_FILE)).is_ok_and(|m| m.len() >= reserve);
    let needed = if present {
        reserve
    } else {
        reserve.saturating_mul(2)
    };
    Ok((needed.max(1 << 20), free))
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
            if let Ok((needed, free)) = space_needed(&shared.path, shared.opts.reserve_bytes) {
                shared.health.set_waiting(HealWait::Space { needed, free });
            }
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
            shared.health.set_waiting(HealWait::Operator);
            return;
        }
        let look = || space_needed(&shared.path, shared.opts.reserve_bytes);
        let space = look().and_then(|(needed, free)| {
            // Still full: make sure the reserve is not what fills it, and say what is needed
            // without it.
            if free < needed && release_reserve(&shared.path) {
                look()
            } else {
                Ok((needed, free))
            }
        });
        match space {
            Ok((needed, free)) if free < needed => {
                shared.health.set_waiting(HealWait::Space { needed, free });
                return;
            }
            Ok(_) => {}
            Err(e) => {
                shared.health.set_waiting(HealWait::Write(format!(
                    "statvfs of the data directory failed: {e}"
                )));
                return;
            }
        }
        let mut reopened = false;
        if shared.health.needs_reopen() || shared.db().is_err() {
            if let Err(e) = self.reopen(to_sync) {
                shared.health.set_waiting(HealWait::Write(e));
                return;
            }
            reopened = true;
        }
        if let Err(e) = self.probe() {
            tracing::debug!(error = %e, "health probe failed");
            let retry = if reopened {
                Err(format!("synced probe write: {e}"))
            } else {
                self.reopen(to_sync).and_then(|()| {
                    reopened = true;
                    self.probe()
                        .map_err(|e| format!("synced probe write after a reopen: {e}"))
                })
            };
            if let Err(e) = retry {
                shared.health.set_waiting(HealWait::Write(e));
                return;
            }
        }
        let (_, total) = disk_space(&shared.path).unwrap_or((0, 0));
        let reserve = effective_reserve(shared.opts.reserve_bytes, total);
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

    /// Closes and reopens the database in-process (see the module doc). Why not, if it could
    /// not be done now; the next tick tries again.
    fn reopen(&mut self, to_sync: &mpsc::Sender<ToSync>) -> Result<(), String> {
        let shared = self.shared.clone();
        // Everything written to the old instance is answered (with errors) before it closes.
        let (tx, rx) = mpsc::channel();
        if to_sync.send(ToSync::Barrier(tx)).is_ok() {
            let _ = rx.recv();
        }
        if !shared.close_db(READER_WAIT) {
            tracing::debug!("reopen postponed: readers still hold the database");
            return Err("reopening the database: readers still hold it".into());
        }
        let db = match crate::db::open_db(&shared.path, &shared.opts) {
            Ok(db) => db,
            Err(e) => {
                tracing::debug!(error = %e, "reopening the store failed");
                return Err(format!("reopening the database: {e}"));
            }
        };
        shared.install_db(db);
        match shared.load_state() {
            Ok(seqs) => self.set_seqs(seqs),
            Err(e) => {
                tracing::debug!(error = %e, "reloading state after reopen failed");
                shared.close_db(READER_WAIT);
                return Err(format!("reloading state after a reopen: {e}"));
            }
        }
        self.background_errors = 0;
        tracing::debug!("store reopened");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_capped_at_a_share_of_a_small_file_system() {
        let mib = 1u64 << 20;
        // The configured 64 MiB on a 24 MiB volume: 3 MiB, which fits; grown to 128 MiB: 16.
        assert_eq!(effective_reserve(64 * mib, 24 * mib), 3 * mib);
        assert_eq!(effective_reserve(64 * mib, 128 * mib), 16 * mib);
        // A large volume keeps the configured size; an unknown one too; 0 stays 0.
        assert_eq!(effective_reserve(64 * mib, 1 << 40), 64 * mib);
        assert_eq!(effective_reserve(64 * mib, 0), 64 * mib);
        assert_eq!(effective_reserve(0, 24 * mib), 0);
    }

    #[test]
    fn space_needed_is_twice_the_reserve_without_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (free, total) = disk_space(dir.path()).unwrap();
        let configured = 4u64 << 20;
        let reserve = effective_reserve(configured, total);
        let (needed, now) = space_needed(dir.path(), configured).unwrap();
        assert_eq!(needed, (2 * reserve).max(1 << 20));
        assert!(now.abs_diff(free) < 64 << 20, "{now} vs {free}");
        assert!(
            free > 16 << 20,
            "the test needs 16 MiB free in the temp directory"
        );
        ensure_reserve(dir.path(), reserve).unwrap();
        assert_eq!(
            space_needed(dir.path(), configured).unwrap().0,
            reserve.max(1 << 20)
        );
        assert!(release_reserve(dir.path()));
    }
}
