//! Export of the document log to a NATS JetStream stream: the shared, replicated record that
//! downstream systems (tax reporting, customer portals, analytics) read instead of the nodes.
//!
//! # Where documents come from
//!
//! The store gives every stored document an outbox sequence number in the same synced batch as
//! the document itself (`ofd-store`'s `outbox`), and keeps exporters' positions as named cursors.
//! The exporter reads the outbox after its cursor, publishes, and moves the cursor only past
//! documents JetStream has acknowledged. The outbox is the buffer: while NATS is down nothing is
//! dropped and the ingest path is not slowed, the backlog just grows (`ofd_export_lag` = outbox
//! head − cursor), and it drains in order once NATS is back.
//!
//! # Delivery: at least once, made exactly once by the stream
//!
//! A batch of up to `batch` documents is published back to back, then the acknowledgements are
//! awaited in order, then the cursor is saved (one synced write per batch) just past the last
//! document acknowledged without a gap. A crash, a timeout or a lost connection between a publish
//! and the cursor write means those documents are published again. Every message carries the
//! JetStream message id `Nats-Msg-Id: <FN>:<FD>`, so JetStream drops a repeat inside the stream's
//! *duplicate window* (`duplicate_window_secs`, 24 h by default, set when the exporter creates
//! the stream) and acknowledges it as a duplicate. The same id also removes the copy a second
//! node exports when a register resent one document through a load balancer to two nodes.
//! Publishes go out in outbox order on one connection and a failed batch is retried from its
//! first unacknowledged document, so one node's documents appear in the stream in commit order.
//!
//! # Message format
//!
//! * subject `<subject_prefix>.<doc type>` (`ofd.documents.receipt`, `ofd.documents.shift_close`,
//!   … the labels of [`DocType::label`]; `unknown` for a type code the protocol crate does not
//!   know), so consumers subscribe to exactly the document types they need;
//! * body: **the message exactly as the fiscal drive sent it** (session header, container,
//!   document), byte for byte what `GET /api/v1/documents/{fn}/{fd}/raw` returns. That is the
//!   legally meaningful original, signed by the FN's fiscal sign; any rendering (FNS JSON, CSV)
//!   can be derived from it at any time with `ofd-proto` and would only double the size and tie
//!   the stream to one version of the renderer. Encrypted bodies stay encrypted;
//! * headers, so routing and filtering need no parsing:
//!
//! | header | value |
//! |---|---|
//! | `Nats-Msg-Id` | `<FN>:<FD>`, the de-duplication key |
//! | `Ofd-Fn`, `Ofd-Fd` | fiscal drive number (16 digits), document number |
//! | `Ofd-Rn` | the register's registration number (absent while the FN is bound to no register) |
//! | `Ofd-Doc-Type`, `Ofd-Doc-Type-Code` | type label as in the subject, and its numeric code |
//! | `Ofd-Ffd` | format version code (tag 1209), `0` when unknown (encrypted) |
//! | `Ofd-Doc-Time` | document time (tag 1012), unix seconds of the register's local clock |
//! | `Ofd-Received-At` | when ofdd received it, unix milliseconds (UTC) |
//! | `Ofd-Shift` | shift number, when the document has one |
//! | `Ofd-Outcome` | `accepted`, or `encrypted_unacknowledged` for an encrypted body no decryptor could read |
//! | `Ofd-Encrypted`, `Ofd-Unknown-Fn` | `true`/`false`: body encrypted; FN bound to no register when stored |
//! | `Ofd-Ack` | the acknowledgement the register was sent, base64 (standard alphabet); absent when none was (an encrypted body answered with silence) |
//! | `Ofd-Outbox-Seq` | the exporting node's outbox sequence number (diagnostics only) |
//! | `Ofd-Node` | replicated mode: the node that accepted it (`[cluster] node`); absent when the exporter published it |
//!
//! # Kazakh exchanges
//!
//! Every exchange with a KKM that the server accepted (result 0) and that changed its state
//! (a ticket, a shift closed, a money placement, a report, a keep-alive …) is exported too, in
//! the same outbox order as the documents:
//!
//! * subject `<subject_prefix>.kz.<command>` (`ofd.documents.kz.ticket`,
//!   `ofd.documents.kz.close_shift`, `ofd.documents.kz.money_placement`, … the labels of
//!   `ofd_kz::Command::label`), inside the same stream, and out of the way of a consumer of
//!   `<subject_prefix>.*`, which sees FN–OFD documents only;
//! * body: **the request exactly as the KKM sent it** (18-byte header and protobuf);
//! * headers:
//!
//! | header | value |
//! |---|---|
//! | `Nats-Msg-Id` | `kz:<system ID>:<log seq>`, the de-duplication key |
//! | `Ofd-Protocol` | `kz` (FN–OFD documents carry `fn`) |
//! | `Ofd-Kz-System-Id`, `Ofd-Kz-Log-Seq` | the register and its exchange's place in its log |
//! | `Ofd-Kz-Command`, `Ofd-Kz-Command-Code` | command label as in the subject, and its number |
//! | `Ofd-Kz-Ticket-Number` | the ticket number the server assigned, for a ticket |
//! | `Ofd-Shift` | the shift the exchange belongs to, when it has one |
//! | `Ofd-Received-At` | when ofdd received it, unix milliseconds (UTC) |
//! | `Ofd-Answer` | the server's answer, base64 (standard alphabet): ticket number, QR text, new token are in it |
//! | `Ofd-Outbox-Seq` | the exporting node's outbox sequence number (diagnostics only) |
//! | `Ofd-Node` | replicated mode: the node that served the exchange; absent when the exporter published it |
//!
//! # Behind the replicator
//!
//! In replicated mode ([`crate::cluster`]) every answered document was published already, and the
//! exporter is the backstop for what was stored but not replicated ([`spawn_behind`]). It then
//! exports only outbox entries that have been there longer than the replicator's whole wait,
//! so it never publishes a message id whose first publish is still in flight (JetStream answers
//! such a race with "duplicate message id is in process", an error, not a duplicate), and
//! `ofd_export_lag` counts only entries past that window.
//!
//! # Failure handling
//!
//! Connecting, creating the stream, publishing or awaiting an acknowledgement may fail; each
//! failure backs off exponentially (200 ms doubling up to `max_backoff_secs`) and retries from the
//! saved cursor. The NATS client reconnects on its own with the same back-off. A document the
//! outbox names but the store cannot return is a corrupt store: the exporter stops advancing
//! (the lag alert fires) rather than skip a document the register was told is safe.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use async_nats::connection::State;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_nats::{ConnectOptions, Event, HeaderMap};
use ofd_proto::doctype::DocType;
use ofd_store::{DocFlags, KzLogEntry, OutboxItem, Outcome, StoredDocument};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::app::App;
use crate::config::NatsExport;
use crate::shutdown::Shutdown;

