//! The committer: one thread that turns queued writes into group-committed batches, handing
//! each written batch to the syncer (`sync.rs`) for its fsync and answers.
//!
//! A synced write costs about one fsync (≈ 0.2–0.5 ms on the development disk) whatever its
//! size, so throughput comes from putting many documents into each write. The committer blocks
//! for the first queued command, then takes whatever else is queued (up to `max_batch`)
//! without waiting: under light load a put is written alone; under heavy load the batch grows
//! by itself.
//!
//! For a batch of document puts it
//! 1. looks all keys up in the document index with one batched multi-get (the memtable and
//!    SST bloom filters answer most; `doc_log.rs`),
//! 2. walks the commands in arrival order with an overlay of keys stored earlier in the same
//!    batch, so two puts of one (FN, FD) in one batch are a store plus a duplicate/conflict,
//! 3. writes the document (at the log's next sequence), its index and `by_rn` entries into one
//!    `WriteBatch`, then one `outbox` entry listing every exported item of the batch and one
//!    liveness record per register the batch touched (per-key work — a WAL record, a memtable
//!    insert, its share of flush and compaction — is what a put costs, so what can be written
//!    once per batch is),
//! 4. writes it *without* fsync and passes the batch to the syncer, then goes on with the next
//!    batch while the syncer's fsync runs: building and writing batch N+1 overlaps with the
//!    fsync of batch N (a two-stage pipeline), and one fsync can cover several batches.
//!
//! Nothing is answered here: the syncer answers every command of a batch (stored, duplicate,
//! conflict, rejected, and per-command errors alike) only after an fsync that covers it. A
//! written-but-unsynced document is already visible to reads, so a resend that finds it is
//! answered "duplicate" — and that answer, too, waits for the fsync, so no acknowledgement
//! ever names a document that is not yet durable.
//!
//! Each command's result is decided while its batch is built and travels with its reply
//! (`Answer`), so the syncer sends what was decided, or an error if the batch did not become
//! durable, without matching results back to commands.
//!
//! Kazakh exchanges (`kz.rs`) ride in the same batches: the register's new state, its retry
//! answer, the log entry, the outbox entry and the liveness record are staged next to the
//! documents of other registers and share their fsync.
//!
//! If the write fails nothing is answered as stored and no counter moves. Registry mutations
//! are barriers: the pending batch is written first, then the mutation alone with a synced
//! write (which also syncs the WAL under the earlier batch).

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use rocksdb::{ColumnFamily, WriteBatch};

use crate::admission::AdmissionMap;
use crate::command::{Command, PutOutcome, Reply, fail_closed};
use crate::db::{DbRef, Shared};
use crate::error::StoreError;
use crate::keys::{DocKey, LiveKey, META_CONFLICT_SEQ, Rn, by_rn_key, conflict_key};
use crate::kz::{KzCommitted, KzRecord, KzWrite};
use crate::liveness::LivenessRecord;
use crate::options::{
    CF_BY_RN, CF_CONFLICTS, CF_DOC_INDEX, CF_DOC_LOG, CF_KZ_KKM, CF_KZ_LOG, CF_LIVENESS, CF_META,
    CF_OUTBOX, CF_REJECTED,
};
use crate::outbox::OutboxItem;
use crate::record::{self, DocFlags, NewDocument, RejectedMessage};
use crate::reload::Seqs;
use crate::sync::{Syncer, ToSync, Written};

pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    log_next: u64,
    outbox_next: u64,
    rejected_next: u64,
    conflict_next: u64,
    /// The healer's clock (`heal.rs`).
    pub(crate) next_tick: Instant,
    /// When the next reminder is due; `None` while healthy.
    pub(crate) reminder_at: Option<Instant>,
    /// `rocksdb.background-errors` as last seen.
    pub(crate) background_errors: u64,
}

/// A queued write of the current group.
pub(crate) enum Pending {
    Doc(Box<NewDocument>, Reply<PutOutcome>),
    Rejected(Box<RejectedMessage>, Reply<u64>),
    Kz(Box<KzWrite>, Reply<KzCommitted>),
}

impl Pending {
    /// Answers this command with `err`.
    pub(crate) fn fail(self, err: StoreError) {
        match self {
            Pending::Doc(_, r) => r.send(Err(err)),
            Pending::Rejected(_, r) => r.send(Err(err)),
            Pending::Kz(_, r) => r.send(Err(err)),
        }
    }
}

