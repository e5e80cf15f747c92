//! Wiring the daemon together: configuration → store → ingest pipeline → listeners → run until a
//! signal → drain → flush. [`Daemon::start`] is what `ofdd serve` runs and what the integration
//! tests start in-process (on port 0), so the tests exercise exactly the production wiring.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;

use crate::app::App;
use crate::cli::ServeArgs;
use crate::cluster::kz_state::{self, KzStream};
use crate::cluster::registry::{self, JetStreamLog};
use crate::cluster::replicator::Replicator;
use crate::cluster::view::ViewState;
use crate::config::{ClusterConfig, Config, NatsExport};
use crate::http_server::{self, HttpLimits};
use crate::metrics::Metrics;
use crate::shutdown::{self, ShutdownTrigger};
use crate::{admin, export, server};

/// A running daemon.
pub struct Daemon {
    pub ingest_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub portal_addr: SocketAddr,
    /// Configuration, store and pipelines, as every part of the daemon shares them.
    pub app: Arc<App>,
    trigger: ShutdownTrigger,
    ingest_task: JoinHandle<()>,
    admin_task: JoinHandle<()>,
    portal_task: JoinHandle<()>,
    /// The NATS exporter, when `[export.nats]` is enabled or the node replicates (then it is
    /// the backstop of the replicated stream, see [`crate::cluster::replicator`]).
    export_task: Option<JoinHandle<()>>,
    /// The replication prober, in replicated mode.
    prober_task: Option<JoinHandle<()>>,
    /// The notifier, when `[notifications]` is enabled.
    notifier_task: Option<JoinHandle<()>>,
    /// The registry follower, in replicated mode.
    follower_task: Option<JoinHandle<()>>,
    /// The Kazakh registers' follower, in replicated mode.
    kz_follower_task: Option<JoinHandle<()>>,
    /// The view's copier, in replicated mode.
    view_task: Option<JoinHandle<()>>,
}

/// The backstop exporter's cursor when `[export.nats]` is off in replicated mode.
pub const CLUSTER_CURSOR: &str = "cluster";

impl Daemon {
    /// Open the store and bind both listeners. Fails with a reason an operator can act on (data
    /// directory locked or corrupt, address in use, bad configuration).
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        config.check()?;
        let metrics = Arc::new(Metrics::new());
        // Replicated: reach the cluster (and refuse an old server) before anything is answered.
        let replicator = if config.cluster.replicated() {
            Some(Arc::new(
                Replicator::connect(&config.cluster, &metrics, config.store.max_in_flight).await?,
            ))
        } else {
            None
        };
        let mut app = App::open(config, metrics)?;
        let view = replicator
            .as_ref()
            .map(|_| Arc::new(ViewState::new("documents")));
        let kz_view = replicator
            .as_ref()
            .map(|_| Arc::new(ViewState::new("Kazakh registers")));
        if let Some(r) = &replicator {
            app.replicate_through(r.clone());
        }
        for v in view.iter().chain(&kz_view) {
            app.follow_view(v.clone());
        }
        // Replicated: Kazakh registers' states are the cluster's, changed per register.
        let kz_stream = match &replicator {
            Some(r) => {
                let ks = Arc::new(KzStream::open(r.jetstream(), &app.config().cluster).await?);
                app.share_registers_through(ks.clone());
                Some(ks)
            }
            None => None,
        };
        let app = Arc::new(app);
        let cfg = app.config().clone();
        // Replicated: one registry. Every change of another node is applied before this node
        // answers anyone, and the follower applies the rest as they come.
        let registry_stream = match &replicator {
            Some(r) => {
                let log = Arc::new(JetStreamLog::open(r.jetstream(), &cfg.cluster).await?);
                let stream = log.stream().clone();
                let position = &app.metrics().cluster_registry_position;
                registry::attach(app.store(), log, position).await?;
                Some(stream)
            }
            None => None,
        };

        let listener = server::bind(cfg.listen)
            .with_context(|| format!("cannot listen for registers on {}", cfg.listen))?;
        let admin_listener = TcpListener::bind(cfg.admin_listen)
            .await
            .with_context(|| format!("cannot listen for the admin API on {}", cfg.admin_listen))?;
        let portal_listener = TcpListener::bind(cfg.portal_listen)
            .await
            .with_context(|| {
                format!("cannot listen for the web portal on {}", cfg.portal_listen)
            })?;
        let ingest_addr = listener.local_addr()?;
        let admin_addr = admin_listener.local_addr()?;
        let portal_addr = portal_listener.local_addr()?;

