//! Cost of tenancy: the per-request credential checks, and a taxpayer's register list among a
//! national registry.
//!
//! Populates REGISTERS registers (default 1,000,000) spread over ORGS organisations (default
//! 100,000) with `sync = false` (this bench is about reading), then times, each many times:
//! - `Authenticator::api_key` (parse, one point read, SHA-256, constant-time compare);
//! - `Authenticator::session` (hash, two point reads, validity);
//! - `Scoped::list_kkt` for a random taxpayer (the first page of its registers, via the owner
//!   index) against the operator's unscoped first page;
//! - `Scoped::liveness_counts` for a taxpayer.
//!
//! `cargo bench -p ofd-benches --bench tenancy` (env: REGISTERS, ORGS, OFD_BENCH_DIR).

use std::time::{Duration, Instant};

use ofd_store::accounts::auth::{AuthPolicy, Authenticator};
use ofd_store::accounts::{KeyScope, NewUser, Org, OrgKind, Role};
use ofd_store::{ConnectionType, KktFilter, KktStatus, NewKkt, Rn, Scope, Store, StoreOptions};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// p50 and p99 of `runs` timed calls.
fn percentiles(runs: usize, mut f: impl FnMut(usize)) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let t = Instant::now();
        f(i);
        times.push(t.elapsed());
    }
    times.sort();
    (times[runs / 2], times[runs * 99 / 100])
}

fn inn_of(org: usize) -> String {
    format!("{:010}", 1_000_000_000 + org)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let registers = env_usize("REGISTERS", 1_000_000);
    let orgs = env_usize("ORGS", 100_000).max(1);
    let base = std::env::var("OFD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let store = Store::open(
        dir.path().join("db"),
        StoreOptions {
            sync: false,
            ..StoreOptions::default()
        },
    )
    .expect("open");
    let now = 1_700_000_000u64;

    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..registers {
        let rn = Rn::new(format!("{:016}", 1_000_000_000 + i).as_bytes()).expect("rn");
        pending.push_back(store.register(
            NewKkt {
                rn,
                kkt_serial: format!("{i:016}"),
                fn_number: None,
                user_inn: inn_of(i % orgs),
                user_name: format!("ООО Ромашка-{}", i % orgs),
                address: String::new(),
                place: format!("Магазин №{}", i % 7),
                connection: ConnectionType::Sim,
                tariff: String::new(),
                status: KktStatus::Registered,
                encrypted: false,
            },
            now,
        ));
        if pending.len() > 4096 {
            pending.pop_front().unwrap().wait().expect("register");
        }
    }
    for p in pending {
        p.wait().expect("register");
    }
    println!(
        "populated {registers} registers of {orgs} organisations in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let auth = Authenticator::new(store.clone(), AuthPolicy::default());
    store
        .create_org(Org {
            inn: inn_of(0),
            name: "bench".into(),
            kind: OrgKind::Taxpayer,
            created_at: now,
        })
        .wait()
        .expect("org");
    let key = store
        .create_api_key(
            inn_of(0),
            KeyScope::Read,
            vec![],
            String::new(),
            "bench".into(),
            now,
        )
        .wait()
        .expect("key");
    store
        .create_user(
            NewUser {
                login: "bench@ofd.test".into(),
                name: "bench".into(),
                org: inn_of(0),
                role: Role::Viewer,
                places: vec![],
                registers: vec![],
            },
            now,
        )
        .wait()
        .expect("user");
    let session = store
        .create_session("bench@ofd.test".into(), now)
        .wait()
        .expect("session");

    let runs = 20_000;
    let (p50, p99) = percentiles(runs, |_| {
        assert!(auth.api_key(&key.text, now).unwrap().is_some());
    });
    println!("api key check: p50 {p50:?}, p99 {p99:?} ({runs} calls)");
    let (p50, p99) = percentiles(runs, |_| {
        assert!(auth.session(&session.token, now).unwrap().is_some());
    });
    println!("session check: p50 {p50:?}, p99 {p99:?} ({runs} calls)");

    let filter = KktFilter {
        limit: 100,
        ..KktFilter::default()
    };
    let runs = 2_000;
    let mut seen = 0usize;
    let (p50, p99) = percentiles(runs, |i| {
        let org = (i * 7919) % orgs;
        let scope = Scope::orgs([inn_of(org)]);
        seen += store.scoped(&scope).list_kkt(&filter).unwrap().items.len();
    });
    println!(
        "taxpayer's register list (first page, {} registers each on average): p50 {p50:?}, p99 {p99:?} ({runs} taxpayers)",
        seen / runs
    );
    let all = Scope::all();
    let (p50, p99) = percentiles(200, |_| {
        assert_eq!(
            store.scoped(&all).list_kkt(&filter).unwrap().items.len(),
            100.min(registers)
        );
    });
    println!("operator's register list (first page of 100): p50 {p50:?}, p99 {p99:?}");
    let (p50, p99) = percentiles(runs, |i| {
        let scope = Scope::orgs([inn_of((i * 104_729) % orgs)]);
        store
            .scoped(&scope)
            .liveness_counts(now, 86_400, 3 * 86_400)
            .unwrap();
    });
    println!("taxpayer's liveness counts: p50 {p50:?}, p99 {p99:?}");
}