/// A command's reply together with its result, decided while its batch was built: the syncer
/// sends it once the batch is durable (or turns it into an error if the batch is not).
pub(crate) enum Answer {
    Put(Reply<PutOutcome>, Result<PutOutcome, StoreError>),
    Rejected(Reply<u64>, Result<u64, StoreError>),
    Kz(Reply<KzCommitted>, Result<KzCommitted, StoreError>),
}

impl Answer {
    /// Sends the result decided for this command.
    pub(crate) fn send(self) {
        match self {
            Answer::Put(reply, r) => reply.send(r),
            Answer::Rejected(reply, r) => reply.send(r),
            Answer::Kz(reply, r) => reply.send(r),
        }
    }

    /// Sends `err` instead of whatever was decided (the batch is not durable).
    pub(crate) fn fail(self, err: StoreError) {
        match self {
            Answer::Put(reply, _) => reply.send(Err(err)),
            Answer::Rejected(reply, _) => reply.send(Err(err)),
            Answer::Kz(reply, _) => reply.send(Err(err)),
        }
    }

    /// Replaces a success with `err()` (the batch's write failed); errors stay as they are.
    fn spoil(&mut self, err: impl Fn() -> StoreError) {
        match self {
            Answer::Put(_, r @ Ok(_)) => *r = Err(err()),
            Answer::Rejected(_, r @ Ok(_)) => *r = Err(err()),
            Answer::Kz(_, r @ Ok(_)) => *r = Err(err()),
            _ => {}
        }
    }
}

/// The column families a batch writes, looked up once per batch.
struct Cfs<'a> {
    doc_log: &'a ColumnFamily,
    doc_index: &'a ColumnFamily,
    by_rn: &'a ColumnFamily,
    outbox: &'a ColumnFamily,
    liveness: &'a ColumnFamily,
    rejected: &'a ColumnFamily,
    conflicts: &'a ColumnFamily,
    meta: &'a ColumnFamily,
    kz_kkm: &'a ColumnFamily,
    kz_log: &'a ColumnFamily,
}

impl<'a> Cfs<'a> {
    fn of(db: &'a DbRef) -> Result<Cfs<'a>, StoreError> {
        Ok(Cfs {
            doc_log: db.cf(CF_DOC_LOG)?,
            doc_index: db.cf(CF_DOC_INDEX)?,
            by_rn: db.cf(CF_BY_RN)?,
            outbox: db.cf(CF_OUTBOX)?,
            liveness: db.cf(CF_LIVENESS)?,
            rejected: db.cf(CF_REJECTED)?,
            conflicts: db.cf(CF_CONFLICTS)?,
            meta: db.cf(CF_META)?,
            kz_kkm: db.cf(CF_KZ_KKM)?,
            kz_log: db.cf(CF_KZ_LOG)?,
        })
    }
}

impl Committer {
    pub(crate) fn new(shared: Arc<Shared>, seqs: Seqs) -> Self {
        let background_errors = shared
            .db()
            .ok()
            .and_then(|db| {
                db.property_int_value("rocksdb.background-errors")
                    .ok()
                    .flatten()
            })
            .unwrap_or(0);
        Committer {
            shared,
            log_next: seqs.log_next,
            outbox_next: seqs.outbox_next,
            rejected_next: seqs.rejected_next,
            conflict_next: seqs.conflict_next,
            next_tick: Instant::now() + crate::heal::TICK,
            reminder_at: None,
            background_errors,
        }
    }

    /// Takes the sequence counters from a freshly (re)opened database.
    pub(crate) fn set_seqs(&mut self, seqs: Seqs) {
        self.log_next = seqs.log_next;
        self.outbox_next = seqs.outbox_next;
        self.rejected_next = seqs.rejected_next;
        self.conflict_next = seqs.conflict_next;
    }

