//! One view: every node keeps the whole cluster's FN–OFD documents in its own RocksDB, copied
//! from the replicated stream, so any node answers for any register — its documents, raw bytes,
//! liveness colour and FN trouble — and a node on an empty disk gets them all back.
//!
//! Each node reads the stream through an ordered consumer from the position after the last one
//! it copied (the store's cursor `view`, so a node whose disk was lost starts again from the
//! first message) and stores every document as the node that accepted it did: the raw message,
//! the acknowledgement the register was sent (`Ofd-Ack`), the time it was received, flagged
//! [`DocFlags::REPLICA`] so it gets no outbox entry (it is in the stream already). The store's
//! put is the same idempotent put as ingest's, so:
//! - the node's own documents come back as duplicates and change nothing;
//! - a register's resend that reaches this node afterwards gets the stored acknowledgement,
//!   byte for byte the one the first node sent;
//! - the same FN and FD with other bytes is kept apart as a conflict, as on one node;
//! - liveness counts each register once, from its documents' own receive times.
//!
//! The cursor moves past a batch only once every put in it is durable here, so a crash loses
//! nothing: the batch is read again, and the puts find duplicates. A document this node
//! published itself (`Ofd-Node`) is put only when its store lacks it. Until the node has copied
//! everything for the first time, `/readyz` says it is catching up.
//!
//! Kazakh exchanges are skipped: a KKM's state (token, ticket numbering, shift)
//! stays on the node that serves it, as `deploy/README.md` says.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, Message};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use ofd_proto::message::parse_message;
use ofd_proto::validate::{ValidationConfig, validate};
use ofd_store::{DocFlags, FnNumber, NewDocument, Outcome, Rn, Settlement, Store};
use prometheus::IntGauge;
use tokio::task::JoinHandle;
use tracing::info;

use crate::cluster::config::ClusterConfig;
use crate::shutdown::Shutdown;

/// Messages stored at once at most (their puts share the store's group commits).
const BATCH: usize = 512;
/// The store's cursor that holds the stream position copied last.
pub const CURSOR: &str = "view";

/// How far a copy of a cluster stream is (the view's, the Kazakh registers'): read by
/// `/readyz` and the metrics.
pub struct ViewState {
    /// What is copied, for `/readyz`: "documents", "Kazakh registers".
    what: &'static str,
    caught_up: AtomicBool,
    pending: AtomicU64,
}

impl ViewState {
    pub fn new(what: &'static str) -> ViewState {
        ViewState {
            what,
            caught_up: AtomicBool::new(false),
            pending: AtomicU64::new(0),
        }
    }

    /// `None` once the copy has caught up with the stream (it stays so: later lag is a
    /// metric, not unreadiness); otherwise why the node is not ready.
    pub fn not_ready(&self) -> Option<String> {
        (!self.caught_up.load(Ordering::Acquire)).then(|| {
            format!(
                "catching up with the cluster's {}: {} message(s) of the stream to copy",
                self.what,
                self.pending.load(Ordering::Relaxed)
            )
        })
    }

    /// `pending` messages are left to copy (the gauge `lag` says so too); caught up at 0.
    pub(crate) fn behind(&self, pending: u64, lag: &IntGauge) {
        self.pending.store(pending, Ordering::Relaxed);
        lag.set(i64::try_from(pending).unwrap_or(i64::MAX));
        if pending == 0 && !self.caught_up.swap(true, Ordering::AcqRel) {
            info!("cluster: caught up with the cluster's {}", self.what);
        }
    }
}

/// Copies the stream into the store until shutdown.
pub fn spawn(
    store: Store,
    js: jetstream::Context,
    cfg: ClusterConfig,
    state: Arc<ViewState>,
    lag: IntGauge,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    crate::cluster::keep_running("view", shutdown, move || {
        let (store, js, cfg) = (store.clone(), js.clone(), cfg.clone());
        let (state, lag) = (state.clone(), lag.clone());
        async move { run(&store, &js, &cfg, &state, &lag).await }
    })
}

