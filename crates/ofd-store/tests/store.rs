//! Behaviour of the store against real RocksDB in temporary directories.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{doc, fn_n, health, new_kkt, raw_for, rn_n};
use ofd_store::*;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("db"), StoreOptions::default()).unwrap()
}

const T0: u32 = 1_700_000_000;

#[test]
fn put_get_duplicate_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let f = fn_n(1);
    let d = doc(f, 1, Some(rn_n(1)), T0, 0);
    assert_eq!(
        store.put_blocking(d.clone()).unwrap(),
        PutOutcome::Stored {
            outbox_seq: Some(1)
        }
    );
    let got = store.get(&f, 1).unwrap().unwrap();
    assert_eq!(got.raw, d.raw);
    assert_eq!(got.ack, d.ack);
    assert_eq!(got.header.rn, Some(rn_n(1)));
    assert_eq!(got.header.doc_time, T0);

    // Same bytes, different ack offered: the stored ack comes back.
    let mut again = d.clone();
    again.ack = b"other".to_vec().into();
    assert_eq!(
        store.put_blocking(again).unwrap(),
        PutOutcome::Duplicate { ack: d.ack.clone() }
    );

    // Different bytes: conflict, original untouched, new bytes kept aside.
    let other = doc(f, 1, Some(rn_n(1)), T0, 1);
    let PutOutcome::Conflict { conflict_seq } = store.put_blocking(other.clone()).unwrap() else {
        panic!("expected a conflict")
    };
    assert_eq!(store.get(&f, 1).unwrap().unwrap().raw, d.raw);
    let conflicts = store.conflicts_of(&f, 1).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].0, conflict_seq);
    assert_eq!(conflicts[0].1.raw, other.raw);
    assert_eq!(store.get(&f, 2).unwrap(), None);
    assert_eq!(store.outbox_head(), 1);
}

#[test]
fn same_key_twice_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let f = fn_n(2);
    // Queue all futures before awaiting any, so the committer sees them together.
    let a = store.put(doc(f, 5, None, T0, 0));
    let b = store.put(doc(f, 5, None, T0, 0));
    let c = store.put(doc(f, 5, None, T0, 9));
    let (a, b, c) = (a.wait().unwrap(), b.wait().unwrap(), c.wait().unwrap());
    assert_eq!(
        a,
        PutOutcome::Stored {
            outbox_seq: Some(1)
        }
    );
    assert_eq!(
        b,
        PutOutcome::Duplicate {
            ack: doc(f, 5, None, T0, 0).ack
        }
    );
    assert!(matches!(c, PutOutcome::Conflict { .. }), "{c:?}");
    assert_eq!(store.outbox_head(), 1);
    let stored = store.get(&f, 5).unwrap().unwrap();
    assert_eq!(stored.raw, raw_for(&f, 5, 0));
    assert!(stored.header.flags.contains(DocFlags::UNKNOWN_FN));
}

