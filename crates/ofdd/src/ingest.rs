//! The FN–OFD pipeline: frame → decide → store → answer.
//!
//! `ofd_proto::decide` says what a frame gets (accept, refuse with a code, keep encrypted,
//! decrypt first, close); this module only performs that decision. It is split in two halves
//! so a connection can pipeline: [`Ingest::begin`] decides, encodes the answer and hands the
//! durable write to the group committer; [`Ingest::finish`] awaits that write and only then
//! releases the answer. That ordering is the daemon's central promise: **no acknowledgement
//! leaves before its document is on disk**, because an FN deletes what the operator
//! acknowledged. In replicated mode ([`crate::cluster`]) the answer also waits for the
//! replicated stream's acknowledgement: [`Ingest::settle`] awaits the local write and sends the
//! publish, [`Ingest::release`] awaits the stream, so a connection's publishes are in flight
//! together.
//!
//! The frame is owned once, as `Bytes`, from the connection's read buffer to the store's write
//! (the document record and, for a conflict, the re-encoded answer); the answer is encoded once
//! and shared by the stored copy and the bytes sent.
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

use bytes::Bytes;
use ofd_proto::ack::{AckEncoder, AckTarget, ResponseCode};
use ofd_proto::decide::{Decision, FnStanding, Policy, decide, decide_message, keep_encrypted};
use ofd_proto::doctype::DocType;
use ofd_proto::framing::FrameLimits;
use ofd_proto::message::Message;
use ofd_proto::validate::{Document, HealthReport};
use ofd_store::{
    DocFlags, FnBindRequest, FnHealth, FnNumber, KktStatus, NewDocument, Outcome, PutFuture,
    PutOutcome, RejectedMessage, Rn, Settlement, Store, StoreFuture,
};
use tracing::{error, warn};

use crate::clock::{Now, now, unix_now};
use crate::cluster::replicator::{Confirmed, InFlight, Replicator};
use crate::decrypt::Decryptor;
use crate::log_gate::LogGate;
use crate::metrics::Metrics;
use crate::response::Response;

/// A message between [`Ingest::begin`] and [`Ingest::finish`].
pub enum Pending {
    Ready(Response),
    /// A document going into the log; `ack` is released only once the write is durable.
    Document {
        write: PutFuture,
        /// Empty when nothing is to be sent (an encrypted body under the silent policy).
        ack: Bytes,
        doc_type: &'static str,
        result: &'static str,
        /// Registration reports (re)bind the FN to its RN once stored.
        bind: Option<FnBindRequest>,
        /// The request and its address, to answer a conflict (the same buffer the store holds,
        /// not a copy; the headers are not parsed again).
        frame: Bytes,
        target: AckTarget,
        /// The document's key, to replicate it once stored (replicated mode).
        fn_number: FnNumber,
        fd: u32,
    },
    /// A refusal kept for audit before its negative answer is sent.
    Refused {
        write: StoreFuture<u64>,
        ack: Bytes,
        doc_type: &'static str,
        result: &'static str,
    },
}

/// An answer that may still wait for the replicated stream (see [`Ingest::settle`]).
pub enum Answer {
    /// Ready to send.
    Now(Response),
    /// Sent only once the stream acknowledged the publish; if it does not, the connection closes
    /// unanswered and the FN resends.
    Replicating {
        publish: InFlight,
        then: Response,
        /// The document's bytes, to compare with the stream's first copy if it had one.
        raw: Bytes,
    },
}

pub struct Ingest {
    store: Store,
    /// Replicated mode: answers wait for the stream too.
    replicator: Option<Arc<Replicator>>,
    metrics: Arc<Metrics>,
    encoder: AckEncoder,
    decryptor: Box<dyn Decryptor>,
    policy: Policy,
    limits: FrameLimits,
    log_gate: Arc<LogGate>,
}

