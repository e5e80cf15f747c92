//! `StoreOptions` and the RocksDB tuning behind them.
//!
//! The workload is many small (~1 KiB) values written once, read rarely, and point-checked for
//! existence on every put (the duplicate check). So: documents in a log keyed by arrival
//! (`doc_log`), compressed once, at flush, with ZSTD and a dictionary on every level, so that
//! compactions move its files down instead of rewriting them; whole-key bloom filters on the
//! `(FN, FD)` index (a put of a new document is a guaranteed miss, answered by the filter
//! without touching a data block); LZ4 from L2 on for the small indexes; a 64 MiB memtable so a
//! burst of small writes does not flush tiny L0 files; and dynamic level sizing. Unordered
//! writes are deliberately not used: a put's reply must imply that every earlier acknowledged
//! write is visible.

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, MemtableFactory, Options,
    SliceTransform,
};

use crate::keys::KEY_PREFIX_LEN;

/// Column family names.
pub(crate) const CF_DOCS: &str = "docs";
pub(crate) const CF_DOC_LOG: &str = "doc_log";
pub(crate) const CF_DOC_INDEX: &str = "doc_index";
pub(crate) const CF_BY_RN: &str = "by_rn";
pub(crate) const CF_CONFLICTS: &str = "conflicts";
pub(crate) const CF_REJECTED: &str = "rejected";
pub(crate) const CF_REGISTRY: &str = "registry";
pub(crate) const CF_FN_INDEX: &str = "fn_index";
pub(crate) const CF_LIVENESS: &str = "liveness";
pub(crate) const CF_OUTBOX: &str = "outbox";
pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_KZ_KKM: &str = "kz_kkm";
pub(crate) const CF_KZ_LOG: &str = "kz_log";
pub(crate) const CF_ACCOUNTS: &str = "accounts";
pub(crate) const CF_OWNERS: &str = "owners";

pub(crate) const ALL_CFS: [&str; 15] = [
    CF_DOC_LOG,
    CF_DOC_INDEX,
    CF_DOCS,
    CF_BY_RN,
    CF_CONFLICTS,
    CF_REJECTED,
    CF_REGISTRY,
    CF_FN_INDEX,
    CF_LIVENESS,
    CF_OUTBOX,
    CF_META,
    CF_KZ_KKM,
    CF_KZ_LOG,
    CF_ACCOUNTS,
    CF_OWNERS,
];

/// How to open the store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Create the database directory (not its parent) if it does not exist. Default true.
    pub create_if_missing: bool,
    /// Most commands the committer folds into one synced write. Default 1024.
    pub max_batch: usize,
    /// fsync the WAL on every commit. Default true; false only for tests and benchmarks
    /// that measure something else — a put is then NOT crash-safe.
    pub sync: bool,
    /// Shared block cache size in bytes. Default 256 MiB.
    pub block_cache_bytes: usize,
    /// Memtable size of the document log (`doc_log`). Default 64 MiB.
    pub docs_write_buffer_bytes: usize,
    /// Size of the reserve file kept in the data directory (`ofdd-reserve`), released when the
    /// disk fills so RocksDB's recovery (flush, manifest write) has room; also the free space
    /// required, on top of recreating the reserve, before a degraded store resumes. 0 = none.
    /// Capped at 1/8 of the file system (`heal::effective_reserve`, with a warning at open), so
    /// a small volume can keep one and heal. Default 0 (the daemon sets its own from its
    /// configuration).
    pub reserve_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            create_if_missing: true,
            max_batch: 1024,
            sync: true,
            block_cache_bytes: 256 << 20,
            docs_write_buffer_bytes: 64 << 20,
            reserve_bytes: 0,
        }
    }
}

impl StoreOptions {
    pub(crate) fn db_options(&self) -> Options {
        let mut o = Options::default();
        o.create_if_missing(self.create_if_missing);
        o.create_missing_column_families(true);
        o.increase_parallelism(2);
        o.set_max_background_jobs(4);
        o.set_bytes_per_sync(1 << 20);
        o.set_max_total_wal_size(512 << 20);
        o.set_keep_log_file_num(5);
        // Required by the vector memtables below; one committer thread writes anyway.
        o.set_allow_concurrent_memtable_write(false);
        // Damage is refused, not skipped: a checksum mismatch in the WAL stops the open (with
        // the file named) instead of silently dropping every record after it, which point-in-
        // time recovery would do — those records were acknowledged. A merely truncated tail
        // (a crash mid-append, never acknowledged) is still tolerated.
        o.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
        o.set_paranoid_checks(true);
        o
    }