/// How often an idle exporter looks at the outbox head (an atomic load), and how finely waits are
/// sliced so the lag gauge stays current and shutdown is noticed promptly.
const TICK: Duration = Duration::from_millis(50);
/// First retry delay; doubled per consecutive failure up to `max_backoff_secs`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Subject of a document: `<prefix>.<type label>`.
pub fn subject(prefix: &str, doc_type: u8) -> String {
    let label = DocType::from_u8(doc_type).map_or("unknown", DocType::label);
    format!("{prefix}.{label}")
}

/// The JetStream message id, `<FN>:<FD>`: what makes a republish harmless.
pub fn message_id(doc: &StoredDocument) -> String {
    format!("{}:{}", doc.key.fn_number.as_str(), doc.key.fd)
}

fn outcome_label(o: Outcome) -> String {
    match o {
        Outcome::Accepted => "accepted".into(),
        Outcome::EncryptedUnacknowledged => "encrypted_unacknowledged".into(),
        Outcome::Rejected { code } => format!("rejected:{code}"),
    }
}

/// The headers of a document's message (see the module documentation).
pub fn headers(doc: &StoredDocument, outbox_seq: u64) -> HeaderMap {
    let h = &doc.header;
    let mut m = HeaderMap::new();
    m.insert("Nats-Msg-Id", message_id(doc).as_str());
    m.insert("Ofd-Protocol", "fn");
    m.insert("Ofd-Fn", doc.key.fn_number.as_str());
    m.insert("Ofd-Fd", doc.key.fd.to_string().as_str());
    if let Some(rn) = &h.rn {
        m.insert("Ofd-Rn", rn.as_str());
    }
    m.insert(
        "Ofd-Doc-Type",
        DocType::from_u8(h.doc_type).map_or("unknown", DocType::label),
    );
    m.insert("Ofd-Doc-Type-Code", h.doc_type.to_string().as_str());
    m.insert("Ofd-Ffd", h.ffd.to_string().as_str());
    m.insert("Ofd-Doc-Time", h.doc_time.to_string().as_str());
    m.insert("Ofd-Received-At", h.received_at_ms.to_string().as_str());
    if let Some(shift) = h.shift {
        m.insert("Ofd-Shift", shift.to_string().as_str());
    }
    m.insert("Ofd-Outcome", outcome_label(h.outcome).as_str());
    m.insert(
        "Ofd-Encrypted",
        if h.flags.contains(DocFlags::ENCRYPTED) {
            "true"
        } else {
            "false"
        },
    );
    m.insert(
        "Ofd-Unknown-Fn",
        if h.flags.contains(DocFlags::UNKNOWN_FN) {
            "true"
        } else {
            "false"
        },
    );
    if !doc.ack.is_empty() {
        use base64::Engine as _;
        m.insert(
            ACK_HEADER,
            base64::engine::general_purpose::STANDARD
                .encode(&doc.ack)
                .as_str(),
        );
    }
    m.insert("Ofd-Outbox-Seq", outbox_seq.to_string().as_str());
    m
}

