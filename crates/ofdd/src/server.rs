//! The ingest acceptor and the per-connection task.
//!
//! Back-pressure instead of collapse: a semaphore holds one permit per allowed connection and the
//! acceptor takes a permit *before* it accepts, so past the limit new registers wait in the
//! kernel's backlog (and their FNs retry) instead of the daemon running out of memory or file
//! descriptors. A per-source-IP cap keeps one misbehaving site from taking every slot.
//!
//! Each connection is a loop: read every complete frame → start processing all of them (their
//! store writes join the same group commit) → await them in order → write the acknowledgements in
//! one flush. A register that pipelines its backlog is thereby answered in order and quickly.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::app::App;
use crate::codec::{Frame, FrameCodec, Protocol};
use crate::connection::{Connection, ReadError};
use crate::ingest::Answer;
use crate::response::Response;
use crate::shutdown::Shutdown;

/// Counts open connections per source IP; the guard gives the slot back when dropped.
#[derive(Default)]
pub struct IpSlots {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

pub struct IpSlot<'a> {
    slots: &'a IpSlots,
    ip: IpAddr,
}

impl IpSlots {
    fn take(&self, ip: IpAddr, cap: usize) -> Option<IpSlot<'_>> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot { slots: self, ip })
    }
}

impl Drop for IpSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self.slots.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Pending connections the kernel may queue for us. After a restart or a network outage a whole
/// fleet reconnects at once; the default backlog (128) overflows in that storm, and refused SYNs
/// turn into seconds of retry delay on every register. (The kernel caps it at
/// `net.core.somaxconn`; see deploy/README.md.)
pub const LISTEN_BACKLOG: u32 = 8192;

/// Bind the ingest listener with a deep accept queue and `SO_REUSEADDR` (a restart must not wait
/// for old connections in TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accept registers until shutdown; returns once every connection task has finished.
pub async fn run(listener: TcpListener, app: Arc<App>, mut shutdown: Shutdown) {
    let limits = app.config().limits.clone();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let ip_slots = Arc::new(IpSlots::default());
    let mut tasks = tokio::task::JoinSet::new();

    loop {
        // Take a permit first: at the limit, stop accepting (back-pressure).
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
            _ = shutdown.recv() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.recv() => break,
        };
        // Reap finished tasks so the set does not grow with the connection count.
        while tasks.try_join_next().is_some() {}

        let app = app.clone();
        let ip_slots = ip_slots.clone();
        let shutdown = shutdown.clone();
        let per_ip = limits.max_connections_per_ip;
        tasks.spawn(async move {
            let _permit = permit;
            let metrics = app.metrics();
            let Some(_slot) = ip_slots.take(peer.ip(), per_ip) else {
                metrics
                    .connections_total
                    .with_label_values(&["refused_ip_limit"])
                    .inc();
                debug!(%peer, "connection refused: per-IP limit");
                return;
            };
            metrics.connections_open.inc();
            let outcome = serve(stream, peer, &app, shutdown).await;
            metrics.connections_open.dec();
            metrics
                .connections_total
                .with_label_values(&[outcome])
                .inc();
        });
    }
    drop(listener);
    info!(
        open = tasks.len(),
        "ingest listener closed; waiting for open connections to finish"
    );
    while tasks.join_next().await.is_some() {}
}

/// One frame on its way to an answer. Kept unboxed: steps live in one vector per connection,
/// reused for every read, so the size of the larger variant costs nothing per frame while a box
/// would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Step {
    Fn(crate::ingest::Pending),
    Kz(Bytes),
}

