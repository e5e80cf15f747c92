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
//! The admission secret is returned once by `issue_token` and stored only as
//! SHA-256(salt | secret) with a random per-record salt; `verify_token` compares in constant time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{StoreError, hex};
use crate::future::StoreFuture;
use crate::keys::{FnNumber, LiveKey, Rn};
use crate::liveness::LivenessRecord;
use crate::options::{CF_BY_RN, CF_DOCS, CF_FN_INDEX, CF_LIVENESS, CF_REGISTRY};
use crate::store::{Command, Reply, Shared, Store};

/// How the register reaches the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionType {
    Sim,
    Wired,
}

impl std::str::FromStr for ConnectionType {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "sim" => Ok(ConnectionType::Sim),
            "wired" => Ok(ConnectionType::Wired),
            other => Err(StoreError::InvalidInput(format!(
                "connection type must be `sim` or `wired`, got {other:?}"
            ))),
        }
    }
}

/// Lifecycle of a register in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KktStatus {
    /// Registered and served.
    Registered,
    /// Edited but not confirmed.
    Saved,
    /// Deregistered: kept for history, not counted in liveness.
    Deregistered,
}

impl KktStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KktStatus::Registered => "registered",
            KktStatus::Saved => "saved",
            KktStatus::Deregistered => "deregistered",
        }
    }
}

/// One FN a register has used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnBinding {
    pub fn_number: FnNumber,
    /// Unix seconds.
    pub bound_at: u64,
    /// Unix seconds when another FN replaced it; `None` for the current one.
    pub unbound_at: Option<u64>,
}

/// The public part of an admission credential (the secret is never stored in clear).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfo {
    pub system_id: String,
    pub issued_at: u64,
}

/// A register as the registry knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KktRecord {
    pub rn: Rn,
    pub kkt_serial: String,
    /// The FN currently installed, if known.
    pub fn_number: Option<FnNumber>,
    /// Every FN bound to this RN, oldest first (the current one included).
    #[serde(default)]
    pub fn_history: Vec<FnBinding>,
    pub user_inn: String,
    pub user_name: String,
    pub address: String,
    pub place: String,
    pub connection: ConnectionType,
    pub tariff: String,
    pub status: KktStatus,
    /// Tag 1056: the register encrypts its documents.
    pub encrypted: bool,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// When it last became `registered` (the registration-date filter uses this).
    pub registered_at: Option<u64>,
    pub deregistered_at: Option<u64>,
    pub credential: Option<CredentialInfo>,
}

/// What is persisted: the record plus the hashed secret.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    #[serde(flatten)]
    record: KktRecord,
    #[serde(default)]
    secret: Option<SecretHash>,
}

impl Stored {
    pub(crate) fn record(&self) -> &KktRecord {
        &self.record
    }
}

#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct SecretHash {
    salt: String,
    sha256: String,
}

/// A register to create with `Store::register`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKkt {
    pub rn: Rn,
    pub kkt_serial: String,
    pub fn_number: Option<FnNumber>,
    pub user_inn: String,
    pub user_name: String,
    pub address: String,
    pub place: String,
    pub connection: ConnectionType,
    pub tariff: String,
    /// `Registered` or `Saved` (a `Deregistered` request is an error).
    pub status: KktStatus,
    pub encrypted: bool,
}

/// Fields to change with `Store::update`; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KktPatch {
    pub kkt_serial: Option<String>,
    pub user_inn: Option<String>,
    pub user_name: Option<String>,
    pub address: Option<String>,
    pub place: Option<String>,
    pub connection: Option<ConnectionType>,
    pub tariff: Option<String>,
    pub status: Option<KktStatus>,
    pub encrypted: Option<bool>,
}

/// A freshly issued credential; `secret` is shown once and never stored in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub system_id: String,
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("system_id", &self.system_id)
            .finish_non_exhaustive()
    }
}

/// What `bind_fn` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindOutcome {
    /// The RN was new: a register was created in status `registered`.
    pub created: bool,
    /// The FN this register used before, when the binding moved.
    pub previous_fn: Option<FnNumber>,
    /// Another RN the FN was bound to before (should not happen with real drives).
    pub taken_from: Option<Rn>,
}

