//! The daemon's clock: the one place that reads wall time. The protocol crates take "now" as a
//! value, so every decision they make can be replayed and fuzzed.

use std::time::{SystemTime, UNIX_EPOCH};

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
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Unix milliseconds (UTC).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
