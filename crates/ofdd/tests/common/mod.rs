//! Shared test harness: a real daemon (in-process, real TCP on loopback, real RocksDB in a temp
//! directory, real HTTP), a register client speaking the wire protocol, and document builders.
#![allow(dead_code)]

pub mod cluster;
pub mod kz;
pub mod nats;
pub mod portal;
pub mod smtp;
pub mod tools;
pub mod webdriver;

use std::net::SocketAddr;
use std::time::Duration;

use ofd_proto::ack::{ResponseCode, decode_ack};
use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::doctype::{DocType, FfdVersion};
use ofdd::config::Config;
use ofdd::daemon::Daemon;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TOKEN: &str = "test-admin-token-0123456789";

pub struct TestDaemon {
    pub daemon: Option<Daemon>,
    pub dir: tempfile::TempDir,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        portal_listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.join("data"),
        admin_token: Some(TOKEN.to_string()),
        store: ofdd::config::StoreConfig {
            // Tests open many stores: a 1 MiB reserve file instead of the default 64 MiB.
            reserve_mib: 1,
            ..Default::default()
        },
        ..Config::default()
    }
}

impl TestDaemon {
    pub async fn start() -> TestDaemon {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut Config)) -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config(dir.path());
        f(&mut cfg);
        let daemon = Daemon::start(cfg).await.expect("daemon starts");
        TestDaemon {
            daemon: Some(daemon),
            dir,
        }
    }

    pub fn d(&self) -> &Daemon {
        self.daemon.as_ref().unwrap()
    }

    pub fn ingest_addr(&self) -> SocketAddr {
        self.d().ingest_addr
    }

    pub fn admin(&self) -> Admin {
        Admin {
            base: format!("http://{}", self.d().admin_addr),
            token: Some(TOKEN.to_string()),
        }
    }

    pub async fn stop(mut self) {
        self.daemon.take().unwrap().shutdown().await.unwrap();
    }
}

/// A minimal HTTP client for the admin API (ureq on a blocking thread).
#[derive(Clone)]
pub struct Admin {
    pub base: String,
    pub token: Option<String>,
}

pub struct HttpAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Admin {
    pub async fn request(&self, method: &str, path: &str, body: Option<Value>) -> HttpAnswer {
        let url = format!("{}{}", self.base, path);
        let token = self.token.clone();
        let method = method.to_string();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into();
            let auth = token.map(|t| format!("Bearer {t}"));
            let result = match (method.as_str(), body) {
                ("GET", _) => {
                    let mut r = agent.get(&url);
                    if let Some(a) = &auth {
                        r = r.header("Authorization", a);
                    }
                    r.call()
                }
                ("PATCH", Some(b)) => {
                    let mut r = agent.patch(&url);
                    if let Some(a) = &auth {
                        r = r.header("Authorization", a);
                    }
                    r.send_json(b)
                }
                (_, Some(b)) => {
                    let mut r = agent.post(&url);
                    if let Some(a) = &auth {
                        r = r.header("Authorization", a);
                    }
                    r.send_json(b)
                }
                (_, None) => {
                    let mut r = agent.post(&url);
                    if let Some(a) = &auth {
                        r = r.header("Authorization", a);
                    }
                    r.send_empty()
                }
            };
            let mut resp = result.expect("HTTP request");
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = resp
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .expect("body");
            HttpAnswer {
                status,
                content_type,
                body,
            }
        })
        .await
        .unwrap()
    }

    pub async fn get(&self, path: &str) -> HttpAnswer {
        self.request("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> HttpAnswer {
        self.request("POST", path, Some(body)).await
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text()
    }
}

/// Value of a metric line `name{labels} value` (labels given exactly as rendered), 0 if absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .unwrap_or(0.0)
}

/// A register: identity plus an FD counter.
pub struct Kkt {
    pub id: KktIdentity,
    pub next_fd: u32,
}

