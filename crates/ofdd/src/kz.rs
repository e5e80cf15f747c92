//! The Kazakh pipeline: one KKM–OFD frame → the register's state → `ofd_kz::decide` → durable
//! state and log → the answer.
//!
//! All protocol rules live in `ofd-kz` (a pure function); this module only moves state between
//! the store and that function, in the one order that keeps a register safe: **the new state
//! (token, ticket number, shift, cash) and the answer a retry must get are durable before the
//! answer is sent.** A crash before the write loses an answer the KKM never saw (it retries
//! with the same TOKEN and REQNUM, and the old state answers it afresh); a crash after it leaves
//! the stored answer for that retry, byte for byte. Either way the KKM's last token works.
//!
//! Requests of one register are serialised by a striped lock (read → decide → write → answer),
//! because the decision depends on the state the previous request left; different registers
//! proceed in parallel, and their writes ride in the store committer's group-committed batches
//! next to FN–OFD documents. Every accepted state change (code 0) is exported: its log entry
//! gets an outbox entry in the same batch.
//!
//! Each stripe's lock guards a cache of its registers as their last committed exchange left
//! them (decoded state and the answer a retry gets), so a request costs no store read and no
//! state decoding. The cache only ever holds what is durable: an entry is replaced after its
//! write is synced and dropped when a write fails or an operator changes the register, and is
//! then read again from the store.
//!
//! In replicated mode a KKM may be served by any node, so the lock alone cannot order its
//! exchanges: the register's state is the cluster's (`crate::cluster::kz_state`). A cache miss
//! reads the register's latest revision from the stream's leader; a decision is published
//! against the revision it was made on before it is committed and answered; and when another
//! node changed the register first, the decision is made again on its change (`Attempt::Raced`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use ofd_kz::{
    Decision, Event, Input, Policy, RegisterFacts, ResultCode, TokenRotation, split_frame,
};
use ofd_store::{KzChange, KzLogEntry, KzRecord, KzWrite, Store, StoreError};
use tokio::sync::Mutex;
use tracing::{error, warn};

use crate::clock::{now, unix_now, unix_now_ms};
use crate::cluster::kz_state::{Cas, KzStream};
use crate::cluster::replicator::Replicator;
use crate::metrics::Metrics;
use crate::response::Response;

/// Lock stripes: requests of registers whose IDs share a stripe wait for each other.
const STRIPES: usize = 256;
/// Registers cached per stripe (262,144 in all, a few hundred MiB at most: a state is a few
/// KiB in memory); past it an arbitrary one is dropped and read from the store when it comes
/// back, which costs one read and one decode.
const CACHED_PER_STRIPE: usize = 1024;

/// A register as its last committed exchange left it.
struct Cached {
    facts: RegisterFacts,
    /// What a retry of that exchange gets, byte for byte.
    last_answer: Bytes,
    /// Whether that exchange is in the replicated stream (replicated mode only).
    replicated: Replicated,
    /// Cluster mode: the record's revision, creation time and next log position, from which
    /// the next change is computed and published (`crate::cluster::kz_state`).
    revision: u64,
    created_at_ms: u64,
    log_next: u64,
}

/// How many times an exchange is decided again after another node changed its register first
/// before it is answered "try later".
const MAX_RACES: usize = 8;

/// Whether a register's last committed exchange is known to be in the replicated stream, which
/// its answer (and a retry's) must wait for in replicated mode.
enum Replicated {
    /// In the stream, or nothing to replicate.
    Yes,
    /// Committed locally, its publish not acknowledged: answered 254 so far; a retry publishes
    /// it again (de-duplicated by its message id) before the stored answer is sent.
    Pending(Box<KzLogEntry>, u64),
    /// Read from the store: not known; a retry publishes the logged exchange whose answer it
    /// gets (a duplicate in the stream if it was there) before that answer is sent.
    Unknown,
}

/// What one decision came to.
enum Attempt {
    Done(Response),
    /// Cluster mode: another node changed the register first; decide again on its change.
    Raced,
}

