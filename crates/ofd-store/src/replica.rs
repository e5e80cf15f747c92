//! One registry for a cluster: every change of the registry and the accounts is an entry of a
//! replicated log, appended with compare-and-set, and every node applies every entry in the
//! log's order.
//!
//! # What travels, what does not
//!
//! A registry or accounts change is computed on the committer thread as today, into one
//! `WriteBatch`. In cluster mode, before the batch is written, its puts and deletes into the
//! *registry's own* column families — `registry`, `fn_index`, `accounts`, `owners` — are encoded
//! as one entry ([`encode`]) and appended to the log ([`RegistryLog`]) **after the last entry
//! this node has applied**. The log refuses the append if another node appended first
//! ([`AppendError::Behind`]); the committer then applies what it missed and computes the change
//! again on the new state ([`Shared::retrying`]). So two nodes changing one register at once
//! never lose either change silently: the second is re-run after the first and either applies
//! on top of it or fails as it would have on one node (the register exists, the login is taken).
//!
//! What each node derives from the registry for itself is not in the entry and is derived again
//! where it is applied ([`Shared::apply_entry`]): the in-memory admission map, the deregistered
//! flag of a liveness record, and the `by_rn` index and liveness of documents an FN sent before
//! its register was known — those are this node's documents, not the origin's.
//!
//! The log's position this node has applied is kept in `meta` (`registry_log_seq`), written in
//! the same synced batch as the entry's changes, so a restart resumes exactly where it stopped
//! and an entry is never applied twice.
//!
//! # What it must not do
//!
//! Nothing here speaks NATS: the daemon provides the log (a JetStream stream) behind the trait,
//! with blocking calls made from the committer thread. A store without a log (the embedded
//! default) writes exactly as before. The Kazakh registers' records are not in this log: their
//! state changes with every exchange, so they are ordered per register (`kz_replica.rs`).

use std::sync::Arc;

use rocksdb::{WriteBatch, WriteBatchIteratorCf};

use crate::command::Command;
use crate::db::Shared;
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::keys::{FnNumber, LiveKey, Rn, u64_from_be};
use crate::liveness::LivenessRecord;
use crate::options::{CF_ACCOUNTS, CF_FN_INDEX, CF_META, CF_OWNERS, CF_REGISTRY};
use crate::registry::KktStatus;
use crate::store::Store;

/// Where in `meta` the position of the last applied entry is kept (`u64 BE`).
pub(crate) const META_REGISTRY_SEQ: &[u8] = b"registry_log_seq";

/// How many times a change is computed again after other nodes' entries before it gives up.
const MAX_ATTEMPTS: usize = 32;

/// The column families whose writes are the registry's (one code each in an entry).
const REPLICATED: [(u8, &str); 4] = [
    (1, CF_REGISTRY),
    (2, CF_FN_INDEX),
    (3, CF_ACCOUNTS),
    (4, CF_OWNERS),
];

const ENTRY_VERSION: u8 = 1;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

/// Why an append did not happen.
#[derive(Debug)]
pub enum AppendError {
    /// The log has entries after `after`: apply them, then compute the change again.
    Behind,
    /// The log cannot take writes now (no quorum, a timeout); the reason is for the caller.
    Unavailable(String),
}

/// The registry's replicated log, as the store uses it. Calls block: they are made from the
/// committer thread, never from an async task.
pub trait RegistryLog: Send + Sync {
    /// Appends `entry` as the entry right after position `after` (0: the log is empty) and
    /// returns its position, once the log has it durably; `Behind` if the log has moved past
    /// `after`.
    fn append(&self, after: u64, entry: &[u8]) -> Result<u64, AppendError>;

    /// The entry at `position`, or `None` past the end of the log. Must read the latest state
    /// (never a stale replica's).
    fn read(&self, position: u64) -> Result<Option<Vec<u8>>, String>;
}

/// One put or delete of an entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Op {
    pub(crate) cf: &'static str,
    pub(crate) key: Vec<u8>,
    /// `None`: a delete.
    pub(crate) value: Option<Vec<u8>>,
}

