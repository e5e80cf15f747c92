//! The web portal as its users drive it, over real HTTP against the daemon's `portal_listen`
//! listener, with documents arriving over the real ingest port and a real RocksDB behind:
//! staff create taxpayers A and B; A's admin sets a password from the one-time link, signs in,
//! registers a register (form errors next to their fields first), gets its token; documents
//! arrive and the circle turns green; today's transactions list them, a receipt reads right,
//! its CSV, FNS JSON and raw bytes download; the public check finds the receipt by its QR
//! string and nothing with one wrong digit; taking the register off service makes its next
//! document refused. B finds none of A's objects by any URL (404s), a viewer may not change
//! anything (403), forms without their CSRF token are refused, and the check is rate limited.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use ofd_proto::ack::ResponseCode;
use serde_json::{Value, json};

const A: &str = "772998649896";
const B: &str = "779857229651";
const OP: &str = "7704358518";
const PASSWORD: &str = "a long enough password";

struct Page {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }
}

/// A browser without JavaScript: keeps cookies, follows nothing by itself.
#[derive(Clone)]
struct Browser {
    base: String,
    cookies: BTreeMap<String, String>,
    accept_language: Option<String>,
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            cookies: BTreeMap::new(),
            accept_language: None,
        }
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        form: Option<Vec<(String, String)>>,
    ) -> Page {
        let url = format!("{}{}", self.base, path);
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let lang = self.accept_language.clone();
        let method = method.to_string();
        let page = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into();
            let mut req = ureq::http::Request::builder()
                .method(method.as_str())
                .uri(&url);
            if !cookie.is_empty() {
                req = req.header("Cookie", cookie);
            }
            if let Some(l) = lang {
                req = req.header("Accept-Language", l);
            }
            let resp = match form {
                Some(fields) => {
                    let body = fields
                        .iter()
                        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                        .collect::<Vec<_>>()
                        .join("&");
                    agent.run(
                        req.header("Content-Type", "application/x-www-form-urlencoded")
                            .body(body.into_bytes())
                            .unwrap(),
                    )
                }
                None => agent.run(req.body(Vec::<u8>::new()).unwrap()),
            };
            let mut resp = resp.expect("HTTP request");
            let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in resp.headers() {
                headers
                    .entry(k.as_str().to_string())
                    .or_default()
                    .push(v.to_str().unwrap_or("").to_string());
            }
            let body = resp
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .unwrap_or_default();
            Page {
                status: resp.status().as_u16(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        })
        .await
        .unwrap();
        for c in page.headers.get("set-cookie").into_iter().flatten() {
            let first = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        page
    }

    async fn get(&mut self, path: &str) -> Page {
        self.call("GET", path, None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let form = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.call("POST", path, Some(form)).await
    }

    /// Opens a page with a form and submits it with the form's own CSRF token.
    async fn submit(&mut self, page_path: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let p = self.get(page_path).await;
        assert_eq!(p.status, 200, "{page_path}: {}", p.body);
        let csrf =
            hidden(&p.body, "csrf").unwrap_or_else(|| panic!("no CSRF field on {page_path}"));
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        self.post(action, &all).await
    }

    async fn sign_in(&mut self, login: &str) {
        let r = self
            .submit(
                "/login",
                "/login",
                &[
                    ("login", login),
                    ("password", PASSWORD),
                    ("next", "/monitoring"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "sign-in of {login}: {}", r.body);
        assert_eq!(r.header("location"), "/monitoring");
        assert!(self.cookies.contains_key("ofdd_session"));
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of a hidden input named `name`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..].split('"').next()?.to_string())
}

/// The text inside the element with `id`.
fn by_id(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}

async fn api(admin: &Admin, method: &str, path: &str, body: Value) -> Value {
    let r = admin.request(method, path, Some(body)).await;
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.text());
    r.json()
}

/// Staff creates an organisation with an admin; the admin's link is set through the portal.
async fn taxpayer(t: &TestDaemon, portal: &str, inn: &str, login: &str, role: &str) -> Browser {
    let admin = t.admin();
    if admin
        .get(&format!("/api/v1/organisations/{inn}"))
        .await
        .status
        == 404
    {
        api(
            &admin,
            "POST",
            "/api/v1/organisations",
            json!({"inn": inn, "name": format!("Org {inn}"), "kind": "taxpayer"}),
        )
        .await;
    }
    let user = api(
        &admin,
        "POST",
        &format!("/api/v1/organisations/{inn}/users"),
        json!({"login": login, "name": login, "role": role}),
    )
    .await;
    let url = user["set_password"]["url"]
        .as_str()
        .expect("the link is shown once without SMTP");
    let path = &url[url
        .find("/set-password")
        .expect("the link leads to the portal")..];
    let mut b = Browser::new(portal);
    let r = b
        .submit(
            path,
            "/set-password",
            &[
                ("token", &hidden_token(path)),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.sign_in(login).await;
    b
}

fn hidden_token(path: &str) -> String {
    path.split("token=").nth(1).unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taxpayer_registers_watches_and_reads_receipts_and_nobody_else_sees_them() {
    let t = TestDaemon::start_with(|c| c.admission.accept_unknown_fn = false).await;
    let portal = format!("http://{}", t.d().portal_addr);

    // Not signed in: to the sign-in page, and back after it.
    let mut anon = Browser::new(&portal);
    let r = anon.get("/monitoring").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/login?next=/monitoring");
    // Russian by default, English by the browser's language or the switch.
    let r = anon.get("/login").await;
    assert!(r.body.contains("Вход в личный кабинет"), "{}", r.body);
    assert!(r.body.contains("lang=\"ru\""));
    let mut en = Browser::new(&portal);
    en.accept_language = Some("en-GB,en;q=0.9".into());
    assert!(
        en.get("/login")
            .await
            .body
            .contains("Sign in to your account")
    );
    let r = anon.get("/lang?to=en&back=/login").await;
    assert_eq!((r.status, r.header("location")), (303, "/login"));
    assert!(
        anon.get("/login")
            .await
            .body
            .contains("Sign in to your account")
    );
    let r = anon.get("/lang?to=en&back=//evil.example/").await;
    assert_eq!(
        r.header("location"),
        "/",
        "redirects never leave the portal"
    );

    // A sign-in form without its CSRF token is refused; a wrong password shows next to its field.
    let r = Browser::new(&portal)
        .post("/login", &[("login", "x@a.test"), ("password", "p")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    let mut a = taxpayer(&t, &portal, A, "admin@a.test", "admin").await;
    let mut b = taxpayer(&t, &portal, B, "admin@b.test", "admin").await;
    let mut viewer = taxpayer(&t, &portal, A, "viewer@a.test", "viewer").await;
    let mut wrong = Browser::new(&portal);
    let r = wrong
        .submit(
            "/login",
            "/login",
            &[
                ("login", "admin@a.test"),
                ("password", "not the password at all"),
            ],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("id=\"e-password\""),
        "the error sits next to the password field: {}",
        r.body
    );

    // Register a register: errors next to their fields first, then the real thing.
    let mut k = kkt_of(A, 501);
    let serial = String::from_utf8_lossy(&k.id.kkt_serial).into_owned();
    let (rn, fn_number) = (k.rn_str(), k.fn_str());
    let r = a
        .submit(
            "/registers/new",
            "/registers/new",
            &[
                ("rn", &rn),
                ("serial", &serial),
                ("inn", "1234567890"),
                ("name", ""),
                ("action", "register"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("id=\"e-inn\"") && r.body.contains("id=\"e-name\""),
        "{}",
        r.body
    );
    // B cannot register into A.
    let r = b
        .submit(
            "/registers/new",
            "/registers/new",
            &[
                ("rn", &rn),
                ("serial", &serial),
                ("inn", A),
                ("name", "ООО Альфа"),
                ("action", "register"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"e-inn\""), "{}", r.body);
    // Without the CSRF token: refused.
    let r = a
        .post(
            "/registers/new",
            &[
                ("rn", &rn),
                ("serial", &serial),
                ("inn", A),
                ("name", "ООО Альфа"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = a
        .submit(
            "/registers/new",
            "/registers/new",
            &[
                ("rn", &rn),
                ("serial", &serial),
                ("inn", A),
                ("name", "ООО Альфа"),
                ("place", "Магазин №1"),
                ("connection", "sim"),
                ("tariff", "base"),
                ("fn", &fn_number),
                ("action", "register"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), format!("/registers/{rn}"));

    // Get a token: shown once, never cached.
    let r = a
        .submit(
            &format!("/registers/{rn}"),
            &format!("/registers/{rn}/token"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(by_id(&r.body, "system-id").is_some_and(|s| !s.is_empty()));
    assert!(by_id(&r.body, "token").is_some_and(|s| s.len() >= 8));
    assert_eq!(r.header("cache-control"), "no-store");

    // Documents arrive over the ingest port; the circle turns green.
    let mut link = Link::connect(t.ingest_addr()).await;
    let mut fds = Vec::new();
    for _ in 0..3 {
        let doc = k.receipt_today();
        fds.push(k.next_fd - 1);
        let (_, _, code) = ack_of(&link.exchange(&doc).await);
        assert_eq!(code, ResponseCode::Accepted);
    }
    let card = a.get(&format!("/registers/{rn}")).await;
    assert_eq!(card.status, 200);
    assert!(card.body.contains("circle green"), "{}", card.body);
    let mon = a.get("/monitoring").await;
    assert!(
        mon.body.contains("Магазин №1") && mon.body.contains(&rn),
        "{}",
        mon.body
    );
    let list = a.get("/registers").await;
    assert!(list.body.contains(&rn));
    let csv = a.get("/registers.csv").await;
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(
        csv.body
            .lines()
            .any(|l| l.contains(&rn) && l.contains("green")),
        "{}",
        csv.body
    );

    // Today's transactions, a receipt, its downloads.
    let docs = a.get(&format!("/registers/{rn}/documents")).await;
    assert_eq!(docs.status, 200);
    let fd = fds[0];
    let receipt_path = format!("/documents/{fn_number}/{fd}");
    assert!(docs.body.contains(&receipt_path), "{}", docs.body);
    let docs_csv = a
        .get(&format!("/registers/{rn}/documents?format=csv"))
        .await;
    assert_eq!(
        docs_csv.body.lines().count(),
        1 + fds.len(),
        "{}",
        docs_csv.body
    );
    let receipt = a.get(&receipt_path).await;
    assert_eq!(receipt.status, 200);
    let qr = by_id(&receipt.body, "qr-string").expect("the receipt carries its QR string");
    let fp = by_id(&receipt.body, "fiscal-sign").expect("the fiscal sign");
    assert!(
        qr.contains(&format!("fn={fn_number}"))
            && qr.contains(&format!("i={fd}"))
            && qr.contains(&format!("fp={fp}")),
        "{qr}"
    );
    assert!(receipt.body.contains("<svg"), "the QR code is drawn");
    let json = a.get(&format!("{receipt_path}/json")).await;
    let v: Value = serde_json::from_str(&json.body).expect("FNS JSON");
    assert_eq!(v["receipt"]["fiscalDocumentNumber"], json!(fd));
    let raw = a.get(&format!("{receipt_path}/raw")).await;
    assert_eq!(raw.header("content-type"), "application/octet-stream");

    // The shift report history links each shift to its documents, with its receipts counted.
    let reports = a.get(&format!("/registers/{rn}/reports")).await;
    assert_eq!(reports.status, 200, "{}", reports.body);
    assert!(
        reports
            .body
            .contains(&format!("/registers/{rn}/documents?shift=")),
        "{}",
        reports.body
    );
    assert!(
        reports
            .body
            .contains(&format!("<td class=\"num\">{}</td>", fds.len())),
        "{} receipts: {}",
        fds.len(),
        reports.body
    );

    // The public check: found by the QR string, not with one digit of the sign changed.
    let mut buyer = Browser::new(&portal);
    let r = buyer.get(&format!("/check?{qr}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&fp));
    let last = fp.chars().last().unwrap();
    let other = if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    };
    let wrong_fp = format!("{}{other}", &fp[..fp.len() - 1]);
    let r = buyer
        .get(&format!(
            "/check?{}",
            qr.replace(&format!("fp={fp}"), &format!("fp={wrong_fp}"))
        ))
        .await;
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("id=\"not-found\"") && !r.body.contains(&rn),
        "reveals nothing"
    );

    // B reaches none of it, by any URL.
    for path in [
        format!("/registers/{rn}"),
        format!("/registers/{rn}/documents"),
        format!("/registers/{rn}/deregister"),
        format!("/registers/{rn}/reports"),
        receipt_path.clone(),
        format!("{receipt_path}/json"),
        format!("{receipt_path}/raw"),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 404, "B reached {path}: {}", r.body);
        assert!(!r.body.contains("Альфа"), "{path} leaked A's name");
    }
    let r = b
        .submit("/monitoring", &format!("/registers/{rn}/token"), &[])
        .await;
    assert_eq!(r.status, 404);
    for path in ["/registers", "/monitoring", "/registers.csv"] {
        let r = b.get(path).await;
        assert_eq!(r.status, 200);
        assert!(!r.body.contains(&rn), "B's {path} lists A's register");
    }

    // A viewer reads but changes nothing.
    assert_eq!(viewer.get(&format!("/registers/{rn}")).await.status, 200);
    assert_eq!(viewer.get("/registers/new").await.status, 403);
    let r = viewer
        .submit(
            &format!("/registers/{rn}"),
            &format!("/registers/{rn}/token"),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(viewer.get("/organisation").await.status, 403);

    // The organisation page: A's admin creates an API key, shown once, that works on the API.
    let r = a
        .submit(
            "/organisation",
            &format!("/organisation/keys?inn={A}"),
            &[("name", "1C"), ("scope", "read")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = by_id(&r.body, "api-key").expect("the key is shown once");
    let api_key = Admin {
        base: format!("http://{}", t.d().admin_addr),
        token: Some(key),
    };
    assert_eq!(api_key.get(&format!("/api/v1/kkt/{rn}")).await.status, 200);
    // B's admin cannot touch A's key.
    let id = api_key
        .token
        .as_ref()
        .unwrap()
        .split('_')
        .nth(1)
        .unwrap()
        .to_string();
    let r = b
        .submit(
            "/organisation",
            &format!("/organisation/keys/{id}/revoke?inn={A}"),
            &[],
        )
        .await;
    assert_eq!(r.status, 404);

    // A wired connection: asked from the card (errors next to their fields first), worked by
    // staff, followed by the customer; nobody else sees it.
    let card = format!("/registers/{rn}");
    let action = format!("/registers/{rn}/connection");
    let r = a
        .submit(
            &card,
            &action,
            &[
                ("date", "2099-01-15"),
                ("time", "25:00"),
                ("contact", "Иван"),
                ("phone", "12"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("id=\"e-time\"") && r.body.contains("id=\"e-phone\""),
        "{}",
        r.body
    );
    let r = a
        .submit(
            &card,
            &action,
            &[
                ("date", "2099-01-15"),
                ("time", "10:30"),
                ("contact", "Иван Петров"),
                ("phone", "+7 (495) 123-45-67"),
                ("comment", "вход со двора"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, "/requests"),
        "{}",
        r.body
    );
    let mine = a.get("/requests").await;
    assert!(
        mine.body.contains("вход со двора") && mine.body.contains("новая"),
        "{}",
        mine.body
    );
    assert!(
        !b.get("/requests").await.body.contains("вход со двора"),
        "B sees A's request"
    );
    let r = b
        .submit(
            "/monitoring",
            &action,
            &[
                ("date", "2099-01-15"),
                ("time", "10:30"),
                ("contact", "x"),
                ("phone", "+74951234567"),
            ],
        )
        .await;
    assert_eq!(r.status, 404, "B files for A's register");
    api(
        &t.admin(),
        "POST",
        "/api/v1/organisations",
        json!({"inn": OP, "name": "ОФД", "kind": "operator"}),
    )
    .await;
    let mut staff = taxpayer(&t, &portal, OP, "staff@ofd.test", "staff").await;
    let queue = staff.get("/requests").await;
    assert!(
        queue.body.contains("вход со двора"),
        "the whole queue: {}",
        queue.body
    );
    let id = queue
        .body
        .split("action=\"/requests/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a request form")
        .to_string();
    let r = a
        .submit(
            "/requests",
            &format!("/requests/{id}"),
            &[("status", "done"), ("note", "")],
        )
        .await;
    assert_eq!(r.status, 403, "a customer does not work the queue");
    let r = staff
        .submit(
            "/requests",
            &format!("/requests/{id}"),
            &[("status", "scheduled"), ("note", "мастер приедет 15-го")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mine = a.get("/requests").await;
    assert!(
        mine.body.contains("назначен выезд") && mine.body.contains("мастер приедет 15-го"),
        "{}",
        mine.body
    );

    // Tariffs: staff define one; A's monthly statement bills the register by its days in
    // service; only staff define plans.
    let r = staff
        .submit(
            "/tariffs",
            "/tariffs",
            &[("code", "base"), ("name", "Базовый"), ("price", "abc")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"e-price\""), "{}", r.body);
    let r = staff
        .submit(
            "/tariffs",
            "/tariffs",
            &[("code", "base"), ("name", "Базовый"), ("price", "1500.00")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a
        .submit(
            "/tariffs",
            "/tariffs",
            &[("code", "cheap"), ("name", "x"), ("price", "1.00")],
        )
        .await;
    assert_eq!(r.status, 403);
    let st = a.get("/organisation/statement?format=csv").await;
    assert_eq!(st.status, 200, "{}", st.body);
    let line = st
        .body
        .lines()
        .find(|l| l.starts_with(&rn))
        .unwrap_or_else(|| panic!("{}", st.body))
        .to_string();
    let cols: Vec<&str> = line.split(',').collect();
    let (days, dim): (u64, u64) = (cols[3].parse().unwrap(), cols[4].parse().unwrap());
    assert!((1..=2).contains(&days), "{line}");
    let amount = 150_000 * days / dim;
    assert_eq!(
        cols[6],
        format!("{}.{:02}", amount / 100, amount % 100),
        "{line}"
    );
    assert_eq!(
        b.get(&format!("/organisation/statement?inn={A}"))
            .await
            .status,
        404
    );
    assert!(!b.get("/organisation/statement").await.body.contains(&rn));

    // Notifications: set up on the organisation's page, each error next to its field.
    let page = format!("/organisation/notifications?inn={A}");
    let r = a
        .submit(
            &page,
            &page,
            &[
                ("emails", "not-an-address"),
                ("webhook_url", "ftp://x"),
                ("webhook_secret", "short"),
                ("silent_days", "0"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    for f in ["emails", "webhook_url", "webhook_secret", "silent_days"] {
        assert!(r.body.contains(&format!("id=\"e-{f}\"")), "{f}: {}", r.body);
    }
    let r = a
        .submit(
            &page,
            &page,
            &[
                ("emails", "boss@a.test, it@a.test"),
                ("webhook_url", "https://hooks.a.test/ofd"),
                ("webhook_secret", "a-long-enough-secret"),
                ("silent_days", "5"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let saved = a.get(&page).await;
    assert!(
        saved.body.contains("boss@a.test, it@a.test") && saved.body.contains("value=\"5\""),
        "{}",
        saved.body
    );
    assert_eq!(
        b.get(&page).await.status,
        404,
        "B does not reach A's notifications"
    );
    let r = b
        .submit(
            "/organisation",
            &page,
            &[("emails", "x@b.test"), ("silent_days", "3")],
        )
        .await;
    assert_eq!(r.status, 404);

    // Take the register off service: the confirmation names it; the next document is refused.
    let confirm = a.get(&format!("/registers/{rn}/deregister")).await;
    assert!(confirm.body.contains(&rn));
    let r = a
        .submit(
            &format!("/registers/{rn}/deregister"),
            &format!("/registers/{rn}/deregister"),
            &[],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, _, code) = ack_of(&link.exchange(&k.receipt_today()).await);
    assert_ne!(
        code,
        ResponseCode::Accepted,
        "a deregistered register's document is refused"
    );

    // Signing out ends the session on the server.
    let session = a.cookies["ofdd_session"].clone();
    let r = a.submit("/monitoring", "/logout", &[]).await;
    assert_eq!(r.status, 303);
    let mut replay = Browser::new(&portal);
    replay.cookies.insert("ofdd_session".into(), session);
    assert_eq!(replay.get("/monitoring").await.status, 303);

    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_check_is_rate_limited_per_address() {
    let t = TestDaemon::start().await;
    let portal = format!("http://{}", t.d().portal_addr);
    let mut buyer = Browser::new(&portal);
    let query = "/check?t=20171007T1024&s=129.90&fn=8710000100240299&i=40143&fp=1324042032&n=1";
    let mut statuses = Vec::new();
    for _ in 0..31 {
        statuses.push(buyer.get(query).await.status);
    }
    assert!(statuses[..30].iter().all(|s| *s == 404), "{statuses:?}");
    let r = buyer.get(query).await;
    assert_eq!(r.status, 429);
    assert!(
        r.header("retry-after")
            .parse::<u64>()
            .is_ok_and(|s| (1..=60).contains(&s))
    );
    // The empty form is never limited.
    assert_eq!(buyer.get("/check").await.status, 200);
    t.stop().await;
}
