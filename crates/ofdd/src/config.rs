//! Daemon configuration: one TOML file, overridden by environment variables and flags.
//!
//! Every knob has a default that is safe for a small OFD on one machine, so `ofdd serve` with no
//! file at all runs the embedded default (RocksDB under `./data`). Durations are written as
//! integers with their unit in the key name (`idle_timeout_secs`), which needs no parser and
//! cannot be misread.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, ensure};
use async_nats::ServerAddr;
use ofd_proto::validate::ValidationConfig;
use serde::Deserialize;

/// Default ingest port. The FN–OFD protocol has no registered port; operators publish their own
/// (7777 and 21101 are common). Ours is configurable and documented in the README.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7777";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9100";
pub const DEFAULT_PORTAL_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Ingest listener (registers connect here).
    pub listen: SocketAddr,
    /// Admin HTTP listener: `/metrics`, `/healthz`, `/api/v1/*`. Loopback by default.
    pub admin_listen: SocketAddr,
    /// The web portal's listener (people's pages and the public receipt check). Loopback by
    /// default: publish it through a TLS-terminating proxy.
    pub portal_listen: SocketAddr,
    /// RocksDB directory.
    pub data: PathBuf,
    /// Bearer token for `/api/v1/*` (also `OFDD_ADMIN_TOKEN`). Without one the API answers 503,
    /// so a forgotten token never means an open API.
    pub admin_token: Option<String>,
    /// Log as JSON lines instead of human text.
    pub log_json: bool,
    pub limits: Limits,
    /// Hardening of every HTTP listener (the admin API and the web portal).
    pub http: HttpConfig,
    pub operator: Operator,
    pub admission: Admission,
    pub validation: ValidationConfig,
    pub liveness: Liveness,
    pub store: StoreConfig,
    /// Optional export of accepted documents downstream (off by default).
    pub export: ExportConfig,
    /// Kazakh registers (KKM–OFD protocol 2.0.x) on the same ingest port.
    pub kz: KzConfig,
    /// People and integrators: sessions, sign-in limits, one-time links, SMTP.
    pub accounts: AccountsConfig,
    /// Telling organisations about silent registers and expiring fiscal drives.
    pub notifications: NotificationsConfig,
    /// Cluster mode on NATS JetStream (off by default: a lone node, as before).
    pub cluster: ClusterConfig,
}

/// `[notifications]`: the notifier, which tells organisations (by mail through
/// `[accounts.smtp]` and by signed webhook, as each sets up in the portal) when a register falls
/// silent, a fiscal drive's key is about to expire, or a Kazakh shift stays open too long.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    pub enabled: bool,
    /// Seconds between passes.
    pub interval_secs: u64,
    /// A Kazakh shift open longer than this is reported (the law's limit is 24 hours).
    pub kz_shift_limit_secs: u64,
    /// First retry of an undelivered notification after this many seconds, doubling per
    /// attempt up to an hour.
    pub retry_base_secs: u64,
    /// In replicated cluster mode, one node notifies at a time: it holds a lease it renews every
    /// pass, and another node takes over this long after the holder's last renewal.
    pub lease_secs: u64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            enabled: true,
            interval_secs: 60,
            kz_shift_limit_secs: 24 * 3600,
            retry_base_secs: 30,
            lease_secs: 180,
        }
    }
}

pub use crate::cluster::config::{ClusterConfig, Durability};

pub use crate::accounts_config::{AccountsConfig, SmtpConfig};

/// `[kz]`: the KKM–OFD protocol of Kazakhstan, served on the ingest port next to FN–OFD (a
/// connection's first byte tells them apart: `2A` FN–OFD, `A2` KKM–OFD).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KzConfig {
    /// Serve Kazakh registers. When off, their connections are closed like any garbage.
    pub enabled: bool,
    /// When answers carry a new token (TICKET, CLOSE_SHIFT, MONEY_PLACEMENT only): `never`,
    /// `always`, or `every` with `rotate_every` = N.
    pub token_rotation: String,
    /// N for `token_rotation = "every"`.
    pub rotate_every: u32,
    /// How long a shift may stay open before tickets get code 11 (the protocol's 24 h).
    pub open_shift_limit_secs: u64,
    /// The public receipt check's base URL, the start of every QR code's text. Unset: the
    /// portal's own check, `<accounts.public_url>/check`, which takes exactly the parameters the
    /// QR text carries — so a buyer's scan lands where the ticket can be found.
    pub qr_base_url: Option<String>,
    /// Registers' local time offset east of UTC, seconds (Kazakhstan: +5 h).
    pub utc_offset_secs: i32,
    /// Largest KKM message, header included.
    pub max_message_bytes: u32,
}

