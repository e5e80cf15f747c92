//! The replicated write: after the local synced commit, the stored document (or KZ exchange) is
//! published to the R`stream_replicas` JetStream file stream, and its answer is released only on
//! the stream's acknowledgement. With `jetstream { sync_interval: always }` on every server that
//! acknowledgement means a quorum of servers has it **on disk**, so neither the loss of this
//! node's disk nor a power cut of the whole NATS cluster loses an acknowledged document.
//!
//! # One stream, the export's
//!
//! The message is exactly what the exporter publishes ([`crate::export`]): same subject, headers,
//! body and `Nats-Msg-Id` (`FN:FD`, `kz:<system ID>:<log seq>`), into the same stream. So the
//! stream the cluster replicates into *is* the `ofd.documents.*` export: consumers receive the
//! same messages as before, only earlier. The exporter keeps running behind it as the backstop
//! for whatever was stored but never replicated (an encrypted document answered with silence, a
//! publish lost to a crash between commit and acknowledgement): its republishes of everything
//! else are dropped by the stream as duplicates inside the duplicate window.
//!
//! # Pipelined and batched
//!
//! Publishing ([`Replicator::send_doc`], [`Replicator::send_kz`]) only queues the message on the
//! one NATS connection and returns the acknowledgement's future ([`InFlight`]); a connection
//! sends every document of what it read before awaiting any acknowledgement
//! ([`Replicator::confirm`]), and all connections share the NATS connection, so thousands of
//! publishes are in flight at once and their acknowledgements arrive together.
//!
//! # When JetStream cannot take writes
//!
//! A failed or timed-out publish marks replication unavailable ([`ReplicationHealth`]): from
//! then on nothing is published and nothing is acknowledged (an FN's connection is closed and it
//! resends later; a KKM gets 254 "try later"), and `/readyz` answers 503 with the reason. A
//! prober publishes a one-message probe to a small stream of its own every second; its first
//! success (or any real publish's) makes the node answer again. The prober also re-checks the
//! version of the server the client is connected to, since a reconnect may land on another.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::connection::State;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_nats::{ConnectOptions, Event};
use ofd_store::{FnNumber, KzLogEntry, Store};
use prometheus::IntCounterVec;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::cluster::config::ClusterConfig;
use crate::cluster::health::ReplicationHealth;
use crate::cluster::version;
use crate::export::Outgoing;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// How often the prober publishes its probe.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often the client pings its server (two unanswered pings drop the connection).
const PING_EVERY: Duration = Duration::from_secs(1);

/// A publish on its way to the stream.
pub enum InFlight {
    /// Queued on the connection; the acknowledgement comes with this future.
    Sent(PublishAckFuture),
    /// Not sent (replication unavailable, or the publish failed at once): do not answer.
    Failed,
}

/// What the stream said to a publish.
pub enum Confirmed {
    /// Stored now.
    New,
    /// The stream had this message id already, at this position (its first copy, perhaps
    /// another node's).
    Duplicate(u64),
    /// Not confirmed: do not answer.
    No,
}

pub struct Replicator {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The document stream (to read a first copy back).
    stream: stream::Stream,
    prefix: String,
    probe_subject: String,
    health: ReplicationHealth,
    /// `ofd_cluster_publishes_total{result}`.
    publishes: IntCounterVec,
    node: String,
}

