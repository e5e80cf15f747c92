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
//! - [`view`]: one view: every node copies the whole cluster's documents from the stream;
//! - [`replicator`]: the publish-then-answer path, its prober and the stream it writes.

pub mod config;
pub mod health;
pub mod lease;
pub mod registry;
pub mod replicator;
pub mod version;
pub mod view;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream::Stream;

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
