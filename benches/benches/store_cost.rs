//! Where a stored document's CPU and bytes go, step by step (issue #21).
//!
//! The corpus is a realistic mix, not one template: `REGISTERS` simulated registers of
//! `ofd-load`'s fleet (FFD 1.05/1.1/1.2, shift open and close, receipts of 1–50 items, the odd
//! correction and state report), their documents interleaved as they arrive at an operator, each
//! with the acknowledgement ofdd would store (the HMAC stand-in signer, 1–2 signatures per
//! answer). Four parts, each on fresh data directories:
//!
//! 1. **steps**: the committer's work replayed on raw RocksDB, opened with the options the store
//!    itself wrote (`OPTIONS-*` of a freshly created store) but `docs` laid out as d8d930d had it
//!    (LZ4 blob files), one step added per row, in batches of
//!    `BATCH` documents (the batch 256 persistent connections give). The committer thread's own
//!    CPU (`CLOCK_THREAD_CPUTIME_ID`: multi-get, WAL append, memtable inserts) is told apart from
//!    the rest of the process (RocksDB's flush and compaction threads, blob files); a row's
//!    difference to the row above is the cost of its step.
//! 2. **compression**: the `docs` column family alone, under each layout considered, flushed and
//!    compacted fully; bytes on disk per document and the CPU of writing, flushing and
//!    compacting them.
//! 3. **arrival** (not in the default `PARTS`): keying documents by arrival, as the store's
//!    document log does since #21 section 7, prototyped on raw RocksDB (see [`arrival_layout`])
//!    under several codecs, next to the `FN | FD` layout before it; steady figures of both.
//! 4. **store**: the real `Store` taking the corpus (`put`, `BATCH` in flight, synced): documents
//!    per second, process CPU per document, and bytes on disk per document after a full
//!    compaction, every column family included.
//!
//! Env: `DOCS` (100000), `REGISTERS` (1000), `BATCH` (256), `PARTS` (`steps,compression,store`),
//! `LAYOUT` (only the compression layouts whose name contains it), `LAYOUT_MEMTABLE` (their
//! memtable size, 8 MiB), `OFD_BENCH_DIR` (temp dir). Run the built bench executable with `--bench`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use ofd_load::fleet::Register;
use ofd_proto::ack::{AckEncoder, AckTarget, ResponseCode};
use ofd_proto::message::parse_message;
use ofd_proto::sign::HmacSigner;
use ofd_proto::validate::{ValidationConfig, validate};
use ofd_store::{DocFlags, FnNumber, NewDocument, Outcome, PutOutcome, Rn, Store, StoreOptions};
use rocksdb::{Cache, DB, Env, Options, WriteBatch, WriteOptions};

