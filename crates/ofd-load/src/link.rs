//! One simulated connection: it sends its registers' documents, reads and verifies every
//! acknowledgement, and behaves like the link its [`Profile`] describes.
//!
//! A [`Worker`] owns a slice of the fleet (registers `w, w + C, w + 2C, …`), so every FN's
//! documents travel on exactly one connection, in FD order — as with a real FN. Up to
//! `pipeline` documents are outstanding; acknowledgements must come back in order, and each is
//! decoded and checked against the document at the head of the window (code 0, same FN, same FD).
//!
//! The FN's resend rule is reproduced exactly: when a connection drops (simulated by `sim`, or a
//! real error), every unacknowledged document is sent again, byte for byte, on the next
//! connection. A resend of a document that had been written completely is counted as a
//! duplicate — the daemon has probably stored it and must answer with its stored code-0
//! acknowledgement.
//!
//! Messages are built into pooled buffers, so after warm-up a document costs one build and no
//! allocation; in `wired` all documents ready at once go out in one write.
//!
//! What a request is and how its answer is checked is the [`Dialect`]'s business: FN–OFD
//! ([`crate::fleet::FnDialect`]: documents and acknowledgements) or KKM–OFD of Kazakhstan
//! ([`crate::kz::KzDialect`]: requests with TOKEN and REQNUM, answers with result codes). The
//! worker owns the link: schedule, window, resends, drops, timeouts and statistics.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::profile::{Profile, SimLink};
use crate::report::{ErrorKind, Stats};
use crate::rng::Rng;
use crate::schedule::Schedule;

/// Settings every worker of a run shares.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub addr: SocketAddr,
    pub profile: Profile,
    /// Most documents outstanding on one connection (≥ 1).
    pub pipeline: usize,
    pub sim: SimLink,
    /// Longest wait for the next acknowledgement while documents are outstanding.
    pub ack_timeout: Duration,
    pub connect_timeout: Duration,
    /// Sends of one document before it is given up.
    pub max_attempts: u32,
    /// Keep acknowledged (FN, FD) pairs for `--acked-out`.
    pub keep_acked: bool,
    /// Fixed document time (unix seconds) instead of the system clock.
    pub clock: Option<u32>,
}

/// What [`Dialect::issue`] did with a schedule ticket.
#[derive(Debug)]
pub enum Issued<S> {
    /// A request is in the buffer; check its answer against this.
    Send(S),
    /// The ticket was used without sending anything now (kz: a ticket queued offline, sent later
    /// by [`Dialect::replay`]).
    Queued,
    /// Like `Queued`, and a register has just lost its link (`sim` then drops an idle
    /// connection).
    WentOffline,
}

/// One protocol's side of a link: what the next request is and whether an answer is right.
///
/// A worker calls [`Dialect::replay`] and [`Dialect::issue`] to fill its window, frames the
/// answer stream with [`Dialect::frame`] and checks every answer, in order, with
/// [`Dialect::check`]. Resends after a drop are the worker's: the same bytes again.
pub trait Dialect: Send + 'static {
    /// What an answer is checked against, kept with the request while it is outstanding.
    type Sent: Send + 'static;

    /// A request owed to a ticket taken earlier (kz: the offline queue, replayed in order), built
    /// into `buf`, or `None` if there is none to send now.
    fn replay(&mut self, time: u32, buf: &mut Vec<u8>) -> Option<Result<Self::Sent, ErrorKind>> {
        let _ = (time, buf);
        None
    }

    /// Whether [`Dialect::issue`] can build a request now (kz: some register has nothing
    /// outstanding). A worker takes a schedule ticket only when it can.
    fn can_issue(&self) -> bool {
        true
    }

    /// Build the request of one schedule ticket into `buf` (cleared first).
    fn issue(&mut self, time: u32, buf: &mut Vec<u8>) -> Result<Issued<Self::Sent>, ErrorKind>;

    /// The schedule has no more tickets (kz: end offline periods so their queues are replayed).
    fn flush(&mut self) {}

    /// Tickets taken whose requests are not built yet (kz: queued offline).
    fn owed(&self) -> usize {
        0
    }

    /// Is a whole answer at the start of `buf`? `Ok(Some(len))`: yes; `Ok(None)`: need more;
    /// `Err` (framing): the stream is broken.
    fn frame(&self, buf: &[u8]) -> Result<Option<usize>, ErrorKind>;

    /// Check one answer against what was sent; `Ok` carries the byte `by_type` counts it under.
    /// `retry`: the request had been written completely before (this answer is to a resend).
    fn check(
        &mut self,
        frame: &[u8],
        sent: &Self::Sent,
        retry: bool,
        stats: &mut Stats,
    ) -> Result<u8, ErrorKind>;

    /// The request was given up after too many attempts.
    fn abandon(&mut self, sent: &Self::Sent) {
        let _ = sent;
    }
}

