//! The syncer: the second stage of the commit pipeline, which makes written batches durable
//! and only then answers their callers.
//!
//! The committer (`commit.rs`) writes each batch to the WAL and memtables without fsync and
//! queues it here. The syncer takes every batch queued so far, calls one `SyncWAL` (an
//! `fdatasync` of the WAL files) for all of them, and then answers each command. While it
//! waits on the disk the committer builds and writes the next batch, so the CPU work of batch
//! N+1 overlaps the fsync of batch N, and under load one fsync covers several batches.
//!
//! `SyncWAL` covers every write that returned before it was called (RocksDB syncs all live
//! WAL files up to the current one), and every batch here was written before it was queued —
//! that is the whole durability argument. If the sync fails, every command of the round gets
//! an error and no counter moves; RocksDB then refuses further writes (a failed WAL sync is a
//! fatal background error), so nothing written after it can be acknowledged either.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::commit::Answer;
use crate::db::Shared;
use crate::error::StoreError;
use crate::observer::CommitStats;

/// A batch the committer has written (or failed to write), waiting for its fsync.
pub(crate) struct Written {
    /// Every command of the batch with the result decided for it, sent after the sync.
    pub(crate) answers: Vec<Answer>,
    /// Whether the (unsynced) write succeeded.
    pub(crate) ok: bool,
    pub(crate) stored: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) write_duration: Duration,
    /// When the committer took the batch's first command off the queue.
    pub(crate) started: Instant,
    /// The outbox head after this batch: published to exporters once it is durable.
    pub(crate) outbox_head: u64,
}

pub(crate) enum ToSync {
    Batch(Written),
    /// Answer everything queued before, then signal: the healer closes the database only
    /// after the syncer is done with it.
    Barrier(mpsc::Sender<()>),
    /// Sync and answer everything queued before, then end the thread.
    Stop,
}

pub(crate) struct Syncer {
    shared: Arc<Shared>,
}

impl Syncer {
    /// Starts the syncer thread; the committer owns the sender and the join handle.
    pub(crate) fn spawn(
        shared: Arc<Shared>,
    ) -> std::io::Result<(mpsc::Sender<ToSync>, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel();
        let syncer = Syncer { shared };
        let handle = std::thread::Builder::new()
            .name("ofd-store-sync".into())
            .spawn(move || syncer.run(rx))?;
        Ok((tx, handle))
    }

    fn run(self, rx: mpsc::Receiver<ToSync>) {
        let mut round: Vec<Written> = Vec::new();
        let mut stop = false;
        while !stop {
            let mut barrier = None;
            match rx.recv() {
                Ok(ToSync::Batch(w)) => round.push(w),
                Ok(ToSync::Barrier(done)) => barrier = Some(done),
                Ok(ToSync::Stop) | Err(_) => stop = true,
            }
            // Everything else already queued rides on the same fsync.
            while !stop && barrier.is_none() {
                match rx.try_recv() {
                    Ok(ToSync::Batch(w)) => round.push(w),
                    Ok(ToSync::Barrier(done)) => barrier = Some(done),
                    Ok(ToSync::Stop) | Err(mpsc::TryRecvError::Disconnected) => stop = true,
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            self.sync_round(&mut round);
            if let Some(done) = barrier {
                let _ = done.send(());
            }
        }
    }

    fn sync_round(&self, round: &mut Vec<Written>) {
        if round.is_empty() {
            return;
        }
        let shared = &self.shared;
        let needs_sync = shared.sync && round.iter().any(|w| w.ok);
        let sync_started = Instant::now();
        let synced = if !needs_sync {
            Ok(())
        } else if shared.health.needs_reopen() {
            // An fsync of this instance failed earlier (or a write did): a later fsync that
            // succeeds proves nothing about the pages the failed one may have dropped, so
            // nothing written to this instance is acknowledged until it has been reopened.
            Err(shared.unavailable())
        } else {
            match shared.db() {
                Ok(db) => db.flush_wal(true).map_err(|e| {
                    let reason = crate::health::DegradedReason::classify(&e);
                    let err = StoreError::db("WAL sync", e);
                    shared.report(shared.health.degrade(reason, err.to_string(), true));
                    err
                }),
                Err(e) => Err(e),
            }
        };
        let sync_duration = sync_started.elapsed();
        let synced_ok = synced.is_ok();
        if synced_ok && let Some(head) = round.iter().filter(|w| w.ok).map(|w| w.outbox_head).max()
        {
            shared.outbox_head.fetch_max(head, Ordering::AcqRel);
        }
        for w in round.drain(..) {
            let ok = w.ok && synced_ok;
            // Metrics first, so they are recorded by the time any caller sees its answer.
            shared.observer.on_commit(&CommitStats {
                stored: if ok { w.stored } else { 0 },
                commands: w.answers.len(),
                batch_bytes: w.batch_bytes,
                write_duration: w.write_duration,
                sync_duration,
                commit_duration: w.started.elapsed(),
                ok,
            });
            match &synced {
                Ok(()) => w.answer(),
                // The store is degraded by now: callers learn why, with its reason.
                Err(_) => w.fail_with(|| shared.unavailable()),
            }
        }
    }
}

impl Written {
    /// Sends each command its result (after a successful sync).
    fn answer(self) {
        self.answers.into_iter().for_each(Answer::send);
    }

    /// Answers every command with `err()`.
    fn fail_with(self, err: impl Fn() -> StoreError) {
        for a in self.answers {
            a.fail(err());
        }
    }

    /// Answers every command with an error: durability of this batch cannot be vouched for.
    pub(crate) fn fail(self, why: &str) {
        for a in self.answers {
            a.fail(StoreError::Internal(format!("batch not durable: {why}")));
        }
    }
}
