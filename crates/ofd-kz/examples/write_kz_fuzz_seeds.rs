//! Writes the `kz` fuzz target's seeds (`kz_fuzz_seeds` in `fuzz/kz_harness.rs`) to
//! `fuzz/corpus/kz/seed-*`, replacing older ones of the same name:
//!
//!     cargo run --release -p ofd-kz --example write_kz_fuzz_seeds
//!
//! `crates/ofd-kz/tests/fuzz_corpus.rs` checks that the seeds reach their answers.
#![allow(dead_code)]

include!("../../../fuzz/kz_harness.rs");

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/kz");
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    let seeds = kz_fuzz_seeds();
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
    println!("{} seeds written to {}", seeds.len(), dir.display());
}
