//! The document log (#21): every stored document once, under its arrival on this node, and the
//! `(FN, FD)` index that finds it.
//!
//! # Why arrival order
//!
//! Keyed by `FN | FD` (`docs`, before), the documents of hundreds of drives interleave in every
//! batch, so every flushed file overlaps the whole key range and each compaction rewrites — and
//! at the bottom level recompresses — everything stored so far in that range: a document's cost
//! grew with the store (21 µs of compaction per document after one minute of the wired load,
//! `benches/README.md` section 6), and the store never stops growing. Keyed by a sequence,
//! flushed files never overlap and RocksDB moves them down whole; every level of `doc_log`
//! compresses alike (`options.rs`), so nothing forces a rewrite. A document is written to the
//! WAL once and to a table once, compressed once, at flush.
//!
//! # What finds a document
//!
//! `doc_index`: `FN | FD` → the log sequence (8 bytes). The duplicate check of every put, the
//! point read and every per-drive query read it; its entries are small, so its own compactions
//! are cheap. A log value names its document (`FN | FD ‖ record`, `record.rs`), so the log alone
//! is the store of record: a damaged index block costs no document, `salvage` rebuilds the
//! index from the log (`verify.rs`), and a log entry can be checked against the index that led
//! to it.
//!
//! # Stores written before
//!
//! A directory written before the log keeps its documents in `docs` (`FN | FD` → record).
//! Nothing is migrated and nothing new is written there: every read asks the index first and
//! falls back to `docs` when the store has any (`Shared::legacy_docs`), and a drive's documents
//! are the merge of both (`query::DocIter`).

use rocksdb::DBPinnableSlice;

use crate::db::{DbRef, Shared};
use crate::error::{StoreError, hex};
use crate::keys::{DOC_KEY_LEN, DocKey, Rn, u64_from_be};
use crate::options::{CF_DOC_INDEX, CF_DOC_LOG, CF_DOCS};
use crate::record::{self, DocFlags, NewDocument};

/// A `doc_log` value: the document's key, then its record.
pub(crate) fn encode(
    key: &DocKey,
    doc: &NewDocument,
    rn: Option<&Rn>,
    flags: DocFlags,
) -> Result<Vec<u8>, String> {
    // One allocation: `encode_after` finds the room already there.
    let mut v = Vec::with_capacity(DOC_KEY_LEN + record::encoded_len(doc));
    v.extend_from_slice(&key.encode());
    record::encode_after(&mut v, doc, rn, flags)?;
    Ok(v)
}

/// Splits a `doc_log` value into the key it names and its record (not yet decoded).
pub(crate) fn split(v: &[u8]) -> Result<(DocKey, &[u8]), String> {
    let (k, rec) = v
        .split_at_checked(DOC_KEY_LEN)
        .ok_or_else(|| format!("{} bytes, shorter than a document key", v.len()))?;
    let key = DocKey::decode(k).ok_or_else(|| format!("bad document key {}", hex(k)))?;
    Ok((key, rec))
}

/// A stored document's record as RocksDB hands it out (pinned, not copied).
pub(crate) struct Found<'a> {
    value: DBPinnableSlice<'a>,
    /// Where it lies: `doc_log` (the record after the key) or `docs` (the whole value).
    pub(crate) cf: &'static str,
}

impl Found<'_> {
    pub(crate) fn record(&self) -> &[u8] {
        let at = if self.cf == CF_DOC_LOG {
            DOC_KEY_LEN
        } else {
            0
        };
        &self.value[at..]
    }
}

/// The record stored under `key`: through the index into the log, else (a store written before
/// the log) in `docs`.
pub(crate) fn find<'a>(
    shared: &Shared,
    db: &'a DbRef,
    key: &DocKey,
) -> Result<Option<Found<'a>>, StoreError> {
    let kb = key.encode();
    let get = |cf: &'static str| {
        db.get_pinned_cf(db.cf(cf)?, kb).map_err(|e| {
            shared.read_failed(&e);
            StoreError::db("document get", e)
        })
    };
    if let Some(seq) = get(CF_DOC_INDEX)? {
        return at(shared, db, key, &seq).map(Some);
    }
    if !shared.legacy_docs() {
        return Ok(None);
    }
    Ok(get(CF_DOCS)?.map(|value| Found { value, cf: CF_DOCS }))
}

/// For each of a batch's keys, the record already stored under it (the committer's duplicate
/// check): one batched read of the index, one of `docs` for the keys it does not have (only in
/// a store written before the log), and a log read for each key found (a resend).
pub(crate) fn find_many<'a>(
    shared: &Shared,
    db: &'a DbRef,
    keys: &[DocKey],
) -> Vec<Result<Option<Found<'a>>, StoreError>> {
    let (index, docs) = match (db.cf(CF_DOC_INDEX), db.cf(CF_DOCS)) {
        (Ok(index), Ok(docs)) => (index, docs),
        (Err(e), _) | (_, Err(e)) => {
            let e = e.to_string();
            return keys
                .iter()
                .map(|_| Err(StoreError::Internal(e.clone())))
                .collect();
        }
    };
    let encoded: Vec<[u8; DOC_KEY_LEN]> = keys.iter().map(DocKey::encode).collect();
    let failed = |e: rocksdb::Error| {
        shared.read_failed(&e);
        StoreError::db("document multi_get", e)
    };
    let mut out: Vec<Result<Option<Found<'a>>, StoreError>> = db
        .batched_multi_get_cf(index, encoded.iter(), false)
        .into_iter()
        .zip(keys)
        .map(|(r, key)| match r {
            Ok(Some(seq)) => at(shared, db, key, &seq).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(failed(e)),
        })
        .collect();
    if shared.legacy_docs() {
        let missing: Vec<usize> = (0..out.len())
            .filter(|&i| matches!(out[i], Ok(None)))
            .collect();
        let legacy = db.batched_multi_get_cf(docs, missing.iter().map(|&i| &encoded[i]), false);
        for (i, r) in missing.into_iter().zip(legacy) {
            out[i] = r
                .map(|v| v.map(|value| Found { value, cf: CF_DOCS }))
                .map_err(failed);
        }
    }
    out
}

/// The log entry an index value names for `key`, checked to be that document's.
pub(crate) fn at<'a>(
    shared: &Shared,
    db: &'a DbRef,
    key: &DocKey,
    index_value: &[u8],
) -> Result<Found<'a>, StoreError> {
    let corrupt_index = |reason: String| StoreError::CorruptRecord {
        cf: CF_DOC_INDEX,
        what: "document index entry",
        key: hex(&key.encode()),
        reason,
    };
    let seq = u64_from_be(index_value)
        .ok_or_else(|| corrupt_index(format!("{} bytes, not a sequence", index_value.len())))?;
    let value = db
        .get_pinned_cf(db.cf(CF_DOC_LOG)?, seq.to_be_bytes())
        .map_err(|e| {
            shared.read_failed(&e);
            StoreError::db("document log get", e)
        })?
        .ok_or_else(|| corrupt_index(format!("names log entry {seq}, which is missing")))?;
    match split(&value) {
        Ok((named, _)) if named == *key => Ok(Found {
            value,
            cf: CF_DOC_LOG,
        }),
        Ok((named, _)) => Err(corrupt_index(format!(
            "names log entry {seq}, which holds {}/{}",
            named.fn_number, named.fd
        ))),
        Err(reason) => Err(StoreError::CorruptRecord {
            cf: CF_DOC_LOG,
            what: "document log entry",
            key: seq.to_string(),
            reason,
        }),
    }
}