impl Replicator {
    /// The JetStream context (for the cluster's other replicated state, such as leases).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// This node's name (`[cluster] node`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Connect to the cluster, refuse a server older than [`version::MIN_SERVER`], find or
    /// create the stream (and the probe stream) with `stream_replicas` replicas. Fails with a
    /// reason an operator can act on: the node must not start acknowledging without it.
    pub async fn connect(
        cfg: &ClusterConfig,
        metrics: &Metrics,
        max_in_flight: usize,
    ) -> anyhow::Result<Replicator> {
        let servers = cfg.servers()?;
        let list = cfg.nats.join(",");
        let timeout = Duration::from_secs(cfg.ack_timeout_secs);
        let opts = ConnectOptions::new()
            .name(format!("ofdd-{}", cfg.node))
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            // A server that hangs (SIGSTOP, a stuck disk, a VM pause) keeps its TCP connection
            // open and answers nothing: pinging every second notices it in ~3 s instead of the
            // default 2 minutes, and the client moves to another server.
            .ping_interval(PING_EVERY)
            // Keep trying other servers quickly: while disconnected nothing is acknowledged.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100u64.saturating_mul(attempts.min(10) as u64))
            })
            .event_callback(|event| async move {
                match event {
                    Event::Connected => info!("cluster: connected to NATS"),
                    Event::Disconnected => warn!("cluster: disconnected from NATS; reconnecting"),
                    other => debug!(event = %other, "cluster: NATS client event"),
                }
            });
        let opts = crate::export::with_url_credentials(opts, &servers);
        let client = opts.connect(servers).await.with_context(|| {
            format!(
                "cannot reach any NATS server of cluster.nats ({})",
                crate::export::redact(&list)
            )
        })?;
        let info = client.server_info();
        let server = format!("{} ({}:{})", info.server_name, info.host, info.port);
        version::check_server(&server, &info.version).map_err(anyhow::Error::msg)?;
        let js = jetstream::ContextBuilder::new()
            .timeout(timeout)
            .max_ack_inflight(max_in_flight.max(1))
            .backpressure_on_inflight(true)
            .build(client.clone());
        let stream = ensure_stream(
            &js,
            stream::Config {
                name: cfg.stream.clone(),
                subjects: vec![format!("{}.>", cfg.subject_prefix)],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                num_replicas: cfg.stream_replicas,
                duplicate_window: Duration::from_secs(cfg.duplicate_window_secs),
                ..Default::default()
            },
        )
        .await?;
        let probe_stream = format!("{}_PROBE", cfg.stream);
        ensure_stream(
            &js,
            stream::Config {
                name: probe_stream.clone(),
                subjects: vec![format!("_ofdd.probe.{}.>", cfg.stream)],
                storage: stream::StorageType::File,
                num_replicas: cfg.stream_replicas,
                max_messages_per_subject: 1,
                ..Default::default()
            },
        )
        .await?;
        info!(server = %server, version = %info.version, stream = %cfg.stream, replicas = cfg.stream_replicas, node = %cfg.node, "cluster: replicated mode, answers wait for the stream");
        Ok(Replicator {
            client,
            js,
            stream,
            prefix: cfg.subject_prefix.clone(),
            probe_subject: format!("_ofdd.probe.{}.{}", cfg.stream, node_token(&cfg.node)),
            health: ReplicationHealth::new(metrics.cluster_ready.clone()),
            publishes: metrics.cluster_publishes.clone(),
            node: cfg.node.clone(),
        })
    }

    pub fn health(&self) -> &ReplicationHealth {
        &self.health
    }

    /// The name of the NATS server the node is connected to now (logs, tests).
    pub fn server_name(&self) -> String {
        self.client.server_info().server_name
    }

    /// Queue one message (nothing is sent while replication is unavailable).
    async fn send(&self, subject: String, msg: PublishMessage) -> InFlight {
        if !self.health.is_available() {
            self.publishes.with_label_values(&["refused"]).inc();
            return InFlight::Failed;
        }
        match self.js.send_publish(subject, msg).await {
            Ok(ack) => InFlight::Sent(ack),
            Err(e) => {
                self.publishes.with_label_values(&["failed"]).inc();
                self.health.fail(&format!("publishing: {e}"));
                InFlight::Failed
            }
        }
    }

    /// Await a publish's acknowledgement: `true` once the stream has it (a duplicate counts: the
    /// stream had it already).
    pub async fn confirm(&self, f: InFlight) -> bool {
        !matches!(self.confirmed(f).await, Confirmed::No)
    }

    /// Await a publish's acknowledgement, and say whether the stream had the message already.
    pub async fn confirmed(&self, f: InFlight) -> Confirmed {
        let InFlight::Sent(ack) = f else {
            return Confirmed::No;
        };
        match ack.await {
            Ok(a) => {
                let label = if a.duplicate { "duplicate" } else { "acked" };
                self.publishes.with_label_values(&[label]).inc();
                self.health.recover();
                if a.duplicate {
                    Confirmed::Duplicate(a.sequence)
                } else {
                    Confirmed::New
                }
            }
            Err(e) if in_process(&e) => {
                // The same message id is being stored from another publish (a resend racing its
                // first copy): JetStream works; this one answer waits for the resend after it.
                self.publishes.with_label_values(&["in_process"]).inc();
                Confirmed::No
            }
            Err(e) => {
                self.publishes.with_label_values(&["failed"]).inc();
                self.health
                    .fail(&format!("no acknowledgement from the stream: {e}"));
                Confirmed::No
            }
        }
    }

    /// The acknowledgement the first copy of a document in the stream (at `position`) was
    /// answered with, when that copy's bytes are `raw`: a resend that reached this node before
    /// it copied another node's document gets that node's answer, as it would from that node.
    /// `None` when it cannot be read, has no acknowledgement, or holds other bytes.
    pub async fn first_answer(&self, position: u64, raw: &[u8]) -> Option<bytes::Bytes> {
        let m = self.stream.get_raw_message(position).await.ok()?;
        if m.payload.as_ref() != raw {
            warn!(
                position,
                "a resend's first copy in the stream holds other bytes; answered with this node's acknowledgement"
            );
            return None;
        }
        crate::export::ack_header(&m.headers)?
            .ok()
            .map(bytes::Bytes::from)
    }

    /// Publish a stored document as the exporter would: read back from the store (the store
    /// resolved its RN and flags), headers and body exactly as exported. `outbox_seq` is 0 for
    /// a resend, whose outbox entry is not known here (the header is diagnostics only).
    pub async fn send_doc(
        &self,
        store: &Store,
        fn_number: FnNumber,
        fd: u32,
        outbox_seq: u64,
    ) -> InFlight {
        if !self.health.is_available() {
            self.publishes.with_label_values(&["refused"]).inc();
            return InFlight::Failed;
        }
        let reader = store.clone();
        let doc = tokio::task::spawn_blocking(move || reader.get(&fn_number, fd)).await;
        match doc {
            Ok(Ok(Some(doc))) => {
                let (subject, msg) =
                    Outgoing::Doc(doc).message_from(&self.prefix, outbox_seq, Some(&self.node));
                self.send(subject, msg).await
            }
            // Just committed, so this is a damaged store: not replicated, not answered.
            other => {
                warn!(fn_number = fn_number.as_str(), fd, outcome = ?other.map(|r| r.map(|d| d.is_some())), "a committed document could not be read back for replication");
                InFlight::Failed
            }
        }
    }

    /// Publish a committed KZ exchange as the exporter would.
    pub async fn send_kz(&self, entry: KzLogEntry, outbox_seq: u64) -> InFlight {
        let (subject, msg) =
            Outgoing::Kz(entry).message_from(&self.prefix, outbox_seq, Some(&self.node));
        self.send(subject, msg).await
    }

    /// One probe: connected, to a recent enough server, and the probe stream takes a write.
    async fn probe(&self) -> Result<(), String> {
        if self.client.connection_state() != State::Connected {
            return Err("not connected to any NATS server of cluster.nats".into());
        }
        let info = self.client.server_info();
        version::check_server(
            &format!("{} ({}:{})", info.server_name, info.host, info.port),
            &info.version,
        )?;
        let ack = self
            .js
            .send_publish(
                self.probe_subject.clone(),
                PublishMessage::build().payload(self.node.clone().into()),
            )
            .await
            .map_err(|e| format!("probe not sent: {e}"))?;
        ack.await
            .map_err(|e| format!("probe not acknowledged: {e}"))?;
        Ok(())
    }

    /// Probe every second until `shutdown`, so the state follows the cluster even while no
    /// register sends anything (an unready node gets no traffic to recover on).
    pub fn spawn_prober(self: Arc<Self>, mut shutdown: Shutdown) -> JoinHandle<()> {
        tokio::spawn(async move {
            while !shutdown.is_shutdown() {
                let outcome = tokio::select! {
                    r = self.probe() => r,
                    _ = shutdown.recv() => break,
                };
                match outcome {
                    Ok(()) => self.health.recover(),
                    Err(reason) => {
                        self.health.fail(&reason);
                        // Connected, yet the probe got nothing: the server may hang with its
                        // connection open; try another rather than wait for the pings.
                        if self.client.connection_state() == State::Connected {
                            let _ = self.client.force_reconnect().await;
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(PROBE_EVERY) => {}
                    _ = shutdown.recv() => break,
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), self.client.flush()).await;
        })
    }
}

/// JetStream's "duplicate message id is in process": another publish of the same id is not yet
/// stored (not a failure of the cluster, and not yet a duplicate either).
fn in_process(e: &async_nats::jetstream::context::PublishError) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|j| {
            j.error_code() == async_nats::jetstream::ErrorCode::STREAM_DUPLICATE_MESSAGE_CONFLICT
        })
}