    pub(crate) fn run(mut self, rx: mpsc::Receiver<Command>) {
        let (to_sync, syncer) = match Syncer::spawn(self.shared.clone()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the ofd-store syncer; refusing writes");
                while let Ok(cmd) = rx.recv() {
                    fail_closed(cmd);
                }
                return;
            }
        };
        self.pipeline(&rx, &to_sync);
        // Everything written so far is synced and answered before the thread ends.
        let _ = to_sync.send(ToSync::Stop);
        if syncer.join().is_err() {
            tracing::error!("ofd-store syncer thread panicked");
        }
        // Anything queued after the shutdown request is refused, not dropped silently.
        while let Ok(cmd) = rx.try_recv() {
            fail_closed(cmd);
        }
        tracing::info!("ofd-store committer stopped");
    }

    fn pipeline(&mut self, rx: &mpsc::Receiver<Command>, to_sync: &mpsc::Sender<ToSync>) {
        let max = self.shared.max_batch;
        let mut group: Vec<Pending> = Vec::with_capacity(max);
        loop {
            self.tick(to_sync);
            let first = match rx.recv_timeout(crate::heal::TICK) {
                Ok(cmd) => cmd,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let started = Instant::now();
            let mut next = Some(first);
            let mut taken = 0usize;
            while let Some(cmd) = next.take() {
                taken += 1;
                match cmd {
                    Command::Doc(d, r) => group.push(Pending::Doc(d, r)),
                    Command::Rejected(m, r) => group.push(Pending::Rejected(m, r)),
                    Command::Kz(x, r) => group.push(Pending::Kz(x, r)),
                    Command::Registry(op) => {
                        self.commit_group(&mut group, started, to_sync);
                        if self.shared.health.is_healthy() {
                            self.shared.exec_registry(op);
                        } else {
                            let shared = self.shared.clone();
                            op.fail(|| shared.unavailable());
                        }
                    }
                    Command::Accounts(op) => {
                        self.commit_group(&mut group, started, to_sync);
                        if self.shared.health.is_healthy() {
                            op.run(Ok(&self.shared));
                        } else {
                            op.run(Err(self.shared.unavailable()));
                        }
                    }
                    Command::ApplyEntry(position, entry, reply) => {
                        self.commit_group(&mut group, started, to_sync);
                        if self.shared.health.is_healthy() {
                            reply.send(self.shared.apply_entry(position, &entry));
                        } else {
                            reply.send(Err(self.shared.unavailable()));
                        }
                    }
                    Command::CatchUp(reply) => {
                        self.commit_group(&mut group, started, to_sync);
                        if self.shared.health.is_healthy() {
                            reply.send(self.shared.catch_up());
                        } else {
                            reply.send(Err(self.shared.unavailable()));
                        }
                    }
                    Command::KzApply(change, position, reply) => {
                        self.commit_group(&mut group, started, to_sync);
                        if self.shared.health.is_healthy() {
                            reply.send(self.shared.kz_apply(&change, position));
                        } else {
                            reply.send(Err(self.shared.unavailable()));
                        }
                    }
                    Command::Shutdown => {
                        self.commit_group(&mut group, started, to_sync);
                        return;
                    }
                }
                if taken < max {
                    next = rx.try_recv().ok();
                }
            }
            self.commit_group(&mut group, started, to_sync);
        }
    }

    fn commit_group(
        &mut self,
        group: &mut Vec<Pending>,
        started: Instant,
        to_sync: &mpsc::Sender<ToSync>,
    ) {
        if group.is_empty() {
            return;
        }
        let pending = std::mem::take(group);
        let shared = self.shared.clone();
        // Queued before the store went degraded: refused now rather than written to a
        // database that cannot make them durable.
        let db = match shared.health.is_healthy().then(|| shared.db()) {
            Some(Ok(db)) => db,
            Some(Err(e)) => return pending.into_iter().for_each(|p| p.fail(clone_err(&e))),
            None => {
                return pending
                    .into_iter()
                    .for_each(|p| p.fail(shared.unavailable()));
            }
        };
        let cfs = match Cfs::of(&db) {
            Ok(cfs) => cfs,
            Err(e) => return pending.into_iter().for_each(|p| p.fail(clone_err(&e))),
        };
        let built = self.build(&shared, &db, &cfs, pending);
        self.write(&db, built, started, to_sync);
    }

    /// Builds the batch and decides every command's result (per-command failures included).
    fn build(&self, shared: &Shared, db: &DbRef, cfs: &Cfs<'_>, pending: Vec<Pending>) -> Built {
        let keys: Vec<DocKey> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Doc(d, _) => Some(DocKey::new(d.fn_number, d.fd)),
                Pending::Rejected(..) | Pending::Kz(..) => None,
            })
            .collect();
        let mut existing = crate::doc_log::find_many(shared, db, &keys).into_iter();