/// Serve one connection; returns its outcome label.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    app: &App,
    mut shutdown: Shutdown,
) -> &'static str {
    let _ = stream.set_nodelay(true);
    let limits = &app.config().limits;
    let kz_limits = app.config().kz.enabled.then(|| ofd_kz::FrameLimits {
        max_size: app.config().kz.max_message_bytes,
    });
    let codec = FrameCodec::new(app.ingest().frame_limits(), kz_limits);
    let mut conn = Connection::new(
        stream,
        codec,
        Duration::from_secs(limits.idle_timeout_secs),
        Duration::from_secs(limits.message_deadline_secs),
        Duration::from_secs(limits.write_timeout_secs),
    );
    let metrics = app.metrics();
    let started = Instant::now();
    let mut frames: Vec<Frame> = Vec::new();
    let mut pending = Vec::new();
    let mut settled = Vec::new();
    let mut answered: u64 = 0;

    let outcome = loop {
        frames.clear();
        let read = tokio::select! {
            r = conn.read_frames(&mut frames) => r,
            _ = shutdown.recv() => break "shutdown",
        };
        let more = match read {
            Ok(more) => more,
            Err(e) => {
                let label = e.label();
                if let ReadError::Framing(err) = &e {
                    metrics.frames_rejected.with_label_values(&[label]).inc();
                    app.log_framing_error(peer, label, err);
                    break "framing_error";
                }
                if matches!(e, ReadError::Deadline(_)) {
                    metrics
                        .frames_rejected
                        .with_label_values(&["slowloris"])
                        .inc();
                }
                if matches!(e, ReadError::Truncated(_)) {
                    metrics
                        .frames_rejected
                        .with_label_values(&["truncated"])
                        .inc();
                }
                debug!(%peer, error = %e, "connection read ended");
                break label;
            }
        };
        metrics
            .bytes_received
            .inc_by(std::mem::take(&mut conn.bytes_read));

        // Bounded in-flight documents: on a slow disk this waits, the socket stops being read,
        // and the register's TCP window closes — memory stays flat.
        let _in_flight = tokio::select! {
            p = app.admit_in_flight(frames.len()) => p,
            _ = shutdown.recv() => break "shutdown",
        };
        // Start every FN–OFD frame before awaiting any: their store writes share a group
        // commit. A KKM–OFD frame's answer depends on the state its predecessor left, so each
        // is decided in turn, in order, when its answer is due.
        pending.clear();
        pending.extend(frames.drain(..).map(|frame| {
            metrics.frame(frame.protocol);
            let step = match frame.protocol {
                Protocol::Fn => Step::Fn(app.ingest().begin(frame.bytes)),
                Protocol::Kz => Step::Kz(frame.bytes),
            };
            (Instant::now(), step)
        }));

        // Settle every frame (durable locally; in replicated mode its publish sent), then
        // release the answers in order, so the publishes of one read are in flight together.
        let mut close: Option<&'static str> = None;
        settled.clear();
        for (frame_done, p) in pending.drain(..) {
            if close.is_some() {
                // After a broken frame nothing else on this stream can be trusted. Frames behind
                // it may still have been stored; unanswered, the FN resends them and gets the
                // stored acknowledgement.
                continue;
            }
            let (protocol, answer) = match p {
                Step::Fn(p) => (Protocol::Fn, app.ingest().settle(p).await),
                Step::Kz(frame) => (Protocol::Kz, Answer::Now(app.kz().answer(frame).await)),
            };
            if let Answer::Now(Response::Close(reason)) = answer {
                close = Some(reason);
            }
            settled.push((frame_done, protocol, answer));
        }
        close = None;
        for (frame_done, protocol, answer) in settled.drain(..) {
            if close.is_some() {
                continue;
            }
            let response = app.ingest().release(answer).await;
            match response {
                Response::Ack(bytes) => {
                    conn.queue(&bytes);
                    answered += 1;
                    metrics.answered(protocol, frame_done.elapsed().as_secs_f64());
                }
                Response::Silent => {}
                Response::Close(reason) => close = Some(reason),
            }
        }
        if let Err(e) = conn.flush().await {
            debug!(%peer, error = %e, "writing acknowledgements failed");
            break "write_error";
        }
        if let Some(reason) = close {
            break reason;
        }
        if !more {
            break "closed";
        }
    };
    // Best effort: deliver the FIN after the last acknowledgement.
    conn.shutdown().await;
    if answered > 0 {
        info!(%peer, outcome, answered, secs = started.elapsed().as_secs_f64(), "connection ended");
    } else {
        // A connection that got no answer is garbage, a scan, a flood or a dead link: anyone
        // can open those at will, so they must not each cost a log line (broken frames are
        // already logged, rate-limited, by `log_framing_error`; all are counted in metrics).
        debug!(%peer, outcome, secs = started.elapsed().as_secs_f64(), "connection ended without an answer");
    }
    outcome
}
