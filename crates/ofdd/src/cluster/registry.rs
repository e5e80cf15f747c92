//! One registry for the cluster: the store's registry log ([`ofd_store::RegistryLog`]) is a
//! replicated JetStream stream, and every node applies every entry of it in order.
//!
//! The store computes each registry or accounts change on its committer thread and appends the
//! change's writes here *after the last entry it has applied*: the publish carries
//! `Nats-Expected-Last-Sequence`, so JetStream refuses it when another node appended first, and
//! the store applies what it missed and computes the change again (`ofd-store`'s `replica.rs`).
//! That is compare-and-set over the whole registry, with JetStream ordering the writes: two
//! nodes changing one register at once never silently lose one change. The stream keeps every
//! entry (no limits, no deletes, no purges): a node on an empty disk replays it from the first.
//!
//! The follower ([`spawn_follower`]) applies the entries other nodes appended: an ordered
//! consumer from the position after the last one applied, each entry handed to the store's
//! committer, which skips what it has already. At start the node catches up with the whole
//! stream before it listens (`Daemon::start`), so it never refuses a register another node
//! registered earlier.
//!
//! The calls of [`JetStreamLog`] block: the committer thread makes them (never an async task),
//! through the runtime's handle, each bounded by `ack_timeout_secs`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use async_nats::jetstream::{self};
use bytes::Bytes;
use futures_util::StreamExt;
use ofd_store::{AppendError, RegistryLog, Store};
use prometheus::IntGauge;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tracing::info;

use crate::cluster::config::ClusterConfig;
use crate::shutdown::Shutdown;

/// The registry's log in a JetStream stream of its own.
pub struct JetStreamLog {
    handle: Handle,
    js: jetstream::Context,
    stream: stream::Stream,
    subject: String,
    timeout: Duration,
}

impl JetStreamLog {
    /// Finds or creates the registry stream (`<stream>_REGISTRY`, file storage,
    /// `stream_replicas` replicas, nothing ever removed).
    pub async fn open(
        js: &jetstream::Context,
        cfg: &ClusterConfig,
    ) -> anyhow::Result<JetStreamLog> {
        let name = format!("{}_REGISTRY", cfg.stream);
        let subject = format!("_ofdd.registry.{}", cfg.stream);
        let stream = crate::cluster::replicator::ensure_stream(
            js,
            crate::cluster::replicator::log_stream(
                &name,
                "ofdd: the registry and accounts, one entry per change, every node applies all",
                subject.clone(),
                cfg.stream_replicas,
            ),
        )
        .await?;
        info!(stream = %name, "cluster: one registry, in a replicated stream");
        Ok(JetStreamLog {
            handle: Handle::current(),
            js: js.clone(),
            stream,
            subject,
            timeout: Duration::from_secs(cfg.ack_timeout_secs),
        })
    }

    /// The stream the follower reads.
    pub fn stream(&self) -> &stream::Stream {
        &self.stream
    }
}

impl RegistryLog for JetStreamLog {
    fn append(&self, after: u64, entry: &[u8]) -> Result<u64, AppendError> {
        let msg = PublishMessage::build()
            .expected_last_sequence(after)
            .payload(Bytes::copy_from_slice(entry));
        let publish = async {
            let ack = self.js.send_publish(self.subject.clone(), msg).await?;
            ack.await
        };
        match self
            .handle
            .block_on(async { tokio::time::timeout(self.timeout, publish).await })
        {
            Ok(Ok(ack)) => Ok(ack.sequence),
            Ok(Err(e)) if e.kind() == PublishErrorKind::WrongLastSequence => {
                Err(AppendError::Behind)
            }
            Ok(Err(e)) => Err(AppendError::Unavailable(format!("appending: {e}"))),
            Err(_) => Err(AppendError::Unavailable(format!(
                "no acknowledgement within {:?}",
                self.timeout
            ))),
        }
    }

    fn read(&self, position: u64) -> Result<Option<Vec<u8>>, String> {
        // `get_raw_message` is answered by the stream's leader: never a stale replica.
        let get = self.stream.get_raw_message(position);
        match self
            .handle
            .block_on(async { tokio::time::timeout(self.timeout, get).await })
        {
            Ok(Ok(m)) => Ok(Some(m.payload.to_vec())),
            Ok(Err(e)) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Ok(Err(e)) => Err(format!("reading entry {position}: {e}")),
            Err(_) => Err(format!(
                "reading entry {position}: no answer within {:?}",
                self.timeout
            )),
        }
    }
}

/// Attaches the log to the store and applies every entry the node has not (before the node
/// answers anyone); returns the position reached.
pub async fn attach(
    store: &Store,
    log: Arc<JetStreamLog>,
    position: &IntGauge,
) -> anyhow::Result<u64> {
    if !store.replicate_registry(log) {
        anyhow::bail!("the store already has a registry log");
    }
    let from = store.registry_position()?;
    let at = store
        .registry_catch_up()
        .await
        .map_err(|e| anyhow::anyhow!("cannot catch up with the cluster's registry: {e}"))?;
    position.set(i64::try_from(at).unwrap_or(i64::MAX));
    if at > from {
        info!(
            entries = at - from,
            position = at,
            "cluster: registry caught up"
        );
    }
    Ok(at)
}

/// Applies the entries other nodes append, as they come, until shutdown.
pub fn spawn_follower(
    store: Store,
    stream: stream::Stream,
    position: IntGauge,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    crate::cluster::keep_running("registry follower", shutdown, move || {
        let (store, stream, position) = (store.clone(), stream.clone(), position.clone());
        async move { follow(&store, &stream, &position).await }
    })
}

/// Follows the stream from the entry after the last applied; returns why it stopped.
async fn follow(store: &Store, stream: &stream::Stream, gauge: &IntGauge) -> String {
    let from = match store.registry_position() {
        Ok(p) => p + 1,
        Err(e) => return format!("reading the position: {e}"),
    };
    let mut messages = match crate::cluster::read_from(stream, from).await {
        Ok(m) => m,
        Err(why) => return why,
    };
    while let Some(next) = messages.next().await {
        let msg = match next {
            Ok(m) => m,
            Err(e) => return format!("reading: {e}"),
        };
        let position = match msg.info() {
            Ok(i) => i.stream_sequence,
            Err(e) => return format!("an entry without its position: {e}"),
        };
        if let Err(e) = store
            .apply_registry_entry(position, msg.payload.to_vec())
            .await
        {
            return format!("applying entry {position}: {e}");
        }
        gauge.set(i64::try_from(position).unwrap_or(i64::MAX));
    }
    "the consumer ended".into()
}
