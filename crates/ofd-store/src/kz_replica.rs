//! Kazakh registers in a cluster: every change of a register's record (its registration, an
//! operator's new token or block, every exchange) is one message of a replicated stream, and
//! every node copies every message into its own `kz_kkm` and `kz_log`.
//!
//! Unlike the registry (`replica.rs`), a Kazakh register changes with every exchange, so its
//! changes are not ordered cluster-wide: each register is ordered on its own. The daemon
//! publishes a change with compare-and-set **on that register alone** (the stream's last
//! message for the register must be the revision the change was computed from), and only then
//! commits it here; a node that lost the race reads the register's latest revision, copies it
//! ([`Store::kz_apply`]) and decides again. So a token rotated by an answer from node 1 is the
//! token node 2 checks, and a ticket number is never given twice.
//!
//! A message ([`encode_change`]) holds the register's whole record after the change and, for an
//! exchange, the exchange as logged (request and answer byte for byte, with the RNM that indexes
//! a ticket for the public receipt check). Its position in the stream is the record's
//! `revision`. The record's `log_next` numbers the exchanges, so log sequence numbers stay one
//! sequence for the register whichever node logged them.
//!
//! # What it must not do
//!
//! Nothing here speaks NATS; the daemon publishes, reads the latest revision and follows the
//! stream. Applying is idempotent: a record never goes back to an older revision, and an
//! exchange already logged (this node's own) is not logged or counted twice.

use rocksdb::WriteBatch;

use crate::command::Command;
use crate::db::Shared;
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::keys::LiveKey;
use crate::kz::{KzLogEntry, KzRecord, KzWrite, Reader};
use crate::options::{CF_KZ_KKM, CF_KZ_LOG, CF_LIVENESS, CF_META};
use crate::store::Store;

const CHANGE_VERSION: u8 = 1;

/// Where in `meta` the position of the last message the follower applied is kept (`u64 BE`).
const META_KZ_STREAM_SEQ: &[u8] = b"kz_stream_seq";

/// One change of a Kazakh register, as the cluster's stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KzChange {
    /// The record after the change; its `revision` is the message's position in the stream.
    pub record: KzRecord,
    /// The exchange that made it, if any (logged at `record.log_next - 1`).
    pub exchange: Option<KzLogEntry>,
    /// The register's RNM when the exchange accepted a ticket (the receipt check's index).
    pub registration_number: Option<String>,
}

/// The message of a change: the record (without its revision, which is the message's
/// position), then the exchange, if any.
pub fn encode_change(record: &KzRecord, exchange: Option<&KzWrite>) -> Result<Vec<u8>, StoreError> {
    let body = crate::kz::encode_record(&KzRecord {
        revision: 0,
        ..record.clone()
    })?;
    let mut v = Vec::with_capacity(
        16 + body.len() + exchange.map_or(0, |x| 64 + x.request.len() + x.answer.len()),
    );
    v.push(CHANGE_VERSION);
    v.extend_from_slice(&record.system_id.to_be_bytes());
    push_len_prefixed(&mut v, &body)?;
    if let Some(x) = exchange {
        push_len_prefixed(&mut v, &crate::kz::encode_log(x)?)?;
        let rnm = x.registration_number.as_deref().unwrap_or("");
        let len = u8::try_from(rnm.len())
            .map_err(|_| StoreError::InvalidInput("registration number over 255 bytes".into()))?;
        v.push(len);
        v.extend_from_slice(rnm.as_bytes());
    }
    Ok(v)
}

fn push_len_prefixed(v: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| StoreError::InvalidInput("KZ change over 4 GiB".into()))?;
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(bytes);
    Ok(())
}

