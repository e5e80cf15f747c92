//! Tenancy in one place: every read and change of registers, documents, Kazakh exchanges,
//! liveness and audit that a person or an integrator asks for goes through a [`Scoped`] view,
//! made from the caller's [`Scope`]. A register outside the scope is answered exactly like one
//! that does not exist (`None` / `NotFound`), so its existence is not revealed; a change that
//! would put a register into an organisation the caller may not act for is refused naming the
//! field (`OutOfScope`).
//!
//! Lists follow the owner index (`owners.rs`), so a taxpayer's list costs its own size, not the
//! registry's.

use std::collections::BTreeSet;

use crate::accounts::{ApiKey, ConnectionRequest, NewConnectionRequest, OrgKind, User};
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::keys::{FnNumber, Rn};
use crate::kz::{KzLogEntry, KzRecord};
use crate::liveness::{HealthCounts, LivenessCounts, LivenessRecord};
use crate::owners::{Owner, RegisterRef};
use crate::query::{RegisterDocIter, RegisterQuery};
use crate::record::StoredDocument;
use crate::registry::{IssuedToken, KktFilter, KktPage, KktPatch, KktRecord, NewKkt};
use crate::store::Store;

/// What a principal may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The organisations whose registers are reachable; `None`: every organisation (the
    /// operator's root, staff and support).
    orgs: Option<BTreeSet<String>>,
    /// Only these registers (a user or API key limited to some).
    registers: Option<BTreeSet<RegisterRef>>,
    /// Only registers at these points of sale.
    places: Option<BTreeSet<String>>,
}

impl Scope {
    /// Everything.
    pub fn all() -> Scope {
        Scope {
            orgs: None,
            registers: None,
            places: None,
        }
    }

    /// The registers of these organisations.
    pub fn orgs(inns: impl IntoIterator<Item = String>) -> Scope {
        Scope {
            orgs: Some(inns.into_iter().collect()),
            registers: None,
            places: None,
        }
    }

    /// Narrowed to these registers (empty: no narrowing).
    pub fn limit_registers(mut self, regs: impl IntoIterator<Item = RegisterRef>) -> Scope {
        let set: BTreeSet<_> = regs.into_iter().collect();
        if !set.is_empty() {
            self.registers = Some(set);
        }
        self
    }

    /// Narrowed to these points of sale (empty: no narrowing).
    pub fn limit_places(mut self, places: impl IntoIterator<Item = String>) -> Scope {
        let set: BTreeSet<_> = places.into_iter().collect();
        if !set.is_empty() {
            self.places = Some(set);
        }
        self
    }

    /// Every register of every organisation, without narrowing.
    pub fn is_all(&self) -> bool {
        self.orgs.is_none() && self.registers.is_none() && self.places.is_none()
    }

    /// The organisations reached (`None`: all).
    pub fn org_set(&self) -> Option<&BTreeSet<String>> {
        self.orgs.as_ref()
    }

    /// Whether a new register may be put into organisation `inn` by this principal (narrowed
    /// principals only work on the registers they were given).
    pub fn may_register_for(&self, inn: &str) -> bool {
        self.registers.is_none() && self.orgs.as_ref().is_none_or(|o| o.contains(inn))
    }

    fn admits(&self, r: &RegisterRef, owner: Option<&Owner>) -> bool {
        if self.registers.as_ref().is_some_and(|s| !s.contains(r)) {
            return false;
        }
        if self.orgs.is_none() && self.places.is_none() {
            return true;
        }
        let Some(owner) = owner else { return false };
        self.orgs.as_ref().is_none_or(|o| o.contains(&owner.inn))
            && self
                .places
                .as_ref()
                .is_none_or(|p| p.contains(&owner.place))
    }
}

