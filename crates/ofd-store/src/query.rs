//! Reading documents back: point get by (FN, FD) and streaming range queries.
//!
//! `get` is one read of the document index and one of the log (`doc_log.rs`). A drive's
//! documents in FD order are a range of the index (`FN | FD`), merged with the same range of
//! `docs` in a store written before the log; a register's documents are a range of `by_rn`
//! (`RN | FN | FD`), whose values carry doc time and shift so those filters skip non-matching
//! documents without reading them. Iterators stream from RocksDB one entry at a time; nothing
//! is collected.

use std::ops::RangeInclusive;

use rocksdb::{DB, DBRawIteratorWithThreadMode, ReadOptions};

use crate::db::{DbRef, Shared};
use crate::error::{StoreError, hex};
use crate::keys::{DocKey, FnNumber, Rn, conflict_key};
use crate::options::{CF_BY_RN, CF_CONFLICTS, CF_DOC_INDEX, CF_DOCS};
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
        DocIter::new(self.shared(), fn_number, fds)
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
    // Declared before `db`: fields drop in order, so the iterator goes first.
    it: DBRawIteratorWithThreadMode<'static, DB>,
    db: DbRef,
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
        Ok(OwnedIter { it, db })
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
    match crate::doc_log::find(shared, &db, key)? {
        Some(found) => stored(shared, found.cf, *key, found.record()).map(Some),
        None => Ok(None),
    }
}

/// A record (read from `cf`) decoded into the document it stores under `key`.
fn stored(
    shared: &Shared,
    cf: &'static str,
    key: DocKey,
    record: &[u8],
) -> Result<StoredDocument, StoreError> {
    let view = record::decode(record).map_err(|e| shared.corrupt_doc(cf, &key.encode(), e))?;
    Ok(StoredDocument {
        key,
        header: view.header,
        raw: view.raw.to_vec(),
        ack: view.ack.to_vec(),
    })
}

/// Streams a drive's documents (see `Store::docs_of_fn`): the drive's range of the document
/// index, each entry read from the log, merged in FD order with the same range of `docs` when
/// the store has documents of the layout before the log.
pub struct DocIter<'a> {
    shared: &'a Shared,
    index: OwnedIter,
    legacy: Option<OwnedIter>,
    fn_number: FnNumber,
    last_fd: u32,
    done: bool,
}

impl<'a> DocIter<'a> {
    pub(crate) fn new(
        shared: &'a Shared,
        fn_number: &FnNumber,
        fds: RangeInclusive<u32>,
    ) -> Result<DocIter<'a>, StoreError> {
        let db = shared.db()?;
        let start = DocKey::new(*fn_number, *fds.start()).encode();
        let open = |cf| -> Result<OwnedIter, StoreError> {
            let mut it = OwnedIter::new(db.clone(), cf, bounded(fn_number.as_bytes()))?;
            it.it.seek(start);
            Ok(it)
        };
        Ok(DocIter {
            shared,
            index: open(CF_DOC_INDEX)?,
            legacy: shared.legacy_docs().then(|| open(CF_DOCS)).transpose()?,
            fn_number: *fn_number,
            last_fd: *fds.end(),
            done: fds.is_empty(),
        })
    }

    /// The next document (or why it does not read), from whichever layout has the lower FD;
    /// both iterators move past it. `Err`: the scan cannot go on (a read error, a damaged key).
    #[allow(clippy::type_complexity)]
    fn step(&mut self) -> Result<Option<Result<StoredDocument, StoreError>>, StoreError> {
        let (f, last) = (self.fn_number, self.last_fd);
        let a = current(self.shared, &f, last, &mut self.index, CF_DOC_INDEX)?;
        let b = match &mut self.legacy {
            Some(it) => current(self.shared, &f, last, it, CF_DOCS)?,
            None => None,
        };
        let (fd, from_index) = match (a, b) {
            (None, None) => return Ok(None),
            (Some(a), Some(b)) if b < a => (b, false),
            (Some(a), _) => (a, true),
            (None, Some(b)) => (b, false),
        };
        let key = DocKey::new(f, fd);
        if from_index {
            let v = self.index.it.value().unwrap_or_default();
            let doc = crate::doc_log::at(self.shared, &self.index.db, &key, v)
                .and_then(|found| stored(self.shared, found.cf, key, found.record()));
            self.index.it.next();
            if b == Some(fd)
                && let Some(legacy) = &mut self.legacy
            {
                // One key in both layouts is never written (the duplicate check reads both);
                // should it exist, the log's is the document.
                legacy.it.next();
            }
            Ok(Some(doc))
        } else {
            let Some(legacy) = &mut self.legacy else {
                return Ok(None);
            };
            let doc = stored(
                self.shared,
                CF_DOCS,
                key,
                legacy.it.value().unwrap_or_default(),
            );
            legacy.it.next();
            Ok(Some(doc))
        }
    }
}

/// The FD of `it`'s current entry while that is one of the requested documents (of drive `f`,
/// FD at most `last`); an error ends the scan.
fn current(
    shared: &Shared,
    f: &FnNumber,
    last: u32,
    it: &mut OwnedIter,
    cf: &'static str,
) -> Result<Option<u32>, StoreError> {
    let Some(k) = it.it.key() else {
        return it.it.status().map(|()| None).map_err(|e| {
            shared.read_failed(&e);
            StoreError::db("document scan", e)
        });
    };
    match DocKey::decode(k) {
        Some(key) if key.fn_number == *f && key.fd <= last => Ok(Some(key.fd)),
        Some(_) => Ok(None),
        None => Err(StoreError::CorruptRecord {
            cf,
            what: "document key",
            key: hex(k),
            reason: "not FN | FD".into(),
        }),
    }
}

impl Iterator for DocIter<'_> {
    type Item = Result<StoredDocument, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // A document that does not read is reported and passed; a scan that cannot go on
        // ends after reporting why.
        match self.step() {
            Ok(Some(doc)) => Some(doc),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
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
