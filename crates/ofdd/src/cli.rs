//! Command line: `ofdd serve` runs the daemon; `ofdd decode` turns a captured message into FNS
//! JSON; `ofdd kkt …` (Russian registers) and `ofdd kz …` (Kazakh KKMs) are the operator's
//! registry commands, spoken to a running daemon's admin API (the store is locked by the daemon
//! while it runs, so going through the API is the only way that works on a live system).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "ofdd", version, about = "Fiscal data operator (OFD) ingestion daemon", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: accept registers on --listen, serve /metrics and the admin API on --admin-listen.
    Serve(ServeArgs),
    /// Decode one FN–OFD message (a file, or - for stdin) and print it as pretty FNS JSON.
    /// Exits non-zero with the reason when the message is invalid.
    Decode(DecodeArgs),
    /// Check a configuration file and print the effective configuration.
    CheckConfig {
        /// TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Manage the KKT registry through a running daemon's admin API.
    Kkt(KktArgs),
    /// Manage Kazakh KKMs (system IDs, tokens, status, tickets, reports) through a running
    /// daemon's admin API.
    Kz(KzArgs),
    /// Manage organisations, users, API keys, partner links and read the audit log through a
    /// running daemon's admin API (start with the operator's organisation and its first staff
    /// user).
    Account(AccountArgs),
    /// Verify or repair a stopped daemon's data directory.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Read every record of every column family with checksums verified (the daemon must be
    /// stopped). Exit 0: clean; 1: damage found (each problem printed, naming the file).
    Check {
        /// RocksDB data directory.
        #[arg(long, env = "OFDD_DATA")]
        data: PathBuf,
    },
    /// Salvage a damaged data directory: copy every record that still reads back into a new
    /// directory (--out), leaving the damaged one untouched, and report what was lost.
    Repair {
        /// The damaged RocksDB data directory (only read).
        #[arg(long, env = "OFDD_DATA")]
        data: PathBuf,
        /// Where to write the repaired store (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (every option is optional; see deploy/ofdd.toml).
    #[arg(long, short, env = "OFDD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ingest listener address (default 0.0.0.0:7777).
    #[arg(long, env = "OFDD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Admin HTTP listener: /metrics, /healthz, /readyz, /api/v1 (default 127.0.0.1:9100).
    #[arg(long, env = "OFDD_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Web portal listener: people's pages and the public receipt check (default 127.0.0.1:8080).
    #[arg(long, env = "OFDD_PORTAL_LISTEN")]
    pub portal_listen: Option<SocketAddr>,
    /// RocksDB data directory (default ./data).
    #[arg(long, env = "OFDD_DATA")]
    pub data: Option<PathBuf>,
    /// Log JSON lines instead of human-readable text.
    #[arg(long)]
    pub log_json: bool,
    /// Cluster: NATS servers, comma-separated (cluster.nats; env OFDD_CLUSTER_NATS).
    #[arg(long)]
    pub cluster_nats: Option<String>,
    /// Cluster: this node's name (cluster.node; env OFDD_NODE).
    #[arg(long)]
    pub node: Option<String>,
    /// Cluster: "local" or "replicated" (cluster.durability; env OFDD_DURABILITY).
    #[arg(long)]
    pub durability: Option<String>,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Message file (raw bytes, or hex text); - or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// Skip format-logic control and print whatever decodes.
    #[arg(long)]
    pub no_validate: bool,
    /// "Now" for the document-time window, as unix seconds (default: the system clock).
    #[arg(long)]
    pub now: Option<u32>,
}

#[derive(Debug, Args)]
pub struct KktArgs {
    /// Admin API base URL.
    #[arg(long, env = "OFDD_API", default_value = "http://127.0.0.1:9100")]
    pub api: String,
    /// Admin bearer token.
    #[arg(long, env = "OFDD_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(subcommand)]
    pub command: KktCommand,
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Admin API base URL.
    #[arg(long, env = "OFDD_API", default_value = "http://127.0.0.1:9100")]
    pub api: String,
    /// Admin bearer token (the root token, or an API key).
    #[arg(long, env = "OFDD_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(subcommand)]
    pub command: AccountCommand,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an organisation: a taxpayer, a service partner, or the operator itself.
    CreateOrg {
        /// INN (10 or 12 digits) or IIN/BIN (12 digits).
        #[arg(long)]
        inn: String,
        #[arg(long)]
        name: String,
        /// taxpayer | partner | operator
        #[arg(long)]
        kind: String,
    },
    /// List organisations.
    ListOrgs,
    /// Create a user; prints the one-time set-password link (or says it was mailed).
    CreateUser {
        /// The organisation's INN.
        #[arg(long)]
        org: String,
        /// E-mail address.
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        /// admin | manager | viewer (taxpayers, partners); staff | support (the operator)
        #[arg(long)]
        role: String,
        /// Limit to these points of sale (repeat).
        #[arg(long = "place")]
        places: Vec<String>,
        /// Limit to these registers, RNs or Kazakh system IDs (repeat).
        #[arg(long = "register")]
        registers: Vec<String>,
    },
    /// List an organisation's users.
    ListUsers {
        #[arg(long)]
        org: String,
    },
    /// Change a user's role, or disable / enable it.
    SetUser {
        #[arg(long)]
        org: String,
        #[arg(long)]
        login: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        disabled: Option<bool>,
    },
    /// Lift a user's lockout.
    Unlock {
        #[arg(long)]
        org: String,
        #[arg(long)]
        login: String,
    },
    /// A new set-password link for a user.
    Reset {
        #[arg(long)]
        org: String,
        #[arg(long)]
        login: String,
    },
    /// Create an API key (printed once).
    CreateKey {
        #[arg(long)]
        org: String,
        /// read | write
        #[arg(long)]
        scope: String,
        /// Limit to these registers (repeat).
        #[arg(long = "register")]
        registers: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List an organisation's API keys (without secrets).
    ListKeys {
        #[arg(long)]
        org: String,
    },
    /// Revoke an API key.
    RevokeKey {
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: String,
    },
    /// Link a service partner to a taxpayer (at once with the root token or as staff; a
    /// request otherwise).
    LinkPartner {
        #[arg(long)]
        taxpayer: String,
        #[arg(long)]
        partner: String,
    },
    /// End a partner link.
    UnlinkPartner {
        #[arg(long)]
        taxpayer: String,
        #[arg(long)]
        partner: String,
    },
    /// Read the audit log.
    Audit {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub struct KzArgs {
    /// Admin API base URL.
    #[arg(long, env = "OFDD_API", default_value = "http://127.0.0.1:9100")]
    pub api: String,
    /// Admin bearer token.
    #[arg(long, env = "OFDD_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(subcommand)]
    pub command: KzCommand,
}

#[derive(Debug, Subcommand)]
pub enum KzCommand {
    /// Register a KKM (the IIN/BIN check digit is verified); prints its system ID and first
    /// token, which the taxpayer types into the KKM.
    Register {
        /// Registration number issued by the tax committee (РНМ).
        #[arg(long)]
        registration_number: String,
        #[arg(long)]
        serial: String,
        /// Taxpayer IIN or BIN (12 digits).
        #[arg(long)]
        iin_bin: String,
        /// Taxpayer name.
        #[arg(long)]
        name: String,
        /// Point of sale address.
        #[arg(long)]
        pos_address: String,
        #[arg(long, default_value = "")]
        pos_title: String,
        #[arg(long, default_value = "")]
        org_address: String,
        #[arg(long, default_value = "")]
        model: String,
        #[arg(long)]
        year: Option<u16>,
        #[arg(long, value_enum, default_value = "wired")]
        connection: Connection,
    },
    /// List KKMs in system-ID order.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Cursor: the `next_after` printed by the previous page.
        #[arg(long)]
        after: Option<u32>,
    },
    /// Show one KKM: status, shift, cash, liveness.
    Show { system_id: u32 },
    /// Create a new token ("Получить токен → Создать новый токен"); the old one stops working.
    Token { system_id: u32 },
    /// Block a KKM: its requests get code 15 until it is unblocked.
    Block { system_id: u32 },
    /// Serve a blocked KKM again.
    Unblock { system_id: u32 },
    /// Deregister a KKM: its requests get code 15 from now on.
    Deregister { system_id: u32 },
    /// Tickets, by shift and by day (`YYYY-MM-DD`, the ticket's own date), as JSON or CSV.
    Tickets {
        system_id: u32,
        #[arg(long)]
        shift: Option<u32>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Print CSV instead of JSON.
        #[arg(long)]
        csv: bool,
    },
    /// X and Z report history.
    Reports { system_id: u32 },
    /// Every request with its answer (base64), in order.
    Exchanges {
        system_id: u32,
        #[arg(long)]
        after: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Connection {
    Sim,
    Wired,
}

#[derive(Debug, Subcommand)]
pub enum KktCommand {
    /// Register a KKT (RN check digits and INN are verified).
    Register {
        #[arg(long)]
        rn: String,
        #[arg(long)]
        serial: String,
        #[arg(long = "fn")]
        fn_number: String,
        #[arg(long)]
        inn: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        address: String,
        #[arg(long, default_value = "")]
        place: String,
        #[arg(long, value_enum, default_value = "wired")]
        connection: Connection,
        #[arg(long, default_value = "")]
        tariff: String,
    },
    /// List registers (filters combine).
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        rn: Option<String>,
        #[arg(long, value_enum)]
        connection: Option<Connection>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Cursor: the `next` RN printed by the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// Show one register.
    Show { rn: String },
    /// Liveness and FN health of one register.
    Status { rn: String },
    /// Deregister a KKT: its documents are refused from now on.
    Deregister { rn: String },
    /// Issue or rotate the register's admission credential (the secret is shown once).
    Token { rn: String },
    /// Counts of green / yellow / red registers.
    Liveness,
}

impl Connection {
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Sim => "sim",
            Connection::Wired => "wired",
        }
    }
}
