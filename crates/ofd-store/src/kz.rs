//! Kazakh registers (KKM–OFD protocol 2.0.x): the register table keyed by system ID and the
//! log of every exchange, byte for byte.
//!
//! The protocol's server is stateful (ticket numbers, shifts, cash, the token and the retry
//! marker), and that state must be durable **before** the answer that depends on it leaves:
//! a rotated token that is answered but lost in a crash would lock the register out, and a
//! ticket number answered twice would be a fiscal error. So every exchange is one synced
//! `WriteBatch`: the register's new state and the answer a retry must get, the log entry
//! (request and answer), and the register's liveness record.
//!
//! The state itself is opaque here (the daemon serialises `ofd_kz::RegisterFacts`): this crate
//! stores bytes and does not know the protocol. Exchanges of one register must be serialised by
//! the caller (the daemon holds a per-register lock around read → decide → commit → answer);
//! that is also what makes the per-register log sequence a plain read-modify-write.
//!
//! An exchange is queued to the committer like a document (`Store::kz_commit`) and staged in
//! the same group-committed batches, so it shares their fsync and an exported exchange gets
//! its outbox sequence number in commit order with the documents. Registration and operator
//! changes of a register's state (`kz_create`, `kz_put_state`) are rare and written directly
//! with a synced `WriteBatch`; the daemon's per-register lock keeps them apart from exchanges.
//!
//! | CF | key | value |
//! |---|---|---|
//! | `kz_kkm` | `system_id(u32 BE)` | `1 \| created_ms(u64) \| log_next(u64) \| state_len(u32) \| state \| last_answer` |
//! | `kz_kkm` (cluster mode) | `system_id(u32 BE)` | `2 \| revision(u64) \| created_ms(u64) \| log_next(u64) \| state_len(u32) \| state \| last_answer` |
//! | `kz_log` | `system_id(u32 BE) \| seq(u64 BE)` | `1 \| time_ms(u64) \| command \| code \| ticket(u64) \| shift(u32) \| req_len(u32) \| request \| answer` |
//! | `kz_log` | `FF FF FF FF \| 1 \| rnm_len(u8) \| rnm \| ticket(u64 BE)` | `system_id(u32 BE) \| seq(u64 BE)` |
//! | `meta` | `kz_next_id` | `u32 BE`, the next system ID to issue |
//!
//! The second `kz_log` row is the ticket index of the public receipt check: a receipt's QR code
//! names the register by its registration number (RNM) and the ticket by the number the OFD
//! gave it, and finding it must not scan. It lives in `kz_log` rather than a new column family
//! so a store written before it opens (read-only tools too) unchanged; its first four bytes
//! are a system ID never issued (`kz_create` stops before `u32::MAX`), so a register's log
//! range never reaches it. Written in the exchange's own batch, it is exactly as durable as the
//! ticket. Exchanges logged before the index existed are not in it (not found by the check).

use std::sync::PoisonError;

use bytes::Bytes;
use rocksdb::{ColumnFamily, Direction, IteratorMode, WriteBatch};

use crate::command::Command;
use crate::db::DbRef;
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::options::{CF_KZ_KKM, CF_KZ_LOG, CF_META};
use crate::store::Store;

const META_KZ_NEXT_ID: &[u8] = b"kz_next_id";
/// The first system ID issued (IDs look like the operators' portals show them: five digits).
pub const FIRST_SYSTEM_ID: u32 = 10_001;
const RECORD_VERSION: u8 = 1;
/// A record that names the cluster's revision of it (`kz_replica.rs`); a store without a
/// cluster writes version 1 only, so it still opens with a release that predates clusters.
const RECORD_VERSION_REVISED: u8 = 2;

/// A Kazakh register as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KzRecord {
    pub system_id: u32,
    pub created_at_ms: u64,
    /// The sequence number the next log entry of this register gets (from 1).
    pub log_next: u64,
    /// The protocol state (opaque: the daemon's serialised `RegisterFacts`).
    pub state: Vec<u8>,
    /// The answer to the last state-changing request: what a retry of it gets, byte for byte.
    pub last_answer: Vec<u8>,
    /// Cluster mode: the position of this version in the cluster's stream of Kazakh register
    /// changes (`kz_replica.rs`); 0 without a cluster.
    pub revision: u64,
}

