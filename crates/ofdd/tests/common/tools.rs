//! What a test needs from outside Rust (a program, root): found, or the test fails saying what
//! is missing and how to get it. `scripts/setup.sh` installs every program named here, so on a
//! machine set up by `make test` (and in CI) nothing is ever missing.
//!
//! A test that cannot run is never silently green. Only when `OFDD_TEST_ALLOW_SKIP=1` is set
//! (for a developer's machine without root or without a tool) does it skip instead of failing;
//! it then prints `SKIPPED <test>: <reason>` and appends that line to the file named by
//! `OFDD_TEST_SKIP_LOG`, which `make test` (`scripts/test.sh`) counts and prints at the end.
//!
//! Shared by `common/mod.rs` and, through `#[path]`, by test files that do not use the rest of
//! the harness.
#![allow(dead_code)]

use std::path::PathBuf;

/// The variable that lets a test skip when what it needs is missing.
pub const ALLOW_SKIP: &str = "OFDD_TEST_ALLOW_SKIP";
/// The file every skip is appended to (set by `scripts/test.sh`).
pub const SKIP_LOG: &str = "OFDD_TEST_SKIP_LOG";

/// The running test's name (libtest names each test's thread after the test).
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// The test cannot run, for `why`: fails it (panics), unless `OFDD_TEST_ALLOW_SKIP=1`, in which
/// case the skip is printed and recorded and the caller returns.
pub fn cannot_run(why: &str) {
    let test = test_name();
    if std::env::var(ALLOW_SKIP).as_deref() != Ok("1") {
        panic!(
            "{test} cannot run: {why}. Run scripts/setup.sh (as root) to install what the tests \
             need, or set {ALLOW_SKIP}=1 to skip such tests (they are then counted and listed \
             at the end of `make test`)."
        );
    }
    let line = format!("SKIPPED {test}: {why}");
    eprintln!("\n*** {line} ***\n");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot append to {SKIP_LOG}={log:?}: {e}"));
        writeln!(f, "{line}").expect("write the skip log");
    }
}

/// `tool` on `PATH`.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The path of `tool`; if it is missing the test fails (see `cannot_run`), or, when skipping is
/// allowed, `None` is returned and the caller returns.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    let found = find_tool(tool);
    if found.is_none() {
        cannot_run(&format!(
            "`{tool}` is not installed (scripts/setup.sh installs it)"
        ));
    }
    found
}

/// Whether the test runs as root; if not, it fails (see `cannot_run`) or, when skipping is
/// allowed, `false` is returned and the caller returns.
pub fn require_root(why: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        cannot_run(&format!("needs root: {why}"));
    }
    root
}