#[test]
fn many_threads_group_commit_and_observer_sees_batches() {
    struct Obs(AtomicUsize, AtomicUsize);
    impl StoreObserver for Obs {
        fn on_commit(&self, s: &CommitStats) {
            self.0.fetch_add(1, Ordering::Relaxed);
            self.1.fetch_add(s.stored, Ordering::Relaxed);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let obs = Arc::new(Obs(AtomicUsize::new(0), AtomicUsize::new(0)));
    let store =
        Store::open_with_observer(dir.path().join("db"), StoreOptions::default(), obs.clone())
            .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..64u64 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                for fd in 1..=20u32 {
                    let out = s
                        .put(doc(fn_n(100 + t), fd, Some(rn_n(100 + t)), T0 + fd, 0))
                        .await
                        .unwrap();
                    assert!(matches!(out, PutOutcome::Stored { .. }));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(obs.1.load(Ordering::Relaxed), 64 * 20);
    assert!(
        obs.0.load(Ordering::Relaxed) < 64 * 20,
        "no batching happened"
    );
    assert_eq!(store.outbox_head(), 64 * 20);
    let entries = store.outbox_read(0, 10_000).unwrap();
    assert_eq!(entries.len(), 64 * 20);
    assert!(entries.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
}

#[test]
fn register_queries_stream_by_fd_time_and_shift() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (rn, f1, f2) = (rn_n(7), fn_n(7), fn_n(8));
    for fd in 1..=30 {
        store
            .put_blocking(doc(f1, fd, Some(rn), T0 + fd * 60, 0))
            .unwrap();
    }
    for fd in 1..=5 {
        store
            .put_blocking(doc(f2, fd, Some(rn), T0 + 10_000 + fd, 0))
            .unwrap();
    }
    store
        .put_blocking(doc(fn_n(9), 1, Some(rn_n(9)), T0, 0))
        .unwrap();

    let all: Vec<_> = store
        .docs_of_register(&rn, RegisterQuery::default())
        .unwrap()
        .map(|d| d.unwrap())
        .collect();
    assert_eq!(all.len(), 35);
    let q = RegisterQuery {
        fn_number: Some(f1),
        fd: Some(10..=12),
        ..Default::default()
    };
    let fds: Vec<u32> = store
        .docs_of_register(&rn, q)
        .unwrap()
        .map(|d| d.unwrap().key.fd)
        .collect();
    assert_eq!(fds, [10, 11, 12]);
    let q = RegisterQuery {
        doc_time: Some(T0 + 60..=T0 + 180),
        ..Default::default()
    };
    let fds: Vec<u32> = store
        .docs_of_register(&rn, q)
        .unwrap()
        .map(|d| d.unwrap().key.fd)
        .collect();
    assert_eq!(fds, [1, 2, 3]);
    // shift = 1 + fd / 10: shift 2 is fd 10..=19 of f1 (f2's fds are all shift 1).
    let q = RegisterQuery {
        shift: Some(2),
        ..Default::default()
    };
    assert_eq!(store.docs_of_register(&rn, q).unwrap().count(), 10);
    let fds: Vec<u32> = store
        .docs_of_fn(&f1, 28..=40)
        .unwrap()
        .map(|d| d.unwrap().key.fd)
        .collect();
    assert_eq!(fds, [28, 29, 30]);
    assert_eq!(store.docs_of_fn(&f2, 0..=u32::MAX).unwrap().count(), 5);
}

#[test]
fn registry_lifecycle_tokens_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let rn = rn_n(1);
    let rec = store
        .register(new_kkt(rn, Some(fn_n(1)), "ООО Ромашка"), 100)
        .wait()
        .unwrap();
    assert_eq!(rec.status, KktStatus::Registered);
    assert!(matches!(
        store.register(new_kkt(rn, None, "x"), 101).wait(),
        Err(StoreError::RegisterExists { .. })
    ));
    assert_eq!(store.find_by_fn(&fn_n(1)).unwrap().unwrap().rn, rn);

    let tok = store.issue_token(rn, 110).wait().unwrap();
    assert!(
        store
            .verify_token(&rn, &tok.system_id, &tok.secret)
            .unwrap()
    );
    assert!(!store.verify_token(&rn, &tok.system_id, "wrong").unwrap());
    assert!(!store.verify_token(&rn, "kkt-other", &tok.secret).unwrap());
    let rotated = store.issue_token(rn, 120).wait().unwrap();
    assert_eq!(rotated.system_id, tok.system_id);
    assert!(
        !store
            .verify_token(&rn, &tok.system_id, &tok.secret)
            .unwrap()
    );
    assert!(
        store
            .verify_token(&rn, &rotated.system_id, &rotated.secret)
            .unwrap()
    );
    let raw_registry = format!("{:?}", store.get_register(&rn).unwrap());
    assert!(!raw_registry.contains(&rotated.secret));

    let patch = KktPatch {
        tariff: Some("pro".into()),
        status: Some(KktStatus::Saved),
        ..Default::default()
    };
    assert_eq!(store.update(rn, patch, 130).wait().unwrap().tariff, "pro");

    for i in 2..=5 {
        let mut k = new_kkt(
            rn_n(i),
            None,
            if i % 2 == 0 {
                "ИП Иванов"
            } else {
                "ООО Лютик"
            },
        );
        k.connection = if i == 5 {
            ConnectionType::Wired
        } else {
            ConnectionType::Sim
        };
        store.register(k, 200 + i).wait().unwrap();
    }
    let page = store
        .list_registers(&KktFilter {
            name_contains: Some("иванов".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.rn).collect::<Vec<_>>(),
        [rn_n(2), rn_n(4)]
    );
    let page = store
        .list_registers(&KktFilter {
            connection: Some(ConnectionType::Wired),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let page = store
        .list_registers(&KktFilter {
            status: Some(KktStatus::Saved),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let page = store
        .list_registers(&KktFilter {
            registered_from: Some(203),
            registered_to: Some(204),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let p1 = store
        .list_registers(&KktFilter {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    let p2 = store
        .list_registers(&KktFilter {
            limit: 2,
            after: p1.next,
            ..Default::default()
        })
        .unwrap();
    let p3 = store
        .list_registers(&KktFilter {
            limit: 2,
            after: p2.next,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p1.items.len() + p2.items.len() + p3.items.len(), 5);
    assert_eq!(p3.next, None);
    let page = store
        .list_registers(&KktFilter {
            rn_prefix: Some("0000005000".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 5);

    let d = store.deregister(rn, 300).wait().unwrap();
    assert_eq!(
        (d.status, d.deregistered_at),
        (KktStatus::Deregistered, Some(300))
    );
    // A deregistered RN may be registered again.
    store
        .register(new_kkt(rn, None, "again"), 400)
        .wait()
        .unwrap();
    assert!(matches!(
        store.update(rn_n(99), KktPatch::default(), 1).wait(),
        Err(StoreError::RegisterNotFound { .. })
    ));
}

#[test]
fn bind_fn_resolves_rn_moves_fn_and_backfills() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (rn, f_old, f_new) = (rn_n(3), fn_n(30), fn_n(31));
    // An FN sends before its registration report: stored under the FN only.
    store.put_blocking(doc(f_old, 1, None, T0, 0)).unwrap();
    assert!(store.liveness_of_unbound_fn(&f_old).is_some());
    let req = FnBindRequest {
        rn,
        fn_number: f_old,
        kkt_serial: "123".into(),
        user_inn: "7702203276".into(),
        encrypted: true,
        time: 1000,
    };
    let out = store.bind_fn(req.clone()).wait().unwrap();
    assert!(out.created);
    assert_eq!(
        store
            .docs_of_register(&rn, RegisterQuery::default())
            .unwrap()
            .count(),
        1
    );
    assert!(store.liveness_of_unbound_fn(&f_old).is_none());
    assert_eq!(store.liveness_of(&rn).unwrap().docs_today, 1);
    // Encrypted document without RN: resolved through the binding.
    store.put_blocking(doc(f_old, 2, None, T0 + 1, 0)).unwrap();
    assert_eq!(store.get(&f_old, 2).unwrap().unwrap().header.rn, Some(rn));
    // FN replacement (registration change report).
    let out = store
        .bind_fn(FnBindRequest {
            fn_number: f_new,
            time: 2000,
            ..req
        })
        .wait()
        .unwrap();
    assert_eq!(out.previous_fn, Some(f_old));
    let rec = store.get_register(&rn).unwrap().unwrap();
    assert_eq!(rec.fn_number, Some(f_new));
    assert_eq!(rec.fn_history.len(), 2);
    assert_eq!(rec.fn_history[0].unbound_at, Some(2000));
    assert_eq!(store.rn_of_fn(&f_old).unwrap(), Some(rn));
    assert_eq!(store.rn_of_fn(&f_new).unwrap(), Some(rn));
}

#[test]
fn liveness_counts_health_and_deregistration() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let now = u64::from(T0) + 10 * 86_400;
    let ages = [100u64, 2 * 86_400, 5 * 86_400, 5 * 86_400];
    for (i, age) in ages.iter().enumerate() {
        let i = i as u64;
        let t = u32::try_from(now - age).unwrap();
        let mut d = doc(fn_n(50 + i), 1, Some(rn_n(50 + i)), t, 0);
        d.health = Some(health(u32::from(i == 0), i == 1));
        store.put_blocking(d).unwrap();
    }
    assert_eq!(
        store.liveness_counts(now, 86_400, 259_200),
        LivenessCounts {
            green: 1,
            yellow: 1,
            red: 2,
            deregistered: 0
        }
    );
    let h = store.health_counts();
    assert_eq!((h.untransmitted, h.key_expiry_soon), (1, 1));
    store
        .register(new_kkt(rn_n(53), None, "x"), 1)
        .wait()
        .unwrap();
    store.deregister(rn_n(53), 2).wait().unwrap();
    assert_eq!(
        store.liveness_counts(now, 86_400, 259_200),
        LivenessCounts {
            green: 1,
            yellow: 1,
            red: 1,
            deregistered: 1
        }
    );
    let r = store.liveness_of(&rn_n(50)).unwrap();
    assert_eq!((r.untransmitted, r.shift, r.docs_today), (1, 1, 1));

    // Persisted and reloaded on open.
    drop(store);
    let store = open(&dir);
    assert_eq!(
        store.liveness_counts(now, 86_400, 259_200),
        LivenessCounts {
            green: 1,
            yellow: 1,
            red: 1,
            deregistered: 1
        }
    );
    assert_eq!(store.health_counts().key_expiry_soon, 1);
}

#[test]
fn outbox_and_rejected_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        for fd in 1..=3 {
            store.put_blocking(doc(fn_n(60), fd, None, T0, 0)).unwrap();
        }
        let mut rej = doc(fn_n(60), 4, None, T0, 0);
        rej.outcome = Outcome::Rejected { code: 14 };
        assert_eq!(
            store.put_blocking(rej).unwrap(),
            PutOutcome::Stored { outbox_seq: None }
        );
        store.set_outbox_cursor("fns", 2).unwrap();
        let seq = store
            .put_rejected_blocking(RejectedMessage {
                received_at_ms: 1,
                fn_number: None,
                fd: None,
                reason: "bad signature".into(),
                raw: vec![1, 2, 3].into(),
                ack: Default::default(),
            })
            .unwrap();
        assert_eq!(seq, 1);
        store.close();
        assert!(matches!(
            store.put_blocking(doc(fn_n(60), 9, None, T0, 0)),
            Err(StoreError::Closed)
        ));
    }
    let store = open(&dir);
    assert_eq!(store.outbox_head(), 3);
    assert_eq!(store.outbox_cursor("fns").unwrap(), 2);
    assert_eq!(store.outbox_cursor("never").unwrap(), 0);
    let after = store.outbox_read(2, 10).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].doc(), Some(DocKey::new(fn_n(60), 3)));
    assert_eq!(
        store.put_blocking(doc(fn_n(61), 1, None, T0, 0)).unwrap(),
        PutOutcome::Stored {
            outbox_seq: Some(4)
        }
    );
    let rej = store.rejected_read(0, 10).unwrap();
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].1.reason, "bad signature");
    assert_eq!(store.put_rejected_blocking(rej[0].1.clone()).unwrap(), 2);
    assert!(store.outbox_cursor("").is_err());
}

#[test]
fn open_fails_clearly_on_missing_parent() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path().join("no/such/db"), StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::MissingParent { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"));
    let opts = StoreOptions {
        create_if_missing: false,
        ..Default::default()
    };
    let err = Store::open(dir.path().join("db"), opts).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
}

#[test]
fn open_fails_clearly_on_locked_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(&dir);
    let err = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("is another ofdd running on this --data directory?")
    );
}

#[test]
fn open_fails_clearly_on_corrupt_directory() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    std::fs::write(dir.path().join("db/CURRENT"), b"garbage").unwrap();
    let err = Store::open(dir.path().join("db"), StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::CorruptDatabase { .. }), "{err}");
    assert!(err.to_string().contains("backup"));
}

#[test]
fn admission_map_follows_the_registry_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.admission_of(&fn_n(70)), None);
    store
        .register(new_kkt(rn_n(70), Some(fn_n(70)), "a"), 1)
        .wait()
        .unwrap();
    let a = store
        .admission_of(&fn_n(70))
        .expect("registered FN is admitted");
    assert_eq!(
        (a.rn, a.status, a.encrypted),
        (rn_n(70), KktStatus::Registered, false)
    );

    // A registration-change report moves the register to a new, encrypting FN.
    store
        .bind_fn(FnBindRequest {
            rn: rn_n(70),
            fn_number: fn_n(71),
            kkt_serial: "0149060006000651".into(),
            user_inn: "7702203276".into(),
            encrypted: true,
            time: 2,
        })
        .wait()
        .unwrap();
    assert!(store.admission_of(&fn_n(71)).unwrap().encrypted);

    store.deregister(rn_n(70), 3).wait().unwrap();
    for f in [fn_n(70), fn_n(71)] {
        assert_eq!(
            store.admission_of(&f).unwrap().status,
            KktStatus::Deregistered
        );
    }
    drop(store);
    let store = open(&dir);
    assert_eq!(store.admission_len(), 2);
    assert_eq!(
        store.admission_of(&fn_n(71)).unwrap().status,
        KktStatus::Deregistered
    );
    assert_eq!(
        store.admission_of(&fn_n(71)),
        store
            .find_by_fn(&fn_n(71))
            .unwrap()
            .map(|k| ofd_store::Admission {
                rn: k.rn,
                status: k.status,
                encrypted: k.encrypted
            })
    );
}