/// The registry's share of a batch, as an entry (empty: the batch changes nothing replicated).
/// `ids` maps this database's column family IDs to the replicated families' codes.
pub(crate) fn encode(batch: &WriteBatch, ids: &[(u32, u8)]) -> Vec<u8> {
    struct Collect<'a> {
        ids: &'a [(u32, u8)],
        out: Vec<u8>,
    }
    impl Collect<'_> {
        fn op(&mut self, cf_id: u32, kind: u8, key: &[u8], value: Option<&[u8]>) {
            let Some(&(_, code)) = self.ids.iter().find(|(id, _)| *id == cf_id) else {
                return;
            };
            if self.out.is_empty() {
                self.out.push(ENTRY_VERSION);
            }
            self.out.extend_from_slice(&[code, kind]);
            self.out
                .extend_from_slice(&(key.len() as u32).to_be_bytes());
            self.out.extend_from_slice(key);
            if let Some(v) = value {
                self.out.extend_from_slice(&(v.len() as u32).to_be_bytes());
                self.out.extend_from_slice(v);
            }
        }
    }
    impl WriteBatchIteratorCf for Collect<'_> {
        fn put_cf(&mut self, cf_id: u32, key: &[u8], value: &[u8]) {
            self.op(cf_id, OP_PUT, key, Some(value));
        }
        fn delete_cf(&mut self, cf_id: u32, key: &[u8]) {
            self.op(cf_id, OP_DELETE, key, None);
        }
        fn merge_cf(&mut self, _cf_id: u32, _key: &[u8], _value: &[u8]) {
            // The store uses no merge operator.
        }
    }
    let mut c = Collect {
        ids,
        out: Vec::new(),
    };
    batch.iterate_cf(&mut c);
    c.out
}