/// The header that carries the acknowledgement a register was sent (see the table above).
const ACK_HEADER: &str = "Ofd-Ack";

/// The acknowledgement a document's message carries: `None` when it has none (an encrypted
/// body answered with silence, or a message from before the header), an error when the header
/// is not base64.
pub fn ack_header(h: &HeaderMap) -> Option<Result<Vec<u8>, base64::DecodeError>> {
    use base64::Engine as _;
    let b64 = h.get(ACK_HEADER)?;
    Some(base64::engine::general_purpose::STANDARD.decode(b64.as_str()))
}

/// Subject of a Kazakh exchange: `<prefix>.kz.<command label>`.
pub fn kz_subject(prefix: &str, command: u8) -> String {
    let label = ofd_kz::Command::from_wire(i32::from(command)).map_or("unknown", |c| c.label());
    format!("{prefix}.kz.{label}")
}

/// The headers of a Kazakh exchange's message (see the module documentation).
pub fn kz_headers(x: &KzLogEntry, outbox_seq: u64) -> HeaderMap {
    use base64::Engine as _;
    let mut m = HeaderMap::new();
    m.insert(
        "Nats-Msg-Id",
        format!("kz:{}:{}", x.system_id, x.seq).as_str(),
    );
    m.insert("Ofd-Protocol", "kz");
    m.insert("Ofd-Kz-System-Id", x.system_id.to_string().as_str());
    m.insert("Ofd-Kz-Log-Seq", x.seq.to_string().as_str());
    m.insert(
        "Ofd-Kz-Command",
        ofd_kz::Command::from_wire(i32::from(x.command)).map_or("unknown", |c| c.label()),
    );
    m.insert("Ofd-Kz-Command-Code", x.command.to_string().as_str());
    if let Some(t) = x.ticket_number {
        m.insert("Ofd-Kz-Ticket-Number", t.to_string().as_str());
    }
    if let Some(shift) = x.shift {
        m.insert("Ofd-Shift", shift.to_string().as_str());
    }
    m.insert("Ofd-Received-At", x.received_at_ms.to_string().as_str());
    m.insert(
        "Ofd-Answer",
        base64::engine::general_purpose::STANDARD
            .encode(&x.answer)
            .as_str(),
    );
    m.insert("Ofd-Outbox-Seq", outbox_seq.to_string().as_str());
    m
}

/// One outbox entry ready to publish (the cluster's replicator publishes the very same).
pub enum Outgoing {
    Doc(StoredDocument),
    Kz(KzLogEntry),
}

impl Outgoing {
    /// Subject, headers and body.
    pub fn message(self, prefix: &str, seq: u64) -> (String, PublishMessage) {
        self.message_from(prefix, seq, None)
    }

