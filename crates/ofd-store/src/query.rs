//! Reading documents back: point get by (FN, FD) and streaming range queries.
//!
//! `get` is one point read in `docs`. A drive's documents in FD order are a range of `docs`
//! (`FN | FD`); a register's documents are a range of `by_rn` (`RN | FN | FD`), whose values
//! carry doc time and shift so those filters skip non-matching documents without reading them.
//! Iterators stream from RocksDB one entry at a time; nothing is collected.

use std::ops::RangeInclusive;

use rocksdb::{DB, DBRawIteratorWithThreadMode, ReadOptions};

use crate::db::{DbRef, Shared};
use crate::error::{StoreError, hex};
use crate::keys::{DocKey, FnNumber, Rn, conflict_key};
use crate::options::{CF_BY_RN, CF_CONFLICTS, CF_DOCS};
use crate::record::{self, StoredDocument};
use crate::store::Store;

/// Which of a register's documents to return. Empty = all, in (FN, FD) order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterQuery {
    /// Only documents of this FN (FD numbers restart with every FN).
    pub fn_number: Option<FnNumber>,
    /// FD numbers in this range (per FN).
    pub fd: Option<RangeInclusive<u32>>,
    /// Document time (tag 1012) in this range.
    pub doc_time: Option<RangeInclusive<u32>>,
    /// Only documents of this shift.
    pub shift: Option<u32>,
}

impl Store {
    /// The document stored under (FN, FD): one point read.
    pub fn get(&self, fn_number: &FnNumber, fd: u32) -> Result<Option<StoredDocument>, StoreError> {
        get_doc(self.shared(), &DocKey::new(*fn_number, fd))
    }

    /// A drive's documents with FD in `fds`, in FD order, streamed.
    pub fn docs_of_fn(
        &self,
        fn_number: &FnNumber,
        fds: RangeInclusive<u32>,
    ) -> Result<DocIter<'_>, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let start = DocKey::new(*fn_number, *fds.start()).encode();
        let mut it = OwnedIter::new(db, CF_DOCS, bounded(fn_number.as_bytes()))?;
        it.it.seek(start);
        Ok(DocIter {
            shared,
            it,
            fn_number: *fn_number,
            last_fd: *fds.end(),
            done: fds.is_empty(),
        })
    }

    /// A register's documents matching `q`, in (FN, FD) order, streamed.
    pub fn docs_of_register(
        &self,
        rn: &Rn,
        q: RegisterQuery,
    ) -> Result<RegisterDocIter<'_>, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let mut prefix = rn.as_bytes().to_vec();
        if let Some(f) = &q.fn_number {
            prefix.extend_from_slice(f.as_bytes());
        }
        let mut it = OwnedIter::new(db, CF_BY_RN, bounded(&prefix))?;
        match (&q.fn_number, &q.fd) {
            (Some(_), Some(fd)) => {
                let mut start = prefix.clone();
                start.extend_from_slice(&fd.start().to_be_bytes());
                it.it.seek(start);
            }
            _ => it.it.seek(&prefix),
        }
        Ok(RegisterDocIter { shared, it, q })
    }

    /// Documents that arrived with an already stored (FN, FD) but different bytes.
    pub fn conflicts_of(
        &self,
        fn_number: &FnNumber,
        fd: u32,
    ) -> Result<Vec<(u64, StoredDocument)>, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let key = DocKey::new(*fn_number, fd);
        let prefix = key.encode();
        let mut it = db.raw_iterator_cf_opt(db.cf(CF_CONFLICTS)?, bounded(&prefix));
        it.seek(conflict_key(&key, 0));
        let mut out = Vec::new();
        while let Some((k, v)) = it.item() {
            let seq = k.get(20..).and_then(crate::keys::u64_from_be);
            let view = record::decode(v).ok();
            match (seq, view) {
                (Some(seq), Some(view)) => out.push((
                    seq,
                    StoredDocument {
                        key,
                        header: view.header,
                        raw: view.raw.to_vec(),
                        ack: view.ack.to_vec(),
                    },
                )),
                _ => {
                    return Err(StoreError::CorruptRecord {
                        cf: CF_CONFLICTS,
                        what: "conflict record",
                        key: hex(k),
                        reason: "does not parse".into(),
                    });
                }
            }
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db("conflicts scan", e))?;
        Ok(out)
    }
}

/// A RocksDB iterator together with the database instance it reads, so that a streamed query
/// keeps that instance open (the healer waits for it before a reopen) without borrowing the
/// swappable slot in `Shared`.
struct OwnedIter {
    // Declared before `_db`: fields drop in order, so the iterator goes first.
    it: DBRawIteratorWithThreadMode<'static, DB>,
    _db: DbRef,
}

