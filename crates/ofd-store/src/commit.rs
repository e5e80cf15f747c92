//! The committer: one thread that turns queued writes into group-committed, synced batches.
//!
//! A synced write costs about one fsync (≈ 0.2 ms on the development disk) whatever its size,
//! so throughput comes from putting many documents into each write. The committer blocks for
//! the first queued command, then takes whatever else is queued (up to `max_batch`) without
//! waiting: under light load a put is written alone and answered after one fsync; under heavy
//! load the batch grows by itself while the previous fsync runs.
//!
//! For a batch of document puts it
//! 1. looks all keys up in `docs` with one batched multi-get (the bloom filter answers most),
//! 2. walks the commands in arrival order with an overlay of keys stored earlier in the same
//!    batch, so two puts of one (FN, FD) in one batch are a store plus a duplicate/conflict,
//! 3. writes the document, its `by_rn` entry, its `outbox` entry and the register's liveness
//!    record into one `WriteBatch`, synced,
//! 4. only then answers the callers and updates the in-memory liveness index and counters.
//!
//! If the write fails nothing is answered as stored and no counter moves. Registry mutations
//! are barriers: the pending batch is committed first, then the mutation alone.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use rocksdb::WriteBatch;

use crate::error::StoreError;
use crate::keys::{DocKey, LiveKey, Rn, by_rn_key, conflict_key};
use crate::liveness::LivenessRecord;
use crate::observer::CommitStats;
use crate::options::{
    CF_BY_RN, CF_CONFLICTS, CF_DOCS, CF_LIVENESS, CF_META, CF_OUTBOX, CF_REJECTED,
};
use crate::record::{self, DocFlags, NewDocument, RejectedMessage};
use crate::store::{Command, PutOutcome, Reply, Shared, fail_closed};

pub(crate) const META_CONFLICT_SEQ: &[u8] = b"conflict_seq";

pub(crate) struct Committer {
    shared: Arc<Shared>,
    outbox_next: u64,
    rejected_next: u64,
    conflict_next: u64,
}

/// A queued write of the current group.
enum Pending {
    Doc(Box<NewDocument>, Reply<PutOutcome>),
    Rejected(Box<RejectedMessage>, Reply<u64>),
}

