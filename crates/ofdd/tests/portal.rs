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

use common::portal::*;
use common::*;
use ofd_proto::ack::ResponseCode;
use serde_json::{Value, json};

const A: &str = "772998649896";
const B: &str = "779857229651";
const OP: &str = "7704358518";

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
    // The row's shift sales are the sum of the receipts' totals, as the transactions list
    // reads them from the stored documents.
    let column = |csv: &str, name: &str, row: &str| -> String {
        let mut lines = csv.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = head.iter().position(|h| *h == name).unwrap();
        let line = lines.find(|l| l.contains(row)).unwrap();
        line.split(',')
            .nth(at)
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let docs_csv = a
        .get(&format!("/registers/{rn}/documents?format=csv"))
        .await;
    let kopecks = |s: &str| -> u64 {
        let (r, k) = s.split_once('.').unwrap();
        r.parse::<u64>().unwrap() * 100 + k.parse::<u64>().unwrap()
    };
    let receipts: u64 = docs_csv
        .body
        .lines()
        .skip(1)
        .map(|l| kopecks(l.split(',').nth(6).unwrap()))
        .sum();
    assert!(receipts > 0, "{}", docs_csv.body);
    assert_eq!(kopecks(&column(&csv.body, "shift_sales", &rn)), receipts);
    assert_eq!(column(&csv.body, "shift_returns", &rn), "0.00");
    let list = a.get("/registers").await;
    assert!(
        list.body
            .contains(&format!("{}.{:02}", receipts / 100, receipts % 100))
            || list.body.contains(&format!(
                "\u{a0}{:03}.{:02}",
                receipts / 100 % 1000,
                receipts % 100
            )),
        "the list shows the shift's sales: {}",
        list.body
    );
    // The same list as an Excel workbook: a real .xlsx whose sheet holds the register.
    let xlsx = a.get("/registers.xlsx").await;
    assert_eq!(xlsx.status, 200);
    assert_eq!(
        xlsx.header("content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let strings = zip_part(&xlsx.bytes, "xl/sharedStrings.xml");
    assert!(strings.contains(&rn), "{strings}");
    assert!(strings.contains("Замена ФН в течение 30 дней"), "{strings}");

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

/// The organisation's admin runs its users (invite, role and places, disable, enable, unlock),
/// links a service partner that accepts, and reads the audit log of all of it; the operator's
/// staff create organisations and see every partner link and the whole log; support reads the
/// same pages and changes nothing; another taxpayer reaches none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_runs_users_and_partners_staff_see_everything_support_reads() {
    let t = TestDaemon::start_with(|c| c.accounts.lock_after_failures = 2).await;
    let portal = format!("http://{}", t.d().portal_addr);
    const P: &str = "7707083893";
    api(
        &t.admin(),
        "POST",
        "/api/v1/organisations",
        json!({"inn": OP, "name": "ОФД", "kind": "operator"}),
    )
    .await;
    let mut staff = taxpayer(&t, &portal, OP, "staff@ofd.test", "staff").await;

    // Staff create the taxpayer and the partner from the portal; a bad INN is refused next to
    // its field.
    let r = staff
        .submit(
            "/staff/organisations",
            "/staff/organisations",
            &[("inn", "1234567890"), ("name", "X"), ("kind", "taxpayer")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let err = by_id(&r.body, "e-inn").expect("the error next to the INN field");
    assert!(err.starts_with("Не ИНН"), "{err}");
    for (inn, kind) in [(A, "taxpayer"), (P, "partner")] {
        let r = staff
            .submit(
                "/staff/organisations",
                "/staff/organisations",
                &[
                    ("inn", inn),
                    ("name", &format!("Org {inn}")),
                    ("kind", kind),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), format!("/organisation?inn={inn}"));
    }
    let r = staff
        .submit(
            "/staff/organisations",
            "/staff/organisations",
            &[("inn", A), ("name", "again"), ("kind", "taxpayer")],
        )
        .await;
    assert_eq!(r.status, 422, "an existing INN: {}", r.body);
    let list = staff.get("/staff/organisations").await;
    assert!(list.body.contains(A) && list.body.contains(P) && list.body.contains(OP));

    // A's admin invites a viewer, who sets a password from the link shown once.
    let mut admin = taxpayer(&t, &portal, A, "admin@a.test", "admin").await;
    let r = admin
        .submit(
            "/organisation",
            &format!("/organisation/users?inn={A}"),
            &[
                ("login", "clerk@a.test"),
                ("name", "Clerk"),
                ("role", "viewer"),
                ("places", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = by_id(&r.body, "invite-link").expect("the invite link is shown once");
    let path = link[link.find("/set-password").unwrap()..].to_string();
    let mut clerk = Browser::new(&portal);
    let r = clerk
        .submit(
            &path,
            "/set-password",
            &[
                ("token", &hidden_token(&path)),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    clerk.sign_in("clerk@a.test").await;
    assert_eq!(clerk.get("/registers/new").await.status, 403, "a viewer");

    // Role and places: the clerk becomes a manager at one point of sale.
    let clerk_path = "/organisation/users/clerk%40a.test";
    let r = admin
        .submit(
            "/organisation",
            clerk_path,
            &[("op", "edit"), ("role", "manager"), ("places", "Магазин 1")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let u = t
        .admin()
        .get(&format!("/api/v1/organisations/{A}/users/clerk@a.test"))
        .await
        .json();
    assert_eq!(
        (u["role"].as_str(), u["places"][0].as_str()),
        (Some("manager"), Some("Магазин 1"))
    );
    assert_eq!(
        clerk.get("/registers/new").await.status,
        200,
        "now a manager"
    );
    // A role from another kind of organisation, and one's own role: refused with the reason.
    let r = admin
        .submit(
            "/organisation",
            clerk_path,
            &[("op", "edit"), ("role", "staff"), ("places", "")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = admin
        .submit(
            "/organisation",
            "/organisation/users/admin%40a.test",
            &[("op", "edit"), ("role", "viewer"), ("places", "")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Нельзя отключить себя"), "{}", r.body);
    let r = admin
        .submit(
            "/organisation",
            "/organisation/users/admin%40a.test",
            &[("op", "disable")],
        )
        .await;
    assert_eq!(r.status, 422, "disabling oneself: {}", r.body);

    // Disabled: the clerk's session ends at once; enabled: the clerk signs in again.
    let r = admin
        .submit("/organisation", clerk_path, &[("op", "disable")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = clerk.get("/monitoring").await;
    assert_eq!(r.status, 303, "a disabled user's session is over");
    assert!(r.header("location").starts_with("/login"));
    let r = admin
        .submit("/organisation", clerk_path, &[("op", "enable")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    clerk.sign_in("clerk@a.test").await;

    // Locked after two failed sign-ins (this daemon's policy); the admin unlocks.
    let mut guesser = Browser::new(&portal);
    for _ in 0..2 {
        let r = guesser
            .submit(
                "/login",
                "/login",
                &[
                    ("login", "clerk@a.test"),
                    ("password", "wrong password!"),
                    ("next", "/"),
                ],
            )
            .await;
        assert_ne!(r.status, 303);
    }
    let page = admin.get("/organisation").await;
    assert!(
        page.body.contains("заблокирован"),
        "the row says locked: {}",
        page.body
    );
    let r = admin
        .submit("/organisation", clerk_path, &[("op", "unlock")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut again = Browser::new(&portal);
    again.sign_in("clerk@a.test").await;

    // Another taxpayer: A's user is a 404 there; A's page is a 404 for B's admin.
    let mut b = taxpayer(&t, &portal, B, "admin@b.test", "admin").await;
    let r = b
        .submit("/organisation", clerk_path, &[("op", "disable")])
        .await;
    assert_eq!(r.status, 404, "B reaches A's user: {}", r.body);
    assert_eq!(b.get(&format!("/organisation?inn={A}")).await.status, 404);
    assert_eq!(
        b.get(&format!("/organisation/audit?inn={A}")).await.status,
        404
    );
    assert_eq!(b.get("/audit").await.status, 403);
    assert_eq!(b.get("/staff/organisations").await.status, 403);
    assert_eq!(b.get("/staff/partners").await.status, 403);

    // Partners: A asks P (the operator's INN is no partner: refused next to the field); B
    // cannot answer, nor can the asker; P's admin accepts; A ends the link.
    let r = admin
        .submit(
            "/organisation",
            "/organisation/partners",
            &[("other", "7704358518"), ("note", "")],
        )
        .await;
    assert_eq!(r.status, 422, "the operator is no partner: {}", r.body);
    let r = admin
        .submit(
            "/organisation",
            "/organisation/partners",
            &[("other", P), ("note", "обслуживание")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut partner = taxpayer(&t, &portal, P, "admin@p.test", "admin").await;
    let page = partner.get("/organisation").await;
    assert!(
        page.body.contains("обслуживание") && page.body.contains("запрошена"),
        "{}",
        page.body
    );
    let accept = format!("/organisation/partners/{A}/{P}");
    let r = b
        .submit("/organisation", &accept, &[("op", "accept")])
        .await;
    assert_eq!(r.status, 404, "B answers A's request: {}", r.body);
    let r = admin
        .submit("/organisation", &accept, &[("op", "accept")])
        .await;
    assert!(
        r.status == 400 || r.status == 422,
        "the asker answers itself: {} {}",
        r.status,
        r.body
    );
    let r = partner
        .submit("/organisation", &accept, &[("op", "accept")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        partner
            .get("/organisation")
            .await
            .body
            .contains("действует")
    );
    let links = staff.get("/staff/partners").await;
    assert!(links.body.contains(A) && links.body.contains(P) && links.body.contains("действует"));
    let r = admin
        .submit("/organisation", &accept, &[("op", "end")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The audit log: A's admin reads A's entries, newest first; the partner's acceptance is
    // there (it concerns A); B's entries are not.
    let log = admin.get("/organisation/audit").await;
    assert_eq!(log.status, 200);
    for action in [
        "user.create",
        "user.role",
        "user.disable",
        "user.enable",
        "user.unlock",
        "partner.request",
        "partner.accept",
        "partner.end",
    ] {
        assert!(
            log.body.contains(action),
            "{action} in A's log: {}",
            log.body
        );
    }
    assert!(!log.body.contains("admin@b.test"), "B's entries in A's log");
    let end = log.body.find("partner.end").unwrap();
    let create = log.body.find("user.create").unwrap();
    assert!(end < create, "newest first");
    let filtered = admin.get("/organisation/audit?action=partner.").await;
    assert!(filtered.body.contains("partner.accept") && !filtered.body.contains("user.unlock"));
    let everything = staff.get("/audit").await;
    assert!(everything.body.contains("org.create") && everything.body.contains("admin@b.test"));

    // Support reads the operator's pages and changes nothing.
    let mut support = taxpayer(&t, &portal, OP, "support@ofd.test", "support").await;
    for path in [
        "/staff/organisations",
        "/staff/partners",
        "/audit",
        "/requests",
    ] {
        assert_eq!(support.get(path).await.status, 200, "support reads {path}");
    }
    let page = support.get(&format!("/organisation?inn={A}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("clerk@a.test") && !page.body.contains("name=\"op\""),
        "read-only: {}",
        page.body
    );
    let csrf = hidden(&support.get("/audit").await.body, "csrf").unwrap();
    let r = support
        .post(
            &format!("{clerk_path}?inn={A}"),
            &[("csrf", &csrf), ("op", "disable")],
        )
        .await;
    assert_eq!(r.status, 403, "support changes a user: {}", r.body);
    let r = support
        .post(
            "/staff/organisations",
            &[
                ("csrf", &csrf),
                ("inn", "7707083893"),
                ("name", "x"),
                ("kind", "taxpayer"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "support creates an organisation: {}", r.body);
    t.stop().await;
}
