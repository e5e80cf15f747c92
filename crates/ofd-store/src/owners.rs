//! Who owns each register: the index that makes tenancy cheap.
//!
//! A register (a Russian KKT by RN, a Kazakh KKM by system ID) belongs to the organisation whose
//! INN (RU) or IIN/BIN (KZ) it was registered with. A taxpayer's list of registers must not
//! scan a national registry, so every register has two small entries in CF `owners`, written in
//! the same batch as the register itself:
//!
//! | key | value |
//! |---|---|
//! | `'o' \| inn \| 0 \| 'R' \| RN(16)` or `'o' \| inn \| 0 \| 'K' \| id(u32 BE)` | point of sale |
//! | `'r' \| 'R' \| RN(16)` or `'r' \| 'K' \| id(u32 BE)` | `inn \| 0 \| point of sale` |
//!
//! The forward entries list one organisation's registers with one prefix scan; the reverse
//! entry answers "whose is this register, and at which point of sale" with one point read,
//! without decoding the register's record (a Kazakh register's record is opaque here).
//! INNs are 10 or 12 digits: the 0 byte after them keeps one INN from being a prefix of another.

use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::db::{DbRef, Shared};
use crate::error::StoreError;
use crate::keys::Rn;
use crate::options::{CF_META, CF_OWNERS, CF_REGISTRY};
use crate::store::Store;

/// A register of either country, as the tenancy layer names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegisterRef {
    /// A Russian KKT, by registration number.
    Kkt(Rn),
    /// A Kazakh KKM, by the system ID the operator issued.
    Kkm(u32),
}

impl RegisterRef {
    fn tail(&self) -> Vec<u8> {
        match self {
            RegisterRef::Kkt(rn) => {
                let mut v = vec![b'R'];
                v.extend_from_slice(rn.as_bytes());
                v
            }
            RegisterRef::Kkm(id) => {
                let mut v = vec![b'K'];
                v.extend_from_slice(&id.to_be_bytes());
                v
            }
        }
    }

    fn from_tail(t: &[u8]) -> Option<RegisterRef> {
        match t.split_first()? {
            (b'R', rn) => Rn::from_key(rn).map(RegisterRef::Kkt),
            (b'K', id) => Some(RegisterRef::Kkm(u32::from_be_bytes(id.try_into().ok()?))),
            _ => None,
        }
    }
}

impl std::fmt::Display for RegisterRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterRef::Kkt(rn) => f.write_str(rn.as_str()),
            RegisterRef::Kkm(id) => write!(f, "{id}"),
        }
    }
}

impl std::str::FromStr for RegisterRef {
    type Err = StoreError;
    /// A 16-digit RN, or a Kazakh system ID (up to 10 digits).
    fn from_str(s: &str) -> Result<RegisterRef, StoreError> {
        if s.len() == 16 {
            return Rn::new(s.as_bytes())
                .map(RegisterRef::Kkt)
                .map_err(StoreError::from);
        }
        s.parse::<u32>().map(RegisterRef::Kkm).map_err(|_| {
            StoreError::InvalidInput(format!(
                "{s:?} is neither a 16-digit RN nor a Kazakh system ID"
            ))
        })
    }
}

/// A register's owner and point of sale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// INN (RU) or IIN/BIN (KZ).
    pub inn: String,
    /// Point of sale (the KKT's place of settlement, the KKM's address).
    pub place: String,
}

const META_OWNERS_RU: &[u8] = b"owners_ru_v1";
const META_OWNERS_KZ: &[u8] = b"owners_kz_v1";

fn forward_key(inn: &str, r: &RegisterRef) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.push(b'o');
    k.extend_from_slice(inn.as_bytes());
    k.push(0);
    k.extend_from_slice(&r.tail());
    k
}

fn reverse_key(r: &RegisterRef) -> Vec<u8> {
    let mut k = vec![b'r'];
    k.extend_from_slice(&r.tail());
    k
}

fn check_inn(inn: &str) -> Result<(), StoreError> {
    if inn.is_empty() || inn.len() > 12 || !inn.bytes().all(|c| c.is_ascii_digit()) {
        return Err(StoreError::InvalidInput(format!(
            "owner INN must be 1 to 12 digits, got {inn:?}"
        )));
    }
    Ok(())
}