/// Kazakh exchanges go through the committer with the documents: each is logged with the
/// register's new state and retry answer, an exported one takes the next outbox sequence number
/// in commit order, and an unknown register is refused without touching anything.
#[test]
fn kz_exchanges_share_the_outbox_with_documents() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let id = store
        .kz_create(
            1,
            &ofd_store::Owner {
                inn: "123456789012".into(),
                place: "Алматы".into(),
            },
            |id| format!("state-{id}").into_bytes(),
        )
        .unwrap();
    assert_eq!(id, FIRST_SYSTEM_ID);
    let exchange = |n: u8, export: bool, state: Option<&str>| KzWrite {
        system_id: id,
        state: state.map(|s| s.as_bytes().to_vec()),
        request: bytes::Bytes::from(vec![0xA2, 0x81, n]),
        answer: bytes::Bytes::from(vec![0xA2, 0x81, n, n]),
        received_at_ms: u64::from(T0) * 1000,
        command: 1,
        code: 0,
        ticket_number: Some(u64::from(n)),
        shift: Some(1),
        doc_time: None,
        export,
        registration_number: None,
        replicated: None,
    };
    store.put_blocking(doc(fn_n(90), 1, None, T0, 0)).unwrap();
    let first = store
        .kz_commit(exchange(1, true, Some("s1")))
        .wait()
        .unwrap();
    assert_eq!(
        first,
        KzCommitted {
            log_seq: 1,
            outbox_seq: Some(2)
        }
    );
    // A refusal: logged, state and retry answer kept, not exported.
    let refused = store.kz_commit(exchange(2, false, None)).wait().unwrap();
    assert_eq!(
        refused,
        KzCommitted {
            log_seq: 2,
            outbox_seq: None
        }
    );
    store.put_blocking(doc(fn_n(90), 2, None, T0, 0)).unwrap();
    let record = store.kz_get(id).unwrap().unwrap();
    assert_eq!((record.state.as_slice(), record.log_next), (&b"s1"[..], 3));
    assert_eq!(record.last_answer, [0xA2, 0x81, 1, 1]);

    let items: Vec<OutboxItem> = store
        .outbox_read(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.item)
        .collect();
    assert_eq!(
        items,
        [
            OutboxItem::Doc(DocKey::new(fn_n(90), 1)),
            OutboxItem::Kz {
                system_id: id,
                log_seq: 1
            },
            OutboxItem::Doc(DocKey::new(fn_n(90), 2)),
        ]
    );
    let logged = store.kz_log_entry(id, 1).unwrap().unwrap();
    assert_eq!(
        (logged.request, logged.answer, logged.ticket_number),
        (vec![0xA2, 0x81, 1], vec![0xA2, 0x81, 1, 1], Some(1))
    );
    assert_eq!(store.kz_log_entry(id, 3).unwrap(), None);

    let mut nobody = exchange(3, true, Some("x"));
    nobody.system_id = id + 1;
    assert!(matches!(
        store.kz_commit(nobody).wait(),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.outbox_head(), 3);
}

