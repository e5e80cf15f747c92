//! The web portal in a real browser: headless Chromium from Debian, driven over WebDriver
//! (chromedriver; the client is `common/webdriver.rs`), the way a taxpayer uses it. Staff create taxpayer A with
//! an admin; the admin sets a password from the one-time link, signs in, registers a register,
//! gets its token; documents arrive over the ingest port and the circle turns green; today's
//! transactions open, a receipt reads right, the CSV downloads; the register is taken off
//! service and its next document is refused; taxpayer B finds none of it by any URL; the public
//! check finds A's receipt by its QR string and nothing with one wrong digit of the fiscal
//! sign. axe-core (from npm, installed by scripts/setup.sh) checks the main pages: no serious
//! or critical accessibility violations. The test screenshots the main pages; with
//! `OFDD_SCREENSHOTS=<dir>` it writes them there (`scripts/screenshots.sh` refreshes docs/).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tools::{cannot_run, require_tool};
use common::webdriver::WebDriver;
use common::*;
use ofd_proto::ack::ResponseCode;
use serde_json::{Value, json};

const A: &str = "772998649896";
const B: &str = "779857229651";
const PASSWORD: &str = "a long enough password";

/// chromedriver, stopped when the test ends however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn axe_path() -> PathBuf {
    std::env::var_os("OFDD_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.tools/axe/node_modules/axe-core/axe.min.js")
        })
}

async fn start_browser(profile: &Path) -> Option<(Driver, WebDriver)> {
    let driver = require_tool("chromedriver")?;
    let chromium = require_tool("chromium")?;
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    // Ready when it accepts connections (a generous deadline on a loaded machine).
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000", "--lang=ru",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let client = WebDriver::session(&format!("http://127.0.0.1:{port}"), caps)
        .await
        .expect("a WebDriver session in headless Chromium");
    Some((driver, client))
}

struct Ui {
    c: WebDriver,
    base: String,
    shots: Option<PathBuf>,
    axe: String,
}

impl Ui {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await;
    }

    async fn source(&self) -> String {
        self.c.source().await
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.c.find(css).await;
        self.c.clear(&e).await;
        self.c.send_keys(&e, text).await;
    }

    async fn click(&self, css: &str) {
        // Every click here loads a page: mark this one, click, and wait until a new page
        // (unmarked) has loaded, however slowly the machine serves it.
        self.c.execute("window.__ofddOld = true;").await;
        let e = self.c.find(css).await;
        self.c.click(&e).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let loaded = self
                .c
                .try_execute(
                    "return window.__ofddOld === undefined && document.readyState === 'complete';",
                )
                .await;
            if loaded == Some(Value::Bool(true)) {
                break;
            }
            assert!(Instant::now() < deadline, "clicking {css} loaded no page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let e = self.c.find(css).await;
        self.c.text(&e).await
    }

    async fn path(&self) -> String {
        let u = self.c.current_url().await;
        u.strip_prefix(&self.base).unwrap_or(&u).to_string()
    }

    async fn title(&self) -> String {
        self.c.title().await
    }

    /// Screenshot of the current page (always taken and checked; written when asked).
    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await;
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{name}: not a real screenshot"
        );
        if let Some(dir) = &self.shots {
            std::fs::create_dir_all(dir).expect("screenshot dir");
            std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        }
    }

    /// axe-core on the current page: no serious or critical violation.
    async fn accessible(&self, page: &str) {
        self.c.execute(&self.axe).await;
        let r = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document).then(r => done(r.violations.map(v =>
                     ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3)}))))
                   .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));",
            )
            .await;
        let bad: Vec<&Value> = r
            .as_array()
            .expect("violations")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{page}: accessibility violations {bad:#?}");
    }

    async fn sign_in(&self, login: &str) {
        self.go("/login").await;
        self.fill("#f-login", login).await;
        self.fill("#f-password", PASSWORD).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        assert_eq!(self.path().await, "/monitoring", "{}", self.source().await);
    }

    async fn sign_out(&self) {
        self.click("form[action='/logout'] button").await;
        let path = self.path().await;
        assert!(
            path.starts_with("/login"),
            "{path}: {}",
            self.source().await
        );
    }
}

async fn api(admin: &Admin, path: &str, body: Value) -> Value {
    let r = admin.post(path, body).await;
    assert!(r.status < 300, "{path}: {} {}", r.status, r.text());
    r.json()
}

