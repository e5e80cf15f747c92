//! A data directory written by the release before issue #21 opens with this code and reads the
//! same, and new writes continue it.
//!
//! `fixtures/store-d8d930d.tar.gz` is a real directory written by `ofdd serve` built from commit
//! d8d930d (one `outbox` entry per item, documents in LZ4 blob files): 160 documents of 16
//! registers (`ofd-load --profile wired --registers 16 --connections 16 --documents 160 --seed
//! 21`), a graceful stop (so those are in SST and blob files), a restart, then 30 Kazakh
//! exchanges of 3 KKMs registered through the admin API (`--protocol kz --register-via …
//! --registers 3 --documents 30 --seed 22`), 8 resends with other bytes (conflicts), 40 more
//! documents (`--registers 4 --documents 40 --seed 23`), and `kill -9` (so those are only in
//! the WAL). `LOG*`, `LOCK` and the reserve file were left out of the archive.
//!
//! The truth the new code is held to is read from the same directory with plain RocksDB, in the
//! old layout, before the store opens it.

use std::collections::BTreeMap;
use std::path::Path;

use ofd_store::{DocKey, FnNumber, OutboxItem, PutOutcome, Rn, Store, StoreOptions};

mod common;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/store-d8d930d.tar.gz"
);

/// The fixture unpacked into `dir`; returns the data directory.
fn unpack(dir: &Path) -> std::path::PathBuf {
    let out = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(FIXTURE)
        .arg("-C")
        .arg(dir)
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("db")
}

/// `FN(16) | FD(u32 BE)`, as every version has written it.
fn key_of(b: &[u8]) -> DocKey {
    assert_eq!(b.len(), 20, "document key");
    DocKey::new(
        FnNumber::new(&b[..16]).expect("FN"),
        u32::from_be_bytes(b[16..].try_into().unwrap()),
    )
}

/// What the old layout holds, read with plain RocksDB.
struct OldLayout {
    /// Outbox: seq → the one item of its entry.
    outbox: BTreeMap<u64, OutboxItem>,
    /// Every `docs` key.
    docs: Vec<DocKey>,
    /// `by_rn`: RN → its documents' keys in index order.
    by_rn: BTreeMap<[u8; 16], Vec<DocKey>>,
}

fn read_old(path: &Path) -> OldLayout {
    let opts = rocksdb::Options::default();
    let names = rocksdb::DB::list_cf(&opts, path).expect("list column families");
    let db = rocksdb::DB::open_cf_for_read_only(&opts, path, &names, false).expect("open");
    let scan = |cf: &str| -> Vec<(Vec<u8>, Vec<u8>)> {
        db.iterator_cf(
            db.cf_handle(cf).expect("column family"),
            rocksdb::IteratorMode::Start,
        )
        .map(|r| {
            let (k, v) = r.expect("read");
            (k.to_vec(), v.to_vec())
        })
        .collect()
    };
    let mut outbox = BTreeMap::new();
    for (k, v) in scan("outbox") {
        let seq = u64::from_be_bytes(k.as_slice().try_into().expect("8-byte key"));
        let item = match v.len() {
            20 => OutboxItem::Doc(key_of(&v)),
            13 => OutboxItem::Kz {
                system_id: u32::from_be_bytes(v[1..5].try_into().unwrap()),
                log_seq: u64::from_be_bytes(v[5..13].try_into().unwrap()),
            },
            n => panic!("the fixture is not in the old layout: a {n}-byte outbox value"),
        };
        outbox.insert(seq, item);
    }
    let docs = scan("docs").iter().map(|(k, _)| key_of(k)).collect();
    let mut by_rn: BTreeMap<[u8; 16], Vec<DocKey>> = BTreeMap::new();
    for (k, _) in scan("by_rn") {
        let rn: [u8; 16] = k[..16].try_into().unwrap();
        by_rn.entry(rn).or_default().push(key_of(&k[16..]));
    }
    OldLayout {
        outbox,
        docs,
        by_rn,
    }
}

