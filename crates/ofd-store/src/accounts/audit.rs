//! The audit log: append-only and durable, one entry per change, listed for each organisation
//! it concerns. Entries are appended on the committer like every accounts change, so their
//! sequence numbers follow the order changes became durable.

use super::types::*;
use super::{get, key, scan_keys};
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::options::CF_ACCOUNTS;
use crate::store::Store;

impl Store {
    /// Appends an entry; resolves to its sequence number once it is durable.
    pub fn audit(&self, mut entry: AuditEntry) -> StoreFuture<u64> {
        self.accounts_tx(move |tx| {
            // The last `A` key holds the highest sequence number; one reverse seek per append
            // (appends are as rare as the changes they record).
            let cf = tx.db.cf(CF_ACCOUNTS)?;
            let mut it = tx.db.raw_iterator_cf(cf);
            it.seek_for_prev(b"A\xff");
            let last = match it.key() {
                Some(k) if k.first() == Some(&b'A') && k.len() == 9 => {
                    u64::from_be_bytes(k[1..].try_into().unwrap_or([0; 8]))
                }
                _ => 0,
            };
            it.status().map_err(|e| StoreError::db("audit seek", e))?;
            drop(it);
            let seq = last + 1;
            entry.seq = seq;
            let mut k = vec![b'A'];
            k.extend_from_slice(&seq.to_be_bytes());
            tx.put(&k, &entry)?;
            for org in &entry.orgs {
                let mut ik = key(b'a', &[org.as_bytes(), b""]);
                ik.extend_from_slice(&seq.to_be_bytes());
                tx.put_raw(&ik, b"")?;
            }
            Ok(seq)
        })
    }

    /// Entries in sequence order: of one organisation (`org`) or of all (`None`), filtered.
    pub fn audit_entries(
        &self,
        org: Option<&str>,
        f: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let db = self.shared().db()?;
        let limit = f.limit.clamp(1, 10_000);
        let after = f.after.map(|a| a.to_be_bytes());
        let keep = |e: &AuditEntry| f.matches(e);
        let mut out = Vec::new();
        // Scanned in pages so a filter that matches little does not hold a huge page in memory.
        let prefix = match org {
            Some(o) => key(b'a', &[o.as_bytes(), b""]),
            None => b"A".to_vec(),
        };
        let mut cursor: Option<Vec<u8>> = after.map(|a| a.to_vec());
        'pages: loop {
            let page = scan_keys_after(&db, &prefix, cursor.as_deref(), 1000)?;
            let Some((last, _)) = page.last() else { break };
            cursor = Some(last.clone());
            for (seq, v) in page {
                let entry: AuditEntry = if org.is_some() {
                    let mut k = vec![b'A'];
                    k.extend_from_slice(&seq);
                    match get(&db, &k)? {
                        Some(e) => e,
                        None => continue,
                    }
                } else {
                    super::decode(&v, "audit entry")?
                };
                if keep(&entry) {
                    out.push(entry);
                    if out.len() >= limit {
                        break 'pages;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Entries newest first, strictly before sequence number `before` (all when `None`), of one
    /// organisation or of all, filtered by `f` (its `after` and `limit` aside). Reads at most
    /// `examine` entries, so a page costs a bounded read however little the filter matches.
    /// Returns the page and, when the read stopped before the log's start, the cursor to pass
    /// as `before` for the next page.
    pub fn audit_newest(
        &self,
        org: Option<&str>,
        f: &AuditFilter,
        before: Option<u64>,
        examine: usize,
    ) -> Result<(Vec<AuditEntry>, Option<u64>), StoreError> {
        let db = self.shared().db()?;
        let limit = f.limit.clamp(1, 10_000);
        let prefix = match org {
            Some(o) => key(b'a', &[o.as_bytes(), b""]),
            None => b"A".to_vec(),
        };
        let mut target = prefix.clone();
        target.extend_from_slice(&before.unwrap_or(u64::MAX).to_be_bytes());
        let cf = db.cf(CF_ACCOUNTS)?;
        let mut it = db.raw_iterator_cf(cf);
        it.seek_for_prev(&target);
        if it.key() == Some(target.as_slice()) {
            it.prev();
        }
        let (mut out, mut examined, mut last) = (Vec::new(), 0usize, None);
        while let Some((k, v)) = it.item() {
            let Some(seq) = k
                .strip_prefix(prefix.as_slice())
                .and_then(|rest| <[u8; 8]>::try_from(rest).ok())
                .map(u64::from_be_bytes)
            else {
                break;
            };
            if out.len() >= limit || examined >= examine.max(1) {
                it.status().map_err(|e| StoreError::db("audit scan", e))?;
                return Ok((out, last));
            }
            examined += 1;
            last = Some(seq);
            let entry: Option<AuditEntry> = if org.is_some() {
                let mut ek = vec![b'A'];
                ek.extend_from_slice(&seq.to_be_bytes());
                get(&db, &ek)?
            } else {
                Some(super::decode(v, "audit entry")?)
            };
            if let Some(e) = entry.filter(|e| f.matches(e)) {
                out.push(e);
            }
            it.prev();
        }
        it.status().map_err(|e| StoreError::db("audit scan", e))?;
        Ok((out, None))
    }
}

/// `scan_keys` with a fixed-width cursor (sequence numbers contain 0 bytes, so the separator
/// trick of `scan_keys` does not apply): the first key strictly after `prefix | after`.
fn scan_keys_after(
    db: &crate::db::DbRef,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<super::Entries, StoreError> {
    match after {
        None => scan_keys(db, prefix, None, limit),
        Some(a) => {
            // Seek to prefix | after | 0xff…: past `after` itself, before its successor.
            let mut start = prefix.to_vec();
            start.extend_from_slice(a);
            let cf = db.cf(CF_ACCOUNTS)?;
            let mut out = Vec::new();
            let mut it = db.raw_iterator_cf(cf);
            it.seek(&start);
            if it.key() == Some(start.as_slice()) {
                it.next();
            }
            while let Some((k, v)) = it.item() {
                let Some(rest) = k.strip_prefix(prefix) else {
                    break;
                };
                if out.len() >= limit {
                    break;
                }
                out.push((rest.to_vec(), v.to_vec()));
                it.next();
            }
            it.status().map_err(|e| StoreError::db("audit scan", e))?;
            Ok(out)
        }
    }
}