        let (trigger, shutdown) = shutdown::channel();
        let ingest_task = tokio::spawn(server::run(listener, app.clone(), shutdown));
        // Every HTTP listener goes through http_server::serve: header/request/idle timeouts, a
        // connection cap, body limits and security headers, per `[http]`.
        let admin_task = tokio::spawn(http_server::serve(
            admin_listener,
            admin::router(app.clone()),
            HttpLimits::from(&cfg.http),
            app.metrics().http_listener("admin"),
            trigger.subscribe(),
        ));
        let portal_task = tokio::spawn(http_server::serve(
            portal_listener,
            crate::portal::router(app.clone()),
            HttpLimits::from(&cfg.http),
            app.metrics().http_listener("portal"),
            trigger.subscribe(),
        ));
        // Replicated: the exporter runs behind the replicator's whole wait (see
        // `export::spawn_behind`), on `[export.nats]` if enabled (same stream), else on its own.
        let behind = Duration::from_secs(cfg.cluster.ack_timeout_secs.saturating_mul(2));
        let export_task = match (&replicator, cfg.export.nats.enabled) {
            (None, false) => None,
            (None, true) => Some(export::spawn(
                app.clone(),
                cfg.export.nats.clone(),
                trigger.subscribe(),
            )),
            (Some(_), true) => Some(export::spawn_behind(
                app.clone(),
                cfg.export.nats.clone(),
                trigger.subscribe(),
                behind,
            )),
            (Some(_), false) => Some(export::spawn_behind(
                app.clone(),
                backstop_export(&cfg.cluster),
                trigger.subscribe(),
                behind,
            )),
        };
        let view_task = match (&replicator, view) {
            (Some(r), Some(v)) => Some(crate::cluster::view::spawn(
                app.store().clone(),
                r.jetstream().clone(),
                cfg.cluster.clone(),
                v,
                app.metrics().cluster_view_lag.clone(),
                trigger.subscribe(),
            )),
            _ => None,
        };
        let prober_task = replicator.map(|r| r.spawn_prober(trigger.subscribe()));
        let follower_task = registry_stream.map(|s| {
            let position = app.metrics().cluster_registry_position.clone();
            registry::spawn_follower(app.store().clone(), s, position, trigger.subscribe())
        });
        let kz_follower_task = kz_stream.zip(kz_view).map(|(ks, state)| {
            let lag = app.metrics().cluster_kz_lag.clone();
            kz_state::spawn_follower(app.store().clone(), &ks, state, lag, trigger.subscribe())
        });
        let notifier_task = cfg
            .notifications
            .enabled
            .then(|| crate::notifier::spawn(app.clone(), trigger.subscribe()));
        info!(ingest = %ingest_addr, admin = %admin_addr, portal = %portal_addr, data = %cfg.data.display(), "ofdd started");
        Ok(Daemon {
            ingest_addr,
            admin_addr,
            portal_addr,
            app,
            trigger,
            ingest_task,
            admin_task,
            portal_task,
            export_task,
            notifier_task,
            prober_task,
            follower_task,
            kz_follower_task,
            view_task,
        })
    }

    /// Stop accepting, let open connections finish their messages, then flush and close the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.trigger.trigger();
        let _ = self.ingest_task.await;
        let _ = self.admin_task.await;
        let _ = self.portal_task.await;
        // The exporter reads the store: it stops before the store closes.
        if let Some(t) = self.export_task {
            let _ = t.await;
        }
        if let Some(t) = self.prober_task {
            let _ = t.await;
        }
        if let Some(t) = self.notifier_task {
            let _ = t.await;
        }
        if let Some(t) = self.follower_task {
            let _ = t.await;
        }
        if let Some(t) = self.kz_follower_task {
            let _ = t.await;
        }
        if let Some(t) = self.view_task {
            let _ = t.await;
        }
        self.app.close()?;
        info!("ofdd stopped");
        Ok(())
    }
}

/// The exporter that runs behind the replicator when `[export.nats]` is off: same stream, same
/// messages, its own cursor.
fn backstop_export(c: &ClusterConfig) -> NatsExport {
    NatsExport {
        enabled: true,
        url: c.nats.join(","),
        stream: c.stream.clone(),
        subject_prefix: c.subject_prefix.clone(),
        cursor: CLUSTER_CURSOR.to_string(),
        duplicate_window_secs: c.duplicate_window_secs,
        replicas: c.stream_replicas,
        ack_timeout_secs: c.ack_timeout_secs,
        ..NatsExport::default()
    }
}

/// `ofdd serve`.
pub fn serve_blocking(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(a) = args.listen {
        config.listen = a;
    }
    if let Some(a) = args.admin_listen {
        config.admin_listen = a;
    }
    if let Some(a) = args.portal_listen {
        config.portal_listen = a;
    }
    if let Some(d) = args.data {
        config.data = d;
    }
    config.log_json |= args.log_json;
    if let Some(list) = args.cluster_nats {
        config.cluster.nats = crate::cluster::config::split_list(&list);
    }
    if let Some(node) = args.node {
        config.cluster.node = node;
    }
    if let Some(d) = args.durability {
        config.cluster.durability = d;
    }
    crate::logging::init(config.log_json);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ofdd")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let daemon = Daemon::start(config).await?;
        shutdown::signal().await;
        info!("signal received; shutting down");
        daemon.shutdown().await
    })
}

/// `ofdd check-config`.
pub fn check_config(path: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    config.check()?;
    println!("{config:#?}");
    Ok(())
}
