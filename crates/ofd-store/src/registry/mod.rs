//! The KKT registry: which registers exist, which FN each uses, and their admission credential.
//!
//! CF `registry`: `RN(16)` → JSON of the register's record (rare writes, human-inspectable,
//! forward-compatible through serde defaults). CF `fn_index`: `FN(16)` → `RN(16)`, the binding
//! used for admission and to resolve the RN of documents that do not carry one (encrypted
//! bodies). An FN is replaced on the same RN by a registration-change report; the old FN stays
//! in `fn_history` and keeps resolving to the RN (its late documents still belong there).
//!
//! Mutations run on the committer thread, one at a time and each in its own synced batch, so a
//! read-modify-write of a record never races another and a binding change is ordered against
//! the document puts around it. Reads go straight to RocksDB.
//!
//! Split by concern: `types` (what a register is), `credentials` (the admission secret, issued
//! once and verified in constant time) and `mutations` (the committer-side changes); the reads
//! are here.

mod credentials;
mod mutations;
mod types;

pub(crate) use mutations::RegistryOp;
pub use types::*;

use crate::command::Command;
use crate::db::Shared;
use crate::error::{StoreError, hex};
use crate::future::StoreFuture;
use crate::keys::{FnNumber, Rn};
use crate::options::{CF_FN_INDEX, CF_REGISTRY};
use crate::store::Store;

impl Store {
    /// Creates a register. Fails with `RegisterExists` if the RN exists and is not deregistered
    /// (a deregistered one is registered anew, keeping its FN history).
    pub fn register(&self, kkt: NewKkt, now: u64) -> StoreFuture<KktRecord> {
        self.submit(|r| Command::Registry(RegistryOp::Register(kkt, now, r)))
    }

    /// Changes the given fields. Setting `status` to `Deregistered` is the same as `deregister`.
    pub fn update(&self, rn: Rn, patch: KktPatch, now: u64) -> StoreFuture<KktRecord> {
        self.submit(|r| Command::Registry(RegistryOp::Update(rn, patch, now, r)))
    }

    /// Marks the register deregistered (kept for history; its FN binding stays).
    pub fn deregister(&self, rn: Rn, now: u64) -> StoreFuture<KktRecord> {
        self.submit(|r| Command::Registry(RegistryOp::Deregister(rn, now, r)))
    }

    /// Issues (or rotates) the admission credential; the secret is in the answer only.
    pub fn issue_token(&self, rn: Rn, now: u64) -> StoreFuture<IssuedToken> {
        self.submit(|r| Command::Registry(RegistryOp::IssueToken(rn, now, r)))
    }

    /// Binds an FN to an RN from a registration report: creates the register (`registered`) if
    /// the RN is new, moves the binding if the FN changed, re-registers a deregistered RN, and
    /// indexes under the RN the documents this FN sent before its RN was known.
    pub fn bind_fn(&self, req: FnBindRequest) -> StoreFuture<BindOutcome> {
        self.submit(|r| Command::Registry(RegistryOp::BindFn(req, r)))
    }

    /// The register with this RN.
    pub fn get_register(&self, rn: &Rn) -> Result<Option<KktRecord>, StoreError> {
        Ok(self.shared().load_kkt(rn)?.map(|s| s.record))
    }

    /// The RN an FN is (or was) bound to.
    pub fn rn_of_fn(&self, fn_number: &FnNumber) -> Result<Option<Rn>, StoreError> {
        self.shared().rn_of_fn(fn_number)
    }

    /// The register an FN belongs to.
    pub fn find_by_fn(&self, fn_number: &FnNumber) -> Result<Option<KktRecord>, StoreError> {
        match self.shared().rn_of_fn(fn_number)? {
            Some(rn) => self.get_register(&rn),
            None => Ok(None),
        }
    }

    /// Lists registers in RN order from the cursor on: a page reads its own size plus at most
    /// [`crate::scope::LIST_SCAN_BUDGET`] records the filter passes over, then ends early (fewer
    /// items, `next` = the last record read), so no call scans the whole registry.
    pub fn list_registers(&self, filter: &KktFilter) -> Result<KktPage, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let cf = db.cf(CF_REGISTRY)?;
        let limit = filter.limit.clamp(1, 10_000);
        let prefix = filter.rn_prefix.as_deref().unwrap_or("").as_bytes();
        let mut it = db.raw_iterator_cf(cf);
        match &filter.after {
            Some(after) if after.as_bytes().as_slice() >= prefix => {
                it.seek(after.as_bytes());
                if it.key() == Some(after.as_bytes().as_slice()) {
                    it.next();
                }
            }
            _ => it.seek(prefix),
        }
        let mut items = Vec::new();
        let mut next = None;
        let mut budget = limit + crate::scope::LIST_SCAN_BUDGET;
        while let Some((k, v)) = it.item() {
            if !k.starts_with(prefix) {
                break;
            }
            let stored = parse_kkt(k, v)?;
            let r = &stored.record;
            let keep = filter.matches(r);
            if keep {
                if items.len() == limit {
                    next = items.last().map(|x: &KktRecord| x.rn);
                    break;
                }
                items.push(stored.record);
            } else {
                budget -= 1;
                if budget == limit {
                    next = Some(stored.record.rn);
                    break;
                }
            }
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db("registry scan", e))?;
        Ok(KktPage { items, next })
    }
}

pub(crate) fn parse_kkt(key: &[u8], v: &[u8]) -> Result<Stored, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::CorruptRecord {
        cf: CF_REGISTRY,
        what: "register record",
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

/// Reads of the registry.
impl Shared {
    pub(crate) fn load_kkt(&self, rn: &Rn) -> Result<Option<Stored>, StoreError> {
        let db = self.db()?;
        let cf = db.cf(CF_REGISTRY)?;
        match db
            .get_pinned_cf(cf, rn.as_bytes())
            .map_err(|e| StoreError::db("registry get", e))?
        {
            Some(v) => parse_kkt(rn.as_bytes(), &v).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn rn_of_fn(&self, f: &FnNumber) -> Result<Option<Rn>, StoreError> {
        let db = self.db()?;
        let cf = db.cf(CF_FN_INDEX)?;
        match db
            .get_pinned_cf(cf, f.as_bytes())
            .map_err(|e| StoreError::db("fn_index get", e))?
        {
            Some(v) => Rn::from_key(&v)
                .map(Some)
                .ok_or_else(|| StoreError::CorruptRecord {
                    cf: CF_FN_INDEX,
                    what: "FN binding",
                    key: f.to_string(),
                    reason: format!("value {} is not an RN", hex(&v)),
                }),
            None => Ok(None),
        }
    }
}