/// The cached form of a register's latest change in the cluster's stream. Its last exchange, if
/// it was exported, is not known to be in the document stream: a retry publishes it again
/// (de-duplicated by its message id) before its answer is sent.
fn cached_from_change(c: KzChange) -> Result<Cached, KzAdminError> {
    let r = c.record;
    let replicated = match c.exchange {
        Some(e) if e.code == 0 && e.answer == r.last_answer => Replicated::Pending(Box::new(e), 0),
        _ => Replicated::Yes,
    };
    Ok(Cached {
        facts: decode_state(r.system_id, &r.state)?,
        last_answer: Bytes::from(r.last_answer),
        replicated,
        revision: r.revision,
        created_at_ms: r.created_at_ms,
        log_next: r.log_next,
    })
}

/// One lock stripe: its registers' cached states.
type Stripe = Mutex<HashMap<u32, Cached>>;

pub struct KzIngest {
    store: Store,
    /// Replicated mode: accepted exchanges are answered once the stream has them.
    replicator: Option<Arc<Replicator>>,
    /// Replicated mode: every register's state is the cluster's, changed with compare-and-set.
    kz_stream: Option<Arc<KzStream>>,
    policy: Policy,
    metrics: Arc<Metrics>,
    stripes: Box<[Stripe; STRIPES]>,
}

/// Why an operator action on a register failed.
#[derive(Debug, thiserror::Error)]
pub enum KzAdminError {
    #[error("no Kazakh register with system ID {0}")]
    NotFound(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("register {0}: stored state unreadable: {1}")]
    BadState(u32, String),
}

impl KzIngest {
    pub fn new(store: Store, policy: Policy, metrics: Arc<Metrics>) -> KzIngest {
        KzIngest {
            store,
            replicator: None,
            kz_stream: None,
            policy,
            metrics,
            stripes: Box::new(std::array::from_fn(|_| Mutex::new(HashMap::new()))),
        }
    }

    /// Replicated mode (set once at start, before any frame).
    pub fn replicate_through(&mut self, replicator: Arc<Replicator>) {
        self.replicator = Some(replicator);
    }

    /// Replicated mode: registers' states live in the cluster's stream (set once at start).
    pub fn share_registers_through(&mut self, stream: Arc<KzStream>) {
        self.kz_stream = Some(stream);
    }

    fn stripe(&self, system_id: u32) -> &Stripe {
        &self.stripes[usize::try_from(system_id).unwrap_or(0) % STRIPES]
    }

    /// The register as stored (`None`: no such system ID), for the cache. A cache miss may
    /// read the disk, so it runs off the async threads other connections share.
    async fn load(&self, system_id: u32) -> Result<Option<Cached>, KzAdminError> {
        if let Some(ks) = &self.kz_stream {
            // Cluster mode: the register as the cluster has it now, from the stream's leader.
            let latest = ks
                .latest(system_id)
                .await
                .map_err(|e| KzAdminError::Store(StoreError::Replication(e)))?;
            return latest.map(cached_from_change).transpose();
        }
        let store = self.store.clone();
        let record = tokio::task::spawn_blocking(move || store.kz_get(system_id))
            .await
            .map_err(|e| KzAdminError::BadState(system_id, format!("reader task: {e}")))??;
        let Some(record) = record else {
            return Ok(None);
        };
        Ok(Some(Cached {
            facts: decode_state(system_id, &record.state)?,
            last_answer: Bytes::from(record.last_answer),
            replicated: Replicated::Unknown,
            revision: record.revision,
            created_at_ms: record.created_at_ms,
            log_next: record.log_next,
        }))
    }

    /// Answer one whole frame (as `ofd_kz::check_frame` delimited it).
    pub async fn answer(&self, frame: Bytes) -> Response {
        let (header, body) = match split_frame(&frame) {
            Ok(split) => split,
            // The codec already framed it, so this is unreachable in practice; close anyway.
            Err(e) => return Response::Close(e.reason()),
        };
        let mut cache = self.stripe(header.id).lock().await;
        // Cluster mode: decided again, on the register's new revision, each time another node
        // changed it first (`crate::cluster::kz_state`).
        for _ in 0..MAX_RACES {
            match self.attempt(&mut cache, &frame, header, body).await {
                Attempt::Done(r) => return r,
                Attempt::Raced => {
                    cache.remove(&header.id);
                }
            }
        }
        drop(cache);
        warn!(
            system_id = header.id,
            "a KKM's register kept changing on other nodes; answered \"try later\""
        );
        self.unavailable(header, body).await
    }

