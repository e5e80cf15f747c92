//! Offline verification and repair of a stopped store's directory: what `ofdd store check` and
//! `ofdd store repair` run.
//!
//! RocksDB 10.4's C API exposes no `VerifyChecksum`, so `check` does what it would: opens the
//! database read-only (which replays and checks the WAL, and reads every table's footer, index
//! and properties), then reads every entry of every column family with checksum verification
//! on and the block cache bypassed — which also reads every document's blob. Each document
//! record (`doc_log`, `docs`) is decoded too, and each `doc_index` value checked to be a
//! sequence. Errors name the damaged file as RocksDB does (`…/000012.sst`, `…/000009.log`,
//! `…/000015.blob`).
//!
//! `salvage` is the repair: it copies every record that still reads back into a fresh store in
//! a new directory, leaving the damaged one untouched. Documents are copied by a scan of the
//! document log (and of `docs`, in a store written before it) and, past a damaged block, by point
//! reads of every key the indexes (`doc_index`, `by_rn`, `outbox`) still name, so one bad block
//! costs the documents in it, not the table. The copy's document index is rebuilt from the log
//! entries copied, each of which names its document. A WAL damaged in the middle
//! is replayed up to the damage (point-in-time recovery) and says so. RocksDB's own `RepairDB`
//! is not used: it does not know blob files and drops every document's value (tested).

use std::collections::HashSet;
use std::path::Path;

use rocksdb::{DB, ReadOptions, WriteBatch};

use crate::error::StoreError;
use crate::keys::{DocKey, u64_from_be};
use crate::options::{
    ALL_CFS, CF_BY_RN, CF_DOC_INDEX, CF_DOC_LOG, CF_DOCS, CF_OUTBOX, StoreOptions,
};
use crate::store::Store;

/// What `Store::check` found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Entries read per column family (up to the first error in that family).
    pub entries: Vec<(&'static str, u64)>,
    /// Document records read and decoded (`docs` entries).
    pub documents: u64,
    /// Every problem found, each naming the column family and (as RocksDB words it) the file.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Verifies a store directory that no process has open (see the module doc). `Err` when
    /// it does not even open — the error names the damage; `Ok` with `problems` when it opens
    /// but some data does not read back.
    pub fn check(path: impl AsRef<Path>) -> Result<CheckReport, StoreError> {
        let path = path.as_ref();
        if !path.join("CURRENT").exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let db = read_only(path, false).map_err(|e| {
            let detail = e.clone().into_string();
            if e.kind() == rocksdb::ErrorKind::Corruption {
                StoreError::CorruptDatabase {
                    detail: crate::db::with_log_hint(path, detail),
                    path: path.to_path_buf(),
                }
            } else {
                StoreError::Open {
                    path: path.to_path_buf(),
                    detail,
                }
            }
        })?;
        let mut report = CheckReport::default();
        for name in ALL_CFS {
            let Some(cf) = db.cf_handle(name) else {
                if !ADDED_LATER.contains(&name) {
                    report
                        .problems
                        .push(format!("column family {name} missing"));
                }
                continue;
            };
            let mut it = db.raw_iterator_cf_opt(cf, verified());
            it.seek_to_first();
            let mut n = 0u64;
            while let Some((k, v)) = it.item() {
                n += 1;
                let decoded = match name {
                    CF_DOC_LOG => Some(document_of_log(v).map(|_| ())),
                    CF_DOCS => Some(crate::record::decode(v).map(|_| ())),
                    CF_DOC_INDEX if v.len() != 8 => Some(Err(format!("{} bytes", v.len()))),
                    _ => None,
                };
                match decoded {
                    Some(Ok(())) if name != CF_DOC_INDEX => report.documents += 1,
                    Some(Err(e)) => report.problems.push(format!(
                        "{name}: entry at key {} does not decode: {e}",
                        crate::error::hex(k)
                    )),
                    _ => {}
                }
                it.next();
            }
            if let Err(e) = it.status() {
                let mut problem = format!("{name}: read stopped after {n} entries: {e}");
                if e.as_ref().contains("Blob") {
                    // RocksDB does not name the blob file; list the candidates.
                    problem.push_str(&format!(" (blob files: {})", blob_files(path).join(", ")));
                }
                report.problems.push(problem);
            }
            report.entries.push((name, n));
        }
        Ok(report)
    }
}