/// Whose scope to compute: the one place that turns a credential into a [`Scope`], shared by
/// the JSON API and the portal so the two cannot drift apart.
#[derive(Clone, Copy, Debug)]
pub enum Holder<'a> {
    /// The operator's root token: everything.
    Root,
    User(&'a User),
    Key(&'a ApiKey),
}

fn parse_refs(list: &[String]) -> Vec<RegisterRef> {
    list.iter().filter_map(|r| r.parse().ok()).collect()
}

impl Store {
    /// The scope of a credential's holder, and the kind of its organisation: staff and support
    /// reach every organisation; anyone else their own organisation's registers and, for a
    /// service partner, those of the clients who accepted its link; a user or key limited to
    /// some registers or points of sale only those.
    pub fn scope_of(&self, holder: Holder<'_>) -> Result<(Scope, Option<OrgKind>), StoreError> {
        let org_scope = |inn: &str| -> Result<(Scope, Option<OrgKind>), StoreError> {
            let kind = self.get_org(inn)?.map(|o| o.kind);
            let mut orgs = vec![inn.to_string()];
            if kind == Some(OrgKind::Partner) {
                orgs.extend(self.clients_of(inn)?);
            }
            Ok((Scope::orgs(orgs), kind))
        };
        Ok(match holder {
            Holder::Root => (Scope::all(), Some(OrgKind::Operator)),
            Holder::User(u) if u.role.is_operator() => (
                Scope::all()
                    .limit_registers(parse_refs(&u.registers))
                    .limit_places(u.places.iter().cloned()),
                Some(OrgKind::Operator),
            ),
            Holder::User(u) => {
                let (s, kind) = org_scope(&u.org)?;
                (
                    s.limit_registers(parse_refs(&u.registers))
                        .limit_places(u.places.iter().cloned()),
                    kind,
                )
            }
            Holder::Key(k) => {
                let (s, kind) = org_scope(&k.org)?;
                (s.limit_registers(parse_refs(&k.registers)), kind)
            }
        })
    }

    /// The view of the store a principal with `scope` gets.
    pub fn scoped<'a>(&'a self, scope: &'a Scope) -> Scoped<'a> {
        Scoped { store: self, scope }
    }
}

/// The store as one principal sees it.
#[derive(Clone, Copy)]
pub struct Scoped<'a> {
    store: &'a Store,
    scope: &'a Scope,
}

/// Registers a list page may pass over (filtered out, out of scope) beyond the page itself
/// before it ends early with a cursor: what keeps every list page O(page) however large the
/// registry or organisation and however selective the filter.
pub const LIST_SCAN_BUDGET: usize = 2_000;

/// One organisation's owner-index entries, read a chunk at a time from a cursor.
struct OrgCursor<K> {
    inn: String,
    buf: std::collections::VecDeque<(K, String)>,
    after: Option<K>,
    done: bool,
}

impl<K: Copy + Ord> OrgCursor<K> {
    fn new(inn: &str, after: Option<K>) -> Self {
        OrgCursor {
            inn: inn.to_string(),
            buf: Default::default(),
            after,
            done: false,
        }
    }

    fn refill(
        &mut self,
        chunk: usize,
        read: impl FnOnce(Option<&K>, usize) -> Result<Vec<(K, String)>, StoreError>,
    ) -> Result<(), StoreError> {
        if !self.buf.is_empty() || self.done {
            return Ok(());
        }
        let got = read(self.after.as_ref(), chunk)?;
        self.done = got.len() < chunk;
        if let Some((last, _)) = got.last() {
            self.after = Some(*last);
        }
        self.buf.extend(got);
        Ok(())
    }
}

/// The smallest head among the cursors, taken, with its organisation.
fn pop_min<K: Copy + Ord>(cursors: &mut [OrgCursor<K>]) -> Option<(K, String, String)> {
    let i = cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.buf.front().map(|h| (h.0, i)))
        .min()?
        .1;
    let c = &mut cursors[i];
    let (k, place) = c.buf.pop_front()?;
    Some((k, place, c.inn.clone()))
}

/// A list page being filled: at most `limit` items, at most `limit` + [`LIST_SCAN_BUDGET`]
/// candidates looked at.
struct PageBuilder<T, K> {
    items: Vec<T>,
    limit: usize,
    examined: usize,
    budget: usize,
    _k: std::marker::PhantomData<K>,
}

impl<T, K: Copy> PageBuilder<T, K> {
    fn new(limit: usize) -> Self {
        PageBuilder {
            items: Vec::new(),
            limit,
            examined: 0,
            budget: limit.saturating_add(LIST_SCAN_BUDGET),
            _k: std::marker::PhantomData,
        }
    }