/// Copies the stream from the message after the one this store has copied last (its cursor
/// `view`); returns why it stopped.
async fn run(
    store: &Store,
    js: &jetstream::Context,
    cfg: &ClusterConfig,
    state: &ViewState,
    lag: &IntGauge,
) -> String {
    let mut stream = match js.get_stream(&cfg.stream).await {
        Ok(s) => s,
        Err(e) => return format!("finding stream {}: {e}", cfg.stream),
    };
    let copied = match store.outbox_cursor(CURSOR) {
        Ok(c) => c,
        Err(e) => return format!("reading the view's position: {e}"),
    };
    // Nothing to copy (a new cluster, or a restart that had copied everything): ready at once.
    match stream.info().await {
        Ok(i) => state.behind(i.state.last_sequence.saturating_sub(copied), lag),
        Err(e) => return format!("reading stream {}: {e}", cfg.stream),
    }
    // An ordered consumer of this node's own: no state on the servers to go stale when the
    // node's disk is lost; where to start is the store's cursor.
    let mut messages = match crate::cluster::read_from(&stream, copied + 1).await {
        Ok(m) => m,
        Err(why) => return why,
    };
    loop {
        // The first message as it comes, then whatever else is there already, up to a batch.
        let mut taken = Vec::new();
        let mut next = messages.next().await;
        loop {
            match next {
                Some(Ok(m)) => taken.push(m),
                Some(Err(e)) => return format!("reading: {e}"),
                None => return "the consumer ended".into(),
            }
            if taken.len() == BATCH {
                break;
            }
            match messages.next().now_or_never() {
                Some(n) => next = n,
                None => break,
            }
        }
        let Some(info) = taken.last().and_then(|m| m.info().ok()) else {
            return "a message without its position".into();
        };
        let (position, pending) = (info.stream_sequence, info.pending);
        if let Err(why) = store_all(store, &taken, &cfg.node).await {
            return why;
        }
        // A synced write: off the runtime's threads.
        let saver = store.clone();
        match tokio::task::spawn_blocking(move || saver.set_outbox_cursor(CURSOR, position)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return format!("saving the view's position: {e}"),
            Err(e) => return format!("saving the view's position: {e}"),
        }
        state.behind(pending, lag);
    }
}

/// Stores a batch, all puts in flight at once, and returns once every one is durable. What this
/// node published itself is put only if its store lacks it (a disk lost and started anew).
async fn store_all(store: &Store, taken: &[Message], node: &str) -> Result<(), String> {
    let docs: Vec<(NewDocument, bool)> = taken
        .iter()
        .filter_map(|m| replica_of(m).map(|d| (d, from_node(m, node))))
        .collect();
    // The look-ups of the node's own documents read RocksDB: off the runtime's threads, and
    // only when the batch has any (on a node of a cluster most documents are other nodes').
    if !docs.iter().any(|(_, own)| *own) {
        return put_all(store, docs.into_iter().map(|(d, _)| d)).await;
    }
    let reader = store.clone();
    let missing = tokio::task::spawn_blocking(move || {
        let mut keep = Vec::with_capacity(docs.len());
        for (doc, own) in docs {
            if !own || reader.get(&doc.fn_number, doc.fd)?.is_none() {
                keep.push(doc);
            }
        }
        Ok::<_, ofd_store::StoreError>(keep)
    })
    .await
    .map_err(|e| format!("reading the store: {e}"))?
    .map_err(|e| format!("reading the store: {e}"))?;
    put_all(store, missing).await
}

/// Puts every document at once (they share the committer's group commits), then waits for all.
async fn put_all(store: &Store, docs: impl IntoIterator<Item = NewDocument>) -> Result<(), String> {
    let puts: Vec<_> = docs.into_iter().map(|doc| store.put(doc)).collect();
    for p in puts {
        p.await
            .map_err(|e| format!("storing a copied document: {e}"))?;
    }
    Ok(())
}

/// Whether this node published the message itself.
fn from_node(m: &Message, node: &str) -> bool {
    m.headers
        .as_ref()
        .and_then(|h| get(h, "Ofd-Node"))
        .is_some_and(|n| n == node)
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
    let ack = match crate::export::ack_header(h) {
        Some(ack) => ack.ok()?,
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