/// Staff create an organisation and its admin; the one-time link's path.
async fn taxpayer(admin: &Admin, inn: &str, login: &str) -> String {
    api(
        admin,
        "/api/v1/organisations",
        json!({"inn": inn, "name": format!("Org {inn}"), "kind": "taxpayer"}),
    )
    .await;
    let u = api(
        admin,
        &format!("/api/v1/organisations/{inn}/users"),
        json!({"login": login, "name": "Анна Админ", "role": "admin"}),
    )
    .await;
    let url = u["set_password"]["url"]
        .as_str()
        .expect("the link")
        .to_string();
    url[url.find("/set-password").expect("a portal link")..].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taxpayer_uses_the_portal_in_a_real_browser() {
    let axe_file = axe_path();
    let Ok(axe) = std::fs::read_to_string(&axe_file) else {
        cannot_run(&format!(
            "axe-core is not installed at {} (scripts/setup.sh installs it)",
            axe_file.display()
        ));
        return;
    };
    let profile = tempfile::tempdir().expect("profile dir");
    let Some((_driver, client)) = start_browser(profile.path()).await else {
        return;
    };
    let t = TestDaemon::start_with(|c| c.admission.accept_unknown_fn = false).await;
    let ui = Ui {
        c: client,
        base: format!("http://{}", t.d().portal_addr),
        shots: std::env::var_os("OFDD_SCREENSHOTS").map(PathBuf::from),
        axe,
    };
    let admin = t.admin();

    // Staff create taxpayer A; its admin sets a password from the link.
    let link = taxpayer(&admin, A, "anna@a.test").await;
    // Headless Chromium asks for English; the switch turns the portal Russian (its default).
    ui.go("/login").await;
    assert!(ui.source().await.contains("Sign in to your account"));
    ui.click("a.lang[lang=ru]").await;
    assert!(ui.source().await.contains("Вход в личный кабинет"));
    ui.accessible("sign-in").await;
    ui.shot("sign-in").await;
    ui.go(&link).await;
    let src = ui.source().await;
    assert!(src.contains("f-password"), "{link}: {src}");
    ui.fill("#f-password", PASSWORD).await;
    ui.fill("#f-repeat", PASSWORD).await;
    ui.click("form[action='/set-password'] button").await;
    assert!(
        ui.source().await.contains("Пароль сохранён"),
        "{}",
        ui.source().await
    );
    ui.sign_in("anna@a.test").await;

    // Register a register: a wrong INN first (the error appears next to the field).
    let mut k = kkt_of(A, 701);
    let (rn, fn_number) = (k.rn_str(), k.fn_str());
    let serial = String::from_utf8_lossy(&k.id.kkt_serial).into_owned();
    ui.go("/registers/new").await;
    ui.accessible("new register").await;
    ui.fill("#f-rn", &rn).await;
    ui.fill("#f-serial", &serial).await;
    ui.fill("#f-inn", "1234567890").await;
    ui.fill("#f-name", "ООО «Альфа»").await;
    ui.fill("#f-place", "Магазин на Тверской").await;
    ui.fill("#f-address", "Москва, Тверская ул., 1").await;
    ui.fill("#f-fn", &fn_number).await;
    ui.click("button[value=register]").await;
    assert!(
        ui.text("#e-inn").await.contains("ИНН"),
        "the INN error sits next to its field"
    );
    ui.shot("new-register-errors").await;
    ui.fill("#f-inn", A).await;
    ui.click("button[value=register]").await;
    assert_eq!(ui.path().await, format!("/registers/{rn}"));

    // Get the token to type into the register.
    ui.click(&format!("form[action='/registers/{rn}/token'] button"))
        .await;
    let system_id = ui.text("#system-id").await;
    let token = ui.text("#token").await;
    assert!(
        !system_id.is_empty() && token.len() >= 8,
        "{system_id} / {token}"
    );
    ui.shot("token").await;

    // Documents arrive; the circle turns green.
    let mut link = Link::connect(t.ingest_addr()).await;
    let mut fds = Vec::new();
    for _ in 0..3 {
        let doc = k.receipt_today();
        fds.push(k.next_fd - 1);
        assert_eq!(ack_of(&link.exchange(&doc).await).2, ResponseCode::Accepted);
    }
    ui.go(&format!("/registers/{rn}")).await;
    assert!(ui.source().await.contains("circle green"));
    ui.accessible("register card").await;
    ui.shot("register").await;
    ui.go("/monitoring").await;
    assert!(ui.source().await.contains("Магазин на Тверской"));
    ui.accessible("monitoring").await;
    ui.shot("monitoring").await;
    ui.go("/registers").await;
    assert!(ui.source().await.contains(&rn));
    ui.accessible("registers").await;
    ui.shot("registers").await;

    // Today's transactions; a receipt; the CSV.
    ui.go(&format!("/registers/{rn}/documents")).await;
    ui.accessible("transactions").await;
    ui.shot("transactions").await;
    let fd = fds[0];
    ui.click(&format!("a[href='/documents/{fn_number}/{fd}']"))
        .await;
    assert_eq!(ui.path().await, format!("/documents/{fn_number}/{fd}"));
    let qr = ui.text("#qr-string").await;
    let fp = ui.text("#fiscal-sign").await;
    assert!(
        qr.contains(&format!("fp={fp}")) && qr.contains(&format!("i={fd}")),
        "{qr}"
    );
    assert!(ui.source().await.contains("<svg"), "the QR code is drawn");
    ui.accessible("receipt").await;
    ui.shot("receipt").await;
    ui.go(&format!("/registers/{rn}/documents")).await;
    let link_el = ui.c.find("a[download][href*='format=csv']").await;
    let href = ui.c.attribute(&link_el, "href").await.expect("an href");
    let session =
        ui.c.cookie("ofdd_session")
            .await
            .expect("the session cookie");
    let csv_url = if href.starts_with("http") {
        href
    } else {
        format!("{}{href}", ui.base)
    };
    let cookie = format!("ofdd_session={session}");
    let csv = tokio::task::spawn_blocking(move || {
        ureq::get(&csv_url)
            .header("Cookie", &cookie)
            .call()
            .expect("CSV")
            .body_mut()
            .read_to_string()
            .expect("body")
    })
    .await
    .unwrap();
    assert_eq!(csv.lines().count(), 1 + fds.len(), "{csv}");

    // The organisation page.
    ui.go("/organisation").await;
    ui.accessible("organisation").await;
    ui.shot("organisation").await;
    // Its audit log, newest first: the register's creation is in it.
    ui.go("/organisation/audit").await;
    ui.accessible("audit log").await;
    assert!(ui.source().await.contains("register.create"));

    // Take it off service: the confirmation names it; the next document is refused.
    ui.go(&format!("/registers/{rn}")).await;
    ui.click(&format!("a[href='/registers/{rn}/deregister']"))
        .await;
    assert!(ui.source().await.contains(&rn));
    ui.click("button.danger").await;
    assert_eq!(ui.path().await, format!("/registers/{rn}"));
    assert!(ui.source().await.contains("снята с учёта"));
    assert_ne!(
        ack_of(&link.exchange(&k.receipt_today()).await).2,
        ResponseCode::Accepted
    );
    ui.sign_out().await;

    // Taxpayer B finds none of it, by any URL.
    let link_b = taxpayer(&admin, B, "boris@b.test").await;
    ui.go(&link_b).await;
    ui.fill("#f-password", PASSWORD).await;
    ui.fill("#f-repeat", PASSWORD).await;
    ui.click("form[action='/set-password'] button").await;
    ui.sign_in("boris@b.test").await;
    for path in [
        format!("/registers/{rn}"),
        format!("/registers/{rn}/documents"),
        format!("/documents/{fn_number}/{fd}"),
        format!("/documents/{fn_number}/{fd}/json"),
    ] {
        ui.go(&path).await;
        assert!(ui.title().await.contains("Не найдено"), "B reached {path}");
        assert!(
            !ui.source().await.contains("Альфа"),
            "{path} leaked A's name"
        );
    }
    for path in ["/registers", "/monitoring"] {
        ui.go(path).await;
        assert!(
            !ui.source().await.contains(&rn),
            "B's {path} lists A's register"
        );
    }
    ui.sign_out().await;

    // A buyer checks the receipt by its QR string; one wrong digit finds nothing.
    ui.go(&format!("/check?{qr}")).await;
    assert!(ui.source().await.contains("Чек найден"));
    ui.accessible("receipt check").await;
    ui.shot("check").await;
    let last = fp.chars().last().unwrap();
    let other = if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    };
    let wrong = qr.replace(
        &format!("fp={fp}"),
        &format!("fp={}{other}", &fp[..fp.len() - 1]),
    );
    ui.go(&format!("/check?{wrong}")).await;
    assert!(ui.source().await.contains("id=\"not-found\""));
    assert!(!ui.source().await.contains(&rn));

    ui.c.close().await;
    t.stop().await;
}