/// The audit log read newest first: pages by a `before` cursor, per organisation or all, and a
/// filter that matches little still costs a bounded read per page.
#[test]
fn audit_newest_pages_backwards_with_a_bounded_read() {
    use ofd_store::accounts::{AuditEntry, AuditFilter};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for i in 1..=30u64 {
        let org = if i % 3 == 0 {
            "7700000001"
        } else {
            "7700000002"
        };
        let action = if i % 10 == 0 {
            "user.role"
        } else {
            "register.edit"
        };
        store
            .audit(AuditEntry {
                seq: 0,
                at: 1_700_000_000 + i,
                actor: format!("u{i}@example.org"),
                actor_org: Some(org.into()),
                orgs: vec![org.into()],
                addr: "127.0.0.1".into(),
                action: action.into(),
                target: i.to_string(),
                detail: serde_json::Value::Null,
            })
            .wait()
            .unwrap();
    }
    let all = |limit| AuditFilter {
        limit,
        ..Default::default()
    };
    let seqs = |v: &[AuditEntry]| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    // Everything, newest first, in pages of 4.
    let (p1, next) = store.audit_newest(None, &all(4), None, 1000).unwrap();
    assert_eq!(seqs(&p1), vec![30, 29, 28, 27]);
    assert_eq!(next, Some(27));
    let (p2, _) = store.audit_newest(None, &all(4), next, 1000).unwrap();
    assert_eq!(seqs(&p2), vec![26, 25, 24, 23]);
    // One organisation's entries only.
    let (o, next) = store
        .audit_newest(Some("7700000001"), &all(100), None, 1000)
        .unwrap();
    assert_eq!(seqs(&o), vec![30, 27, 24, 21, 18, 15, 12, 9, 6, 3]);
    assert_eq!(next, None, "the organisation's log was read to its start");
    // A rare action under a read cap: the page stops after `examine` entries with a cursor.
    let rare = AuditFilter {
        action: Some("user.".into()),
        limit: 100,
        ..Default::default()
    };
    let (hits, next) = store.audit_newest(None, &rare, None, 15).unwrap();
    assert_eq!(seqs(&hits), vec![30, 20]);
    assert_eq!(next, Some(16));
    let (hits, next) = store.audit_newest(None, &rare, next, 15).unwrap();
    assert_eq!(seqs(&hits), vec![10]);
    assert_eq!(next, None, "the last 15 entries reached the log's start");
}