/// One document as the daemon hands it to the store.
struct Doc {
    fn_number: [u8; 16],
    fd: u32,
    rn: [u8; 16],
    doc_type: u8,
    ffd: u8,
    time: u32,
    shift: Option<u32>,
    raw: bytes::Bytes,
    ack: bytes::Bytes,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `docs` documents from `registers` registers, interleaved round robin (a register's next
/// document arrives after every other register has sent one), a few seconds apart.
fn corpus(docs: usize, registers: usize) -> Vec<Doc> {
    let mut fleet: Vec<Register> = (0..registers).map(|i| Register::new(2101, i)).collect();
    let encoder = AckEncoder::new(
        b"7704358518",
        Box::new(HmacSigner::new(b"store-cost-bench-signer-key")),
    )
    .expect("operator INN");
    let cfg = ValidationConfig::default();
    let mut out = Vec::with_capacity(docs);
    let mut buf = Vec::new();
    let start = 1_780_000_000u32;
    for i in 0..docs {
        let now = start + (i / registers) as u32 * 20;
        let reg = &mut fleet[i % registers];
        reg.build_next(now, &mut buf).expect("build");
        let msg = parse_message(&buf).expect("parse");
        let d = validate(&msg, &cfg, now).expect("valid document");
        let mut ack = Vec::new();
        encoder
            .encode(
                &AckTarget::from(&msg),
                ResponseCode::Accepted,
                now,
                &buf,
                &mut ack,
            )
            .expect("ack");
        out.push(Doc {
            fn_number: d.fn_number,
            fd: d.fd_number,
            rn: reg.id.rn,
            doc_type: d.doc_type.as_u8(),
            ffd: d.ffd.tag_value(),
            time: d.time.unwrap_or(now),
            shift: d.shift_number,
            raw: bytes::Bytes::copy_from_slice(&buf),
            ack: ack.into(),
        });
    }
    out
}

/// CPU seconds of the whole process (all threads) and of the calling thread.
fn cpu() -> (f64, f64) {
    let ts = |clock| {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(clock, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    };
    (
        ts(libc::CLOCK_PROCESS_CPUTIME_ID),
        ts(libc::CLOCK_THREAD_CPUTIME_ID),
    )
}

/// An empty store's directory, reopened as raw RocksDB with the options the store wrote.
fn raw_db(dir: &Path) -> DB {
    let store = Store::open(
        dir,
        StoreOptions {
            sync: false,
            ..StoreOptions::default()
        },
    )
    .expect("open store");
    store.close();
    drop(store);
    let (opts, cfs) = Options::load_latest(dir, Env::new().expect("env"), false, {
        Cache::new_lru_cache(256 << 20)
    })
    .expect("the store's OPTIONS file");
    DB::open_cf_descriptors(&opts, dir, cfs).expect("open raw")
}

/// The stored record's shape: a 48-byte header, the message, the acknowledgement.
fn record(d: &Doc) -> Vec<u8> {
    let mut v = Vec::with_capacity(48 + d.raw.len() + d.ack.len());
    v.extend_from_slice(&[1, d.doc_type, d.ffd, 0, 0, 0, 0, 3]);
    v.extend_from_slice(&(u64::from(d.time) * 1000).to_be_bytes());
    v.extend_from_slice(&d.time.to_be_bytes());
    v.extend_from_slice(&d.shift.unwrap_or(0).to_be_bytes());
    v.extend_from_slice(&d.rn);
    v.extend_from_slice(&(d.raw.len() as u32).to_be_bytes());
    v.extend_from_slice(&(d.ack.len() as u32).to_be_bytes());
    v.extend_from_slice(&d.raw);
    v.extend_from_slice(&d.ack);
    v
}

fn doc_key(d: &Doc) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(&d.fn_number);
    k[16..].copy_from_slice(&d.fd.to_be_bytes());
    k
}

/// What a replay writes, cumulatively: each step adds to the ones before it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// `docs` puts only, no WAL.
    DocsMemtable,
    /// + the WAL append (unsynced; the fsync is the syncer thread's and mostly waiting).
    Wal,
    /// + the duplicate check: one batched multi-get per batch.
    Lookup,
    /// + one `by_rn` index entry per document.
    ByRn,
    /// + one `outbox` entry per document.
    Outbox,
    /// + one liveness record per register per batch: today's write path.
    Liveness,
}

const STEPS: [(Step, &str); 6] = [
    (Step::DocsMemtable, "`docs` put, memtable only (no WAL)"),
    (Step::Wal, "+ WAL append"),
    (Step::Lookup, "+ duplicate check (multi-get)"),
    (Step::ByRn, "+ `by_rn` put"),
    (Step::Outbox, "+ `outbox` put"),
    (Step::Liveness, "+ liveness, once per register per batch"),
];

struct Figures {
    /// Committer thread, µs per document.
    fg_us: f64,
    /// Other threads while writing plus the final flush and compaction, µs per document.
    bg_us: f64,
    /// Bytes on disk per document after a full compaction.
    bytes: f64,
}

fn replay(docs: &[Doc], step: Step, batch: usize, base: &Path) -> Figures {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let db = raw_db(dir.path());
    let cf = |n: &str| db.cf_handle(n).expect("column family");
    let (docs_cf, by_rn, outbox, liveness) =
        (cf("docs"), cf("by_rn"), cf("outbox"), cf("liveness"));
    // The step costs are priced on the layout they were measured on before #21.
    db.set_options_cf(docs_cf, D8D930D).expect("set options");
    let mut wo = WriteOptions::default();
    wo.disable_wal(step < Step::Wal);
    let mut seq = 0u64;
    let (p0, t0) = cpu();
    for chunk in docs.chunks(batch) {
        if step >= Step::Lookup {
            let keys: Vec<[u8; 20]> = chunk.iter().map(doc_key).collect();
            let found = db.batched_multi_get_cf(docs_cf, keys.iter(), false);
            assert!(found.iter().all(|r| matches!(r, Ok(None))));
        }
        let mut b = WriteBatch::default();
        let mut live: HashMap<[u8; 16], u32> = HashMap::new();
        for d in chunk {
            let key = doc_key(d);
            b.put_cf(docs_cf, key, record(d));
            if step >= Step::ByRn {
                let mut k = Vec::with_capacity(36);
                k.extend_from_slice(&d.rn);
                k.extend_from_slice(&key);
                let mut v = [0u8; 9];
                v[..4].copy_from_slice(&d.time.to_be_bytes());
                v[4..8].copy_from_slice(&d.shift.unwrap_or(0).to_be_bytes());
                v[8] = u8::from(d.shift.is_some());
                b.put_cf(by_rn, k, v);
            }
            if step >= Step::Outbox {
                seq += 1;
                b.put_cf(outbox, seq.to_be_bytes(), key);
            }
            live.insert(d.rn, d.time);
        }
        if step >= Step::Liveness {
            for (rn, time) in live {
                let mut k = [0u8; 17];
                k[0] = b'R';
                k[1..].copy_from_slice(&rn);
                let mut v = [0u8; 37];
                v[..4].copy_from_slice(&time.to_be_bytes());
                b.put_cf(liveness, k, v);
            }
        }
        db.write_opt(b, &wo).expect("write");
    }
    let (_, t1) = cpu();
    for name in ["docs", "by_rn", "outbox", "liveness"] {
        db.flush_cf(cf(name)).expect("flush");
        db.compact_range_cf_opt(cf(name), None::<&[u8]>, None::<&[u8]>, &full());
    }
    let (p2, _) = cpu();
    let bytes = disk_bytes(&db, &["docs", "by_rn", "outbox", "liveness"]);
    let n = docs.len() as f64;
    Figures {
        fg_us: (t1 - t0) / n * 1e6,
        bg_us: ((p2 - p0) - (t1 - t0)) / n * 1e6,
        bytes: bytes as f64 / n,
    }
}

/// A full compaction that also rewrites the bottom level (else a file moved down whole keeps
/// the compression of the level it was written at).
fn full() -> rocksdb::CompactOptions {
    let mut o = rocksdb::CompactOptions::default();
    o.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
    o
}

fn disk_bytes(db: &DB, cfs: &[&str]) -> u64 {
    let mut total = 0;
    for name in cfs {
        let cf = db.cf_handle(name).expect("column family");
        for prop in [
            "rocksdb.total-sst-files-size",
            "rocksdb.total-blob-file-size",
        ] {
            total += db
                .property_int_value_cf(cf, prop)
                .expect("property")
                .unwrap_or(0);
        }
    }
    total
}

/// `docs` as d8d930d laid it out: values in blob files, LZ4 per record, LZ4 at the bottom.
/// Every layout below sets all of these, so it does not depend on what the store's own
/// options are at the time.
const D8D930D: &[(&str, &str)] = &[
    ("enable_blob_files", "true"),
    ("enable_blob_garbage_collection", "false"),
    ("blob_compression_type", "kLZ4Compression"),
    ("bottommost_compression", "kLZ4Compression"),
    ("bottommost_compression_opts", "{enabled=false}"),
];

/// In the tables, ZSTD at the bottom with `opts`.
macro_rules! in_tables {
    ($opts:expr) => {
        &[
            ("enable_blob_files", "false"),
            ("enable_blob_garbage_collection", "false"),
            ("blob_compression_type", "kLZ4Compression"),
            ("bottommost_compression", "kZSTD"),
            ("bottommost_compression_opts", $opts),
        ]
    };
}

/// The store's own `docs` layout since #21.
const TODAY: &[(&str, &str)] =
    in_tables!("{level=3;max_dict_bytes=16384;zstd_max_train_bytes=1638400;enabled=true}");

/// The `docs` layouts compared, as settings over the options the store wrote.
const LAYOUTS: [(&str, &[(&str, &str)]); 9] = [
    ("blob files, LZ4 per record (d8d930d)", D8D930D),
    (
        "blob files, ZSTD per record",
        &[
            ("enable_blob_files", "true"),
            ("enable_blob_garbage_collection", "false"),
            ("blob_compression_type", "kZSTD"),
            ("bottommost_compression", "kLZ4Compression"),
            ("bottommost_compression_opts", "{enabled=false}"),
        ],
    ),
    (
        "in SSTs, LZ4 16 KiB blocks",
        &[
            ("enable_blob_files", "false"),
            ("enable_blob_garbage_collection", "false"),
            ("blob_compression_type", "kLZ4Compression"),
            ("bottommost_compression", "kLZ4Compression"),
            ("bottommost_compression_opts", "{enabled=false}"),
        ],
    ),
    (
        "in SSTs, ZSTD at the bottom level, no dictionary",
        in_tables!("{level=3;max_dict_bytes=0;zstd_max_train_bytes=0;enabled=true}"),
    ),
    (
        "in SSTs, ZSTD at the bottom level, 16 KiB dictionary of sampled blocks",
        in_tables!("{level=3;max_dict_bytes=16384;zstd_max_train_bytes=0;enabled=true}"),
    ),
    (
        "in SSTs, ZSTD at the bottom level, 16 KiB dictionary trained on 1.6 MiB (this branch)",
        TODAY,
    ),
    (
        "the same at ZSTD level 1",
        in_tables!("{level=1;max_dict_bytes=16384;zstd_max_train_bytes=1638400;enabled=true}"),
    ),
    (
        "the same at ZSTD level -1 (fast)",
        in_tables!("{level=-1;max_dict_bytes=16384;zstd_max_train_bytes=1638400;enabled=true}"),
    ),
    (
        "the same in 4 KiB blocks (a damaged block holds a quarter of the documents)",
        &[
            ("enable_blob_files", "false"),
            ("enable_blob_garbage_collection", "false"),
            ("block_based_table_factory", "{block_size=4096}"),
            ("bottommost_compression", "kZSTD"),
            (
                "bottommost_compression_opts",
                "{level=3;max_dict_bytes=16384;zstd_max_train_bytes=1638400;enabled=true}",
            ),
        ],
    ),
];

/// Memtable size for the layout runs: small, so that the corpus goes through many flushes and
/// L0 → bottom compactions, as a long-running store's data does, instead of one flush.
/// `LAYOUT_MEMTABLE` (bytes) overrides it.
fn layout_memtable() -> String {
    std::env::var("LAYOUT_MEMTABLE").unwrap_or_else(|_| "8388608".into())
}

struct LayoutFigures {
    /// Writing, flushing and the compactions RocksDB chose by itself, µs per document.
    steady_us: f64,
    /// Bytes per document once those compactions are done.
    steady_bytes: f64,
    /// A full manual compaction afterwards, µs per document.
    full_us: f64,
    /// Bytes per document after it.
    full_bytes: f64,
}

fn layout(docs: &[Doc], changes: &[(&str, &str)], batch: usize, base: &Path) -> LayoutFigures {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let db = raw_db(dir.path());
    let cf = db.cf_handle("docs").expect("docs");
    let memtable = layout_memtable();
    let mut all = vec![("write_buffer_size", memtable.as_str())];
    all.extend_from_slice(changes);
    db.set_options_cf(cf, &all).expect("set options");
    let steady_us = write_and_settle(&db, docs, batch, |b, _, d| {
        b.put_cf(cf, doc_key(d), record(d));
    });
    let (p1, _) = cpu();
    let steady = disk_bytes(&db, &["docs"]);
    db.compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &full());
    let (p2, _) = cpu();
    let n = docs.len() as f64;
    LayoutFigures {
        steady_us,
        steady_bytes: steady as f64 / n,
        full_us: (p2 - p1) / n * 1e6,
        full_bytes: disk_bytes(&db, &["docs"]) as f64 / n,
    }
}

