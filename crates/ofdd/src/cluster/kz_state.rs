//! Kazakh registers for the whole cluster: every change of a KKM's record (registration, an
//! operator's new token or block, every exchange with its rotated token and ticket number) is a
//! message of a replicated stream, one subject per register, written with compare-and-set on
//! that subject (`ofd-store`'s `kz_replica.rs` says what a message holds).
//!
//! A KKM's state moves with every exchange, so one global order (the registry's log) would make
//! every exchange of the cluster wait for every other. Here only exchanges of *one* register are
//! ordered: a publish carries `Nats-Expected-Last-Subject-Sequence`, the revision the decision
//! started from, and JetStream refuses it if another node changed that register first. The
//! loser reads the register's latest revision from the stream's leader ([`KzStream::latest`],
//! never a stale replica) and decides again (`crate::kz`). That is also how a node that does
//! not know a token re-reads the cluster's before refusing: the refusal is logged like any
//! exchange, so it is published against the revision it was decided on, and a newer revision
//! makes it lose and decide again.
//!
//! The follower ([`spawn_follower`]) copies every message into this node's store, so its API
//! and portal show every KKM, every exchange and every ticket of the cluster. The stream keeps
//! every message: a node on an empty disk copies them all from the first, and `/readyz` answers
//! 503 until it has (`ofd_cluster_kz_lag` after that).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use async_nats::jetstream::{self};
use bytes::Bytes;
use futures_util::StreamExt;
use ofd_store::{KzChange, Store};
use prometheus::IntGauge;
use tokio::task::JoinHandle;
use tracing::info;

use crate::cluster::config::ClusterConfig;
use crate::cluster::view::ViewState;
use crate::shutdown::Shutdown;

/// Why a publish did not happen.
#[derive(Debug)]
pub enum Cas {
    /// The register has a later revision than the change was computed from (or, for a new
    /// one, the system ID is taken): read it and compute again.
    Taken,
    /// The stream cannot take writes now; the reason is for the log and the caller.
    Unavailable(String),
}

/// The stream of Kazakh register changes.
pub struct KzStream {
    js: jetstream::Context,
    stream: stream::Stream,
    prefix: String,
    timeout: Duration,
}

impl KzStream {
    /// Finds or creates the stream (`<stream>_KZ`, subjects `_ofdd.kz.<stream>.<system ID>`,
    /// file storage, `stream_replicas` replicas, nothing ever removed).
    pub async fn open(js: &jetstream::Context, cfg: &ClusterConfig) -> anyhow::Result<KzStream> {
        let name = format!("{}_KZ", cfg.stream);
        let prefix = format!("_ofdd.kz.{}", cfg.stream);
        let stream = crate::cluster::replicator::ensure_stream(
            js,
            crate::cluster::replicator::log_stream(
                &name,
                "ofdd: every change of every Kazakh register, one subject per register",
                format!("{prefix}.*"),
                cfg.stream_replicas,
            ),
        )
        .await?;
        info!(stream = %name, "cluster: Kazakh registers, in a replicated stream");
        Ok(KzStream {
            js: js.clone(),
            stream,
            prefix,
            timeout: Duration::from_secs(cfg.ack_timeout_secs),
        })
    }

    fn subject(&self, system_id: u32) -> String {
        format!("{}.{system_id}", self.prefix)
    }

    /// Publishes a change of register `system_id` computed from revision `from` (0: the
    /// register is new); returns the change's revision once the stream has it durably.
    pub async fn publish(&self, system_id: u32, from: u64, change: Vec<u8>) -> Result<u64, Cas> {
        let msg = PublishMessage::build()
            .expected_last_subject_sequence(from)
            .payload(Bytes::from(change));
        let publish = async {
            let ack = self.js.send_publish(self.subject(system_id), msg).await?;
            ack.await
        };
        match tokio::time::timeout(self.timeout, publish).await {
            Ok(Ok(ack)) => Ok(ack.sequence),
            Ok(Err(e)) if e.kind() == PublishErrorKind::WrongLastSequence => Err(Cas::Taken),
            Ok(Err(e)) => Err(Cas::Unavailable(format!(
                "publishing a change of KKM {system_id}: {e}"
            ))),
            Err(_) => Err(Cas::Unavailable(format!(
                "publishing a change of KKM {system_id}: no acknowledgement within {:?}",
                self.timeout
            ))),
        }
    }

    /// The register's latest revision, read from the stream's leader (never a stale replica);
    /// `None` if the cluster has no such register.
    pub async fn latest(&self, system_id: u32) -> Result<Option<KzChange>, String> {
        let subject = self.subject(system_id);
        let get = self.stream.get_last_raw_message_by_subject(&subject);
        match tokio::time::timeout(self.timeout, get).await {
            Ok(Ok(m)) => ofd_store::decode_change(m.sequence, &m.payload)
                .map(Some)
                .map_err(|e| format!("KKM {system_id}: revision {}: {e}", m.sequence)),
            Ok(Err(e)) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Ok(Err(e)) => Err(format!("reading KKM {system_id}: {e}")),
            Err(_) => Err(format!(
                "reading KKM {system_id}: no answer within {:?}",
                self.timeout
            )),
        }
    }
}

/// Copies every change into this node's store, from the one after the last copied, until
/// shutdown; `state` and `lag` say how far it is (`/readyz` waits for the first catch-up).
pub fn spawn_follower(
    store: Store,
    stream: &KzStream,
    state: Arc<ViewState>,
    lag: IntGauge,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    let stream = stream.stream.clone();
    crate::cluster::keep_running("KZ follower", shutdown, move || {
        let (store, stream) = (store.clone(), stream.clone());
        let (state, lag) = (state.clone(), lag.clone());
        async move { follow(&store, &stream, &state, &lag).await }
    })
}

/// Follows the stream; returns why it stopped.
async fn follow(
    store: &Store,
    stream: &stream::Stream,
    state: &ViewState,
    lag: &IntGauge,
) -> String {
    let copied = match store.kz_stream_position() {
        Ok(p) => p,
        Err(e) => return format!("reading the position: {e}"),
    };
    let mut stream = stream.clone();
    match stream.info().await {
        Ok(i) => state.behind(i.state.last_sequence.saturating_sub(copied), lag),
        Err(e) => return format!("reading the KZ stream: {e}"),
    }
    let mut messages = match crate::cluster::read_from(&stream, copied + 1).await {
        Ok(m) => m,
        Err(why) => return why,
    };
    while let Some(next) = messages.next().await {
        let msg = match next {
            Ok(m) => m,
            Err(e) => return format!("reading: {e}"),
        };
        let (position, pending) = match msg.info() {
            Ok(i) => (i.stream_sequence, i.pending),
            Err(e) => return format!("a change without its position: {e}"),
        };
        let change = match ofd_store::decode_change(position, &msg.payload) {
            Ok(c) => c,
            Err(e) => return format!("change {position}: {e}"),
        };
        if let Err(e) = store.kz_apply(change, Some(position)).await {
            return format!("copying change {position}: {e}");
        }
        state.behind(pending, lag);
    }
    "the consumer ended".into()
}