/// Registration data from a registration report (document 1 or 11), for `bind_fn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FnBindRequest {
    pub rn: Rn,
    pub fn_number: FnNumber,
    pub kkt_serial: String,
    pub user_inn: String,
    pub encrypted: bool,
    /// Unix seconds.
    pub time: u64,
}

/// Filter and paging for `Store::list_registers`. All conditions must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KktFilter {
    pub status: Option<KktStatus>,
    /// Case-insensitive substring of the user name.
    pub name_contains: Option<String>,
    /// RN starts with these digits.
    pub rn_prefix: Option<String>,
    pub connection: Option<ConnectionType>,
    /// `registered_at` within `[from, to]` (unix seconds, inclusive); registers never
    /// registered are excluded when either bound is set.
    pub registered_from: Option<u64>,
    pub registered_to: Option<u64>,
    /// Cursor: start after this RN (the `next` of the previous page).
    pub after: Option<Rn>,
    /// Page size (at most 10 000).
    pub limit: usize,
}

impl Default for KktFilter {
    fn default() -> Self {
        KktFilter {
            status: None,
            name_contains: None,
            rn_prefix: None,
            connection: None,
            registered_from: None,
            registered_to: None,
            after: None,
            limit: 100,
        }
    }
}

/// One page of registers in RN order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KktPage {
    pub items: Vec<KktRecord>,
    /// Pass as `after` to get the next page; `None` when this was the last.
    pub next: Option<Rn>,
}

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

    /// Checks an admission credential in constant time. `false` for an unknown RN, a register
    /// without a credential, or a wrong system id or secret.
    pub fn verify_token(&self, rn: &Rn, system_id: &str, secret: &str) -> Result<bool, StoreError> {
        let Some(stored) = self.shared().load_kkt(rn)? else {
            return Ok(false);
        };
        let (Some(info), Some(hash)) = (&stored.record.credential, &stored.secret) else {
            return Ok(false);
        };
        let id_ok =
            Sha256::digest(info.system_id.as_bytes()).ct_eq(&Sha256::digest(system_id.as_bytes()));
        let computed = hex(&salted(&hash.salt, secret));
        let secret_ok = computed.as_bytes().ct_eq(hash.sha256.as_bytes());
        Ok(bool::from(id_ok & secret_ok))
    }

    /// Lists registers in RN order (a scan of the registry; fine for the admin UI).
    pub fn list_registers(&self, filter: &KktFilter) -> Result<KktPage, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let cf = db.cf(CF_REGISTRY)?;
        let limit = filter.limit.clamp(1, 10_000);
        let prefix = filter.rn_prefix.as_deref().unwrap_or("").as_bytes();
        let needle = filter.name_contains.as_ref().map(|s| s.to_lowercase());
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
        while let Some((k, v)) = it.item() {
            if !k.starts_with(prefix) {
                break;
            }
            let stored = parse_kkt(k, v)?;
            let r = &stored.record;
            let keep = filter.status.is_none_or(|s| s == r.status)
                && filter.connection.is_none_or(|c| c == r.connection)
                && needle
                    .as_ref()
                    .is_none_or(|n| r.user_name.to_lowercase().contains(n.as_str()))
                && (filter.registered_from.is_none() && filter.registered_to.is_none()
                    || r.registered_at.is_some_and(|t| {
                        filter.registered_from.is_none_or(|f| t >= f)
                            && filter.registered_to.is_none_or(|to| t <= to)
                    }));
            if keep {
                if items.len() == limit {
                    next = items.last().map(|x: &KktRecord| x.rn);
                    break;
                }
                items.push(stored.record);
            }
            it.next();
        }
        it.status()
            .map_err(|e| StoreError::db("registry scan", e))?;
        Ok(KktPage { items, next })
    }
}

fn salted(salt: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().into()
}