        let mut b = Built {
            batch: WriteBatch::default(),
            log_next: self.log_next,
            answers: Vec::with_capacity(pending.len()),
            liveness: HashMap::new(),
            outbox_next: self.outbox_next,
            outbox_items: Vec::new(),
            rejected_next: self.rejected_next,
            conflict_next: self.conflict_next,
            stored: 0,
        };
        // Which register each FN is bound to, read under one lock for the whole batch (registry
        // changes run on this thread, between batches, so the map cannot change under it).
        let admission = shared
            .admission
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Documents stored earlier in this batch, by key (moved here once encoded).
        let mut overlay: HashMap<[u8; 20], Box<NewDocument>> = HashMap::new();
        // Kazakh registers as this batch leaves them.
        let mut registers: HashMap<u32, KzRecord> = HashMap::new();
        for p in pending {
            let (doc, reply) = match p {
                Pending::Rejected(m, reply) => {
                    let r = record::encode_rejected(&m).map_err(StoreError::InvalidInput);
                    let r = r.map(|v| {
                        let seq = b.rejected_next;
                        b.batch.put_cf(cfs.rejected, seq.to_be_bytes(), v);
                        b.rejected_next += 1;
                        seq
                    });
                    b.answers.push(Answer::Rejected(reply, r));
                    continue;
                }
                Pending::Kz(mut x, reply) => {
                    let r = self.kz_exchange(shared, db, cfs, &mut b, &mut registers, &mut x);
                    b.answers.push(Answer::Kz(reply, r));
                    continue;
                }
                Pending::Doc(doc, reply) => (doc, reply),
            };
            let key = DocKey::new(doc.fn_number, doc.fd);
            let kb = key.encode();
            let prior = existing.next();
            // 1. Same key earlier in this batch.
            if let Some(first) = overlay.get(&kb) {
                let r = if first.raw == doc.raw {
                    Ok(PutOutcome::Duplicate {
                        ack: first.ack.clone(),
                    })
                } else {
                    self.conflict(cfs, &mut b, &key, &doc)
                };
                b.answers.push(Answer::Put(reply, r));
                continue;
            }
            // 2. Same key already in the database.
            match prior {
                Some(Err(e)) => {
                    b.answers.push(Answer::Put(reply, Err(e)));
                    continue;
                }
                Some(Ok(Some(stored))) => {
                    let r = match record::decode(stored.record()) {
                        Ok(view) if view.raw == doc.raw.as_ref() => Ok(PutOutcome::Duplicate {
                            ack: bytes::Bytes::copy_from_slice(view.ack),
                        }),
                        Ok(_) => self.conflict(cfs, &mut b, &key, &doc),
                        Err(e) => Err(shared.corrupt_doc(stored.cf, &kb, e)),
                    };
                    b.answers.push(Answer::Put(reply, r));
                    continue;
                }
                Some(Ok(None)) | None => {}
            }
            // 3. New document.
            let r = self.new_document(shared, &admission, cfs, &mut b, &key, &doc);
            if r.is_ok() {
                overlay.insert(kb, doc);
            }
            b.answers.push(Answer::Put(reply, r));
        }
        for (k, rec) in &b.liveness {
            b.batch.put_cf(cfs.liveness, k.encode(), rec.encode());
        }
        if !b.outbox_items.is_empty() {
            let items = std::mem::take(&mut b.outbox_items);
            b.batch
                .put_cf(cfs.outbox, self.outbox_next.to_be_bytes(), items);
        }
        if b.conflict_next != self.conflict_next {
            b.batch
                .put_cf(cfs.meta, META_CONFLICT_SEQ, b.conflict_next.to_be_bytes());
        }
        b
    }

    /// Stages a document no earlier write has: the document, its `by_rn` entry, its outbox
    /// entry and its register's liveness.
    fn new_document(
        &self,
        shared: &Shared,
        admission: &AdmissionMap,
        cfs: &Cfs<'_>,
        b: &mut Built,
        key: &DocKey,
        doc: &NewDocument,
    ) -> Result<PutOutcome, StoreError> {
        // The one place that decides a document's register: the RN the document names (tag
        // 1037), else the one its FN is bound to; and "unknown FN" when the FN is bound to no
        // register at all. The admission map answers from memory.
        let bound = admission.get(&doc.fn_number).map(|a| a.rn);
        let rn = doc.rn.or(bound);
        let mut flags = doc.flags;
        if bound.is_none() {
            flags.0 |= DocFlags::UNKNOWN_FN;
        }
        let value = crate::doc_log::encode(key, doc, rn.as_ref(), flags)
            .map_err(StoreError::InvalidInput)?;
        let seq = b.log_next.to_be_bytes();
        b.batch.put_cf(cfs.doc_log, seq, value);
        b.batch.put_cf(cfs.doc_index, key.encode(), seq);
        b.log_next += 1;
        if let Some(rn) = &rn {
            b.batch.put_cf(
                cfs.by_rn,
                by_rn_key(rn, key),
                record::by_rn_value(doc.doc_time, doc.shift),
            );
        }
        let exported = doc.outcome.exported() && !doc.flags.contains(DocFlags::REPLICA);
        let outbox_seq = exported.then(|| b.outbox(&OutboxItem::Doc(*key)));
        let lkey = rn.map_or(LiveKey::Fn(doc.fn_number), LiveKey::Rn);
        b.live(shared, lkey).apply(doc);
        b.stored += 1;
        Ok(PutOutcome::Stored { outbox_seq })
    }

    /// Stages one Kazakh exchange: the register's new state and retry answer, its log entry,
    /// its outbox entry when it is exported, and its liveness. Exchanges of one register are
    /// serialised by the daemon; `registers` still carries a register from one exchange to the
    /// next should a batch hold two.
    fn kz_exchange(
        &self,
        shared: &Shared,
        db: &DbRef,
        cfs: &Cfs<'_>,
        b: &mut Built,
        registers: &mut HashMap<u32, KzRecord>,
        x: &mut KzWrite,
    ) -> Result<KzCommitted, StoreError> {
        let record =
            match registers.entry(x.system_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let found = crate::kz::read_record(db, cfs.kz_kkm, x.system_id)?;
                    // Cluster mode: a register this node has not copied yet is the one the
                    // exchange brings (revision 0 here, so the exchange's replaces it).
                    let found = found.or_else(|| {
                        x.replicated.as_deref().map(|r| KzRecord {
                            revision: 0,
                            ..r.clone()
                        })
                    });
                    e.insert(found.ok_or_else(|| {
                        StoreError::NotFound(format!("KZ register {}", x.system_id))
                    })?)
                }
            };
        let log_value = crate::kz::encode_log(x)?;
        let log_seq;
        if let Some(replicated) = x.replicated.take() {
            // Cluster mode: the record the cluster's stream took replaces this one, unless this
            // node has already applied a later revision from another node.
            log_seq = replicated.log_next.saturating_sub(1);
            if replicated.revision > record.revision {
                *record = *replicated;
            }
        } else {
            // The record is updated where it lies (the state moved in, not copied): this
            // batch's next exchange of the register, if any, starts from it.
            log_seq = record.log_next;
            record.log_next += 1;
            if let Some(state) = x.state.take() {
                record.state = state;
                record.last_answer.clear();
                record.last_answer.extend_from_slice(&x.answer);
            }
        }
        let value = match crate::kz::encode_record(record) {
            Ok(v) => v,
            Err(e) => {
                // Not written: the next exchange reads the register from the database again.
                registers.remove(&x.system_id);
                return Err(e);
            }
        };
        b.batch.put_cf(cfs.kz_kkm, x.system_id.to_be_bytes(), value);
        b.batch.put_cf(
            cfs.kz_log,
            crate::kz::log_key(x.system_id, log_seq),
            log_value,
        );
        if let Some((key, value)) = crate::kz::ticket_entry(x, log_seq) {
            b.batch.put_cf(cfs.kz_log, key, value);
        }
        let outbox_seq = x.export.then(|| {
            b.outbox(&OutboxItem::Kz {
                system_id: x.system_id,
                log_seq,
            })
        });
        let received = u32::try_from(x.received_at_ms / 1000).unwrap_or(u32::MAX);
        b.live(shared, LiveKey::Kz(x.system_id)).apply_exchange(
            received,
            x.doc_time.unwrap_or(received),
            x.shift,
        );
        Ok(KzCommitted {
            log_seq,
            outbox_seq,
        })
    }

    fn conflict(
        &self,
        cfs: &Cfs<'_>,
        b: &mut Built,
        key: &DocKey,
        doc: &NewDocument,
    ) -> Result<PutOutcome, StoreError> {
        let rn: Option<&Rn> = doc.rn.as_ref();
        let v = record::encode(doc, rn, doc.flags).map_err(StoreError::InvalidInput)?;
        let seq = b.conflict_next;
        b.batch.put_cf(cfs.conflicts, conflict_key(key, seq), v);
        b.conflict_next += 1;
        tracing::warn!(fn_number = %key.fn_number, fd = key.fd, seq, "conflicting document kept aside");
        Ok(PutOutcome::Conflict { conflict_seq: seq })
    }

    /// Writes the batch without fsync and hands it to the syncer, which answers.
    fn write(
        &mut self,
        db: &DbRef,
        built: Built,
        started: Instant,
        to_sync: &mpsc::Sender<ToSync>,
    ) {
        let Built {
            batch,
            log_next,
            mut answers,
            liveness,
            outbox_next,
            outbox_items: _,
            rejected_next,
            conflict_next,
            stored,
        } = built;
        let batch_bytes = batch.size_in_bytes();
        let write_started = Instant::now();
        let written = if batch.is_empty() {
            Ok(())
        } else {
            // Without fsync: the syncer syncs the WAL before any answer.
            db.write_opt(batch, &self.shared.unsynced_opts)
        };
        let shared = self.shared.clone();
        let write_duration = write_started.elapsed();
        if let Err(e) = &written {
            // One health transition (and so one log line) for however many batches fail; a
            // failed WAL write poisons this instance, so healing reopens it.
            self.degrade(
                crate::health::DegradedReason::classify(e),
                e.to_string(),
                true,
            );
            for a in answers.iter_mut() {
                a.spoil(|| StoreError::db("commit", e.clone()));
            }
        } else {
            self.log_next = log_next;
            self.outbox_next = outbox_next;
            self.rejected_next = rejected_next;
            self.conflict_next = conflict_next;
            // The next batch starts its liveness records from these, so the index moves now
            // (in memory only; the records themselves are in the batch just written).
            let mut idx = shared.liveness_write();
            for (k, rec) in liveness {
                idx.set(k, rec);
            }
        }
        let w = Written {
            answers,
            ok: written.is_ok(),
            stored,
            batch_bytes,
            write_duration,
            started,
            outbox_head: self.outbox_next - 1,
        };
        if let Err(mpsc::SendError(ToSync::Batch(w))) = to_sync.send(ToSync::Batch(w)) {
            // The syncer is gone (it panicked): nobody can vouch for durability.
            w.fail("the syncer stopped");
        }
    }
}