/// Writes the corpus in batches of `batch` (WAL off; `put` stages document `i`), then waits for
/// the flushes and compactions RocksDB chooses: the process's CPU per document for all of it.
fn write_and_settle(
    db: &DB,
    docs: &[Doc],
    batch: usize,
    put: impl Fn(&mut WriteBatch, usize, &Doc),
) -> f64 {
    let mut wo = WriteOptions::default();
    wo.disable_wal(true);
    let (p0, _) = cpu();
    for (c, chunk) in docs.chunks(batch).enumerate() {
        let mut b = WriteBatch::default();
        for (j, d) in chunk.iter().enumerate() {
            put(&mut b, c * batch + j, d);
        }
        db.write_opt(b, &wo).expect("write");
    }
    let mut wait = rocksdb::WaitForCompactOptions::default();
    wait.set_flush(true);
    db.wait_for_compact(&wait).expect("wait for compactions");
    let (p1, _) = cpu();
    (p1 - p0) / docs.len() as f64 * 1e6
}

/// The document log's layout (#21, `ofd-store`'s `doc_log.rs`) on raw RocksDB: documents keyed by
/// arrival (a sequence), so flushed files never overlap and compactions can move them down
/// without rewriting; the codec under test on every level, so each document is compressed once,
/// at flush; and a small `(FN, FD)` → sequence index in a column family of its own (LZ4, as the
/// store's other indexes).
/// Same corpus, batches and memtable size as [`layout`]; the figures are its steady ones.
fn arrival_layout(docs: &[Doc], zstd: &str, batch: usize, base: &Path) -> (f64, f64, f64) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let mut db = raw_db(dir.path());
    let mut index_opts = Options::default();
    index_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    index_opts.set_level_compaction_dynamic_level_bytes(true);
    db.create_cf("arrival_index", &index_opts)
        .expect("index column family");
    let cf = db.cf_handle("docs").expect("docs");
    let memtable = layout_memtable();
    db.set_options_cf(
        cf,
        &[
            ("write_buffer_size", memtable.as_str()),
            ("enable_blob_files", "false"),
            ("enable_blob_garbage_collection", "false"),
            ("compression", "kZSTD"),
            (
                "compression_per_level",
                "kZSTD:kZSTD:kZSTD:kZSTD:kZSTD:kZSTD:kZSTD",
            ),
            ("compression_opts", zstd),
            ("bottommost_compression", "kZSTD"),
            ("bottommost_compression_opts", zstd),
        ],
    )
    .expect("set options");
    let index = db.cf_handle("arrival_index").expect("index");
    let us = write_and_settle(&db, docs, batch, |b, i, d| {
        let seq = i as u64 + 1;
        b.put_cf(cf, seq.to_be_bytes(), record(d));
        b.put_cf(index, doc_key(d), seq.to_be_bytes());
    });
    let n = docs.len() as f64;
    (
        us,
        disk_bytes(&db, &["docs"]) as f64 / n,
        disk_bytes(&db, &["arrival_index"]) as f64 / n,
    )
}

