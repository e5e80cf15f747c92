//! The per-message pipeline: frame → parse → validate → admit → store → acknowledge.
//!
//! Split in two halves so a connection can pipeline: [`Ingest::begin`] does everything that is
//! synchronous and cheap (parsing, format-logic control, admission, encoding the answer) and
//! hands the durable write to the group committer; [`Ingest::finish`] awaits that write and only
//! then releases the acknowledgement. That ordering is the daemon's central promise: **no
//! acknowledgement leaves before its document is on disk**, because an FN deletes what the
//! operator acknowledged.
//!
//! What each kind of input gets:
//! - a valid document → stored, acknowledged with code 0;
//! - a resend of a stored (FN, FD) → the stored acknowledgement, byte for byte;
//! - the same (FN, FD) with different bytes → kept in the store's conflicts, answered code 14;
//! - a document failing format-logic control → kept in the `rejected` audit log, code 14
//!   (undecodable TLV or unknown type: code 11);
//! - a document from a deregistered register (or an unknown FN, when so configured) → kept in
//!   the audit log, answered with the configured refusal code;
//! - an encrypted body nobody can decrypt → stored raw, answered per policy (default: silence);
//! - broken framing (signature, versions, lengths, CRCs) → no answer is possible; the
//!   connection is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ofd_proto::ack::{AckTarget, ResponseCode, encode_ack};
use ofd_proto::doctype::DocType;
use ofd_proto::error::{Disposition, ProtoError};
use ofd_proto::framing::FrameLimits;
use ofd_proto::message::{Message, parse_message_with};
use ofd_proto::sign::{HmacSigner, Signer};
use ofd_proto::validate::{Document, validate};
use ofd_store::{
    Admission, CommitStats, DocFlags, FnBindRequest, FnHealth, FnNumber, HealthEvent, KktStatus,
    NewDocument, Outcome, PutFuture, PutOutcome, RejectedMessage, Rn, Store, StoreFuture,
    StoreObserver, StoreOptions,
};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::decrypt::{Decryptor, NoDecryptor};
use crate::metrics::Metrics;

/// Development-only signer key, used when none is configured (and logged loudly).
const DEV_SIGNER_KEY: &[u8] = b"ofdd-development-signer-key-not-for-production";

/// What the connection does with a message once it is settled.
#[derive(Debug)]
pub enum Response {
    /// Write these bytes (an acknowledgement, positive or negative).
    Ack(Vec<u8>),
    /// Write nothing; keep the connection (encrypted body under the silent policy).
    Silent,
    /// Write nothing and close the connection; the label says why.
    Close(&'static str),
}

/// A message between [`Ingest::begin`] and [`Ingest::finish`].
pub enum Pending {
    Ready(Response),
    /// A document going into the log; `ack` is released only once the write is durable.
    Document {
        write: PutFuture,
        ack: Vec<u8>,
        doc_type: &'static str,
        result: &'static str,
        /// Registration reports (re)bind the FN to its RN once stored.
        bind: Option<FnBindRequest>,
        /// Accepted with code 0 (vs. stored but not acknowledged).
        acknowledge: bool,
        /// The request, kept (a reference-counted view, no copy) to answer a conflict.
        frame: bytes::Bytes,
    },
    /// A rejection kept for audit before its negative acknowledgement is sent.
    Rejected {
        write: StoreFuture<u64>,
        ack: Vec<u8>,
        doc_type: &'static str,
        result: &'static str,
    },
}

pub struct Ingest {
    config: Config,
    metrics: Arc<Metrics>,
    store: Store,
    signer: Box<dyn Signer>,
    decryptor: Box<dyn Decryptor>,
    frame_limits: FrameLimits,
    operator_inn: Vec<u8>,
    log_gate: LogGate,
    /// Kazakh registers on the same port (`kz.rs`).
    kz: crate::kz::KzIngest,
    /// Documents handed to the store and not yet answered (`store.max_in_flight`).
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Feeds the store's commit statistics into Prometheus and turns its health changes into the
/// `ofd_store_healthy` gauge and log lines: one per change and a reminder a minute while it
/// lasts — never one per document, however many registers keep sending.
struct StoreEvents(Arc<Metrics>);

impl StoreObserver for StoreEvents {
    fn on_commit(&self, stats: &CommitStats) {
        self.0
            .store_commit
            .observe(stats.commit_duration.as_secs_f64());
        self.0.store_batch_size.observe(stats.commands as f64);
    }

