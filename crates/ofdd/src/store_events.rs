//! The store's events, as an operator sees them: commit statistics into Prometheus, and health
//! changes into the `ofd_store_healthy` gauge and log lines.

use std::sync::Arc;

use ofd_store::{CommitStats, HealthEvent, StoreObserver};
use tracing::{error, info, warn};

use crate::metrics::Metrics;

/// Feeds the store's commit statistics into Prometheus and turns its health changes into the
/// `ofd_store_healthy` gauge and log lines: one per change and a reminder a minute while it
/// lasts — never one per document, however many registers keep sending.
pub struct StoreEvents(pub Arc<Metrics>);

impl StoreObserver for StoreEvents {
    fn on_commit(&self, stats: &CommitStats) {
        self.0
            .store_commit
            .observe(stats.commit_duration.as_secs_f64());
        self.0.store_batch_size.observe(stats.commands as f64);
    }

    fn on_health(&self, event: &HealthEvent) {
        match event {
            HealthEvent::Degraded { reason, detail } => {
                self.0.store_healthy.set(0);
                error!(
                    %reason, %detail,
                    "store degraded: documents are refused (connections closed, nothing acknowledged) until it heals by itself"
                );
            }
            HealthEvent::StillDegraded {
                reason,
                for_,
                detail,
                waiting,
            } => {
                let waiting = waiting.as_ref().map_or_else(
                    || "the healer has not looked yet".to_owned(),
                    ToString::to_string,
                );
                warn!(%reason, secs = for_.as_secs(), %detail, "store still degraded, {waiting}");
            }
            HealthEvent::Recovered {
                reason,
                after,
                reopened,
            } => {
                self.0.store_healthy.set(1);
                info!(
                    %reason,
                    secs = after.as_secs_f64(),
                    reopened,
                    "store healthy again; ingest resumed"
                );
            }
        }
    }
}