    /// One candidate at key `k` (`None`: passed over). `Some` when the page is complete: full
    /// (the cursor is its last item) or out of budget (the cursor is `k`).
    fn offer(
        &mut self,
        k: K,
        item: Option<T>,
        key_of: impl Fn(&T) -> K,
    ) -> Option<(Vec<T>, Option<K>)> {
        self.examined += 1;
        if let Some(item) = item {
            if self.items.len() == self.limit {
                let next = self.items.last().map(&key_of);
                return Some((std::mem::take(&mut self.items), next));
            }
            self.items.push(item);
        }
        if self.examined >= self.budget {
            return Some((std::mem::take(&mut self.items), Some(k)));
        }
        None
    }

    /// `n` more candidates were passed over below the store (up to `k`).
    fn passed(&mut self, k: K, n: usize) -> Option<(Vec<T>, Option<K>)> {
        self.examined = self.examined.saturating_add(n);
        (self.examined >= self.budget).then(|| (std::mem::take(&mut self.items), Some(k)))
    }

    fn end(&mut self) -> (Vec<T>, Option<K>) {
        (std::mem::take(&mut self.items), None)
    }
}

impl From<(Vec<KktRecord>, Option<Rn>)> for KktPage {
    fn from((items, next): (Vec<KktRecord>, Option<Rn>)) -> KktPage {
        KktPage { items, next }
    }
}

fn kkt_not_found(rn: &Rn) -> StoreError {
    StoreError::RegisterNotFound { rn: *rn }
}

fn kkm_not_found(id: u32) -> StoreError {
    StoreError::NotFound(format!("KZ register {id}"))
}

impl<'a> Scoped<'a> {
    pub fn scope(&self) -> &Scope {
        self.scope
    }

    /// Whether the register is in scope (`false` as well when it does not exist).
    pub fn sees(&self, r: &RegisterRef) -> Result<bool, StoreError> {
        if self.scope.orgs.is_none() && self.scope.places.is_none() {
            return Ok(self.scope.admits(r, None));
        }
        let owner = self.store.owner_of(r)?;
        Ok(self.scope.admits(r, owner.as_ref()))
    }

    fn require(&self, r: RegisterRef) -> Result<(), StoreError> {
        if self.sees(&r)? {
            return Ok(());
        }
        Err(match r {
            RegisterRef::Kkt(rn) => kkt_not_found(&rn),
            RegisterRef::Kkm(id) => kkm_not_found(id),
        })
    }

    /// Every register reachable, in key order (RU by RN, then KZ by ID), for lists and counts
    /// of a narrowed scope. `None` for an unnarrowed scope (the caller scans the registry).
    fn reachable(&self) -> Result<Option<Vec<(RegisterRef, String)>>, StoreError> {
        if self.scope.orgs.is_none() {
            if self.scope.is_all() {
                return Ok(None);
            }
            // Narrowed by registers or places only (an operator user limited to some): the
            // named registers, or a whole-registry pass for places.
            if let Some(regs) = &self.scope.registers {
                let mut out = Vec::new();
                for r in regs {
                    let owner = self.store.owner_of(r)?;
                    if self.scope.admits(r, owner.as_ref()) {
                        out.push((*r, owner.map(|o| o.place).unwrap_or_default()));
                    }
                }
                return Ok(Some(out));
            }
            return Ok(None);
        }
        let mut out = Vec::new();
        for inn in self.scope.orgs.iter().flatten() {
            let mut after = None;
            loop {
                let page = self.store.registers_of(inn, after.as_ref(), 10_000)?;
                let Some((last, _)) = page.last() else { break };
                after = Some(*last);
                for (r, place) in page {
                    let owner = Owner {
                        inn: inn.clone(),
                        place: place.clone(),
                    };
                    if self.scope.admits(&r, Some(&owner)) {
                        out.push((r, place));
                    }
                }
            }
        }
        out.sort();
        Ok(Some(out))
    }

    // ---- Russian registers ----

    pub fn kkt(&self, rn: &Rn) -> Result<Option<KktRecord>, StoreError> {
        if !self.sees(&RegisterRef::Kkt(*rn))? {
            return Ok(None);
        }
        self.store.get_register(rn)
    }

