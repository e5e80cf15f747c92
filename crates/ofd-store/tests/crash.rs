//! Crash test: a child process writes concurrently and is killed with SIGKILL at a random
//! moment; the parent reopens the store and proves that every document whose put returned Ok
//! is present and byte-identical, and that no partial write is visible (every record parses,
//! every indexed document has its `by_rn` and `outbox` entries, liveness matches the documents).
//!
//! The child is this same test binary, re-executed to run the ignored `crash_child_writer`
//! test with `OFD_CRASH_DIR` set. It prints `OK <fn> <fd>` only after a put returned Ok. Its
//! own checks count: the first failure in any of its tasks prints `CHILD FAILED: …` and ends it
//! at once with a non-zero status, and the parent fails the test unless the child died of the
//! parent's SIGKILL with no failure printed (its stderr is shown with the failure).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{doc, fn_n, health, raw_for, rn_n};
use ofd_store::*;

const TASKS: u64 = 24;
const ITERATIONS: u64 = 20;
const T0: u32 = 1_700_000_000;

fn fn_of(iter: u64, task: u64) -> FnNumber {
    fn_n(iter * 1000 + task)
}

/// Even tasks send the RN with every document; odd ones leave it unknown.
fn rn_of(task: u64) -> Option<Rn> {
    task.is_multiple_of(2).then(|| rn_n(task))
}

fn doc_for(iter: u64, task: u64, fd: u32) -> NewDocument {
    let f = fn_of(iter, task);
    let mut d = doc(
        f,
        fd,
        rn_of(task),
        T0 + u32::try_from(iter).unwrap() * 3_000 + fd,
        0,
    );
    if fd.is_multiple_of(7) {
        d.health = Some(health(fd % 3, fd.is_multiple_of(2)));
    }
    d
}

#[test]
#[ignore = "run by crash_kill_reopen_verify as a child process"]
fn crash_child_writer() {
    let dir = std::env::var("OFD_CRASH_DIR")
        .expect("crash_child_writer is run by crash_kill_reopen_verify (OFD_CRASH_DIR unset)");
    let iter: u64 = std::env::var("OFD_CRASH_ITER").unwrap().parse().unwrap();
    // A failed check anywhere (a task, the store's own threads) ends the child at once, visibly:
    // a panicking tokio task would otherwise only end that task while the others write on.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        println!("CHILD FAILED: {}", info.to_string().replace('\n', " "));
        default_hook(info);
        std::process::exit(101);
    }));
    let store = Store::open(&dir, StoreOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for fd in 1..=100_000u32 {
                    let out = store.put(doc_for(iter, task, fd)).await.unwrap();
                    assert!(matches!(out, PutOutcome::Stored { .. }), "{out:?}");
                    println!("OK {} {fd}", fn_of(iter, task));
                    // Now and then resend the previous document: must be a duplicate.
                    if fd % 5 == 0 {
                        let dup = store.put(doc_for(iter, task, fd - 1)).await.unwrap();
                        assert!(matches!(dup, PutOutcome::Duplicate { .. }), "{dup:?}");
                    }
                }
            }));
        }
        // Writers run until killed; one that ends has failed (the panic hook has already
        // ended the process for a panic).
        for t in tasks {
            t.await.unwrap();
        }
        panic!("a writer task ended before the kill");
    });
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn crash_kill_reopen_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let exe = std::env::current_exe().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut rng = Rng(u64::try_from(seed % u128::from(u64::MAX)).unwrap() | 1);
    let started = Instant::now();
    let mut acked: BTreeSet<(FnNumber, u32)> = BTreeSet::new();
    for iter in 0..ITERATIONS {
        let mut child = Command::new(&exe)
            .args([
                "crash_child_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("OFD_CRASH_DIR", &db)
            .env("OFD_CRASH_ITER", iter.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stdout);
                let mut buf = Vec::new();
                // Only complete lines count: the kill may cut the last one.
                while r.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
                    if buf.ends_with(b"\n") {
                        lines
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf).trim_end().to_owned());
                    }
                    buf.clear();
                }
            })
        };
        // Wait until the child is writing (or has failed), then kill it at a random moment.
        let deadline = Instant::now() + Duration::from_secs(60);
        while lines.lock().unwrap().iter().all(|l| !l.starts_with("OK "))
            && Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.next() % 150));
        child.kill().unwrap(); // SIGKILL (Ok as well if the child has already exited)
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let child_stderr = stderr_reader.join().unwrap();
        let failures: Vec<String> = lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("CHILD FAILED"))
            .cloned()
            .collect();
        {
            use std::os::unix::process::ExitStatusExt;
            assert!(
                status.signal() == Some(libc::SIGKILL) && failures.is_empty(),
                "iteration {iter}: the child writer failed ({status}): {failures:?}\n\
                 its stderr:\n{child_stderr}"
            );
        }
        let before = acked.len();
        for l in lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("OK "))
        {
            let (f, fd) = l.split_once(' ').unwrap();
            acked.insert((f.parse().unwrap(), fd.parse().unwrap()));
        }
        assert!(
            acked.len() > before,
            "iteration {iter}: the child acknowledged nothing"
        );
        verify(&db, iter, &acked);
    }
    eprintln!(
        "crash test: {ITERATIONS} kills, {} acknowledged documents verified in {:?}",
        acked.len(),
        started.elapsed()
    );
}