impl Default for KzConfig {
    fn default() -> Self {
        KzConfig {
            enabled: true,
            token_rotation: "never".into(),
            rotate_every: 1,
            open_shift_limit_secs: 24 * 3600,
            qr_base_url: None,
            utc_offset_secs: 5 * 3600,
            max_message_bytes: 256 * 1024,
        }
    }
}

impl KzConfig {
    /// The protocol crate's policy, or why the settings make none. `public_url` is the
    /// portal's (`accounts.public_url`), where the QR text leads unless `qr_base_url` is set.
    pub fn policy(&self, public_url: &str) -> anyhow::Result<ofd_kz::Policy> {
        use ofd_kz::TokenRotation;
        let rotation = match self.token_rotation.as_str() {
            "never" => TokenRotation::Never,
            "always" => TokenRotation::Always,
            "every" if self.rotate_every >= 1 => TokenRotation::EveryN(self.rotate_every),
            "every" => anyhow::bail!("kz.rotate_every must be 1 or more"),
            other => anyhow::bail!(
                "kz.token_rotation {other:?}: expected \"never\", \"always\" or \"every\""
            ),
        };
        Ok(ofd_kz::Policy {
            rotation,
            open_shift_limit_secs: self.open_shift_limit_secs,
            qr_base_url: self.qr_base_url(public_url)?,
            utc_offset_secs: self.utc_offset_secs,
        })
    }
}

impl KzConfig {
    /// The QR text's base: `qr_base_url` as set, else the portal's public check.
    fn qr_base_url(&self, public_url: &str) -> anyhow::Result<String> {
        match &self.qr_base_url {
            Some(url) => {
                anyhow::ensure!(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "kz.qr_base_url must start with http:// or https://"
                );
                Ok(url.clone())
            }
            None => Ok(format!("{}/check", public_url.trim_end_matches('/'))),
        }
    }
}

/// Protection against slow, flaky and hostile links (SIM modems are all three).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Close a connection that sends nothing for this long (between or inside messages).
    pub idle_timeout_secs: u64,
    /// A message must be complete this long after its first byte arrived (slowloris guard).
    pub message_deadline_secs: u64,
    /// Largest container accepted (the session header's u16 length caps it at 65535).
    pub max_message_bytes: usize,
    /// Connections served at once; more wait in the kernel backlog (back-pressure, not collapse).
    pub max_connections: usize,
    /// Connections at once from one source IP (a NAT'd fleet needs a generous value).
    pub max_connections_per_ip: usize,
    /// Writing an acknowledgement must finish within this time.
    pub write_timeout_secs: u64,
}

/// `[http]`: protection of every HTTP listener against slow and hostile clients (see
/// [`crate::http_server`]). Each listener applies these on its own: the connection cap is per
/// listener, not shared between them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's headers must be complete this long after the connection opened (or went idle
    /// after its previous response): the slowloris guard.
    pub header_read_timeout_secs: u64,
    /// A request must be answered this long after its headers arrived, reading its body
    /// included; past it the answer is 408 and the connection closes.
    pub request_timeout_secs: u64,
    /// Close a kept-alive connection idle this long after its last response. At most
    /// `header_read_timeout_secs` (whose clock also runs while a kept-alive connection idles).
    pub keepalive_idle_secs: u64,
    /// Connections open at once on one listener; one past it is closed at once (and counted).
    pub max_connections: usize,
    /// Largest request body on any route, with or without Content-Length (413 past it). Routes
    /// may set a smaller cap (the admin API: 64 KiB).
    pub max_body_bytes: usize,
}