/// Now, in Unix seconds, by the daemon's own clock (`ofdd::clock`, which a test may pin).
pub fn now() -> u32 {
    ofdd::clock::unix_now()
}

/// A register of organisation `inn` (its RN computed for that INN and its serial).
pub fn kkt_of(inn: &str, seed: u64) -> Kkt {
    let mut id = KktIdentity::generate(seed);
    id.user_inn = inn.as_bytes().to_vec();
    id.rn = ofd_proto::checks::make_rn(seed, &id.user_inn, &id.kkt_serial).unwrap();
    Kkt { id, next_fd: 1 }
}

impl Kkt {
    pub fn new(seed: u64) -> Kkt {
        Kkt {
            id: KktIdentity::generate(seed),
            next_fd: 1,
        }
    }

    pub fn fn_str(&self) -> String {
        String::from_utf8_lossy(&self.id.fn_number)
            .trim_end()
            .to_string()
    }

    pub fn rn_str(&self) -> String {
        String::from_utf8_lossy(&self.id.rn).to_string()
    }

    /// The next document of `doc_type` at `time`.
    pub fn doc_at(&mut self, doc_type: DocType, time: u32) -> Vec<u8> {
        let spec = DocSpec::new(doc_type, self.next_fd, time);
        self.next_fd += 1;
        let mut out = Vec::new();
        build_message(&self.id, &spec, &mut out).expect("builder");
        out
    }

    pub fn receipt(&mut self) -> Vec<u8> {
        self.doc_at(DocType::Receipt, now() - 60)
    }

    /// A receipt dated a minute ago but not before today's midnight (UTC, by the daemon's
    /// clock): "today" for the daemon unless a midnight passes before it is asked
    /// (`tests/midnight.rs` checks the day boundary itself).
    pub fn receipt_today(&mut self) -> Vec<u8> {
        let now = now();
        self.doc_at(DocType::Receipt, (now - 60).max(now - now % 86_400))
    }

    /// The next document of `doc_type` in FFD `ffd`, a minute old.
    pub fn doc_ffd(&mut self, doc_type: DocType, ffd: FfdVersion) -> Vec<u8> {
        let spec = DocSpec {
            ffd,
            ..DocSpec::new(doc_type, self.next_fd, now() - 60)
        };
        self.next_fd += 1;
        let mut out = Vec::new();
        build_message(&self.id, &spec, &mut out).expect("builder");
        out
    }
}

/// A register's TCP link.
pub struct Link {
    pub stream: TcpStream,
}

impl Link {
    pub async fn connect(addr: SocketAddr) -> Link {
        Link {
            stream: TcpStream::connect(addr).await.expect("connect"),
        }
    }

    pub async fn send(&mut self, msg: &[u8]) {
        self.stream.write_all(msg).await.expect("write");
    }

    /// Read one answer frame; `None` on EOF or timeout.
    pub async fn read_frame(&mut self) -> Option<Vec<u8>> {
        read_frame(&mut self.stream, Duration::from_secs(10)).await
    }

    /// Send and wait for the acknowledgement.
    pub async fn exchange(&mut self, msg: &[u8]) -> Vec<u8> {
        self.send(msg).await;
        self.read_frame().await.expect("an acknowledgement")
    }