    pub(crate) fn column_families(&self) -> Vec<ColumnFamilyDescriptor> {
        let cache = Cache::new_lru_cache(self.block_cache_bytes);
        ALL_CFS
            .iter()
            .map(|&name| {
                let mut table = BlockBasedOptions::default();
                table.set_block_cache(&cache);
                table.set_cache_index_and_filter_blocks(true);
                table.set_pin_l0_filter_and_index_blocks_in_cache(true);
                table.set_format_version(5);
                let mut o = Options::default();
                // Plain LZ4 everywhere and none on L0/L1, which are rewritten soonest: under
                // load, LZ4HC on the bottommost level alone cost ~10 % of the machine.
                o.set_compression_type(DBCompressionType::Lz4);
                o.set_compression_per_level(&[
                    DBCompressionType::None,
                    DBCompressionType::None,
                    DBCompressionType::Lz4,
                    DBCompressionType::Lz4,
                    DBCompressionType::Lz4,
                    DBCompressionType::Lz4,
                    DBCompressionType::Lz4,
                ]);
                o.set_bottommost_compression_type(DBCompressionType::Lz4);
                o.set_level_compaction_dynamic_level_bytes(true);
                match name {
                    CF_DOC_LOG => {
                        // Keyed by arrival (`doc_log.rs`): flushed files never overlap, so
                        // compactions move them down whole — as long as every level has the
                        // same compression (RocksDB rewrites a file moving to a level that
                        // compresses differently). So ZSTD on every level, each 16 KiB block
                        // (neighbouring arrivals: documents of many drives, which repeat their
                        // tags, INNs, names and addresses) with a 16 KiB dictionary of blocks
                        // sampled from the same file: each document is compressed once, at
                        // flush. Measured (`benches/README.md`, #21, section 7): about 334 bytes
                        // per 1,103-byte message; a trained dictionary saves 3 bytes more for
                        // ~0.5 µs of flush per document.
                        table.set_block_size(16 << 10);
                        let zstd = DBCompressionType::Zstd;
                        o.set_compression_type(zstd);
                        o.set_compression_per_level(&[zstd; 7]);
                        o.set_compression_options(-14, 3, 0, 16 << 10);
                        o.set_bottommost_compression_type(zstd);
                        o.set_bottommost_compression_options(-14, 3, 0, 16 << 10, true);
                        o.set_write_buffer_size(self.docs_write_buffer_bytes);
                        o.set_max_write_buffer_number(4);
                        o.set_target_file_size_base(64 << 20);
                    }
                    CF_DOC_INDEX => {
                        // The duplicate check of every put: a whole-key bloom filter answers
                        // "absent" for a new document, in the tables and in each memtable
                        // (without a skip-list search); hashed by FN like `by_rn` by RN.
                        table.set_bloom_filter(10.0, false);
                        table.set_whole_key_filtering(true);
                        o.set_memtable_prefix_bloom_ratio(0.02);
                        o.set_memtable_whole_key_filtering(true);
                        hashed_by_prefix(&mut o, 1 << 17);
                        o.set_write_buffer_size(32 << 20);
                    }
                    CF_DOCS => {
                        // Documents of stores written before the document log (`doc_log.rs`):
                        // read (the index's fallback), never written again except by `salvage`
                        // copying such a store. Their options stay what wrote them: `FN | FD`
                        // keys, bloom filters for the duplicate check's fallback, ZSTD with a
                        // dictionary trained per file at the bottom level.
                        table.set_bloom_filter(10.0, false);
                        table.set_whole_key_filtering(true);
                        table.set_block_size(16 << 10);
                        hashed_by_prefix(&mut o, 1 << 10);
                        o.set_write_buffer_size(16 << 20);
                        o.set_target_file_size_base(64 << 20);
                        o.set_bottommost_compression_type(DBCompressionType::Zstd);
                        o.set_bottommost_compression_options(-14, 3, 0, 16 << 10, true);
                        o.set_bottommost_zstd_max_train_bytes(100 * (16 << 10), true);
                        // Stores written by d8d930d and before kept documents in blob files.
                        // They stay readable there; blob garbage collection with blob files off
                        // moves each one into the tables when a compaction reaches it.
                        o.set_enable_blob_files(false);
                        o.set_enable_blob_gc(true);
                        o.set_blob_gc_age_cutoff(1.0);
                    }
                    CF_LIVENESS => {
                        // Write-only in steady state: every batch rewrites the liveness record
                        // of each register it touches, at keys scattered across the key space,
                        // and the CF is read only at open (the index lives in memory). A
                        // skip-list memtable pays a full search from the top for each such
                        // insert; a vector memtable appends and sorts once, at flush.
                        o.set_memtable_factory(MemtableFactory::Vector);
                        o.set_write_buffer_size(16 << 20);
                    }
                    CF_BY_RN => {
                        // Also one insert per document, read by per-register queries (one RN
                        // prefix each), so hashed by RN like `docs` by FN; small, so it stays
                        // mostly in cache.
                        hashed_by_prefix(&mut o, 1 << 16);
                        o.set_write_buffer_size(4 << 20);
                    }
                    CF_FN_INDEX | CF_REGISTRY | CF_CONFLICTS | CF_KZ_KKM => {
                        table.set_bloom_filter(10.0, false);
                        o.set_write_buffer_size(16 << 20);
                    }
                    _ => {
                        o.set_write_buffer_size(32 << 20);
                    }
                }
                o.set_block_based_table_factory(&table);
                ColumnFamilyDescriptor::new(name, o)
            })
            .collect()
    }
}

