//! Offline verification and repair of a stopped store's directory: what `ofdd store check` and
//! `ofdd store repair` run.
//!
//! RocksDB 10.4's C API exposes no `VerifyChecksum`, so `check` does what it would: opens the
//! database read-only (which replays and checks the WAL, and reads every table's footer, index
//! and properties), then reads every entry of every column family with checksum verification
//! on and the block cache bypassed — which also reads every document's blob. Each `docs` record
//! is decoded too. Errors name the damaged file as RocksDB does (`…/000012.sst`, `…/000009.log`,
//! `…/000015.blob`).
//!
//! `repair` wraps RocksDB's `RepairDB`, which keeps what it can read and moves damaged files to
//! `lost/`: it may drop a whole table (and the documents keyed in it) for one bad block. Run it
//! on a copy; compare the counts `check` gives before and after to know what was lost.

use std::path::Path;

use rocksdb::{DB, ReadOptions};

use crate::error::StoreError;
use crate::options::{ALL_CFS, CF_DOCS, StoreOptions};
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
        let opts = StoreOptions {
            create_if_missing: false,
            ..StoreOptions::default()
        };
        let db =
            DB::open_cf_descriptors_read_only(&opts.db_options(), path, opts.column_families(), false)
                .map_err(|e| {
                    let detail = e.clone().into_string();
                    let path = path.to_path_buf();
                    if e.kind() == rocksdb::ErrorKind::Corruption {
                        StoreError::CorruptDatabase { path, detail }
                    } else {
                        StoreError::Open { path, detail }
                    }
                })?;
        let mut report = CheckReport::default();
        for name in ALL_CFS {
            let Some(cf) = db.cf_handle(name) else {
                report.problems.push(format!("column family {name} missing"));
                continue;
            };
            let mut ro = ReadOptions::default();
            ro.set_verify_checksums(true);
            ro.fill_cache(false);
            let mut it = db.raw_iterator_cf_opt(cf, ro);
            it.seek_to_first();
            let mut n = 0u64;
            while let Some((k, v)) = it.item() {
                n += 1;
                if name == CF_DOCS {
                    match crate::record::decode(v) {
                        Ok(_) => report.documents += 1,
                        Err(e) => report.problems.push(format!(
                            "docs: record at key {} does not decode: {e}",
                            crate::error::hex(k)
                        )),
                    }
                }
                it.next();
            }
            if let Err(e) = it.status() {
                report
                    .problems
                    .push(format!("{name}: read stopped after {n} entries: {e}"));
            }
            report.entries.push((name, n));
        }
        Ok(report)
    }
}
