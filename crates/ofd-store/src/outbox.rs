//! The export outbox, named cursors, and the audit log of rejected messages.
//!
//! Every stored document that is not a rejection gets the next sequence number, and so does
//! every exported Kazakh exchange, in the same batch as the document, so an exporter that reads
//! the outbox in order sees every item exactly once and in commit order. Exporters keep their
//! position as a named cursor in `meta` (`cursor/<name>` → seq). Sequence numbers start at 1
//! and survive restarts.
//!
//! Layout: **one `outbox` entry per committed batch**, keyed by the sequence number of its first
//! item (`seq(BE u64)`), its value the batch's items in order, each self-delimiting: a document
//! is its key `FN | FD` (20 bytes, starting with an FN digit), a Kazakh exchange `'K' |
//! system_id(u32 BE) | log seq(u64 BE)` (13 bytes). The item at position `i` has sequence number
//! `key + i`. A batch of 200 documents thus costs one outbox put instead of 200 (issue #21: each
//! put is a WAL record, a skip-list insert, a flush and compactions). Stores written before
//! #21 have one item per entry, which is the same layout with lists of one, so they read as
//! they are. On open the next sequence number is the last entry's key plus its item count.

use crate::db::DbRef;
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

/// Appends `item` to an outbox entry's list.
pub(crate) fn push_item(list: &mut Vec<u8>, item: &OutboxItem) {
    match item {
        OutboxItem::Doc(key) => list.extend_from_slice(&key.encode()),
        OutboxItem::Kz { system_id, log_seq } => {
            list.push(KZ_TAG);
            list.extend_from_slice(&system_id.to_be_bytes());
            list.extend_from_slice(&log_seq.to_be_bytes());
        }
    }
}

/// The items of one outbox entry, in order; `None` if the value does not parse (or is empty).
pub(crate) fn decode_list(mut v: &[u8]) -> Option<Vec<OutboxItem>> {
    let mut items = Vec::with_capacity(v.len() / 20 + 1);
    while let Some(&first) = v.first() {
        let len = if first == KZ_TAG { 13 } else { 20 };
        let (item, rest) = v.split_at_checked(len)?;
        items.push(OutboxItem::decode(item)?);
        v = rest;
    }
    (!items.is_empty()).then_some(items)
}

/// The sequence number the next outbox item gets: 1 + the last entry's last item (1 if empty).
pub(crate) fn next_seq(db: &DbRef) -> Result<u64, StoreError> {
    let mut it = db.raw_iterator_cf(db.cf(CF_OUTBOX)?);
    it.seek_to_last();
    let next = match it.item() {
        Some((k, v)) => {
            let (first, items) = parse_entry(k, v)?;
            first + items.len() as u64
        }
        None => 1,
    };
    it.status()
        .map_err(|e| StoreError::db("outbox seek_to_last", e))?;
    Ok(next)
}

fn parse_entry(k: &[u8], v: &[u8]) -> Result<(u64, Vec<OutboxItem>), StoreError> {
    match (u64_from_be(k), decode_list(v)) {
        (Some(first), Some(items)) if first > 0 => Ok((first, items)),
        _ => Err(StoreError::CorruptRecord {
            cf: CF_OUTBOX,
            what: "outbox entry",
            key: hex(k),
            reason: "does not parse".into(),
        }),
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
        let start = after_seq.saturating_add(1);
        // The entry holding `start` begins at or before it.
        it.seek_for_prev(start.to_be_bytes());
        if !it.valid() {
            it.seek(start.to_be_bytes());
        }
        let mut out = Vec::with_capacity(limit.min(4096));
        while out.len() < limit {
            let Some((k, v)) = it.item() else { break };
            let (first, items) = parse_entry(k, v)?;
            for (seq, item) in (first..).zip(items) {
                if seq > after_seq && out.len() < limit {
                    out.push(OutboxEntry { seq, item });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::FnNumber;

    fn doc(fd: u32) -> OutboxItem {
        OutboxItem::Doc(DocKey::new(FnNumber::new(b"9999078900005488").unwrap(), fd))
    }

    #[test]
    fn a_batch_list_round_trips_in_order() {
        let items = [
            doc(1),
            OutboxItem::Kz {
                system_id: 7,
                log_seq: 3,
            },
            doc(2),
        ];
        let mut list = Vec::new();
        for i in &items {
            push_item(&mut list, i);
        }
        assert_eq!(list.len(), 20 + 13 + 20);
        assert_eq!(decode_list(&list).unwrap(), items);
    }

    #[test]
    fn an_entry_of_the_old_layout_is_a_list_of_one() {
        let mut one = Vec::new();
        push_item(&mut one, &doc(5));
        assert_eq!(
            one,
            DocKey::new(FnNumber::new(b"9999078900005488").unwrap(), 5).encode()
        );
        assert_eq!(decode_list(&one).unwrap(), vec![doc(5)]);
    }

    #[test]
    fn damaged_lists_are_refused() {
        let mut list = Vec::new();
        push_item(&mut list, &doc(1));
        push_item(&mut list, &doc(2));
        assert_eq!(decode_list(&[]), None);
        assert_eq!(decode_list(&list[..list.len() - 1]), None);
        assert_eq!(decode_list(&list[..25]), None);
        assert!(parse_entry(&0u64.to_be_bytes(), &list).is_err());
        assert!(parse_entry(b"short", &list).is_err());
    }
}