    fn on_health(&self, event: &HealthEvent) {
        match event {
            HealthEvent::Degraded { reason, detail } => {
                self.0.store_healthy.set(0);
                error!(
                    %reason, %detail,
                    "store degraded: documents are refused (connections closed, nothing acknowledged) until it heals by itself"
                );
            }
            HealthEvent::StillDegraded {
                reason,
                for_,
                detail,
            } => {
                warn!(%reason, secs = for_.as_secs(), %detail, "store still degraded");
            }
            HealthEvent::Recovered {
                reason,
                after,
                reopened,
            } => {
                self.0.store_healthy.set(1);
                info!(
                    %reason,
                    secs = after.as_secs_f64(),
                    reopened,
                    "store healthy again; ingest resumed"
                );
            }
        }
    }
}

impl Ingest {
    /// Open the store and set up the pipeline.
    pub fn open(config: Config, metrics: Arc<Metrics>) -> anyhow::Result<Ingest> {
        let opts = StoreOptions {
            max_batch: config.store.max_batch,
            reserve_bytes: config.store.reserve_mib.saturating_mul(1 << 20),
            ..StoreOptions::default()
        };
        let store = Store::open_with_observer(
            &config.data,
            opts,
            Arc::new(StoreEvents(metrics.clone())),
        )
        .with_context(|| format!("cannot open the data directory {}", config.data.display()))?;
        let key = match &config.operator.signer_key {
            Some(k) => k.as_bytes().to_vec(),
            None => {
                warn!(
                    "no operator.signer_key / OFDD_SIGNER_KEY set: acknowledgements are signed with the development key"
                );
                DEV_SIGNER_KEY.to_vec()
            }
        };
        Ok(Ingest::with_parts(
            config,
            metrics,
            store,
            Box::new(HmacSigner::new(&key)),
            Box::new(NoDecryptor),
        ))
    }

