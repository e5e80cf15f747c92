//! The run's shared clock and ticket counter: who may send the next document, and when.
//!
//! Every document a run sends is a *ticket* taken from one atomic counter, which bounds the run
//! by count (`--documents`) and by time (`--duration`) without any worker coordinating with
//! another. With `--rate R` the run is open-loop: ticket `i` is *due* at `start + i / R`
//! regardless of how the daemon is doing, and latency is measured from that due time — a slow
//! answer delays the documents behind it and that delay is counted (no coordinated omission).
//! Without a rate the run is closed-loop: each connection sends as soon as its window has room.
//!
//! The shared counters here (acknowledged, errors, open connections) exist only for the
//! once-a-second progress line; the real statistics are per worker.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One document's permission to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// 0-based index in the run.
    pub index: u64,
    /// Open loop: when it is due (latency counts from here). Closed loop: `None`.
    pub due: Option<Instant>,
}

#[derive(Debug)]
pub struct Schedule {
    pub start: Instant,
    /// `--documents`.
    limit: Option<u64>,
    /// No ticket is handed out at or after this instant (`--duration`).
    pub send_until: Option<Instant>,
    /// Outstanding work is abandoned at this instant.
    pub hard_deadline: Instant,
    /// Open-loop interval between two documents, in nanoseconds.
    interval_ns: Option<f64>,
    next: AtomicU64,
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    pub open_connections: AtomicI64,
}

impl Schedule {
    pub fn new(
        start: Instant,
        limit: Option<u64>,
        duration: Option<Duration>,
        hard_deadline: Instant,
        rate: Option<f64>,
    ) -> Schedule {
        Schedule {
            start,
            limit,
            send_until: duration.map(|d| start + d),
            hard_deadline,
            interval_ns: rate.filter(|r| *r > 0.0).map(|r| 1e9 / r),
            next: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            open_connections: AtomicI64::new(0),
        }
    }

    /// The next ticket, or `None` when the run has sent everything it may.
    pub fn take(&self, now: Instant) -> Option<Ticket> {
        if self.send_until.is_some_and(|until| now >= until) || self.exhausted() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        if self.limit.is_some_and(|limit| index >= limit) {
            return None;
        }
        let due = self
            .interval_ns
            .map(|ns| self.start + Duration::from_nanos((index as f64 * ns) as u64));
        if let (Some(due), Some(until)) = (due, self.send_until)
            && due >= until
        {
            return None;
        }
        Some(Ticket { index, due })
    }

    /// Whether the count limit is used up (time limits are checked in [`Schedule::take`]).
    pub fn exhausted(&self) -> bool {
        self.limit
            .is_some_and(|limit| self.next.load(Ordering::Relaxed) >= limit)
    }

    pub fn acked_so_far(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn count_limit() {
        let now = Instant::now();
        let s = Schedule::new(now, Some(3), None, now + Duration::from_secs(1), None);
        let got: Vec<_> = std::iter::from_fn(|| s.take(now)).collect();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|t| t.due.is_none()));
        assert!(s.take(now).is_none());
        assert!(s.exhausted());
    }

    #[tokio::test]
    async fn open_loop_due_times_and_duration() {
        let now = Instant::now();
        let s = Schedule::new(
            now,
            None,
            Some(Duration::from_secs(1)),
            now + Duration::from_secs(2),
            Some(4.0),
        );
        let dues: Vec<_> = std::iter::from_fn(|| s.take(now))
            .map(|t| t.due.unwrap() - now)
            .collect();
        assert_eq!(dues, [0, 250, 500, 750].map(Duration::from_millis));
        assert!(s.take(now + Duration::from_secs(1)).is_none());
    }
}
