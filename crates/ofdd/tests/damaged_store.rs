//! A damaged data directory (issue 13): one byte flipped in a table file (SST), in a blob file
//! (left by a store written before issue 21, which kept documents in BlobDB blob files) and in
//! the WAL tail of a stopped daemon's directory. Each has its documented outcome
//! (deploy/README.md, "When the disk fails"): the daemon refuses to answer from damaged data,
//! `ofdd store check` names the damaged file, and `ofdd store repair` says what was lost.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Fills a store through the real binary: `n` documents from 4 registers, all acknowledged.
/// `graceful`: SIGTERM (memtables flushed into SST and blob files); else SIGKILL (the documents
/// live in the WAL only).
async fn filled_store(dir: &Path, n: usize, graceful: bool) -> PathBuf {
    let data = dir.join("data");
    let mut proc = spawn_ofdd(&data).await;
    let mut kkts: Vec<Kkt> = (0..4).map(|i| Kkt::new(50_000 + i)).collect();
    for i in 0..n {
        let k = &mut kkts[i % 4];
        let mut link = Link::connect(proc.ingest).await;
        let doc = k.receipt();
        assert_eq!(
            ack_of(&link.exchange(&doc).await).2,
            ofd_proto::ack::ResponseCode::Accepted
        );
    }
    if graceful {
        // SAFETY: kill with a valid pid and signal number.
        unsafe { libc::kill(proc.child.id() as i32, libc::SIGTERM) };
        assert!(proc.child.wait().unwrap().success());
    } else {
        proc.child.kill().unwrap();
        proc.child.wait().unwrap();
    }
    data
}

/// The largest file in `data` whose name ends with `ext`.
fn largest(data: &Path, ext: &str) -> PathBuf {
    std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap_or_else(|| panic!("no {ext} file in {data:?}"))
}

fn flip(file: &Path, offset: u64) {
    let mut bytes = std::fs::read(file).unwrap();
    let i = usize::try_from(offset).unwrap().min(bytes.len() - 1);
    bytes[i] ^= 0x55;
    std::fs::write(file, bytes).unwrap();
    eprintln!("flipped byte {i} of {}", file.display());
}

/// `ofdd store <sub> --data DIR` (repair: `--out DIR.repaired`): (exit success, output).
fn store_cmd(sub: &str, data: &Path) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ofdd"));
    cmd.args(["store", sub, "--data"]).arg(data);
    if sub == "repair" {
        cmd.arg("--out").arg(data.with_extension("repaired"));
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("$ ofdd store {sub}\n{text}");
    (out.status.success(), text)
}

/// `ofdd serve` on `data` when it is expected to refuse to start: (exited, its stderr).
fn serve_refuses(data: &Path) -> (bool, String) {
    let (p1, p2) = free_ports();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ofdd"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{p1}"),
            "--admin-listen",
            &format!("127.0.0.1:{p2}"),
            "--portal-listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "error")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (!status.success(), err);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (false, "still running after 30 s".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_in_the_wal_tail_stops_the_open_and_repair_reports_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let data = filled_store(dir.path(), 200, false).await;
    let wal = largest(&data, ".log");
    let len = std::fs::metadata(&wal).unwrap().len();
    flip(&wal, len - 40);

    let (refused, err) = serve_refuses(&data);
    eprintln!("ofdd serve: {err}");
    assert!(
        refused,
        "the daemon must refuse to serve from a damaged WAL"
    );
    assert!(
        err.contains("is corrupt") && err.contains("checksum mismatch"),
        "the error says the store is corrupt: {err}"
    );

    let (ok, out) = store_cmd("check", &data);
    assert!(
        !ok && out.contains("checksum mismatch"),
        "check finds it: {out}"
    );

    // Salvage: the WAL is replayed up to the damaged record; what follows it is dropped and
    // said so. The flip is in the last record: at most that batch is missing.
    let (ok, out) = store_cmd("repair", &data);
    assert!(ok, "repair succeeds: {out}");
    assert!(out.contains("the WAL was damaged"), "{out}");
    let copied = documents_copied(&out);
    assert!(
        (190..200).contains(&copied),
        "{copied} of 200 documents salvaged"
    );
    let (ok, out) = store_cmd("check", &data.with_extension("repaired"));
    assert!(ok, "the repaired store checks clean: {out}");
}