    /// The register an FN belongs to, when in scope.
    pub fn kkt_of_fn(&self, f: &FnNumber) -> Result<Option<KktRecord>, StoreError> {
        match self.store.rn_of_fn(f)? {
            Some(rn) => self.kkt(&rn),
            None => Ok(None),
        }
    }

    /// Registers matching `filter`, in RN order, with cursor paging. A page costs its own
    /// size plus at most [`LIST_SCAN_BUDGET`] registers passed over by the filter, never the
    /// registry's or an organisation's size: an organisation's registers are read from the
    /// owner index from the cursor on (merged in RN order over a partner's clients); a page
    /// that used up its budget ends early with the cursor of the last register it looked at.
    pub fn list_kkt(&self, filter: &KktFilter) -> Result<KktPage, StoreError> {
        let limit = filter.limit.clamp(1, 10_000);
        let mut page = PageBuilder::new(limit);
        if let Some(regs) = &self.scope.registers {
            // A principal limited to some registers: those, in order.
            for r in regs {
                let RegisterRef::Kkt(rn) = r else { continue };
                if filter.after.is_some_and(|a| *rn <= a) || !self.sees(r)? {
                    continue;
                }
                let rec = self.store.get_register(rn)?.filter(|k| filter.matches(k));
                if let Some(done) = page.offer(*rn, rec, |k| k.rn) {
                    return Ok(done.into());
                }
            }
            return Ok(page.end().into());
        }
        let Some(orgs) = &self.scope.orgs else {
            if self.scope.is_all() {
                return self.store.list_registers(filter);
            }
            // Places only, no organisations: the registry scan, filtered (each call of
            // `list_registers` examines at most its budget, and so does this page).
            let mut f = filter.clone();
            f.limit = limit;
            loop {
                let got = self.store.list_registers(&f)?;
                for r in got.items {
                    let rn = r.rn;
                    let visible = self.sees(&RegisterRef::Kkt(rn))?;
                    if let Some(done) = page.offer(rn, visible.then_some(r), |k| k.rn) {
                        return Ok(done.into());
                    }
                }
                match got.next {
                    Some(n) => {
                        f.after = Some(n);
                        if let Some(done) = page.passed(n, LIST_SCAN_BUDGET) {
                            return Ok(done.into());
                        }
                    }
                    None => return Ok(page.end().into()),
                }
            }
        };
        // Organisations: their owner-index entries from the cursor on, merged in RN order.
        let chunk = (limit + 1).clamp(16, 1024);
        let mut cursors: Vec<OrgCursor<Rn>> = orgs
            .iter()
            .map(|inn| OrgCursor::new(inn, filter.after))
            .collect();
        loop {
            for c in &mut cursors {
                let inn = c.inn.clone();
                c.refill(chunk, |after, n| self.store.kkt_of_owner(&inn, after, n))?;
            }
            let Some((rn, place, inn)) = pop_min(&mut cursors) else {
                return Ok(page.end().into());
            };
            let owner = Owner { inn, place };
            let rec = if self.scope.admits(&RegisterRef::Kkt(rn), Some(&owner)) {
                self.store.get_register(&rn)?.filter(|k| filter.matches(k))
            } else {
                None
            };
            if let Some(done) = page.offer(rn, rec, |k| k.rn) {
                return Ok(done.into());
            }
        }
    }

    /// `list_kkt` with each listed register's liveness record (a memory lookup each: the page
    /// holds only registers in scope, so no second scope check per row).
    pub fn list_kkt_live(
        &self,
        filter: &KktFilter,
    ) -> Result<(KktPage, Vec<Option<LivenessRecord>>), StoreError> {
        let page = self.list_kkt(filter)?;
        let live = page
            .items
            .iter()
            .map(|k| self.store.liveness_of(&k.rn))
            .collect();
        Ok((page, live))
    }