/// A scoped list pages an organisation's registers from the owner index in RN order (merged
/// over several organisations), and a selective filter ends a page early with a cursor after
/// `LIST_SCAN_BUDGET` registers passed over, instead of scanning on (issue 19).
#[test]
fn scoped_lists_page_by_cursor_and_stop_at_the_scan_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("db"),
        StoreOptions {
            sync: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    // Interleaved owners: even RNs to A, odd to B, every third to C; one "needle" at the end.
    let n = 2 * LIST_SCAN_BUDGET as u64 + 300;
    let owner = |i: u64| match i % 3 {
        // The needle is A's, so both scopes below can find it.
        _ if i == n - 1 => "1000000001",
        0 => "3000000003",
        _ if i.is_multiple_of(2) => "1000000001",
        _ => "2000000002",
    };
    let pending: Vec<_> = (0..n)
        .map(|i| {
            let mut k = new_kkt(rn_n(i), None, if i == n - 1 { "needle" } else { "hay" });
            k.user_inn = owner(i).into();
            store.register(k, 100)
        })
        .collect();
    for p in pending {
        p.wait().unwrap();
    }
    // Two organisations merged, in pages of 7: every register of A and B once, in RN order.
    let scope = Scope::orgs(["1000000001".to_string(), "2000000002".to_string()]);
    let scoped = store.scoped(&scope);
    let mut f = KktFilter {
        limit: 7,
        ..KktFilter::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = scoped.list_kkt(&f).unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|r| r.rn));
        match page.next {
            Some(next) => f.after = Some(next),
            None => break,
        }
    }
    let want: Vec<Rn> = (0..n)
        .filter(|i| owner(*i) != "3000000003")
        .map(rn_n)
        .collect();
    assert_eq!(seen, want);

    // A filter matching only the last register: the first page gives up after the budget
    // with a cursor; following it finds the needle, for the organisations and the operator.
    for scope in [scope.clone(), Scope::all()] {
        let scoped = store.scoped(&scope);
        let mut f = KktFilter {
            name_contains: Some("needle".into()),
            limit: 10,
            ..KktFilter::default()
        };
        let first = scoped.list_kkt(&f).unwrap();
        assert!(first.items.is_empty(), "{scope:?}");
        let mut pages = 1;
        let mut found = first.items;
        let mut next = first.next;
        while let Some(after) = next {
            f.after = Some(after);
            let page = scoped.list_kkt(&f).unwrap();
            found.extend(page.items);
            next = page.next;
            pages += 1;
        }
        assert!(pages >= 2, "{scope:?}");
        assert_eq!(
            found.iter().map(|r| r.rn).collect::<Vec<_>>(),
            vec![rn_n(n - 1)]
        );
    }
}

