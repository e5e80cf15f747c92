//! Cluster mode on NATS JetStream (`[cluster]`): in `replicated` durability an answer waits for
//! the local synced commit **and** the acknowledgement of an R3 file stream whose servers sync
//! every write (`sync_interval: always`), so a document a register was told is safe survives the
//! loss of this node's disk. The replicated engine is JetStream's; ofdd runs no consensus of its
//! own.
//!
//! - [`config`]: the `[cluster]` section;
//! - [`version`]: the oldest NATS server accepted, and the check of a server's version;
//! - [`health`]: whether JetStream takes writes now (drives `/readyz` and answering);
//! - [`lease`]: one node at a time does the cluster-wide work (the notifier's passes);
//! - [`registry`]: one registry (registers and accounts) in a replicated log every node applies;
//! - [`kz_state`]: Kazakh registers' states, changed with compare-and-set per register;
//! - [`view`]: one view: every node copies the whole cluster's documents from the stream;
//! - [`replicator`]: the publish-then-answer path, its prober and the stream it writes.

pub mod config;
pub mod health;
pub mod kz_state;
pub mod lease;
pub mod registry;
pub mod replicator;
pub mod version;
pub mod view;

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::Stream;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::shutdown::Shutdown;

/// How long a cluster task waits before it starts again after it stopped.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// Runs `task` until shutdown, starting it again a second after each time it stops (the reason
/// it returns is logged): the registry's follower and the view live this way.
pub(crate) fn keep_running<F, Fut>(
    what: &'static str,
    mut shutdown: Shutdown,
    task: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.recv() => return,
                why = task() => warn!(error = %why, "cluster: {what} stopped; starting again"),
            }
            tokio::select! {
                _ = shutdown.recv() => return,
                _ = tokio::time::sleep(RESTART_AFTER) => {}
            }
        }
    })
}

/// The messages of `stream` from position `start` on, as they come, through an ordered consumer
/// (no state on the servers: the reader keeps its own position, so a node that lost its disk
/// starts again from where its store says). Shared by the registry's follower and the view.
pub(crate) async fn read_from(stream: &Stream, start: u64) -> Result<pull::Ordered, String> {
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| {
            format!(
                "creating a consumer of stream {}: {e}",
                stream.cached_info().config.name
            )
        })?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("reading: {e}"))
}