    /// True if the server closed the connection (EOF) within a few seconds.
    pub async fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// One FN–OFD frame (30-byte session header and its body); `None` on EOF, reset or timeout.
pub async fn read_frame(stream: &mut TcpStream, timeout: Duration) -> Option<Vec<u8>> {
    let fut = async {
        let mut head = [0u8; 30];
        stream.read_exact(&mut head).await.ok()?;
        let len = usize::from(u16::from_le_bytes([head[24], head[25]]));
        let mut frame = head.to_vec();
        frame.resize(30 + len, 0);
        stream.read_exact(&mut frame[30..]).await.ok()?;
        Some(frame)
    };
    tokio::time::timeout(timeout, fut).await.ok().flatten()
}

/// (FN, FD, response code) of an acknowledgement.
pub fn ack_of(bytes: &[u8]) -> (String, u32, ResponseCode) {
    let ack = decode_ack(bytes).expect("a well-formed acknowledgement");
    (
        String::from_utf8_lossy(ack.fn_number)
            .trim_end()
            .to_string(),
        ack.fd_number,
        ack.code,
    )
}

/// The real FFD 1.2 registration change a production operator answered with code 14, and that
/// answer's container (origin: `proto-spec/vectors/README.md`).
pub fn ffd12_vector() -> (&'static [u8], &'static [u8]) {
    (
        include_bytes!(
            "../../../../proto-spec/vectors/registration-change-ffd12-fn9999078902013267-fd1.bin"
        ),
        include_bytes!(
            "../../../../proto-spec/vectors/operator-ack-container-fn9999078902013267-fd1-code14.bin"
        ),
    )
}

pub fn real_vector() -> &'static [u8] {
    include_bytes!(
        "../../../../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin"
    )
}

/// A real `ofdd serve` child process on free loopback ports.
pub struct Proc {
    pub child: std::process::Child,
    pub ingest: SocketAddr,
    pub admin: Admin,
}

/// A test that fails (panics) before it stops its daemon must not leave it running: it would
/// hold its ports and a core for the rest of the suite. Killing an exited child is harmless.
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two distinct free loopback ports (both bound at once, so they cannot coincide).
pub fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Start the `ofdd` binary on `data` and wait until both listeners accept.
pub async fn spawn_ofdd(data: &std::path::Path) -> Proc {
    spawn_ofdd_with(data, &SpawnOpts::default()).await
}

/// How to start `ofdd serve` for a fault test.
#[derive(Default)]
pub struct SpawnOpts {
    /// A configuration file (`--config`).
    pub config: Option<std::path::PathBuf>,
    /// Capture stderr (the log, at `RUST_LOG=info`) into this file.
    pub log: Option<std::path::PathBuf>,
    /// A program and arguments to run the binary under (e.g. strace with fault injection).
    pub wrapper: Vec<String>,
}

/// `spawn_ofdd` with a configuration, a captured log and/or a wrapper program.
pub async fn spawn_ofdd_with(data: &std::path::Path, opts: &SpawnOpts) -> Proc {
    let (p1, p2) = free_ports();
    let mut cmd = match opts.wrapper.split_first() {
        Some((prog, args)) => {
            let mut c = std::process::Command::new(prog);
            c.args(args).arg(env!("CARGO_BIN_EXE_ofdd"));
            c
        }
        None => std::process::Command::new(env!("CARGO_BIN_EXE_ofdd")),
    };
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{p1}"),
        "--admin-listen",
        &format!("127.0.0.1:{p2}"),
        "--portal-listen",
        "127.0.0.1:0",
    ])
    .arg("--data")
    .arg(data)
    .env("OFDD_ADMIN_TOKEN", TOKEN)
    .stdout(std::process::Stdio::null());
    if let Some(c) = &opts.config {
        cmd.arg("--config").arg(c);
    }
    match &opts.log {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("log file");
            cmd.env("RUST_LOG", "info").stderr(f);
        }
        None => {
            cmd.env("RUST_LOG", "error")
                .stderr(std::process::Stdio::null());
        }
    }
    let child = cmd.spawn().expect("spawn ofdd");
    let admin = Admin {
        base: format!("http://127.0.0.1:{p2}"),
        token: Some(TOKEN.into()),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", p1))
            .await
            .is_ok()
            && tokio::net::TcpStream::connect(("127.0.0.1", p2))
                .await
                .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ofdd did not start on {data:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Proc {
        child,
        ingest: format!("127.0.0.1:{p1}").parse().unwrap(),
        admin,
    }
}

/// One free loopback port.
pub fn free_port() -> u16 {
    free_ports().0
}
