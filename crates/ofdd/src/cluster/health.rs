//! Whether JetStream takes this node's writes now, and why not.
//!
//! In replicated mode an answer is only sent once the stream acknowledged the document, so a node
//! whose JetStream cannot take writes (no quorum, every server gone, acknowledgements timing out,
//! a server too old) must stop answering at once and say so on `/readyz`: the load balancer then
//! drains it and the registers keep their documents for a node that can make them safe. The
//! state changes on the outcome of real publishes and of the prober's (see
//! [`crate::cluster::replicator`]), with **one log line per change**, never one per document.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use prometheus::IntGauge;
use tracing::{info, warn};

pub struct ReplicationHealth {
    available: AtomicBool,
    /// Why not, and since when (set while unavailable).
    down: Mutex<Option<(String, Instant)>>,
    /// `ofd_cluster_ready`: 1 while writes replicate, 0 while they cannot.
    gauge: IntGauge,
}

impl ReplicationHealth {
    /// Available: the node starts only after it reached the cluster and found its stream.
    pub fn new(gauge: IntGauge) -> ReplicationHealth {
        gauge.set(1);
        ReplicationHealth {
            available: AtomicBool::new(true),
            down: Mutex::new(None),
            gauge,
        }
    }

    /// One atomic load: may a document be replicated now?
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }

    /// JetStream did not take a write: stop answering (logged once, on the change).
    pub fn fail(&self, reason: &str) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if down.is_none() {
            warn!(
                reason,
                "JetStream cannot take writes: this node stops acknowledging and turns unready until it can"
            );
            *down = Some((reason.to_string(), Instant::now()));
            self.gauge.set(0);
        }
        self.available.store(false, Ordering::Release);
    }

    /// JetStream took a write: answer again (logged once, on the change).
    pub fn recover(&self) {
        if self.is_available() {
            return;
        }
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((reason, since)) = down.take() {
            info!(
                after_secs = since.elapsed().as_secs_f64(),
                was = reason,
                "JetStream takes writes again: this node acknowledges and is ready"
            );
        }
        self.gauge.set(1);
        self.available.store(true, Ordering::Release);
    }

    /// `None` while available; else the text `/readyz` answers with.
    pub fn unavailable_reason(&self) -> Option<String> {
        if self.is_available() {
            return None;
        }
        let down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        Some(match down.as_ref() {
            Some((reason, since)) => format!(
                "replication unavailable for {} s: {reason}",
                since.elapsed().as_secs()
            ),
            None => "replication unavailable".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_state_and_keeps_the_first_reason() {
        let g = IntGauge::new("g", "g").unwrap();
        let h = ReplicationHealth::new(g.clone());
        assert!(h.is_available() && h.unavailable_reason().is_none());
        assert_eq!(g.get(), 1);
        h.fail("no quorum");
        h.fail("timeout");
        assert!(!h.is_available());
        assert_eq!(g.get(), 0);
        let why = h.unavailable_reason().unwrap();
        assert!(why.contains("no quorum"), "{why}");
        h.recover();
        assert!(h.is_available() && h.unavailable_reason().is_none());
        assert_eq!(g.get(), 1);
    }
}
