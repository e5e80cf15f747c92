//! One view: every node keeps the whole cluster's FN–OFD documents in its own RocksDB, copied
//! from the replicated stream, so any node answers for any register — its documents, raw bytes,
//! liveness colour and FN trouble — and a node on an empty disk gets them all back.
//!
//! Each node reads the stream through a durable consumer of its own (`ofdd_view_<node>`) and
//! stores every document as another node accepted it: the raw message, the acknowledgement the
//! register was sent (`Ofd-Ack`), the time it was received, flagged
//! [`DocFlags::REPLICA`] so it gets no outbox entry (it is in the stream already). The store's
//! put is the same idempotent put as ingest's, so:
//! - the node's own documents come back as duplicates and change nothing;
//! - a register's resend that reaches this node afterwards gets the stored acknowledgement,
//!   byte for byte the one the first node sent;
//! - the same FN and FD with other bytes is kept apart as a conflict, as on one node;
//! - liveness counts each register once, from its documents' own receive times.
//!
//! A message is acknowledged to the consumer only after its put is durable here, so a crash
//! loses nothing: the consumer redelivers, and the put finds a duplicate. Until the consumer has
//! nothing pending for the first time, `/readyz` says the node is catching up.
//!
//! Kazakh exchanges are acknowledged and skipped: a KKM's state (token, ticket numbering, shift)
//! stays on the node that serves it, as `deploy/README.md` says.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, Message};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use ofd_proto::message::parse_message;
use ofd_proto::validate::{ValidationConfig, validate};
use ofd_store::{DocFlags, FnNumber, NewDocument, Outcome, Rn, Settlement, Store};
use prometheus::IntGauge;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::cluster::config::ClusterConfig;
use crate::shutdown::Shutdown;

/// Messages taken from the consumer at once (their puts share the store's group commits).
const BATCH: usize = 512;
/// How long a fetch waits for messages when the stream has none.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How long the materialiser waits before it starts again after an error.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// How far the view is: read by `/readyz` and the metrics.
#[derive(Default)]
pub struct ViewState {
    caught_up: AtomicBool,
    pending: AtomicU64,
}

impl ViewState {
    /// `None` once the view has caught up with the stream (it stays so: later lag is a
    /// metric, not unreadiness); otherwise why the node is not ready.
    pub fn not_ready(&self) -> Option<String> {
        (!self.caught_up.load(Ordering::Acquire)).then(|| {
            format!(
                "catching up with the cluster's documents: {} message(s) of the stream to copy",
                self.pending.load(Ordering::Relaxed)
            )
        })
    }
}

/// Copies the stream into the store until shutdown.
pub fn spawn(
    store: Store,
    js: jetstream::Context,
    cfg: ClusterConfig,
    state: Arc<ViewState>,
    lag: IntGauge,
    mut shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.recv() => return,
                why = run(&store, &js, &cfg, &state, &lag) => {
                    warn!(error = %why, "cluster: view stopped; starting again");
                }
            }
            tokio::select! {
                _ = shutdown.recv() => return,
                _ = tokio::time::sleep(RESTART_AFTER) => {}
            }
        }
    })
}

/// Reads the stream with the node's durable consumer; returns why it stopped.
async fn run(
    store: &Store,
    js: &jetstream::Context,
    cfg: &ClusterConfig,
    state: &ViewState,
    lag: &IntGauge,
) -> String {
    let stream = match js.get_stream(&cfg.stream).await {
        Ok(s) => s,
        Err(e) => return format!("finding stream {}: {e}", cfg.stream),
    };
    let name = format!("ofdd_view_{}", cfg.node);
    let mut consumer = match stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                description: Some("ofdd: this node's copy of the cluster's documents".into()),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                max_ack_pending: 4 * BATCH as i64,
                ..Default::default()
            },
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return format!("consumer {name}: {e}"),
    };
    // Nothing to copy (a new cluster, or a restart that had copied everything): ready at once.
    match consumer.info().await {
        Ok(i) if i.num_pending == 0 && i.num_ack_pending == 0 => caught_up(state),
        Ok(i) => {
            state.pending.store(i.num_pending, Ordering::Relaxed);
            lag.set(i64::try_from(i.num_pending).unwrap_or(i64::MAX));
        }
        Err(e) => return format!("consumer {name}: {e}"),
    }
    loop {
        let mut batch = match consumer
            .fetch()
            .max_messages(BATCH)
            .expires(IDLE_WAIT)
            .messages()
            .await
        {
            Ok(b) => b,
            Err(e) => return format!("fetching: {e}"),
        };
        let mut taken = Vec::new();
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => taken.push(m),
                Err(e) => return format!("fetching: {e}"),
            }
        }
        let pending = taken.last().and_then(|m| m.info().ok()).map(|i| i.pending);
        if let Err(why) = store_all(store, &taken).await {
            return why;
        }
        match pending {
            Some(p) => {
                state.pending.store(p, Ordering::Relaxed);
                lag.set(i64::try_from(p).unwrap_or(i64::MAX));
                if p == 0 {
                    caught_up(state);
                }
            }
            // Nothing came within the wait: the stream has nothing for this node.
            None if taken.is_empty() => {
                lag.set(0);
                state.pending.store(0, Ordering::Relaxed);
                caught_up(state);
            }
            None => {}
        }
    }
}