impl Shared {
    /// Stages `r`'s ownership in `batch`, dropping the entry of its previous owner.
    pub(crate) fn stage_owner(
        &self,
        db: &DbRef,
        batch: &mut WriteBatch,
        r: RegisterRef,
        owner: &Owner,
    ) -> Result<(), StoreError> {
        check_inn(&owner.inn)?;
        let cf = db.cf(CF_OWNERS)?;
        if let Some(old) = read_owner(db, &r)?
            && old.inn != owner.inn
        {
            batch.delete_cf(cf, forward_key(&old.inn, &r));
        }
        batch.put_cf(cf, forward_key(&owner.inn, &r), owner.place.as_bytes());
        let mut v = owner.inn.as_bytes().to_vec();
        v.push(0);
        v.extend_from_slice(owner.place.as_bytes());
        batch.put_cf(cf, reverse_key(&r), v);
        Ok(())
    }

    /// Builds the index for registers written before it existed (a store upgrade in place).
    pub(crate) fn migrate_owners(&self) -> Result<(), StoreError> {
        if self.meta_u64(META_OWNERS_RU)?.is_some() {
            return Ok(());
        }
        let db = self.db()?;
        let mut batch = WriteBatch::default();
        let mut n = 0u64;
        for item in db.iterator_cf(db.cf(CF_REGISTRY)?, IteratorMode::Start) {
            let (_, v) = item.map_err(|e| StoreError::db("registry scan", e))?;
            let rec: crate::registry::KktRecord =
                serde_json::from_slice(&v).map_err(|e| StoreError::CorruptRecord {
                    cf: CF_REGISTRY,
                    what: "register record",
                    key: String::new(),
                    reason: e.to_string(),
                })?;
            if check_inn(&rec.user_inn).is_err() {
                continue;
            }
            let owner = Owner {
                inn: rec.user_inn.clone(),
                place: rec.place.clone(),
            };
            self.stage_owner(&db, &mut batch, RegisterRef::Kkt(rec.rn), &owner)?;
            n += 1;
        }
        batch.put_cf(db.cf(CF_META)?, META_OWNERS_RU, n.to_be_bytes());
        self.write(batch)?;
        if n > 0 {
            tracing::info!(registers = n, "owner index built for existing registers");
        }
        Ok(())
    }
}

fn read_owner(db: &DbRef, r: &RegisterRef) -> Result<Option<Owner>, StoreError> {
    let v = db
        .get_pinned_cf(db.cf(CF_OWNERS)?, reverse_key(r))
        .map_err(|e| StoreError::db("owners get", e))?;
    let Some(v) = v else { return Ok(None) };
    let corrupt = || StoreError::CorruptRecord {
        cf: CF_OWNERS,
        what: "owner entry",
        key: r.to_string(),
        reason: "no INN separator or not UTF-8".into(),
    };
    let sep = v.iter().position(|&b| b == 0).ok_or_else(corrupt)?;
    let inn = std::str::from_utf8(&v[..sep]).map_err(|_| corrupt())?;
    let place = std::str::from_utf8(&v[sep + 1..]).map_err(|_| corrupt())?;
    Ok(Some(Owner {
        inn: inn.to_string(),
        place: place.to_string(),
    }))
}

impl Store {
    /// Whose register this is, and at which point of sale (`None`: not indexed).
    pub fn owner_of(&self, r: &RegisterRef) -> Result<Option<Owner>, StoreError> {
        read_owner(&self.shared().db()?, r)
    }