    /// [`Outgoing::message`], saying which node accepted it (`Ofd-Node`): the replicated
    /// publish does, so that the node's own view skips what it already has.
    pub fn message_from(
        self,
        prefix: &str,
        seq: u64,
        node: Option<&str>,
    ) -> (String, PublishMessage) {
        let (subject, mut headers, body) = match self {
            Outgoing::Doc(doc) => (
                subject(prefix, doc.header.doc_type),
                headers(&doc, seq),
                doc.raw,
            ),
            Outgoing::Kz(x) => (
                kz_subject(prefix, x.command),
                kz_headers(&x, seq),
                x.request,
            ),
        };
        if let Some(node) = node {
            headers.insert("Ofd-Node", node);
        }
        let msg = PublishMessage::build()
            .headers(headers)
            .payload(body.into());
        (subject, msg)
    }
}

/// Set `ofd_export_lag` from the store: outbox head − the saved cursor. Meant for scrape time
/// (the exporter refreshes the gauge itself every few tens of milliseconds); a no-op while the
/// exporter is off, so the gauge stays 0 there, and behind a replicator, which counts it itself.
pub fn refresh_lag(app: &App) {
    let cfg = &app.config().export.nats;
    if !cfg.enabled || app.config().cluster.replicated() {
        return;
    }
    let store = app.store();
    if let Ok(cursor) = store.outbox_cursor(&cfg.cursor) {
        let lag = store.outbox_head().saturating_sub(cursor);
        app.metrics()
            .export_lag
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }
}

/// Delay before retry number `failures` (1-based): 200 ms doubling, capped.
fn backoff(failures: u32, cap: Duration) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(cap)
}

/// Start the exporter; it runs until `shutdown` and must be awaited before the store closes.
pub fn spawn(ingest: Arc<App>, cfg: NatsExport, shutdown: Shutdown) -> JoinHandle<()> {
    spawn_with(ingest, cfg, shutdown, None)
}

/// Start the exporter as the replicator's backstop: it exports an outbox entry only once the
/// entry is older than `behind` (see "Behind the replicator").
pub fn spawn_behind(
    ingest: Arc<App>,
    cfg: NatsExport,
    shutdown: Shutdown,
    behind: Duration,
) -> JoinHandle<()> {
    spawn_with(ingest, cfg, shutdown, Some(behind))
}

fn spawn_with(
    ingest: Arc<App>,
    cfg: NatsExport,
    shutdown: Shutdown,
    behind: Option<Duration>,
) -> JoinHandle<()> {
    tokio::spawn(
        Exporter {
            ingest,
            cfg,
            shutdown,
            cursor: None,
            link: None,
            behind: behind.map(|d| Behind {
                window: d,
                heads: std::collections::VecDeque::new(),
                settled: 0,
            }),
        }
        .run(),
    )
}

/// The outbox heads seen in the last `window`, to know which entries are older than it.
struct Behind {
    window: Duration,
    /// (when first seen, head), oldest first.
    heads: std::collections::VecDeque<(std::time::Instant, u64)>,
    /// The newest head seen at least `window` ago.
    settled: u64,
}

impl Behind {
    /// The head the exporter may export up to, given the head now.
    fn exportable(&mut self, head: u64) -> u64 {
        let now = std::time::Instant::now();
        if self.heads.back().is_none_or(|&(_, h)| h != head) {
            self.heads.push_back((now, head));
        }
        while let Some(&(seen, h)) = self.heads.front() {
            if now.duration_since(seen) < self.window {
                break;
            }
            self.settled = h;
            self.heads.pop_front();
        }
        self.settled
    }
}

