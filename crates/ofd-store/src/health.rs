//! Store health as a state: `Healthy`, or `Degraded` with a classified reason and the moment it
//! began.
//!
//! A full disk, a failing device or damaged files make every write fail in the same way for a
//! while; answering each document with its own error (and log line) tells the operator nothing
//! more than the first one did. So the first failure flips the store to `Degraded`, and from
//! then on puts fail fast with `StoreError::Unavailable` before they are queued — nothing is
//! acknowledged, nothing waits for a timeout — until the healer (`heal.rs`) has seen the cause
//! go away and a synced probe write succeed. Transitions and a once-a-minute reminder go to the
//! `StoreObserver`, which is how the daemon logs one line per state change.
//!
//! The hot path (every put, every `/readyz`) reads one atomic; the reason's details sit behind
//! a mutex that only transitions and status queries take.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Why the store is degraded. A small fixed set: it labels metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DegradedReason {
    /// The file system is full (ENOSPC, or free space below the reserve).
    NoSpace,
    /// The device or file system failed a read, write or fsync.
    IoError,
    /// RocksDB found damaged data.
    Corruption,
    /// Anything else RocksDB reported.
    Other,
}

impl DegradedReason {
    /// Every reason, for pre-registering metric series.
    pub const ALL: [DegradedReason; 4] = [
        DegradedReason::NoSpace,
        DegradedReason::IoError,
        DegradedReason::Corruption,
        DegradedReason::Other,
    ];

    /// The metric label: `no_space`, `io_error`, `corruption`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            DegradedReason::NoSpace => "no_space",
            DegradedReason::IoError => "io_error",
            DegradedReason::Corruption => "corruption",
            DegradedReason::Other => "other",
        }
    }

    fn code(self) -> u8 {
        match self {
            DegradedReason::NoSpace => 1,
            DegradedReason::IoError => 2,
            DegradedReason::Corruption => 3,
            DegradedReason::Other => 4,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(DegradedReason::NoSpace),
            2 => Some(DegradedReason::IoError),
            3 => Some(DegradedReason::Corruption),
            4 => Some(DegradedReason::Other),
            _ => None,
        }
    }

    /// Classifies a RocksDB error message (the C API gives a status string, not a code).
    pub(crate) fn classify(e: &rocksdb::Error) -> DegradedReason {
        let s = e.as_ref();
        if s.contains("No space left") || s.contains("NoSpace") || s.contains("no space") {
            DegradedReason::NoSpace
        } else if e.kind() == rocksdb::ErrorKind::Corruption {
            DegradedReason::Corruption
        } else if e.kind() == rocksdb::ErrorKind::IOError {
            DegradedReason::IoError
        } else {
            DegradedReason::Other
        }
    }
}

impl std::fmt::Display for DegradedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a degraded store waits for before it resumes, as the healer last saw it (once a
/// second). The first error says why the store degraded; this says what would end it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealWait {
    /// Free space on the data directory's file system: `needed` bytes (the reserve, twice if
    /// the reserve file must be made again; see `StoreOptions::reserve_bytes`), `free` now.
    Space { needed: u64, free: u64 },
    /// Space is back (or could not be measured), but reopening the database or the synced probe
    /// write failed (the error); the healer tries again every second.
    Write(String),
    /// Damaged data: it does not heal by itself (`ofdd store check`, repair, restart).
    Operator,
}

impl HealWait {
    /// Bytes of free space the store waits for; 0 unless it waits for space.
    pub fn needed_free_bytes(&self) -> u64 {
        match self {
            HealWait::Space { needed, .. } => *needed,
            _ => 0,
        }
    }
}

/// `12 MiB` (whole MiB, rounded down), or `512 KiB` below one MiB.
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

impl std::fmt::Display for HealWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealWait::Space { needed, free } => write!(
                f,
                "waiting for {} free, {} now",
                human_bytes(*needed),
                human_bytes(*free)
            ),
            HealWait::Write(e) => write!(f, "waiting for a durable write: {e}"),
            HealWait::Operator => f.write_str(
                "damaged data does not heal by itself: run `ofdd store check` (and repair), then restart",
            ),
        }
    }
}

/// The store's health, as reported by `Store::health`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthState {
    Healthy,
    Degraded {
        reason: DegradedReason,
        /// When it began (wall clock, for display).
        since: SystemTime,
        /// The first error, as RocksDB or the healer worded it.
        detail: String,
        /// What it waits for now; `None` until the healer has looked.
        waiting: Option<HealWait>,
    },
}

/// A health transition or reminder, delivered to `StoreObserver::on_health`.
#[derive(Clone, Debug)]
pub enum HealthEvent {
    /// The store just became degraded: puts fail fast from now on.
    Degraded {
        reason: DegradedReason,
        detail: String,
    },
    /// Still degraded (sent about once a minute while it lasts).
    StillDegraded {
        reason: DegradedReason,
        for_: Duration,
        detail: String,
        /// What it waits for (the healer's last look).
        waiting: Option<HealWait>,
    },
    /// Healthy again; `reopened` says whether the database had to be reopened.
    Recovered {
        reason: DegradedReason,
        after: Duration,
        reopened: bool,
    },
}

struct Degraded {
    reason: DegradedReason,
    since: SystemTime,
    started: Instant,
    detail: String,
    waiting: Option<HealWait>,
}

