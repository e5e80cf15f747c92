//! Every page of the portal against a national registry (issue 19, requirement 6).
//!
//! Loads a store directly through `ofd_store`'s own write APIs (the committer, so the layout is
//! the real one): REGISTERS Russian registers spread over ORGS organisations, of which one "big"
//! organisation holds BIG registers and one small taxpayer three; DOCS documents over them (real
//! messages built by `ofd-load`'s fleet, parsed and validated, so receipts render); their
//! liveness records (the committer keeps them); KZ Kazakh registers; REQUESTS wired-connection
//! requests. Then builds the portal's router in-process (`ofd_portal::router`) and requests every
//! GET page with `tower::ServiceExt::oneshot` as the small taxpayer's admin, the big
//! organisation's admin and the operator's staff, RUNS times each, against the same plan on an
//! empty-ish store (the same principals and a handful of objects) and on the loaded one.
//!
//! Env: REGISTERS (2000), DOCS (20000), ORGS (REGISTERS/10), BIG (min(10000, REGISTERS/4)),
//! KZ (max(8, REGISTERS/200)), REQUESTS (max(4, REGISTERS/100)), RUNS (30),
//! OFD_BENCH_STORE (a directory to keep the loaded store in and reuse when its plan matches;
//! default a temporary directory, deleted at the end), OFD_BENCH_DIR (where temporary
//! directories go). Run the executable `cargo build --release --workspace --all-targets` built
//! with `--bench`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ofd_load::fleet::Register;
use ofd_portal::{BoxFuture, KzCard, Portal, PortalConfig, SESSION_COOKIE, Services};
use ofd_proto::builder::build_message;
use ofd_proto::doctype::DocType;
use ofd_proto::message::parse_message;
use ofd_proto::validate::{ValidationConfig, validate};
use ofd_store::accounts::auth::{AuthPolicy, Authenticator};
use ofd_store::accounts::{LinkPurpose, NewConnectionRequest, NewUser, Org, OrgKind, Role, Tariff};
use ofd_store::{
    ConnectionType, DocFlags, FnNumber, KktStatus, KzWrite, NewDocument, NewKkt, Outcome, Owner,
    Rn, Scope, Scoped, Store, StoreOptions,
};
use tower::ServiceExt;

/// Noon UTC, 2026-12-08: the portal's clock.
const NOW: u64 = 1_796_601_600 + 86_400 + 43_200;
const SEED: u64 = 19;
const OPERATOR: &str = "7704358518";
/// Documents of each showcase register (the ones whose pages are read), all today.
const SHOWCASE_DOCS: usize = 300;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a store holds, deterministically: loading it writes this; reopening recomputes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    registers: usize,
    docs: usize,
    orgs: usize,
    big: usize,
    kz: usize,
    requests: usize,
}

const SMALL_REGS: usize = 3;

impl Plan {
    fn describe(&self) -> String {
        format!(
            "layout=2 registers={} docs={} orgs={} big={} kz={} requests={}",
            self.registers, self.docs, self.orgs, self.big, self.kz, self.requests
        )
    }

    /// Every `stride`-th register belongs to the big organisation (so its registers are spread
    /// over the registry, as a real chain's are), the last three to the small taxpayer.
    fn stride(&self) -> usize {
        (self.registers.saturating_sub(SMALL_REGS) / self.big.max(1)).max(1)
    }

    fn is_small(&self, i: usize) -> bool {
        i >= self.registers - SMALL_REGS
    }

    fn is_big(&self, i: usize) -> bool {
        !self.is_small(i) && i.is_multiple_of(self.stride()) && i / self.stride() < self.big
    }

    /// The small taxpayer's first register.
    fn small_first(&self) -> usize {
        self.registers - SMALL_REGS
    }

    /// Register `i`'s organisation.
    fn org_of(&self, i: usize) -> String {
        if self.is_big(i) {
            big_inn()
        } else if self.is_small(i) {
            small_inn()
        } else {
            inn_of(i % self.orgs.max(1))
        }
    }