impl Ingest {
    pub fn new(
        store: Store,
        metrics: Arc<Metrics>,
        encoder: AckEncoder,
        decryptor: Box<dyn Decryptor>,
        policy: Policy,
        limits: FrameLimits,
        log_gate: Arc<LogGate>,
    ) -> Ingest {
        Ingest {
            store,
            replicator: None,
            metrics,
            encoder,
            decryptor,
            policy,
            limits,
            log_gate,
        }
    }

    /// Replicated mode (set once at start, before any frame).
    pub fn replicate_through(&mut self, replicator: Arc<Replicator>) {
        self.replicator = Some(replicator);
    }

    pub fn frame_limits(&self) -> FrameLimits {
        self.limits
    }

    /// First half: decide, encode the answer, hand the durable write to the committer.
    pub fn begin(&self, frame: Bytes) -> Pending {
        let now = now();
        let decision = decide(
            &frame,
            &self.limits,
            |f| self.standing(f),
            &self.policy,
            now.secs,
        );
        self.perform(decision, &frame, now)
    }

    /// The registry's view of an FN: a memory look-up, never a database read per message.
    fn standing(&self, fn_ascii: &[u8; 16]) -> FnStanding {
        let admission = FnNumber::new(fn_ascii)
            .ok()
            .and_then(|f| self.store.admission_of(&f));
        match admission {
            None => FnStanding::Unknown,
            Some(a) if a.status == KktStatus::Deregistered => FnStanding::Deregistered {
                encrypted: a.encrypted,
            },
            Some(a) => FnStanding::Registered {
                encrypted: a.encrypted,
            },
        }
    }

