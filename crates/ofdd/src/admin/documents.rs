//! `/api/v1/documents` and `/api/v1/kkt/{rn}/documents`: reading the log back — one document as
//! FNS JSON or as the exact bytes received, or a register's documents filtered by time, FD range
//! or shift as JSON or CSV.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ofd_proto::json::message_to_fns_json;
use ofd_proto::message::parse_message;
use ofd_store::{DocFlags, FnNumber, Outcome, RegisterQuery, StoredDocument};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::kkt::parse_rn;
use super::principal::{Auth, Need};

const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocsQuery {
    /// Document time (tag 1012) from, unix seconds, inclusive.
    from: Option<u32>,
    /// Document time to, inclusive.
    to: Option<u32>,
    shift: Option<u32>,
    /// Restrict to one FN (FD numbers restart with every FN), optionally an FD range.
    #[serde(rename = "fn")]
    fn_number: Option<String>,
    fd_from: Option<u32>,
    fd_to: Option<u32>,
    format: Option<String>,
    limit: Option<usize>,
}

/// `format=json` (the default) or `format=csv`: whether CSV was asked for.
pub fn wants_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "format: {other:?} is not json or csv"
        ))),
    }
}

fn parse_fn(s: &str) -> Result<FnNumber, ApiError> {
    FnNumber::new(s.as_bytes()).map_err(|e| ApiError::bad_request(format!("fn: {e}")))
}

fn parse_fd(s: &str) -> Result<u32, ApiError> {
    s.parse::<u32>()
        .map_err(|_| ApiError::bad_request(format!("fd: {s:?} is not a document number")))
}

fn outcome_str(o: Outcome) -> String {
    match o {
        Outcome::Accepted => "accepted".into(),
        Outcome::Rejected { code } => format!("rejected:{code}"),
        Outcome::EncryptedUnacknowledged => "encrypted_unacknowledged".into(),
    }
}

fn summary(d: &StoredDocument) -> Value {
    let h = &d.header;
    json!({
        "fn": d.key.fn_number.as_str(),
        "fd": d.key.fd,
        "rn": h.rn.map(|r| r.as_str().to_string()),
        "doc_type": h.doc_type,
        "ffd": h.ffd,
        "doc_time": h.doc_time,
        "received_at_ms": h.received_at_ms,
        "shift": h.shift,
        "outcome": outcome_str(h.outcome),
        "encrypted": h.flags.contains(DocFlags::ENCRYPTED),
        "unknown_fn": h.flags.contains(DocFlags::UNKNOWN_FN),
        "size": d.raw.len(),
    })
}

/// `GET /api/v1/documents/{fn}/{fd}`: header, FNS JSON of the document, the acknowledgement sent.
pub async fn one(
    auth: Auth,
    Path((fn_s, fd_s)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let doc = fetch(&auth, &fn_s, &fd_s)?;
    let mut out = summary(&doc);
    // Encrypted bodies are not TLV: they are served raw only.
    let document = match parse_message(&doc.raw).and_then(|m| message_to_fns_json(&m)) {
        Ok(json) if !doc.header.flags.contains(DocFlags::ENCRYPTED) => json,
        _ => Value::Null,
    };
    out["document"] = document;
    out["ack"] = Value::String(B64.encode(&doc.ack));
    Ok(Json(out))
}

/// `GET /api/v1/documents/{fn}/{fd}/raw`: the exact bytes received.
pub async fn raw(
    auth: Auth,
    Path((fn_s, fd_s)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let doc = fetch(&auth, &fn_s, &fd_s)?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        doc.raw,
    )
        .into_response())
}

fn fetch(auth: &Auth, fn_s: &str, fd_s: &str) -> Result<StoredDocument, ApiError> {
    auth.require(Need::Read)?;
    let fn_number = parse_fn(fn_s)?;
    let fd = parse_fd(fd_s)?;
    auth.store().document(&fn_number, fd)?.ok_or_else(|| {
        ApiError::not_found(format!("no document FN {} FD {fd}", fn_number.as_str()))
    })
}

/// `GET /api/v1/kkt/{rn}/documents?from=&to=&shift=&fn=&fd_from=&fd_to=&format=json|csv&limit=`
pub async fn of_register(
    auth: Auth,
    Path(rn): Path<String>,
    q: Result<Query<DocsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    auth.require(Need::Read)?;
    let rn = parse_rn(&rn)?;
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit: must be within 1..={MAX_LIMIT}"
        )));
    }
    let csv = wants_csv(q.format.as_deref())?;
    let doc_time = match (q.from, q.to) {
        (None, None) => None,
        (from, to) => {
            let (from, to) = (from.unwrap_or(0), to.unwrap_or(u32::MAX));
            if from > to {
                return Err(ApiError::bad_request("from: must not be after to"));
            }
            Some(from..=to)
        }
    };
    let fn_number = q.fn_number.as_deref().map(parse_fn).transpose()?;
    let fd = match (q.fd_from, q.fd_to) {
        (None, None) => None,
        _ if fn_number.is_none() => {
            return Err(ApiError::bad_request(
                "fd_from/fd_to need fn (FD numbers restart with every FN)",
            ));
        }
        (from, to) => Some(from.unwrap_or(0)..=to.unwrap_or(u32::MAX)),
    };
    let query = RegisterQuery {
        fn_number,
        fd,
        doc_time,
        shift: q.shift,
    };
    let store = auth.store();
    let docs = store.documents_of(&rn, query)?;
    if csv {
        let mut out =
            String::from("fn,fd,doc_type,doc_time,received_at_ms,shift,outcome,encrypted,size\n");
        for d in docs.take(limit) {
            let d = d?;
            let h = &d.header;
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                d.key.fn_number.as_str(),
                d.key.fd,
                h.doc_type,
                h.doc_time,
                h.received_at_ms,
                h.shift.map(|s| s.to_string()).unwrap_or_default(),
                outcome_str(h.outcome),
                h.flags.contains(DocFlags::ENCRYPTED),
                d.raw.len()
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    let mut items = Vec::new();
    for d in docs.take(limit) {
        items.push(summary(&d?));
    }
    Ok(Json(json!({ "rn": rn.as_str(), "count": items.len(), "items": items })).into_response())
}