fn store_run(docs: &[Doc], batch: usize, base: &Path) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let store = Store::open(dir.path().join("db"), StoreOptions::default()).expect("open");
    let (p0, _) = cpu();
    let started = Instant::now();
    for chunk in docs.chunks(batch) {
        let pending: Vec<_> = chunk
            .iter()
            .map(|d| {
                store.put(NewDocument {
                    fn_number: FnNumber::new(&d.fn_number).expect("fn"),
                    fd: d.fd,
                    rn: Some(Rn::new(&d.rn).expect("rn")),
                    received_at_ms: u64::from(d.time) * 1000,
                    doc_type: d.doc_type,
                    ffd: d.ffd,
                    outcome: Outcome::Accepted,
                    flags: DocFlags::default(),
                    doc_time: d.time,
                    shift: d.shift,
                    health: None,
                    settlement: None,
                    raw: d.raw.clone(),
                    ack: d.ack.clone(),
                })
            })
            .collect();
        for p in pending {
            assert!(matches!(p.wait().expect("put"), PutOutcome::Stored { .. }));
        }
    }
    let elapsed = started.elapsed();
    let (p1, _) = cpu();
    store.compact().expect("compact");
    let (p2, _) = cpu();
    let bytes = store.disk_bytes().expect("size");
    let n = docs.len() as f64;
    let msg = docs.iter().map(|d| d.raw.len()).sum::<usize>() as f64 / n;
    println!(
        "| {:.0} docs/s | {:.1} µs | {:.1} µs | {:.0} B | {:.2}× |",
        n / elapsed.as_secs_f64(),
        (p1 - p0) / n * 1e6,
        (p2 - p1) / n * 1e6,
        bytes as f64 / n,
        bytes as f64 / n / msg
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` runs bench targets without `--bench`: nothing to do
    }
    let n = env_usize("DOCS", 100_000);
    let registers = env_usize("REGISTERS", 1000);
    let batch = env_usize("BATCH", 256).max(1);
    let parts = std::env::var("PARTS").unwrap_or_else(|_| "steps,compression,store".into());
    let base = std::env::var("OFD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let docs = corpus(n, registers);
    let msg = docs.iter().map(|d| d.raw.len()).sum::<usize>() as f64 / n as f64;
    let ack = docs.iter().map(|d| d.ack.len()).sum::<usize>() as f64 / n as f64;
    println!(
        "store_cost: {n} documents from {registers} registers, batches of {batch}; \
         message {msg:.0} B, acknowledgement {ack:.0} B on average\n"
    );
    if parts.contains("steps") {
        println!(
            "| step | committer thread µs/doc | flush + compaction µs/doc | total µs/doc | bytes/doc |"
        );
        println!("|---|---|---|---|---|");
        for (step, name) in STEPS {
            let f = replay(&docs, step, batch, &base);
            println!(
                "| {name} | {:.2} | {:.2} | {:.2} | {:.0} |",
                f.fg_us,
                f.bg_us,
                f.fg_us + f.bg_us,
                f.bytes
            );
        }
        println!();
    }
    if parts.contains("compression") {
        println!(
            "| `docs` layout | write + flush + compactions µs/doc | bytes/doc | full compaction µs/doc | bytes/doc after it | × message |"
        );
        println!("|---|---|---|---|---|---|");
        let only = std::env::var("LAYOUT").unwrap_or_default();
        for (name, changes) in LAYOUTS.iter().filter(|(name, _)| name.contains(&*only)) {
            let f = layout(&docs, changes, batch, &base);
            println!(
                "| {name} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2}× |",
                f.steady_us,
                f.steady_bytes,
                f.full_us,
                f.full_bytes,
                f.full_bytes / msg
            );
        }
        println!();
    }
    if parts.contains("arrival") {
        println!(
            "| `docs` keyed by | write + flush + compactions µs/doc | docs bytes/doc | index bytes/doc |"
        );
        println!("|---|---|---|---|");
        let today = layout(&docs, TODAY, batch, &base);
        println!(
            "| `FN, FD`, ZSTD with the trained dictionary at the bottom (today) | {:.2} | {:.0} | — |",
            today.steady_us, today.steady_bytes
        );
        for (name, zstd) in [
            (
                "ZSTD with the trained dictionary",
                "{level=3;max_dict_bytes=16384;zstd_max_train_bytes=1638400;enabled=true}",
            ),
            (
                "ZSTD without a dictionary",
                "{level=3;max_dict_bytes=0;zstd_max_train_bytes=0;enabled=true}",
            ),
            (
                "ZSTD level -1 with the trained dictionary",
                "{level=-1;max_dict_bytes=16384;zstd_max_train_bytes=1638400;enabled=true}",
            ),
            (
                "ZSTD with a dictionary of sampled blocks",
                "{level=3;max_dict_bytes=16384;zstd_max_train_bytes=0;enabled=true}",
            ),
            (
                "ZSTD with a finalized (not trained) dictionary",
                "{level=3;max_dict_bytes=16384;zstd_max_train_bytes=1638400;use_zstd_dict_trainer=false;enabled=true}",
            ),
            (
                "ZSTD level 1 with a finalized dictionary",
                "{level=1;max_dict_bytes=16384;zstd_max_train_bytes=1638400;use_zstd_dict_trainer=false;enabled=true}",
            ),
        ] {
            let (us, bytes, index) = arrival_layout(&docs, zstd, batch, &base);
            println!(
                "| arrival, {name} on every level, + `(FN, FD)` index | {us:.2} | {bytes:.0} | {index:.0} |"
            );
        }
        println!();
    }
    if parts.contains("store") {
        println!(
            "| store: synced puts | CPU µs/doc while putting | compaction µs/doc | bytes/doc after compaction | × message |"
        );
        println!("|---|---|---|---|---|");
        store_run(&docs, batch, &base);
    }
}