/// One exchange to make durable, owned so it can queue to the committer.
#[derive(Debug, Clone)]
pub struct KzWrite {
    pub system_id: u32,
    /// The register's new state and the answer a retry must get; `None` keeps both as they are
    /// (an answer that changed nothing, e.g. a wrong token).
    pub state: Option<Vec<u8>>,
    /// The request exactly as received.
    pub request: Bytes,
    /// The answer exactly as it will be sent.
    pub answer: Bytes,
    /// Daemon clock when the request arrived.
    pub received_at_ms: u64,
    pub command: u8,
    pub code: u8,
    /// The ticket number the answer assigned, if any.
    pub ticket_number: Option<u64>,
    /// The shift the exchange belongs to, if any.
    pub shift: Option<u32>,
    /// The register's own document time (local time as Unix seconds) for liveness, if the
    /// request carried one; the receipt time otherwise.
    pub doc_time: Option<u32>,
    /// Give the exchange an outbox entry, so exporters publish it.
    pub export: bool,
    /// The register's registration number (RNM), named for an accepted ticket only: with
    /// `ticket_number` it indexes the exchange for the public receipt check.
    pub registration_number: Option<String>,
    /// Cluster mode: the register's record after this exchange, as the cluster's stream took it
    /// (its revision, its log position: the exchange is logged at `log_next - 1`). It replaces
    /// the local record instead of being derived from it (`state` is then ignored).
    pub replicated: Option<Box<KzRecord>>,
}

/// Where a committed exchange landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KzCommitted {
    /// Its sequence number in the register's log.
    pub log_seq: u64,
    /// Its outbox sequence number, when exported.
    pub outbox_seq: Option<u64>,
}

/// One logged exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KzLogEntry {
    pub system_id: u32,
    pub seq: u64,
    pub received_at_ms: u64,
    pub command: u8,
    pub code: u8,
    pub ticket_number: Option<u64>,
    pub shift: Option<u32>,
    pub request: Vec<u8>,
    pub answer: Vec<u8>,
}