/// Why a connection went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Down {
    /// `sim` dropped it on purpose; not an error.
    Simulated,
    /// A real failure, counted under this kind.
    Error(ErrorKind),
}

/// A document sent and not yet acknowledged.
#[derive(Debug)]
struct InFlight<S> {
    buf: Vec<u8>,
    sent: S,
    /// Latency is measured from here: the due time (open loop) or the first write (closed loop).
    start: Instant,
    attempts: u32,
    /// Written completely at least once (a resend is then a duplicate for the daemon).
    ever_written: bool,
    /// Closed loop: latency starts when the document enters the window, not when it was built.
    closed_loop: bool,
    /// The latest send repeats a complete earlier one (its answer is the daemon's stored one).
    duplicate: bool,
}

/// A document built and waiting for its due time.
#[derive(Debug)]
struct Ready<S> {
    doc: InFlight<S>,
    due: Instant,
}

pub struct Worker<D: Dialect> {
    cfg: Arc<LinkConfig>,
    schedule: Arc<Schedule>,
    dialect: D,
    rng: Rng,
    pub stats: Stats,
    window: VecDeque<InFlight<D::Sent>>,
    ready: Option<Ready<D::Sent>>,
    /// `--prebuild`: this worker's documents, built before the run started.
    prebuilt: VecDeque<(Vec<u8>, D::Sent)>,
    /// Send only prebuilt documents.
    prebuilt_only: bool,
    pool: Vec<Vec<u8>>,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    conn: Option<TcpStream>,
    /// A connection was lost since the last connect (the next connect is a reconnect).
    dropped: bool,
    /// When the head of the window last made progress (for the acknowledgement timeout).
    last_progress: Instant,
    /// `idle` profile: this connection already sent its one document.
    idle_done: bool,
    /// A register lost its link while nothing was outstanding (`sim` drops the connection).
    went_offline: bool,
}

impl<D: Dialect> Worker<D> {
    pub fn new(cfg: Arc<LinkConfig>, schedule: Arc<Schedule>, dialect: D, seed: u64) -> Worker<D> {
        let mut stats = Stats::default();
        if cfg.keep_acked {
            stats.acked_pairs.reserve(1024);
        }
        Worker {
            cfg,
            schedule,
            dialect,
            rng: Rng::new(seed),
            stats,
            window: VecDeque::new(),
            ready: None,
            prebuilt: VecDeque::new(),
            prebuilt_only: false,
            pool: Vec::new(),
            read_buf: Vec::with_capacity(16 * 1024),
            write_buf: Vec::new(),
            conn: None,
            dropped: false,
            last_progress: Instant::now(),
            idle_done: false,
            went_offline: false,
        }
    }

    /// Documents scheduled and not yet answered (counted as such when the hard deadline cuts
    /// the run).
    pub fn unfinished(&self) -> usize {
        self.window.len()
            + usize::from(self.ready.is_some())
            + self.prebuilt.len()
            + self.dialect.owed()
    }

