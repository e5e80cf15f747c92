//! Writes the seeds of the five ofd-proto fuzz targets (`fuzz_seeds` in `fuzz/gen_seeds.rs`) to
//! `fuzz/corpus/<target>/seed-*`, replacing older ones of the same name:
//!
//!     cargo run --release -p ofd-proto --example write_fuzz_seeds
//!
//! `crates/ofd-proto/tests/fuzz_corpus.rs` checks that every seed passes its harness.
#![allow(dead_code)]

include!("../../../fuzz/harness.rs");
include!("../../../fuzz/gen_seeds.rs");

fn main() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let seeds = fuzz_seeds();
    for (target, name, bytes) in &seeds {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
    println!("{} seeds written under {}", seeds.len(), corpus.display());
}