/// "documents copied: N" from `ofdd store repair`.
fn documents_copied(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("documents copied: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no document count in {out}"))
}

/// A store written by ofdd d8d930d, before documents moved from blob files into the tables
/// (issue 21): `ofd-store`'s upgrade fixture, unpacked into `dir`. It holds 200 documents: FD
/// 1–10 of the 16 FNs `99600000210000NN` in its blob file, 40 more in its WAL.
fn store_with_a_blob_file(dir: &Path) -> PathBuf {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ofd-store/tests/fixtures/store-d8d930d.tar.gz"
    );
    let out = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(fixture)
        .arg("-C")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {out:?}");
    dir.join("db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_in_a_blob_file_is_refused_on_read_and_found_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let data = store_with_a_blob_file(dir.path());
    let blob = largest(&data, ".blob");
    let len = std::fs::metadata(&blob).unwrap().len();
    flip(&blob, len / 2);

    let (ok, out) = store_cmd("check", &data);
    assert!(!ok, "check finds the damage: {out}");
    assert!(out.contains(".blob"), "check names the blob file: {out}");

    let mut proc = spawn_ofdd(&data).await;
    // Every document is read back; the damaged one is an error, never wrong bytes, and the
    // store stops taking writes until an operator has looked.
    let mut errors = 0;
    for i in 0..16u64 {
        for fd in 1..=10u32 {
            let got = proc
                .admin
                .get(&format!("/api/v1/documents/99600000210000{i:02}/{fd}/raw"))
                .await;
            if got.status != 200 {
                errors += 1;
            }
        }
    }
    let ready = proc.admin.get("/readyz").await;
    eprintln!(
        "{errors} documents unreadable; /readyz {} {}",
        ready.status,
        ready.text()
    );
    assert!(errors > 0, "the damaged document is not served");
    assert_eq!(ready.status, 503);
    assert!(ready.text().contains("corruption"));
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();

    // Salvage: every other document is copied, the damaged one is reported lost by key.
    let (ok, out) = store_cmd("repair", &data);
    assert!(ok, "repair succeeds: {out}");
    assert!(out.contains("LOST: 1 document(s)"), "{out}");
    assert_eq!(documents_copied(&out), 199);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_in_an_sst_is_found_by_check_and_repair_reports_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let data = filled_store(dir.path(), 200, true).await;
    let sst = largest(&data, ".sst");
    let len = std::fs::metadata(&sst).unwrap().len();
    flip(&sst, len / 3);

    let (ok, out) = store_cmd("check", &data);
    assert!(!ok, "check finds the damage: {out}");
    assert!(out.contains(".sst"), "check names the table file: {out}");

    // Salvage: documents live in the tables' blocks (issue 21), so the damaged block's
    // documents are lost — each reported by key, since the indexes still name them — and every
    // other document is copied.
    let (ok, out) = store_cmd("repair", &data);
    assert!(ok, "repair succeeds: {out}");
    assert!(out.contains("PROBLEM") && out.contains(".sst"), "{out}");
    let lost = documents_lost(&out);
    assert!(
        lost >= 1,
        "the damaged block's documents are reported: {out}"
    );
    assert_eq!(documents_copied(&out) + lost, 200);
    let (ok, out) = store_cmd("check", &data.with_extension("repaired"));
    assert!(ok, "the repaired store checks clean: {out}");
}

/// N from "LOST: N document(s)" of `ofdd store repair`.
fn documents_lost(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("LOST: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no lost-document count in {out}"))
}
