//! Group-commit throughput of `ofd-store`: many concurrent writers, every put synced.
//!
//! 256 tokio tasks (2 worker threads) each put their share of realistic 466-byte documents
//! (the real registration-change vector from `proto-spec/vectors`, with a distinct FN, FD,
//! time, fiscal sign and message MAC per document) and await the synced answer. Prints docs/s,
//! the average batch the committer wrote per fsync, and bytes on disk per document after a full
//! compaction (the store's own layout: `docs` in ZSTD blocks with a trained dictionary at the
//! bottom level since #21; all its documents are one message varied, so that figure flatters —
//! `store_cost` measures a realistic mix).
//!
//! `cargo bench -p ofd-benches --bench store` (env: DOCS, WRITERS, OFD_BENCH_DIR, SYNC=0 for
//! the no-fsync CPU ceiling).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ofd_store::{
    CommitStats, DocFlags, FnNumber, NewDocument, Outcome, PutOutcome, Rn, Store, StoreObserver,
    StoreOptions,
};

fn vector() -> Vec<u8> {
    // The real 466-byte message (FN 9999078900005488, FD 1, document 11, FFD 1.05).
    include_bytes!("../../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin")
        .to_vec()
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

struct Template {
    bytes: Vec<u8>,
    fn_ascii: Vec<usize>,
    time: usize,
    fiscal_sign: usize,
}

impl Template {
    fn new() -> Self {
        let bytes = vector();
        assert_eq!(bytes.len(), 466);
        let fn_ascii = find_all(&bytes, b"9999078900005488");
        let time = find_all(&bytes, &1_488_541_080u32.to_le_bytes())[0];
        let fiscal_sign = find_all(&bytes, &[0x21, 0x04, 0xaa, 0x10, 0x75, 0x41])[0];
        Template {
            bytes,
            fn_ascii,
            time,
            fiscal_sign,
        }
    }

    /// A distinct, realistic message: FN (ASCII and BCD), FD (container and tag 1040), time,
    /// fiscal sign and trailing MAC vary; the rest is the real document.
    fn message(&self, fn_digits: &[u8; 16], fd: u32, time: u32, rnd: u64) -> Vec<u8> {
        let mut m = self.bytes.clone();
        for &at in &self.fn_ascii {
            m[at..at + 16].copy_from_slice(fn_digits);
        }
        for i in 0..8 {
            m[39 + i] = ((fn_digits[2 * i] - b'0') << 4) | (fn_digits[2 * i + 1] - b'0');
        }
        m[47..50].copy_from_slice(&fd.to_be_bytes()[1..]);
        m[self.time..self.time + 4].copy_from_slice(&time.to_le_bytes());
        m[self.fiscal_sign..self.fiscal_sign + 6].copy_from_slice(&rnd.to_le_bytes()[..6]);
        let n = m.len();
        m[n - 10..n - 2].copy_from_slice(&rnd.rotate_left(17).to_le_bytes());
        m
    }
}

#[derive(Default)]
struct Obs {
    commits: AtomicU64,
    stored: AtomicU64,
    write_ns: AtomicU64,
    sync_ns: AtomicU64,
    commit_ns: AtomicU64,
    max_batch: AtomicU64,
}

impl StoreObserver for Obs {
    fn on_commit(&self, s: &CommitStats) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.stored.fetch_add(s.stored as u64, Ordering::Relaxed);
        self.write_ns
            .fetch_add(s.write_duration.as_nanos() as u64, Ordering::Relaxed);
        self.sync_ns
            .fetch_add(s.sync_duration.as_nanos() as u64, Ordering::Relaxed);
        self.commit_ns
            .fetch_add(s.commit_duration.as_nanos() as u64, Ordering::Relaxed);
        self.max_batch.fetch_max(s.stored as u64, Ordering::Relaxed);
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes
    }
    let docs = env_usize("DOCS", 300_000);
    let writers = env_usize("WRITERS", 256);
    let base = std::env::var("OFD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let obs = Arc::new(Obs::default());
    // SYNC=0 measures the CPU ceiling without fsync (not a durable configuration).
    let sync = std::env::var("SYNC").map_or(true, |v| v != "0");
    let opts = StoreOptions {
        sync,
        ..StoreOptions::default()
    };
    let store = Store::open_with_observer(dir.path().join("db"), opts, obs.clone()).expect("open");
    let template = Arc::new(Template::new());
    let ack_len = 120usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let per_writer = docs / writers;
    let started = Instant::now();
    let latencies = rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = store.clone();
            let template = template.clone();
            tasks.push(tokio::spawn(async move {
                let digits = format!("{:016}", 9_287_440_300_000_000u64 + w as u64);
                let fn_digits: [u8; 16] = digits.as_bytes().try_into().expect("16 digits");
                let fn_number = FnNumber::new(&fn_digits).expect("fn");
                let rn = Rn::new(format!("{:016}", 1_000_000_000 + w).as_bytes()).expect("rn");
                let mut worst = Duration::ZERO;
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ w as u64;
                for fd in 1..=per_writer as u32 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let time = 1_700_000_000 + fd * 30;
                    let mut ack = vec![0u8; ack_len];
                    ack[..8].copy_from_slice(&x.to_le_bytes());
                    let doc = NewDocument {
                        fn_number,
                        fd,
                        rn: Some(rn),
                        received_at_ms: u64::from(time) * 1000,
                        doc_type: 3,
                        ffd: 2,
                        outcome: Outcome::Accepted,
                        flags: DocFlags::default(),
                        doc_time: time,
                        shift: Some(1 + fd / 50),
                        health: None,
                        settlement: None,
                        raw: template.message(&fn_digits, fd, time, x).into(),
                        ack: ack.into(),
                    };
                    let t = Instant::now();
                    let out = store.put(doc).await.expect("put");
                    worst = worst.max(t.elapsed());
                    assert!(matches!(out, PutOutcome::Stored { .. }));
                }
                worst
            }));
        }
        let mut worst = Vec::new();
        for t in tasks {
            worst.push(t.await.expect("task"));
        }
        worst
    });
    let elapsed = started.elapsed();
    let total = (per_writer * writers) as f64;
    let commits = obs.commits.load(Ordering::Relaxed).max(1);
    let stored = obs.stored.load(Ordering::Relaxed);
    println!(
        "store bench: {writers} writers, {} {} puts of 466-byte documents (+{ack_len}-byte ack)",
        per_writer * writers,
        if sync { "synced" } else { "UNSYNCED" }
    );
    println!(
        "  throughput      {:>10.0} docs/s  ({:.2} s)",
        total / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "  batches         {commits} writes, average {:.1} docs/batch, max {}",
        stored as f64 / commits as f64,
        obs.max_batch.load(Ordering::Relaxed)
    );
    println!(
        "  per batch       {:.3} ms RocksDB write, {:.3} ms WAL fsync, {:.3} ms dequeue-to-answer (average)",
        obs.write_ns.load(Ordering::Relaxed) as f64 / commits as f64 / 1e6,
        obs.sync_ns.load(Ordering::Relaxed) as f64 / commits as f64 / 1e6,
        obs.commit_ns.load(Ordering::Relaxed) as f64 / commits as f64 / 1e6
    );
    println!(
        "  worst put latency {:.1} ms",
        latencies
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    );
    store.compact().expect("compact");
    let sst = store.disk_bytes().expect("size");
    println!(
        "  on disk after compaction: {:.1} MiB (SST + blob files), {:.0} bytes/document (raw {} + ack {} + 48 header + indexes)",
        sst as f64 / (1 << 20) as f64,
        sst as f64 / total,
        466,
        ack_len
    );
}