/// The public check's ticket index: an accepted ticket is found by (RNM, ticket number) with
/// one read, in the batch of its exchange, and still after a reopen; anything else is not.
#[test]
fn kz_tickets_are_indexed_by_registration_number() {
    let dir = tempfile::tempdir().unwrap();
    let owner = ofd_store::Owner {
        inn: "123456789012".into(),
        place: "Алматы".into(),
    };
    let exchange = |id: u32, ticket: Option<u64>, rnm: Option<&str>| KzWrite {
        system_id: id,
        state: Some(b"s".to_vec()),
        request: bytes::Bytes::from_static(b"req"),
        answer: bytes::Bytes::from_static(b"ans"),
        received_at_ms: u64::from(T0) * 1000,
        command: 1,
        code: 0,
        ticket_number: ticket,
        shift: Some(1),
        doc_time: None,
        export: false,
        registration_number: rnm.map(str::to_owned),
        replicated: None,
    };
    {
        let store = open(&dir);
        let a = store.kz_create(1, &owner, |_| b"a".to_vec()).unwrap();
        let b = store.kz_create(1, &owner, |_| b"b".to_vec()).unwrap();
        // Several in one group commit, two registers interleaved.
        let pending = vec![
            store.kz_commit(exchange(a, None, None)),
            store.kz_commit(exchange(a, Some(1), Some("010100012345"))),
            store.kz_commit(exchange(b, Some(1), Some("010100099999"))),
            store.kz_commit(exchange(a, Some(2), Some("010100012345"))),
            store.kz_commit(exchange(a, Some(3), None)),
        ];
        let seqs: Vec<u64> = pending
            .into_iter()
            .map(|p| p.wait().unwrap().log_seq)
            .collect();
        assert_eq!(seqs, [1, 2, 1, 3, 4]);
        // The index is not in any register's log.
        assert_eq!(store.kz_log(b, 0, 100).unwrap().len(), 1);
        assert_eq!(store.kz_log(a, 0, 100).unwrap().len(), 4);
    }
    let store = open(&dir);
    let (a, b) = (FIRST_SYSTEM_ID, FIRST_SYSTEM_ID + 1);
    assert_eq!(
        store.kz_find_ticket("010100012345", 1).unwrap(),
        Some((a, 2))
    );
    assert_eq!(
        store.kz_find_ticket("010100012345", 2).unwrap(),
        Some((a, 3))
    );
    assert_eq!(
        store.kz_find_ticket("010100099999", 1).unwrap(),
        Some((b, 1))
    );
    assert_eq!(
        store.kz_find_ticket("010100012345", 3).unwrap(),
        None,
        "no RNM named"
    );
    assert_eq!(store.kz_find_ticket("010100099999", 2).unwrap(), None);
    assert_eq!(store.kz_find_ticket("01010001234", 1).unwrap(), None);
    assert_eq!(store.kz_find_ticket(&"1".repeat(300), 1).unwrap(), None);
    assert_eq!(store.kz_list(None, 10).unwrap().len(), 2);
}