fn parse_kkt(key: &[u8], v: &[u8]) -> Result<Stored, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::CorruptRecord {
        cf: CF_REGISTRY,
        what: "register record",
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
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

    fn put_kkt(&self, batch: &mut rocksdb::WriteBatch, s: &Stored) -> Result<(), StoreError> {
        let db = self.db()?;
        let v = serde_json::to_vec(s).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        batch.put_cf(db.cf(CF_REGISTRY)?, s.record.rn.as_bytes(), v);
        Ok(())
    }

    /// Sets or clears the deregistered flag on an RN's liveness record (if it has one).
    fn mark_liveness(
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

    /// Writes a registry batch and, once it is durable, applies liveness changes in memory.
    fn commit_registry(
        &self,
        batch: rocksdb::WriteBatch,
        changes: Vec<(LiveKey, Option<LivenessRecord>)>,
    ) -> Result<(), StoreError> {
        self.write(batch)?;
        let mut idx = self.liveness_write();
        for (k, rec) in changes {
            match rec {
                Some(r) => idx.set(k, r),
                None => idx.remove(&k),
            }
        }
        Ok(())
    }

    pub(crate) fn exec_registry(&self, op: RegistryOp) {
        // Each change refreshes the in-memory admission map after it is durable and before
        // the caller hears back, so the daemon applies it to the very next message.
        match op {
            RegistryOp::Register(k, now, reply) => {
                let rn = k.rn;
                let result = self.do_register(k, now);
                reply.send(self.admitted(&rn, result))
            }
            RegistryOp::Update(rn, p, now, reply) => {
                let result = self.do_update(rn, p, now);
                reply.send(self.admitted(&rn, result))
            }
            RegistryOp::Deregister(rn, now, reply) => {
                let patch = KktPatch {
                    status: Some(KktStatus::Deregistered),
                    ..KktPatch::default()
                };
                let result = self.do_update(rn, patch, now);
                reply.send(self.admitted(&rn, result))
            }
            RegistryOp::IssueToken(rn, now, reply) => reply.send(self.do_issue(rn, now)),
            RegistryOp::BindFn(req, reply) => {
                let rn = req.rn;
                let result = self.do_bind(req);
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

    fn do_issue(&self, rn: Rn, now: u64) -> Result<IssuedToken, StoreError> {
        let mut s = self
            .load_kkt(&rn)?
            .ok_or(StoreError::RegisterNotFound { rn })?;
        let mut secret = [0u8; 32];
        let mut salt = [0u8; 16];
        crate::random::fill(&mut secret)?;
        crate::random::fill(&mut salt)?;
        let system_id = match &s.record.credential {
            Some(c) => c.system_id.clone(),
            None => {
                let mut id = [0u8; 8];
                crate::random::fill(&mut id)?;
                format!("kkt-{}", hex(&id))
            }
        };
        let secret = hex(&secret);
        let salt = hex(&salt);
        let hash = hex(&salted(&salt, &secret));
        s.secret = Some(SecretHash { salt, sha256: hash });
        s.record.credential = Some(CredentialInfo {
            system_id: system_id.clone(),
            issued_at: now,
        });
        s.record.updated_at = now;
        let mut batch = rocksdb::WriteBatch::default();
        self.put_kkt(&mut batch, &s)?;
        self.commit_registry(batch, Vec::new())?;
        Ok(IssuedToken { system_id, secret })
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
        let docs = db.cf(CF_DOCS)?;
        let by_rn = db.cf(CF_BY_RN)?;
        let mut it = db.raw_iterator_cf(docs);
        it.seek(f.as_bytes());
        while let Some((k, v)) = it.item() {
            if !k.starts_with(f.as_bytes()) {
                break;
            }
            let key = crate::keys::DocKey::decode(k)
                .ok_or_else(|| self.corrupt_doc(k, "bad key".into()))?;
            let view = crate::record::decode(v).map_err(|e| self.corrupt_doc(k, e))?;
            if view.header.rn.is_none() {
                batch.put_cf(
                    by_rn,
                    crate::keys::by_rn_key(rn, &key),
                    crate::record::by_rn_value(view.header.doc_time, view.header.shift),
                );
            }
            it.next();
        }
        it.status().map_err(|e| StoreError::db("docs scan", e))?;
        Ok(taken_from)
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