fn caught_up(state: &ViewState) {
    if !state.caught_up.swap(true, Ordering::AcqRel) {
        info!("cluster: view caught up with the stream");
    }
}

/// Stores a fetched batch (all puts in flight at once), then acknowledges each message whose
/// put is durable.
async fn store_all(store: &Store, taken: &[Message]) -> Result<(), String> {
    let mut puts = Vec::with_capacity(taken.len());
    for m in taken {
        puts.push(match replica_of(m) {
            Some(doc) => Some(store.put(doc)),
            None => None,
        });
    }
    for (m, put) in taken.iter().zip(puts) {
        if let Some(p) = put {
            p.await
                .map_err(|e| format!("storing a copied document: {e}"))?;
        }
        m.ack()
            .await
            .map_err(|e| format!("acknowledging to the consumer: {e}"))?;
    }
    Ok(())
}

/// The document a stream message carries, as this node stores it; `None` for what the view
/// does not keep (a Kazakh exchange, a message without the headers ofdd writes).
pub fn replica_of(m: &Message) -> Option<NewDocument> {
    let h = m.headers.as_ref()?;
    if get(h, "Ofd-Protocol")? != "fn" {
        return None;
    }
    let fn_number = FnNumber::new(get(h, "Ofd-Fn")?.as_bytes()).ok()?;
    let fd = get(h, "Ofd-Fd")?.parse().ok()?;
    let received_at_ms: u64 = get(h, "Ofd-Received-At")?.parse().ok()?;
    let encrypted = get(h, "Ofd-Encrypted") == Some("true");
    let mut flags = DocFlags::REPLICA;
    if encrypted {
        flags |= DocFlags::ENCRYPTED;
    }
    let outcome = match get(h, "Ofd-Outcome")? {
        "encrypted_unacknowledged" => Outcome::EncryptedUnacknowledged,
        _ => Outcome::Accepted,
    };
    let ack = match get(h, "Ofd-Ack") {
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok()?,
        None => Vec::new(),
    };
    let raw = m.payload.clone();
    // What liveness keeps besides times — the FN's health report and a receipt's sum — is read
    // from the document again, checked as it was when it was received.
    let (health, settlement) = if encrypted {
        (None, None)
    } else {
        let secs = u32::try_from(received_at_ms / 1000).unwrap_or(u32::MAX);
        parse_message(&raw)
            .ok()
            .and_then(|msg| validate(&msg, &ValidationConfig::default(), secs).ok())
            .map_or((None, None), |doc| {
                (
                    doc.health_report().map(crate::ingest::store_health),
                    doc.settlement
                        .zip(doc.total_sum)
                        .map(|(kind, total)| Settlement { kind, total }),
                )
            })
    };
    Some(NewDocument {
        fn_number,
        fd,
        rn: get(h, "Ofd-Rn").and_then(|r| Rn::new(r.as_bytes()).ok()),
        received_at_ms,
        doc_type: get(h, "Ofd-Doc-Type-Code")?.parse().ok()?,
        ffd: get(h, "Ofd-Ffd").and_then(|v| v.parse().ok()).unwrap_or(0),
        outcome,
        flags: DocFlags(flags),
        doc_time: get(h, "Ofd-Doc-Time")?.parse().ok()?,
        shift: get(h, "Ofd-Shift").and_then(|v| v.parse().ok()),
        health,
        settlement,
        raw,
        ack: Bytes::from(ack),
    })
}

fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.as_str())
}
