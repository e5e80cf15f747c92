//! The daemon's clock: the one place that reads wall time. The protocol crates take "now" as a
//! value, so every decision they make can be replayed and fuzzed.
//!
//! Tests can move it: `set_offset_for_tests` shifts every reading of this process by a fixed
//! amount (the clock keeps running), so a test can put the daemon just after midnight UTC and
//! check what "today" means there. Nothing in the configuration, the environment or the command
//! line reaches it: only code linked with the library that calls it (an in-process test; each
//! integration-test file is a process of its own). Unset, a reading costs one relaxed load.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds added to the system clock (tests only; 0 otherwise).
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// For tests: shift this process's daemon clock by `offset_ms` (may be negative); 0 restores the
/// system clock. Process-wide: every daemon in the process sees the same time.
pub fn set_offset_for_tests(offset_ms: i64) {
    OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}

/// One reading of the clock, in both units the protocols and the store use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Unix seconds (UTC), saturating at `u32::MAX`.
    pub secs: u32,
    /// Unix milliseconds (UTC).
    pub ms: u64,
}

/// Read the clock once (a message's pipeline uses one reading throughout).
pub fn now() -> Now {
    let ms = unix_now_ms();
    Now {
        secs: u32::try_from(ms / 1000).unwrap_or(u32::MAX),
        ms,
    }
}

/// Unix seconds (UTC), saturating at `u32::MAX`.
pub fn unix_now() -> u32 {
    u32::try_from(unix_now_ms() / 1000).unwrap_or(u32::MAX)
}

/// Unix milliseconds (UTC).
pub fn unix_now_ms() -> u64 {
    let system = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    match OFFSET_MS.load(Ordering::Relaxed) {
        0 => system,
        off => system.saturating_add_signed(off),
    }
}
