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
