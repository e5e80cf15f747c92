//! The once-a-second progress line on stderr, so a long run is never a silent one.
//!
//! It reads only the schedule's shared counters (acknowledged, errors, open connections), never
//! the workers' statistics, and writes to stderr so that `--json` output on stdout stays exactly
//! one object.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior, interval_at};

use crate::schedule::Schedule;

/// Print progress every second until the returned handle is aborted.
pub fn spawn(schedule: Arc<Schedule>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(1);
        let mut tick = interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last = (Instant::now(), 0u64);
        loop {
            let now = tick.tick().await;
            let acked = schedule.acked_so_far();
            let total_s = now.duration_since(schedule.start).as_secs_f64();
            let window_s = now.duration_since(last.0).as_secs_f64().max(1e-9);
            let recent = acked.saturating_sub(last.1) as f64 / window_s;
            let overall = if total_s > 0.0 {
                acked as f64 / total_s
            } else {
                0.0
            };
            eprintln!(
                "ofd-load: {total_s:5.1}s  {acked} acked  {overall:.0} docs/s overall  {recent:.0} docs/s last second  \
                 {} errors  {} connections",
                schedule.errors.load(Ordering::Relaxed),
                schedule.open_connections.load(Ordering::Relaxed),
            );
            last = (now, acked);
        }
    })
}