/// The puts and deletes of an entry, or why it does not parse.
pub(crate) fn decode(entry: &[u8]) -> Result<Vec<Op>, String> {
    fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
        if rest.len() < n {
            return Err(format!("entry ends inside {what}"));
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Ok(head)
    }
    fn len(rest: &mut &[u8], what: &str) -> Result<usize, String> {
        let b = take(rest, 4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let Some((&version, mut rest)) = entry.split_first() else {
        return Err("empty entry".into());
    };
    if version != ENTRY_VERSION {
        return Err(format!(
            "entry version {version}: this release reads version {ENTRY_VERSION} (upgrade it)"
        ));
    }
    let mut ops = Vec::new();
    while !rest.is_empty() {
        let head = take(&mut rest, 2, "an operation's header")?;
        let cf = REPLICATED
            .iter()
            .find(|(code, _)| *code == head[0])
            .map(|(_, cf)| *cf)
            .ok_or_else(|| format!("unknown column family code {}", head[0]))?;
        let n = len(&mut rest, "a key's length")?;
        let key = take(&mut rest, n, "a key")?.to_vec();
        let value = match head[1] {
            OP_PUT => {
                let n = len(&mut rest, "a value's length")?;
                Some(take(&mut rest, n, "a value")?.to_vec())
            }
            OP_DELETE => None,
            other => return Err(format!("unknown operation {other}")),
        };
        ops.push(Op { cf, key, value });
    }
    Ok(ops)
}

impl Shared {
    /// This database's IDs of the replicated column families. RocksDB does not hand them out,
    /// but a write batch reports them: one put per family, read back.
    fn replicated_ids(&self) -> Result<Vec<(u32, u8)>, StoreError> {
        struct Ids(Vec<(u32, Vec<u8>)>);
        impl WriteBatchIteratorCf for Ids {
            fn put_cf(&mut self, cf_id: u32, key: &[u8], _value: &[u8]) {
                self.0.push((cf_id, key.to_vec()));
            }
            fn delete_cf(&mut self, _: u32, _: &[u8]) {}
            fn merge_cf(&mut self, _: u32, _: &[u8], _: &[u8]) {}
        }
        let db = self.db()?;
        let mut probe = WriteBatch::default();
        for (code, cf) in REPLICATED {
            probe.put_cf(db.cf(cf)?, [code], []);
        }
        let mut ids = Ids(Vec::new());
        probe.iterate_cf(&mut ids);
        Ok(ids.0.into_iter().map(|(id, code)| (id, code[0])).collect())
    }

    /// The position of the last log entry this node has applied (0: none).
    pub(crate) fn registry_applied(&self) -> Result<u64, StoreError> {
        let db = self.db()?;
        let v = db
            .get_pinned_cf(db.cf(CF_META)?, META_REGISTRY_SEQ)
            .map_err(|e| StoreError::db("meta get", e))?;
        Ok(v.and_then(|v| u64_from_be(&v)).unwrap_or(0))
    }

    fn log(&self) -> Option<Arc<dyn RegistryLog>> {
        self.registry_log.get().cloned()
    }

    /// Writes a registry or accounts change: in cluster mode, appended to the log first (then
    /// `RegistryBehind` if another node was first), then written here, synced, with the log
    /// position it took.
    pub(crate) fn write_registry(&self, mut batch: WriteBatch) -> Result<(), StoreError> {
        if let Some(log) = self.log() {
            let entry = encode(&batch, &self.replicated_ids()?);
            if !entry.is_empty() {
                let after = self.registry_applied()?;
                match log.append(after, &entry) {
                    Ok(position) => {
                        let db = self.db()?;
                        batch.put_cf(db.cf(CF_META)?, META_REGISTRY_SEQ, position.to_be_bytes());
                    }
                    Err(AppendError::Behind) => return Err(StoreError::RegistryBehind),
                    Err(AppendError::Unavailable(why)) => return Err(StoreError::Replication(why)),
                }
            }
        }
        self.write(batch)
    }

    /// Runs a change until it is computed on the state the log has: after each
    /// `RegistryBehind`, the missed entries are applied and `attempt` runs again.
    pub(crate) fn retrying<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            match attempt() {
                Err(StoreError::RegistryBehind) => {
                    self.catch_up()?;
                }
                other => return other,
            }
        }
        Err(StoreError::Replication(format!(
            "the registry changed on other nodes {MAX_ATTEMPTS} times while this change was \
             computed; try again"
        )))
    }

    /// Applies every entry of the log this node has not applied yet.
    pub(crate) fn catch_up(&self) -> Result<u64, StoreError> {
        let Some(log) = self.log() else {
            return self.registry_applied();
        };
        loop {
            let next = self.registry_applied()? + 1;
            match log.read(next).map_err(StoreError::Replication)? {
                Some(entry) => self.apply_one(next, &entry)?,
                None => return Ok(next - 1),
            }
        }
    }

    /// Applies the entry at `position`, delivered by the log's follower: skipped if applied
    /// already (this node's own, or read by a catch-up); after a gap, the gap is read first.
    /// Returns whether it was applied now.
    pub(crate) fn apply_entry(&self, position: u64, entry: &[u8]) -> Result<bool, StoreError> {
        let applied = self.registry_applied()?;
        if position <= applied {
            return Ok(false);
        }
        if position > applied + 1 {
            self.catch_up()?;
            return Ok(self.registry_applied()? >= position);
        }
        self.apply_one(position, entry)?;
        Ok(true)
    }

    fn apply_one(&self, position: u64, entry: &[u8]) -> Result<(), StoreError> {
        let ops = decode(entry).map_err(|reason| StoreError::CorruptRecord {
            cf: "registry log",
            what: "entry",
            key: position.to_string(),
            reason,
        })?;
        let db = self.db()?;
        let mut batch = WriteBatch::default();
        let mut changes: Vec<(LiveKey, Option<LivenessRecord>)> = Vec::new();
        let mut registers = Vec::new();
        let mut bindings = Vec::new();
        for op in &ops {
            match (op.cf, &op.value) {
                (CF_REGISTRY, Some(v)) => {
                    let stored = crate::registry::parse_kkt(&op.key, v)?;
                    registers.push((
                        stored.record.rn,
                        stored.record.status == KktStatus::Deregistered,
                    ));
                }
                (CF_FN_INDEX, Some(v)) => {
                    let (Some(f), Some(rn)) = (FnNumber::from_key(&op.key), Rn::from_key(v)) else {
                        return Err(StoreError::CorruptRecord {
                            cf: "registry log",
                            what: "FN binding",
                            key: position.to_string(),
                            reason: "not an FN and an RN".into(),
                        });
                    };
                    if self.rn_of_fn(&f)? != Some(rn) {
                        bindings.push((f, rn));
                    }
                }
                _ => {}
            }
            let cf = db.cf(op.cf)?;
            match &op.value {
                Some(v) => batch.put_cf(cf, &op.key, v),
                None => batch.delete_cf(cf, &op.key),
            }
        }
        // What this node derives from the change for itself, as the origin did for its own.
        for (f, rn) in &bindings {
            self.adopt_fn(&mut batch, rn, *f, &mut changes)?;
        }
        for (rn, deregistered) in &registers {
            self.mark_liveness(&mut batch, rn, *deregistered, &mut changes)?;
        }
        batch.put_cf(db.cf(CF_META)?, META_REGISTRY_SEQ, position.to_be_bytes());
        self.commit_local(batch, changes)?;
        for (rn, _) in &registers {
            self.refresh_admission(rn)?;
        }
        Ok(())
    }
}