    /// Creates a register for an organisation this principal may act for.
    pub fn register_kkt(&self, kkt: NewKkt, now: u64) -> StoreFuture<KktRecord> {
        if !self.scope.may_register_for(kkt.user_inn.trim()) {
            return StoreFuture::ready(Err(StoreError::OutOfScope {
                field: "inn",
                reason: format!(
                    "{} is not an organisation you may register cash registers for",
                    kkt.user_inn
                ),
            }));
        }
        self.store.register(kkt, now)
    }

    /// Edits a register in scope; a new INN must be one this principal may act for.
    pub fn update_kkt(&self, rn: Rn, patch: KktPatch, now: u64) -> StoreFuture<KktRecord> {
        if let Err(e) = self.require(RegisterRef::Kkt(rn)) {
            return StoreFuture::ready(Err(e));
        }
        if let Some(inn) = &patch.user_inn
            && !self.scope.may_register_for(inn.trim())
        {
            return StoreFuture::ready(Err(StoreError::OutOfScope {
                field: "inn",
                reason: format!("{inn} is not an organisation you may move registers to"),
            }));
        }
        self.store.update(rn, patch, now)
    }

    pub fn deregister_kkt(&self, rn: Rn, now: u64) -> StoreFuture<KktRecord> {
        match self.require(RegisterRef::Kkt(rn)) {
            Ok(()) => self.store.deregister(rn, now),
            Err(e) => StoreFuture::ready(Err(e)),
        }
    }

    pub fn issue_kkt_token(&self, rn: Rn, now: u64) -> StoreFuture<IssuedToken> {
        match self.require(RegisterRef::Kkt(rn)) {
            Ok(()) => self.store.issue_token(rn, now),
            Err(e) => StoreFuture::ready(Err(e)),
        }
    }

    pub fn kkt_liveness(&self, rn: &Rn) -> Result<Option<LivenessRecord>, StoreError> {
        self.require(RegisterRef::Kkt(*rn))?;
        Ok(self.store.liveness_of(rn))
    }

    // ---- documents ----

    /// One document by FN and FD. A document whose FN belongs to no known register is reached
    /// only by an unnarrowed scope (the operator).
    pub fn document(&self, f: &FnNumber, fd: u32) -> Result<Option<StoredDocument>, StoreError> {
        if !self.scope.is_all() && self.kkt_of_fn(f)?.is_none() {
            return Ok(None);
        }
        self.store.get(f, fd)
    }

