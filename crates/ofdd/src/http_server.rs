//! Serving an axum [`Router`] on a TCP listener, hardened the same way for every HTTP listener
//! (the admin API now, the web portal later). A listener that only `axum::serve`s keeps every
//! connection that never finishes its headers open forever; [`serve`] does not:
//!
//! - **Header-read timeout** (hyper's `header_read_timeout`): a request's headers must be complete
//!   `header_read_timeout` after the connection opened, or after it went idle following its
//!   previous response. Past it the connection is closed without an answer (slowloris).
//! - **Request timeout** (tower-http `TimeoutLayer`): the answer must be ready `request_timeout`
//!   after the headers arrived, reading the body included, or it is `408 Request Timeout`; a body
//!   the handler did not finish reading then closes the connection. A trickled body is cut off.
//! - **Keep-alive idle timeout**: a kept-alive connection with no request in flight is closed
//!   `keepalive_idle` after its last answer (hyper's header-read clock is the outer bound).
//! - **Connection cap per listener** (a semaphore): a connection past `max_connections` is
//!   accepted and closed at once, without an answer, and counted — it is not left waiting. A
//!   legitimate client retries, and finds a slot as soon as the attackers' header timeouts expire
//!   (at most `header_read_timeout`). Closing at once keeps the accept loop and the kernel backlog
//!   moving, so a full listener never delays the connections that will find a free slot, and
//!   the refusals are visible in `ofd_http_connections_refused_total`.
//! - **Body size**: `max_body_bytes` for every route, whether the body has a Content-Length (413
//!   at once) or is chunked (413 as soon as it grows past the cap); routers may set smaller caps
//!   with axum's `DefaultBodyLimit`.
//! - **Security headers** on every answer the router produces, 408 and 413 included (see
//!   [`SECURITY_HEADERS`]); each is added only when the handler did not set it, so a page or an
//!   asset can loosen, say, `Cache-Control` or `Content-Security-Policy` for itself.
//! - **Graceful shutdown**: on the daemon's shutdown signal the listener stops accepting, idle and
//!   half-open connections close at once, requests in flight finish (within `request_timeout`
//!   plus a second, after which what is left is closed).
//!
//! HTTP/1.1 only (axum is built without HTTP/2 here); upgrades (WebSocket) are not served. Each
//! request carries `axum::extract::ConnectInfo<SocketAddr>` with the peer address. Metrics are
//! labelled by listener name only: open connections, refused connections, and timeouts by kind
//! (`header`, `request`, `idle`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::IntGauge;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, info, warn};

use crate::config::HttpConfig;
use crate::metrics::HttpListenerMetrics;
use crate::shutdown::Shutdown;

/// The default Content-Security-Policy: same-origin resources only (server-rendered pages with
/// their scripts, styles and images served by the daemon itself), no plugins, no `<base>`
/// rewriting, forms post only to us, never framed. Inline scripts and styles are refused.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers added to every answer that does not set them itself.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    // API answers and metrics are live data; a page or asset that may be cached sets its own.
    ("cache-control", "no-store"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// Largest buffered read (the request line and headers must fit; bodies stream through it).
/// Bounds the memory a half-open connection can hold to 64 KiB instead of hyper's ~400 KiB.
const MAX_BUF_BYTES: usize = 64 * 1024;

/// The limits of one HTTP listener (from `[http]`, see [`HttpConfig`]).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub keepalive_idle: Duration,
    pub max_connections: usize,
    pub max_body_bytes: usize,
}

impl From<&HttpConfig> for HttpLimits {
    fn from(c: &HttpConfig) -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_secs(c.header_read_timeout_secs),
            request_timeout: Duration::from_secs(c.request_timeout_secs),
            keepalive_idle: Duration::from_secs(c.keepalive_idle_secs),
            max_connections: c.max_connections,
            max_body_bytes: c.max_body_bytes,
        }
    }
}

