//! `ofdd store check` and `ofdd store repair`: the operator's tools for a damaged data
//! directory (see deploy/README.md, "When the disk fails"). Both work on a stopped daemon's
//! directory — RocksDB's lock keeps them off a live one — and say plainly what they found and
//! what, if anything, was lost.

use std::path::Path;

use anyhow::bail;
use ofd_store::{CheckReport, Store};

use crate::cli::StoreCommand;

pub fn run(cmd: StoreCommand) -> anyhow::Result<()> {
    match cmd {
        StoreCommand::Check { data } => check(&data),
        StoreCommand::Repair { data, out } => repair(&data, &out),
    }
}

fn print_report(r: &CheckReport) {
    for (cf, n) in &r.entries {
        println!("  {cf:<10} {n} entries");
    }
    println!("documents readable: {}", r.documents);
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
}

fn check(data: &Path) -> anyhow::Result<()> {
    println!("checking {}", data.display());
    match Store::check(data) {
        Ok(r) => {
            print_report(&r);
            if r.is_clean() {
                println!("OK: every record read back with valid checksums");
                Ok(())
            } else {
                bail!(
                    "{} problem(s) found in {}; see deploy/README.md (\"When the disk fails\") before repairing",
                    r.problems.len(),
                    data.display()
                )
            }
        }
        Err(e) => bail!("the store does not open: {e}"),
    }
}

fn repair(data: &Path, out: &Path) -> anyhow::Result<()> {
    println!("salvaging {} into {}", data.display(), out.display());
    let r = Store::salvage(data, out)?;
    for (cf, n) in &r.copied {
        println!("  {cf:<10} {n} entries copied");
    }
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
    println!("documents copied: {}", r.documents);
    if r.lost_documents.is_empty() {
        println!("no document named by the indexes was lost");
    } else {
        println!(
            "LOST: {} document(s) named by the indexes could not be read:",
            r.lost_documents.len()
        );
        for k in &r.lost_documents {
            println!("  lost FN|FD {k}");
        }
    }
    if r.wal_truncated {
        println!(
            "LOST: the WAL was damaged; documents written after the damage were dropped and cannot be counted here — compare with the JetStream stream or a backup"
        );
    }
    println!("checking the result:");
    let after = Store::check(out)?;
    print_report(&after);
    if !after.is_clean() {
        bail!("the salvaged store still has problems");
    }
    println!(
        "OK: {} is clean; stop ofdd, move it in place of {} (keep the damaged copy), start ofdd",
        out.display(),
        data.display()
    );
    Ok(())
}