/// A node name as one subject token.
fn node_token(node: &str) -> String {
    if node.is_empty() {
        "_".into()
    } else {
        node.to_string()
    }
}

/// The configuration of a stream that keeps every message it is given (file storage,
/// `replicas` replicas, deletes and purges denied): the cluster's registry and Kazakh registers,
/// which a node on an empty disk replays from the first message.
pub(crate) fn log_stream(
    name: &str,
    description: &str,
    subject: String,
    replicas: usize,
) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        subjects: vec![subject],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: replicas,
        deny_delete: true,
        deny_purge: true,
        ..Default::default()
    }
}

/// Find the stream or create it; an existing one must have the replicas and file storage asked
/// for (a replicated node never writes through a stream weaker than configured).
pub(crate) async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> anyhow::Result<stream::Stream> {
    let name = config.name.clone();
    let replicas = config.num_replicas;
    let stream = js
        .get_or_create_stream(config)
        .await
        .with_context(|| format!("cluster: finding or creating JetStream stream {name}"))?;
    let have = &stream.cached_info().config;
    if have.num_replicas != replicas {
        bail!(
            "JetStream stream {name} has {} replica(s) but cluster.stream_replicas is {replicas}: \
             change the stream (`nats stream edit {name} --replicas {replicas}`) or the setting",
            have.num_replicas
        );
    }
    if have.storage != stream::StorageType::File {
        bail!(
            "JetStream stream {name} keeps messages in memory; replicated mode needs file storage"
        );
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_subjects_are_one_token_per_node() {
        assert_eq!(node_token("n1"), "n1");
        assert_eq!(node_token(""), "_");
    }
}