pub(crate) fn log_key(system_id: u32, seq: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&system_id.to_be_bytes());
    k[4..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// First bytes of a ticket index key: a system ID that is never issued.
const TICKET_INDEX: [u8; 5] = [0xFF, 0xFF, 0xFF, 0xFF, 1];

/// The ticket index key of (RNM, ticket number); `None` for an RNM over 255 bytes (not a real
/// one: those are 12 digits), which is then simply not indexed.
pub(crate) fn ticket_key(registration_number: &str, ticket_number: u64) -> Option<Vec<u8>> {
    let len = u8::try_from(registration_number.len()).ok()?;
    let mut k = Vec::with_capacity(TICKET_INDEX.len() + 1 + registration_number.len() + 8);
    k.extend_from_slice(&TICKET_INDEX);
    k.push(len);
    k.extend_from_slice(registration_number.as_bytes());
    k.extend_from_slice(&ticket_number.to_be_bytes());
    Some(k)
}

/// The ticket index entry of an exchange: `(key, system_id | seq)`, when it names both.
pub(crate) fn ticket_entry(x: &KzWrite, log_seq: u64) -> Option<(Vec<u8>, [u8; 12])> {
    let key = ticket_key(x.registration_number.as_deref()?, x.ticket_number?)?;
    Some((key, log_key(x.system_id, log_seq)))
}

pub(crate) fn encode_record(r: &KzRecord) -> Result<Vec<u8>, StoreError> {
    let state_len = u32::try_from(r.state.len())
        .map_err(|_| StoreError::InvalidInput("KZ register state over 4 GiB".into()))?;
    let mut v = Vec::with_capacity(29 + r.state.len() + r.last_answer.len());
    if r.revision == 0 {
        v.push(RECORD_VERSION);
    } else {
        v.push(RECORD_VERSION_REVISED);
        v.extend_from_slice(&r.revision.to_be_bytes());
    }
    v.extend_from_slice(&r.created_at_ms.to_be_bytes());
    v.extend_from_slice(&r.log_next.to_be_bytes());
    v.extend_from_slice(&state_len.to_be_bytes());
    v.extend_from_slice(&r.state);
    v.extend_from_slice(&r.last_answer);
    Ok(v)
}

/// Reads big-endian integers off the front of a slice; `None` when it runs out.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

pub(crate) fn decode_record(system_id: u32, v: &[u8]) -> Option<KzRecord> {
    let mut r = Reader(v);
    let revision = match r.u8()? {
        RECORD_VERSION => 0,
        RECORD_VERSION_REVISED => r.u64()?,
        _ => return None,
    };
    let created_at_ms = r.u64()?;
    let log_next = r.u64()?;
    let state_len = usize::try_from(r.u32()?).ok()?;
    let state = r.take(state_len)?.to_vec();
    Some(KzRecord {
        system_id,
        created_at_ms,
        log_next,
        state,
        last_answer: r.0.to_vec(),
        revision,
    })
}

pub(crate) fn encode_log(x: &KzWrite) -> Result<Vec<u8>, StoreError> {
    encode_log_entry(&KzLogEntry {
        system_id: x.system_id,
        seq: 0,
        received_at_ms: x.received_at_ms,
        command: x.command,
        code: x.code,
        ticket_number: x.ticket_number,
        shift: x.shift,
        request: x.request.to_vec(),
        answer: x.answer.to_vec(),
    })
}

/// A log entry's value (its key holds the system ID and the sequence number).
pub(crate) fn encode_log_entry(x: &KzLogEntry) -> Result<Vec<u8>, StoreError> {
    let req_len = u32::try_from(x.request.len())
        .map_err(|_| StoreError::InvalidInput("KZ request over 4 GiB".into()))?;
    let mut v = Vec::with_capacity(31 + x.request.len() + x.answer.len());
    v.push(RECORD_VERSION);
    v.extend_from_slice(&x.received_at_ms.to_be_bytes());
    v.push(x.command);
    v.push(x.code);
    v.extend_from_slice(&x.ticket_number.unwrap_or(0).to_be_bytes());
    v.extend_from_slice(&x.shift.unwrap_or(0).to_be_bytes());
    v.extend_from_slice(&req_len.to_be_bytes());
    v.extend_from_slice(&x.request);
    v.extend_from_slice(&x.answer);
    Ok(v)
}

pub(crate) fn decode_log(key: &[u8], v: &[u8]) -> Option<KzLogEntry> {
    let mut k = Reader(key);
    let (system_id, seq) = (k.u32()?, k.u64()?);
    let mut r = Reader(v);
    if r.u8()? != RECORD_VERSION {
        return None;
    }
    let received_at_ms = r.u64()?;
    let command = r.u8()?;
    let code = r.u8()?;
    let ticket = r.u64()?;
    let shift = r.u32()?;
    let req_len = usize::try_from(r.u32()?).ok()?;
    let request = r.take(req_len)?.to_vec();
    Some(KzLogEntry {
        system_id,
        seq,
        received_at_ms,
        command,
        code,
        ticket_number: (ticket != 0).then_some(ticket),
        shift: (shift != 0).then_some(shift),
        request,
        answer: r.0.to_vec(),
    })
}

/// The register with this system ID, read from `kz_kkm`.
pub(crate) fn read_record(
    db: &DbRef,
    cf: &ColumnFamily,
    system_id: u32,
) -> Result<Option<KzRecord>, StoreError> {
    let Some(v) = db
        .get_pinned_cf(cf, system_id.to_be_bytes())
        .map_err(|e| StoreError::db("kz_kkm read", e))?
    else {
        return Ok(None);
    };
    decode_record(system_id, &v)
        .map(Some)
        .ok_or_else(|| StoreError::CorruptRecord {
            cf: CF_KZ_KKM,
            what: "KZ register",
            key: system_id.to_string(),
            reason: "undecodable record".into(),
        })
}

/// The next system ID this node would issue (`meta` `kz_next_id`).
pub(crate) fn read_next_id(db: &DbRef) -> Result<u32, StoreError> {
    match db
        .get_cf(db.cf(CF_META)?, META_KZ_NEXT_ID)
        .map_err(|e| StoreError::db("kz_next_id read", e))?
    {
        Some(v) => Ok(u32::from_be_bytes(v.as_slice().try_into().map_err(
            |_| StoreError::CorruptRecord {
                cf: CF_META,
                what: "kz_next_id",
                key: "kz_next_id".into(),
                reason: "not 4 bytes".into(),
            },
        )?)),
        None => Ok(FIRST_SYSTEM_ID),
    }
}

/// Stages `kz_next_id` past `system_id` when it is not yet (a register another node issued).
pub(crate) fn stage_next_id_past(
    db: &DbRef,
    batch: &mut WriteBatch,
    system_id: u32,
) -> Result<(), StoreError> {
    if read_next_id(db)? <= system_id {
        let following = system_id
            .checked_add(1)
            .ok_or_else(|| StoreError::InvalidInput("system IDs exhausted".into()))?;
        batch.put_cf(db.cf(CF_META)?, META_KZ_NEXT_ID, following.to_be_bytes());
    }
    Ok(())
}

impl Store {
    /// Registers a new Kazakh register: issues the next system ID, asks `make_state` for its
    /// initial state (which names the ID), and stores both durably with its owner's index entry
    /// (`owners.rs`). Returns the ID.
    pub fn kz_create(
        &self,
        created_at_ms: u64,
        owner: &crate::owners::Owner,
        make_state: impl FnOnce(u32) -> Vec<u8>,
    ) -> Result<u32, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        // IDs are issued one at a time (registration is rare; this is not the ingest path).
        let _issuing = shared
            .kz_issue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let meta = db.cf(CF_META)?;
        let next = read_next_id(&db)?;
        let following = next
            .checked_add(1)
            .ok_or_else(|| StoreError::InvalidInput("system IDs exhausted".into()))?;
        let record = KzRecord {
            system_id: next,
            created_at_ms,
            log_next: 1,
            state: make_state(next),
            last_answer: Vec::new(),
            revision: 0,
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(
            db.cf(CF_KZ_KKM)?,
            next.to_be_bytes(),
            encode_record(&record)?,
        );
        batch.put_cf(meta, META_KZ_NEXT_ID, following.to_be_bytes());
        shared.stage_owner(
            &db,
            &mut batch,
            crate::owners::RegisterRef::Kkm(next),
            owner,
        )?;
        shared.write(batch)?;
        Ok(next)
    }

    /// The register with this system ID.
    pub fn kz_get(&self, system_id: u32) -> Result<Option<KzRecord>, StoreError> {
        let db = self.shared().db()?;
        read_record(&db, db.cf(CF_KZ_KKM)?, system_id)
    }

    /// Replaces a register's state outside an exchange (the operator issuing a token, blocking,
    /// deregistering), durably. The stored answer for retries is kept.
    pub fn kz_put_state(&self, system_id: u32, state: &[u8]) -> Result<(), StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let mut record = self
            .kz_get(system_id)?
            .ok_or_else(|| StoreError::NotFound(format!("KZ register {system_id}")))?;
        record.state = state.to_vec();
        let mut batch = WriteBatch::default();
        batch.put_cf(
            db.cf(CF_KZ_KKM)?,
            system_id.to_be_bytes(),
            encode_record(&record)?,
        );
        shared.write(batch)
    }

    /// Makes one exchange durable (state, retry answer, log entry, outbox entry, liveness).
    /// Resolves after the batch holding it is synced; at once with `StoreError::Unavailable`
    /// while the store is degraded. The caller sends the answer only after it resolves `Ok`.
    pub fn kz_commit(&self, x: KzWrite) -> StoreFuture<KzCommitted> {
        self.submit_write(|r| Command::Kz(Box::new(x), r))
    }

    /// One logged exchange.
    pub fn kz_log_entry(
        &self,
        system_id: u32,
        log_seq: u64,
    ) -> Result<Option<KzLogEntry>, StoreError> {
        let db = self.shared().db()?;
        let key = log_key(system_id, log_seq);
        let Some(v) = db
            .get_pinned_cf(db.cf(CF_KZ_LOG)?, key)
            .map_err(|e| StoreError::db("kz_log read", e))?
        else {
            return Ok(None);
        };
        decode_log(&key, &v)
            .map(Some)
            .ok_or_else(|| StoreError::CorruptRecord {
                cf: CF_KZ_LOG,
                what: "KZ log entry",
                key: crate::error::hex(&key),
                reason: "undecodable entry".into(),
            })
    }

    /// The exchange that got ticket `ticket_number` on the register registered as
    /// `registration_number`: `(system_id, log_seq)`, one point read of the ticket index.
    pub fn kz_find_ticket(
        &self,
        registration_number: &str,
        ticket_number: u64,
    ) -> Result<Option<(u32, u64)>, StoreError> {
        let Some(key) = ticket_key(registration_number, ticket_number) else {
            return Ok(None);
        };
        let db = self.shared().db()?;
        let Some(v) = db
            .get_pinned_cf(db.cf(CF_KZ_LOG)?, &key)
            .map_err(|e| StoreError::db("kz ticket index read", e))?
        else {
            return Ok(None);
        };
        let mut r = Reader(&v);
        match (r.u32(), r.u64(), r.0.is_empty()) {
            (Some(id), Some(seq), true) => Ok(Some((id, seq))),
            _ => Err(StoreError::CorruptRecord {
                cf: CF_KZ_LOG,
                what: "KZ ticket index entry",
                key: crate::error::hex(&key),
                reason: "not 12 bytes".into(),
            }),
        }
    }

    /// Registers in system-ID order, from `after` (exclusive), at most `limit`.
    pub fn kz_list(&self, after: Option<u32>, limit: usize) -> Result<Vec<KzRecord>, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let start = after.map_or(0, |a| a.saturating_add(1)).to_be_bytes();
        let iter = db.iterator_cf(
            db.cf(CF_KZ_KKM)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| StoreError::db("kz_kkm scan", e))?;
            let id = <[u8; 4]>::try_from(&*k).map(u32::from_be_bytes).ok();
            match id.and_then(|id| decode_record(id, &v)) {
                Some(r) => out.push(r),
                None => {
                    return Err(StoreError::CorruptRecord {
                        cf: CF_KZ_KKM,
                        what: "KZ register",
                        key: crate::error::hex(&k),
                        reason: "undecodable record".into(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// A register's exchanges in order, after log sequence `after` (exclusive), at most `limit`.
    pub fn kz_log(
        &self,
        system_id: u32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<KzLogEntry>, StoreError> {
        let shared = self.shared();
        let db = shared.db()?;
        let start = log_key(system_id, after.saturating_add(1));
        let iter = db.iterator_cf(
            db.cf(CF_KZ_LOG)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| StoreError::db("kz_log scan", e))?;
            if k.get(..4) != Some(&system_id.to_be_bytes()[..]) {
                break;
            }
            out.push(decode_log(&k, &v).ok_or_else(|| StoreError::CorruptRecord {
                cf: CF_KZ_LOG,
                what: "KZ log entry",
                key: crate::error::hex(&k),
                reason: "undecodable entry".into(),
            })?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_log_round_trip() {
        let r = KzRecord {
            system_id: 10_001,
            created_at_ms: 5,
            log_next: 7,
            state: b"{\"s\":1}".to_vec(),
            last_answer: vec![0xA2, 0x81, 1],
            revision: 0,
        };
        assert_eq!(encode_record(&r).unwrap()[0], RECORD_VERSION);
        assert_eq!(
            decode_record(10_001, &encode_record(&r).unwrap()),
            Some(r.clone())
        );
        let revised = KzRecord { revision: 99, ..r };
        assert_eq!(encode_record(&revised).unwrap()[0], RECORD_VERSION_REVISED);
        assert_eq!(
            decode_record(10_001, &encode_record(&revised).unwrap()),
            Some(revised)
        );
        assert_eq!(decode_record(1, &[2, 0, 0]), None);
        let x = KzWrite {
            system_id: 9,
            state: None,
            request: Bytes::from_static(b"req"),
            answer: Bytes::from_static(b"ans"),
            received_at_ms: 1_700_000_000_000,
            command: 1,
            code: 0,
            ticket_number: Some(42),
            shift: Some(3),
            doc_time: None,
            export: false,
            registration_number: Some("010100012345".into()),
            replicated: None,
        };
        let e = decode_log(&log_key(9, 4), &encode_log(&x).unwrap()).unwrap();
        assert_eq!(
            (
                e.system_id,
                e.seq,
                e.ticket_number,
                e.shift,
                &e.request[..],
                &e.answer[..]
            ),
            (9, 4, Some(42), Some(3), &b"req"[..], &b"ans"[..])
        );
        assert_eq!(decode_log(&log_key(9, 4), &[1, 2]), None);
        let (key, value) = ticket_entry(&x, 4).unwrap();
        assert_eq!(value, log_key(9, 4));
        assert_eq!(Some(key.clone()), ticket_key("010100012345", 42));
        // Never inside a register's log range, whatever the register.
        assert!(key[..4] > (u32::MAX - 1).to_be_bytes()[..]);
        assert_eq!(ticket_key(&"9".repeat(256), 1), None);
        let unnamed = KzWrite {
            registration_number: None,
            ..x
        };
        assert_eq!(ticket_entry(&unnamed, 4), None);
    }
}
