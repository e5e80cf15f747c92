//! The notifier as an organisation experiences it: a register falls silent past the days its
//! organisation set (in the portal), and the organisation hears once — by mail through a real
//! SMTP server and by a webhook POST signed with HMAC-SHA256 to a real HTTP receiver on
//! loopback, which refuses the first attempt so the retry is exercised. Passes of the notifier
//! after delivery, and a restart of the daemon on the same data, send nothing again.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::smtp::SmtpServer;
use common::*;
use ofd_proto::ack::ResponseCode;
use ofd_proto::doctype::DocType;
use ofd_store::accounts::NotifySettings;
use ofdd::daemon::Daemon;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: &str = "772998649896";
const SECRET: &str = "webhook-secret-0123456789";

/// Each POST the receiver got: its signature header and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver: records every POST (signature header, body); answers 500 to the first
/// `fail_first` of them, 200 after.
struct Hook {
    url: String,
    got: Received,
}

impl Hook {
    async fn start(fail_first: usize) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Received = Arc::default();
        let sink = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head, then as many body bytes as Content-Length says.
                    let (head, body_start) = loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break (String::from_utf8_lossy(&buf[..i]).into_owned(), i + 4);
                        }
                    };
                    let header = |name: &str| {
                        head.lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.trim()
                                    .eq_ignore_ascii_case(name)
                                    .then(|| v.trim().to_string())
                            })
                            .unwrap_or_default()
                    };
                    let len: usize = header("content-length").parse().unwrap_or(0);
                    while buf.len() < body_start + len {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body = buf[body_start..(body_start + len).min(buf.len())].to_vec();
                    let nth = {
                        let mut g = sink.lock().unwrap();
                        g.push((header("x-ofdd-signature"), body));
                        g.len()
                    };
                    let status = if nth <= fail_first {
                        "500 Internal Server Error"
                    } else {
                        "200 OK"
                    };
                    let _ = s
                        .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
                        .await;
                });
            }
        });
        Hook { url, got }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "the webhook got {} of {n} requests",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits until the notifier has completed `n` more passes (read from /metrics).
async fn passes(admin: &Admin, n: f64) {
    let runs = |m: &str| metric(m, "ofd_notifier_runs_total{kind=\"pass\"}");
    let start = runs(&admin.metrics().await);
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs(&admin.metrics().await) < start + n {
        assert!(Instant::now() < deadline, "the notifier stopped running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_register_is_reported_once_by_mail_and_signed_webhook() {
    let smtp = SmtpServer::start();
    let hook = Hook::start(1).await;
    let smtp_cfg = smtp.config();
    let configure = move |c: &mut ofdd::config::Config| {
        c.notifications.interval_secs = 1;
        c.notifications.retry_base_secs = 1;
        c.accounts.smtp = Some(smtp_cfg.clone());
        c.admission.accept_unknown_fn = false;
    };
    let t = TestDaemon::start_with(configure.clone()).await;
    let admin = t.admin();
    let r = admin
        .post(
            "/api/v1/organisations",
            json!({"inn": A, "name": "ООО Альфа", "kind": "taxpayer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut k = kkt_of(A, 901);
    let rn = k.rn_str();
    let r = admin
        .post(
            "/api/v1/kkt",
            json!({"rn": rn, "serial": String::from_utf8_lossy(&k.id.kkt_serial), "fn": k.fn_str(),
                   "inn": A, "name": "ООО Альфа", "place": "Склад", "connection": "sim"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // Its last document is four days old: silent past the default three days.
    let mut link = Link::connect(t.ingest_addr()).await;
    let old = k.doc_at(DocType::Receipt, now() - 4 * 86_400);
    assert_eq!(ack_of(&link.exchange(&old).await).2, ResponseCode::Accepted);
    // A register of the same organisation that is fine is not reported.
    let store = t.d().app.store().clone();
    store
        .set_notify_settings(
            A.to_string(),
            NotifySettings {
                emails: vec!["boss@a.test".into()],
                webhook_url: hook.url.clone(),
                webhook_secret: SECRET.into(),
                silent_days: 3,
            },
        )
        .await
        .expect("settings");

    // The first POST is refused; the retry is taken.
    hook.wait_for(2, Duration::from_secs(60)).await;
    let (sig, body) = hook.got.lock().unwrap()[1].clone();
    assert_eq!(
        sig,
        ofdd::notifier::signature(SECRET, &body),
        "signed with the organisation's secret"
    );
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        (
            v["kind"].as_str(),
            v["register"].as_str(),
            v["org"].as_str()
        ),
        (Some("silent"), Some(rn.as_str()), Some(A))
    );
    let mail = smtp
        .wait_for(Duration::from_secs(60), |m| m.contains(&rn))
        .await;
    assert!(mail.contains("boss@a.test"), "{mail}");
    // Visible with its delivery in the organisation's list, once the notifier has recorded the
    // answer the receiver already sent.
    let deadline = Instant::now() + Duration::from_secs(60);
    let events = loop {
        let events = store.notifications_of(A, 10).unwrap();
        if events.iter().all(|e| e.delivered()) {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "never recorded as delivered: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].attempts, 1,
        "one failed attempt before: {events:?}"
    );

    // More passes, then a restart on the same data: nothing is sent again.
    passes(&admin, 3.0).await;
    assert_eq!(hook.count(), 2);
    let mails = smtp.mail().matches(&rn).count();
    // The test's handle on the store must go before the store can be opened again.
    drop(store);
    let data = t.dir.path().join("data");
    let dir = t.dir.path().to_path_buf();
    let mut t = t;
    let daemon = t.daemon.take().unwrap();
    daemon.shutdown().await.unwrap();
    let mut cfg = test_config(&dir);
    cfg.data = data;
    configure(&mut cfg);
    let d2 = Daemon::start(cfg).await.expect("restart");
    let admin2 = Admin {
        base: format!("http://{}", d2.admin_addr),
        token: Some(TOKEN.into()),
    };
    passes(&admin2, 3.0).await;
    assert_eq!(hook.count(), 2, "an event is sent once, across restarts");
    assert_eq!(smtp.mail().matches(&rn).count(), mails);
    d2.shutdown().await.unwrap();
}