/// Serve `router` on `listener` until `shutdown`, then drain: returns once every connection has
/// closed. `metrics` are the listener's series (`Metrics::http_listener("admin")`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: HttpListenerMetrics,
    mut shutdown: Shutdown,
) {
    let local = listener.local_addr().ok();
    let request_timeouts = metrics.request_timeouts.clone();
    let stack = ServiceBuilder::new()
        .layer(security_header(0))
        .layer(security_header(1))
        .layer(security_header(2))
        .layer(security_header(3))
        .layer(security_header(4))
        .layer(security_header(5))
        .map_response(move |resp: Response<_>| {
            if resp.status() == StatusCode::REQUEST_TIMEOUT {
                request_timeouts.inc();
            }
            resp
        })
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .service(router);

    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_BUF_BYTES)
        .keep_alive(true);

    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, listener = ?local, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        // Reap finished tasks so the set does not grow with the connection count.
        while tasks.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.refused.inc();
            debug!(%peer, listener = ?local, "HTTP connection refused: listener at its cap");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let service = {
            let stack = stack.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = activity.begin();
                let call = stack.clone().oneshot(req);
                async move {
                    let answer = call.await;
                    drop(in_flight);
                    answer
                }
            })
        };
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tasks.spawn(drive(
            conn,
            permit,
            activity,
            limits.keepalive_idle,
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    drop(listener);
    info!(
        listener = ?local,
        open = tasks.len(),
        "HTTP listener closed; waiting for requests in flight"
    );
    let drain = limits.request_timeout + Duration::from_secs(1);
    let drained =
        tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!(
            listener = ?local,
            left = tasks.len(),
            "HTTP connections still open after the drain time; closing them"
        );
        tasks.shutdown().await;
    }
}

// `serve` stacks one layer per entry of SECURITY_HEADERS: a header added there needs its layer.
const _: () = assert!(SECURITY_HEADERS.len() == 6);

/// `SECURITY_HEADERS[i]` as a layer that adds it when the answer has none.
fn security_header(i: usize) -> SetResponseHeaderLayer<HeaderValue> {
    let (name, value) = SECURITY_HEADERS[i];
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

/// What one connection's requests are doing, for the keep-alive idle timeout.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicU64,
    last_answer: Mutex<Option<Instant>>,
    changed: Notify,
}

/// A request being handled; dropping it records its answer.
struct InFlight(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the connection will have idled `idle` after its last answer, if nothing is in
    /// flight and it has answered at all (before its first request hyper's header clock rules).
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = *self.last_answer.lock().unwrap_or_else(|p| p.into_inner());
        last.map(|t| t + idle)
    }

    fn idle_between_requests(&self) -> bool {
        self.served.load(Ordering::SeqCst) > 0 && self.in_flight.load(Ordering::SeqCst) == 0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        *a.last_answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        a.served.fetch_add(1, Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
        a.changed.notify_one();
    }
}

/// `ofd_http_connections_open` for as long as the connection task lives (aborted ones too).
struct Open(IntGauge);

impl Open {
    fn new(g: &IntGauge) -> Open {
        g.inc();
        Open(g.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Run one connection to its end: idle and shutdown handling, then the timeout bookkeeping.
async fn drive<S, B>(
    conn: http1::Connection<TokioIo<TcpStream>, S>,
    permit: OwnedSemaphorePermit,
    activity: Arc<Activity>,
    keepalive_idle: Duration,
    metrics: HttpListenerMetrics,
    mut shutdown: Shutdown,
) where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let open = Open::new(&metrics.open);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    let mut idle_closed = false;
    let result = loop {
        let idle_at = (!closing)
            .then(|| activity.idle_deadline(keepalive_idle))
            .flatten();
        let far = Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            r = conn.as_mut() => break r,
            _ = activity.changed.notified(), if !closing => {}
            _ = tokio::time::sleep_until(idle_at.unwrap_or(far)), if idle_at.is_some() => {
                // Still idle (no request began meanwhile): let hyper close it between requests.
                if activity.idle_deadline(keepalive_idle).is_some_and(|t| t <= Instant::now()) {
                    metrics.idle_timeouts.inc();
                    idle_closed = true;
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = shutdown.recv(), if !closing => {
                // Idle and half-open connections close now; a request in flight finishes first.
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    };
    // Give the slot back before the socket closes (the connection drops at the end of this
    // function), so a client that sees the close finds the slot free.
    drop(open);
    drop(permit);
    match result {
        Ok(()) => {}
        Err(e) if e.is_timeout() => {
            if activity.idle_between_requests() {
                if !idle_closed {
                    metrics.idle_timeouts.inc();
                }
            } else {
                metrics.header_timeouts.inc();
            }
        }
        Err(e) => debug!(error = %e, "HTTP connection ended with an error"),
    }
}
