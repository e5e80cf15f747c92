//! The export outbox, named cursors, and the audit log of rejected messages.
//!
//! Every stored document that is not a rejection gets the next sequence number in `outbox`
//! (`seq(BE u64)` → `FN | FD`, 20 bytes), in the same batch as the document, and so does every
//! exported Kazakh exchange (`seq` → `'K' | system_id(u32 BE) | log seq(u64 BE)`, 13 bytes), so
//! an exporter that reads the outbox in order sees every item exactly once and in commit order. Exporters keep
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
    pub item: OutboxItem,
}

impl OutboxEntry {
    /// The document this entry names, if it names one.
    pub fn doc(&self) -> Option<DocKey> {
        match self.item {
            OutboxItem::Doc(key) => Some(key),
            OutboxItem::Kz { .. } => None,
        }
    }
}

/// What an outbox entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxItem {
    /// A stored FN–OFD document.
    Doc(DocKey),
    /// A Kazakh register's logged exchange (`Store::kz_log_entry`).
    Kz { system_id: u32, log_seq: u64 },
}

const KZ_TAG: u8 = b'K';

impl OutboxItem {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            OutboxItem::Doc(key) => key.encode().to_vec(),
            OutboxItem::Kz { system_id, log_seq } => {
                let mut v = Vec::with_capacity(13);
                v.push(KZ_TAG);
                v.extend_from_slice(&system_id.to_be_bytes());
                v.extend_from_slice(&log_seq.to_be_bytes());
                v
            }
        }
    }

    /// A document key starts with an FN's ASCII digit, so the tag `'K'` cannot be one.
    fn decode(v: &[u8]) -> Option<OutboxItem> {
        match v.split_first() {
            Some((&KZ_TAG, rest)) => {
                let (id, seq) = rest.split_at_checked(4)?;
                Some(OutboxItem::Kz {
                    system_id: u32::from_be_bytes(id.try_into().ok()?),
                    log_seq: u64::from_be_bytes(seq.try_into().ok()?),
                })
            }
            _ => DocKey::decode(v).map(OutboxItem::Doc),
        }
    }
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
            match (u64_from_be(k), OutboxItem::decode(v)) {
                (Some(seq), Some(item)) => out.push(OutboxEntry { seq, item }),
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
