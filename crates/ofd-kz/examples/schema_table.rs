//! Writes the wire facts of a KKM–OFD `.proto` schema as a table: every field of every message
//! (path, number, name, label, type, wire type) and every enum value, package names dropped.
//!
//! `proto-spec/kz/public-schemas.tsv` was made with it from the two public schemas (see
//! `proto-spec/kz/README.md`, "Sources"): check out each repository, then
//!
//! ```sh
//! cargo run --release -p ofd-kz --example schema_table -- 2.0.2 <checkout>/Sources/FiscalSerializationLib_v2/Docs/CommonProto_2.0.2
//! cargo run --release -p ofd-kz --example schema_table -- 2.0.3 <checkout>/proto-v203/src/main/proto
//! ```
//!
//! and append both outputs to the table. Only the facts are kept, never the schemas' text. The
//! test `schema_dialects` compares `kkm.proto` against that table.

#[path = "../tests/schema/mod.rs"]
mod schema;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [version, dir] = args.as_slice() else {
        eprintln!("usage: schema_table VERSION DIR   (DIR holds message.proto and its imports)");
        return ExitCode::from(2);
    };
    match schema::compile(&PathBuf::from(dir), &["message.proto"]) {
        Ok(s) => {
            print!("{}", schema::to_table(version, &s));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{dir}: {e}");
            ExitCode::FAILURE
        }
    }
}
