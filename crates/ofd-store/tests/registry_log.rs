//! One registry for several nodes (cluster mode): stores that share one registry log, each on
//! its own RocksDB directory, agree on every register and account; a change computed on a stale
//! state is computed again on the new one (a conflict where one node would have had one, the
//! change applied on top otherwise); what a node derives for itself (admission, the `by_rn`
//! index of its own documents, the deregistered flag) follows the entries it applies.
//!
//! The log here is a vector behind a lock with the same compare-and-set as the daemon's
//! JetStream stream (`Nats-Expected-Last-Sequence`); the real stream is driven in
//! `crates/ofdd/tests/cluster_replicated.rs`.

mod common;

use std::sync::{Arc, Mutex};

use common::{doc, fn_n, new_kkt as kkt, rn_n};
use ofd_store::accounts::{Org, OrgKind};
use ofd_store::*;

#[derive(Default)]
struct MemLog {
    entries: Mutex<Vec<Vec<u8>>>,
}

impl RegistryLog for MemLog {
    fn append(&self, after: u64, entry: &[u8]) -> Result<u64, AppendError> {
        let mut e = self.entries.lock().unwrap();
        if e.len() as u64 != after {
            return Err(AppendError::Behind);
        }
        e.push(entry.to_vec());
        Ok(e.len() as u64)
    }

    fn read(&self, position: u64) -> Result<Option<Vec<u8>>, String> {
        let e = self.entries.lock().unwrap();
        Ok(position
            .checked_sub(1)
            .and_then(|i| e.get(i as usize))
            .cloned())
    }
}

impl MemLog {
    fn len(&self) -> u64 {
        self.entries.lock().unwrap().len() as u64
    }
}

fn node(dir: &tempfile::TempDir, name: &str, log: &Arc<MemLog>) -> Store {
    let store = Store::open(dir.path().join(name), StoreOptions::default()).unwrap();
    assert!(store.replicate_registry(log.clone()));
    store
}

/// What the daemon's follower does: hand every entry after the node's position to it.
fn follow(store: &Store, log: &MemLog) -> usize {
    let mut applied = 0;
    let from = store.registry_position().unwrap() + 1;
    for position in from..=log.len() {
        let entry = log.read(position).unwrap().unwrap();
        applied += usize::from(store.apply_registry_entry(position, entry).wait().unwrap());
    }
    applied
}

#[test]
fn two_nodes_share_one_registry_and_never_lose_a_concurrent_change() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemLog::default());
    let (a, b) = (node(&dir, "a", &log), node(&dir, "b", &log));
    let (x, f) = (rn_n(1), fn_n(10));

    // Registered on A: B admits its FN once it has applied the entry, not before.
    a.register(kkt(x, Some(f), "first"), 100).wait().unwrap();
    assert_eq!(log.len(), 1);
    assert!(b.admission_of(&f).is_none());
    assert_eq!(follow(&b, &log), 1);
    assert_eq!(b.get_register(&x).unwrap(), a.get_register(&x).unwrap());
    assert_eq!(b.admission_of(&f).unwrap().status, KktStatus::Registered);
    assert_eq!(b.rn_of_fn(&f).unwrap(), Some(x));
    // A's own entry is not applied twice.
    assert_eq!(follow(&a, &log), 0);

    // Both register one RN, B on a stale state (it has not applied A's entry): B's change is
    // computed again after A's and fails as it would have on one node.
    let y = rn_n(2);
    a.register(kkt(y, None, "A's"), 200).wait().unwrap();
    assert!(matches!(
        b.register(kkt(y, None, "B's"), 201).wait(),
        Err(StoreError::RegisterExists { .. })
    ));
    assert_eq!(b.get_register(&y).unwrap().unwrap().user_name, "A's");

    // Two changes of one register from two nodes: the second applies on top of the first.
    b.update(
        x,
        KktPatch {
            address: Some("Казань".into()),
            ..KktPatch::default()
        },
        300,
    )
    .wait()
    .unwrap();
    let stale = a.get_register(&x).unwrap().unwrap();
    assert_eq!(stale.address, "Москва", "A has not applied B's change yet");
    a.update(
        x,
        KktPatch {
            tariff: Some("pro".into()),
            ..KktPatch::default()
        },
        301,
    )
    .wait()
    .unwrap();
    follow(&b, &log);
    for n in [&a, &b] {
        let r = n.get_register(&x).unwrap().unwrap();
        assert_eq!((r.address.as_str(), r.tariff.as_str()), ("Казань", "pro"));
    }

    // Accounts travel the same way.
    a.create_org(Org {
        inn: "7702203276".into(),
        name: "ООО Ромашка".into(),
        kind: OrgKind::Taxpayer,
        created_at: 400,
    })
    .wait()
    .unwrap();
    assert!(matches!(
        b.create_org(Org {
            inn: "7702203276".into(),
            name: "другое".into(),
            kind: OrgKind::Partner,
            created_at: 401,
        })
        .wait(),
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        b.get_org("7702203276").unwrap().unwrap().name,
        "ООО Ромашка"
    );

    // Deregistered on A: B refuses the FN after applying.
    a.deregister(x, 500).wait().unwrap();
    follow(&b, &log);
    assert_eq!(b.admission_of(&f).unwrap().status, KktStatus::Deregistered);

    // Both ended with the same registry, and each entry was applied once.
    assert_eq!(a.registry_position().unwrap(), log.len());
    assert_eq!(b.registry_position().unwrap(), log.len());
    let all = |s: &Store| {
        s.list_registers(&KktFilter {
            limit: 100,
            ..KktFilter::default()
        })
        .unwrap()
        .items
    };
    assert_eq!(all(&a), all(&b));
}