/// A change read back from the stream at position `revision`; the reason when it is damaged.
pub fn decode_change(revision: u64, bytes: &[u8]) -> Result<KzChange, String> {
    let mut r = Reader(bytes);
    match r.u8() {
        Some(CHANGE_VERSION) => {}
        Some(v) => return Err(format!("unknown KZ change version {v}")),
        None => return Err("empty KZ change".into()),
    }
    let system_id = r.u32().ok_or("KZ change without a system ID")?;
    let body_len = r.u32().and_then(|l| usize::try_from(l).ok());
    let body = body_len
        .and_then(|l| r.take(l))
        .ok_or("KZ change ends inside its record")?;
    let mut record = crate::kz::decode_record(system_id, body).ok_or("undecodable KZ record")?;
    record.revision = revision;
    if r.0.is_empty() {
        return Ok(KzChange {
            record,
            exchange: None,
            registration_number: None,
        });
    }
    let log_len = r.u32().and_then(|l| usize::try_from(l).ok());
    let log = log_len
        .and_then(|l| r.take(l))
        .ok_or("KZ change ends inside its exchange")?;
    let seq = record
        .log_next
        .checked_sub(1)
        .ok_or("an exchange before log position 1")?;
    let exchange = crate::kz::decode_log(&crate::kz::log_key(system_id, seq), log)
        .ok_or("undecodable KZ exchange")?;
    let rnm_len = r.u8().map(usize::from);
    let rnm = rnm_len
        .and_then(|l| r.take(l))
        .ok_or("KZ change ends inside its registration number")?;
    if !r.0.is_empty() {
        return Err("bytes after the KZ change".into());
    }
    let rnm = std::str::from_utf8(rnm).map_err(|_| "registration number not UTF-8")?;
    Ok(KzChange {
        record,
        exchange: Some(exchange),
        registration_number: (!rnm.is_empty()).then(|| rnm.to_owned()),
    })
}

impl Shared {
    /// Copies one change (`follower`: delivered by the stream's follower, whose position is
    /// then kept in the same synced batch). Returns whether anything was written.
    pub(crate) fn kz_apply(
        &self,
        change: &KzChange,
        position: Option<u64>,
    ) -> Result<bool, StoreError> {
        let db = self.db()?;
        let (kkm, log) = (db.cf(CF_KZ_KKM)?, db.cf(CF_KZ_LOG)?);
        let id = change.record.system_id;
        let mut batch = WriteBatch::default();
        let local = crate::kz::read_record(&db, kkm, id)?;
        if local.is_none_or(|l| l.revision < change.record.revision) {
            batch.put_cf(
                kkm,
                id.to_be_bytes(),
                crate::kz::encode_record(&change.record)?,
            );
        }
        crate::kz::stage_next_id_past(&db, &mut batch, id)?;
        let mut changes = Vec::new();
        if let Some(x) = &change.exchange {
            let key = crate::kz::log_key(id, x.seq);
            let logged = db
                .get_pinned_cf(log, key)
                .map_err(|e| StoreError::db("kz_log read", e))?
                .is_some();
            if !logged {
                batch.put_cf(log, key, crate::kz::encode_log_entry(x)?);
                if let Some(k) = change
                    .registration_number
                    .as_deref()
                    .zip(x.ticket_number)
                    .and_then(|(rnm, t)| crate::kz::ticket_key(rnm, t))
                {
                    batch.put_cf(log, k, key);
                }
                let live = LiveKey::Kz(id);
                let mut rec = self.liveness_read().get(&live).unwrap_or_default();
                let received = u32::try_from(x.received_at_ms / 1000).unwrap_or(u32::MAX);
                rec.apply_exchange(received, received, x.shift);
                batch.put_cf(db.cf(CF_LIVENESS)?, live.encode(), rec.encode());
                changes.push((live, Some(rec)));
            }
        }
        if let Some(p) = position {
            batch.put_cf(db.cf(CF_META)?, META_KZ_STREAM_SEQ, p.to_be_bytes());
        }
        if batch.is_empty() {
            return Ok(false);
        }
        if batch.len() == usize::from(position.is_some()) {
            // Only the position moved (most often this node's own change coming back): no fsync
            // for it. A crash that loses it only has the same changes applied again, which
            // changes nothing.
            self.write_unsynced(batch)?;
            return Ok(false);
        }
        self.commit_local(batch, changes)?;
        Ok(true)
    }
}

