//! A rate limit for log lines a peer can trigger at will (broken frames, unparseable messages):
//! a flood of garbage must not flood the log too. Every event is still counted in metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::unix_now;

/// At most `PER_SECOND` log lines per second.
#[derive(Default)]
pub struct LogGate {
    /// (second << 16) | count within that second.
    state: AtomicU64,
}

impl LogGate {
    const PER_SECOND: u64 = 10;

    /// Whether one more line may be logged now.
    pub fn allow(&self) -> bool {
        let second = u64::from(unix_now());
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let (s, n) = (cur >> 16, cur & 0xFFFF);
            let next = if s == second {
                (s << 16) | (n + 1).min(0xFFFF)
            } else {
                second << 16 | 1
            };
            if s == second && n >= Self::PER_SECOND {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_to_the_limit() {
        let gate = LogGate::default();
        let allowed = (0..100).filter(|_| gate.allow()).count() as u64;
        // Two seconds at most can be touched by this loop.
        assert!(
            (LogGate::PER_SECOND..=2 * LogGate::PER_SECOND).contains(&allowed),
            "{allowed}"
        );
    }
}
