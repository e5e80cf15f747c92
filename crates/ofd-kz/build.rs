//! Compiles `proto-spec/kz/kkm.proto` into Rust types at build time.
//!
//! protox parses the schema in pure Rust and hands prost-build a file descriptor set, so no
//! `protoc` binary is needed on any machine (developers, CI, the Docker build).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto-spec/kz");
    let schema = dir.join("kkm.proto");
    println!("cargo:rerun-if-changed={}", schema.display());
    let fds = protox::compile([&schema], [&dir])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