    /// One decision on the register as cached (loaded first if it is not), and its commit.
    async fn attempt(
        &self,
        cache: &mut HashMap<u32, Cached>,
        frame: &Bytes,
        header: ofd_kz::Header,
        body: &[u8],
    ) -> Attempt {
        let clock = now();
        if !cache.contains_key(&header.id) {
            match self.load(header.id).await {
                Ok(Some(c)) => {
                    // Never one whose exchange waits for replication (its retry needs to
                    // know), unless the cluster's stream has that exchange (it is read again).
                    let clustered = self.kz_stream.is_some();
                    if cache.len() >= CACHED_PER_STRIPE
                        && let Some(old) = cache
                            .iter()
                            .find(|(_, c)| {
                                clustered || !matches!(c.replicated, Replicated::Pending(..))
                            })
                            .map(|(&id, _)| id)
                    {
                        cache.remove(&old);
                    }
                    cache.insert(header.id, c);
                }
                Ok(None) => {}
                Err(e) => {
                    error!(system_id = header.id, error = %e, "reading a KZ register failed");
                    return Attempt::Done(self.unavailable(header, body).await);
                }
            }
        }
        let cached = cache.get(&header.id);
        let decision = ofd_kz::decide(&Input {
            header,
            body,
            register: cached.map(|c| &c.facts),
            policy: &self.policy,
            now: u64::from(clock.secs),
            // Degraded (disk full, failing): 254, nothing changes, the KKM retries later.
            // Replicated mode: likewise while JetStream cannot take writes.
            store_available: self.store.is_healthy()
                && self
                    .replicator
                    .as_ref()
                    .is_none_or(|r| r.health().is_available()),
            // A token is drawn only where the policy may rotate one (a syscall otherwise spent
            // on every request).
            fresh_token: match self.policy.rotation {
                TokenRotation::Never => 0,
                _ => fresh_token(),
            },
        });
        let mut answer = match decision {
            Decision::Retry => {
                self.count("retry", "retry");
                let Some(c) = cache
                    .get_mut(&header.id)
                    .filter(|c| !c.last_answer.is_empty())
                else {
                    // A retry needs a stored answer; decide() only says Retry when the state
                    // records the exchange, which is written together with its answer.
                    return Attempt::Done(Response::Close("kz_retry_without_answer"));
                };
                if let Some(r) = &self.replicator
                    && !self.in_stream(r, header.id, c).await
                {
                    return Attempt::Done(self.unavailable(header, body).await);
                }
                return Attempt::Done(Response::Ack(c.last_answer.clone()));
            }
            Decision::Answer(a) => a,
        };
        let command = answer.command.map_or("unknown", |c| c.label());
        let bytes = std::mem::take(&mut answer.bytes);
        // A 254 (store degraded) changes nothing and cannot be logged: it is sent as it is,
        // without a write that would only fail (and log) once per request.
        let loggable = answer.code != ResultCode::ServiceTemporarilyUnavailable;
        let Some(c) = cached.filter(|_| loggable) else {
            self.count(command, answer.code.label());
            self.observe(&answer.events);
            return Attempt::Done(Response::Ack(Bytes::from(bytes)));
        };
        let state = match answer.state.as_ref().map(encode_state).transpose() {
            Ok(s) => s,
            Err(e) => {
                error!(system_id = header.id, error = %e, "encoding a KZ state failed");
                return Attempt::Done(Response::Close("store_error"));
            }
        };
        let (ticket_number, shift) = ticket_and_shift(&answer.events, answer.state.as_ref());
        // An accepted ticket is indexed for the public receipt check by its register's RNM,
        // which its QR code names.
        let registration_number = ticket_number
            .and(answer.state.as_ref())
            .map(|f| f.reg.registration_number.clone());
        let sent = Bytes::from(bytes);
        let export = state.is_some() && answer.code == ResultCode::Ok;
        let mut x = KzWrite {
            system_id: header.id,
            export,
            state,
            request: frame.clone(),
            answer: sent.clone(),
            received_at_ms: clock.ms,
            command: u8::try_from(answer.command.map_or(255, |c| c.wire())).unwrap_or(255),
            code: u8::try_from(answer.code.wire()).unwrap_or(255),
            ticket_number,
            shift,
            doc_time: None,
            registration_number,
            replicated: None,
        };
        // Cluster mode: the change goes to the cluster's stream first, against the revision it
        // was decided on; only the winner commits and answers.
        if let Some(ks) = &self.kz_stream {
            match self.publish_exchange(ks, c, &mut x).await {
                Ok(()) => {}
                Err(Cas::Taken) => return Attempt::Raced,
                Err(Cas::Unavailable(why)) => {
                    warn!(system_id = header.id, error = %why, "KZ exchange not replicated; answered \"try later\"");
                    self.count(command, "replication_unavailable");
                    return Attempt::Done(self.unavailable(header, body).await);
                }
            }
        }
        self.count(command, answer.code.label());
        let entry = (export && self.replicator.is_some()).then(|| KzLogEntry {
            system_id: x.system_id,
            seq: 0, // the log's, known once committed
            received_at_ms: x.received_at_ms,
            command: x.command,
            code: x.code,
            ticket_number: x.ticket_number,
            shift: x.shift,
            request: frame.to_vec(),
            answer: sent.to_vec(),
        });
        let revised = x.replicated.as_deref().map(|r| (r.revision, r.log_next));
        let committed = match self.store.kz_commit(x).await {
            Ok(c) => c,
            Err(e) => {
                // Not durable: say nothing; the KKM retries with the same TOKEN and REQNUM
                // and is answered from the state that is (read again from the store).
                cache.remove(&header.id);
                error!(system_id = header.id, error = %e, "KZ exchange not stored; no answer sent");
                self.count(command, "store_error");
                return Attempt::Done(Response::Close("store_error"));
            }
        };
        // Replicated mode: the stream must have the exchange before its answer goes out.
        let replicated = match (entry, &self.replicator) {
            (Some(mut entry), Some(r)) => {
                entry.seq = committed.log_seq;
                let seq = committed.outbox_seq.unwrap_or(0);
                if r.confirm(r.send_kz(entry.clone(), seq).await).await {
                    Replicated::Yes
                } else {
                    Replicated::Pending(Box::new(entry), seq)
                }
            }
            _ => Replicated::Yes,
        };
        let withheld = matches!(replicated, Replicated::Pending(..));
        if let Some(c) = cache.get_mut(&header.id) {
            if let Some((revision, log_next)) = revised {
                c.revision = revision;
                c.log_next = log_next;
            }
            if let Some(facts) = answer.state.take() {
                c.facts = facts;
                c.last_answer = sent.clone();
                c.replicated = replicated;
            }
        }
        self.observe(&answer.events);
        if withheld {
            // Durable here, not yet in the stream: "try later"; the KKM's retry of this very
            // request gets the stored answer once the stream has the exchange.
            return Attempt::Done(self.unavailable(header, body).await);
        }
        Attempt::Done(Response::Ack(sent))
    }

