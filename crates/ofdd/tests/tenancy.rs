//! Accounts and tenancy over real HTTP, a real daemon and real RocksDB: every `/api/v1` route
//! (walked from the router's own route table) against every kind of principal, each getting
//! exactly what its scope allows; another tenant's documents and tickets unreachable by every
//! path; sign-in throttling, lockout and unlock; one-time links; sessions ended by a password
//! change; and every change in the audit log.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::kz::KzLink;
use common::*;
use ofd_kz::builder::{Kkm, TicketSpec};
use ofd_kz::time::LocalDateTime;
use ofd_proto::ack::ResponseCode;
use ofdd::admin::routes::api_routes;
use serde_json::{Value, json};

/// Numbers valid both as a Russian 12-digit INN and as a Kazakh IIN/BIN, so one organisation
/// owns a KKT and a KKM.
const A: &str = "772998649896";
const B: &str = "779857229651";
const P: &str = "774605474247";
const Q: &str = "774227875840";
const OP: &str = "7704358518";
const PASSWORD: &str = "a long enough password";

/// A caller: a bearer token, or a session cookie with its CSRF token, or nothing.
#[derive(Clone, Debug)]
enum Cred {
    Bearer(String),
    Session { cookie: String, csrf: String },
    None,
}

#[derive(Clone)]
struct Http {
    base: String,
}

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Http {
    async fn call(&self, cred: &Cred, method: &str, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{}", self.base, path);
        let cred = cred.clone();
        let method = method.to_string();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into();
            let mut req = ureq::http::Request::builder()
                .method(method.as_str())
                .uri(&url);
            match &cred {
                Cred::Bearer(t) => req = req.header("Authorization", format!("Bearer {t}")),
                Cred::Session { cookie, csrf } => {
                    req = req
                        .header("Cookie", format!("ofdd_session={cookie}"))
                        .header("X-CSRF-Token", csrf.as_str())
                }
                Cred::None => {}
            }
            let resp = match body {
                Some(b) => agent.run(
                    req.header("Content-Type", "application/json")
                        .body(serde_json::to_vec(&b).unwrap())
                        .unwrap(),
                ),
                None => agent.run(req.body(Vec::<u8>::new()).unwrap()),
            };
            let mut resp = resp.expect("HTTP request");
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let body = resp
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .unwrap_or_default();
            Answer {
                status,
                headers,
                body,
            }
        })
        .await
        .unwrap()
    }
}

fn root() -> Cred {
    Cred::Bearer(TOKEN.to_string())
}

/// Creates a user through `admin`, sets its password from the one-time link, signs it in.
async fn user(http: &Http, admin: &Cred, org: &str, login: &str, role: &str) -> Cred {
    let r = http
        .call(
            admin,
            "POST",
            &format!("/api/v1/organisations/{org}/users"),
            Some(json!({ "login": login, "name": login, "role": role })),
        )
        .await;
    assert_eq!(r.status, 201, "{login}: {}", r.text());
    let token = r.json()["set_password"]["token"]
        .as_str()
        .expect("the link is shown once without SMTP")
        .to_string();
    let set = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/password/set",
            Some(json!({ "token": token, "password": PASSWORD })),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    login_as(http, login).await
}

