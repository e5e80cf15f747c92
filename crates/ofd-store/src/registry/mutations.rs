//! Registry mutations, run on the committer thread one at a time, each in its own synced batch
//! (so a read-modify-write of a record never races another, and a binding change is ordered
//! against the document puts around it). After each, the admission map is refreshed before the
//! caller is answered.

use super::types::*;
use crate::command::Reply;
use crate::db::Shared;
use crate::error::StoreError;
use crate::keys::{FnNumber, LiveKey, Rn};
use crate::liveness::LivenessRecord;
use crate::options::{CF_BY_RN, CF_FN_INDEX, CF_LIVENESS, CF_REGISTRY};

/// A registry mutation, queued to the committer.
pub(crate) enum RegistryOp {
    Register(NewKkt, u64, Reply<KktRecord>),
    Update(Rn, KktPatch, u64, Reply<KktRecord>),
    Deregister(Rn, u64, Reply<KktRecord>),
    IssueToken(Rn, u64, Reply<IssuedToken>),
    BindFn(FnBindRequest, Reply<BindOutcome>),
}

impl RegistryOp {
    pub(crate) fn fail(self, e: impl Fn() -> StoreError) {
        match self {
            RegistryOp::Register(_, _, r)
            | RegistryOp::Update(_, _, _, r)
            | RegistryOp::Deregister(_, _, r) => r.send(Err(e())),
            RegistryOp::IssueToken(_, _, r) => r.send(Err(e())),
            RegistryOp::BindFn(_, r) => r.send(Err(e())),
        }
    }
}

fn check_serial_inn(serial: &str, inn: &str) -> Result<(), StoreError> {
    if serial.len() > 20 || inn.len() > 12 {
        return Err(StoreError::InvalidInput(format!(
            "KKT serial (max 20) or INN (max 12) too long: {serial:?}, {inn:?}"
        )));
    }
    Ok(())
}

/// The committer-side implementations.
impl Shared {
    pub(super) fn put_kkt(
        &self,
        batch: &mut rocksdb::WriteBatch,
        s: &Stored,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let v = serde_json::to_vec(s).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        batch.put_cf(db.cf(CF_REGISTRY)?, s.record.rn.as_bytes(), v);
        // Every register write keeps its owner index entry current (`owners.rs`). An INN that
        // is not digits (a malformed registration report) leaves it to the operator's staff.
        let inn = s.record.user_inn.trim();
        if !inn.is_empty() && inn.bytes().all(|c| c.is_ascii_digit()) {
            let owner = crate::owners::Owner {
                inn: inn.to_string(),
                place: s.record.place.clone(),
            };
            self.stage_owner(
                &db,
                batch,
                crate::owners::RegisterRef::Kkt(s.record.rn),
                &owner,
            )?;
        }
        Ok(())
    }

    /// Sets or clears the deregistered flag on an RN's liveness record (if it has one).
    pub(crate) fn mark_liveness(
        &self,
        batch: &mut rocksdb::WriteBatch,
        rn: &Rn,
        deregistered: bool,
        changes: &mut Vec<(LiveKey, Option<LivenessRecord>)>,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let key = LiveKey::Rn(*rn);
        let current = self.liveness_read().get(&key);
        if let Some(mut rec) = current
            && rec.deregistered() != deregistered
        {
            rec.set_deregistered(deregistered);
            batch.put_cf(db.cf(CF_LIVENESS)?, key.encode(), rec.encode());
            changes.push((key, Some(rec)));
        }
        Ok(())
    }

    /// Writes a registry batch (through the cluster's log, in cluster mode: `replica.rs`) and,
    /// once it is durable, applies liveness changes in memory.
    pub(super) fn commit_registry(
        &self,
        batch: rocksdb::WriteBatch,
        changes: Vec<(LiveKey, Option<LivenessRecord>)>,
    ) -> Result<(), StoreError> {
        self.write_registry(batch)?;
        self.apply_liveness(changes);
        Ok(())
    }