    /// Cluster mode: publishes the exchange with the register's record after it, against the
    /// revision it was decided on; on success `x` carries that record for the local commit.
    async fn publish_exchange(
        &self,
        ks: &KzStream,
        c: &Cached,
        x: &mut KzWrite,
    ) -> Result<(), Cas> {
        let (state, last_answer) = match &x.state {
            Some(new) => (new.clone(), x.answer.to_vec()),
            None => (
                encode_state(&c.facts)
                    .map_err(|e| Cas::Unavailable(format!("encoding a KZ state: {e}")))?,
                c.last_answer.to_vec(),
            ),
        };
        let mut record = KzRecord {
            system_id: x.system_id,
            created_at_ms: c.created_at_ms,
            log_next: c.log_next + 1,
            state,
            last_answer,
            revision: 0,
        };
        let change = ofd_store::encode_change(&record, Some(x))
            .map_err(|e| Cas::Unavailable(format!("encoding a KZ change: {e}")))?;
        record.revision = ks.publish(x.system_id, c.revision, change).await?;
        x.replicated = Some(Box::new(record));
        Ok(())
    }

    /// Replicated mode: whether the register's last committed exchange is in the stream, its
    /// publish repeated if it was withheld (see [`Replicated`]).
    async fn in_stream(&self, r: &Replicator, system_id: u32, c: &mut Cached) -> bool {
        let known = match &c.replicated {
            Replicated::Yes => true,
            Replicated::Pending(entry, seq) => {
                r.confirm(r.send_kz((**entry).clone(), *seq).await).await
            }
            Replicated::Unknown => {
                match self.logged_exchange(system_id, c.last_answer.clone()).await {
                    Some(entry) => r.confirm(r.send_kz(entry, 0).await).await,
                    None => false,
                }
            }
        };
        if known {
            c.replicated = Replicated::Yes;
        }
        known
    }

