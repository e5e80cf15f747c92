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
//! 1. looks all keys up in `docs` with one batched multi-get (the memtable and SST bloom
//!    filters answer most),
//! 2. walks the commands in arrival order with an overlay of keys stored earlier in the same
//!    batch, so two puts of one (FN, FD) in one batch are a store plus a duplicate/conflict,
//! 3. writes the document, its `by_rn` entry, its `outbox` entry and the register's liveness
//!    record into one `WriteBatch`,
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
//! If the write fails nothing is answered as stored and no counter moves. Registry mutations
//! are barriers: the pending batch is written first, then the mutation alone with a synced
//! write (which also syncs the WAL under the earlier batch).

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use rocksdb::WriteBatch;

use crate::error::StoreError;
use crate::keys::{DocKey, LiveKey, Rn, by_rn_key, conflict_key};
use crate::liveness::LivenessRecord;
use crate::options::{
    CF_BY_RN, CF_CONFLICTS, CF_DOCS, CF_LIVENESS, CF_META, CF_OUTBOX, CF_REJECTED,
};
use crate::record::{self, DocFlags, NewDocument, RejectedMessage};
use crate::store::{Command, DbRef, PutOutcome, Reply, Seqs, Shared, fail_closed};
use crate::sync::{Syncer, ToSync, Written};

pub(crate) const META_CONFLICT_SEQ: &[u8] = b"conflict_seq";

pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    outbox_next: u64,
    rejected_next: u64,
    conflict_next: u64,
    /// Unsynced writes without fsync: the WAL is synced by the syncer before any answer.
    unsynced: rocksdb::WriteOptions,
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
}

impl Pending {
    /// Answers this command with `err`.
    pub(crate) fn fail(self, err: StoreError) {
        match self {
            Pending::Doc(_, r) => r.send(Err(err)),
            Pending::Rejected(_, r) => r.send(Err(err)),
        }
    }
}