    /// Writes a batch here only (an entry of the cluster's log being applied) and, once it is
    /// durable, applies liveness changes in memory.
    pub(crate) fn commit_local(
        &self,
        batch: rocksdb::WriteBatch,
        changes: Vec<(LiveKey, Option<LivenessRecord>)>,
    ) -> Result<(), StoreError> {
        self.write(batch)?;
        self.apply_liveness(changes);
        Ok(())
    }

    fn apply_liveness(&self, changes: Vec<(LiveKey, Option<LivenessRecord>)>) {
        let mut idx = self.liveness_write();
        for (k, rec) in changes {
            match rec {
                Some(r) => idx.set(k, r),
                None => idx.remove(&k),
            }
        }
    }

    pub(crate) fn exec_registry(&self, op: RegistryOp) {
        // Each change refreshes the in-memory admission map after it is durable and before
        // the caller hears back, so the daemon applies it to the very next message.
        match op {
            RegistryOp::Register(k, now, reply) => {
                let rn = k.rn;
                let result = self.retrying(|| self.do_register(k.clone(), now));
                reply.send(self.admitted(&rn, result))
            }
            RegistryOp::Update(rn, p, now, reply) => {
                let result = self.retrying(|| self.do_update(rn, p.clone(), now));
                reply.send(self.admitted(&rn, result))
            }
            RegistryOp::Deregister(rn, now, reply) => {
                let patch = KktPatch {
                    status: Some(KktStatus::Deregistered),
                    ..KktPatch::default()
                };
                let result = self.retrying(|| self.do_update(rn, patch.clone(), now));
                reply.send(self.admitted(&rn, result))
            }
            RegistryOp::IssueToken(rn, now, reply) => {
                reply.send(self.retrying(|| self.do_issue(rn, now)))
            }
            RegistryOp::BindFn(req, reply) => {
                let rn = req.rn;
                let result = self.retrying(|| self.do_bind(req.clone()));
                reply.send(self.admitted(&rn, result))
            }
        }
    }

    fn admitted<T>(&self, rn: &Rn, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let value = result?;
        self.refresh_admission(rn)?;
        Ok(value)
    }

    fn do_register(&self, k: NewKkt, now: u64) -> Result<KktRecord, StoreError> {
        check_serial_inn(&k.kkt_serial, &k.user_inn)?;
        if k.status == KktStatus::Deregistered {
            return Err(StoreError::InvalidInput(
                "a new register cannot start deregistered".into(),
            ));
        }
        let old = self.load_kkt(&k.rn)?;
        if let Some(o) = &old
            && o.record.status != KktStatus::Deregistered
        {
            return Err(StoreError::RegisterExists {
                rn: k.rn,
                status: o.record.status.as_str(),
            });
        }
        let (mut fn_history, secret, credential, created_at) = match old {
            Some(o) => (
                o.record.fn_history,
                o.secret,
                o.record.credential,
                o.record.created_at,
            ),
            None => (Vec::new(), None, None, now),
        };
        let mut batch = rocksdb::WriteBatch::default();
        let mut changes = Vec::new();
        if let Some(f) = k.fn_number {
            self.bind_in_batch(&mut batch, &k.rn, f, now, &mut fn_history, &mut changes)?;
        }
        let record = KktRecord {
            rn: k.rn,
            kkt_serial: k.kkt_serial,
            fn_number: k.fn_number,
            fn_history,
            user_inn: k.user_inn,
            user_name: k.user_name,
            address: k.address,
            place: k.place,
            connection: k.connection,
            tariff: k.tariff,
            status: k.status,
            encrypted: k.encrypted,
            created_at,
            updated_at: now,
            registered_at: (k.status == KktStatus::Registered).then_some(now),
            deregistered_at: None,
            credential,
        };
        self.mark_liveness(&mut batch, &record.rn, false, &mut changes)?;
        self.put_kkt(
            &mut batch,
            &Stored {
                record: record.clone(),
                secret,
            },
        )?;
        self.commit_registry(batch, changes)?;
        Ok(record)
    }