    fn perform(&self, decision: Decision<'_>, frame: &Bytes, now: Now) -> Pending {
        match decision {
            Decision::Accept { msg, doc } => self.store_document(&msg, &doc, frame, now, false),
            Decision::Refuse {
                target,
                code,
                fd,
                why,
                doc_type,
            } => {
                let doc_type = doc_type.map_or("unknown", DocType::label);
                self.refuse(frame, &target, code, fd, &why, why.result(), doc_type, now)
            }
            Decision::KeepEncrypted { msg, acknowledge } => {
                self.store_encrypted(&msg, frame, acknowledge, now)
            }
            Decision::Decrypt { msg, standing } => {
                match self.decryptor.decrypt(&msg.session.fn_number, msg.payload) {
                    Ok(plain) => {
                        let clear = Message {
                            payload: &plain,
                            ..msg
                        };
                        match decide_message(clear, standing, &self.policy, now.secs) {
                            Decision::Accept { msg, doc } => {
                                self.store_document(&msg, &doc, frame, now, true)
                            }
                            other => self.perform(other, frame, now),
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "encrypted document kept as received");
                        self.perform(keep_encrypted(msg, standing, &self.policy), frame, now)
                    }
                }
            }
            Decision::Close(e) => {
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

    /// Second half: wait for durability, then release the answer.
    pub async fn finish(&self, pending: Pending) -> Response {
        let answer = self.settle(pending).await;
        self.release(answer).await
    }

    /// Second half, step one: wait for the local synced write and, in replicated mode, send the
    /// stored document to the stream. A connection settles every frame it read before it
    /// releases any, so their publishes are in flight together.
    pub async fn settle(&self, pending: Pending) -> Answer {
        match pending {
            Pending::Ready(r) => Answer::Now(r),
            Pending::Document {
                write,
                ack,
                doc_type,
                result,
                bind,
                frame,
                target,
                fn_number,
                fd,
            } => match write.await {
                Ok(PutOutcome::Stored { outbox_seq }) => {
                    self.count(doc_type, result);
                    if let Some(req) = bind
                        && let Err(e) = self.store.bind_fn(req).await
                    {
                        // The document is durable; the binding can be redone by the next
                        // registration report or by the operator.
                        warn!(error = %e, "binding FN to RN failed");
                    }
                    self.replicated(fn_number, fd, outbox_seq.unwrap_or(0), answer(ack), frame)
                        .await
                }
                Ok(PutOutcome::Duplicate { ack: stored }) => {
                    self.count(doc_type, "duplicate");
                    // Its first answer may have been withheld for want of replication: the
                    // resend is answered only once the stream has it (a duplicate there if so).
                    self.replicated(fn_number, fd, 0, answer(stored), frame)
                        .await
                }
                Ok(PutOutcome::Conflict { .. }) => {
                    // Same (FN, FD), different bytes: kept apart, never overwriting; the FN is
                    // told its document failed control (rare, so encoded only now).
                    self.count(doc_type, "conflict");
                    Answer::Now(
                        self.encode(&target, ResponseCode::FormatLogic, &frame, unix_now())
                            .map_or(Response::Close("internal"), Response::Ack),
                    )
                }
                Err(e) => Answer::Now(self.store_failed(doc_type, &e)),
            },
            Pending::Refused {
                write,
                ack,
                doc_type,
                result,
            } => Answer::Now(match write.await {
                Ok(_) => {
                    self.count(doc_type, result);
                    Response::Ack(ack)
                }
                Err(e) => self.store_failed(doc_type, &e),
            }),
        }
    }

    /// In replicated mode, publish the stored document and hold `then` until the stream has it;
    /// an answer of silence (an encrypted body kept unacknowledged) promises nothing and waits
    /// for nothing (the backstop exporter publishes it).
    async fn replicated(
        &self,
        fn_number: FnNumber,
        fd: u32,
        outbox_seq: u64,
        then: Response,
        raw: Bytes,
    ) -> Answer {
        match &self.replicator {
            Some(r) if matches!(then, Response::Ack(_)) => Answer::Replicating {
                publish: r.send_doc(&self.store, fn_number, fd, outbox_seq).await,
                then,
                raw,
            },
            _ => Answer::Now(then),
        }
    }

    /// Second half, step two: the answer, once the stream acknowledged what it waits for; else
    /// the connection closes unanswered (the FN resends; the node is unready meanwhile).
    pub async fn release(&self, answer: Answer) -> Response {
        match answer {
            Answer::Now(r) => r,
            Answer::Replicating { publish, then, raw } => match &self.replicator {
                Some(r) => match r.confirmed(publish).await {
                    Confirmed::New => then,
                    // Another node may have stored it first (a resend that reached this node
                    // before it copied the document): the register gets the first answer.
                    Confirmed::Duplicate(position) => r
                        .first_answer(position, &raw)
                        .await
                        .map_or(then, Response::Ack),
                    Confirmed::No => Response::Close("replication_unavailable"),
                },
                None => Response::Close("replication_unavailable"),
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

    /// Audit a refused message, then answer `code`.
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        frame: &Bytes,
        target: &AckTarget,
        code: ResponseCode,
        fd: u32,
        why: &dyn std::fmt::Display,
        result: &'static str,
        doc_type: &'static str,
        now: Now,
    ) -> Pending {
        let Some(ack) = self.encode(target, code, frame, now.secs) else {
            return Pending::Ready(Response::Close("internal"));
        };
        let write = self.store.put_rejected(RejectedMessage {
            received_at_ms: now.ms,
            fn_number: FnNumber::new(&target.fn_ascii).ok(),
            fd: Some(fd),
            reason: why.to_string(),
            raw: frame.clone(),
            ack: ack.clone(),
        });
        Pending::Refused {
            write,
            ack,
            doc_type,
            result,
        }
    }

    /// The durable write of an accepted document (decrypted: its body was encrypted).
    fn store_document(
        &self,
        msg: &Message<'_>,
        doc: &Document<'_>,
        frame: &Bytes,
        now: Now,
        decrypted: bool,
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
        let target = AckTarget::from(msg);
        let Some(ack) = self.encode(&target, ResponseCode::Accepted, frame, now.secs) else {
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
                    time: u64::from(now.secs),
                })
            }
            _ => None,
        };
        let flags = if decrypted {
            DocFlags(DocFlags::ENCRYPTED)
        } else {
            DocFlags::default()
        };
        let write = self.store.put(NewDocument {
            fn_number,
            fd: doc.fd_number,
            rn,
            received_at_ms: now.ms,
            doc_type: doc.doc_type.as_u8(),
            ffd: doc.ffd.tag_value(),
            outcome: Outcome::Accepted,
            // The store decides "unknown FN" and the register (`ofd-store`'s committer).
            flags,
            // Marking documents 81 and 83 carry no time: received now is the register's sign
            // of life.
            doc_time: doc.time.unwrap_or(now.secs),
            shift: doc.shift_number,
            health: doc.health_report().map(store_health),
            settlement: doc
                .settlement
                .zip(doc.total_sum)
                .map(|(kind, total)| Settlement { kind, total }),
            raw: frame.clone(),
            ack: ack.clone(),
        });
        Pending::Document {
            write,
            ack,
            doc_type,
            result: "accepted",
            bind,
            frame: frame.clone(),
            target,
            fn_number,
            fd: doc.fd_number,
        }
    }

    /// An encrypted body nothing could decrypt, stored as received.
    fn store_encrypted(
        &self,
        msg: &Message<'_>,
        frame: &Bytes,
        acknowledge: bool,
        now: Now,
    ) -> Pending {
        let Ok(fn_number) = FnNumber::new(&msg.session.fn_number) else {
            return Pending::Ready(Response::Close("framing_error"));
        };
        let target = AckTarget::from(msg);
        let ack = if acknowledge {
            match self.encode(&target, ResponseCode::Accepted, frame, now.secs) {
                Some(a) => a,
                None => return Pending::Ready(Response::Close("internal")),
            }
        } else {
            Bytes::new()
        };
        let write = self.store.put(NewDocument {
            fn_number,
            fd: msg.container.fd_number,
            rn: None,
            received_at_ms: now.ms,
            doc_type: msg.doc_type.as_u8(),
            ffd: 0,
            outcome: if acknowledge {
                Outcome::Accepted
            } else {
                Outcome::EncryptedUnacknowledged
            },
            flags: DocFlags(DocFlags::ENCRYPTED),
            doc_time: 0,
            shift: None,
            health: None,
            settlement: None,
            raw: frame.clone(),
            ack: ack.clone(),
        });
        Pending::Document {
            write,
            ack,
            doc_type: msg.doc_type.label(),
            result: "encrypted",
            bind: None,
            frame: frame.clone(),
            target,
            fn_number,
            fd: msg.container.fd_number,
        }
    }

    fn encode(
        &self,
        target: &AckTarget,
        code: ResponseCode,
        request: &[u8],
        now: u32,
    ) -> Option<Bytes> {
        let mut out = Vec::with_capacity(160);
        match self.encoder.encode(target, code, now, request, &mut out) {
            Ok(()) => Some(Bytes::from(out)),
            Err(e) => {
                // The operator INN was checked when the encoder was built; nothing else fails.
                error!(error = %e, "cannot encode an acknowledgement");
                None
            }
        }
    }
}

/// The stored answer, or silence when none is to be sent.
fn answer(ack: Bytes) -> Response {
    if ack.is_empty() {
        Response::Silent
    } else {
        Response::Ack(ack)
    }
}

/// The store's copy of an FN's report on itself.
pub(crate) fn store_health(r: HealthReport) -> FnHealth {
    FnHealth {
        untransmitted: r.untransmitted,
        first_untransmitted_time: r.first_untransmitted_time,
        first_untransmitted_number: r.first_untransmitted_number,
        key_expiry_soon: r.key_expiry_soon,
        key_expiry_urgent: r.key_expiry_urgent,
        memory_nearly_full: r.memory_nearly_full,
        ack_overdue: r.ack_overdue,
    }
}