impl OwnedIter {
    fn new(db: DbRef, cf: &'static str, opts: ReadOptions) -> Result<OwnedIter, StoreError> {
        let it = db.raw_iterator_cf_opt(db.cf(cf)?, opts);
        // SAFETY: the iterator borrows the `DB` inside `db`'s `Arc`, whose heap address never
        // moves. `OwnedIter` owns that `Arc` for as long as it owns the iterator and drops the
        // iterator first (field order), so the borrow never outlives the database; only the
        // lifetime parameter changes, not the type's layout.
        let it = unsafe {
            std::mem::transmute::<
                DBRawIteratorWithThreadMode<'_, DB>,
                DBRawIteratorWithThreadMode<'static, DB>,
            >(it)
        };
        Ok(OwnedIter { it, _db: db })
    }
}

/// Read options limiting an iterator to keys starting with `prefix`, which is at least a whole
/// hashed prefix (an FN or an RN, `options::hashed_by_prefix`) where the column family has one.
pub(crate) fn bounded(prefix: &[u8]) -> ReadOptions {
    let mut o = ReadOptions::default();
    o.set_prefix_same_as_start(true);
    o.set_iterate_lower_bound(prefix.to_vec());
    if let Some(upper) = prefix_successor(prefix) {
        o.set_iterate_upper_bound(upper);
    }
    o
}

/// The smallest key greater than every key with this prefix (`None`: no such key).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

pub(crate) fn get_doc(shared: &Shared, key: &DocKey) -> Result<Option<StoredDocument>, StoreError> {
    let db = shared.db()?;
    let kb = key.encode();
    let Some(v) = db.get_pinned_cf(db.cf(CF_DOCS)?, kb).map_err(|e| {
        shared.read_failed(&e);
        StoreError::db("docs get", e)
    })?
    else {
        return Ok(None);
    };
    let view = record::decode(&v).map_err(|e| shared.corrupt_doc(&kb, e))?;
    Ok(Some(StoredDocument {
        key: *key,
        header: view.header,
        raw: view.raw.to_vec(),
        ack: view.ack.to_vec(),
    }))
}

/// Streams a drive's documents (see `Store::docs_of_fn`).
pub struct DocIter<'a> {
    shared: &'a Shared,
    it: OwnedIter,
    fn_number: FnNumber,
    last_fd: u32,
    done: bool,
}

impl Iterator for DocIter<'_> {
    type Item = Result<StoredDocument, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let Some((k, v)) = self.it.it.item() else {
            self.done = true;
            return self.it.it.status().err().map(|e| {
                self.shared.read_failed(&e);
                Err(StoreError::db("docs scan", e))
            });
        };
        let item = match DocKey::decode(k) {
            Some(key) if key.fn_number == self.fn_number && key.fd <= self.last_fd => {
                record::decode(v)
                    .map(|view| StoredDocument {
                        key,
                        header: view.header,
                        raw: view.raw.to_vec(),
                        ack: view.ack.to_vec(),
                    })
                    .map_err(|e| self.shared.corrupt_doc(k, e))
            }
            Some(_) => {
                self.done = true;
                return None;
            }
            None => Err(self.shared.corrupt_doc(k, "bad key".into())),
        };
        self.it.it.next();
        Some(item)
    }
}

/// Streams a register's documents (see `Store::docs_of_register`).
pub struct RegisterDocIter<'a> {
    shared: &'a Shared,
    it: OwnedIter,
    q: RegisterQuery,
}

impl RegisterDocIter<'_> {
    /// The next matching index entry's document key, without reading the document.
    fn next_key(&mut self) -> Option<Result<DocKey, StoreError>> {
        loop {
            let Some((k, v)) = self.it.it.item() else {
                return self
                    .it
                    .it
                    .status()
                    .err()
                    .map(|e| Err(StoreError::db("by_rn scan", e)));
            };
            let parsed = k
                .get(16..)
                .and_then(DocKey::decode)
                .zip(record::decode_by_rn_value(v));
            let Some((key, (time, shift))) = parsed else {
                let e = StoreError::CorruptRecord {
                    cf: CF_BY_RN,
                    what: "register index entry",
                    key: hex(k),
                    reason: "does not parse".into(),
                };
                self.it.it.next();
                return Some(Err(e));
            };
            if let (Some(_), Some(fd)) = (&self.q.fn_number, &self.q.fd)
                && key.fd > *fd.end()
            {
                return None;
            }
            self.it.it.next();
            let keep = self.q.fd.as_ref().is_none_or(|r| r.contains(&key.fd))
                && self.q.doc_time.as_ref().is_none_or(|r| r.contains(&time))
                && self.q.shift.is_none_or(|s| shift == Some(s));
            if keep {
                return Some(Ok(key));
            }
        }
    }
}

impl Iterator for RegisterDocIter<'_> {
    type Item = Result<StoredDocument, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let key = match self.next_key()? {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        Some(match get_doc(self.shared, &key) {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(StoreError::CorruptRecord {
                cf: CF_BY_RN,
                what: "register index entry",
                key: format!("{}/{}", key.fn_number, key.fd),
                reason: "points at a missing document".into(),
            }),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_successor_carries() {
        assert_eq!(super::prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(super::prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(super::prefix_successor(&[0xff]), None);
    }
}