    fn do_update(&self, rn: Rn, p: KktPatch, now: u64) -> Result<KktRecord, StoreError> {
        let mut s = self
            .load_kkt(&rn)?
            .ok_or(StoreError::RegisterNotFound { rn })?;
        let r = &mut s.record;
        if let Some(v) = p.kkt_serial {
            r.kkt_serial = v;
        }
        if let Some(v) = p.user_inn {
            r.user_inn = v;
        }
        check_serial_inn(&r.kkt_serial, &r.user_inn)?;
        if let Some(v) = p.user_name {
            r.user_name = v;
        }
        if let Some(v) = p.address {
            r.address = v;
        }
        if let Some(v) = p.place {
            r.place = v;
        }
        if let Some(v) = p.connection {
            r.connection = v;
        }
        if let Some(v) = p.tariff {
            r.tariff = v;
        }
        if let Some(v) = p.encrypted {
            r.encrypted = v;
        }
        let mut batch = rocksdb::WriteBatch::default();
        let mut changes = Vec::new();
        if let Some(st) = p.status
            && st != r.status
        {
            match st {
                KktStatus::Deregistered => r.deregistered_at = Some(now),
                KktStatus::Registered => {
                    r.registered_at = Some(now);
                    r.deregistered_at = None;
                }
                KktStatus::Saved => r.deregistered_at = None,
            }
            r.status = st;
            self.mark_liveness(&mut batch, &rn, st == KktStatus::Deregistered, &mut changes)?;
        }
        r.updated_at = now;
        let record = r.clone();
        self.put_kkt(&mut batch, &s)?;
        self.commit_registry(batch, changes)?;
        Ok(record)
    }

    /// Points `fn_index[f]` at `rn`, records the history, and moves FN-keyed activity (liveness
    /// and the by_rn index of documents stored before the RN was known) under the RN.
    /// Returns the RN the FN was bound to before, if different.
    fn bind_in_batch(
        &self,
        batch: &mut rocksdb::WriteBatch,
        rn: &Rn,
        f: FnNumber,
        now: u64,
        history: &mut Vec<FnBinding>,
        changes: &mut Vec<(LiveKey, Option<LivenessRecord>)>,
    ) -> Result<Option<Rn>, StoreError> {
        let db = self.db()?;
        let before = self.rn_of_fn(&f)?;
        let mut taken_from = None;
        if let Some(other) = before.filter(|o| o != rn)
            && let Some(mut o) = self.load_kkt(&other)?
        {
            if o.record.fn_number == Some(f) {
                o.record.fn_number = None;
            }
            for b in o
                .record
                .fn_history
                .iter_mut()
                .filter(|b| b.fn_number == f && b.unbound_at.is_none())
            {
                b.unbound_at = Some(now);
            }
            o.record.updated_at = now;
            self.put_kkt(batch, &o)?;
            taken_from = Some(other);
        }
        if !history
            .iter()
            .any(|b| b.fn_number == f && b.unbound_at.is_none())
        {
            for b in history.iter_mut().filter(|b| b.unbound_at.is_none()) {
                b.unbound_at = Some(now);
            }
            history.push(FnBinding {
                fn_number: f,
                bound_at: now,
                unbound_at: None,
            });
        }
        batch.put_cf(db.cf(CF_FN_INDEX)?, f.as_bytes(), rn.as_bytes());
        self.adopt_fn(batch, rn, f, changes)?;
        Ok(taken_from)
    }