    /// The dialect, after the run (kz: the registers' tokens to use next).
    pub fn into_dialect(self) -> D {
        self.dialect
    }

    /// Attach the run's schedule (created once prebuilding is done).
    pub fn set_schedule(&mut self, schedule: Arc<Schedule>) {
        self.schedule = schedule;
    }

    /// Close the connection, if any (after the run).
    pub fn close(&mut self) {
        if self.conn.take().is_some() {
            self.schedule
                .open_connections
                .fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Run until the schedule has no more tickets and every document is answered.
    pub async fn run(&mut self) {
        let pipeline = self.cfg.pipeline.max(1);
        loop {
            if self.ready.is_none() && self.window.len() < pipeline && !self.idle_done {
                self.ready = self.prepare();
            }
            if std::mem::take(&mut self.went_offline)
                && self.cfg.profile == Profile::Sim
                && self.window.is_empty()
                && self.conn.is_some()
            {
                // The register's link is gone: the connection goes, and comes back to replay.
                self.close();
                self.dropped = true;
            }
            if self.ready.is_none() && self.window.is_empty() {
                if self.cfg.profile == Profile::Idle && self.idle_done {
                    self.hold().await;
                }
                return;
            }

            if self.conn.is_none() {
                // Nothing to resend: wait for the next document's due time before connecting, so
                // that a one-shot connection is opened when its document is ready.
                if self.window.is_empty()
                    && let Some(r) = &self.ready
                {
                    sleep_until(r.due).await;
                }
                self.connect().await;
                if let Err(down) = self.resend_window().await {
                    self.link_down(down).await;
                }
                continue;
            }

            let now = Instant::now();
            let can_send =
                self.window.len() < pipeline && self.ready.as_ref().is_some_and(|r| r.due <= now);
            if can_send {
                if let Err(down) = self.send_ready().await {
                    self.link_down(down).await;
                }
                continue;
            }

            let due = self
                .ready
                .as_ref()
                .filter(|_| self.window.len() < pipeline)
                .map(|r| r.due);
            let ack_deadline = self.last_progress + self.cfg.ack_timeout;
            let waiting_acks = !self.window.is_empty();
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            self.read_buf.reserve(16 * 1024);
            tokio::select! {
                biased;
                read = conn.read_buf(&mut self.read_buf), if waiting_acks => {
                    match read {
                        Ok(0) => self.link_down(Down::Error(ErrorKind::Eof)).await,
                        Ok(_) => {
                            if let Err(down) = self.process_acks() {
                                self.link_down(down).await;
                            } else if self.cfg.profile == Profile::OneShot && self.window.is_empty() {
                                self.close();
                            }
                        }
                        Err(_) => self.link_down(Down::Error(ErrorKind::Io)).await,
                    }
                }
                _ = sleep_until(due.unwrap_or(now)), if due.is_some() => {}
                _ = sleep_until(ack_deadline), if waiting_acks => {
                    self.link_down(Down::Error(ErrorKind::Timeout)).await;
                }
            }
        }
    }

    /// Take a ticket and build (or, with `--prebuild`, take) the next document; or build one
    /// owed to an earlier ticket (the dialect's replay).
    fn prepare(&mut self) -> Option<Ready<D::Sent>> {
        let now = Instant::now();
        if let Some(ready) = self.replay(now) {
            return Some(ready);
        }
        if self.prebuilt_only && self.prebuilt.is_empty() {
            // This worker's share is sent; the remaining tickets belong to the others.
            return None;
        }
        loop {
            if !self.dialect.can_issue() {
                return None;
            }
            let Some(ticket) = self.schedule.take(now) else {
                self.dialect.flush();
                return self.replay(now);
            };
            self.stats.issued += 1;
            if self.cfg.profile == Profile::Idle {
                self.idle_done = true;
            }
            let (buf, sent) = match self.prebuilt.pop_front() {
                Some(doc) => doc,
                None => {
                    let mut buf = self.pool.pop().unwrap_or_default();
                    let time = self.cfg.clock.unwrap_or_else(unix_now);
                    match self.dialect.issue(time, &mut buf) {
                        Ok(Issued::Send(sent)) => (buf, sent),
                        Ok(queued) => {
                            self.went_offline |= matches!(queued, Issued::WentOffline);
                            self.recycle(buf);
                            if let Some(ready) = self.replay(now) {
                                return Some(ready);
                            }
                            continue;
                        }
                        Err(kind) => {
                            self.error(kind);
                            return None;
                        }
                    }
                }
            };
            // Closed-loop `sim`: the modem's link delay before the document goes out.
            let due = match ticket.due {
                Some(due) => due,
                None if self.cfg.profile == Profile::Sim => now + self.link_delay(),
                None => now,
            };
            let doc = InFlight {
                buf,
                sent,
                start: due,
                attempts: 0,
                ever_written: false,
                closed_loop: ticket.due.is_none(),
                duplicate: false,
            };
            return Some(Ready { doc, due });
        }
    }

    /// A request owed to an earlier ticket, due now; latency counts from its send.
    fn replay(&mut self, now: Instant) -> Option<Ready<D::Sent>> {
        let mut buf = self.pool.pop().unwrap_or_default();
        let time = self.cfg.clock.unwrap_or_else(unix_now);
        match self.dialect.replay(time, &mut buf) {
            Some(Ok(sent)) => Some(Ready {
                doc: InFlight {
                    buf,
                    sent,
                    start: now,
                    attempts: 0,
                    ever_written: false,
                    closed_loop: true,
                    duplicate: false,
                },
                due: now,
            }),
            Some(Err(kind)) => {
                self.error(kind);
                self.recycle(buf);
                None
            }
            None => {
                self.recycle(buf);
                None
            }
        }
    }

    /// `--prebuild`: build this worker's whole share of the run now, before the clock starts,
    /// so that sending costs no building at all.
    pub fn prebuild(&mut self, documents: u64) {
        self.prebuilt_only = true;
        let time = self.cfg.clock.unwrap_or_else(unix_now);
        for _ in 0..documents {
            let mut buf = Vec::new();
            match self.dialect.issue(time, &mut buf) {
                Ok(Issued::Send(sent)) => self.prebuilt.push_back((buf, sent)),
                // A dialect that queues cannot be prebuilt (refused by the run's checks).
                Ok(Issued::Queued | Issued::WentOffline) => {
                    self.error(ErrorKind::Build);
                    break;
                }
                Err(kind) => {
                    self.error(kind);
                    break;
                }
            }
        }
    }

    /// Keep a buffer for reuse (a few more than the window needs; the rest is freed).
    fn recycle(&mut self, buf: Vec<u8>) {
        if !self.prebuilt_only && self.pool.len() < self.cfg.pipeline + 4 {
            self.pool.push(buf);
        }
    }

    fn link_delay(&mut self) -> Duration {
        let sim = self.cfg.sim;
        let base = sim.latency.as_micros() as u64;
        let jitter = sim.jitter.as_micros() as u64;
        let us = self.rng.range(base.saturating_sub(jitter), base + jitter);
        Duration::from_micros(us)
    }

    /// Connect, retrying with backoff until it works (the hard deadline bounds this).
    async fn connect(&mut self) {
        let mut backoff = Duration::from_millis(10);
        loop {
            match timeout(self.cfg.connect_timeout, TcpStream::connect(self.cfg.addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    self.conn = Some(stream);
                    self.schedule
                        .open_connections
                        .fetch_add(1, Ordering::Relaxed);
                    self.stats.connects += 1;
                    if self.dropped {
                        self.stats.reconnects += 1;
                        self.dropped = false;
                    }
                    self.read_buf.clear();
                    self.last_progress = Instant::now();
                    return;
                }
                Ok(Err(_)) | Err(_) => {
                    self.error(ErrorKind::Connect);
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// The connection is gone: forget it, count why, and (in `sim`) wait like a modem would.
    async fn link_down(&mut self, down: Down) {
        self.close();
        self.dropped = true;
        self.read_buf.clear();
        match down {
            Down::Error(kind) => {
                self.error(kind);
                sleep(Duration::from_millis(10)).await;
            }
            Down::Simulated => {
                let delay = self.link_delay();
                sleep(delay).await;
            }
        }
    }

    /// After a reconnect: send every unacknowledged document again, same bytes, same order.
    async fn resend_window(&mut self) -> Result<(), Down> {
        let max = self.cfg.max_attempts;
        let before = self.window.len();
        let mut kept = VecDeque::with_capacity(self.window.len());
        let mut gave_up = Vec::new();
        for doc in self.window.drain(..) {
            if doc.attempts >= max {
                gave_up.push(doc);
            } else {
                kept.push_back(doc);
            }
        }
        self.window = kept;
        for doc in gave_up {
            self.error(ErrorKind::GaveUp);
            self.dialect.abandon(&doc.sent);
            self.recycle(doc.buf);
        }
        debug_assert!(self.window.len() <= before);
        for i in 0..self.window.len() {
            let Some(doc) = self.window.get_mut(i) else {
                break;
            };
            doc.attempts += 1;
            self.stats.resends += 1;
            if doc.ever_written {
                doc.duplicate = true;
                self.stats.duplicates += 1;
            }
            self.write_doc(i).await?;
        }
        Ok(())
    }

    /// Move the ready document (and, in `wired`, every other one already due) into the window and
    /// write it.
    async fn send_ready(&mut self) -> Result<(), Down> {
        let pipeline = self.cfg.pipeline.max(1);
        if self.cfg.profile == Profile::Sim {
            let Some(ready) = self.ready.take() else {
                return Ok(());
            };
            self.push_window(ready.doc);
            return self.write_doc(self.window.len() - 1).await;
        }
        // Batch: everything due now goes out in one write.
        let first = self.window.len();
        let now = Instant::now();
        while self.window.len() < pipeline {
            match self.ready.take() {
                Some(r) if r.due <= now => self.push_window(r.doc),
                other => {
                    self.ready = other;
                    break;
                }
            }
            if self.window.len() < pipeline && !self.idle_done {
                self.ready = self.prepare();
            }
        }
        self.write_buf.clear();
        for doc in self.window.iter_mut().skip(first) {
            doc.attempts += 1;
            self.write_buf.extend_from_slice(&doc.buf);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Down::Error(ErrorKind::Io));
        };
        write_all(conn, &self.write_buf, self.cfg.ack_timeout).await?;
        self.stats.bytes_sent += self.write_buf.len() as u64;
        for doc in self.window.iter_mut().skip(first) {
            doc.ever_written = true;
        }
        Ok(())
    }

    fn push_window(&mut self, mut doc: InFlight<D::Sent>) {
        let now = Instant::now();
        if self.window.is_empty() {
            self.last_progress = now;
        }
        if doc.closed_loop {
            doc.start = now;
        }
        self.window.push_back(doc);
    }

    /// Write window entry `i` in this profile's way (`sim`: segments, gaps, simulated drops).
    async fn write_doc(&mut self, i: usize) -> Result<(), Down> {
        let sim = self.cfg.profile == Profile::Sim;
        let (cut, drop_after) = if sim {
            let len = self.window.get(i).map_or(0, |d| d.buf.len());
            let cut = if len > 1 && self.rng.chance(self.cfg.sim.drop_mid_message) {
                Some(self.rng.range(1, len as u64 - 1) as usize)
            } else {
                None
            };
            (
                cut,
                cut.is_none() && self.rng.chance(self.cfg.sim.drop_before_ack),
            )
        } else {
            (None, false)
        };
        let Some(doc) = self.window.get_mut(i) else {
            return Ok(());
        };
        if doc.attempts == 0 {
            doc.attempts = 1;
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Down::Error(ErrorKind::Io));
        };
        let bytes = match cut {
            Some(cut) => doc.buf.get(..cut).unwrap_or(&doc.buf),
            None => &doc.buf[..],
        };
        if sim {
            let sim_cfg = self.cfg.sim;
            let mut rest = bytes;
            while !rest.is_empty() {
                let n =
                    (self.rng.range(1, sim_cfg.max_segment.max(1) as u64) as usize).min(rest.len());
                let (segment, tail) = rest.split_at(n);
                write_all(conn, segment, self.cfg.ack_timeout).await?;
                rest = tail;
                if !rest.is_empty() && !sim_cfg.segment_gap.is_zero() {
                    let gap = self.rng.range(0, sim_cfg.segment_gap.as_micros() as u64);
                    if gap > 0 {
                        sleep(Duration::from_micros(gap)).await;
                    }
                }
            }
        } else {
            write_all(conn, bytes, self.cfg.ack_timeout).await?;
        }
        self.stats.bytes_sent += bytes.len() as u64;
        if cut.is_some() {
            return Err(Down::Simulated);
        }
        doc.ever_written = true;
        if drop_after {
            return Err(Down::Simulated);
        }
        Ok(())
    }

    /// Take every complete frame out of the read buffer and check it against the window.
    fn process_acks(&mut self) -> Result<(), Down> {
        let buf = std::mem::take(&mut self.read_buf);
        let mut consumed = 0;
        let mut result = Ok(());
        while let Some(rest) = buf.get(consumed..) {
            match self.dialect.frame(rest) {
                Ok(Some(len)) => {
                    let frame = rest.get(..len).unwrap_or(rest);
                    self.on_ack(frame);
                    consumed += len;
                }
                Ok(None) => break,
                Err(kind) => {
                    result = Err(Down::Error(kind));
                    break;
                }
            }
        }
        self.read_buf = buf;
        self.read_buf.drain(..consumed.min(self.read_buf.len()));
        result
    }

    /// Verify one acknowledgement against the oldest outstanding document.
    fn on_ack(&mut self, frame: &[u8]) {
        let now = Instant::now();
        self.last_progress = now;
        let Some(doc) = self.window.pop_front() else {
            self.error(ErrorKind::UnexpectedAck);
            return;
        };
        match self
            .dialect
            .check(frame, &doc.sent, doc.duplicate, &mut self.stats)
        {
            Ok(type_byte) => {
                self.stats
                    .record_ack(now.saturating_duration_since(doc.start), type_byte);
                self.schedule.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(kind) => self.error(kind),
        }
        self.recycle(doc.buf);
    }

    /// `idle`: keep the connection open and quiet until the sending period ends.
    async fn hold(&mut self) {
        let until = self
            .schedule
            .send_until
            .unwrap_or(self.schedule.hard_deadline);
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut scratch = [0u8; 512];
        tokio::select! {
            _ = sleep_until(until) => {}
            read = conn.read(&mut scratch) => {
                let kind = match read {
                    Ok(0) => ErrorKind::Eof,
                    // The daemon has nothing to say to an FN with nothing outstanding.
                    Ok(_) => ErrorKind::UnexpectedAck,
                    Err(_) => ErrorKind::Io,
                };
                self.link_down(Down::Error(kind)).await;
            }
        }
    }

    fn error(&mut self, kind: ErrorKind) {
        self.stats.errors.add(kind);
        self.schedule.errors.fetch_add(1, Ordering::Relaxed);
    }
}

async fn write_all(conn: &mut TcpStream, bytes: &[u8], limit: Duration) -> Result<(), Down> {
    match timeout(limit, conn.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => Err(Down::Error(ErrorKind::Timeout)),
        Ok(Err(_)) => Err(Down::Error(ErrorKind::Io)),
        Err(_) => Err(Down::Error(ErrorKind::Timeout)),
    }
}

/// Unix time in seconds (document time 1012), saturating at the u32 range.
pub fn unix_now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}