    fn is_showcase(&self, i: usize) -> bool {
        i == 0 || i == self.small_first()
    }

    /// Documents of register `i` (the bulk spread evenly, showcase registers fixed).
    fn docs_of(&self, i: usize) -> usize {
        if self.is_showcase(i) {
            return SHOWCASE_DOCS;
        }
        let bulk = self.docs.saturating_sub(2 * SHOWCASE_DOCS);
        let others = self.registers.saturating_sub(2).max(1);
        bulk / others + usize::from(i % others < bulk % others)
    }
}

fn inn_of(org: usize) -> String {
    format!("{:010}", 1_000_000_000 + org)
}
fn big_inn() -> String {
    "7800000001".into()
}
fn small_inn() -> String {
    "5000000002".into()
}

/// What the pages are asked about.
#[derive(Clone, Debug)]
struct Targets {
    small_rn: String,
    big_rn: String,
    small_receipt: (String, u32),
    big_receipt: (String, u32),
    check_hit: String,
    check_miss: String,
    small_kz: u32,
    big_kz: u32,
    /// A cursor in the middle of each principal's list.
    small_mid: String,
    big_mid: String,
    all_mid: String,
}

struct Loaded {
    store: Store,
    targets: Targets,
    sessions: Vec<(&'static str, String)>,
    load_secs: f64,
}

fn rn_of(reg: &Register) -> Rn {
    Rn::new(&reg.id.rn).expect("rn")
}

fn civil(secs: u64) -> (u64, u64, u64, u64, u64) {
    // Howard Hinnant's days → civil date.
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let sod = secs % 86_400;
    (y as u64, m as u64, d as u64, sod / 3600, sod % 3600 / 60)
}

/// The `/check` query of a stored receipt, from its FNS JSON (what its QR code carries).
fn check_query(store: &Store, fn_number: &str, fd: u32) -> (String, String) {
    let f = FnNumber::new(fn_number.as_bytes()).expect("fn");
    let doc = store.get(&f, fd).expect("get").expect("stored receipt");
    let msg = parse_message(&doc.raw).expect("parse");
    let json = ofd_proto::json::message_to_fns_json(&msg).expect("json");
    let body = json.get("receipt").expect("a receipt");
    let int = |k: &str| body.get(k).and_then(serde_json::Value::as_i64).expect(k);
    let (y, mo, d, h, mi) = civil(int("dateTime") as u64);
    let q = |total: i64| {
        format!(
            "/check?t={y:04}{mo:02}{d:02}T{h:02}{mi:02}&s={}.{:02}&fn={fn_number}&i={fd}&fp={}&n={}",
            total / 100,
            total % 100,
            int("fiscalSign"),
            int("operationType")
        )
    };
    // A miss: the same receipt with a sum one kopeck off.
    (q(int("totalSum")), q(int("totalSum") + 1))
}

fn open(dir: &Path) -> Store {
    Store::open(
        dir,
        StoreOptions {
            sync: false,
            ..StoreOptions::default()
        },
    )
    .expect("open store")
}

/// Writes `plan` into an empty store.
fn load(store: &Store, plan: &Plan) {
    let started = Instant::now();
    let now = NOW;
    for (inn, name, kind) in [
        (OPERATOR.to_string(), "ОФД", OrgKind::Operator),
        (big_inn(), "ООО Большая сеть", OrgKind::Taxpayer),
        (small_inn(), "ИП Маленький", OrgKind::Taxpayer),
    ] {
        store
            .create_org(Org {
                inn,
                name: name.into(),
                kind,
                created_at: now - 400 * 86_400,
            })
            .wait()
            .expect("org");
    }
    store
        .put_tariff(Tariff {
            code: "base".into(),
            name: "Базовый".into(),
            monthly_price: 150_000,
        })
        .wait()
        .expect("tariff");

    // Registers: one committer op each, pipelined.
    let mut pending = std::collections::VecDeque::new();
    for i in 0..plan.registers {
        let reg = Register::new(SEED, i);
        let inn = plan.org_of(i);
        let (name, place) = if plan.is_big(i) {
            (
                "ООО Большая сеть".to_string(),
                format!("Точка {}", i / plan.stride() % 50),
            )
        } else if plan.is_small(i) {
            ("ИП Маленький".to_string(), "Магазин у дома".to_string())
        } else {
            (format!("ООО Ромашка-{inn}"), format!("Магазин №{}", i % 7))
        };
        pending.push_back(store.register(
            NewKkt {
                rn: rn_of(&reg),
                kkt_serial: format!("{i:016}"),
                fn_number: Some(FnNumber::new(&reg.id.fn_number).expect("fn")),
                user_inn: inn,
                user_name: name,
                address: format!("г. Москва, ул. Ленина, д. {}", i % 200),
                place,
                connection: if i.is_multiple_of(10) {
                    ConnectionType::Wired
                } else {
                    ConnectionType::Sim
                },
                tariff: "base".into(),
                status: KktStatus::Registered,
                encrypted: false,
            },
            now - 200 * 86_400,
        ));
        if pending.len() > 4096 {
            pending.pop_front().unwrap().wait().expect("register");
        }
    }
    for p in pending.drain(..) {
        p.wait().expect("register");
    }
    println!(
        "  registers: {} in {:.1} s",
        plan.registers,
        started.elapsed().as_secs_f64()
    );

    // Documents: each register's own sequence (shift open, receipts, …), parsed and validated
    // like the daemon does, its last document 0–3 days old (so every colour appears).
    let t = Instant::now();
    let cfg = ValidationConfig::default();
    let mut buf = Vec::new();
    let mut pending = std::collections::VecDeque::new();
    let mut stored = 0usize;
    let mut last_report = Instant::now();
    for i in 0..plan.registers {
        let n = plan.docs_of(i);
        if n == 0 {
            continue;
        }
        let mut reg = Register::new(SEED, i);
        let rn = rn_of(&reg);
        let (last, step) = if plan.is_showcase(i) {
            (NOW as u32 - 60, 97)
        } else {
            (NOW as u32 - (i % 7) as u32 * 43_200 - 600, 90)
        };
        for k in 0..n {
            let time = last - (n - 1 - k) as u32 * step;
            let spec = reg.next_spec(time);
            buf.clear();
            build_message(&reg.id, &spec, &mut buf).expect("build");
            let msg = parse_message(&buf).expect("parse");
            let d = validate(&msg, &cfg, time).expect("valid");
            let doc = NewDocument {
                fn_number: FnNumber::new(&d.fn_number).expect("fn"),
                fd: d.fd_number,
                rn: Some(rn),
                received_at_ms: u64::from(time) * 1000 + 900,
                doc_type: d.doc_type.as_u8(),
                ffd: d.ffd.tag_value(),
                outcome: Outcome::Accepted,
                flags: DocFlags::default(),
                doc_time: d.time.unwrap_or(time),
                shift: d.shift_number,
                health: None,
                settlement: d
                    .settlement
                    .zip(d.total_sum)
                    .map(|(kind, total)| ofd_store::Settlement { kind, total }),
                raw: bytes::Bytes::copy_from_slice(&buf),
                ack: bytes::Bytes::new(),
            };
            pending.push_back(store.put(doc));
            if pending.len() > 8192 {
                pending.pop_front().unwrap().wait().expect("put");
            }
            stored += 1;
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            last_report = Instant::now();
            println!(
                "  documents: {stored} after {:.0} s ({:.0}/s)",
                t.elapsed().as_secs_f64(),
                stored as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    for p in pending.drain(..) {
        p.wait().expect("put");
    }
    println!(
        "  documents: {stored} in {:.1} s ({:.0}/s)",
        t.elapsed().as_secs_f64(),
        stored as f64 / t.elapsed().as_secs_f64()
    );

    // Kazakh registers: the small taxpayer's first, then five of the big organisation's,
    // the rest spread; the small one's has an exchange log.
    let t = Instant::now();
    for j in 0..plan.kz {
        let inn = match j {
            0 => small_inn(),
            1..=5 => big_inn(),
            _ => inn_of(j % plan.orgs.max(1)),
        };
        let owner = Owner {
            inn: inn.clone(),
            place: String::new(),
        };
        let state = format!("{inn}\tТОО Касса-{j}\tг. Алматы, пр. Абая, {j}").into_bytes();
        let id = store
            .kz_create(NOW * 1000, &owner, |_| state)
            .expect("kz register");
        if j == 0 {
            for n in 0..20u32 {
                store
                    .kz_commit(KzWrite {
                        system_id: id,
                        state: None,
                        request: bytes::Bytes::from_static(&[0u8; 64]),
                        answer: bytes::Bytes::from_static(&[0u8; 32]),
                        received_at_ms: (NOW - 3600 + u64::from(n) * 60) * 1000,
                        command: 1,
                        code: 0,
                        ticket_number: Some(u64::from(n) + 1),
                        shift: Some(1),
                        doc_time: Some(NOW as u32 - 3600 + n * 60),
                        export: false,
                        registration_number: None,
                        replicated: None,
                    })
                    .wait()
                    .expect("kz exchange");
            }
        }
    }
    println!(
        "  kz registers: {} in {:.1} s",
        plan.kz,
        t.elapsed().as_secs_f64()
    );

    // Wired-connection requests: the big and small organisations' and the nation's.
    let t = Instant::now();
    let all = Scope::all();
    let mut pending = std::collections::VecDeque::new();
    for j in 0..plan.requests {
        let i = match j {
            0 => plan.small_first(),
            1 => 0,
            _ => (j * 7919) % plan.registers,
        };
        let reg = Register::new(SEED, i);
        pending.push_back(store.scoped(&all).request_connection(
            NewConnectionRequest {
                register: rn_of(&reg).as_str().to_string(),
                date: "2026-12-10".into(),
                time: "10:00".into(),
                contact: "Иванов".into(),
                phone: "+7 900 000-00-00".into(),
                comment: String::new(),
            },
            "bench@ofd.test".into(),
            now,
        ));
        if pending.len() > 1024 {
            pending.pop_front().unwrap().wait().expect("request");
        }
    }
    for p in pending.drain(..) {
        p.wait().expect("request");
    }
    println!(
        "  connection requests: {} in {:.1} s",
        plan.requests,
        t.elapsed().as_secs_f64()
    );

    for (login, org, role) in [
        ("staff@ofd.test", OPERATOR.to_string(), Role::Staff),
        ("admin@big.test", big_inn(), Role::Admin),
        ("admin@small.test", small_inn(), Role::Admin),
    ] {
        store
            .create_user(
                NewUser {
                    login: login.into(),
                    name: login.into(),
                    org,
                    role,
                    places: vec![],
                    registers: vec![],
                },
                now - 86_400,
            )
            .wait()
            .expect("user");
    }
}

/// The registers' RNs in RN order (what a list pages through), per principal.
fn targets(store: &Store, plan: &Plan) -> Targets {
    let mut small = Vec::new();
    let mut big = Vec::new();
    let mut all = Vec::with_capacity(plan.registers);
    for i in 0..plan.registers {
        let rn = Rn::new(&Register::new(SEED, i).id.rn).expect("rn");
        let s = rn.as_str().to_string();
        if plan.is_big(i) {
            big.push(s.clone());
        } else if plan.is_small(i) {
            small.push(s.clone());
        }
        all.push(s);
    }
    let small_rn = Rn::new(&Register::new(SEED, plan.small_first()).id.rn)
        .expect("rn")
        .as_str()
        .to_string();
    let big_rn = Rn::new(&Register::new(SEED, 0).id.rn)
        .expect("rn")
        .as_str()
        .to_string();
    small.sort();
    big.sort();
    all.sort();
    let receipt = |i: usize| {
        let reg = Register::new(SEED, i);
        let f = FnNumber::new(&reg.id.fn_number).expect("fn");
        // The first receipt among the register's first documents.
        for fd in 2..20 {
            if let Some(d) = store.get(&f, fd).expect("get")
                && d.header.doc_type == DocType::Receipt.as_u8()
            {
                return (f.as_str().to_string(), fd);
            }
        }
        panic!("no receipt among register {i}'s first documents");
    };
    let small_receipt = receipt(plan.small_first());
    let big_receipt = receipt(0);
    let (check_hit, check_miss) = check_query(store, &small_receipt.0, small_receipt.1);
    let first_kz = ofd_store::FIRST_SYSTEM_ID;
    Targets {
        small_rn,
        big_rn,
        small_receipt,
        big_receipt,
        check_hit,
        check_miss,
        small_kz: first_kz,
        big_kz: first_kz + 1,
        small_mid: small[small.len() / 2].clone(),
        big_mid: big[big.len() / 2].clone(),
        all_mid: all[all.len() / 2].clone(),
    }
}

fn plan_file(dir: &Path) -> PathBuf {
    dir.join("bench-plan.txt")
}

/// A store holding `plan`: reopened from `dir` when it was loaded with this plan, else loaded.
fn prepare(dir: &Path, plan: &Plan) -> Loaded {
    let started = Instant::now();
    let reuse = std::fs::read_to_string(plan_file(dir)).is_ok_and(|p| p.trim() == plan.describe());
    let store = if reuse {
        println!(
            "reopening the store in {} ({})",
            dir.display(),
            plan.describe()
        );
        open(&dir.join("db"))
    } else {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("store dir");
        println!("loading {} into {}", plan.describe(), dir.display());
        let store = open(&dir.join("db"));
        load(&store, plan);
        store.flush().expect("flush");
        std::fs::write(plan_file(dir), plan.describe()).expect("plan file");
        store
    };
    let load_secs = started.elapsed().as_secs_f64();
    println!(
        "  {} in {load_secs:.1} s",
        if reuse { "reopened" } else { "loaded" }
    );
    let targets = targets(&store, plan);
    let mut sessions = Vec::new();
    for (who, login) in [
        ("small taxpayer's admin", "admin@small.test"),
        ("big organisation's admin", "admin@big.test"),
        ("operator's staff", "staff@ofd.test"),
    ] {
        let s = store
            .create_session(login.into(), NOW)
            .wait()
            .expect("session");
        sessions.push((who, s.token));
    }
    Loaded {
        store,
        targets,
        sessions,
        load_secs,
    }
}

/// What only the daemon provides, for the bench's in-process portal (its store for the ticket
/// check's index).
struct BenchServices(Store);

impl Services for BenchServices {
    fn now(&self) -> u64 {
        NOW
    }

    fn mail_link<'a>(
        &'a self,
        _to: &'a str,
        _url: &'a str,
        _purpose: LinkPurpose,
    ) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async { Ok(false) })
    }

    fn kz_card(&self, scoped: &Scoped<'_>, system_id: u32) -> Result<Option<KzCard>, String> {
        let Some(rec) = scoped.kkm(system_id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let state = String::from_utf8_lossy(&rec.state);
        let mut parts = state.split('\t');
        Ok(Some(KzCard {
            system_id,
            org_inn: parts.next().unwrap_or_default().into(),
            org_name: parts.next().unwrap_or_default().into(),
            address: parts.next().unwrap_or_default().into(),
            serial: format!("KZ{system_id}"),
            status: "active".into(),
            next_ticket_number: rec.log_next,
            shift_open: Some(1),
            last_shift_number: 1,
        }))
    }

    fn kz_ticket(
        &self,
        registration_number: &str,
        ticket_number: u64,
    ) -> Result<Option<ofd_portal::KzTicket>, String> {
        // The daemon's own decoding, against this store.
        ofdd::kz_view::ticket(&self.0, registration_number, ticket_number)
    }

    fn kz_exchange(&self, entry: &ofd_store::KzLogEntry) -> ofd_portal::KzExchange {
        ofdd::kz_view::exchange(entry)
    }

    fn kz_issue_token<'a>(
        &'a self,
        _scoped: &'a Scoped<'a>,
        _system_id: u32,
    ) -> BoxFuture<'a, Result<Option<u32>, String>> {
        Box::pin(async { Ok(None) })
    }
}