/// A connection and the stream's readiness on it.
struct Link {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The stream was found or created on this connection (re-checked after any failure, so a
    /// stream deleted under a running exporter is recreated).
    stream_ready: bool,
}

struct Exporter {
    ingest: Arc<App>,
    cfg: NatsExport,
    shutdown: Shutdown,
    /// Last outbox sequence exported (`None` until read from the store).
    cursor: Option<u64>,
    link: Option<Link>,
    /// Set when the exporter runs behind a replicator.
    behind: Option<Behind>,
}

/// The outcome of publishing one batch.
struct Batch {
    /// Last outbox sequence acknowledged without a gap before it (the cursor, if none).
    acked: u64,
    /// Acknowledged as repeats JetStream had already stored.
    duplicates: usize,
    /// What stopped the batch early, if anything.
    error: Option<anyhow::Error>,
}

/// What one round achieved.
enum Round {
    /// Nothing new in the outbox.
    Idle,
    /// Documents acknowledged by JetStream (repeats it dropped as duplicates included).
    Exported,
}

impl Exporter {
    async fn run(mut self) {
        info!(url = %self.cfg.url, stream = %self.cfg.stream, cursor = %self.cfg.cursor, "NATS exporter started");
        let cap = Duration::from_secs(self.cfg.max_backoff_secs);
        let mut failures: u32 = 0;
        while !self.shutdown.is_shutdown() {
            match self.round().await {
                Ok(Round::Exported) => failures = 0,
                Ok(Round::Idle) => {
                    failures = 0;
                    self.wait(TICK).await;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = backoff(failures, cap);
                    warn!(
                        error = format!("{e:#}"),
                        failures,
                        retry_in_ms = delay.as_millis() as u64,
                        lag = self.lag(),
                        "export to NATS failed; documents stay in the outbox"
                    );
                    if let Some(link) = self.link.as_mut() {
                        link.stream_ready = false;
                    }
                    self.wait(delay).await;
                }
            }
        }
        self.update_lag();
        if let Some(link) = self.link.take() {
            // Publishes are all acknowledged or abandoned by now; flushing is best effort.
            let _ = tokio::time::timeout(Duration::from_secs(1), link.client.flush()).await;
        }
        info!(
            cursor = self.cursor.unwrap_or(0),
            lag = self.lag(),
            "NATS exporter stopped"
        );
    }

    /// Sleep up to `d`, in ticks that keep the lag gauge current; returns early on shutdown.
    async fn wait(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            self.update_lag();
            let now = tokio::time::Instant::now();
            if now >= deadline || self.shutdown.is_shutdown() {
                return;
            }
            let step = (deadline - now).min(TICK.saturating_mul(4));
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = self.shutdown.recv() => return,
            }
        }
    }

    fn lag(&self) -> u64 {
        let head = match &self.behind {
            Some(b) => b.settled,
            None => self.ingest.store().outbox_head(),
        };
        match self.cursor {
            Some(c) => head.saturating_sub(c),
            // Not read yet: the saved cursor, or the whole outbox if even that fails.
            None => head.saturating_sub(
                self.ingest
                    .store()
                    .outbox_cursor(&self.cfg.cursor)
                    .unwrap_or(0),
            ),
        }
    }

    fn update_lag(&self) {
        self.ingest
            .metrics()
            .export_lag
            .set(i64::try_from(self.lag()).unwrap_or(i64::MAX));
    }

    async fn round(&mut self) -> anyhow::Result<Round> {
        let cursor = match self.cursor {
            Some(c) => c,
            None => {
                let c = self
                    .ingest
                    .store()
                    .outbox_cursor(&self.cfg.cursor)
                    .context("reading the export cursor")?;
                self.cursor = Some(c);
                c
            }
        };
        let head = self.ingest.store().outbox_head();
        let head = match self.behind.as_mut() {
            Some(b) => b.exportable(head),
            None => head,
        };
        if head <= cursor {
            return Ok(Round::Idle);
        }
        let limit =
            usize::try_from(head - cursor).map_or(self.cfg.batch, |n| n.min(self.cfg.batch));
        // Shutdown may cut connecting and publishing short (what was published but not saved is
        // published again at the next start, and de-duplicated); never the cursor write below.
        let mut stop = self.shutdown.clone();
        let batch = tokio::select! {
            b = self.publish_next(cursor, limit) => b?,
            _ = stop.recv() => return Ok(Round::Idle),
        };
        if batch.acked > cursor {
            save_cursor(self.ingest.clone(), self.cfg.cursor.clone(), batch.acked).await?;
            self.cursor = Some(batch.acked);
            self.update_lag();
            debug!(
                from = cursor + 1,
                to = batch.acked,
                duplicates = batch.duplicates,
                "exported to NATS"
            );
        }
        match batch.error {
            Some(e) => Err(e),
            None if batch.acked > cursor => Ok(Round::Exported),
            None => Ok(Round::Idle),
        }
    }

    /// Connect if needed, then publish the documents after `cursor` (one batch) and await their
    /// acknowledgements in order.
    async fn publish_next(&mut self, cursor: u64, limit: usize) -> anyhow::Result<Batch> {
        self.connect().await?;
        let link = self
            .link
            .as_mut()
            .ok_or_else(|| anyhow!("no NATS connection"))?;
        if link.client.connection_state() != State::Connected {
            bail!("not connected to NATS (reconnecting)");
        }
        if !link.stream_ready {
            ensure_stream(&link.js, &self.cfg).await?;
            link.stream_ready = true;
        }
        let docs = read_batch(self.ingest.clone(), cursor, limit).await?;

        // Publish the whole batch, then collect the acknowledgements in order.
        let mut pending = Vec::with_capacity(docs.len());
        let mut publish_error = None;
        for (seq, item) in docs {
            let (subject, msg) = item.message(&self.cfg.subject_prefix, seq);
            match link.js.send_publish(subject, msg).await {
                Ok(ack) => pending.push((seq, ack)),
                Err(e) => {
                    publish_error = Some(
                        anyhow::Error::new(e).context(format!("publishing outbox entry {seq}")),
                    );
                    break;
                }
            }
        }
        let mut batch = Batch {
            acked: cursor,
            duplicates: 0,
            error: None,
        };
        for (seq, ack) in pending {
            // The first failure ends the batch (each wait is bounded by the ack timeout); the
            // cursor stops before it and everything from there is published again.
            match ack.await {
                Ok(a) => {
                    batch.acked = seq;
                    batch.duplicates += usize::from(a.duplicate);
                }
                Err(e) => {
                    batch.error = Some(
                        anyhow::Error::new(e)
                            .context(format!("JetStream acknowledgement of outbox entry {seq}")),
                    );
                    break;
                }
            }
        }
        batch.error = batch.error.or(publish_error);
        Ok(batch)
    }

    /// Connect once; afterwards the client reconnects by itself.
    async fn connect(&mut self) -> anyhow::Result<()> {
        if self.link.is_some() {
            return Ok(());
        }
        let servers = self.cfg.servers()?;
        let timeout = Duration::from_secs(self.cfg.ack_timeout_secs);
        let cap = Duration::from_secs(self.cfg.max_backoff_secs);
        let opts = ConnectOptions::new()
            .name("ofdd-exporter")
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            .reconnect_delay_callback(move |attempts| {
                backoff(u32::try_from(attempts).unwrap_or(u32::MAX), cap)
            })
            .event_callback(|event| async move {
                match event {
                    Event::Connected => info!("NATS exporter connected"),
                    Event::Disconnected => warn!("NATS exporter disconnected; reconnecting"),
                    other => debug!(event = %other, "NATS client event"),
                }
            });
        let opts = with_url_credentials(opts, &servers);
        let client = opts
            .connect(servers)
            .await
            .with_context(|| format!("connecting to NATS at {}", redact(&self.cfg.url)))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(timeout)
            .max_ack_inflight(self.cfg.batch)
            .build(client.clone());
        self.link = Some(Link {
            client,
            js,
            stream_ready: false,
        });
        Ok(())
    }
}

