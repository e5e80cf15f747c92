//! Rebuilding what the store keeps in memory from an open database: the committer's sequence
//! counters, whether `docs` holds documents of an older layout, the outbox head, the liveness
//! index and the admission map.
//!
//! Run at open and after the healer reopens the database, when batches written but never made
//! durable may have vanished with the old instance; so memory always starts from what is on disk.

use std::sync::atomic::Ordering;

use crate::db::Shared;
use crate::error::StoreError;
use crate::keys::{LiveKey, u64_from_be};
use crate::liveness::{LivenessIndex, LivenessRecord};
use crate::options::{CF_DOC_LOG, CF_DOCS, CF_LIVENESS, CF_REJECTED};

impl Shared {
    /// Rebuilds everything kept in memory from the open database — the sequence counters, the
    /// outbox head, the liveness index and the admission map — at open and after a reopen
    /// (when batches written but never made durable may have vanished with the old instance).
    pub(crate) fn load_state(&self) -> Result<Seqs, StoreError> {
        let outbox_next = crate::outbox::next_seq(&self.db()?)?;
        self.outbox_head.store(outbox_next - 1, Ordering::Release);
        let legacy = !self.is_empty(CF_DOCS)?;
        self.legacy_docs.store(legacy, Ordering::Release);
        let seqs = Seqs {
            log_next: self.next_seq(CF_DOC_LOG)?,
            outbox_next,
            rejected_next: self.next_seq(CF_REJECTED)?,
            conflict_next: self.meta_u64(crate::keys::META_CONFLICT_SEQ)?.unwrap_or(1),
        };
        load_liveness(self)?;
        self.load_admission()?;
        Ok(seqs)
    }

    /// Whether `cf` has no entry at all (total order: a hashed memtable's iterator would
    /// otherwise see one bucket).
    fn is_empty(&self, cf: &'static str) -> Result<bool, StoreError> {
        let db = self.db()?;
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_total_order_seek(true);
        let mut it = db.raw_iterator_cf_opt(db.cf(cf)?, ro);
        it.seek_to_first();
        let empty = !it.valid();
        it.status()
            .map_err(|e| StoreError::db("seek_to_first", e))?;
        Ok(empty)
    }

    /// The key after the last one in `cf`, read as a big-endian u64 (1 when empty).
    fn next_seq(&self, cf: &'static str) -> Result<u64, StoreError> {
        let db = self.db()?;
        let mut it = db.raw_iterator_cf(db.cf(cf)?);
        it.seek_to_last();
        let last = match it.key() {
            Some(k) => u64_from_be(k).ok_or_else(|| StoreError::CorruptRecord {
                cf,
                what: "sequence key",
                key: crate::error::hex(k),
                reason: "not 8 bytes".into(),
            })?,
            None => 0,
        };
        it.status().map_err(|e| StoreError::db("seek_to_last", e))?;
        Ok(last + 1)
    }
}

/// The committer's next sequence numbers, derived from the database.
pub(crate) struct Seqs {
    pub(crate) log_next: u64,
    pub(crate) outbox_next: u64,
    pub(crate) rejected_next: u64,
    pub(crate) conflict_next: u64,
}

fn load_liveness(shared: &Shared) -> Result<(), StoreError> {
    let db = shared.db()?;
    let mut fresh = LivenessIndex::default();
    let idx = &mut fresh;
    let mut it = db.raw_iterator_cf(db.cf(CF_LIVENESS)?);
    it.seek_to_first();
    while let Some((k, v)) = it.item() {
        let bad = |reason: &str| StoreError::CorruptRecord {
            cf: CF_LIVENESS,
            what: "liveness record",
            key: crate::error::hex(k),
            reason: reason.to_owned(),
        };
        let key = LiveKey::decode(k).ok_or_else(|| bad("bad key"))?;
        let rec = LivenessRecord::decode(v).ok_or_else(|| bad("bad value"))?;
        idx.set(key, rec);
        it.next();
    }
    it.status()
        .map_err(|e| StoreError::db("liveness load", e))?;
    drop(it);
    *shared.liveness_write() = fresh;
    Ok(())
}
