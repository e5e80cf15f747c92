//! `StoreObserver`: the hook through which the daemon turns commit timings and health changes
//! into metrics and log lines.
//!
//! The store has no metrics dependency; the daemon implements this trait (feeding Prometheus
//! histograms) and passes it to `Store::open_with_observer`. Called on the syncer thread
//! after every batch is durable (or has failed), so implementations must be cheap and must not block.

use std::time::Duration;

/// One committed (or failed) write.
#[derive(Clone, Copy, Debug)]
pub struct CommitStats {
    /// Documents newly stored in this write.
    pub stored: usize,
    /// Commands answered by this write (stored + duplicates + conflicts + rejected audits).
    pub commands: usize,
    /// Bytes in the `WriteBatch`.
    pub batch_bytes: usize,
    /// Time spent in the RocksDB write (WAL append and memtable insert, without fsync).
    pub write_duration: Duration,
    /// Time of the WAL fsync that made this batch durable (one fsync may cover several
    /// batches; each reports it).
    pub sync_duration: Duration,
    /// Time from taking the batch off the queue until it was durable and about to be answered.
    pub commit_duration: Duration,
    /// Whether the write succeeded.
    pub ok: bool,
}

/// Receives commit statistics and health changes. All methods have empty defaults.
pub trait StoreObserver: Send + Sync + 'static {
    fn on_commit(&self, _stats: &CommitStats) {}
    /// A health transition, or the once-a-minute reminder while degraded. Called from the
    /// store's committer or syncer thread: cheap, non-blocking. This is where the daemon logs —
    /// once per change, never once per failed document.
    fn on_health(&self, _event: &crate::health::HealthEvent) {}
}

/// The observer used when none is given.
pub(crate) struct NoObserver;
impl StoreObserver for NoObserver {}