fn verify(db: &std::path::Path, last_iter: u64, acked: &BTreeSet<(FnNumber, u32)>) {
    let store = Store::open(db, StoreOptions::default()).unwrap();
    // 1. Every acknowledged document is there, byte for byte.
    for (f, fd) in acked {
        let d = store
            .get(f, *fd)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged {f}/{fd} lost"));
        assert_eq!(d.raw, raw_for(f, *fd, 0), "{f}/{fd} raw differs");
        assert_eq!(d.ack, format!("ack-{}-{fd}", f.as_str()).into_bytes());
    }
    // 2. Everything stored is whole and indexed.
    let outbox = store.outbox_read(0, usize::MAX).unwrap();
    assert!(outbox.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(outbox.last().map_or(0, |e| e.seq), store.outbox_head());
    let outbox_keys: HashMap<DocKey, u64> = outbox
        .iter()
        .map(|e| (e.doc().expect("only documents here"), e.seq))
        .collect();
    assert_eq!(
        outbox_keys.len(),
        outbox.len(),
        "a document has two outbox entries"
    );
    let mut all_docs = 0usize;
    // Expected liveness per key: (max received secs, max doc_time, docs per day).
    let mut expect: HashMap<String, (u32, u32, BTreeMap<u32, u32>)> = HashMap::new();
    for iter in 0..=last_iter {
        for task in 0..TASKS {
            let f = fn_of(iter, task);
            for d in store.docs_of_fn(&f, 0..=u32::MAX).unwrap() {
                let d = d.expect("every stored record parses");
                all_docs += 1;
                let want = doc_for(iter, task, d.key.fd);
                assert_eq!(d.raw, want.raw);
                assert_eq!(d.header.rn, rn_of(task));
                assert!(
                    outbox_keys.contains_key(&d.key),
                    "{f}/{} has no outbox entry",
                    d.key.fd
                );
                if let Some(rn) = rn_of(task) {
                    let q = RegisterQuery {
                        fn_number: Some(f),
                        fd: Some(d.key.fd..=d.key.fd),
                        ..Default::default()
                    };
                    assert_eq!(
                        store.docs_of_register(&rn, q).unwrap().count(),
                        1,
                        "{f}/{} not in by_rn",
                        d.key.fd
                    );
                }
                let key = rn_of(task).map_or(format!("F{f}"), |r| format!("R{r}"));
                let e = expect.entry(key).or_default();
                e.0 = e.0.max(u32::try_from(want.received_at_ms / 1000).unwrap());
                e.1 = e.1.max(want.doc_time);
                *e.2.entry(want.doc_time / 86_400).or_default() += 1;
            }
        }
    }
    assert_eq!(all_docs, outbox.len(), "outbox entries without documents");
    // 3. Liveness agrees with the documents.
    for (key, (received, doc_time, days)) in &expect {
        let rec = if let Some(rn) = key.strip_prefix('R') {
            store.liveness_of(&rn.parse().unwrap())
        } else {
            store.liveness_of_unbound_fn(&key[1..].parse().unwrap())
        }
        .unwrap_or_else(|| panic!("no liveness for {key}"));
        assert_eq!(rec.last_received_at, *received, "{key}");
        assert_eq!(rec.last_doc_time, *doc_time, "{key}");
        let (day, n) = days.iter().next_back().unwrap();
        assert_eq!((rec.day, rec.docs_today), (*day, *n), "{key}");
    }
    assert_eq!(store.liveness_len(), expect.len());
}
