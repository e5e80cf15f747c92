//! Replays the fuzzers' committed corpus and every past crash input through the very same harness
//! bodies the cargo-fuzz targets run (`fuzz/harness.rs`, included here), so a regular
//! `cargo test` catches a regression of anything the fuzzers once found, without nightly or
//! libFuzzer. Also checks the seed generator (`fuzz/gen_seeds.rs`); the seeds are (re)written by
//! `cargo run --release -p ofd-proto --example write_fuzz_seeds`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

include!("../../../fuzz/harness.rs");
include!("../../../fuzz/gen_seeds.rs");

/// A harness body: panics only on a broken invariant.
type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 5] = [
    ("framing", fuzz_framing),
    ("tlv", fuzz_tlv),
    ("flk", fuzz_flk),
    ("ack", fuzz_ack),
    ("pipeline", fuzz_pipeline),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every regular file under `dir/<target>/`, sorted (a missing directory is empty).
fn inputs(dir: &Path, target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir.join(target)) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let dir = fuzz_dir().join(kind);
    let mut n = 0;
    for (target, harness) in TARGETS {
        for path in inputs(&dir, target) {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| harness(&bytes));
            assert!(
                outcome.is_ok(),
                "{target} harness failed on {}",
                path.display()
            );
            n += 1;
        }
    }
    n
}

#[test]
fn committed_corpus_replays() {
    let n = replay("corpus");
    // The seeds alone are over a hundred inputs; an empty walk means a wrong path, not success.
    assert!(
        n >= 100,
        "only {n} corpus inputs found under {}",
        fuzz_dir().display()
    );
    for (target, _) in TARGETS {
        assert!(
            !inputs(&fuzz_dir().join("corpus"), target).is_empty(),
            "no corpus for {target}"
        );
    }
}

#[test]
fn past_crashes_replay() {
    // Every crash input a fuzzer found is kept under fuzz/regressions/<target>/ once fixed (none
    // yet; the directory and its README must exist so a wrong path cannot pass silently).
    let dir = fuzz_dir().join("regressions");
    assert!(dir.join("README.md").is_file(), "{} missing", dir.display());
    replay("regressions");
}

#[test]
fn generated_seeds_pass_their_harness() {
    let seeds = fuzz_seeds();
    for (target, _) in TARGETS {
        assert!(
            seeds.iter().any(|(t, _, _)| *t == target),
            "no seed for {target}"
        );
    }
    for (target, name, bytes) in &seeds {
        let harness = TARGETS
            .iter()
            .find(|(t, _)| t == target)
            .map(|(_, h)| *h)
            .expect("known target");
        harness(bytes);
        assert!(!name.is_empty());
    }
}

/// The seeds are valid messages: the builder's own output must parse and validate (a seed that
/// fails ФЛК would start every fuzzer in the shallow end).
#[test]
fn seed_messages_are_valid() {
    for (label, msg) in seed_messages() {
        let m = parse_message(&msg).unwrap_or_else(|e| panic!("{label}: {e}"));
        if label != "receipt-encrypted" {
            validate(&m, &ValidationConfig::default(), FUZZ_NOW)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
        }
    }
}