/// `StoreError` is not `Clone` (it can hold a RocksDB error); the copies every command of a
/// refused batch gets.
fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable { reason, detail } => StoreError::Unavailable {
            reason: *reason,
            detail: detail.clone(),
        },
        other => StoreError::Internal(other.to_string()),
    }
}

struct Built {
    batch: WriteBatch,
    /// The next document's `doc_log` sequence.
    log_next: u64,
    /// One per command, in arrival order.
    answers: Vec<Answer>,
    liveness: HashMap<LiveKey, LivenessRecord>,
    outbox_next: u64,
    /// This batch's outbox items, encoded: one `outbox` entry keyed by the first one's sequence
    /// number (`outbox.rs`).
    outbox_items: Vec<u8>,
    rejected_next: u64,
    conflict_next: u64,
    stored: usize,
}

impl Built {
    /// Appends an item to this batch's outbox entry and returns its sequence number.
    fn outbox(&mut self, item: &OutboxItem) -> u64 {
        let seq = self.outbox_next;
        crate::outbox::push_item(&mut self.outbox_items, item);
        self.outbox_next += 1;
        seq
    }

    /// The liveness record of `key` as this batch leaves it.
    fn live(&mut self, shared: &Shared, key: LiveKey) -> &mut LivenessRecord {
        self.liveness
            .entry(key)
            .or_insert_with(|| shared.liveness_read().get(&key).unwrap_or_default())
    }
}