/// `doc_index` and `by_rn` memtables are hashed by FN / RN (`options.rs`): a scan that is not
/// bounded to one prefix must ask for total order, or it sees one bucket of the memtable. Here
/// every document is still in the WAL (nothing was flushed), so `check` and `salvage` replay it
/// into such memtables and must find all of them, and per-FN / per-RN queries exactly their own.
#[test]
fn whole_store_scans_and_prefix_queries_see_every_drive_in_the_memtable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    const DRIVES: u64 = 40;
    const PER_DRIVE: u32 = 3;
    {
        let store = open(&dir);
        // Interleaved as a fleet sends them: FD 1 of every drive, then FD 2, ...
        for fd in 1..=PER_DRIVE {
            for i in 0..DRIVES {
                let rn = Some(rn_n(i % 10));
                store
                    .put_blocking(doc(fn_n(i), fd, rn, T0 + fd, 0))
                    .unwrap();
            }
        }
        for i in 0..DRIVES {
            assert_eq!(fds_of(&store, i), [1, 2, 3], "documents of drive {i}");
        }
        for r in 0..10 {
            let n = store
                .docs_of_register(&rn_n(r), RegisterQuery::default())
                .unwrap()
                .count();
            assert_eq!(n, 4 * PER_DRIVE as usize, "documents of register {r}");
        }
    }
    let expected = DRIVES * u64::from(PER_DRIVE);
    let report = Store::check(&path).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.documents, expected);
    let by_rn = report
        .entries
        .iter()
        .find(|(cf, _)| *cf == "by_rn")
        .unwrap();
    assert_eq!(by_rn.1, expected, "by_rn entries seen by check");

    let copy = dir.path().join("copy");
    let salvaged = Store::salvage(&path, &copy).unwrap();
    assert_eq!(salvaged.documents, expected);
    assert!(salvaged.lost_documents.is_empty());
    let store = Store::open(&copy, StoreOptions::default()).unwrap();
    for i in 0..DRIVES {
        assert_eq!(store.docs_of_fn(&fn_n(i), 0..=u32::MAX).unwrap().count(), 3);
    }
}