/// The operator's identity as written into acknowledgements.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Operator {
    /// Operator INN (tag 1017), 10 or 12 digits with valid check digits.
    pub inn: String,
    /// Key of the software signer (HMAC) that stands in for the certified crypto module. Also
    /// `OFDD_SIGNER_KEY`. The built-in default is for development only and is logged as such.
    pub signer_key: Option<String>,
}

/// What to do with documents from registers the registry does not (or no longer) admit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admission {
    /// Accept documents from an FN that no register is bound to (flagged in the store).
    pub accept_unknown_fn: bool,
    /// Response code for a refused document (deregistered register, or unknown FN when refused).
    /// The public formats fix only 0, 11 and 14; this one is the operator's choice.
    pub refuse_code: u8,
    /// Acknowledge encrypted documents that no decryptor can read (default: no, so the FN keeps
    /// them until the operator's crypto module is installed).
    pub acknowledge_encrypted: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Liveness {
    /// Silent longer than this → yellow.
    pub yellow_after_secs: u32,
    /// Silent longer than this → red.
    pub red_after_secs: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Most documents in one synced write batch.
    pub max_batch: usize,
    /// Space kept aside in the data directory (`ofdd-reserve`), released when the disk fills so
    /// the store can recover; ingest resumes once this much is free again on top of it. MiB;
    /// capped at 1/8 of the file system by the store (`ofd_store::effective_reserve`).
    pub reserve_mib: u64,
    /// Documents (across all connections) handed to the store and not yet durable, at most.
    /// At the limit connections stop reading, so a slow disk slows registers down through TCP
    /// instead of growing a queue in memory.
    pub max_in_flight: usize,
}

/// Downstream export of the document log (see [`crate::export`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportConfig {
    pub nats: NatsExport,
}

/// `[export.nats]`: publish every stored document to a NATS JetStream stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsExport {
    /// Run the exporter. Off by default: the outbox is kept either way, so turning it on later
    /// exports everything stored since the data directory was created.
    pub enabled: bool,
    /// NATS server URL(s), comma-separated (`nats://`, `tls://`; `user:password@` allowed).
    pub url: String,
    /// JetStream stream, created with the settings below if it does not exist.
    pub stream: String,
    /// Documents go to `<subject_prefix>.<doc type>`; the stream is created on `<prefix>.>`.
    pub subject_prefix: String,
    /// Name of the persisted outbox cursor (a new name exports everything again).
    pub cursor: String,
    /// JetStream de-duplication window for the `FN:FD` message ids (used when creating the stream).
    pub duplicate_window_secs: u64,
    /// Stream replicas (used when creating the stream; 3 on a NATS cluster).
    pub replicas: usize,
    /// Most documents published before their acknowledgements are awaited and the cursor saved.
    pub batch: usize,
    /// How long to wait for a JetStream acknowledgement (and for connecting).
    pub ack_timeout_secs: u64,
    /// Ceiling of the exponential back-off while NATS is unreachable.
    pub max_backoff_secs: u64,
}

impl NatsExport {
    /// Reject an `[export.nats]` section that could not work, with the key at fault.
    pub fn check(&self) -> anyhow::Result<()> {
        let cfg = self;
        cfg.servers()?;
        ensure!(
            !cfg.stream.is_empty()
                && cfg.stream.len() <= 255
                && !cfg
                    .stream
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\')),
            "export.nats.stream {:?} is not a valid stream name (no spaces, '.', '*', '>', '/' or '\\')",
            cfg.stream
        );
        ensure!(
            !cfg.subject_prefix.is_empty()
                && cfg.subject_prefix.split('.').all(|t| !t.is_empty()
                    && !t
                        .chars()
                        .any(|c| c.is_whitespace() || matches!(c, '*' | '>'))),
            "export.nats.subject_prefix {:?} is not a plain subject (dot-separated non-empty tokens without spaces or wildcards)",
            cfg.subject_prefix
        );
        ensure!(
            (1..=128).contains(&cfg.cursor.len()),
            "export.nats.cursor must be 1..=128 bytes"
        );
        ensure!(
            cfg.duplicate_window_secs > 0,
            "export.nats.duplicate_window_secs must be > 0"
        );
        ensure!(
            (1..=5).contains(&cfg.replicas),
            "export.nats.replicas must be within 1..=5"
        );
        ensure!(
            (1..=10_000).contains(&cfg.batch),
            "export.nats.batch must be within 1..=10000"
        );
        ensure!(
            cfg.ack_timeout_secs > 0,
            "export.nats.ack_timeout_secs must be > 0"
        );
        ensure!(
            cfg.max_backoff_secs > 0,
            "export.nats.max_backoff_secs must be > 0"
        );
        Ok(())
    }

