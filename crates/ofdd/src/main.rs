//! `ofdd` binary entry point: parse the command line and dispatch. Every failure ends here as a
//! one-line message on stderr and a non-zero exit code, never a panic or a backtrace.

use std::process::ExitCode;

use clap::Parser;
use ofdd::cli::{Cli, Command};

/// mimalloc instead of glibc's malloc for the daemon's own (Rust) allocations: every frame,
/// answer and record is a short-lived buffer allocated on one thread and often freed on another,
/// which glibc's arenas handle with locks and consolidation (`_int_malloc`, `_int_free`,
/// `malloc_consolidate` were ~18 % of the Kazakh workers' samples; `benches/README.md`, #21).
/// RocksDB's C++ allocations are not affected.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => ofdd::daemon::serve_blocking(args),
        Command::Decode(args) => ofdd::decode::run(args),
        Command::CheckConfig { config } => ofdd::daemon::check_config(config.as_deref()),
        Command::Kkt(args) => ofdd::kkt_cli::run(args),
        Command::Kz(args) => ofdd::kz_cli::run(args),
        Command::Account(args) => ofdd::account_cli::run(args),
        Command::Store(cmd) => ofdd::store_cli::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ofdd: {e:#}");
            ExitCode::from(1)
        }
    }
}
