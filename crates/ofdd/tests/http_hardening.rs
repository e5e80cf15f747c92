//! Every HTTP listener is hardened (`ofdd::http_server::serve`): a slowloris against the admin
//! port neither starves the registers on the ingest port nor an authorised operator; half-open
//! requests are closed after the header timeout, trickled bodies after the request timeout;
//! connections past the cap are refused and counted; bodies past the cap are refused with or
//! without Content-Length; every answer carries the security headers; shutdown lets a request in
//! flight finish and does not wait for attackers.
//!
//! Timing: the timeouts configured here are short (1–10 s), and every wait for the server is an
//! event wait with a generous deadline (60 s). Elapsed times are only ever checked from below
//! (the server cannot close a half-open request *before* its header timeout), except where noted.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use common::*;
use ofd_proto::ack::ResponseCode;
use ofdd::http_server::{self, HttpLimits};
use ofdd::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

/// How long any wait for the server may take before the test fails: generous, for a loaded
/// 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// A request that never finishes its headers.
const HALF_OPEN: &[u8] =
    b"GET /api/v1/kkt HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Never-Ends: ";

// ---- a raw HTTP/1.1 client (the tests need what ureq hides: partial requests, refused
// connections, every response header) --------------------------------------------------------

#[derive(Debug)]
struct RawAnswer {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parse what a server sent on a `Connection: close` exchange; `None` if it sent nothing.
fn parse_answer(bytes: &[u8]) -> Option<RawAnswer> {
    if bytes.is_empty() {
        return None;
    }
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(RawAnswer {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    })
}

/// Read until the server closes (EOF or reset); everything it sent. Panics after `DEADLINE`.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let started = Instant::now();
    loop {
        let left = DEADLINE.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server did not close the connection within {DEADLINE:?}"),
        }
    }
}

/// One request on a fresh connection with `Connection: close`; `None` if the server closed it
/// without answering (refused at the cap). `extra` is added to the headers.
async fn raw_get(addr: SocketAddr, path: &str, extra: &str) -> Option<RawAnswer> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    // A refused connection may already be closed: the write may fail, the read tells.
    let _ = s.write_all(req.as_bytes()).await;
    parse_answer(&read_to_close(&mut s).await)
}

fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

/// `/metrics` of the daemon at `addr`, retried while the listener refuses the connection.
async fn scrape(addr: SocketAddr) -> String {
    let started = Instant::now();
    loop {
        if let Some(a) = raw_get(addr, "/metrics", "").await {
            assert_eq!(a.status, 200);
            return String::from_utf8(a.body).unwrap();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "/metrics refused for {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A value of `name` whose labels include every one of `labels` (order-independent), 0 if absent.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(s, _)| {
            s.split_once('{').is_some_and(|(n, rest)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
        })
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0.0)
}

fn admin_series(text: &str, name: &str) -> f64 {
    series(text, name, &[("listener", "admin")])
}

fn timeouts(text: &str, kind: &str) -> f64 {
    series(
        text,
        "ofd_http_timeouts_total",
        &[("listener", "admin"), ("kind", kind)],
    )
}