    /// The comma-separated server list of `export.nats.url`.
    pub fn servers(&self) -> anyhow::Result<Vec<ServerAddr>> {
        let url = &self.url;
        let list: Vec<ServerAddr> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ServerAddr>()
                    .map_err(|e| anyhow!("export.nats.url: {s:?}: {e}"))
            })
            .collect::<anyhow::Result<_>>()?;
        ensure!(!list.is_empty(), "export.nats.url names no server");
        Ok(list)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("valid default"),
            portal_listen: DEFAULT_PORTAL_LISTEN.parse().expect("valid default"),
            data: PathBuf::from("./data"),
            admin_token: None,
            log_json: false,
            limits: Limits::default(),
            http: HttpConfig::default(),
            operator: Operator::default(),
            admission: Admission::default(),
            validation: ValidationConfig::default(),
            liveness: Liveness::default(),
            store: StoreConfig::default(),
            export: ExportConfig::default(),
            kz: KzConfig::default(),
            accounts: AccountsConfig::default(),
            notifications: NotificationsConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout_secs: 120,
            message_deadline_secs: 60,
            max_message_bytes: 65_535,
            max_connections: 50_000,
            max_connections_per_ip: 10_000,
            write_timeout_secs: 30,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            keepalive_idle_secs: 10,
            max_connections: 1024,
            max_body_bytes: 1 << 20,
        }
    }
}

impl HttpConfig {
    /// Reject settings that would leave a listener unprotected or unusable, naming the key.
    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(
            (1..=3600).contains(&self.header_read_timeout_secs),
            "http.header_read_timeout_secs must be within 1..=3600"
        );
        ensure!(
            (1..=86_400).contains(&self.request_timeout_secs),
            "http.request_timeout_secs must be within 1..=86400"
        );
        ensure!(
            self.keepalive_idle_secs > 0,
            "http.keepalive_idle_secs must be > 0"
        );
        ensure!(
            self.keepalive_idle_secs <= self.header_read_timeout_secs,
            "http.keepalive_idle_secs ({}) must not exceed http.header_read_timeout_secs ({}): \
             the header-read clock also runs while a kept-alive connection idles, so a longer \
             idle timeout could never take effect",
            self.keepalive_idle_secs,
            self.header_read_timeout_secs
        );
        ensure!(self.max_connections > 0, "http.max_connections must be > 0");
        ensure!(
            self.max_body_bytes >= 1024,
            "http.max_body_bytes must be at least 1024"
        );
        Ok(())
    }
}

impl Default for Operator {
    fn default() -> Self {
        // A syntactically valid INN (check digits verify) for development setups.
        Operator {
            inn: "7704358518".into(),
            signer_key: None,
        }
    }
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            accept_unknown_fn: true,
            refuse_code: 10,
            acknowledge_encrypted: false,
        }
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            yellow_after_secs: 86_400,
            red_after_secs: 3 * 86_400,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_batch: 1024,
            reserve_mib: 64,
            max_in_flight: 8192,
        }
    }
}

impl Default for NatsExport {
    fn default() -> Self {
        NatsExport {
            enabled: false,
            url: "nats://127.0.0.1:4222".into(),
            stream: "OFD".into(),
            subject_prefix: "ofd.documents".into(),
            cursor: "nats".into(),
            duplicate_window_secs: 86_400,
            replicas: 1,
            batch: 256,
            ack_timeout_secs: 10,
            max_backoff_secs: 30,
        }
    }
}

