//! `ofd-store`: the durable RocksDB log of fiscal documents, and everything that must change
//! atomically with it — the KKT registry, the liveness index and the export outbox.
//!
//! # What it owns, what it must not do
//!
//! This crate is the only code that talks to RocksDB. It stores documents as raw bytes plus a
//! small header the daemon fills in; it does not parse fiscal documents (no dependency on
//! `ofd-proto`), does not run an async runtime (only `tokio::sync` for the futures it hands
//! out), and reads no clock (every time is passed in). Its promise: **a document whose put
//! returned `Ok` survives a crash of the process or the machine, byte for byte, and nothing
//! stored is ever silently replaced** — a resend with the same bytes is a `Duplicate` answered
//! with the stored acknowledgement, different bytes are a `Conflict` kept aside.
//!
//! # Writes: one committer, group commit, a pipelined fsync
//!
//! All writes go to one committer thread (`commit.rs`) that folds whatever is queued into one
//! `WriteBatch` and writes it to the WAL and memtables; a second thread, the syncer
//! (`sync.rs`), fsyncs the WAL for every batch written so far and only then answers each
//! caller. One fsync costs the same for 1 or 1000 documents, so throughput comes from batch
//! size; and because the committer builds batch N+1 while batch N is being fsynced, the CPU
//! work and the disk wait overlap instead of adding up.
//!
//! # Floors
//!
//! The crate reads bottom-up, following the write path: keys and records (`keys.rs`,
//! `record.rs`, `options.rs`) → the database handle (`db.rs`: the open RocksDB instance the
//! healer can swap, and the state every handle shares), with what is rebuilt from it at open
//! (`reload.rs`) and the document log's reads (`doc_log.rs`) → the commands queued to the
//! committer (`command.rs`) → the committer, syncer and healer (`commit.rs`, `sync.rs`,
//! `heal.rs`) → the public `Store` (`store.rs`), whose read and management methods sit beside
//! the data they read (`query.rs`, `outbox.rs`, `registry/`, `kz.rs`, `accounts/`,
//! `scope.rs`), and the cluster's copies (`replica.rs` for the registry,
//! `kz_replica.rs` for Kazakh registers).
//!
//! # Health: degraded, then healed, never silently failing
//!
//! The store is healthy or degraded (`health.rs`): the first failed write, failed WAL fsync,
//! background error or corruption found on read flips it, puts then fail at once with
//! `StoreError::Unavailable`, and the observer hears one event per change (plus a reminder a
//! minute). The committer, the only writer, also heals (`heal.rs`): once a second it checks free
//! space and a synced probe write, reopening the database in-process when the failure poisoned
//! it; the handle readers use is swappable for that (`Shared::db`). A failed fsync's batch is
//! never acknowledged, nor is anything else written to that instance. Offline, `verify.rs`
//! checks every record and salvages what still reads into a new directory.
//!
//! # Column families and key layout
//!
//! | CF | key | value |
//! |---|---|---|
//! | `doc_log` | arrival `seq(u64 BE)` on this node | `FN \| FD` of the document, then its record: header, raw message, ack (`record.rs`) |
//! | `doc_index` | `FN(16) \| FD(u32 BE)` | the document's `doc_log` seq (`doc_log.rs`) |
//! | `docs` | `FN(16) \| FD(u32 BE)` | record (stores written before the log; read, never written) |
//! | `by_rn` | `RN(16) \| FN(16) \| FD(u32 BE)` | `doc_time(u32) \| shift(u32) \| has_shift` |
//! | `conflicts` | `FN \| FD \| seq(u64 BE)` | record of the conflicting document |
//! | `rejected` | `seq(u64 BE)` | message that failed validation, reason, answer sent |
//! | `registry` | `RN(16)` | JSON register record (hashed credential inside) |
//! | `fn_index` | `FN(16)` | `RN(16)` |
//! | `liveness` | `'R' \| RN`, `'F' \| FN` or `'K' \| system ID` | fixed 37-byte liveness record |
//! | `outbox` | first `seq(u64 BE)` of a committed batch | the batch's items in order: `FN \| FD`, or `'K' \| system_id \| log seq` for a Kazakh exchange (`outbox.rs`) |
//! | `meta` | `cursor/<name>`, `conflict_seq`, `kz_next_id`, `registry_log_seq`, `kz_stream_seq` | `u64 BE` (`u32` for the ID) |
//! | `kz_kkm`, `kz_log` | Kazakh registers by system ID, their exchanges, the ticket index | see `kz.rs` |
//! | `owners` | register → owner INN and point of sale, and back | see `owners.rs` |
//! | `accounts` | organisations, users, API keys, sessions, links, audit | see `accounts/` |
//!
//! # One registry for a cluster
//!
//! With a registry log attached (`Store::replicate_registry`, cluster mode), every registry and
//! accounts change is appended to the cluster's log with compare-and-set before it is written
//! here, and the entries of other nodes are applied in the log's order (`replica.rs`). The
//! crate only sees the log as a trait; the daemon provides it.
//!
//! # Tenancy
//!
//! Organisations, users and credentials live in `accounts/`; which registers a principal
//! reaches is a [`Scope`], and every tenant-facing query and change goes through the
//! [`Scoped`] view it makes (`scope.rs`), so no caller filters by itself. A register outside
//! the scope reads exactly like one that does not exist.
//!
//! Why documents are found by FN and not by RN: the FN and FD are in every message's clear-text
//! headers, while the RN is inside the document body — unknown for an encrypted body and for an
//! FN whose registration report has not arrived. Indexing by `FN | FD` makes the duplicate check
//! one read (served by a bloom filter when the key is new) whatever is known about the register.
//! The documents themselves are kept in arrival order (`doc_log.rs`), so that RocksDB writes
//! each one to a table once instead of rewriting it in every compaction. The register view is
//! a secondary index, `by_rn`, written in the same batch when the RN is known (given by the
//! caller or resolved via `fn_index`), so "the documents of a register in FD order" is a prefix
//! scan; its value carries doc time and shift so time and shift queries filter on the index.
//! When `bind_fn` later learns an FN's RN it adds the missing `by_rn` entries. All integers in
//! keys are big-endian so that byte order is numeric order. Fixed-width 16-byte FN/RN keep keys
//! prefix-free.
//!
//! Compression is ZSTD with a 16 KiB dictionary on every level of `doc_log` (each document is
//! compressed once, at flush), LZ4 from L2 on elsewhere (`options.rs`). `doc_index` has whole-key
//! bloom filters, in its SSTs and in its memtables. Stores written before the log keep their
//! documents in `docs` (and before #21's first step, in BlobDB blob files), readable as they
//! are. Unordered writes are not used.