impl Committer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        outbox_next: u64,
        rejected_next: u64,
        conflict_next: u64,
    ) -> Self {
        Committer {
            shared,
            outbox_next,
            rejected_next,
            conflict_next,
        }
    }

    pub(crate) fn run(mut self, rx: mpsc::Receiver<Command>) {
        let max = self.shared.max_batch;
        let mut group: Vec<Pending> = Vec::with_capacity(max);
        'outer: while let Ok(first) = rx.recv() {
            let started = Instant::now();
            let mut next = Some(first);
            let mut taken = 0usize;
            while let Some(cmd) = next.take() {
                taken += 1;
                match cmd {
                    Command::Doc(d, r) => group.push(Pending::Doc(d, r)),
                    Command::Rejected(m, r) => group.push(Pending::Rejected(m, r)),
                    Command::Registry(op) => {
                        self.commit_group(&mut group, started);
                        self.shared.exec_registry(op);
                    }
                    Command::Shutdown => {
                        self.commit_group(&mut group, started);
                        break 'outer;
                    }
                }
                if taken < max {
                    next = rx.try_recv().ok();
                }
            }
            self.commit_group(&mut group, started);
        }
        // Anything queued after the shutdown request is refused, not dropped silently.
        while let Ok(cmd) = rx.try_recv() {
            fail_closed(cmd);
        }
        tracing::info!("ofd-store committer stopped");
    }

    fn commit_group(&mut self, group: &mut Vec<Pending>, started: Instant) {
        if group.is_empty() {
            return;
        }
        let pending = std::mem::take(group);
        let shared = self.shared.clone();
        match self.build(&shared, &pending) {
            Ok(built) => self.finish(&shared, pending, built, started),
            Err(e) => {
                let msg = e.to_string();
                for p in pending {
                    let err = StoreError::Internal(format!("batch not written: {msg}"));
                    match p {
                        Pending::Doc(_, r) => r.send(Err(err)),
                        Pending::Rejected(_, r) => r.send(Err(err)),
                    }
                }
            }
        }
    }

    /// Builds the batch; per-command failures become per-command results.
    fn build(&self, shared: &Shared, pending: &[Pending]) -> Result<Built, StoreError> {
        let docs_cf = shared.cf(CF_DOCS)?;
        let by_rn_cf = shared.cf(CF_BY_RN)?;
        let outbox_cf = shared.cf(CF_OUTBOX)?;
        let live_cf = shared.cf(CF_LIVENESS)?;
        let rejected_cf = shared.cf(CF_REJECTED)?;
        let keys: Vec<[u8; 20]> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Doc(d, _) => Some(DocKey::new(d.fn_number, d.fd).encode()),
                Pending::Rejected(..) => None,
            })
            .collect();
        let existing = shared.db.batched_multi_get_cf(docs_cf, keys.iter(), false);
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
                    Some(Pending::Doc(..)) => self.conflict(shared, &mut b, &key, doc),
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
                        Ok(_) => self.conflict(shared, &mut b, &key, doc),
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
                shared.cf(CF_META)?,
                META_CONFLICT_SEQ,
                b.conflict_next.to_be_bytes(),
            );
        }
        Ok(b)
    }

    fn conflict(
        &self,
        shared: &Shared,
        b: &mut Built,
        key: &DocKey,
        doc: &NewDocument,
    ) -> Result<Res, StoreError> {
        let rn: Option<&Rn> = doc.rn.as_ref();
        let v = record::encode(doc, rn, doc.flags).map_err(StoreError::InvalidInput)?;
        let seq = b.conflict_next;
        b.batch
            .put_cf(shared.cf(CF_CONFLICTS)?, conflict_key(key, seq), v);
        b.conflict_next += 1;
        tracing::warn!(fn_number = %key.fn_number, fd = key.fd, seq, "conflicting document kept aside");
        Ok(Res::Put(PutOutcome::Conflict { conflict_seq: seq }))
    }

    fn finish(&mut self, shared: &Shared, pending: Vec<Pending>, built: Built, started: Instant) {
        let Built {
            batch,
            results,
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
            shared.db.write_opt(batch, &shared.write_opts)
        };
        let write_duration = write_started.elapsed();
        let ok = written.is_ok();
        if ok {
            self.outbox_next = outbox_next;
            self.rejected_next = rejected_next;
            self.conflict_next = conflict_next;
            shared.outbox_head.store(outbox_next - 1, Ordering::Release);
            let mut idx = shared.liveness_write();
            for (k, rec) in liveness {
                idx.set(k, rec);
            }
        }
        let commands = pending.len();
        // Metrics first, so they are recorded by the time any caller sees its answer.
        shared.observer.on_commit(&CommitStats {
            stored: if ok { stored } else { 0 },
            commands,
            batch_bytes,
            write_duration,
            commit_duration: started.elapsed(),
            ok,
        });
        let failure = written.err();
        if let Some(e) = &failure {
            tracing::error!(error = %e, commands, "ofd-store commit failed; nothing in this batch was stored");
        }
        for (p, r) in pending.into_iter().zip(results) {
            let r = match (&failure, r) {
                (Some(e), Ok(_)) => Err(StoreError::db("commit", e.clone())),
                (_, r) => r,
            };
            match (p, r) {
                (Pending::Doc(_, reply), Ok(Res::Put(o))) => reply.send(Ok(o)),
                (Pending::Rejected(_, reply), Ok(Res::Rejected(seq))) => reply.send(Ok(seq)),
                (Pending::Doc(_, reply), Err(e)) => reply.send(Err(e)),
                (Pending::Rejected(_, reply), Err(e)) => reply.send(Err(e)),
                (Pending::Doc(_, reply), Ok(Res::Rejected(_))) => {
                    reply.send(Err(StoreError::Internal("result/command mismatch".into())))
                }
                (Pending::Rejected(_, reply), Ok(Res::Put(_))) => {
                    reply.send(Err(StoreError::Internal("result/command mismatch".into())))
                }
            }
        }
    }
}

enum Res {
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