/// The document log is the store of record (`doc_log.rs`): each entry names its document, so an
/// index that is gone costs nothing `salvage` cannot rebuild, and an index entry that names
/// another document's log entry is reported as damage, never answered with the wrong document.
#[test]
fn the_log_alone_holds_every_document_and_salvage_rebuilds_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let docs: Vec<NewDocument> = (1..=3)
        .flat_map(|fd| (0..10).map(move |i| doc(fn_n(i), fd, Some(rn_n(i)), T0 + fd, 0)))
        .collect();
    {
        let store = open(&dir);
        for d in &docs {
            store.put_blocking(d.clone()).unwrap();
        }
    }
    // With plain RocksDB: the whole index deleted, then one entry pointing at FN 1's FD 1
    // written under FN 0's FD 1.
    let raw_index = |change: &dyn Fn(&rocksdb::DB, &rocksdb::ColumnFamily)| {
        let opts = rocksdb::Options::default();
        let names = rocksdb::DB::list_cf(&opts, &path).unwrap();
        let db = rocksdb::DB::open_cf(&opts, &path, &names).unwrap();
        change(&db, db.cf_handle("doc_index").unwrap());
        db.flush_wal(true).unwrap();
    };
    raw_index(&|db, cf| {
        let key = |f: u64, fd: u32| {
            let mut k = fn_n(f).as_bytes().to_vec();
            k.extend_from_slice(&fd.to_be_bytes());
            k
        };
        let v = db
            .get_cf(cf, key(1, 1))
            .unwrap()
            .expect("FN 1 FD 1 indexed");
        assert_eq!(v.len(), 8, "an index value is a log sequence");
        db.delete_range_cf(cf, &[0u8; 20][..], &[0xffu8; 21][..])
            .unwrap();
        db.put_cf(cf, key(0, 1), &v).unwrap();
    });
    {
        let store = open(&dir);
        // Without the index the log's documents are not found...
        assert!(store.get(&fn_n(2), 1).unwrap().is_none());
        // ...and an entry naming another document's log entry is damage, not that document.
        match store.get(&fn_n(0), 1) {
            Err(StoreError::CorruptRecord { cf, reason, .. }) => {
                assert_eq!(cf, "doc_index");
                assert!(reason.contains("holds"), "{reason}");
            }
            other => panic!("expected a damaged index entry, got {other:?}"),
        }
    }
    let copy = dir.path().join("copy");
    let salvaged = Store::salvage(&path, &copy).unwrap();
    assert!(salvaged.lost_documents.is_empty(), "{salvaged:?}");
    assert_eq!(salvaged.documents, docs.len() as u64);
    let store = Store::open(&copy, StoreOptions::default()).unwrap();
    for d in &docs {
        let got = store.get(&d.fn_number, d.fd).unwrap().expect("document");
        assert_eq!(got.raw, d.raw.to_vec());
        // The rebuilt index serves the duplicate check too.
        assert!(matches!(
            store.put_blocking(d.clone()).unwrap(),
            PutOutcome::Duplicate { .. }
        ));
    }
    for i in 0..10 {
        assert_eq!(fds_of(&store, i), [1, 2, 3], "documents of drive {i}");
    }
}

/// The FD numbers `docs_of_fn` streams for drive `i`.
fn fds_of(store: &Store, i: u64) -> Vec<u32> {
    store
        .docs_of_fn(&fn_n(i), 0..=u32::MAX)
        .unwrap()
        .map(|d| d.unwrap().key.fd)
        .collect()
}

/// The document log's dictionary buffer is bounded after open (`options::set_after_open`), and
/// doing so leaves the rest of its compression options as the store set them.
#[test]
fn the_log_s_dictionary_buffer_is_bounded_and_its_codec_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.put_blocking(doc(fn_n(1), 1, None, T0, 0)).unwrap();
    let db = dir.path().join("db");
    let newest = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("OPTIONS-"))
        .max_by_key(|n| n["OPTIONS-".len()..].parse::<u64>().unwrap_or(0))
        .expect("an OPTIONS file");
    let text = std::fs::read_to_string(db.join(newest)).unwrap();
    let section = text
        .split("[CFOptions \"doc_log\"]")
        .nth(1)
        .expect("doc_log's options")
        .split("\n[")
        .next()
        .unwrap();
    for name in ["compression_opts", "bottommost_compression_opts"] {
        let line = section
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {section}"));
        let fields: Vec<&str> = line[name.len() + 1..]
            .trim_matches(|c| c == '{' || c == '}')
            .split(';')
            .collect();
        for field in [
            "max_dict_buffer_bytes=8388608",
            "max_dict_bytes=16384",
            "level=3",
        ] {
            assert!(fields.contains(&field), "{field} in {line}");
        }
    }
    let compression = section
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("compression_per_level="))
        .unwrap();
    assert_eq!(compression.matches("kZSTD").count(), 7, "{compression}");
}