/// The shared health cell. One writer at a time in practice (committer, syncer), many readers.
pub(crate) struct Health {
    /// 0 = healthy, otherwise `DegradedReason::code`.
    state: AtomicU8,
    /// Set when the cause poisoned the open database (a failed WAL write or fsync): healing
    /// must reopen it, because RocksDB keeps a failed log writer's error for good and a later
    /// fsync that "succeeds" proves nothing about pages an earlier one lost.
    needs_reopen: AtomicBool,
    detail: Mutex<Option<Degraded>>,
}

impl Health {
    pub(crate) fn new() -> Health {
        Health {
            state: AtomicU8::new(0),
            needs_reopen: AtomicBool::new(false),
            detail: Mutex::new(None),
        }
    }

    /// One atomic load: the hot-path check.
    #[inline]
    pub(crate) fn is_healthy(&self) -> bool {
        self.state.load(Ordering::Acquire) == 0
    }

    /// The current reason, if degraded (one atomic load).
    #[inline]
    pub(crate) fn reason(&self) -> Option<DegradedReason> {
        DegradedReason::from_code(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn needs_reopen(&self) -> bool {
        self.needs_reopen.load(Ordering::Acquire)
    }

    pub(crate) fn state(&self) -> HealthState {
        match &*self.lock() {
            None => HealthState::Healthy,
            Some(d) => HealthState::Degraded {
                reason: d.reason,
                since: d.since,
                detail: d.detail.clone(),
                waiting: d.waiting.clone(),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Degraded>> {
        self.detail.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the store degraded. Returns the event to report if this was a transition (an
    /// already degraded store keeps its first reason; only `poison` can be added).
    pub(crate) fn degrade(
        &self,
        reason: DegradedReason,
        detail: String,
        poison: bool,
    ) -> Option<HealthEvent> {
        if poison {
            self.needs_reopen.store(true, Ordering::Release);
        }
        let mut d = self.lock();
        if d.is_some() {
            return None;
        }
        *d = Some(Degraded {
            reason,
            since: SystemTime::now(),
            started: Instant::now(),
            detail: detail.clone(),
            waiting: None,
        });
        self.state.store(reason.code(), Ordering::Release);
        Some(HealthEvent::Degraded { reason, detail })
    }

    /// Marks the store healthy. Returns the event to report if it was degraded.
    pub(crate) fn recover(&self, reopened: bool) -> Option<HealthEvent> {
        let mut d = self.lock();
        let was = d.take()?;
        self.needs_reopen.store(false, Ordering::Release);
        self.state.store(0, Ordering::Release);
        Some(HealthEvent::Recovered {
            reason: was.reason,
            after: was.started.elapsed(),
            reopened,
        })
    }

    /// How long the store has been degraded; `None` while healthy.
    pub(crate) fn degraded_for(&self) -> Option<Duration> {
        self.lock().as_ref().map(|d| d.started.elapsed())
    }

    /// The reminder event for a degraded store.
    pub(crate) fn reminder(&self) -> Option<HealthEvent> {
        self.lock().as_ref().map(|d| HealthEvent::StillDegraded {
            reason: d.reason,
            for_: d.started.elapsed(),
            detail: d.detail.clone(),
            waiting: d.waiting.clone(),
        })
    }

    /// Records what a degraded store waits for (ignored when healthy).
    pub(crate) fn set_waiting(&self, waiting: HealWait) {
        if let Some(d) = self.lock().as_mut() {
            d.waiting = Some(waiting);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transition_per_change() {
        let h = Health::new();
        assert!(h.is_healthy());
        assert!(h.recover(false).is_none());
        assert!(
            h.degrade(DegradedReason::NoSpace, "full".into(), false)
                .is_some()
        );
        assert!(!h.is_healthy());
        assert_eq!(h.reason(), Some(DegradedReason::NoSpace));
        // A second failure neither changes the reason nor reports again, but can poison.
        assert!(
            h.degrade(DegradedReason::IoError, "eio".into(), true)
                .is_none()
        );
        assert_eq!(h.reason(), Some(DegradedReason::NoSpace));
        assert!(h.needs_reopen());
        assert!(matches!(
            h.recover(true),
            Some(HealthEvent::Recovered { reopened: true, .. })
        ));
        assert!(h.is_healthy() && !h.needs_reopen());
        assert_eq!(h.state(), HealthState::Healthy);
    }

    #[test]
    fn a_degraded_store_says_what_it_waits_for() {
        let h = Health::new();
        h.set_waiting(HealWait::Operator);
        assert_eq!(h.state(), HealthState::Healthy, "ignored while healthy");
        h.degrade(DegradedReason::NoSpace, "append failed".into(), false);
        assert!(matches!(
            h.state(),
            HealthState::Degraded { waiting: None, .. }
        ));
        let w = HealWait::Space {
            needed: 128 << 20,
            free: (113 << 20) + 12_345,
        };
        assert_eq!(w.to_string(), "waiting for 128 MiB free, 113 MiB now");
        assert_eq!(w.needed_free_bytes(), 128 << 20);
        h.set_waiting(w.clone());
        match h.state() {
            HealthState::Degraded {
                waiting, detail, ..
            } => {
                assert_eq!(waiting, Some(w.clone()));
                assert_eq!(detail, "append failed", "the first error stays");
            }
            HealthState::Healthy => panic!("degraded"),
        }
        assert!(matches!(
            h.reminder(),
            Some(HealthEvent::StillDegraded { waiting: Some(x), .. }) if x == w
        ));
        assert_eq!(
            HealWait::Space {
                needed: 1 << 20,
                free: 700 << 10
            }
            .to_string(),
            "waiting for 1 MiB free, 700 KiB now"
        );
        assert_eq!(HealWait::Operator.needed_free_bytes(), 0);
    }
}