async fn login_as(http: &Http, login: &str) -> Cred {
    let r = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/session",
            Some(json!({ "login": login, "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, 200, "{login}: {}", r.text());
    let cookie = r.headers["set-cookie"].clone();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let value = cookie
        .strip_prefix("ofdd_session=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    Cred::Session {
        cookie: value,
        csrf: r.json()["csrf"].as_str().unwrap().to_string(),
    }
}

async fn org(http: &Http, inn: &str, kind: &str) {
    let r = http
        .call(
            &root(),
            "POST",
            "/api/v1/organisations",
            Some(json!({ "inn": inn, "name": format!("Org {inn}"), "kind": kind })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
}

/// The organisation's name as its registers carry it ("Альфа" for A, "Бета" for B…): a marker
/// that must not reach another tenant.
fn org_name(inn: &str) -> &'static str {
    match inn {
        A => "Альфа",
        B => "Бета",
        _ => "Прочие",
    }
}

fn kkt_body(k: &Kkt) -> Value {
    let inn = String::from_utf8_lossy(&k.id.user_inn).into_owned();
    json!({
        "rn": k.rn_str(), "serial": String::from_utf8_lossy(&k.id.kkt_serial), "fn": k.fn_str(),
        "inn": inn, "name": format!("ООО {}", org_name(&inn)),
        "place": "Магазин №1", "connection": "sim",
    })
}

fn kkm_body(inn: &str, serial: &str) -> Value {
    json!({
        "registration_number": "010100012345", "serial": serial, "iin_bin": inn,
        "name": format!("ТОО «{}»", org_name(inn)), "pos_address": "Алматы, пр. Абая, 1",
    })
}

/// The world the matrix runs in.
struct World {
    http: Http,
    creds: Vec<(&'static str, Cred)>,
    a1: Kkt,
    a1_fd: u32,
    a2: Kkt,
    ka1: u32,
    key_to_revoke: String,
}

/// What a principal may do with tenant A's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// 2xx (or 409: allowed, but the object is in a state that refuses it).
    Allowed,
    Forbidden,
    Hidden,
    Unauthenticated,
    /// 422 naming the organisation field.
    OutOfScope,
    /// Some other specific status (documented per route).
    Status(u16),
}

fn classify(status: u16) -> Class {
    match status {
        200..=299 | 409 => Class::Allowed,
        401 => Class::Unauthenticated,
        403 => Class::Forbidden,
        404 => Class::Hidden,
        422 => Class::OutOfScope,
        s => Class::Status(s),
    }
}

async fn setup() -> (TestDaemon, World) {
    let t = TestDaemon::start_with(|c| {
        // Generous: the matrix signs in a dozen users from one address.
        c.accounts.attempts_per_address = 1000;
    })
    .await;
    let http = Http {
        base: format!("http://{}", t.d().admin_addr),
    };
    for (inn, kind) in [
        (OP, "operator"),
        (A, "taxpayer"),
        (B, "taxpayer"),
        (P, "partner"),
        (Q, "partner"),
    ] {
        org(&http, inn, kind).await;
    }
    let staff = user(&http, &root(), OP, "staff@ofd.test", "staff").await;
    let support = user(&http, &staff, OP, "support@ofd.test", "support").await;
    let a_admin = user(&http, &staff, A, "admin@a.test", "admin").await;
    let a_manager = user(&http, &a_admin, A, "manager@a.test", "manager").await;
    let a_viewer = user(&http, &a_admin, A, "viewer@a.test", "viewer").await;
    let a_gone = user(&http, &a_admin, A, "gone@a.test", "viewer").await;
    let b_admin = user(&http, &staff, B, "admin@b.test", "admin").await;
    let p_admin = user(&http, &staff, P, "admin@p.test", "admin").await;
    let q_admin = user(&http, &staff, Q, "admin@q.test", "admin").await;

    // The partner asks, the taxpayer accepts.
    let r = http
        .call(
            &p_admin,
            "POST",
            &format!("/api/v1/organisations/{A}/partners"),
            Some(json!({ "partner_inn": P, "note": "обслуживание ККТ" })),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (201, json!("requested"))
    );
    let r = http
        .call(
            &a_admin,
            "POST",
            &format!("/api/v1/organisations/{A}/partners/{P}/accept"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("active")),
        "{}",
        r.text()
    );

    // Registers: two KKTs and a KKM of A, one of each of B.
    let mut a1 = kkt_of(A, 7001);
    let a2 = kkt_of(A, 7002);
    let mut b1 = kkt_of(B, 7003);
    for (who, k) in [(&a_manager, &a1), (&p_admin, &a2), (&b_admin, &b1)] {
        let r = http
            .call(who, "POST", "/api/v1/kkt", Some(kkt_body(k)))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = http
        .call(
            &a_admin,
            "POST",
            "/api/v1/kz/kkm",
            Some(kkm_body(A, "KA-1")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let ka1 = r.json()["system_id"].as_u64().unwrap() as u32;
    let r = http
        .call(
            &b_admin,
            "POST",
            "/api/v1/kz/kkm",
            Some(kkm_body(B, "KB-1")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let kb1 = Kkm::new(
        r.json()["system_id"].as_u64().unwrap() as u32,
        r.json()["token"].as_u64().unwrap() as u32,
    );

    // Traffic: a receipt from each KKT, a ticket from B's KKM.
    let mut link = Link::connect(t.ingest_addr()).await;
    let a1_fd = a1.next_fd;
    for k in [&mut a1, &mut b1] {
        let (_, _, code) = ack_of(&link.exchange(&k.receipt()).await);
        assert_eq!(code, ResponseCode::Accepted);
    }
    let mut kb1 = kb1;
    let mut kz = KzLink::connect(&t).await;
    let spec = TicketSpec::sample(1, LocalDateTime::from_unix(u64::from(now()), 5 * 3600));
    let (_, resp, _) = kz.call(&mut kb1, &spec.request()).await;
    assert_eq!(resp.result.result_code, 0, "{:?}", resp.result);

    // Keys of A: read, write limited to a1, and one revoked.
    let key = |scope: &str, regs: Vec<String>| {
        let http = http.clone();
        let a_admin = a_admin.clone();
        let scope = scope.to_string();
        async move {
            let r = http
                .call(
                    &a_admin,
                    "POST",
                    &format!("/api/v1/organisations/{A}/api-keys"),
                    Some(json!({ "scope": scope, "registers": regs })),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text());
            (
                r.json()["id"].as_str().unwrap().to_string(),
                r.json()["key"].as_str().unwrap().to_string(),
            )
        }
    };
    let (_, a_read) = key("read", vec![]).await;
    let (_, a_one) = key("write", vec![a1.rn_str()]).await;
    let (revoked_id, revoked) = key("read", vec![]).await;
    let r = http
        .call(
            &a_admin,
            "DELETE",
            &format!("/api/v1/organisations/{A}/api-keys/{revoked_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (key_to_revoke, _) = key("read", vec![]).await;

    // A disabled user's session stops working at once.
    let r = http
        .call(
            &a_admin,
            "PATCH",
            &format!("/api/v1/organisations/{A}/users/gone@a.test"),
            Some(json!({ "disabled": true })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let creds = vec![
        ("root", root()),
        ("staff", staff),
        ("support", support),
        ("a_admin", a_admin),
        ("a_manager", a_manager),
        ("a_viewer", a_viewer),
        ("b_admin", b_admin),
        ("p_admin", p_admin),
        ("q_admin", q_admin),
        ("a_read_key", Cred::Bearer(a_read)),
        ("a_one_key", Cred::Bearer(a_one)),
        ("revoked_key", Cred::Bearer(revoked)),
        ("disabled_user", a_gone),
        ("anonymous", Cred::None),
    ];
    let world = World {
        http,
        creds,
        a1,
        a1_fd,
        a2,
        ka1,
        key_to_revoke,
    };
    (t, world)
}

/// The path, body and expectation of one route for one principal, against A's objects.
fn plan(
    w: &World,
    who: &str,
    method: &str,
    path: &str,
    n: usize,
) -> (String, Option<Value>, Class) {
    use Class::*;
    let operator = matches!(who, "root" | "staff" | "support");
    let writes_all = matches!(who, "root" | "staff");
    let a_people = matches!(who, "a_admin" | "a_manager" | "a_viewer");
    let sees_a = operator || a_people || matches!(who, "p_admin" | "a_read_key" | "a_one_key");
    let is_key = who.ends_with("_key");
    let is_user = !is_key && !matches!(who, "root" | "anonymous");
    // Registers of A, for reads: the limited key sees a1 only (every path below names a1).
    let read_a = if sees_a { Allowed } else { Hidden };
    let write_role = matches!(
        who,
        "root"
            | "staff"
            | "a_admin"
            | "a_manager"
            | "p_admin"
            | "b_admin"
            | "q_admin"
            | "a_one_key"
    );
    let write_a = if !write_role {
        Forbidden
    } else if sees_a {
        Allowed
    } else {
        Hidden
    };
    let org_admin_read = if operator || who == "a_admin" {
        Allowed
    } else if sees_a {
        Forbidden
    } else {
        Hidden
    };
    let org_admin_write = if writes_all || who == "a_admin" {
        Allowed
    } else if sees_a || who == "support" {
        Forbidden
    } else {
        Hidden
    };
    let fill = |p: &str| {
        p.replace("{rn}", &w.a1.rn_str())
            .replace("{fn}", &w.a1.fn_str())
            .replace("{fd}", &w.a1_fd.to_string())
            .replace("{id}", &w.ka1.to_string())
            .replace("{inn}", A)
            .replace("{login}", "viewer@a.test")
            .replace("{partner_inn}", Q)
    };
    let mut path_filled = fill(path);
    let mut body = None;
    let expect = match (method, path) {
        ("POST", "/kkt") => {
            // A new register of A, numbered per principal so each may create one.
            let k = kkt_of(A, 8000 + n as u64);
            body = Some(kkt_body(&k));
            if !write_role {
                Forbidden
            } else if sees_a && who != "a_one_key" {
                Allowed
            } else {
                OutOfScope
            }
        }
        ("POST", "/kz/kkm") => {
            body = Some(kkm_body(A, &format!("KA-{n}")));
            if !write_role {
                Forbidden
            } else if sees_a && who != "a_one_key" {
                Allowed
            } else {
                OutOfScope
            }
        }
        ("GET", "/kkt") | ("GET", "/kz/kkm") | ("GET", "/liveness") | ("GET", "/organisations") => {
            Allowed
        }
        ("PATCH", "/kkt/{rn}") => {
            body = Some(json!({ "name": format!("renamed by {who}") }));
            write_a
        }
        ("POST", "/kkt/{rn}/deregister") | ("POST", "/kkt/{rn}/token") => write_a,
        (_, p) if p.starts_with("/kkt/{rn}") || p.starts_with("/documents/") => read_a,
        ("POST", "/kz/kkm/{id}/status") => {
            body = Some(json!({ "status": "registered" }));
            // The limited key names a1 only, not the KKM.
            if who == "a_one_key" { Hidden } else { write_a }
        }
        ("POST", "/kz/kkm/{id}/token") => {
            if who == "a_one_key" {
                Hidden
            } else {
                write_a
            }
        }
        (_, p) if p.starts_with("/kz/kkm/{id}") => {
            if who == "a_one_key" {
                Hidden
            } else {
                read_a
            }
        }
        ("POST", "/organisations") => {
            body = Some(
                json!({ "inn": format!("{}", 7_707_083_893u64), "name": "Сбер", "kind": "taxpayer" }),
            );
            if writes_all { Allowed } else { Forbidden }
        }
        ("GET", "/organisations/{inn}") => {
            if sees_a {
                Allowed
            } else {
                Hidden
            }
        }
        ("GET", "/organisations/{inn}/users")
        | ("GET", "/organisations/{inn}/users/{login}")
        | ("GET", "/organisations/{inn}/api-keys") => org_admin_read,
        ("POST", "/organisations/{inn}/users") => {
            body =
                Some(json!({ "login": format!("new{n}@a.test"), "name": "New", "role": "viewer" }));
            org_admin_write
        }
        ("PATCH", "/organisations/{inn}/users/{login}") => {
            body = Some(json!({ "name": format!("viewer, renamed by {who}") }));
            org_admin_write
        }
        ("POST", "/organisations/{inn}/users/{login}/unlock")
        | ("POST", "/organisations/{inn}/users/{login}/reset") => org_admin_write,
        ("POST", "/organisations/{inn}/api-keys") => {
            body = Some(json!({ "scope": "read" }));
            org_admin_write
        }
        ("DELETE", "/organisations/{inn}/api-keys/{id}") => {
            path_filled = format!("/organisations/{A}/api-keys/{}", w.key_to_revoke);
            org_admin_write
        }
        ("POST", "/organisations/{inn}/partners") => {
            // P already serves A: allowed callers get 409, the others their refusal.
            body = Some(json!({ "partner_inn": P }));
            if writes_all || matches!(who, "a_admin" | "p_admin") {
                Allowed
            } else if who == "support" || sees_a {
                Forbidden
            } else {
                Hidden
            }
        }
        ("GET", "/organisations/{inn}/partners") => {
            if operator || a_people || matches!(who, "a_read_key" | "a_one_key") {
                Allowed
            } else if who == "p_admin" {
                Forbidden
            } else {
                Hidden
            }
        }
        // No link between A and Q: callers who may speak for A (or Q) learn that there is
        // none (404 naming the link); everyone else finds no organisation.
        (_, p) if p.starts_with("/organisations/{inn}/partners/{partner_inn}") => {
            if writes_all || matches!(who, "a_admin" | "q_admin") {
                Status(404)
            } else if who == "support" || sees_a {
                Forbidden
            } else {
                Hidden
            }
        }
        ("GET", "/audit") => {
            if operator || matches!(who, "a_admin" | "b_admin" | "p_admin" | "q_admin") {
                Allowed
            } else {
                Forbidden
            }
        }
        ("GET", "/session") => Allowed,
        ("DELETE", "/session") => Allowed,
        ("POST", "/session/totp/new") | ("DELETE", "/session/totp") => {
            if is_user {
                Allowed
            } else {
                Forbidden
            }
        }
        ("POST", "/session/totp") => {
            body = Some(json!({ "secret": "JBSWY3DPEHPK3PXP", "code": "000000" }));
            if is_user { OutOfScope } else { Forbidden }
        }
        other => panic!("route {other:?} has no expectation: add one to the matrix"),
    };
    // Whatever the route, credentials come first.
    let expect = match who {
        "anonymous" | "disabled_user" => Unauthenticated,
        "revoked_key" => Forbidden,
        _ => expect,
    };
    (format!("/api/v1{path_filled}"), body, expect)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_principal_exactly_what_its_scope_allows() {
    let (t, w) = setup().await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for (n, (who, cred)) in w.creds.iter().enumerate() {
        for r in api_routes() {
            if r.public {
                continue;
            }
            // Signing out is checked last, so the sessions stay usable for the other routes.
            if (r.method, r.path) == ("DELETE", "/session") {
                continue;
            }
            let (path, body, expect) = plan(&w, who, r.method, r.path, n);
            let a = w.http.call(cred, r.method, &path, body).await;
            let got = classify(a.status);
            let ok = match expect {
                // "No such link" must be the store's answer about the link, not a hidden
                // organisation.
                Class::Status(404) => a.status == 404 && a.text().contains("between"),
                e => got == e,
            };
            checked += 1;
            if !ok {
                failures.push(format!(
                    "{who:>13} {} {path}: expected {expect:?}, got {} {}",
                    r.method,
                    a.status,
                    a.text()
                ));
            }
        }
    }
    // Signing out ends the session: the same cookie is refused afterwards.
    for (who, cred) in &w.creds {
        if let Cred::Session { .. } = cred
            && *who != "disabled_user"
        {
            let out = w.http.call(cred, "DELETE", "/api/v1/session", None).await;
            assert_eq!(out.status, 204, "{who}: {}", out.text());
            let after = w.http.call(cred, "GET", "/api/v1/kkt", None).await;
            assert_eq!(after.status, 401, "{who} after sign-out");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} answers differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked > 500,
        "only {checked} route × principal answers checked"
    );
    t.stop().await;
}

/// B's documents, tickets, counts and audit entries do not reach A by any path, and B sees
/// none of A's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_objects_are_unreachable_by_every_path() {
    let (t, w) = setup().await;
    let cred = |name: &str| w.creds.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let b = cred("b_admin");
    let a_read = cred("a_read_key");
    let a1 = w.a1.rn_str();
    let a1_fn = w.a1.fn_str();

    // B lists: only its own register, its own KKM; its circles count one register each.
    let list = w.http.call(&b, "GET", "/api/v1/kkt", None).await.json();
    let rns: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rn"].as_str().unwrap())
        .collect();
    assert_eq!(rns.len(), 1, "{list}");
    assert!(!rns.contains(&a1.as_str()));
    let kkms = w.http.call(&b, "GET", "/api/v1/kz/kkm", None).await.json();
    assert_eq!(kkms["items"].as_array().unwrap().len(), 1, "{kkms}");
    assert_ne!(kkms["items"][0]["system_id"], json!(w.ka1));
    let live = w
        .http
        .call(&b, "GET", "/api/v1/liveness", None)
        .await
        .json();
    assert_eq!(live["green"], 2, "B's KKT and KKM both sent today: {live}");
    let live = w
        .http
        .call(&root(), "GET", "/api/v1/liveness", None)
        .await
        .json();
    assert_eq!(
        live["green"], 3,
        "the operator counts every register: {live}"
    );

    // Every path to A's document is a 404 for B, with nothing of it in the answer.
    for path in [
        format!("/api/v1/documents/{a1_fn}/{}", w.a1_fd),
        format!("/api/v1/documents/{a1_fn}/{}/raw", w.a1_fd),
        format!("/api/v1/kkt/{a1}/documents"),
        format!("/api/v1/kkt/{a1}/documents?format=csv"),
        format!("/api/v1/kkt/{a1}"),
        format!("/api/v1/kkt/{a1}/status"),
        format!("/api/v1/kz/kkm/{}/tickets", w.ka1),
        format!("/api/v1/kz/kkm/{}/tickets?format=csv", w.ka1),
        format!("/api/v1/kz/kkm/{}/exchanges", w.ka1),
        format!("/api/v1/kz/kkm/{}/reports", w.ka1),
        format!("/api/v1/audit?org={A}"),
        format!("/api/v1/organisations/{A}/users"),
    ] {
        let a = w.http.call(&b, "GET", &path, None).await;
        assert!(
            matches!(a.status, 403 | 404),
            "{path}: {} {}",
            a.status,
            a.text()
        );
        // Nothing of A's beyond what the request itself named: not its name, and not the
        // register's other identifier.
        let other_id = if path.contains(&a1_fn) { &a1 } else { &a1_fn };
        assert!(
            !a.text().contains("Альфа") && !a.text().contains(other_id.as_str()),
            "{path} leaks A's data: {}",
            a.text()
        );
    }
    // The register a key is limited away from is a 404 for it, like another tenant's.
    let one = cred("a_one_key");
    let a2 = w.a2.rn_str();
    assert_eq!(
        w.http
            .call(&one, "GET", &format!("/api/v1/kkt/{a2}"), None)
            .await
            .status,
        404
    );
    let listed = w.http.call(&one, "GET", "/api/v1/kkt", None).await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    // A reads its own; the audit of A holds A's changes and none of B's.
    let doc = w
        .http
        .call(
            &a_read,
            "GET",
            &format!("/api/v1/documents/{a1_fn}/{}", w.a1_fd),
            None,
        )
        .await;
    assert_eq!(doc.status, 200, "{}", doc.text());
    let audit = w
        .http
        .call(&cred("a_admin"), "GET", "/api/v1/audit?limit=1000", None)
        .await
        .json();
    let entries = audit["items"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "register.create" && e["target"] == a1)
    );
    assert!(
        entries
            .iter()
            .all(|e| e["orgs"].as_array().unwrap().iter().any(|o| o == A))
    );
    assert!(!audit.to_string().contains(B), "A's audit names B: {audit}");
    let csv = w
        .http
        .call(&cred("a_admin"), "GET", "/api/v1/audit?format=csv", None)
        .await;
    assert!(csv.headers["content-type"].starts_with("text/csv"));
    assert!(csv.text().starts_with("seq,at,actor"), "{}", csv.text());
    t.stop().await;
}

/// Throttling with a clear 429, lockout after repeated failures and unlock by an admin,
/// single-use expiring links, sessions ended by a password change, each change audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_locked_and_unlocked_and_links_work_once() {
    let t = TestDaemon::start_with(|c| {
        c.accounts.attempts_per_login = 3;
        c.accounts.attempt_window_secs = 3600;
        c.accounts.lock_after_failures = 2;
    })
    .await;
    let http = Http {
        base: format!("http://{}", t.d().admin_addr),
    };
    org(&http, A, "taxpayer").await;
    let admin = user(&http, &root(), A, "admin@a.test", "admin").await;
    // A fresh user with a link: set once, the second use is refused.
    let r = http
        .call(
            &admin,
            "POST",
            &format!("/api/v1/organisations/{A}/users"),
            Some(json!({ "login": "Cashier@A.test", "name": "Кассир", "role": "viewer" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["login"], "cashier@a.test");
    let token = r.json()["set_password"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let weak = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/password/set",
            Some(json!({ "token": token, "password": "short" })),
        )
        .await;
    assert_eq!(
        (weak.status, weak.json()["field"].clone()),
        (422, json!("password"))
    );
    let set = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/password/set",
            Some(json!({ "token": token, "password": PASSWORD })),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    let again = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/password/set",
            Some(json!({ "token": token, "password": "another long password" })),
        )
        .await;
    assert_eq!(again.status, 404, "a link works once: {}", again.text());
    let session = login_as(&http, "cashier@a.test").await;

    // Two wrong passwords lock the user; the right one then gets 423 too.
    let wrong = |pw: &'static str| {
        let http = http.clone();
        async move {
            http.call(
                &Cred::None,
                "POST",
                "/api/v1/session",
                Some(json!({ "login": "cashier@a.test", "password": pw })),
            )
            .await
        }
    };
    assert_eq!(wrong("wrong password 1").await.status, 401);
    assert_eq!(wrong("wrong password 2").await.status, 423);
    let locked = wrong(PASSWORD).await;
    assert_eq!(
        locked.status,
        429,
        "the third attempt in the window is throttled: {}",
        locked.text()
    );
    assert!(locked.headers.contains_key("retry-after"));
    assert!(
        locked.json()["error"]
            .as_str()
            .unwrap()
            .contains("try again in")
    );

    // The admin unlocks; the user list says so.
    let r = http
        .call(
            &admin,
            "POST",
            &format!("/api/v1/organisations/{A}/users/cashier@a.test/unlock"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["locked"].clone()),
        (200, json!(false)),
        "{}",
        r.text()
    );

    // A password change (a reset link) ends the old session.
    assert_eq!(
        http.call(&session, "GET", "/api/v1/session", None)
            .await
            .status,
        200
    );
    let r = http
        .call(
            &admin,
            "POST",
            &format!("/api/v1/organisations/{A}/users/cashier@a.test/reset"),
            None,
        )
        .await;
    let token = r.json()["set_password"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let set = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/password/set",
            Some(json!({ "token": token, "password": "a brand new password" })),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(
        http.call(&session, "GET", "/api/v1/session", None)
            .await
            .status,
        401
    );

    // A cookie change without its CSRF token is refused.
    let Cred::Session { cookie, .. } = &admin else {
        unreachable!()
    };
    let no_csrf = Cred::Session {
        cookie: cookie.clone(),
        csrf: String::new(),
    };
    let r = http
        .call(
            &no_csrf,
            "POST",
            &format!("/api/v1/organisations/{A}/api-keys"),
            Some(json!({ "scope": "read" })),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("CSRF"));

    // Every step is in the audit log.
    let audit = http
        .call(&root(), "GET", "/api/v1/audit?limit=1000", None)
        .await
        .json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "org.create",
        "user.create",
        "user.password_set",
        "login",
        "login.failed",
        "user.locked",
        "user.unlock",
        "user.reset_link",
    ] {
        assert!(actions.contains(&a), "no {a} in {actions:?}");
    }
    t.stop().await;
}

/// TOTP: enrolled with a code that proves the secret, then required at sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_is_enrolled_and_then_required() {
    let t = TestDaemon::start().await;
    let http = Http {
        base: format!("http://{}", t.d().admin_addr),
    };
    org(&http, A, "taxpayer").await;
    let admin = user(&http, &root(), A, "admin@a.test", "admin").await;
    let new = http
        .call(&admin, "POST", "/api/v1/session/totp/new", None)
        .await
        .json();
    let secret = new["secret"].as_str().unwrap().to_string();
    assert!(
        new["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let code =
        ofd_store::accounts::auth::totp_now(&secret, "admin@a.test", u64::from(now())).unwrap();
    let on = http
        .call(
            &admin,
            "POST",
            "/api/v1/session/totp",
            Some(json!({ "secret": secret, "code": code })),
        )
        .await;
    assert_eq!(
        (on.status, on.json()["totp"].clone()),
        (200, json!(true)),
        "{}",
        on.text()
    );
    let without = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/session",
            Some(json!({ "login": "admin@a.test", "password": PASSWORD })),
        )
        .await;
    assert_eq!(
        (without.status, without.json()["field"].clone()),
        (401, json!("totp"))
    );
    let code =
        ofd_store::accounts::auth::totp_now(&secret, "admin@a.test", u64::from(now())).unwrap();
    let with = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/session",
            Some(json!({ "login": "admin@a.test", "password": PASSWORD, "totp": code })),
        )
        .await;
    assert_eq!(with.status, 200, "{}", with.text());
    t.stop().await;
}

/// Accounts, keys, partner links and audit entries survive kill -9 of the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut proc = spawn_ofdd(&data).await;
    let http = Http {
        base: proc.admin.base.clone(),
    };
    org(&http, A, "taxpayer").await;
    org(&http, P, "partner").await;
    let admin = user(&http, &root(), A, "admin@a.test", "admin").await;
    let r = http
        .call(
            &admin,
            "POST",
            &format!("/api/v1/organisations/{A}/api-keys"),
            Some(json!({ "scope": "read" })),
        )
        .await;
    let key = Cred::Bearer(r.json()["key"].as_str().unwrap().to_string());
    let r = http
        .call(
            &root(),
            "POST",
            &format!("/api/v1/organisations/{A}/partners"),
            Some(json!({ "partner_inn": P })),
        )
        .await;
    assert_eq!(
        r.json()["status"],
        "active",
        "the operator links at once: {}",
        r.text()
    );
    let before = http
        .call(&root(), "GET", "/api/v1/audit", None)
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .len();
    proc.child.kill().unwrap(); // SIGKILL
    proc.child.wait().unwrap();
    let mut proc = spawn_ofdd(&data).await;
    let http = Http {
        base: proc.admin.base.clone(),
    };
    assert_eq!(
        http.call(&key, "GET", "/api/v1/kkt", None).await.status,
        200
    );
    assert_eq!(
        http.call(&admin, "GET", "/api/v1/session", None)
            .await
            .status,
        200
    );
    let links = http
        .call(
            &root(),
            "GET",
            &format!("/api/v1/organisations/{A}/partners"),
            None,
        )
        .await
        .json();
    assert_eq!(links["items"][0]["status"], "active");
    let after = http
        .call(&root(), "GET", "/api/v1/audit", None)
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .len();
    assert!(after >= before, "audit entries lost: {before} → {after}");
    login_as(&http, "admin@a.test").await;
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
}

/// With `[accounts.smtp]`, a new user's set-password link goes by mail (a real SMTP server on
/// loopback: aiosmtpd, installed by `scripts/setup.sh`) and is not in the API's answer; the
/// mailed link sets the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_links_are_mailed_over_smtp() {
    let smtp = common::smtp::SmtpServer::start();
    let t = TestDaemon::start_with(|c| {
        c.accounts.smtp = Some(smtp.config());
        c.accounts.public_url = "https://lk.ofd.test".into();
    })
    .await;
    let http = Http {
        base: format!("http://{}", t.d().admin_addr),
    };
    org(&http, A, "taxpayer").await;
    let r = http
        .call(
            &root(),
            "POST",
            &format!("/api/v1/organisations/{A}/users"),
            Some(json!({ "login": "boss@a.test", "name": "Директор", "role": "admin" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["set_password"]["mailed_to"], "boss@a.test");
    assert!(
        r.json()["set_password"].get("token").is_none(),
        "a mailed link is not shown"
    );
    // Read the mail off the server's output until the link appears.
    let link = "https://lk.ofd.test/set-password?token=";
    let token_in = |m: &str| -> String {
        m.find(link).map_or_else(String::new, |at| {
            m[at + link.len()..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect()
        })
    };
    let mail = smtp
        .wait_for(Duration::from_secs(60), |m| token_in(m).len() == 64)
        .await;
    let token = token_in(&mail);
    assert_eq!(token.len(), 64);
    let set = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/password/set",
            Some(json!({ "token": token, "password": PASSWORD })),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    login_as(&http, "boss@a.test").await;
    let forgot = http
        .call(
            &Cred::None,
            "POST",
            "/api/v1/password/forgot",
            Some(json!({ "login": "nobody@a.test" })),
        )
        .await;
    assert_eq!(forgot.status, 202, "an unknown login gets the same answer");
    t.stop().await;
}

/// `ofdd account …`, the real binary against a real daemon: the operator's organisation and
/// first staff user, a taxpayer with a key, a partner link, the audit log; a refusal exits
/// non-zero with the API's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_cli_drives_the_api() {
    let t = TestDaemon::start().await;
    let api = format!("http://{}", t.d().admin_addr);
    let run = |args: Vec<String>| {
        let api = api.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_ofdd"))
                    .arg("account")
                    .args(["--api", &api, "--token", TOKEN])
                    .args(&args)
                    .output()
                    .expect("run ofdd account")
            })
            .await
            .unwrap()
        }
    };
    let ok = |out: std::process::Output| -> Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    };
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    ok(run(args(&format!(
        "create-org --inn {OP} --name ОФД --kind operator"
    )))
    .await);
    let staff = ok(run(args(&format!(
        "create-user --org {OP} --login staff@ofd.test --name Иванова --role staff"
    )))
    .await);
    assert_eq!(staff["role"], "staff");
    assert_eq!(staff["set_password"]["token"].as_str().unwrap().len(), 64);
    ok(run(args(&format!(
        "create-org --inn {A} --name Альфа --kind taxpayer"
    )))
    .await);
    ok(run(args(&format!(
        "create-org --inn {P} --name Сервис --kind partner"
    )))
    .await);
    let key = ok(run(args(&format!("create-key --org {A} --scope read"))).await);
    assert!(key["key"].as_str().unwrap().starts_with("ofk_"));
    let link = ok(run(args(&format!("link-partner --taxpayer {A} --partner {P}"))).await);
    assert_eq!(link["status"], "active");
    let keys = ok(run(args(&format!("list-keys --org {A}"))).await);
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    assert!(
        keys["items"][0].get("key").is_none(),
        "a listed key has no secret"
    );
    ok(run(args(&format!(
        "revoke-key --org {A} --id {}",
        key["id"].as_str().unwrap()
    )))
    .await);
    let audit = ok(run(args(&format!("audit --org {A}"))).await);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["org.create", "key.create", "partner.request", "key.revoke"]
    );
    let refused = run(args(&format!(
        "create-user --org {A} --login x@a.test --name X --role staff"
    )))
    .await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not fit"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    t.stop().await;
}

/// One portal request: a session cookie (or none), a form (with the session's CSRF token added),
/// no redirects followed. Returns the status, where a redirect leads, and the body.
async fn portal_call(
    base: &str,
    cred: &Cred,
    method: &str,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String, String) {
    let mut b = common::portal::Browser::new(base);
    let csrf = match cred {
        Cred::Session { cookie, csrf } => {
            b.cookies.insert("ofdd_session".into(), cookie.clone());
            csrf.clone()
        }
        _ => String::new(),
    };
    let mut fields = vec![("csrf".to_string(), csrf)];
    fields.extend(form.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let p = b
        .call(method, path, (method == "POST").then_some(fields))
        .await;
    (p.status, p.header("location").to_string(), p.body)
}

/// What one kind of user may do on one portal route, against tenant A's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageClass {
    /// Past every access check: the page (200), a change's redirect (303), or the form's own
    /// refusal of deliberately invalid input (400, 422), or a state conflict (409).
    Allowed,
    Forbidden,
    Hidden,
    /// To the sign-in page.
    SignIn,
}

fn page_class(status: u16, location: &str) -> Option<PageClass> {
    match status {
        303 if location.starts_with("/login") => Some(PageClass::SignIn),
        200 | 303 | 400 | 409 | 422 => Some(PageClass::Allowed),
        403 => Some(PageClass::Forbidden),
        404 => Some(PageClass::Hidden),
        _ => None,
    }
}

/// The path (A's objects filled in), the form, and the expectation of one portal route for
/// one kind of user. A route this does not know fails the test: a new page must say who may
/// open it.
fn page_plan(
    w: &World,
    who: &str,
    method: &str,
    path: &str,
) -> (String, Vec<(&'static str, String)>, PageClass) {
    use PageClass::*;
    if matches!(who, "anonymous" | "disabled_user") {
        let filled = fill_page(w, path);
        return (filled, Vec::new(), SignIn);
    }
    let operator = matches!(who, "staff" | "support");
    let sees_a = operator || matches!(who, "a_admin" | "a_manager" | "a_viewer" | "p_admin");
    let writer = matches!(
        who,
        "staff" | "a_admin" | "a_manager" | "p_admin" | "b_admin" | "q_admin"
    );
    let read_a = if sees_a { Allowed } else { Hidden };
    let write_a = match (writer, sees_a) {
        (false, _) => Forbidden,
        (true, true) => Allowed,
        (true, false) => Hidden,
    };
    // A's accounts pages (`?inn=A`): staff change, support reads, A's admin both; A's other
    // users are refused; everyone else finds no such organisation.
    let org_read = match who {
        "staff" | "support" | "a_admin" => Allowed,
        "a_manager" | "a_viewer" => Forbidden,
        _ => Hidden,
    };
    let org_change = match who {
        "staff" | "a_admin" => Allowed,
        "support" | "a_manager" | "a_viewer" => Forbidden,
        _ => Hidden,
    };
    let operator_only = if operator { Allowed } else { Forbidden };
    let staff_only = if who == "staff" { Allowed } else { Forbidden };
    let mut form: Vec<(&'static str, String)> = Vec::new();
    let expect = match (method, path) {
        (
            "GET",
            "/monitoring" | "/registers" | "/registers.csv" | "/registers.xlsx" | "/requests"
            | "/tariffs",
        ) => Allowed,
        ("GET", "/registers/new") | ("POST", "/registers/new") => {
            if writer {
                Allowed
            } else {
                Forbidden
            }
        }
        ("POST", "/registers/{rn}/token" | "/registers/{rn}/deregister" | "/kz/{id}/token") => {
            write_a
        }
        ("GET", "/registers/{rn}/deregister") => write_a,
        ("POST", "/registers/{rn}/connection" | "/kz/{id}/connection") => {
            form = vec![
                ("date", "2099-01-15".into()),
                ("time", "10:30".into()),
                ("contact", format!("matrix {who}")),
                ("phone", "+74951234567".into()),
            ];
            write_a
        }
        ("GET", p)
            if p.starts_with("/registers/{rn}")
                || p.starts_with("/documents/")
                || p.starts_with("/kz/{id}") =>
        {
            read_a
        }
        ("POST", "/requests/{id}") => {
            form = vec![("status", "bogus".into())];
            staff_only
        }
        ("POST", "/tariffs") => staff_only,
        ("GET", "/organisation" | "/organisation/statement" | "/organisation/audit") => org_read,
        ("GET", "/organisation/notifications") => org_change,
        ("POST", "/organisation/notifications") => {
            form = vec![("silent_days", "not a number".into())];
            org_change
        }
        ("POST", "/organisation/users" | "/organisation/keys" | "/organisation/partners") => {
            org_change
        }
        ("POST", "/organisation/users/{login}" | "/organisation/partners/{taxpayer}/{partner}") => {
            form = vec![("op", "bogus".into())];
            org_change
        }
        ("POST", "/organisation/keys/{id}/revoke") => org_change,
        ("GET", "/audit" | "/staff/organisations" | "/staff/partners") => operator_only,
        ("POST", "/staff/organisations") => staff_only,
        (m, p) => panic!("the portal matrix has no expectation for {m} {p}: add one"),
    };
    let mut filled = fill_page(w, path);
    if path.starts_with("/organisation") {
        filled.push_str(&format!("?inn={A}"));
    }
    (filled, form, expect)
}

fn fill_page(w: &World, path: &str) -> String {
    let rn = if path.ends_with("/deregister") {
        // Taking a register off service once is enough: the other routes keep a1 in service.
        w.a2.rn_str()
    } else {
        w.a1.rn_str()
    };
    let id = if path.starts_with("/organisation/keys") {
        w.key_to_revoke.clone()
    } else if path.starts_with("/requests") {
        "1".to_string()
    } else {
        w.ka1.to_string()
    };
    path.replace("{rn}", &rn)
        .replace("{fn}", &w.a1.fn_str())
        .replace("{fd}", &w.a1_fd.to_string())
        .replace("{id}", &id)
        .replace("{login}", "viewer%40a.test")
        .replace("{taxpayer}", A)
        .replace("{partner}", P)
}

/// The portal's every route (from its own table) × every kind of user, against tenant A's
/// objects: the page, a refusal by role (403), nothing at all for another tenant (404), or the
/// sign-in page. Forms carry the session's CSRF token; a form without it is refused for all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_page_answers_each_kind_of_user_exactly_what_its_scope_allows() {
    let (t, w) = setup().await;
    let base = format!("http://{}", t.d().portal_addr);
    let users: Vec<&(&str, Cred)> = w
        .creds
        .iter()
        .filter(|(_, c)| !matches!(c, Cred::Bearer(_)))
        .collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (who, cred) in users.iter().map(|(w, c)| (*w, c)) {
        for r in ofd_portal::routes() {
            if r.public || (r.method, r.path) == ("POST", "/logout") {
                continue;
            }
            let (path, form, expect) = page_plan(&w, who, r.method, r.path);
            let (status, location, text) = portal_call(&base, cred, r.method, &path, &form).await;
            checked += 1;
            if page_class(status, &location) != Some(expect) {
                let text: String = text.chars().take(300).collect();
                failures.push(format!(
                    "{who:>13} {} {path}: expected {expect:?}, got {status} {location} {text}",
                    r.method
                ));
            }
            // The same change without the form's token: refused before anything else.
            if r.method == "POST" && matches!(cred, Cred::Session { .. }) && who != "disabled_user"
            {
                let bare = Cred::Session {
                    cookie: match cred {
                        Cred::Session { cookie, .. } => cookie.clone(),
                        _ => unreachable!(),
                    },
                    csrf: "forged".into(),
                };
                let (status, _, _) = portal_call(&base, &bare, r.method, &path, &form).await;
                if status != 403 {
                    failures.push(format!(
                        "{who:>13} POST {path} without its CSRF token: {status}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} portal checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 300, "the matrix ran {checked} checks");
    t.stop().await;
}
