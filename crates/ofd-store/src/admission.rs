//! The admission map: for every FN the registry knows, the register it belongs to, that
//! register's status and its encryption flag — in memory.
//!
//! The daemon asks "may this FN send, and is its body encrypted?" for every message, so the
//! answer must not cost two RocksDB reads and a JSON decode of the register record. The map is
//! built on open from the `fn_index` and `registry` column families, and the committer refreshes
//! the entries of a register after each registry change is durable and *before* the caller is
//! answered, so a deregistration is in force by the time the admin API returns.

use std::collections::HashMap;

use crate::db::Shared;
use crate::error::StoreError;
use crate::keys::{FnNumber, Rn};
use crate::options::{CF_FN_INDEX, CF_REGISTRY};
use crate::registry::KktStatus;

/// What admission needs to know about the register an FN belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    pub rn: Rn,
    pub status: KktStatus,
    /// The register's FN encrypts documents (tag 1056 = 1 in its registration report).
    pub encrypted: bool,
}

#[derive(Default)]
pub(crate) struct AdmissionMap {
    by_fn: HashMap<FnNumber, Admission>,
}

impl AdmissionMap {
    pub(crate) fn get(&self, f: &FnNumber) -> Option<Admission> {
        self.by_fn.get(f).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_fn.len()
    }
}

impl Shared {
    /// Build the map from the column families (on open).
    pub(crate) fn load_admission(&self) -> Result<(), StoreError> {
        let db = self.db()?;
        let mut registers: HashMap<Rn, (KktStatus, bool)> = HashMap::new();
        let mut it = db.raw_iterator_cf(db.cf(CF_REGISTRY)?);
        it.seek_to_first();
        while let Some(k) = it.key() {
            let rn = Rn::from_key(k).ok_or_else(|| StoreError::CorruptRecord {
                cf: CF_REGISTRY,
                what: "register key",
                key: crate::error::hex(k),
                reason: "not an RN".into(),
            })?;
            if let Some(stored) = self.load_kkt(&rn)? {
                let r = stored.record();
                registers.insert(rn, (r.status, r.encrypted));
            }
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db("registry scan", e))?;

        let mut map = AdmissionMap::default();
        let mut it = db.raw_iterator_cf(db.cf(CF_FN_INDEX)?);
        it.seek_to_first();
        while let Some((k, v)) = it.item() {
            if let (Some(f), Some(rn)) = (FnNumber::from_key(k), Rn::from_key(v))
                && let Some((status, encrypted)) = registers.get(&rn)
            {
                map.by_fn.insert(
                    f,
                    Admission {
                        rn,
                        status: *status,
                        encrypted: *encrypted,
                    },
                );
            }
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db("fn_index scan", e))?;
        *self.admission.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    /// Re-read one register and every FN it has had; called by the committer after a durable
    /// registry change.
    pub(crate) fn refresh_admission(&self, rn: &Rn) -> Result<(), StoreError> {
        let Some(stored) = self.load_kkt(rn)? else {
            return Ok(());
        };
        let r = stored.record();
        let fns = r.fn_history.iter().map(|b| b.fn_number).chain(r.fn_number);
        let mut entries = Vec::new();
        for f in fns {
            // The index says where an FN belongs now (it may have moved to another RN).
            if self.rn_of_fn(&f)? == Some(*rn) {
                entries.push((
                    f,
                    Admission {
                        rn: *rn,
                        status: r.status,
                        encrypted: r.encrypted,
                    },
                ));
            }
        }
        let mut map = self.admission.write().unwrap_or_else(|p| p.into_inner());
        for (f, a) in entries {
            map.by_fn.insert(f, a);
        }
        Ok(())
    }
}

impl crate::Store {
    /// Admission facts for an FN: a memory look-up, no database access. `None` for an FN no
    /// register is bound to.
    pub fn admission_of(&self, fn_number: &FnNumber) -> Option<Admission> {
        self.shared()
            .admission
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(fn_number)
    }

    /// FNs in the admission map.
    pub fn admission_len(&self) -> usize {
        self.shared()
            .admission
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}
