//! `StoreObserver`: the hook through which the daemon turns commit timings into metrics.
//!
//! The store has no metrics dependency; the daemon implements this trait (feeding Prometheus
//! histograms) and passes it to `Store::open_with_observer`. Called on the committer thread
//! after every write, so implementations must be cheap and must not block.

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
    /// Time spent in the RocksDB write, fsync included.
    pub write_duration: Duration,
    /// Time from taking the batch off the queue until the write returned.
    pub commit_duration: Duration,
    /// Whether the write succeeded.
    pub ok: bool,
}

/// Receives commit statistics. All methods have empty defaults.
pub trait StoreObserver: Send + Sync + 'static {
    fn on_commit(&self, _stats: &CommitStats) {}
}

/// The observer used when none is given.
pub(crate) struct NoObserver;
impl StoreObserver for NoObserver {}
