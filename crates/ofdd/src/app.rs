//! The daemon's shared state, built once at start-up: configuration, metrics, the store, the two
//! protocol pipelines and the limits they share. The acceptor, the admin API and the exporter
//! each receive an `Arc<App>`; none of them builds anything of its own.

use std::sync::Arc;

use anyhow::Context;
use ofd_proto::ack::{AckEncoder, ResponseCode};
use ofd_proto::decide::Policy;
use ofd_proto::error::ProtoError;
use ofd_proto::framing::FrameLimits;
use ofd_proto::sign::{HmacSigner, Signer};
use ofd_store::accounts::auth::Authenticator;
use ofd_store::{Store, StoreOptions};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use crate::cluster::replicator::Replicator;
use crate::cluster::view::ViewState;
use crate::config::Config;
use crate::decrypt::{Decryptor, NoDecryptor};
use crate::ingest::Ingest;
use crate::kz::KzIngest;
use crate::log_gate::LogGate;
use crate::metrics::Metrics;
use crate::store_events::StoreEvents;

/// Development-only signer key, used when none is configured (and logged loudly).
const DEV_SIGNER_KEY: &[u8] = b"ofdd-development-signer-key-not-for-production";

pub struct App {
    config: Config,
    metrics: Arc<Metrics>,
    store: Store,
    /// Russian registers (FN–OFD).
    ingest: Ingest,
    /// Kazakh registers (KKM–OFD) on the same port.
    kz: KzIngest,
    /// Messages of either protocol handed to the store and not yet answered
    /// (`store.max_in_flight`).
    in_flight: Arc<Semaphore>,
    log_gate: Arc<LogGate>,
    /// Sign-in, sessions and API keys (shared by the API and the portal).
    auth: Arc<Authenticator>,
    /// Replicated mode: the stream answers wait for (see [`crate::cluster`]).
    replicator: Option<Arc<Replicator>>,
    /// Replicated mode: the copies of the cluster's streams `/readyz` waits for.
    views: Vec<Arc<ViewState>>,
}

impl App {
    /// Open the store and build both pipelines.
    pub fn open(config: Config, metrics: Arc<Metrics>) -> anyhow::Result<App> {
        let opts = StoreOptions {
            max_batch: config.store.max_batch,
            reserve_bytes: config.store.reserve_mib.saturating_mul(1 << 20),
            ..StoreOptions::default()
        };
        let store = Store::open_with_observer(
            &config.data,
            opts,
            Arc::new(StoreEvents(metrics.clone())),
        )
        .with_context(|| format!("cannot open the data directory {}", config.data.display()))?;
        let key = match &config.operator.signer_key {
            Some(k) => k.as_bytes().to_vec(),
            None => {
                warn!(
                    "no operator.signer_key / OFDD_SIGNER_KEY set: acknowledgements are signed with the development key"
                );
                DEV_SIGNER_KEY.to_vec()
            }
        };
        App::with_parts(
            config,
            metrics,
            store,
            Box::new(HmacSigner::new(&key)),
            Box::new(NoDecryptor),
        )
    }

