//! Requests for a wired connection ("заявка на подключение"): a taxpayer asks for a technician
//! to connect a register by wire (date, time, contact, phone, comment); the operator's staff
//! work through the queue, and the status they set is what the customer sees.
//!
//! Reached by tenants only through `Scoped` (a request names a register in the caller's scope;
//! a tenant lists only its organisations' requests); the whole queue is the operator's.

use serde::{Deserialize, Serialize};

use super::{get, key};
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::options::CF_ACCOUNTS;
use crate::store::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for the operator.
    New,
    /// A visit is agreed.
    Scheduled,
    /// Connected.
    Done,
    /// Withdrawn or refused (the staff note says why).
    Cancelled,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::New => "new",
            RequestStatus::Scheduled => "scheduled",
            RequestStatus::Done => "done",
            RequestStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RequestStatus> {
        [
            RequestStatus::New,
            RequestStatus::Scheduled,
            RequestStatus::Done,
            RequestStatus::Cancelled,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// What the customer asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConnectionRequest {
    /// The register (RN, or a Kazakh system ID).
    pub register: String,
    /// `yyyy-mm-dd`.
    pub date: String,
    /// `hh:mm`.
    pub time: String,
    pub contact: String,
    pub phone: String,
    pub comment: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRequest {
    pub id: u64,
    /// The register owner's INN.
    pub org: String,
    #[serde(flatten)]
    pub request: NewConnectionRequest,
    pub status: RequestStatus,
    /// What the operator tells the customer.
    #[serde(default)]
    pub staff_note: String,
    pub created_by: String,
    pub created_at: u64,
    pub updated_at: u64,
}

fn record_key(id: u64) -> Vec<u8> {
    let mut k = vec![b'W'];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn org_key(org: &str, id: u64) -> Vec<u8> {
    let mut k = key(b'w', &[org.as_bytes(), b""]);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl Store {
    /// Files a request for `org`'s register; durable before it resolves. Callers check the
    /// register is in scope (`Scoped::request_connection`).
    pub(crate) fn file_connection_request(
        &self,
        org: String,
        request: NewConnectionRequest,
        created_by: String,
        now: u64,
    ) -> StoreFuture<ConnectionRequest> {
        self.accounts_tx(move |tx| {
            let cf = tx.db.cf(CF_ACCOUNTS)?;
            let mut it = tx.db.raw_iterator_cf(cf);
            it.seek_for_prev(b"W\xff");
            let last = match it.key() {
                Some(k) if k.first() == Some(&b'W') && k.len() == 9 => {
                    u64::from_be_bytes(k[1..].try_into().unwrap_or([0; 8]))
                }
                _ => 0,
            };
            it.status().map_err(|e| StoreError::db("request seek", e))?;
            drop(it);
            let r = ConnectionRequest {
                id: last + 1,
                org: org.clone(),
                request,
                status: RequestStatus::New,
                staff_note: String::new(),
                created_by,
                created_at: now,
                updated_at: now,
            };
            tx.put(&record_key(r.id), &r)?;
            tx.put_raw(&org_key(&org, r.id), b"")?;
            Ok(r)
        })
    }

    pub(crate) fn connection_request(
        &self,
        id: u64,
    ) -> Result<Option<ConnectionRequest>, StoreError> {
        get(&self.shared().db()?, &record_key(id))
    }

    /// Requests of one organisation (`Some`) or all (`None`), newest first, at most `limit`.
    pub(crate) fn connection_requests(
        &self,
        org: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ConnectionRequest>, StoreError> {
        let db = self.shared().db()?;
        // Newest first: a backward scan from the end of the prefix, `limit` keys, never the
        // whole list.
        let prefix = match org {
            Some(o) => key(b'w', &[o.as_bytes(), b""]),
            None => b"W".to_vec(),
        };
        let mut ids = Vec::new();
        let mut it = db.raw_iterator_cf(db.cf(CF_ACCOUNTS)?);
        let mut end = prefix.clone();
        end.extend_from_slice(&[0xff; 9]);
        it.seek_for_prev(&end);
        while let Some(k) = it.key() {
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            if ids.len() >= limit {
                break;
            }
            if let Ok(b) = <[u8; 8]>::try_from(rest) {
                ids.push(u64::from_be_bytes(b));
            }
            it.prev();
        }
        it.status()
            .map_err(|e| StoreError::db("connection requests scan", e))?;
        drop(it);
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = get::<ConnectionRequest>(&db, &record_key(id))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The operator moves a request on (staff only: callers check).
    pub fn set_connection_request_status(
        &self,
        id: u64,
        status: RequestStatus,
        staff_note: String,
        now: u64,
    ) -> StoreFuture<ConnectionRequest> {
        self.accounts_tx(move |tx| {
            let mut r: ConnectionRequest = tx
                .get(&record_key(id))?
                .ok_or_else(|| StoreError::NotFound(format!("connection request {id}")))?;
            r.status = status;
            r.staff_note = staff_note;
            r.updated_at = now;
            tx.put(&record_key(id), &r)?;
            Ok(r)
        })
    }
}