/// The blob files in a store directory, by name.
fn blob_files(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".blob"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What `Store::salvage` copied and what it could not.
#[derive(Clone, Debug, Default)]
pub struct SalvageReport {
    /// Entries copied per column family.
    pub copied: Vec<(&'static str, u64)>,
    /// Documents copied.
    pub documents: u64,
    /// Documents the indexes name that could not be read (lost), as `FN|FD` hex keys.
    pub lost_documents: Vec<String>,
    /// Read errors met on the way, naming files where RocksDB does.
    pub problems: Vec<String>,
    /// The WAL was damaged: records after the damage were dropped and cannot be counted.
    pub wal_truncated: bool,
}

/// Column families a store written by an older release may lack (it gets them when the daemon
/// opens it; a read-only open cannot create them).
const ADDED_LATER: [&str; 2] = [CF_DOC_LOG, CF_DOC_INDEX];

fn read_only(path: &Path, point_in_time: bool) -> Result<DB, rocksdb::Error> {
    let opts = StoreOptions {
        create_if_missing: false,
        ..StoreOptions::default()
    };
    let mut o = opts.db_options();
    if point_in_time {
        o.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
    }
    let present = DB::list_cf(&o, path)?;
    let families = opts
        .column_families()
        .into_iter()
        .filter(|cf| present.iter().any(|p| p == cf.name()) || !ADDED_LATER.contains(&cf.name()));
    DB::open_cf_descriptors_read_only(&o, path, families, false)
}

/// A `doc_log` value's key, once its record decodes.
fn document_of_log(v: &[u8]) -> Result<DocKey, String> {
    let (key, record) = crate::doc_log::split(v)?;
    crate::record::decode(record)?;
    Ok(key)
}

/// Whole-column-family scans: checksums verified, the cache left alone, and total order (the
/// `docs` and `by_rn` memtables are hashed by prefix; without it a scan would see one bucket).
fn verified() -> ReadOptions {
    let mut ro = ReadOptions::default();
    ro.set_verify_checksums(true);
    ro.fill_cache(false);
    ro.set_total_order_seek(true);
    ro
}

impl Store {
    /// Copies every readable record of the (stopped, damaged) store at `from` into a new store
    /// at `to`, which must not exist. `from` is only read.
    pub fn salvage(
        from: impl AsRef<Path>,
        to: impl AsRef<Path>,
    ) -> Result<SalvageReport, StoreError> {
        let (from, to) = (from.as_ref(), to.as_ref());
        let open_err = |e: rocksdb::Error| StoreError::Open {
            path: from.to_path_buf(),
            detail: e.into_string(),
        };
        if to.exists() {
            return Err(StoreError::InvalidInput(format!(
                "{} already exists; salvage writes a new directory",
                to.display()
            )));
        }
        let mut report = SalvageReport::default();
        let src = match read_only(from, false) {
            Ok(db) => db,
            Err(e) if e.kind() == rocksdb::ErrorKind::Corruption => {
                report.wal_truncated = true;
                report.problems.push(format!(
                    "{}; the WAL is replayed up to the damage",
                    crate::db::with_log_hint(from, e.into_string())
                ));
                read_only(from, true).map_err(open_err)?
            }
            Err(e) => return Err(open_err(e)),
        };
        let dst = crate::db::open_db(to, &StoreOptions::default())?;
        let cf_pair = |name: &'static str| match (src.cf_handle(name), dst.cf_handle(name)) {
            (Some(s), Some(d)) => Ok((Some(s), d)),
            (None, Some(d)) if ADDED_LATER.contains(&name) => Ok((None, d)),
            _ => Err(StoreError::Internal(format!(
                "{name} column family missing"
            ))),
        };
        let (slog, dlog) = cf_pair(CF_DOC_LOG)?;
        let (sindex, dindex) = cf_pair(CF_DOC_INDEX)?;
        let (sdocs, ddocs) = cf_pair(CF_DOCS)?;
        // Every document copied, by `FN | FD` key.
        let mut copied_docs: HashSet<Vec<u8>> = HashSet::new();
        let mut index_entries = 0u64;
        for name in ALL_CFS {
            if name == CF_DOC_INDEX {
                // Rebuilt from the log below: the copy names exactly the documents copied.
                continue;
            }
            let (Some(scf), Some(dcf)) = (src.cf_handle(name), dst.cf_handle(name)) else {
                if !ADDED_LATER.contains(&name) {
                    report
                        .problems
                        .push(format!("column family {name} missing"));
                }
                continue;
            };
            let mut it = src.raw_iterator_cf_opt(scf, verified());
            it.seek_to_first();
            let mut batch = WriteBatch::default();
            let mut n = 0u64;
            while let Some((k, v)) = it.item() {
                match name {
                    CF_DOC_LOG => match document_of_log(v) {
                        Ok(key) => {
                            batch.put_cf(dindex, key.encode(), k);
                            index_entries += 1;
                            copied_docs.insert(key.encode().to_vec());
                        }
                        Err(_) => {
                            it.next();
                            continue;
                        }
                    },
                    CF_DOCS => {
                        if crate::record::decode(v).is_err() {
                            it.next();
                            continue;
                        }
                        copied_docs.insert(k.to_vec());
                    }
                    _ => {}
                }
                batch.put_cf(dcf, k, v);
                n += 1;
                if batch.len() >= 1000 {
                    dst.write(std::mem::take(&mut batch))
                        .map_err(|e| StoreError::db("salvage write", e))?;
                }
                it.next();
            }
            if let Err(e) = it.status() {
                report
                    .problems
                    .push(format!("{name}: scan stopped after {n} entries: {e}"));
            }
            dst.write(batch)
                .map_err(|e| StoreError::db("salvage write", e))?;
            report.copied.push((name, n));
        }
        // Documents past a damaged block: every key an index still names, read one by one —
        // through the document index into the log, or in `docs` (an older layout).
        let mut named: Vec<(Vec<u8>, Option<u64>)> = Vec::new();
        for (cf, keys_of) in [
            (
                CF_BY_RN,
                (|k: &[u8], _v: &[u8]| {
                    k.get(16..36)
                        .map(|k| (k.to_vec(), None))
                        .into_iter()
                        .collect()
                }) as fn(&[u8], &[u8]) -> Vec<(Vec<u8>, Option<u64>)>,
            ),
            (CF_OUTBOX, |_k: &[u8], v: &[u8]| {
                crate::outbox::decode_list(v)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|item| match item {
                        crate::outbox::OutboxItem::Doc(key) => Some((key.encode().to_vec(), None)),
                        crate::outbox::OutboxItem::Kz { .. } => None,
                    })
                    .collect()
            }),
            (CF_DOC_INDEX, |k: &[u8], v: &[u8]| {
                vec![(k.to_vec(), u64_from_be(v))]
            }),
        ] {
            let Some(h) = src.cf_handle(cf) else { continue };
            let mut it = src.raw_iterator_cf_opt(h, verified());
            it.seek_to_first();
            while let Some((k, v)) = it.item() {
                named.extend(keys_of(k, v));
                it.next();
            }
            if let Err(e) = it.status() {
                report.problems.push(format!("{cf}: scan stopped: {e}"));
            }
        }
        // The column family of each document copied by a point read.
        let mut read_past: Vec<&'static str> = Vec::new();
        for (key, seq) in named {
            if copied_docs.contains(&key) {
                continue;
            }
            let seq = seq.or_else(|| {
                let v = src.get_cf_opt(sindex?, &key, &verified()).ok()??;
                u64_from_be(&v)
            });
            let from_log = seq.and_then(|seq| {
                let v = src
                    .get_cf_opt(slog?, seq.to_be_bytes(), &verified())
                    .ok()??;
                let named = document_of_log(&v).ok()?;
                (named.encode()[..] == key[..]).then_some((seq, v))
            });
            let from_docs = || {
                let v = src.get_cf_opt(sdocs?, &key, &verified()).ok()??;
                crate::record::decode(&v).is_ok().then_some(v)
            };
            let written = if let Some((seq, v)) = from_log {
                let mut b = WriteBatch::default();
                b.put_cf(dlog, seq.to_be_bytes(), &v);
                b.put_cf(dindex, &key, seq.to_be_bytes());
                index_entries += 1;
                read_past.push(CF_DOC_LOG);
                Some(dst.write(b))
            } else {
                from_docs().map(|v| {
                    read_past.push(CF_DOCS);
                    dst.put_cf(ddocs, &key, &v)
                })
            };
            match written {
                Some(w) => w.map_err(|e| StoreError::db("salvage write", e))?,
                None => report.lost_documents.push(crate::error::hex(&key)),
            }
            copied_docs.insert(key);
        }
        for (name, n) in report.copied.iter_mut() {
            *n += read_past.iter().filter(|cf| *cf == name).count() as u64;
        }
        report.copied.push((CF_DOC_INDEX, index_entries));
        report.documents = (copied_docs.len() - report.lost_documents.len()) as u64;
        dst.flush_wal(true)
            .map_err(|e| StoreError::db("salvage sync", e))?;
        for name in ALL_CFS {
            if let Some(h) = dst.cf_handle(name) {
                dst.flush_cf(h)
                    .map_err(|e| StoreError::db("salvage flush", e))?;
            }
        }
        Ok(report)
    }
}