/// The URL list without passwords, for logs.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|s| match s.split_once('@') {
            Some((creds, host)) => {
                let scheme = creds.split_once("://").map_or("", |(scheme, _)| scheme);
                if scheme.is_empty() {
                    format!("***@{host}")
                } else {
                    format!("{scheme}://***@{host}")
                }
            }
            None => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Find the stream, or create it for our subjects with the configured de-duplication window.
async fn ensure_stream(js: &jetstream::Context, cfg: &NatsExport) -> anyhow::Result<()> {
    let window = Duration::from_secs(cfg.duplicate_window_secs);
    let config = stream::Config {
        name: cfg.stream.clone(),
        subjects: vec![format!("{}.>", cfg.subject_prefix)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: cfg.replicas,
        duplicate_window: window,
        ..Default::default()
    };
    let stream = js
        .get_or_create_stream(config)
        .await
        .with_context(|| format!("finding or creating JetStream stream {}", cfg.stream))?;
    let info = stream.cached_info();
    if info.config.duplicate_window != window {
        // An existing stream keeps its settings: the operator's, not ours.
        warn!(
            stream = %cfg.stream,
            stream_window_secs = info.config.duplicate_window.as_secs(),
            configured_secs = cfg.duplicate_window_secs,
            "the stream's duplicate window differs from export.nats.duplicate_window_secs; republished documents older than the stream's window are not de-duplicated"
        );
    }
    Ok(())
}

/// Up to `limit` outbox entries after `cursor`, with what they name (RocksDB reads, off the
/// async threads). Stops before an entry whose item is missing: the store is damaged, and
/// skipping it would lose an acknowledged document.
async fn read_batch(
    ingest: Arc<App>,
    cursor: u64,
    limit: usize,
) -> anyhow::Result<Vec<(u64, Outgoing)>> {
    tokio::task::spawn_blocking(move || {
        let store = ingest.store();
        let entries = store
            .outbox_read(cursor, limit)
            .context("reading the outbox")?;
        let mut items = Vec::with_capacity(entries.len());
        for e in entries {
            let (found, what) = match e.item {
                OutboxItem::Doc(key) => (
                    store
                        .get(&key.fn_number, key.fd)
                        .context("reading an outboxed document")?
                        .map(Outgoing::Doc),
                    format!("FN {} FD {}", key.fn_number.as_str(), key.fd),
                ),
                OutboxItem::Kz { system_id, log_seq } => (
                    store
                        .kz_log_entry(system_id, log_seq)
                        .context("reading an outboxed KZ exchange")?
                        .map(Outgoing::Kz),
                    format!("KZ register {system_id} exchange {log_seq}"),
                ),
            };
            match found {
                Some(item) => items.push((e.seq, item)),
                None => {
                    error!(seq = e.seq, item = %what, "outbox names an item the store does not have; export stalled");
                    if items.is_empty() {
                        bail!("outbox entry {} names {what}, which is not in the store", e.seq);
                    }
                    // Export what precedes it; the next round stops here.
                    break;
                }
            }
        }
        Ok(items)
    })
    .await
    .context("outbox reader task")?
}

/// Persist the cursor (a synced write, off the async threads).
async fn save_cursor(ingest: Arc<App>, name: String, seq: u64) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || ingest.store().set_outbox_cursor(&name, seq))
        .await
        .context("cursor writer task")?
        .context("saving the export cursor")
}

