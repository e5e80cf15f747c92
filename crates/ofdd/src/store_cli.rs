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
        StoreCommand::Repair { data } => repair(&data),
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

fn repair(data: &Path) -> anyhow::Result<()> {
    println!("before repair:");
    let before = match Store::check(data) {
        Ok(r) => {
            print_report(&r);
            Some(r.documents)
        }
        Err(e) => {
            println!("  the store does not open ({e}); documents before: unknown");
            None
        }
    };
    Store::repair(data)?;
    println!("repaired; after repair:");
    let after = Store::check(data)?;
    print_report(&after);
    let lost_dir = data.join("lost");
    if let Ok(entries) = std::fs::read_dir(&lost_dir) {
        for e in entries.flatten() {
            println!("moved aside by repair: {}", e.path().display());
        }
    }
    match before {
        Some(b) if b > after.documents => println!(
            "LOST: {} document(s) readable before are gone ({} → {})",
            b - after.documents,
            b,
            after.documents
        ),
        Some(b) => println!(
            "no readable document lost ({} before, {} after; the count before covers only what read back before the first error)",
            b, after.documents
        ),
        None => println!(
            "{} documents present after repair (unknown before: compare with your backup)",
            after.documents
        ),
    }
    if !after.is_clean() {
        bail!("the repaired store still has problems");
    }
    Ok(())
}