    /// What binding FN `f` to `rn` changes in this node's own data: activity recorded under the
    /// bare FN moves under the RN, and documents of the FN stored without an RN get their
    /// `by_rn` entries. (Also run where another node's binding is applied: `replica.rs`.)
    pub(crate) fn adopt_fn(
        &self,
        batch: &mut rocksdb::WriteBatch,
        rn: &Rn,
        f: FnNumber,
        changes: &mut Vec<(LiveKey, Option<LivenessRecord>)>,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        // Activity recorded under the bare FN now belongs to the RN.
        let fn_key = LiveKey::Fn(f);
        let rn_key = LiveKey::Rn(*rn);
        let fn_rec = self.liveness_read().get(&fn_key);
        if let Some(fr) = fn_rec {
            let mut merged = changes
                .iter()
                .rev()
                .find(|(k, _)| *k == rn_key)
                .and_then(|(_, r)| *r)
                .or_else(|| self.liveness_read().get(&rn_key))
                .unwrap_or_default();
            merged.merge(&fr);
            let lcf = db.cf(CF_LIVENESS)?;
            batch.put_cf(lcf, rn_key.encode(), merged.encode());
            batch.delete_cf(lcf, fn_key.encode());
            changes.push((rn_key, Some(merged)));
            changes.push((fn_key, None));
        }
        // Documents of this FN stored without an RN get their by_rn entries now.
        let by_rn = db.cf(CF_BY_RN)?;
        for doc in crate::query::DocIter::new(self, &f, 0..=u32::MAX)? {
            let doc = doc?;
            if doc.header.rn.is_none() {
                batch.put_cf(
                    by_rn,
                    crate::keys::by_rn_key(rn, &doc.key),
                    crate::record::by_rn_value(doc.header.doc_time, doc.header.shift),
                );
            }
        }
        Ok(())
    }

    fn do_bind(&self, req: FnBindRequest) -> Result<BindOutcome, StoreError> {
        let db = self.db()?;
        check_serial_inn(&req.kkt_serial, &req.user_inn)?;
        let old = self.load_kkt(&req.rn)?;
        let created = old.is_none();
        let mut s = old.unwrap_or_else(|| Stored {
            record: KktRecord {
                rn: req.rn,
                kkt_serial: req.kkt_serial.clone(),
                fn_number: None,
                fn_history: Vec::new(),
                user_inn: req.user_inn.clone(),
                user_name: String::new(),
                address: String::new(),
                place: String::new(),
                connection: ConnectionType::Wired,
                tariff: String::new(),
                status: KktStatus::Registered,
                encrypted: req.encrypted,
                created_at: req.time,
                updated_at: req.time,
                registered_at: Some(req.time),
                deregistered_at: None,
                credential: None,
            },
            secret: None,
        });
        let mut batch = rocksdb::WriteBatch::default();
        let mut changes = Vec::new();
        let r = &mut s.record;
        let previous_fn = r.fn_number.filter(|p| *p != req.fn_number);
        let taken_from = self.bind_in_batch(
            &mut batch,
            &req.rn,
            req.fn_number,
            req.time,
            &mut r.fn_history,
            &mut changes,
        )?;
        r.fn_number = Some(req.fn_number);
        r.kkt_serial = req.kkt_serial;
        r.user_inn = req.user_inn;
        r.encrypted = req.encrypted;
        r.updated_at = req.time;
        if r.status != KktStatus::Registered {
            r.status = KktStatus::Registered;
            r.registered_at = Some(req.time);
            r.deregistered_at = None;
        }
        // After the merge above the RN record may only exist in `changes`; clear its flag there.
        if let Some((_, Some(rec))) = changes
            .iter_mut()
            .rev()
            .find(|(k, _)| *k == LiveKey::Rn(req.rn))
        {
            if rec.deregistered() {
                rec.set_deregistered(false);
                batch.put_cf(
                    db.cf(CF_LIVENESS)?,
                    LiveKey::Rn(req.rn).encode(),
                    rec.encode(),
                );
            }
        } else {
            self.mark_liveness(&mut batch, &req.rn, false, &mut changes)?;
        }
        self.put_kkt(&mut batch, &s)?;
        self.commit_registry(batch, changes)?;
        Ok(BindOutcome {
            created,
            previous_fn,
            taken_from,
        })
    }
}