impl Store {
    /// Cluster mode: from now on every registry and accounts change goes through `log` first.
    /// Set once, right after open and before anything is changed; `false` if already set.
    pub fn replicate_registry(&self, log: Arc<dyn RegistryLog>) -> bool {
        self.shared().registry_log.set(log).is_ok()
    }

    /// Applies another node's entry of the registry's log, at its position (the daemon's
    /// follower delivers them in order). Resolves to whether it was applied now (`false`: this
    /// node had it already).
    pub fn apply_registry_entry(&self, position: u64, entry: Vec<u8>) -> StoreFuture<bool> {
        self.submit(|r| Command::ApplyEntry(position, entry, r))
    }

    /// Applies every entry of the registry's log this node has not applied; resolves to the
    /// position reached (at start, before the node answers anyone).
    pub fn registry_catch_up(&self) -> StoreFuture<u64> {
        self.submit(Command::CatchUp)
    }

    /// The position of the last entry of the registry's log this node has applied.
    pub fn registry_position(&self) -> Result<u64, StoreError> {
        self.shared().registry_applied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::open(
            &dir.path().join("db"),
            &crate::StoreOptions::default(),
            Arc::new(crate::observer::NoObserver),
        )
        .unwrap();
        let db = shared.db().unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(db.cf(CF_REGISTRY).unwrap(), b"rn", b"{}");
        batch.put_cf(db.cf(CF_META).unwrap(), b"not replicated", b"x");
        batch.delete_cf(db.cf(CF_ACCOUNTS).unwrap(), b"S gone");
        batch.put_cf(db.cf(CF_OWNERS).unwrap(), b"o", b"");
        let entry = encode(&batch, &shared.replicated_ids().unwrap());
        assert_eq!(
            decode(&entry).unwrap(),
            vec![
                Op {
                    cf: CF_REGISTRY,
                    key: b"rn".to_vec(),
                    value: Some(b"{}".to_vec())
                },
                Op {
                    cf: CF_ACCOUNTS,
                    key: b"S gone".to_vec(),
                    value: None
                },
                Op {
                    cf: CF_OWNERS,
                    key: b"o".to_vec(),
                    value: Some(Vec::new())
                },
            ]
        );
        let mut only_meta = WriteBatch::default();
        only_meta.put_cf(db.cf(CF_META).unwrap(), b"k", b"v");
        assert!(encode(&only_meta, &shared.replicated_ids().unwrap()).is_empty());
        assert!(
            decode(&entry[..entry.len() - 1])
                .unwrap_err()
                .contains("ends inside")
        );
        assert!(decode(&[9]).unwrap_err().contains("version 9"));
        assert!(decode(&[]).is_err());
    }
}