/// The NATS client reads no credentials from a server URL itself (`nats://user:pass@host`,
/// `nats://token@host`): the exporter and the cluster replicator pass them on through this.
pub(crate) fn with_url_credentials(
    mut opts: ConnectOptions,
    servers: &[async_nats::ServerAddr],
) -> ConnectOptions {
    if let Some(addr) = servers.iter().find(|s| s.has_user_pass()) {
        match (addr.username(), addr.password()) {
            (Some(user), Some(pass)) => {
                opts = opts.user_and_password(user.to_string(), pass.to_string())
            }
            (Some(token), None) => opts = opts.token(token.to_string()),
            _ => {}
        }
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_type_labels() {
        assert_eq!(subject("ofd.documents", 3), "ofd.documents.receipt");
        assert_eq!(subject("ofd.documents", 1), "ofd.documents.registration");
        assert_eq!(subject("x", 200), "x.unknown");
    }

    #[test]
    fn kz_subjects_follow_the_command_labels() {
        assert_eq!(kz_subject("ofd.documents", 1), "ofd.documents.kz.ticket");
        assert_eq!(
            kz_subject("ofd.documents", 2),
            "ofd.documents.kz.close_shift"
        );
        assert_eq!(kz_subject("x", 200), "x.kz.unknown");
    }

    #[test]
    fn behind_exports_only_heads_older_than_the_window() {
        let mut b = Behind {
            window: Duration::ZERO,
            heads: Default::default(),
            settled: 0,
        };
        assert_eq!(b.exportable(5), 5, "a zero window follows the head");
        b.window = Duration::from_secs(3600);
        assert_eq!(b.exportable(9), 5, "a new head waits for the window");
        assert_eq!(b.exportable(12), 5);
        assert!(b.heads.len() <= 2);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cap = Duration::from_secs(30);
        assert_eq!(backoff(1, cap), Duration::from_millis(200));
        assert_eq!(backoff(2, cap), Duration::from_millis(400));
        assert_eq!(backoff(5, cap), Duration::from_millis(3200));
        assert_eq!(backoff(12, cap), cap);
        assert_eq!(backoff(u32::MAX, cap), cap);
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redact("nats://u:secret@h:4222,nats://h2"),
            "nats://***@h:4222,nats://h2"
        );
        assert_eq!(redact("tok@h"), "***@h");
    }
}