/// Poll `/metrics` until `ok` holds for it; the text that satisfied it.
async fn wait_metrics(addr: SocketAddr, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = scrape(addr).await;
        if ok(&text) {
            return text;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not seen within {DEADLINE:?}; metrics:\n{}",
            text.lines()
                .filter(|l| l.starts_with("ofd_http"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until `done()` holds (an event the test's own tasks signal), or fail.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A half-open request: connected, partial headers sent, never finished. `opened` is taken
/// *before* connecting, so the server's clock for it cannot have started earlier.
struct HalfOpen {
    stream: TcpStream,
    opened: Instant,
}

impl HalfOpen {
    async fn open(addr: SocketAddr) -> HalfOpen {
        let opened = Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // A connection refused at the cap may be closed before this write lands; the close is
        // what `closed_after` observes.
        let _ = stream.write_all(HALF_OPEN).await;
        HalfOpen { stream, opened }
    }

    /// Wait (up to `DEADLINE`) until the server closes it; how long it was held open.
    async fn closed_after(&mut self) -> Duration {
        read_to_close(&mut self.stream).await;
        self.opened.elapsed()
    }

    /// Wait, without a deadline (the caller has one), until the server closes it.
    async fn held_until_closed(&mut self) -> Duration {
        let mut buf = [0u8; 1024];
        while let Ok(n) = self.stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        self.opened.elapsed()
    }
}

fn raise_fd_limit() {
    // Hundreds of attacker sockets plus the server's ends in one process.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < 8192 {
            lim.rlim_cur = lim.rlim_max.min(8192);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

// ---- the slowloris ----------------------------------------------------------------------------

/// Holds `n` half-open requests against `addr` at all times: each attacker reopens its request
/// as soon as the server closes it, until stopped.
struct Slowloris {
    stop: watch::Sender<bool>,
    /// Attackers whose request the server has closed at least once.
    closed_once: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Option<Duration>>>,
}

impl Slowloris {
    fn start(addr: SocketAddr, n: usize) -> Slowloris {
        let (stop, rx) = watch::channel(false);
        let closed_once = Arc::new(AtomicUsize::new(0));
        let tasks = (0..n)
            .map(|_| {
                let mut rx = rx.clone();
                let closed_once = closed_once.clone();
                tokio::spawn(async move {
                    // The shortest time the server held one of this attacker's requests.
                    let mut shortest: Option<Duration> = None;
                    loop {
                        if *rx.borrow() {
                            return shortest;
                        }
                        let mut req = HalfOpen::open(addr).await;
                        tokio::select! {
                            held = req.held_until_closed() => {
                                if shortest.is_none() {
                                    closed_once.fetch_add(1, Ordering::SeqCst);
                                }
                                shortest = Some(shortest.map_or(held, |s| s.min(held)));
                            }
                            _ = rx.changed() => return shortest,
                        }
                    }
                })
            })
            .collect();
        Slowloris {
            stop,
            closed_once,
            tasks,
        }
    }

    /// Stop; per attacker, the shortest time a request of it was held (None: never closed).
    async fn stop(self) -> Vec<Option<Duration>> {
        self.stop.send(true).unwrap();
        let mut out = Vec::new();
        for t in self.tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_on_the_admin_port_starves_neither_registers_nor_operators() {
    raise_fd_limit();
    const ATTACKERS: usize = 300;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let t = TestDaemon::start_with(|c| {
        c.http.header_read_timeout_secs = HEADER_TIMEOUT.as_secs();
        c.http.keepalive_idle_secs = 1;
        c.http.request_timeout_secs = 5;
    })
    .await;
    let admin_addr = t.d().admin_addr;

    let attack = Slowloris::start(admin_addr, ATTACKERS);
    // The attack is in place: the server holds (at least) every attacker's connection.
    wait_metrics(admin_addr, "all half-open requests held", |m| {
        admin_series(m, "ofd_http_connections_open") >= ATTACKERS as f64
    })
    .await;

    // During the attack: registers send documents and get them acknowledged...
    let registers = (0..4u64).map(|i| {
        let addr = t.ingest_addr();
        tokio::spawn(async move {
            let mut kkt = Kkt::new(7100 + i);
            let mut link = Link::connect(addr).await;
            for _ in 0..25 {
                let fd = kkt.next_fd;
                let ack = link.exchange(&kkt.receipt()).await;
                assert_eq!(ack_of(&ack), (kkt.fn_str(), fd, ResponseCode::Accepted));
            }
        })
    });
    // ...and an operator's authorised request gets through.
    let list = t.admin().get("/api/v1/kkt").await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(list.json()["items"].is_array(), "{}", list.text());
    for r in registers {
        r.await.expect("a register got every acknowledgement");
    }
    let during = scrape(admin_addr).await;
    assert_eq!(
        series(
            &during,
            "ofd_documents_total",
            &[("doc_type", "receipt"), ("result", "accepted")]
        ),
        100.0
    );

    // The server closes every half-open request, none before its header timeout.
    wait_for("the server closed every attacker's request", || {
        attack.closed_once.load(Ordering::SeqCst) == ATTACKERS
    })
    .await;
    let shortest = attack.stop().await;
    for held in &shortest {
        let held = held.expect("every attacker's request was closed by the server");
        assert!(
            held >= HEADER_TIMEOUT,
            "a half-open request was closed after {held:?}, before the header timeout"
        );
    }
    let after = wait_metrics(admin_addr, "the attackers' connections released", |m| {
        admin_series(m, "ofd_http_connections_open") <= 1.0
    })
    .await;
    assert!(timeouts(&after, "header") >= ATTACKERS as f64, "{after}");
    assert_eq!(
        admin_series(&after, "ofd_http_connections_refused_total"),
        0.0
    );
    assert_eq!(timeouts(&after, "request"), 0.0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_and_an_operator_gets_in_after_the_timeout() {
    raise_fd_limit();
    const CAP: usize = 32;
    const EXCESS: usize = 68;
    // Long enough that opening ~100 loopback connections certainly fits inside it, so the
    // first attackers still hold every slot while the excess arrives.
    const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    let t = TestDaemon::start_with(|c| {
        c.http.header_read_timeout_secs = HEADER_TIMEOUT.as_secs();
        c.http.keepalive_idle_secs = 1;
        c.http.max_connections = CAP;
    })
    .await;
    let addr = t.d().admin_addr;

    // CAP - 1 half-open requests, and the scrape that sees them takes the last slot.
    let mut holders = Vec::new();
    for _ in 0..CAP - 1 {
        holders.push(HalfOpen::open(addr).await);
    }
    wait_metrics(addr, "the holders' connections", |m| {
        admin_series(m, "ofd_http_connections_open") >= CAP as f64
    })
    .await;
    // Past the cap: each is closed by the server at once, without an answer.
    let mut excess = Vec::new();
    for _ in 0..EXCESS {
        excess.push(HalfOpen::open(addr).await);
    }
    let mut refused_fast = 0;
    for e in &mut excess {
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, e.stream.read_to_end(&mut buf))
            .await
            .expect("the server closes a connection past the cap");
        assert!(buf.is_empty(), "a refused connection got an answer");
        refused_fast += usize::from(e.opened.elapsed() < HEADER_TIMEOUT);
    }
    // Every holder is closed by the server after its header timeout.
    for h in &mut holders {
        let held = h.closed_after().await;
        assert!(held >= HEADER_TIMEOUT, "a holder was closed after {held:?}");
    }
    // The attackers timed out: an authorised request gets in (at once, no retry).
    let list = raw_get(addr, "/api/v1/kkt", &bearer())
        .await
        .expect("an authorised request is answered once the attackers timed out");
    assert_eq!(list.status, 200);
    let m = scrape(addr).await;
    // The scrape that saw the holders may have released its slot to one excess connection
    // before the others arrived: at most one of them was held instead of refused.
    assert!(
        admin_series(&m, "ofd_http_connections_refused_total") >= (EXCESS - 1) as f64,
        "refused {} of {EXCESS} (closed before the header timeout: {refused_fast})\n{m}",
        admin_series(&m, "ofd_http_connections_refused_total"),
    );
    assert!(timeouts(&m, "header") >= (CAP - 1) as f64, "{m}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_with_408() {
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
    let t = TestDaemon::start_with(|c| {
        c.http.request_timeout_secs = REQUEST_TIMEOUT.as_secs();
    })
    .await;
    let addr = t.d().admin_addr;
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /api/v1/kkt HTTP/1.1\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{",
        bearer()
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms (10 B/s: 100 000 bytes would take hours) until the server answers.
    let trickle = tokio::spawn(async move {
        for _ in 0..3000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if wr.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(DEADLINE, rd.read(&mut buf))
            .await
            .expect("the server cuts the trickled body off")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let elapsed = started.elapsed();
    trickle.abort();
    let answer = parse_answer(&got).expect("a 408 before the close");
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(elapsed >= REQUEST_TIMEOUT, "cut off after {elapsed:?}");
    assert_security_headers(&answer, "408");
    let m = scrape(addr).await;
    assert_eq!(timeouts(&m, "request"), 1.0, "{m}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_the_cap_are_refused_with_or_without_content_length() {
    let t = TestDaemon::start().await;
    let addr = t.d().admin_addr;

    // Chunked (no Content-Length), growing past the admin API's 64 KiB: 413.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /api/v1/kkt HTTP/1.1\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        bearer()
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 8192];
        for _ in 0..16 {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            wr.write_all(&chunk).await?;
            wr.write_all(b"\r\n").await?;
        }
        wr.write_all(b"0\r\n\r\n").await?;
        std::io::Result::Ok(wr)
    });
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, rd.read_to_end(&mut got))
        .await
        .expect("an answer")
        .ok();
    let answer = parse_answer(&got).expect("an answer to the chunked body");
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_security_headers(&answer, "413 (chunked)");
    let _ = writer.await;

    // A declared Content-Length past the listener's cap (1 MiB): 413 before any body is sent.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/kkt HTTP/1.1\r\nHost: {addr}\r\n{}Content-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
        bearer()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let answer = parse_answer(&read_to_close(&mut s).await).expect("an answer");
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_security_headers(&answer, "413 (Content-Length)");

    // A small body still works.
    let ok = t
        .admin()
        .post("/api/v1/kkt", serde_json::json!({"rn": "1"}))
        .await;
    assert!(
        (400..500).contains(&ok.status) && ok.status != 413,
        "{}",
        ok.status
    );
    t.stop().await;
}

fn assert_security_headers(a: &RawAnswer, what: &str) {
    for (name, value) in http_server::SECURITY_HEADERS {
        assert_eq!(
            a.header(name),
            Some(*value),
            "{what}: header {name} in {:?}",
            a.headers
        );
    }
    let csp = a.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let t = TestDaemon::start().await;
    let addr = t.d().admin_addr;
    let health = raw_get(addr, "/healthz", "").await.unwrap();
    assert_eq!(health.status, 200);
    assert_security_headers(&health, "/healthz");
    let api = raw_get(addr, "/api/v1/kkt", &bearer()).await.unwrap();
    assert_eq!(api.status, 200);
    assert!(
        api.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_security_headers(&api, "GET /api/v1/kkt");
    let unauthorised = raw_get(addr, "/api/v1/kkt", "").await.unwrap();
    assert_eq!(unauthorised.status, 401);
    assert_security_headers(&unauthorised, "401");
    let missing = raw_get(addr, "/api/v1/nope", &bearer()).await.unwrap();
    assert_eq!(missing.status, 404);
    assert_security_headers(&missing, "404 (API)");
    let outside = raw_get(addr, "/nope", "").await.unwrap();
    assert_eq!(outside.status, 404);
    assert_security_headers(&outside, "404 (no route)");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_half_open_requests() {
    raise_fd_limit();
    // A header timeout far beyond the test's deadline: only shutdown can close these.
    let t = TestDaemon::start_with(|c| {
        c.http.header_read_timeout_secs = 3600;
        c.http.keepalive_idle_secs = 3600;
    })
    .await;
    let addr = t.d().admin_addr;
    let mut attackers = Vec::new();
    for _ in 0..50 {
        attackers.push(HalfOpen::open(addr).await);
    }
    wait_metrics(addr, "the half-open requests held", |m| {
        admin_series(m, "ofd_http_connections_open") >= 50.0
    })
    .await;
    tokio::time::timeout(DEADLINE, t.stop())
        .await
        .expect("shutdown completes despite the half-open requests");
    for a in &mut attackers {
        a.closed_after().await;
    }
}

// ---- serve() with any Router: graceful shutdown, keep-alive idle timeout, ConnectInfo ---------

fn limits(idle_secs: u64) -> HttpLimits {
    HttpLimits {
        header_read_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(30),
        keepalive_idle: Duration::from_secs(idle_secs),
        max_connections: 8,
        max_body_bytes: 1 << 20,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let router = {
        let (entered, release) = (entered.clone(), release.clone());
        Router::new().route(
            "/slow",
            get(move || async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new();
    let (trigger, shutdown) = ofdd::shutdown::channel();
    let server = tokio::spawn(http_server::serve(
        listener,
        router,
        limits(10),
        metrics.http_listener("test"),
        shutdown,
    ));
    let client = tokio::spawn(async move { raw_get(addr, "/slow", "").await });
    tokio::time::timeout(DEADLINE, entered.notified())
        .await
        .expect("the request reaches its handler");
    trigger.trigger();
    // The listener closes: new connections are refused by the kernel...
    wait_for_refused(addr).await;
    // ...while the request in flight is answered, after which serve returns. The pause gives a
    // server that cut requests in flight at shutdown time to do so (this server may not, for
    // up to request_timeout = 30 s: the pause cannot make a correct server fail).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !server.is_finished(),
        "serve returned with a request in flight"
    );
    release.notify_one();
    let answer = tokio::time::timeout(DEADLINE, client)
        .await
        .expect("the in-flight request is answered")
        .unwrap()
        .expect("an answer, not a close");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"done");
    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("serve returns after the drain")
        .unwrap();
}

async fn wait_for_refused(addr: SocketAddr) {
    let started = Instant::now();
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            started.elapsed() < DEADLINE,
            "the listener still accepts after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_and_handlers_see_the_peer() {
    let router = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new();
    let (trigger, shutdown) = ofdd::shutdown::channel();
    let server = tokio::spawn(http_server::serve(
        listener,
        router,
        limits(1),
        metrics.http_listener("test"),
        shutdown,
    ));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let me = s.local_addr().unwrap();
    // Two requests on one kept-alive connection, then silence. The idle clock is read before
    // the last request is sent, so the server's (which starts at its answer) cannot be ahead.
    let mut idle_from = Instant::now();
    for _ in 0..2 {
        idle_from = Instant::now();
        s.write_all(format!("GET /peer HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(me.to_string().as_bytes()) {
            let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
                .await
                .expect("an answer")
                .unwrap();
            assert!(
                n > 0,
                "closed before answering: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    }
    let rest = read_to_close(&mut s).await;
    let idle = idle_from.elapsed();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(idle >= Duration::from_secs(1), "closed after {idle:?} idle");
    // The keep-alive timer closed it, not the header timer (30 s).
    assert!(idle < Duration::from_secs(30), "closed only after {idle:?}");
    let text = metrics.render();
    let m = |kind| {
        series(
            &text,
            "ofd_http_timeouts_total",
            &[("listener", "test"), ("kind", kind)],
        )
    };
    assert_eq!(m("idle"), 1.0, "{text}");
    assert_eq!(m("header"), 0.0, "{text}");
    trigger.trigger();
    tokio::time::timeout(DEADLINE, server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_larger_than_the_read_buffer_are_written_whole() {
    // The 64 KiB buffer cap bounds what a slow client can make the server hold; it must not
    // truncate big answers (document lists, CSV exports, /metrics).
    let big = "x".repeat(3 << 20);
    let router = Router::new().route("/big", get(move || async move { big }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new();
    let (trigger, shutdown) = ofdd::shutdown::channel();
    let server = tokio::spawn(http_server::serve(
        listener,
        router,
        limits(10),
        metrics.http_listener("test"),
        shutdown,
    ));
    let answer = raw_get(addr, "/big", "").await.expect("an answer");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), 3 << 20);
    assert!(answer.body.iter().all(|&b| b == b'x'));
    trigger.trigger();
    tokio::time::timeout(DEADLINE, server)
        .await
        .unwrap()
        .unwrap();
}