    /// Assemble from parts (tests inject a decryptor or a different signer here). Fails when
    /// the operator INN does not pass its check digits.
    pub fn with_parts(
        config: Config,
        metrics: Arc<Metrics>,
        store: Store,
        signer: Box<dyn Signer>,
        decryptor: Box<dyn Decryptor>,
    ) -> anyhow::Result<App> {
        let encoder = AckEncoder::new(config.operator.inn.as_bytes(), signer)
            .map_err(|e: ProtoError| anyhow::anyhow!("operator.inn: {e}"))?;
        let policy = Policy {
            validation: config.validation,
            accept_unknown_fn: config.admission.accept_unknown_fn,
            refuse_code: ResponseCode::from_u8(config.admission.refuse_code),
            acknowledge_encrypted: config.admission.acknowledge_encrypted,
        };
        let limits = FrameLimits {
            max_body: u16::try_from(config.limits.max_message_bytes).unwrap_or(u16::MAX),
            ..FrameLimits::default()
        };
        let log_gate = Arc::new(LogGate::default());
        let ingest = Ingest::new(
            store.clone(),
            metrics.clone(),
            encoder,
            decryptor,
            policy,
            limits,
            log_gate.clone(),
        );
        // `Config::check` has accepted the policy before the daemon starts.
        let kz_policy = config
            .kz
            .policy(&config.accounts.public_url)
            .unwrap_or_default();
        let kz = KzIngest::new(store.clone(), kz_policy, metrics.clone());
        let in_flight = config.store.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        let auth = Arc::new(Authenticator::new(store.clone(), config.accounts.policy()));
        match kz.backfill_owners() {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                registers = n,
                "owner index built for existing Kazakh registers"
            ),
            Err(e) => anyhow::bail!("cannot index the owners of Kazakh registers: {e}"),
        }
        Ok(App {
            auth,
            ingest,
            kz,
            in_flight: Arc::new(Semaphore::new(in_flight)),
            log_gate,
            config,
            metrics,
            store,
            replicator: None,
            views: Vec::new(),
        })
    }

    /// Replicated mode: from now on both pipelines answer only once the stream has what they
    /// stored. Set before the app is shared, i.e. before anything is answered.
    pub fn replicate_through(&mut self, replicator: Arc<Replicator>) {
        self.ingest.replicate_through(replicator.clone());
        self.kz.replicate_through(replicator.clone());
        self.replicator = Some(replicator);
    }

    /// Replicated mode: Kazakh registers' states are the cluster's (see
    /// [`crate::cluster::kz_state`]). Set before the app is shared.
    pub fn share_registers_through(&mut self, stream: Arc<crate::cluster::kz_state::KzStream>) {
        self.kz.share_registers_through(stream);
    }

    /// Replicated mode: this node keeps a copy of one of the cluster's streams (the documents,
    /// see [`crate::cluster::view`]; the Kazakh registers, [`crate::cluster::kz_state`]);
    /// `/readyz` waits for each to catch up once.
    pub fn follow_view(&mut self, view: Arc<ViewState>) {
        self.views.push(view);
    }

    /// Why this node is not ready yet for want of a copy (replicated mode), if so.
    pub fn copies_not_ready(&self) -> Option<String> {
        self.views.iter().find_map(|v| v.not_ready())
    }

    /// The replicator, in replicated mode.
    pub fn replicator(&self) -> Option<&Replicator> {
        self.replicator.as_deref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn metrics_arc(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Sign-in, sessions and API keys.
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    pub fn auth_arc(&self) -> Arc<Authenticator> {
        self.auth.clone()
    }

    /// The FN–OFD pipeline.
    pub fn ingest(&self) -> &Ingest {
        &self.ingest
    }

    /// The Kazakh pipeline.
    pub fn kz(&self) -> &KzIngest {
        &self.kz
    }

    /// Waits until `n` more messages may be handed to the store (see `store.max_in_flight`).
    /// A connection holds the permits until it has answered them; while none are free it stops
    /// reading, and the back-pressure reaches the registers through TCP.
    pub async fn admit_in_flight(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let cap = self.config.store.max_in_flight.max(1);
        let n = u32::try_from(n.clamp(1, cap)).unwrap_or(u32::MAX);
        // `None` only if the semaphore were closed, which nothing does.
        self.in_flight.clone().acquire_many_owned(n).await.ok()
    }

    /// Log a broken frame of either protocol, at most a few lines per second (a flood must not
    /// flood the log too).
    pub fn log_framing_error(
        &self,
        peer: std::net::SocketAddr,
        reason: &str,
        err: &dyn std::fmt::Display,
    ) {
        if self.log_gate.allow() {
            warn!(%peer, reason, error = %err, "broken frame; connection closed");
        }
    }

    /// Flush and close the store (after every connection has finished).
    pub fn close(&self) -> anyhow::Result<()> {
        // Closed even when the flush fails (a degraded store): everything acknowledged is in
        // the synced WAL already, and the committer must still answer what is queued.
        let flushed = self.store.flush();
        self.store.close();
        flushed.context("flushing the store")?;
        Ok(())
    }
}
