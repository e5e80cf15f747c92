//! # ofdd — the fiscal data operator ingestion daemon
//!
//! Owns the running system: the TCP acceptor registers connect to, the per-connection read/ack
//! loop, the glue from a frame to a durable record and back to an acknowledgement, the Prometheus
//! metrics, the admin HTTP API, the web portal's listener (its pages are `ofd-portal`'s; [`portal`]
//! lends them what only the daemon has), configuration and the command line.
//!
//! It must not know the wire format (that is `ofd-proto` and `ofd-kz`, which also decide what a
//! message gets) nor how records are laid out on disk (that is `ofd-store`). The data path reads
//! straight through the modules: [`server`] (accept, limits) → [`connection`] (bytes → frames,
//! timeouts) → [`ingest`] (FN–OFD: `ofd_proto::decide` → store → answer) or [`kz`] (KKM–OFD:
//! state → `ofd_kz::decide` → store → answer) → back to [`connection`] (write the answer).
//! [`app`] builds the shared state once; [`clock`], [`log_gate`], [`store_events`] and
//! [`metrics`] are the small services the path uses.

pub mod account_cli;
pub mod accounts_config;
pub mod admin;
pub mod admin_client;
pub mod app;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod connection;
pub mod daemon;
pub mod decode;
pub mod decrypt;
pub mod export;
pub mod http_server;
pub mod ingest;
pub mod kkt_cli;
pub mod kz;
pub mod kz_cli;
pub mod kz_view;
pub mod log_gate;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod notifier;
pub mod portal;
pub mod response;
pub mod server;
pub mod shutdown;
pub mod store_cli;
pub mod store_events;
