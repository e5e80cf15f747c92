//! The export outbox, named cursors, and the audit log of rejected messages.
//!
//! Every stored document that is not a rejection gets the next sequence number in `outbox`
//! (`seq(BE u64)` → `FN | FD`), in the same batch as the document, so an exporter that reads
//! the outbox in order sees every document exactly once and in commit order. Exporters keep
//! their position as a named cursor in `meta` (`cursor/<name>` → seq). Sequence numbers start
//! at 1 and survive restarts: on open the next one is the last key + 1.

use crate::error::{StoreError, hex};
use crate::keys::{DocKey, u64_from_be};
use crate::options::{CF_META, CF_OUTBOX, CF_REJECTED};
use crate::record::{self, RejectedMessage};
use crate::store::Store;

/// One outbox entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: u64,
    pub key: DocKey,
}

fn cursor_key(name: &str) -> Result<Vec<u8>, StoreError> {
    if name.is_empty() || name.len() > 128 {
        return Err(StoreError::InvalidInput(format!(
            "cursor name must be 1..=128 bytes, got {name:?}"
        )));
    }
    Ok([b"cursor/".as_slice(), name.as_bytes()].concat())
}

impl Store {
    /// Up to `limit` entries with `seq > after_seq`, in order.
    pub fn outbox_read(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let mut it = db.raw_iterator_cf(db.cf(CF_OUTBOX)?);
        it.seek(after_seq.saturating_add(1).to_be_bytes());
        let mut out = Vec::with_capacity(limit.min(4096));
        while out.len() < limit {
            let Some((k, v)) = it.item() else { break };
            match (u64_from_be(k), DocKey::decode(v)) {
                (Some(seq), Some(key)) => out.push(OutboxEntry { seq, key }),
                _ => {
                    return Err(StoreError::CorruptRecord {
                        cf: CF_OUTBOX,
                        what: "outbox entry",
                        key: hex(k),
                        reason: "does not parse".into(),
                    });
                }
            }
            it.next();
        }
        it.status().map_err(|e| StoreError::db("outbox scan", e))?;
        Ok(out)
    }

    /// The last assigned outbox sequence number (0 when the outbox is empty).
    pub fn outbox_head(&self) -> u64 {
        self.shared()
            .outbox_head
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// An exporter's saved position (0 if never set).
    pub fn outbox_cursor(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.shared().meta_u64(&cursor_key(name)?)?.unwrap_or(0))
    }

    /// Saves an exporter's position (synced write).
    pub fn set_outbox_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        db.put_cf_opt(
            db.cf(CF_META)?,
            cursor_key(name)?,
            seq.to_be_bytes(),
            &shared.write_opts,
        )
        .map_err(|e| StoreError::db("set cursor", e))
    }

    /// Up to `limit` rejected messages with `seq > after_seq`, in order.
    pub fn rejected_read(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, RejectedMessage)>, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let mut it = db.raw_iterator_cf(db.cf(CF_REJECTED)?);
        it.seek(after_seq.saturating_add(1).to_be_bytes());
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((k, v)) = it.item() else { break };
            let bad = |reason: String| StoreError::CorruptRecord {
                cf: CF_REJECTED,
                what: "rejected message",
                key: hex(k),
                reason,
            };
            let seq = u64_from_be(k).ok_or_else(|| bad("key is not 8 bytes".into()))?;
            out.push((seq, record::decode_rejected(v).map_err(bad)?));
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db("rejected scan", e))?;
        Ok(out)
    }
}