/// Options the `rocksdb` crate cannot set before the database opens, set on the open database.
///
/// `doc_log`'s dictionary buffer: to sample a dictionary RocksDB buffers a file's data blocks
/// before it compresses any, by default the whole file — a flushed 64 MiB memtable held
/// uncompressed a second time (measured: 80 MiB more peak RSS in a 10 s one-shot run, #21 §7).
/// 8 MiB bounds that and still leaves the 16 KiB dictionary 500 blocks to sample. A struct
/// option given as `{field=value}` changes only that field (RocksDB parses it into the current
/// options), which `tests/store.rs` checks in the OPTIONS file RocksDB writes.
pub(crate) fn set_after_open(db: &rocksdb::DB) -> Result<(), rocksdb::Error> {
    let Some(cf) = db.cf_handle(CF_DOC_LOG) else {
        return Ok(());
    };
    let bound = "{max_dict_buffer_bytes=8388608}";
    db.set_options_cf(
        cf,
        &[
            ("compression_opts", bound),
            ("bottommost_compression_opts", bound),
        ],
    )
}

/// A memtable hashed by the key's first [`KEY_PREFIX_LEN`] bytes (a `docs` key's FN, a `by_rn`
/// key's RN), each bucket a short skip list of its own.
///
/// Why: a batch holds one or two documents of each of hundreds of drives, so in one sorted skip
/// list of the whole memtable every insert lands thousands of entries from the one before and
/// searches from the top, a cache miss per level (`InlineSkipList::RecomputeSpliceLevels` was the
/// largest symbol of the committer's profile). Within one drive's bucket the documents arrive in
/// key order (FD numbers grow), so an insert appends to a list of tens of entries. Measured under
/// the wired load (`benches/README.md`, #21, section 6): the committer's CPU per document fell by
/// 3.5–4 µs (about 40 %), flush's rose by ≈ 0.9 µs (a hashed memtable is sorted when flushed).
///
/// The price is order across prefixes. A point read (`get`, the duplicate check's `multi_get`)
/// hashes straight to its bucket; an iterator must either stay within one prefix (every query:
/// documents of one FN, entries of one RN — `query::bounded`) or ask for total order
/// (`set_total_order_seek`, which sorts a copy of the memtable: `ofdd store check`, `repair`).
/// A default iterator that crosses prefixes would silently miss the memtable's other buckets.
/// Bucket counts: at most one bucket per entry is ever used (a 64 MiB `docs` memtable holds
/// ~60k documents), and the bucket array (8 bytes each) is allocated from the memtable's budget.
fn hashed_by_prefix(o: &mut Options, bucket_count: usize) {
    o.set_prefix_extractor(SliceTransform::create_fixed_prefix(KEY_PREFIX_LEN));
    o.set_memtable_factory(MemtableFactory::HashSkipList {
        bucket_count,
        // Buckets hold one drive's (or register's) entries of one memtable: tens, rarely
        // thousands (a backlog); a height of 6 with branching 4 keeps those few levels deep.
        height: 6,
        branching_factor: 4,
    });
}