    /// A register's documents, when the register is in scope.
    pub fn documents_of(
        &self,
        rn: &Rn,
        q: RegisterQuery,
    ) -> Result<RegisterDocIter<'a>, StoreError> {
        self.require(RegisterRef::Kkt(*rn))?;
        self.store.docs_of_register(rn, q)
    }

    // ---- Kazakh registers ----

    pub fn kkm(&self, id: u32) -> Result<Option<KzRecord>, StoreError> {
        if !self.sees(&RegisterRef::Kkm(id))? {
            return Ok(None);
        }
        self.store.kz_get(id)
    }

    /// Fails with `NotFound` unless the KKM exists and is in scope.
    pub fn require_kkm(&self, id: u32) -> Result<KzRecord, StoreError> {
        self.kkm(id)?.ok_or_else(|| kkm_not_found(id))
    }

    /// Kazakh registers by system ID after `after`, at most `limit`. Like `list_kkt`, one call
    /// passes over at most [`LIST_SCAN_BUDGET`] registers outside the scope; fewer than `limit`
    /// back does not then mean the end — `list_kkm_page` says where to continue.
    pub fn list_kkm(&self, after: Option<u32>, limit: usize) -> Result<Vec<KzRecord>, StoreError> {
        Ok(self.list_kkm_page(after, limit)?.0)
    }

    /// `list_kkm`, with the cursor to continue from (`None`: nothing after these).
    pub fn list_kkm_page(
        &self,
        after: Option<u32>,
        limit: usize,
    ) -> Result<(Vec<KzRecord>, Option<u32>), StoreError> {
        let limit = limit.max(1);
        let mut page = PageBuilder::new(limit);
        if let Some(regs) = &self.scope.registers {
            for r in regs {
                let RegisterRef::Kkm(id) = r else { continue };
                if after.is_some_and(|a| *id <= a) || !self.sees(r)? {
                    continue;
                }
                if let Some(done) = page.offer(*id, self.store.kz_get(*id)?, |k| k.system_id) {
                    return Ok(done);
                }
            }
            return Ok(page.end());
        }
        let Some(orgs) = &self.scope.orgs else {
            if self.scope.is_all() {
                let got = self.store.kz_list(after, limit)?;
                let next = if got.len() >= limit {
                    got.last().map(|r| r.system_id)
                } else {
                    None
                };
                return Ok((got, next));
            }
            let mut cursor = after;
            loop {
                let got = self.store.kz_list(cursor, 1000)?;
                let Some(last) = got.last() else {
                    return Ok(page.end());
                };
                cursor = Some(last.system_id);
                for r in got {
                    let id = r.system_id;
                    let visible = self.sees(&RegisterRef::Kkm(id))?;
                    if let Some(done) = page.offer(id, visible.then_some(r), |k| k.system_id) {
                        return Ok(done);
                    }
                }
            }
        };
        let chunk = (limit + 1).clamp(16, 1024);
        let mut cursors: Vec<OrgCursor<u32>> =
            orgs.iter().map(|inn| OrgCursor::new(inn, after)).collect();
        loop {
            for c in &mut cursors {
                let inn = c.inn.clone();
                c.refill(chunk, |after, n| {
                    self.store.kkm_of_owner(&inn, after.copied(), n)
                })?;
            }
            let Some((id, place, inn)) = pop_min(&mut cursors) else {
                return Ok(page.end());
            };
            let owner = Owner { inn, place };
            let rec = if self.scope.admits(&RegisterRef::Kkm(id), Some(&owner)) {
                self.store.kz_get(id)?
            } else {
                None
            };
            if let Some(done) = page.offer(id, rec, |k| k.system_id) {
                return Ok(done);
            }
        }
    }

    /// A KKM's exchanges, when it is in scope.
    pub fn kkm_log(
        &self,
        id: u32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<KzLogEntry>, StoreError> {
        self.require(RegisterRef::Kkm(id))?;
        self.store.kz_log(id, after, limit)
    }

    /// Registers a KKM for an organisation this principal may act for.
    pub fn create_kkm(
        &self,
        created_at_ms: u64,
        owner: &Owner,
        make_state: impl FnOnce(u32) -> Vec<u8>,
    ) -> Result<u32, StoreError> {
        self.may_create_kkm(owner)?;
        self.store.kz_create(created_at_ms, owner, make_state)
    }

    /// Cluster mode, before a system ID is claimed in the cluster's stream: whether this scope
    /// may register a KKM for `owner` (the same refusal as [`Scoped::create_kkm`]).
    pub fn may_create_kkm(&self, owner: &Owner) -> Result<(), StoreError> {
        if self.scope.may_register_for(&owner.inn) {
            return Ok(());
        }
        Err(StoreError::OutOfScope {
            field: "iin_bin",
            reason: format!(
                "{} is not an organisation you may register cash registers for",
                owner.inn
            ),
        })
    }

    /// Cluster mode: stores a KKM the cluster's stream has just taken as new (`kz_replica.rs`),
    /// with its owner's index entry, when this scope may register for `owner`.
    pub fn create_kkm_in_cluster(&self, record: KzRecord, owner: Owner) -> StoreFuture<()> {
        match self.may_create_kkm(&owner) {
            Ok(()) => self.store.kz_adopt_created(record, owner),
            Err(e) => StoreFuture::ready(Err(e)),
        }
    }

    pub fn kkm_liveness(&self, id: u32) -> Result<Option<LivenessRecord>, StoreError> {
        self.require(RegisterRef::Kkm(id))?;
        Ok(self.store.liveness_of_kz(id))
    }

    /// Every Russian register of organisation `inn`, when this scope reaches it (for its
    /// monthly statement): through the owner index, never the whole registry.
    pub fn kkt_of_org(&self, inn: &str) -> Result<Vec<KktRecord>, StoreError> {
        if self.scope.orgs.as_ref().is_some_and(|o| !o.contains(inn)) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.registers_of(inn, after.as_ref(), 10_000)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (r, _) in page {
                if let RegisterRef::Kkt(rn) = r
                    && self.sees(&r)?
                    && let Some(k) = self.store.get_register(&rn)?
                {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }

    // ---- wired-connection requests ----

    /// Files a request to connect a register in scope by wire, for its owner.
    pub fn request_connection(
        &self,
        request: NewConnectionRequest,
        created_by: String,
        now: u64,
    ) -> StoreFuture<ConnectionRequest> {
        let owner = request
            .register
            .parse::<RegisterRef>()
            .ok()
            .map(|r| (self.sees(&r), r));
        let inn = match owner {
            Some((Ok(true), r)) => match self.store.owner_of(&r) {
                Ok(Some(o)) => o.inn,
                Ok(None) => String::new(),
                Err(e) => return StoreFuture::ready(Err(e)),
            },
            Some((Err(e), _)) => return StoreFuture::ready(Err(e)),
            _ => {
                return StoreFuture::ready(Err(StoreError::NotFound(format!(
                    "register {}",
                    request.register
                ))));
            }
        };
        self.store
            .file_connection_request(inn, request, created_by, now)
    }

    /// Requests this scope may see, newest first: its organisations' (all for the operator).
    pub fn connection_requests(&self, limit: usize) -> Result<Vec<ConnectionRequest>, StoreError> {
        let mut out = match &self.scope.orgs {
            None => self.store.connection_requests(None, limit)?,
            Some(orgs) => {
                let mut all = Vec::new();
                for o in orgs {
                    all.extend(self.store.connection_requests(Some(o), limit)?);
                }
                all.sort_by_key(|r| std::cmp::Reverse(r.id));
                all
            }
        };
        // Narrowed principals see only their registers' requests.
        if self.scope.registers.is_some() || self.scope.places.is_some() {
            let mut kept = Vec::new();
            for r in out {
                if let Ok(rr) = r.request.register.parse::<RegisterRef>()
                    && self.sees(&rr)?
                {
                    kept.push(r);
                }
            }
            out = kept;
        }
        out.truncate(limit);
        Ok(out)
    }

    /// One request, when this scope may see it.
    pub fn connection_request(&self, id: u64) -> Result<Option<ConnectionRequest>, StoreError> {
        let Some(r) = self.store.connection_request(id)? else {
            return Ok(None);
        };
        let visible = match r.request.register.parse::<RegisterRef>() {
            Ok(rr) => self.sees(&rr)?,
            Err(_) => self.scope.is_all(),
        };
        Ok(visible.then_some(r))
    }

    // ---- counts ----

    /// Registers per colour, counted over this scope only.
    pub fn liveness_counts(
        &self,
        now: u64,
        yellow_after: u64,
        red_after: u64,
    ) -> Result<(LivenessCounts, HealthCounts), StoreError> {
        let Some(reachable) = self.reachable_all()? else {
            return Ok((
                self.store.liveness_counts(now, yellow_after, red_after),
                self.store.health_counts(),
            ));
        };
        let mut c = LivenessCounts::default();
        let mut h = HealthCounts::default();
        for (r, _) in reachable {
            let rec = match r {
                RegisterRef::Kkt(rn) => self.store.liveness_of(&rn),
                RegisterRef::Kkm(id) => self.store.liveness_of_kz(id),
            };
            if let Some(rec) = rec {
                c.add(&rec, now, yellow_after, red_after);
                h.add(&rec);
            }
        }
        Ok((c, h))
    }

    /// `reachable`, with a places-only operator scope resolved by a registry pass.
    fn reachable_all(&self) -> Result<Option<Vec<(RegisterRef, String)>>, StoreError> {
        if let Some(r) = self.reachable()? {
            return Ok(Some(r));
        }
        if self.scope.is_all() {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut f = KktFilter {
            limit: 10_000,
            ..KktFilter::default()
        };
        loop {
            let page = self.list_kkt(&f)?;
            out.extend(
                page.items
                    .iter()
                    .map(|r| (RegisterRef::Kkt(r.rn), r.place.clone())),
            );
            match page.next {
                Some(n) => f.after = Some(n),
                None => break,
            }
        }
        for k in self.list_kkm(None, usize::MAX)? {
            out.push((RegisterRef::Kkm(k.system_id), String::new()));
        }
        Ok(Some(out))
    }
}
