//! What travels between a `Store` handle and the committer: a `Command` in, its result back
//! through a `Reply`, and what a put did (`PutOutcome`).
//!
//! It lies between the database handle (`db.rs`) and the committer (`commit.rs`): the public
//! `Store` sends commands and the committer runs them, and neither needs the other's module.

use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::record::{NewDocument, RejectedMessage};
use crate::registry::RegistryOp;

/// Where a committed command's result goes.
pub(crate) struct Reply<T>(pub(crate) oneshot::Sender<Result<T, StoreError>>);

impl<T> Reply<T> {
    pub(crate) fn send(self, r: Result<T, StoreError>) {
        // The caller may have stopped waiting (dropped the future); the write stands anyway.
        let _ = self.0.send(r);
    }
}

/// A unit of work for the committer.
pub(crate) enum Command {
    Doc(Box<NewDocument>, Reply<crate::PutOutcome>),
    Rejected(Box<RejectedMessage>, Reply<u64>),
    Kz(Box<crate::kz::KzWrite>, Reply<crate::kz::KzCommitted>),
    Registry(RegistryOp),
    /// An accounts change (`accounts/`), run alone on the committer thread with its own synced
    /// batch, like a registry mutation; given the error instead when the store cannot write.
    Accounts(crate::accounts::AccountsOp),
    /// Cluster mode: another node's entry of the registry's log, at its position (`replica.rs`);
    /// answers whether it was applied now.
    ApplyEntry(u64, Vec<u8>, Reply<bool>),
    /// Cluster mode: apply every entry of the registry's log not applied yet; answers the
    /// position reached.
    CatchUp(Reply<u64>),
    /// Cluster mode: a change of a Kazakh register from the cluster's stream, with the
    /// follower's position if it delivered it (`kz_replica.rs`); answers whether it wrote.
    KzApply(Box<crate::kz_replica::KzChange>, Option<u64>, Reply<bool>),
    Shutdown,
}

/// What a `put` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Newly stored and synced. `outbox_seq` is its export sequence number (`None` for an
    /// outcome that is not exported: a rejection).
    Stored { outbox_seq: Option<u64> },
    /// This (FN, FD) is already stored with the same raw bytes: answer with `ack`, the very
    /// bytes stored with it.
    Duplicate { ack: bytes::Bytes },
    /// This (FN, FD) is stored with different raw bytes. Nothing was overwritten; the new bytes
    /// are kept in the `conflicts` column family under `conflict_seq`.
    Conflict { conflict_seq: u64 },
}

/// Answers a command the committer will never run (it is gone, or stopping) with `Closed`.
pub(crate) fn fail_closed(cmd: Command) {
    match cmd {
        Command::Doc(_, r) => r.send(Err(StoreError::Closed)),
        Command::Rejected(_, r) => r.send(Err(StoreError::Closed)),
        Command::Kz(_, r) => r.send(Err(StoreError::Closed)),
        Command::Registry(op) => op.fail(|| StoreError::Closed),
        Command::Accounts(op) => op.run(Err(StoreError::Closed)),
        Command::ApplyEntry(_, _, r) => r.send(Err(StoreError::Closed)),
        Command::CatchUp(r) => r.send(Err(StoreError::Closed)),
        Command::KzApply(_, _, r) => r.send(Err(StoreError::Closed)),
        Command::Shutdown => {}
    }
}