impl Config {
    /// Read a TOML file; a missing file named explicitly is an error, none named means defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", p.display()))?
            }
            None => Config::default(),
        };
        if let Ok(token) = std::env::var("OFDD_ADMIN_TOKEN")
            && !token.is_empty()
        {
            cfg.admin_token = Some(token);
        }
        if let Ok(key) = std::env::var("OFDD_SIGNER_KEY")
            && !key.is_empty()
        {
            cfg.operator.signer_key = Some(key);
        }
        cfg.cluster.apply_env(|k| std::env::var(k).ok());
        Ok(cfg)
    }

    /// Reject settings that would make the daemon misbehave, with a reason an operator can act on.
    pub fn check(&self) -> anyhow::Result<()> {
        ofd_proto::checks::verify_inn(self.operator.inn.as_bytes()).map_err(|e| {
            anyhow::anyhow!(
                "operator.inn {:?} is not a valid INN: {e}",
                self.operator.inn
            )
        })?;
        anyhow::ensure!(
            self.limits.max_connections > 0,
            "limits.max_connections must be > 0"
        );
        anyhow::ensure!(
            self.notifications.interval_secs > 0,
            "notifications.interval_secs must be > 0"
        );
        anyhow::ensure!(
            self.notifications.lease_secs > self.notifications.interval_secs,
            "notifications.lease_secs must be longer than notifications.interval_secs (the holder renews its lease once per pass)"
        );
        anyhow::ensure!(
            self.limits.max_connections_per_ip > 0,
            "limits.max_connections_per_ip must be > 0"
        );
        anyhow::ensure!(
            (64..=65_535).contains(&self.limits.max_message_bytes),
            "limits.max_message_bytes must be within 64..=65535"
        );
        anyhow::ensure!(
            self.limits.idle_timeout_secs > 0,
            "limits.idle_timeout_secs must be > 0"
        );
        anyhow::ensure!(
            self.limits.message_deadline_secs > 0,
            "limits.message_deadline_secs must be > 0"
        );
        self.http.check()?;
        anyhow::ensure!(
            self.liveness.yellow_after_secs < self.liveness.red_after_secs,
            "liveness.yellow_after_secs must be below liveness.red_after_secs"
        );
        self.kz.policy(&self.accounts.public_url)?;
        anyhow::ensure!(
            (64..=16 << 20).contains(&self.kz.max_message_bytes),
            "kz.max_message_bytes must be within 64..=16777216"
        );
        anyhow::ensure!(self.store.max_batch > 0, "store.max_batch must be > 0");
        anyhow::ensure!(
            self.store.max_in_flight > 0,
            "store.max_in_flight must be > 0"
        );
        anyhow::ensure!(
            !matches!(self.admission.refuse_code, 0),
            "admission.refuse_code must be non-zero (0 means accepted)"
        );
        if let Some(t) = &self.admin_token {
            anyhow::ensure!(t.len() >= 16, "admin token must be at least 16 characters");
        }
        if self.export.nats.enabled {
            self.export.nats.check()?;
        }
        self.cluster.check()?;
        if self.cluster.replicated() && self.export.nats.enabled {
            // One stream: the export is the replicated stream (see `crate::cluster::replicator`).
            anyhow::ensure!(
                self.export.nats.stream == self.cluster.stream
                    && self.export.nats.subject_prefix == self.cluster.subject_prefix,
                "in replicated mode the export is the cluster's stream: set export.nats.stream and \
                 subject_prefix to cluster.stream ({:?}) and cluster.subject_prefix ({:?}), or \
                 disable [export.nats] (the cluster then exports by itself)",
                self.cluster.stream,
                self.cluster.subject_prefix
            );
        }
        self.accounts.check()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The QR text leads to the portal's own check unless the operator names another base.
    #[test]
    fn qr_base_url_defaults_to_the_portals_check() {
        let mut kz = KzConfig::default();
        let policy = kz.policy("https://lk.ofd.example/").unwrap();
        assert_eq!(policy.qr_base_url, "https://lk.ofd.example/check");
        kz.qr_base_url = Some("https://consumer.ofd.example/t/".into());
        let policy = kz.policy("https://lk.ofd.example").unwrap();
        assert_eq!(policy.qr_base_url, "https://consumer.ofd.example/t/");
        kz.qr_base_url = Some("consumer.ofd.example".into());
        assert!(kz.policy("https://lk.ofd.example").is_err());
    }

    #[test]
    fn defaults_pass_the_check() {
        NatsExport::default().check().unwrap();
    }

    #[test]
    fn bad_settings_name_their_key() {
        let bad = |f: fn(&mut NatsExport)| {
            let mut c = NatsExport::default();
            f(&mut c);
            c.check().unwrap_err().to_string()
        };
        assert!(bad(|c| c.url = " , ".into()).contains("export.nats.url"));
        assert!(bad(|c| c.url = "nats://host:notaport".into()).contains("export.nats.url"));
        assert!(bad(|c| c.stream = "OFD.docs".into()).contains("export.nats.stream"));
        assert!(bad(|c| c.subject_prefix = "ofd..documents".into()).contains("subject_prefix"));
        assert!(bad(|c| c.subject_prefix = "ofd.>".into()).contains("subject_prefix"));
        assert!(bad(|c| c.cursor = String::new()).contains("export.nats.cursor"));
        assert!(bad(|c| c.batch = 0).contains("export.nats.batch"));
        assert!(bad(|c| c.replicas = 7).contains("export.nats.replicas"));
        assert!(bad(|c| c.duplicate_window_secs = 0).contains("duplicate_window_secs"));
    }

    #[test]
    fn several_servers_parse() {
        assert_eq!(
            NatsExport {
                url: "nats://a:4222, tls://b:4443,c".into(),
                ..NatsExport::default()
            }
            .servers()
            .unwrap()
            .len(),
            3
        );
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().check().unwrap();
    }

    #[test]
    fn toml_overrides_and_rejects_unknown_keys() {
        let cfg: Config = toml::from_str(
            "listen = \"127.0.0.1:1\"\n[limits]\nidle_timeout_secs = 5\n[admission]\naccept_unknown_fn = false\n",
        )
        .unwrap();
        assert_eq!(cfg.limits.idle_timeout_secs, 5);
        assert!(!cfg.admission.accept_unknown_fn);
        assert_eq!(cfg.limits.message_deadline_secs, 60);
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
    }

    #[test]
    fn http_settings_are_checked_by_key() {
        let bad = |f: fn(&mut HttpConfig)| {
            let mut c = Config::default();
            f(&mut c.http);
            c.check().unwrap_err().to_string()
        };
        assert!(bad(|h| h.header_read_timeout_secs = 0).contains("http.header_read_timeout_secs"));
        assert!(bad(|h| h.request_timeout_secs = 0).contains("http.request_timeout_secs"));
        assert!(bad(|h| h.keepalive_idle_secs = 0).contains("http.keepalive_idle_secs"));
        assert!(bad(|h| h.keepalive_idle_secs = 11).contains("http.keepalive_idle_secs"));
        assert!(bad(|h| h.max_connections = 0).contains("http.max_connections"));
        assert!(bad(|h| h.max_body_bytes = 10).contains("http.max_body_bytes"));
        let cfg: Config =
            toml::from_str("[http]\nheader_read_timeout_secs = 2\nkeepalive_idle_secs = 1\n")
                .unwrap();
        assert_eq!(cfg.http.header_read_timeout_secs, 2);
        assert_eq!(cfg.http.max_connections, 1024);
        cfg.check().unwrap();
        assert!(toml::from_str::<Config>("[http]\nmax_conections = 1\n").is_err());
    }

    #[test]
    fn bad_operator_inn_is_refused() {
        let mut cfg = Config::default();
        cfg.operator.inn = "7704358519".into();
        let err = cfg.check().unwrap_err().to_string();
        assert!(err.contains("operator.inn"), "{err}");
    }
}