impl Store {
    /// Copies a change of a Kazakh register from the cluster's stream (another node's, or this
    /// node's own coming back): the record unless this node has a later revision, the exchange
    /// unless it is logged here already. `position`: the follower's position to keep with it.
    /// Resolves to whether anything was written besides the position.
    pub fn kz_apply(&self, change: KzChange, position: Option<u64>) -> StoreFuture<bool> {
        self.submit(|r| Command::KzApply(Box::new(change), position, r))
    }

    /// The position of the last message of the cluster's KZ stream the follower applied.
    pub fn kz_stream_position(&self) -> Result<u64, StoreError> {
        Ok(self.shared().meta_u64(META_KZ_STREAM_SEQ)?.unwrap_or(0))
    }

    /// The next system ID this node would issue: in cluster mode the daemon claims it in the
    /// stream (it may be taken; a copied register moves it on).
    pub fn kz_next_id(&self) -> Result<u32, StoreError> {
        crate::kz::read_next_id(&self.shared().db()?)
    }

    /// Cluster mode: stores a register the cluster's stream has just taken as new (`record`
    /// with its revision), with its owner's index entry through the registry's log, so every
    /// node sees whose it is. The caller checked the scope before claiming the ID
    /// ([`crate::Scoped::create_kkm_in_cluster`]).
    pub(crate) fn kz_adopt_created(
        &self,
        record: KzRecord,
        owner: crate::owners::Owner,
    ) -> StoreFuture<()> {
        self.accounts_tx(move |tx| {
            let id = record.system_id;
            let kkm = tx.db.cf(CF_KZ_KKM)?;
            let newer = crate::kz::read_record(&tx.db, kkm, id)?
                .is_none_or(|l| l.revision < record.revision);
            if newer {
                tx.batch
                    .put_cf(kkm, id.to_be_bytes(), crate::kz::encode_record(&record)?);
            }
            crate::kz::stage_next_id_past(&tx.db, &mut tx.batch, id)?;
            let db = tx.db.clone();
            tx.shared.stage_owner(
                &db,
                &mut tx.batch,
                crate::owners::RegisterRef::Kkm(id),
                &owner,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_change_round_trips_and_damage_is_named() {
        let record = KzRecord {
            system_id: 10_007,
            created_at_ms: 1,
            log_next: 5,
            state: vec![1, 2, 3],
            last_answer: vec![9],
            revision: 77,
        };
        let alone = encode_change(&record, None).unwrap();
        assert_eq!(
            decode_change(77, &alone).unwrap(),
            KzChange {
                record: record.clone(),
                exchange: None,
                registration_number: None
            }
        );
        let x = KzWrite {
            system_id: 10_007,
            state: None,
            request: Bytes::from_static(b"req"),
            answer: Bytes::from_static(b"ans"),
            received_at_ms: 1_700_000_000_000,
            command: 1,
            code: 0,
            ticket_number: Some(12),
            shift: Some(2),
            doc_time: None,
            export: true,
            registration_number: Some("010100012345".into()),
            replicated: None,
        };
        let with = encode_change(&record, Some(&x)).unwrap();
        let back = decode_change(78, &with).unwrap();
        assert_eq!(back.record.revision, 78);
        let e = back.exchange.unwrap();
        assert_eq!(
            (e.seq, e.ticket_number, &e.request[..], &e.answer[..]),
            (4, Some(12), &b"req"[..], &b"ans"[..])
        );
        assert_eq!(back.registration_number.as_deref(), Some("010100012345"));
        assert!(decode_change(1, &with[..with.len() - 1]).is_err());
        assert!(decode_change(1, &[9]).unwrap_err().contains("version 9"));
        assert!(decode_change(1, &[]).is_err());
    }
}
