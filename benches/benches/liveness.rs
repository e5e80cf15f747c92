//! Cost of the liveness and health counters over a million registers.
//!
//! Stores one document for each of N registers (distinct RN and FN, last-document ages spread
//! over five days, every tenth with FN health alarms), then times `liveness_counts` and
//! `health_counts` (memory scans), reports the in-memory index size per register, and the time
//! a reopen takes to reload the index from the `liveness` column family.
//!
//! `cargo bench -p ofd-benches --bench liveness` (env: REGISTERS, OFD_BENCH_DIR). Population
//! uses `sync = false` (this bench is about counting, not durability).

use std::time::{Duration, Instant};

use ofd_store::{DocFlags, FnHealth, FnNumber, NewDocument, Outcome, Rn, Store, StoreOptions};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(std::hint::black_box(f()));
        times.push(t.elapsed());
    }
    times.sort();
    (times[0], times[runs / 2], last.expect("runs > 0"))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let registers = env_usize("REGISTERS", 1_000_000);
    let base = std::env::var("OFD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let path = dir.path().join("db");
    let opts = StoreOptions {
        sync: false,
        ..StoreOptions::default()
    };
    let now: u64 = 1_700_000_000 + 5 * 86_400;
    {
        let store = Store::open(&path, opts.clone()).expect("open");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        let started = Instant::now();
        let writers = 256usize;
        rt.block_on(async {
            let mut tasks = Vec::new();
            for w in 0..writers {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut i = w;
                    while i < registers {
                        let age = (i as u64 * 7919) % (5 * 86_400);
                        let t = u32::try_from(now - age).expect("time");
                        let alarm = i % 10 == 0;
                        let doc = NewDocument {
                            fn_number: FnNumber::new(
                                format!("{:016}", 9_000_000_000_000_000u64 + i as u64).as_bytes(),
                            )
                            .expect("fn"),
                            fd: 1,
                            rn: Some(Rn::new(format!("{:016}", i).as_bytes()).expect("rn")),
                            received_at_ms: u64::from(t) * 1000,
                            doc_type: 21,
                            ffd: 2,
                            outcome: Outcome::Accepted,
                            flags: DocFlags::default(),
                            doc_time: t,
                            shift: Some(1),
                            health: Some(FnHealth {
                                untransmitted: u32::from(alarm),
                                key_expiry_soon: Some(alarm),
                                memory_nearly_full: Some(i % 100 == 0),
                                ..FnHealth::default()
                            }),
                            settlement: None,
                            raw: vec![0u8; 64].into(),
                            ack: Default::default(),
                        };
                        store.put(doc).await.expect("put");
                        i += writers;
                    }
                }));
            }
            for t in tasks {
                t.await.expect("task");
            }
        });
        println!(
            "liveness bench: populated {registers} registers in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let (min, median, counts) = timed(21, || store.liveness_counts(now, 86_400, 259_200));
        println!(
            "  liveness_counts  min {:.2} ms, median {:.2} ms  -> {counts:?}",
            min.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3
        );
        let (min, median, health) = timed(21, || store.health_counts());
        println!(
            "  health_counts    min {:.2} ms, median {:.2} ms  -> {health:?}",
            min.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3
        );
        let bytes = store.liveness_memory_bytes();
        println!(
            "  in-memory index  {:.1} MiB, {:.0} bytes/register",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / store.liveness_len().max(1) as f64
        );
        store.close();
    }
    let t = Instant::now();
    let store = Store::open(&path, opts).expect("reopen");
    println!(
        "  reopen (reloads {} liveness records) {:.2} s",
        store.liveness_len(),
        t.elapsed().as_secs_f64()
    );
}