impl Committer {
    pub(crate) fn new(shared: Arc<Shared>, seqs: Seqs) -> Self {
        let mut unsynced = rocksdb::WriteOptions::default();
        unsynced.set_sync(false);
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
            outbox_next: seqs.outbox_next,
            rejected_next: seqs.rejected_next,
            conflict_next: seqs.conflict_next,
            unsynced,
            next_tick: Instant::now() + crate::heal::TICK,
            reminder_at: None,
            background_errors,
        }
    }

    /// Takes the sequence counters from a freshly (re)opened database.
    pub(crate) fn set_seqs(&mut self, seqs: Seqs) {
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
                    Command::Registry(op) => {
                        self.commit_group(&mut group, started, to_sync);
                        if self.shared.health.is_healthy() {
                            self.shared.exec_registry(op);
                        } else {
                            let shared = self.shared.clone();
                            op.fail(|| shared.unavailable());
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
        match self.build(&shared, &db, &pending) {
            Ok(built) => self.write(&db, pending, built, started, to_sync),
            Err(e) => {
                let msg = e.to_string();
                for p in pending {
                    p.fail(StoreError::Internal(format!("batch not written: {msg}")));
                }
            }
        }
    }

    /// Builds the batch; per-command failures become per-command results.
    fn build(&self, shared: &Shared, db: &DbRef, pending: &[Pending]) -> Result<Built, StoreError> {
        let docs_cf = db.cf(CF_DOCS)?;
        let by_rn_cf = db.cf(CF_BY_RN)?;
        let outbox_cf = db.cf(CF_OUTBOX)?;
        let live_cf = db.cf(CF_LIVENESS)?;
        let rejected_cf = db.cf(CF_REJECTED)?;
        let keys: Vec<[u8; 20]> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Doc(d, _) => Some(DocKey::new(d.fn_number, d.fd).encode()),
                Pending::Rejected(..) => None,
            })
            .collect();
        let existing = db.batched_multi_get_cf(docs_cf, keys.iter(), false);
        let mut existing = existing.into_iter();

        let mut b = Built {
            batch: WriteBatch::default(),
            results: Vec::with_capacity(pending.len()),
            liveness: HashMap::new(),
            outbox_next: self.outbox_next,
            rejected_next: self.rejected_next,
            conflict_next: self.conflict_next,
            stored: 0,
        };
        // Key → index (into `pending`) of the document stored earlier in this batch.
        let mut overlay: HashMap<[u8; 20], usize> = HashMap::new();
        for (i, p) in pending.iter().enumerate() {
            let doc = match p {
                Pending::Rejected(m, _) => {
                    let r = record::encode_rejected(m).map_err(StoreError::InvalidInput);
                    b.results.push(r.map(|v| {
                        b.batch
                            .put_cf(rejected_cf, b.rejected_next.to_be_bytes(), v);
                        b.rejected_next += 1;
                        Res::Rejected(b.rejected_next - 1)
                    }));
                    continue;
                }
                Pending::Doc(d, _) => d,
            };
            let key = DocKey::new(doc.fn_number, doc.fd);
            let kb = key.encode();
            let prior = existing.next();
            // 1. Same key earlier in this batch.
            if let Some(&j) = overlay.get(&kb) {
                let r = match pending.get(j) {
                    Some(Pending::Doc(first, _)) if first.raw == doc.raw => {
                        Ok(Res::Put(PutOutcome::Duplicate {
                            ack: first.ack.clone(),
                        }))
                    }
                    Some(Pending::Doc(..)) => self.conflict(db, &mut b, &key, doc),
                    _ => Err(StoreError::Internal(
                        "overlay points at a non-document".into(),
                    )),
                };
                b.results.push(r);
                continue;
            }
            // 2. Same key already in the database.
            match prior {
                Some(Err(e)) => {
                    shared.read_failed(&e);
                    b.results.push(Err(StoreError::db("docs multi_get", e)));
                    continue;
                }
                Some(Ok(Some(stored))) => {
                    let r = match record::decode(&stored) {
                        Ok(view) if view.raw == doc.raw.as_slice() => {
                            Ok(Res::Put(PutOutcome::Duplicate {
                                ack: view.ack.to_vec(),
                            }))
                        }
                        Ok(_) => self.conflict(db, &mut b, &key, doc),
                        Err(e) => Err(shared.corrupt_doc(&kb, e)),
                    };
                    b.results.push(r);
                    continue;
                }
                Some(Ok(None)) | None => {}
            }
            // 3. New document.
            let rn = match doc.rn {
                Some(rn) => Some(rn),
                None => match shared.rn_of_fn(&doc.fn_number) {
                    Ok(rn) => rn,
                    Err(e) => {
                        b.results.push(Err(e));
                        continue;
                    }
                },
            };
            let mut flags = doc.flags;
            if rn.is_none() {
                flags.0 |= DocFlags::UNKNOWN_FN;
            }
            let value = match record::encode(doc, rn.as_ref(), flags) {
                Ok(v) => v,
                Err(e) => {
                    b.results.push(Err(StoreError::InvalidInput(e)));
                    continue;
                }
            };
            b.batch.put_cf(docs_cf, kb, value);
            if let Some(rn) = &rn {
                b.batch.put_cf(
                    by_rn_cf,
                    by_rn_key(rn, &key),
                    record::by_rn_value(doc.doc_time, doc.shift),
                );
            }
            let outbox_seq = doc.outcome.exported().then(|| {
                let seq = b.outbox_next;
                b.batch.put_cf(outbox_cf, seq.to_be_bytes(), kb);
                b.outbox_next += 1;
                seq
            });
            let lkey = rn.map_or(LiveKey::Fn(doc.fn_number), LiveKey::Rn);
            let rec = b
                .liveness
                .entry(lkey)
                .or_insert_with(|| shared.liveness_read().get(&lkey).unwrap_or_default());
            rec.apply(doc);
            overlay.insert(kb, i);
            b.stored += 1;
            b.results
                .push(Ok(Res::Put(PutOutcome::Stored { outbox_seq })));
        }
        for (k, rec) in &b.liveness {
            b.batch.put_cf(live_cf, k.encode(), rec.encode());
        }
        if b.conflict_next != self.conflict_next {
            b.batch.put_cf(
                db.cf(CF_META)?,
                META_CONFLICT_SEQ,
                b.conflict_next.to_be_bytes(),
            );
        }
        Ok(b)
    }

    fn conflict(
        &self,
        db: &DbRef,
        b: &mut Built,
        key: &DocKey,
        doc: &NewDocument,
    ) -> Result<Res, StoreError> {
        let rn: Option<&Rn> = doc.rn.as_ref();
        let v = record::encode(doc, rn, doc.flags).map_err(StoreError::InvalidInput)?;
        let seq = b.conflict_next;
        b.batch
            .put_cf(db.cf(CF_CONFLICTS)?, conflict_key(key, seq), v);
        b.conflict_next += 1;
        tracing::warn!(fn_number = %key.fn_number, fd = key.fd, seq, "conflicting document kept aside");
        Ok(Res::Put(PutOutcome::Conflict { conflict_seq: seq }))
    }

    /// Writes the batch without fsync and hands it to the syncer, which answers.
    fn write(
        &mut self,
        db: &DbRef,
        pending: Vec<Pending>,
        built: Built,
        started: Instant,
        to_sync: &mpsc::Sender<ToSync>,
    ) {
        let Built {
            batch,
            mut results,
            liveness,
            outbox_next,
            rejected_next,
            conflict_next,
            stored,
        } = built;
        let batch_bytes = batch.size_in_bytes();
        let write_started = Instant::now();
        let written = if batch.is_empty() {
            Ok(())
        } else {
            db.write_opt(batch, &self.unsynced)
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
            for r in results.iter_mut() {
                if r.is_ok() {
                    *r = Err(StoreError::db("commit", e.clone()));
                }
            }
        } else {
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
            pending,
            results,
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

pub(crate) enum Res {
    Put(PutOutcome),
    Rejected(u64),
}

struct Built {
    batch: WriteBatch,
    results: Vec<Result<Res, StoreError>>,
    liveness: HashMap<LiveKey, LivenessRecord>,
    outbox_next: u64,
    rejected_next: u64,
    conflict_next: u64,
    stored: usize,
}