    /// Assemble from parts (tests inject a decryptor or a different signer here).
    pub fn with_parts(
        config: Config,
        metrics: Arc<Metrics>,
        store: Store,
        signer: Box<dyn Signer>,
        decryptor: Box<dyn Decryptor>,
    ) -> Ingest {
        let max_body = u16::try_from(config.limits.max_message_bytes).unwrap_or(u16::MAX);
        // `Config::check` has accepted the policy before the daemon starts.
        let policy = config.kz.policy().unwrap_or_default();
        let kz = crate::kz::KzIngest::new(store.clone(), policy, metrics.clone());
        let config_in_flight = config
            .store
            .max_in_flight
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Ingest {
            kz,
            frame_limits: FrameLimits {
                max_body,
                ..FrameLimits::default()
            },
            operator_inn: config.operator.inn.as_bytes().to_vec(),
            config,
            metrics,
            store,
            signer,
            decryptor,
            log_gate: LogGate::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config_in_flight)),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn metrics_arc(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Kazakh pipeline.
    pub fn kz(&self) -> &crate::kz::KzIngest {
        &self.kz
    }

    /// Waits until `n` more documents may be handed to the store (see `store.max_in_flight`).
    /// A connection holds the permits from `begin` to `finish`; while none are free it stops
    /// reading, and the back-pressure reaches the registers through TCP.
    pub async fn admit_in_flight(&self, n: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let cap = self.config.store.max_in_flight.max(1);
        let n = u32::try_from(n.clamp(1, cap)).unwrap_or(u32::MAX);
        // `None` only if the semaphore were closed, which nothing does.
        self.in_flight.clone().acquire_many_owned(n).await.ok()
    }

    pub fn frame_limits(&self) -> FrameLimits {
        self.frame_limits
    }

    /// Flush and close the store (after every connection has finished).
    pub fn close(&self) -> anyhow::Result<()> {
        // Closed even when the flush fails (a degraded store): everything acknowledged is in
        // the synced WAL already, and the committer must still answer what is queued.
        let flushed = self.store.flush();
        self.store.close();
        flushed.context("flushing the store")?;
        Ok(())
    }

    /// Log a broken frame, at most a few lines per second (a flood must not flood the log too).
    pub fn log_framing_error(&self, peer: std::net::SocketAddr, err: &ProtoError) {
        if self.log_gate.allow() {
            warn!(%peer, reason = err.reason(), error = %err, "broken frame; connection closed");
        }
    }

    /// Log a broken KKM–OFD frame, rate-limited like FN–OFD ones.
    pub fn log_kz_framing_error(&self, peer: std::net::SocketAddr, err: &ofd_kz::KzError) {
        if self.log_gate.allow() {
            warn!(%peer, reason = err.reason(), error = %err, "broken KKM frame; connection closed");
        }
    }

    /// First half: everything up to handing the durable write to the group committer.
    pub fn begin(&self, frame: bytes::Bytes) -> Pending {
        let mut pending = self.begin_parsed(&frame);
        // A pending write keeps its request (a reference count, not a copy) to answer a conflict.
        if let Pending::Document { frame: slot, .. } = &mut pending {
            *slot = frame;
        }
        pending
    }

    fn begin_parsed(&self, frame: &bytes::Bytes) -> Pending {
        let now = unix_now();
        let msg = match parse_message_with(frame, &self.frame_limits) {
            Ok(m) => m,
            Err(e) => return self.refuse_unparsed(frame, &e, now),
        };
        let doc_type = msg.doc_type.label();
        let fn_number = FnNumber::new(&msg.session.fn_number).ok();
        // A memory look-up: admission must not cost a database read per message.
        let kkt = fn_number.as_ref().and_then(|f| self.store.admission_of(f));

        // An FN registered with encryption sends bodies that are not TLV: route those to the
        // decryptor. (Its plaintext documents, e.g. the registration report, parse as usual.)
        if kkt.as_ref().is_some_and(|k| k.encrypted) && msg.document().is_err() {
            return self.begin_encrypted(&msg, kkt.as_ref(), fn_number, now);
        }

        let doc = match validate(&msg, &self.config.validation, now) {
            Ok(doc) => doc,
            Err(e) => return self.reject(&msg, &e, fn_number, doc_type, now),
        };
        self.admit_and_store(&msg, &doc, kkt.as_ref(), now, DocFlags::default())
    }

    /// Second half: wait for durability, then release the answer.
    pub async fn finish(&self, pending: Pending) -> Response {
        match pending {
            Pending::Ready(r) => r,
            Pending::Document {
                write,
                ack,
                doc_type,
                result,
                bind,
                acknowledge,
                frame,
            } => {
                match write.await {
                    Ok(PutOutcome::Stored { .. }) => {
                        self.count(doc_type, result);
                        if let Some(req) = bind
                            && let Err(e) = self.store.bind_fn(req).await
                        {
                            // The document is durable; the binding can be redone by the next
                            // registration report or by the operator.
                            warn!(error = %e, "binding FN to RN failed");
                        }
                        if acknowledge {
                            Response::Ack(ack)
                        } else {
                            Response::Silent
                        }
                    }
                    Ok(PutOutcome::Duplicate { ack: stored }) => {
                        self.count(doc_type, "duplicate");
                        if stored.is_empty() {
                            Response::Silent
                        } else {
                            Response::Ack(stored)
                        }
                    }
                    Ok(PutOutcome::Conflict { .. }) => {
                        // Same (FN, FD), different bytes: kept apart, never overwriting; the FN
                        // is told its document failed control (rare, so encoded only now).
                        self.count(doc_type, "conflict");
                        let target = AckTarget::from_frame(&frame);
                        match target.and_then(|t| {
                            self.encode(&t, ResponseCode::FormatLogic, &frame, unix_now())
                        }) {
                            Some(nack) => Response::Ack(nack),
                            None => Response::Silent,
                        }
                    }
                    Err(e) => self.store_failed(doc_type, &e),
                }
            }
            Pending::Rejected {
                write,
                ack,
                doc_type,
                result,
            } => match write.await {
                Ok(_) => {
                    self.count(doc_type, result);
                    Response::Ack(ack)
                }
                Err(e) => self.store_failed(doc_type, &e),
            },
        }
    }

    /// Not durable: say nothing and close right after the frame (the FN–OFD protocol has no
    /// "try later" code; the FN keeps the document and resends it). Counted, never logged
    /// here — a degraded store fails every document, and its log line is the health change.
    fn store_failed(&self, doc_type: &'static str, e: &ofd_store::StoreError) -> Response {
        self.count(doc_type, "store_error");
        match e.degraded_reason() {
            Some(reason) => {
                self.metrics
                    .store_write_failures
                    .with_label_values(&[reason.as_str()])
                    .inc();
            }
            None => tracing::debug!(error = %e, "store write failed"),
        }
        if matches!(e, ofd_store::StoreError::Unavailable { .. }) {
            Response::Close("store_unavailable")
        } else {
            Response::Close("store_error")
        }
    }

    fn count(&self, doc_type: &str, result: &str) {
        self.metrics
            .documents
            .with_label_values(&[doc_type, result])
            .inc();
    }

    /// The message did not parse. Framing breakage closes the connection; a message whose
    /// headers are intact but whose content is unrecognisable gets a code-11 answer.
    fn refuse_unparsed(&self, frame: &[u8], e: &ProtoError, now: u32) -> Pending {
        match (e.disposition(), AckTarget::from_frame(frame)) {
            (Disposition::Nack(code), Some(target)) => {
                let doc_type = "unknown";
                match self.encode(&target, code, frame, now) {
                    Some(ack) => self.audit(
                        frame,
                        FnNumber::new(&target.fn_ascii).ok(),
                        Some(target.fd_number),
                        e,
                        ack,
                        doc_type,
                        "rejected",
                        now,
                    ),
                    None => Pending::Ready(Response::Close("internal")),
                }
            }
            _ => {
                self.metrics
                    .frames_rejected
                    .with_label_values(&[e.reason()])
                    .inc();
                if self.log_gate.allow() {
                    warn!(reason = e.reason(), error = %e, "unparseable message; connection closed");
                }
                Pending::Ready(Response::Close("framing_error"))
            }
        }
    }

    /// Format-logic control failed: audit it and answer with the error's code.
    fn reject(
        &self,
        msg: &Message<'_>,
        e: &ProtoError,
        fn_number: Option<FnNumber>,
        doc_type: &'static str,
        now: u32,
    ) -> Pending {
        let code = match e.disposition() {
            Disposition::Nack(code) => code,
            Disposition::Close => {
                self.metrics
                    .frames_rejected
                    .with_label_values(&[e.reason()])
                    .inc();
                return Pending::Ready(Response::Close("framing_error"));
            }
        };
        match self.encode(&AckTarget::from(msg), code, msg.raw, now) {
            Some(ack) => self.audit(
                msg.raw,
                fn_number,
                Some(msg.container.fd_number),
                e,
                ack,
                doc_type,
                "rejected",
                now,
            ),
            None => Pending::Ready(Response::Close("internal")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        raw: &[u8],
        fn_number: Option<FnNumber>,
        fd: Option<u32>,
        reason: &dyn std::fmt::Display,
        ack: Vec<u8>,
        doc_type: &'static str,
        result: &'static str,
        now: u32,
    ) -> Pending {
        let write = self.store.put_rejected(RejectedMessage {
            received_at_ms: u64::from(now) * 1000,
            fn_number,
            fd,
            reason: reason.to_string(),
            raw: raw.to_vec(),
            ack: ack.clone(),
        });
        Pending::Rejected {
            write,
            ack,
            doc_type,
            result,
        }
    }

    /// The admission policy: a deregistered register, or an FN no register is bound to when
    /// unknown FNs are refused, gets the configured refusal code and an audit record.
    fn refusal(
        &self,
        msg: &Message<'_>,
        kkt: Option<&Admission>,
        fn_number: FnNumber,
        fd: u32,
        doc_type: &'static str,
        now: u32,
    ) -> Option<Pending> {
        let reason = match kkt {
            Some(k) if k.status == KktStatus::Deregistered => "register is deregistered",
            None if !self.config.admission.accept_unknown_fn => {
                "FN is not bound to a registered KKT"
            }
            _ => return None,
        };
        let code = ResponseCode::from_u8(self.config.admission.refuse_code);
        Some(
            match self.encode(&AckTarget::from(msg), code, msg.raw, now) {
                Some(ack) => self.audit(
                    msg.raw,
                    Some(fn_number),
                    Some(fd),
                    &reason,
                    ack,
                    doc_type,
                    "refused",
                    now,
                ),
                None => Pending::Ready(Response::Close("internal")),
            },
        )
    }

    /// Admission, then the durable write of an accepted document.
    fn admit_and_store(
        &self,
        msg: &Message<'_>,
        doc: &Document<'_>,
        kkt: Option<&Admission>,
        now: u32,
        mut flags: DocFlags,
    ) -> Pending {
        let doc_type = doc.doc_type.label();
        let fn_number = match FnNumber::new(&doc.fn_number) {
            Ok(f) => f,
            // Validation checked the FN's digits, so this is a bug, not bad input.
            Err(e) => {
                error!(error = %e, "validated FN number not accepted by the store");
                return Pending::Ready(Response::Close("internal"));
            }
        };
        if let Some(refused) = self.refusal(msg, kkt, fn_number, doc.fd_number, doc_type, now) {
            return refused;
        }
        if kkt.is_none() {
            flags = DocFlags(flags.0 | DocFlags::UNKNOWN_FN);
        }
        let Some(ack) = self.encode(&AckTarget::from(msg), ResponseCode::Accepted, msg.raw, now)
        else {
            return Pending::Ready(Response::Close("internal"));
        };
        let rn = doc.rn.and_then(|r| Rn::new(r).ok());
        let bind = match (doc.doc_type, rn) {
            (DocType::Registration | DocType::RegistrationChange, Some(rn)) => {
                Some(FnBindRequest {
                    rn,
                    fn_number,
                    kkt_serial: doc
                        .kkt_serial
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .unwrap_or_default(),
                    user_inn: doc
                        .user_inn
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .unwrap_or_default(),
                    encrypted: doc.encryption.unwrap_or(false),
                    time: u64::from(now),
                })
            }
            _ => None,
        };
        let write = self.store.put(NewDocument {
            fn_number,
            fd: doc.fd_number,
            rn,
            received_at_ms: unix_now_ms(),
            doc_type: doc.doc_type.as_u8(),
            ffd: doc.ffd.tag_value(),
            outcome: Outcome::Accepted,
            flags,
            // Marking documents 81 and 83 carry no time: received now is the register's sign
            // of life.
            doc_time: doc.time.unwrap_or(now),
            shift: doc.shift_number,
            health: health_of(doc),
            raw: msg.raw.to_vec(),
            ack: ack.clone(),
        });
        Pending::Document {
            write,
            ack,
            doc_type,
            result: "accepted",
            bind,
            acknowledge: true,
            frame: bytes::Bytes::new(),
        }
    }

    /// An encrypted body: decrypt if a module is installed, otherwise store it raw under policy.
    fn begin_encrypted(
        &self,
        msg: &Message<'_>,
        kkt: Option<&Admission>,
        fn_number: Option<FnNumber>,
        now: u32,
    ) -> Pending {
        let doc_type = msg.doc_type.label();
        let encrypted = DocFlags(DocFlags::ENCRYPTED);
        match self.decryptor.decrypt(&msg.session.fn_number, msg.payload) {
            Ok(plain) => {
                let clear = Message {
                    payload: &plain,
                    ..*msg
                };
                match validate(&clear, &self.config.validation, now) {
                    Ok(doc) => self.admit_and_store(msg, &doc, kkt, now, encrypted),
                    Err(e) => self.reject(msg, &e, fn_number, doc_type, now),
                }
            }
            Err(e) => {
                let Some(fn_number) = fn_number else {
                    return Pending::Ready(Response::Close("framing_error"));
                };
                let fd = msg.container.fd_number;
                if let Some(refused) = self.refusal(msg, kkt, fn_number, fd, doc_type, now) {
                    return refused;
                }
                let acknowledge = self.config.admission.acknowledge_encrypted;
                let ack = if acknowledge {
                    match self.encode(&AckTarget::from(msg), ResponseCode::Accepted, msg.raw, now) {
                        Some(a) => a,
                        None => return Pending::Ready(Response::Close("internal")),
                    }
                } else {
                    Vec::new()
                };
                tracing::debug!(error = %e, "encrypted document stored raw");
                let write = self.store.put(NewDocument {
                    fn_number,
                    fd: msg.container.fd_number,
                    rn: kkt.map(|k| k.rn),
                    received_at_ms: unix_now_ms(),
                    doc_type: msg.doc_type.as_u8(),
                    ffd: 0,
                    outcome: if acknowledge {
                        Outcome::Accepted
                    } else {
                        Outcome::EncryptedUnacknowledged
                    },
                    flags: encrypted,
                    doc_time: 0,
                    shift: None,
                    health: None,
                    raw: msg.raw.to_vec(),
                    ack: ack.clone(),
                });
                Pending::Document {
                    write,
                    ack,
                    doc_type,
                    result: "encrypted",
                    bind: None,
                    acknowledge,
                    frame: bytes::Bytes::new(),
                }
            }
        }
    }

    fn encode(
        &self,
        target: &AckTarget,
        code: ResponseCode,
        request: &[u8],
        now: u32,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(160);
        match encode_ack(
            target,
            code,
            &self.operator_inn,
            now,
            request,
            self.signer.as_ref(),
            &mut out,
        ) {
            Ok(()) => Some(out),
            Err(e) => {
                // Only a misconfigured operator INN can fail here, and config checks it at start.
                error!(error = %e, "cannot encode an acknowledgement");
                None
            }
        }
    }
}

/// The FN's self-reported health, from the document types that carry it (21 and 5).
fn health_of(doc: &Document<'_>) -> Option<FnHealth> {
    let h = &doc.health;
    let flags = matches!(doc.doc_type, DocType::ShiftClose);
    if !(flags || matches!(doc.doc_type, DocType::CurrentState)) {
        return None;
    }
    Some(FnHealth {
        untransmitted: h.untransmitted_count.unwrap_or(0),
        first_untransmitted_time: h.first_untransmitted_time.unwrap_or(0),
        first_untransmitted_number: h.first_untransmitted_number.unwrap_or(0),
        key_expiry_soon: flags.then_some(h.key_expiry_soon),
        key_expiry_urgent: flags.then_some(h.key_expiry_urgent),
        memory_nearly_full: flags.then_some(h.memory_nearly_full),
        ack_overdue: flags.then_some(h.ack_overdue),
    })
}

pub fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// At most `PER_SECOND` log lines per second for events a peer can trigger at will.
#[derive(Default)]
struct LogGate {
    /// (second << 16) | count within that second.
    state: AtomicU64,
}

impl LogGate {
    const PER_SECOND: u64 = 10;

    fn allow(&self) -> bool {
        let second = u64::from(unix_now());
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let (s, n) = (cur >> 16, cur & 0xFFFF);
            let next = if s == second {
                (s << 16) | (n + 1).min(0xFFFF)
            } else {
                second << 16 | 1
            };
            if s == second && n >= Self::PER_SECOND {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }
}