#[test]
fn a_binding_from_another_node_indexes_this_nodes_own_documents() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemLog::default());
    let (a, b) = (node(&dir, "a", &log), node(&dir, "b", &log));
    let (rn, f) = (rn_n(7), fn_n(70));
    // B stored a document of an FN nobody has bound yet; A learns the FN's register.
    b.put_blocking(doc(f, 1, None, 1_700_000_000, 0)).unwrap();
    a.bind_fn(FnBindRequest {
        rn,
        fn_number: f,
        kkt_serial: "123".into(),
        user_inn: "7702203276".into(),
        encrypted: false,
        time: 1000,
    })
    .wait()
    .unwrap();
    follow(&b, &log);
    let docs = b
        .docs_of_register(&rn, RegisterQuery::default())
        .unwrap()
        .count();
    assert_eq!(docs, 1, "B's own document is found under the RN A bound");
    assert!(b.liveness_of_unbound_fn(&f).is_none());
    assert_eq!(b.liveness_of(&rn).unwrap().docs_today, 1);
    // A has no document of it: the index is each node's own.
    assert_eq!(
        a.docs_of_register(&rn, RegisterQuery::default())
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_node_on_an_empty_disk_catches_up_and_a_restart_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemLog::default());
    let a = node(&dir, "a", &log);
    for i in 0..20 {
        a.register(kkt(rn_n(100 + i), Some(fn_n(100 + i)), "n"), 10)
            .wait()
            .unwrap();
    }
    let fresh = node(&dir, "fresh", &log);
    assert_eq!(fresh.registry_catch_up().wait().unwrap(), 20);
    assert_eq!(fresh.admission_len(), a.admission_len());
    fresh.close();
    drop(fresh);
    a.deregister(rn_n(100), 20).wait().unwrap();
    let again = node(&dir, "fresh", &log);
    assert_eq!(
        again.registry_position().unwrap(),
        20,
        "kept across the restart"
    );
    assert_eq!(follow(&again, &log), 1, "only the new entry is applied");
    assert_eq!(
        again.admission_of(&fn_n(100)).unwrap().status,
        KktStatus::Deregistered
    );
}

#[test]
fn a_log_that_cannot_take_writes_changes_nothing() {
    struct Down;
    impl RegistryLog for Down {
        fn append(&self, _: u64, _: &[u8]) -> Result<u64, AppendError> {
            Err(AppendError::Unavailable("no quorum".into()))
        }
        fn read(&self, _: u64) -> Result<Option<Vec<u8>>, String> {
            Err("no quorum".into())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap();
    assert!(store.replicate_registry(Arc::new(Down)));
    match store.register(kkt(rn_n(1), None, "n"), 1).wait() {
        Err(StoreError::Replication(why)) => assert!(why.contains("no quorum"), "{why}"),
        other => panic!("expected a replication error, got {other:?}"),
    }
    assert!(store.get_register(&rn_n(1)).unwrap().is_none());
    // Documents do not go through the registry's log: they are stored as ever.
    store
        .put_blocking(doc(fn_n(1), 1, None, 1_700_000_000, 0))
        .unwrap();
}