    /// The logged exchange whose answer was `answer` (the last state-changing one of its
    /// register), searched back from the log's end; `None` if the log does not have it.
    async fn logged_exchange(&self, system_id: u32, answer: Bytes) -> Option<KzLogEntry> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let record = store.kz_get(system_id).ok()??;
            // The exchange is one of the last few: only answers that changed nothing come after.
            for seq in (1..record.log_next).rev().take(64) {
                match store.kz_log_entry(system_id, seq) {
                    Ok(Some(e)) if e.answer == answer.as_ref() => return Some(e),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    /// The store cannot be read: the protocol's 254 ("temporarily unavailable"), nothing kept.
    async fn unavailable(&self, header: ofd_kz::Header, body: &[u8]) -> Response {
        let decision = ofd_kz::decide(&Input {
            header,
            body,
            register: None,
            policy: &self.policy,
            now: u64::from(unix_now()),
            store_available: false,
            fresh_token: 0,
        });
        match decision.answer() {
            Some(a) => {
                self.count("unknown", a.code.label());
                Response::Ack(Bytes::from(a.bytes.clone()))
            }
            None => Response::Close("store_error"),
        }
    }

    fn count(&self, command: &str, result: &str) {
        self.metrics
            .kz_requests
            .with_label_values(&[command, result])
            .inc();
    }

    fn observe(&self, events: &[Event]) {
        for e in events {
            let label = match e {
                Event::TicketAccepted { .. } => "ticket",
                Event::ShiftOpened { .. } => "shift_opened",
                Event::ShiftClosed {
                    device_report_agrees: Some(false),
                    ..
                } => {
                    warn!("a KKM's own Z report disagrees with the server's");
                    "z_report_disagrees"
                }
                Event::ShiftClosed { .. } => "shift_closed",
                Event::MoneyPlaced { .. } => "money_placement",
                Event::OfflinePeriod { .. } => "offline_period",
                Event::TokenRotated { .. } => "token_rotated",
            };
            self.metrics.kz_events.with_label_values(&[label]).inc();
        }
    }

    /// Register a new KKM for an organisation the caller may act for (`scoped`): issue its
    /// system ID and first token, durably, with its owner's index entry. Returns both.
    pub fn register(
        &self,
        scoped: &ofd_store::Scoped<'_>,
        mut reg: ofd_kz::RegInfo,
    ) -> Result<(u32, u32), KzAdminError> {
        let token = fresh_token();
        let mut encode_error = None;
        let owner = ofd_store::Owner {
            inn: reg.org_inn.clone(),
            place: reg.pos_address.clone(),
        };
        if let Some(ks) = &self.kz_stream {
            // Called off the runtime's threads (it writes synced): wait for the cluster here.
            let handle = tokio::runtime::Handle::current();
            let id = handle.block_on(self.register_in_cluster(ks, scoped, reg, token, owner))?;
            return Ok((id, token));
        }
        let id = scoped.create_kkm(unix_now_ms(), &owner, |id| {
            reg.kkm_id = id.to_string();
            let facts = RegisterFacts::new(reg, token);
            encode_state(&facts).unwrap_or_else(|e| {
                encode_error = Some(e.to_string());
                Vec::new()
            })
        })?;
        if let Some(e) = encode_error {
            return Err(KzAdminError::BadState(id, e));
        }
        Ok((id, token))
    }

    /// Cluster mode: claims the next free system ID in the cluster's stream (a new subject:
    /// refused if another node claimed it first, whose register is then copied and the next ID
    /// tried), then stores the register with its owner.
    async fn register_in_cluster(
        &self,
        ks: &KzStream,
        scoped: &ofd_store::Scoped<'_>,
        mut reg: ofd_kz::RegInfo,
        token: u32,
        owner: ofd_store::Owner,
    ) -> Result<u32, KzAdminError> {
        scoped.may_create_kkm(&owner)?;
        let unavailable = |why: String| KzAdminError::Store(StoreError::Replication(why));
        for _ in 0..MAX_RACES {
            let id = self.store.kz_next_id()?;
            reg.kkm_id = id.to_string();
            let facts = RegisterFacts::new(reg.clone(), token);
            let mut record = KzRecord {
                system_id: id,
                created_at_ms: unix_now_ms(),
                log_next: 1,
                state: encode_state(&facts)
                    .map_err(|e| KzAdminError::BadState(id, e.to_string()))?,
                last_answer: Vec::new(),
                revision: 0,
            };
            let change = ofd_store::encode_change(&record, None)?;
            match ks.publish(id, 0, change).await {
                Ok(revision) => {
                    record.revision = revision;
                    scoped.create_kkm_in_cluster(record, owner).await?;
                    return Ok(id);
                }
                Err(Cas::Taken) => {
                    let taken = ks.latest(id).await.map_err(unavailable)?.ok_or_else(|| {
                        unavailable(format!("system ID {id} is taken, yet has no register"))
                    })?;
                    self.store.kz_apply(taken, None).await?;
                }
                Err(Cas::Unavailable(why)) => return Err(unavailable(why)),
            }
        }
        Err(unavailable(
            "other nodes kept claiming the next system ID; try again".into(),
        ))
    }

    /// The register's current state, when it is in the caller's scope.
    pub fn facts(
        &self,
        scoped: &ofd_store::Scoped<'_>,
        system_id: u32,
    ) -> Result<RegisterFacts, KzAdminError> {
        let record = scoped
            .kkm(system_id)?
            .ok_or(KzAdminError::NotFound(system_id))?;
        decode_state(system_id, &record.state)
    }

    /// Change a register's state outside an exchange (new token, block, deregister), under its
    /// lock and durably, when it is in the caller's scope. Returns the new state.
    pub async fn update(
        &self,
        scoped: &ofd_store::Scoped<'_>,
        system_id: u32,
        change: impl Fn(&mut RegisterFacts),
    ) -> Result<RegisterFacts, KzAdminError> {
        // Checked before the lock (one index read): an out-of-scope ID must not even evict a
        // cache entry.
        if !scoped.sees(&ofd_store::RegisterRef::Kkm(system_id))? {
            return Err(KzAdminError::NotFound(system_id));
        }
        let mut cache = self.stripe(system_id).lock().await;
        // Whatever happens below, the next request reads the register from the store.
        cache.remove(&system_id);
        if let Some(ks) = &self.kz_stream {
            return self.update_in_cluster(ks, system_id, change).await;
        }
        let mut facts = self.facts(scoped, system_id)?;
        change(&mut facts);
        let bytes =
            encode_state(&facts).map_err(|e| KzAdminError::BadState(system_id, e.to_string()))?;
        self.store.kz_put_state(system_id, &bytes)?;
        Ok(facts)
    }

    /// Cluster mode: the change made to the register's latest revision (read from the
    /// stream's leader) and published against it; made again on a newer one if another node
    /// was first. Copied here before it returns, so this node shows it at once.
    async fn update_in_cluster(
        &self,
        ks: &KzStream,
        system_id: u32,
        change: impl Fn(&mut RegisterFacts),
    ) -> Result<RegisterFacts, KzAdminError> {
        let unavailable = |why: String| KzAdminError::Store(StoreError::Replication(why));
        for _ in 0..MAX_RACES {
            let latest = ks
                .latest(system_id)
                .await
                .map_err(unavailable)?
                .ok_or(KzAdminError::NotFound(system_id))?;
            let mut facts = decode_state(system_id, &latest.record.state)?;
            change(&mut facts);
            let mut record = KzRecord {
                state: encode_state(&facts)
                    .map_err(|e| KzAdminError::BadState(system_id, e.to_string()))?,
                ..latest.record
            };
            let from = record.revision;
            match ks
                .publish(system_id, from, ofd_store::encode_change(&record, None)?)
                .await
            {
                Ok(revision) => {
                    record.revision = revision;
                    let copied = KzChange {
                        record,
                        exchange: None,
                        registration_number: None,
                    };
                    self.store.kz_apply(copied, None).await?;
                    return Ok(facts);
                }
                Err(Cas::Taken) => continue,
                Err(Cas::Unavailable(why)) => return Err(unavailable(why)),
            }
        }
        Err(unavailable(format!(
            "KKM {system_id} kept changing on other nodes; try again"
        )))
    }

    /// A fresh token for the taxpayer to type into the KKM ("Создать новый токен").
    pub async fn issue_token(
        &self,
        scoped: &ofd_store::Scoped<'_>,
        system_id: u32,
    ) -> Result<u32, KzAdminError> {
        let token = fresh_token();
        self.update(scoped, system_id, |f| {
            f.token = token;
            f.answers_since_rotation = 0;
        })
        .await?;
        Ok(token)
    }

    /// Indexes the owners of KKMs registered before the owner index existed (once per store).
    pub fn backfill_owners(&self) -> Result<u64, StoreError> {
        self.store.backfill_kz_owners(|state| {
            let facts = decode_state(0, state).ok()?;
            Some(ofd_store::Owner {
                inn: facts.reg.org_inn.clone(),
                place: facts.reg.pos_address.clone(),
            })
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// The stored form of a register's state: a format byte, then postcard (compact, and cheap to
/// write on every exchange). A state that starts with `{` is the JSON the first Kazakh release
/// wrote, and still decodes; the next exchange rewrites it in the current form.
const STATE_POSTCARD: u8 = 1;

pub fn encode_state(facts: &RegisterFacts) -> Result<Vec<u8>, postcard::Error> {
    let mut out = Vec::with_capacity(1024);
    out.push(STATE_POSTCARD);
    postcard::to_extend(facts, out)
}

pub fn decode_state(system_id: u32, state: &[u8]) -> Result<RegisterFacts, KzAdminError> {
    let bad = |e: String| KzAdminError::BadState(system_id, e);
    match state.split_first() {
        Some((&STATE_POSTCARD, rest)) => postcard::from_bytes(rest).map_err(|e| bad(e.to_string())),
        Some((b'{', _)) => serde_json::from_slice(state).map_err(|e| bad(e.to_string())),
        Some((other, _)) => Err(bad(format!("unknown state format {other:#04x}"))),
        None => Err(bad("empty state".into())),
    }
}

/// The ticket number an answer assigned and the shift it belongs to.
fn ticket_and_shift(events: &[Event], state: Option<&RegisterFacts>) -> (Option<u64>, Option<u32>) {
    let ticket = events.iter().find_map(|e| match e {
        Event::TicketAccepted {
            ticket_number,
            shift_number,
            ..
        } => Some((*ticket_number, *shift_number)),
        _ => None,
    });
    let closed = events.iter().find_map(|e| match e {
        Event::ShiftClosed { shift_number, .. } => Some(*shift_number),
        _ => None,
    });
    match ticket {
        Some((t, s)) => (Some(t), Some(s)),
        None => (
            None,
            closed.or_else(|| state.and_then(|f| f.shift.as_ref().map(|s| s.number))),
        ),
    }
}

/// A new token: random, never 0 (0 means "no rotation" to the protocol crate).
fn fresh_token() -> u32 {
    loop {
        let mut b = [0u8; 4];
        if ofd_store::random_bytes(&mut b).is_err() {
            // The kernel's RNG is gone: no token can be issued safely; 0 rotates nothing.
            return 0;
        }
        let t = u32::from_le_bytes(b) & 0x7FFF_FFFF; // capped at the signed maximum (NOTES)
        if t != 0 {
            return t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_json_still_decodes() {
        let mut facts = RegisterFacts::new(
            ofd_kz::RegInfo {
                registration_number: "010100012345".into(),
                org_title: "ТОО «Ромашка»".into(),
                ..Default::default()
            },
            77,
        );
        facts.last_z = Some(vec![1, 2, 3, 250]);
        facts.cash = 123_456;
        let bytes = encode_state(&facts).unwrap();
        assert_eq!(bytes[0], STATE_POSTCARD);
        assert_eq!(decode_state(1, &bytes).unwrap(), facts);
        let json = serde_json::to_vec(&facts).unwrap();
        assert!(
            bytes.len() * 2 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
        assert_eq!(decode_state(1, &json).unwrap(), facts);
        assert!(decode_state(1, &[9, 9]).is_err());
        assert!(decode_state(1, &bytes[..bytes.len() / 2]).is_err());
        assert!(decode_state(1, &[]).is_err());
    }
}
