//! A real Prometheus scrapes a real ofdd: the exposition format, the content type, the admin
//! listener and the scrape-time gauges are checked by the consumer that matters, not by a
//! parser of our own. The daemon runs in-process; `prometheus` (Debian package `prometheus`,
//! installed by `scripts/setup.sh`) runs as a child process scraping it every second, and the
//! test asks Prometheus' HTTP API what it stored.
//!
//! A missing `prometheus` binary fails the test with instructions rather than skipping it.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ofd_proto::ack::ResponseCode;
use ofd_proto::doctype::DocType;
use serde_json::Value;

fn prometheus_binary() -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("prometheus"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    from_path
        .or_else(|| {
            ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
                .map(PathBuf::from)
                .into_iter()
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "prometheus is not installed, so a live scrape cannot be tested. Install it with \
                 `apt-get install prometheus` (or run scripts/setup.sh)."
            )
        })
}

/// The Prometheus child process; killed when dropped, so a failing assertion leaves no server.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let bin = prometheus_binary();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: ofdd\n    scrape_interval: 1s\n    scrape_timeout: 1s\n\
                 \x20   static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "prometheus did not listen on {addr} within 30 s\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/<path>` on Prometheus, as JSON.
    async fn api(&self, path_and_query: &str) -> Value {
        let url = format!("http://{}/api/v1/{path_and_query}", self.addr);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            match agent.get(&url).call() {
                Ok(mut r) => r.body_mut().read_json::<Value>().unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        })
        .await
        .unwrap()
    }

    /// The single value of an instant query, `None` if there is no (or no unique) result yet.
    async fn scalar(&self, promql: &str) -> Option<f64> {
        let q: String = promql
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let answer = self.api(&format!("query?query={q}")).await;
        if answer["status"] != "success" {
            return None;
        }
        match answer["data"]["result"].as_array().map(Vec::as_slice) {
            Some([one]) => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_documents_and_liveness() {
    let t = TestDaemon::start().await;
    let prom = Prometheus::start(t.d().admin_addr);

    // A register working now: registration report, then receipts → green.
    let mut link = Link::connect(t.ingest_addr()).await;
    let mut live = Kkt::new(801);
    let mut sent = 0u32;
    let reg = live.doc_at(DocType::Registration, now() - 3600);
    assert_eq!(ack_of(&link.exchange(&reg).await).2, ResponseCode::Accepted);
    sent += 1;
    for _ in 0..7 {
        assert_eq!(
            ack_of(&link.exchange(&live.receipt()).await).2,
            ResponseCode::Accepted
        );
        sent += 1;
    }
    // A register last heard from two days ago → yellow.
    let mut quiet = Kkt::new(802);
    let reg = quiet.doc_at(DocType::Registration, now() - 2 * 86_400);
    assert_eq!(ack_of(&link.exchange(&reg).await).2, ResponseCode::Accepted);
    sent += 1;

    let expected = [
        ("sum(ofd_documents_total)", f64::from(sent)),
        (
            "sum(ofd_documents_total{result=\"accepted\",doc_type=\"receipt\"})",
            7.0,
        ),
        ("ofd_kkt_liveness{state=\"green\"}", 1.0),
        ("ofd_kkt_liveness{state=\"yellow\"}", 1.0),
        ("ofd_kkt_liveness{state=\"red\"}", 0.0),
        ("up{job=\"ofdd\"}", 1.0),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = Vec::new();
        for (q, _) in &expected {
            seen.push(prom.scalar(q).await);
        }
        if expected
            .iter()
            .zip(&seen)
            .all(|((_, want), got)| *got == Some(*want))
        {
            break;
        }
        if Instant::now() >= deadline {
            let targets = prom.api("targets").await;
            panic!(
                "Prometheus did not see the expected values within 30 s.\nwanted: {expected:?}\nseen:   {seen:?}\n\
                 targets: {targets}\nprometheus log:\n{}",
                prom.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The scrape was clean: no samples dropped for format errors.
    let target = prom.api("targets?state=active").await;
    let active = &target["data"]["activeTargets"][0];
    assert_eq!(active["health"], "up", "{target}");
    assert_eq!(active["lastError"], "", "{target}");
    drop(prom);
    t.stop().await;
}