    /// The registers of one organisation in key order (RU by RN, then KZ by system ID), after
    /// `after` (exclusive), at most `limit`, with each one's point of sale. A prefix scan of the
    /// index: its cost follows the organisation's size, not the registry's.
    pub fn registers_of(
        &self,
        inn: &str,
        after: Option<&RegisterRef>,
        limit: usize,
    ) -> Result<Vec<(RegisterRef, String)>, StoreError> {
        let db = self.shared().db()?;
        let cf = db.cf(CF_OWNERS)?;
        let mut prefix = vec![b'o'];
        prefix.extend_from_slice(inn.as_bytes());
        prefix.push(0);
        let start = match after {
            Some(a) => {
                let mut k = forward_key(inn, a);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for item in db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item.map_err(|e| StoreError::db("owners scan", e))?;
            let Some(tail) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            if out.len() >= limit {
                break;
            }
            let r = RegisterRef::from_tail(tail).ok_or_else(|| StoreError::CorruptRecord {
                cf: CF_OWNERS,
                what: "owner entry",
                key: crate::error::hex(&k),
                reason: "undecodable register".into(),
            })?;
            out.push((r, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// One organisation's Russian registers in RN order after `after` (exclusive), at most
    /// `limit`, with each one's point of sale: a seek into the owner index and `limit` entries,
    /// so a page costs the same in an organisation of ten registers as in one of ten thousand.
    pub fn kkt_of_owner(
        &self,
        inn: &str,
        after: Option<&Rn>,
        limit: usize,
    ) -> Result<Vec<(Rn, String)>, StoreError> {
        let tail = after.map(|rn| RegisterRef::Kkt(*rn).tail());
        Ok(self
            .owner_entries(inn, b'R', tail, limit)?
            .into_iter()
            .filter_map(|(r, place)| match r {
                RegisterRef::Kkt(rn) => Some((rn, place)),
                RegisterRef::Kkm(_) => None,
            })
            .collect())
    }

    /// One organisation's Kazakh registers by system ID after `after` (exclusive), at most
    /// `limit` (see `kkt_of_owner`).
    pub fn kkm_of_owner(
        &self,
        inn: &str,
        after: Option<u32>,
        limit: usize,
    ) -> Result<Vec<(u32, String)>, StoreError> {
        let tail = after.map(|id| RegisterRef::Kkm(id).tail());
        Ok(self
            .owner_entries(inn, b'K', tail, limit)?
            .into_iter()
            .filter_map(|(r, place)| match r {
                RegisterRef::Kkm(id) => Some((id, place)),
                RegisterRef::Kkt(_) => None,
            })
            .collect())
    }

    /// Forward entries of `inn` of one kind (`R`, `K`) after the tail `after` (exclusive).
    fn owner_entries(
        &self,
        inn: &str,
        kind: u8,
        after: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<(RegisterRef, String)>, StoreError> {
        let db = self.shared().db()?;
        let cf = db.cf(CF_OWNERS)?;
        let mut prefix = vec![b'o'];
        prefix.extend_from_slice(inn.as_bytes());
        prefix.push(0);
        prefix.push(kind);
        let mut it = db.raw_iterator_cf(cf);
        match after {
            Some(tail) => {
                let mut start = prefix[..prefix.len() - 1].to_vec();
                start.extend_from_slice(&tail);
                it.seek(&start);
                if it.key() == Some(start.as_slice()) {
                    it.next();
                }
            }
            None => it.seek(&prefix),
        }
        let mut out = Vec::new();
        while let Some((k, v)) = it.item() {
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let tail = &k[prefix.len() - 1..];
            let r = RegisterRef::from_tail(tail).ok_or_else(|| StoreError::CorruptRecord {
                cf: CF_OWNERS,
                what: "owner entry",
                key: crate::error::hex(k),
                reason: "undecodable register".into(),
            })?;
            out.push((r, String::from_utf8_lossy(v).into_owned()));
            it.next();
        }
        it.status().map_err(|e| StoreError::db("owners scan", e))?;
        Ok(out)
    }

    /// Records a Kazakh register's owner for registers made before the index existed: `owner`
    /// reads it from the register's (opaque) state. Runs once per store; later registrations
    /// index themselves (`kz_create`).
    pub fn backfill_kz_owners(
        &self,
        owner: impl Fn(&[u8]) -> Option<Owner>,
    ) -> Result<u64, StoreError> {
        let shared = self.shared();
        if shared.meta_u64(META_OWNERS_KZ)?.is_some() {
            return Ok(0);
        }
        let db = shared.db()?;
        let mut batch = WriteBatch::default();
        let mut n = 0u64;
        let mut after = None;
        loop {
            let page = self.kz_list(after, 1000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.system_id);
            for r in &page {
                let reg = RegisterRef::Kkm(r.system_id);
                if read_owner(&db, &reg)?.is_none()
                    && let Some(o) = owner(&r.state)
                {
                    shared.stage_owner(&db, &mut batch, reg, &o)?;
                    n += 1;
                }
            }
        }
        batch.put_cf(db.cf(CF_META)?, META_OWNERS_KZ, n.to_be_bytes());
        shared.write(batch)?;
        Ok(n)
    }
}
