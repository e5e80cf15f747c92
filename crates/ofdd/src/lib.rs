//! # ofdd — the fiscal data operator ingestion daemon
//!
//! Owns the running system: the TCP acceptor registers connect to, the per-connection read/ack
//! loop, the glue from a frame to a durable record and back to an acknowledgement, the Prometheus
//! metrics, the admin HTTP API, configuration and the command line.
//!
//! It must not know the wire format (that is `ofd-proto`) nor how records are laid out on disk
//! (that is `ofd-store`). The data path reads straight through the modules:
//! [`server`] (accept, limits) → [`connection`] (bytes → frames, timeouts) → [`ingest`]
//! (parse → validate → admit → store → acknowledge) → back to [`connection`] (write the ack).

pub mod admin;
pub mod admin_client;
pub mod cli;
pub mod codec;
pub mod config;
pub mod connection;
pub mod daemon;
pub mod decode;
pub mod decrypt;
pub mod export;
pub mod ingest;
pub mod kkt_cli;
pub mod kz;
pub mod kz_cli;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod shutdown;
pub mod store_cli;