#[test]
fn a_store_written_before_21_opens_reads_the_same_and_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let path = unpack(tmp.path());
    let old = read_old(&path);
    // What the fixture was made with (see the module doc), so a wrong fixture cannot pass.
    assert_eq!(old.docs.len(), 200, "documents in the fixture");
    assert!(
        old.outbox.len() >= 200 + 26,
        "outbox entries in the fixture"
    );
    assert!(
        old.outbox
            .values()
            .any(|i| matches!(i, OutboxItem::Kz { .. }))
    );
    assert_eq!(old.by_rn.len(), 20, "registers in the fixture");
    let old_head = *old.outbox.keys().last().unwrap();
    assert_eq!(old.outbox.len() as u64, old_head, "seqs 1..=head");

    // `ofdd store check` on the directory as the old release left it (without the document
    // log's column families, which a read-only open cannot create).
    let report = Store::check(&path).expect("check the old directory");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.documents, 200);

    let store = Store::open(&path, StoreOptions::default()).expect("open the old directory");
    // The export sees the old outbox exactly, from the start and from the middle.
    assert_eq!(store.outbox_head(), old_head);
    let all = store.outbox_read(0, usize::MAX).unwrap();
    let got: BTreeMap<u64, OutboxItem> = all.iter().map(|e| (e.seq, e.item)).collect();
    assert_eq!(got, old.outbox);
    let mid = store.outbox_read(100, 7).unwrap();
    assert_eq!(
        mid.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (101..=107).collect::<Vec<_>>()
    );
    // Every document and every exchange an outbox item names reads back.
    for item in old.outbox.values() {
        match item {
            OutboxItem::Doc(k) => {
                let d = store.get(&k.fn_number, k.fd).unwrap().expect("document");
                assert_eq!(d.key, *k);
                assert!(!d.raw.is_empty() && !d.ack.is_empty());
            }
            OutboxItem::Kz { system_id, log_seq } => {
                store
                    .kz_log_entry(*system_id, *log_seq)
                    .unwrap()
                    .expect("exchange");
            }
        }
    }
    // A register's documents are the ones its old index named, in the same order.
    for (rn, keys) in &old.by_rn {
        let rn = Rn::new(rn).unwrap();
        let docs: Vec<DocKey> = store
            .docs_of_register(&rn, Default::default())
            .unwrap()
            .map(|d| d.unwrap().key)
            .collect();
        assert_eq!(&docs, keys);
    }

    // A drive of the old layout goes on in the document log: a resend of an old document with
    // other bytes is a conflict (the duplicate check reads `docs`), the next FD is stored, and
    // the drive's documents are both layouts' in FD order.
    let (old_fn, old_fds) = {
        let mut per_fn: BTreeMap<FnNumber, Vec<u32>> = BTreeMap::new();
        for k in &old.docs {
            per_fn.entry(k.fn_number).or_default().push(k.fd);
        }
        per_fn.into_iter().max_by_key(|(_, fds)| fds.len()).unwrap()
    };
    let last = *old_fds.iter().max().unwrap();
    let resent = store
        .put_blocking(common::doc(old_fn, last, None, 1_780_000_000, 9))
        .unwrap();
    assert!(matches!(resent, PutOutcome::Conflict { .. }), "{resent:?}");
    let next = store
        .put_blocking(common::doc(old_fn, last + 1, None, 1_780_000_000, 0))
        .unwrap();
    assert!(matches!(next, PutOutcome::Stored { .. }), "{next:?}");
    let mut want: Vec<u32> = old_fds.clone();
    want.sort_unstable();
    want.push(last + 1);
    let fds_of = |store: &Store, from: u32| -> Vec<u32> {
        store
            .docs_of_fn(&old_fn, from..=u32::MAX)
            .unwrap()
            .map(|d| d.unwrap().key.fd)
            .collect()
    };
    assert_eq!(fds_of(&store, 0), want);
    assert_eq!(fds_of(&store, last), vec![last, last + 1]);
    let old_seqs = old_head + 1;

    // New documents continue the sequence, and the export reads across both layouts.
    let f = common::fn_n(21_000);
    let mut seqs = Vec::new();
    for fd in 1..=3 {
        let out = store
            .put_blocking(common::doc(f, fd, Some(common::rn_n(21)), 1_780_000_000, 0))
            .unwrap();
        let PutOutcome::Stored {
            outbox_seq: Some(seq),
        } = out
        else {
            panic!("not stored: {out:?}");
        };
        seqs.push(seq);
    }
    assert_eq!(seqs, vec![old_seqs + 1, old_seqs + 2, old_seqs + 3]);
    let tail = store.outbox_read(old_head - 2, 100).unwrap();
    assert_eq!(
        tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (old_head - 1..=old_seqs + 3).collect::<Vec<_>>()
    );
    assert_eq!(tail[1].item, old.outbox[&old_head]);
    assert_eq!(tail[2].item, OutboxItem::Doc(DocKey::new(old_fn, last + 1)));
    assert_eq!(
        tail[3].item,
        OutboxItem::Doc(DocKey::new(FnNumber::new(f.as_bytes()).unwrap(), 1))
    );

    // A full compaction (old blob files under the new options) loses nothing, and a reopen
    // finds the head where it was.
    store.compact().unwrap();
    store.close();
    drop(store);
    let store = Store::open(&path, StoreOptions::default()).expect("reopen");
    assert_eq!(store.outbox_head(), old_seqs + 3);
    for k in &old.docs {
        assert!(store.get(&k.fn_number, k.fd).unwrap().is_some(), "{k:?}");
    }
    assert_eq!(fds_of(&store, 0), want);
    assert_eq!(
        store.outbox_read(0, usize::MAX).unwrap().len() as u64,
        old_seqs + 3
    );
    store.close();
    drop(store);
    let report = Store::check(&path).expect("check the upgraded directory");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.documents, 200 + 1 + 3);
}