fn router(store: &Store) -> Router {
    let auth = Arc::new(Authenticator::new(store.clone(), AuthPolicy::default()));
    let config = PortalConfig {
        checks_per_minute: 1_000_000,
        ..PortalConfig::default()
    };
    ofd_portal::router(Portal::new(
        store.clone(),
        auth,
        config,
        Arc::new(BenchServices(store.clone())),
    ))
}

/// Every GET page a principal is asked for: (label, path, expected status).
fn pages(who: usize, t: &Targets) -> Vec<(String, String, StatusCode)> {
    let ok = StatusCode::OK;
    let (rn, receipt, kz, mid, org_q) = match who {
        0 => (&t.small_rn, &t.small_receipt, t.small_kz, &t.small_mid, ""),
        1 => (&t.big_rn, &t.big_receipt, t.big_kz, &t.big_mid, ""),
        _ => (
            &t.big_rn,
            &t.big_receipt,
            t.big_kz,
            &t.all_mid,
            "?inn=7800000001",
        ),
    };
    let place = match who {
        0 => "у дома",
        1 => "Точка 7",
        _ => "Магазин №3",
    };
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let (f, fd) = receipt;
    let mut v = vec![
        ("monitoring", "/monitoring".to_string()),
        ("registers, first page", "/registers".into()),
        ("registers, cursor page", format!("/registers?after={mid}")),
        (
            "registers, place + status filter",
            format!("/registers?place={}&status=registered", enc(place)),
        ),
        ("registers, name filter (miss)", "/registers?q=zzz".into()),
        ("registers.csv", "/registers.csv".into()),
        ("register card", format!("/registers/{rn}")),
        ("documents, today", format!("/registers/{rn}/documents")),
        (
            "documents, shift 1",
            format!("/registers/{rn}/documents?shift=1"),
        ),
        ("receipt", format!("/documents/{f}/{fd}")),
        ("receipt JSON", format!("/documents/{f}/{fd}/json")),
        ("receipt raw", format!("/documents/{f}/{fd}/raw")),
        ("shift reports", format!("/registers/{rn}/reports")),
        ("kz card", format!("/kz/{kz}")),
        ("requests", "/requests".into()),
        ("tariffs", "/tariffs".into()),
        ("organisation", format!("/organisation{org_q}")),
        ("statement", format!("/organisation/statement{org_q}")),
        (
            "notifications",
            format!("/organisation/notifications{org_q}"),
        ),
    ];
    if who == 0 {
        v.push(("check (hit)", t.check_hit.clone()));
        v.push(("check (miss)", t.check_miss.clone()));
    }
    v.into_iter()
        .map(|(l, p)| {
            let status = if l == "check (miss)" {
                StatusCode::NOT_FOUND
            } else {
                ok
            };
            (l.to_string(), p, status)
        })
        .collect()
}