pub mod accounts;
mod admission;
mod command;
mod commit;
mod db;
mod doc_log;
mod error;
mod future;
mod heal;
mod health;
mod keys;
mod kz;
mod kz_replica;
mod liveness;
mod observer;
mod options;
mod outbox;
mod owners;
mod query;
mod random;
mod record;
mod registry;
mod reload;
mod replica;
mod scope;
mod store;
mod sync;
mod verify;

pub use admission::Admission;
pub use command::PutOutcome;
pub use error::StoreError;
pub use future::{PutFuture, StoreFuture};
pub use heal::{RESERVE_FILE, RESERVE_SHARE, effective_reserve};
pub use health::{DegradedReason, HealWait, HealthEvent, HealthState, human_bytes};
pub use keys::{DocKey, FnNumber, KeyError, Rn};
pub use kz::{FIRST_SYSTEM_ID, KzCommitted, KzLogEntry, KzRecord, KzWrite};
pub use kz_replica::{KzChange, decode_change, encode_change};
pub use liveness::{HealthCounts, LivenessCounts, LivenessRecord};
pub use observer::{CommitStats, StoreObserver};
pub use options::StoreOptions;
pub use outbox::{OutboxEntry, OutboxItem};
pub use owners::{Owner, RegisterRef};
pub use query::{DocIter, RegisterDocIter, RegisterQuery};
pub use record::{
    DocFlags, DocHeader, FnHealth, NewDocument, Outcome, RejectedMessage, Settlement,
    StoredDocument,
};
pub use registry::{
    BindOutcome, ConnectionType, CredentialInfo, FnBindRequest, FnBinding, IssuedToken, KktFilter,
    KktPage, KktPatch, KktRecord, KktStatus, NewKkt,
};
pub use replica::{AppendError, RegistryLog};
pub use scope::{Holder, LIST_SCAN_BUDGET, Scope, Scoped};
pub use store::Store;
pub use verify::{CheckReport, SalvageReport};

/// Fills `buf` with random bytes from the kernel (for secrets: tokens, salts).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), StoreError> {
    random::fill(buf)
}

#[cfg(test)]
mod assert_traits {
    fn is<T: Clone + Send + Sync + 'static>() {}
    #[test]
    fn store_is_clone_send_sync() {
        is::<super::Store>();
    }
}