/// Median and p99 of `runs` requests (after two warm-up requests), and the body size.
async fn time_page(
    app: &Router,
    token: &str,
    path: &str,
    want: StatusCode,
    runs: usize,
) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for i in 0..runs + 2 {
        let req = Request::get(path)
            .header(header::COOKIE, format!("{SESSION_COOKIE}={token}"))
            .body(Body::empty())
            .expect("request");
        let t = Instant::now();
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let elapsed = t.elapsed();
        if status != want {
            panic!(
                "{path}: {status} (wanted {want}): {}",
                String::from_utf8_lossy(&body[..body.len().min(600)])
            );
        }
        size = body.len();
        if i >= 2 {
            times.push(elapsed);
        }
    }
    times.sort();
    (
        times[times.len() / 2],
        times[(times.len() * 99 / 100).min(times.len() - 1)],
        size,
    )
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let registers = env_usize("REGISTERS", 2000).max(20);
    let plan = Plan {
        registers,
        docs: env_usize("DOCS", 20_000),
        orgs: env_usize("ORGS", registers / 10).max(1),
        big: env_usize("BIG", (registers / 4).min(10_000)).max(1),
        kz: env_usize("KZ", (registers / 200).max(8)),
        requests: env_usize("REQUESTS", (registers / 100).max(4)),
    };
    // The same principals and a handful of objects: enough registers for the big
    // organisation's first page to be full (so list pages render the same rows). With
    // `BASELINE=org` the baseline holds the big organisation whole (its `BIG` registers, about
    // ten documents each) and nothing of the rest of the registry: then a ratio says what the
    // national registry and log cost a page, apart from the organisation's own size.
    let empty_plan = if std::env::var("BASELINE").as_deref() == Ok("org") {
        let registers = plan.big + 20;
        Plan {
            registers,
            docs: 2 * SHOWCASE_DOCS + registers * 10,
            orgs: 4,
            big: plan.big,
            kz: 8,
            requests: 4,
        }
    } else {
        Plan {
            registers: 80,
            docs: 2 * SHOWCASE_DOCS + 780,
            orgs: 4,
            big: 60,
            kz: 8,
            requests: 4,
        }
    };
    let runs = env_usize("RUNS", 30).max(1);
    let base = std::env::var("OFD_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let tmp = tempfile::tempdir_in(&base).expect("temp dir");
    let kept = std::env::var("OFD_BENCH_STORE").ok().map(PathBuf::from);
    let loaded_dir = kept.clone().unwrap_or_else(|| tmp.path().join("loaded"));

    let empty = prepare(&tmp.path().join("empty"), &empty_plan);
    let loaded = prepare(&loaded_dir, &plan);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let apps = [router(&empty.store), router(&loaded.store)];
    println!();
    println!(
        "loaded store: {} ({} in {:.1} s); RUNS={runs}",
        plan.describe(),
        if kept.is_some() { "kept" } else { "temporary" },
        loaded.load_secs
    );
    println!();
    println!(
        "| who | page | empty p50 ms | empty p99 ms | loaded p50 ms | loaded p99 ms | ratio p50 | ratio p99 | bytes (loaded) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for who in 0..3 {
        let pe = pages(who, &empty.targets);
        let pl = pages(who, &loaded.targets);
        for ((label, path_e, want), (_, path_l, _)) in pe.iter().zip(&pl) {
            let (e50, e99, _) = rt.block_on(time_page(
                &apps[0],
                &empty.sessions[who].1,
                path_e,
                *want,
                runs,
            ));
            let (l50, l99, size) = rt.block_on(time_page(
                &apps[1],
                &loaded.sessions[who].1,
                path_l,
                *want,
                runs,
            ));
            println!(
                "| {} | {label} | {} | {} | {} | {} | {:.1} | {:.1} | {size} |",
                empty.sessions[who].0,
                ms(e50),
                ms(e99),
                ms(l50),
                ms(l99),
                l50.as_secs_f64() / e50.as_secs_f64(),
                l99.as_secs_f64() / e99.as_secs_f64(),
            );
        }
    }
    drop(apps);
    empty.store.close();
    loaded.store.close();
}
