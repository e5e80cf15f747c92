//! `GET /api/v1/audit?org=&actor=&action=&from=&to=&after=&limit=&format=json|csv`: the audit
//! log. The operator's staff and support read everything (or one organisation's); an
//! organisation's admin reads its own organisation's entries and nothing else.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ofd_store::accounts::{AuditEntry, AuditFilter};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::principal::{Auth, Need};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    org: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    from: Option<u64>,
    to: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
    format: Option<String>,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn entry_view(e: &AuditEntry) -> serde_json::Value {
    json!({
        "seq": e.seq, "at": e.at, "actor": e.actor, "actor_org": e.actor_org, "orgs": e.orgs,
        "addr": e.addr, "action": e.action, "target": e.target, "detail": e.detail,
    })
}

pub async fn list(
    auth: Auth,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    auth.require(Need::Read)?;
    let Query(q) = q?;
    let org = if auth.is_operator() {
        q.org.clone()
    } else {
        let home = auth.home_org().unwrap_or_default().to_string();
        let wanted = q.org.clone().unwrap_or_else(|| home.clone());
        auth.require_org_admin(&wanted, false)?;
        Some(wanted)
    };
    let csv = super::documents::wants_csv(q.format.as_deref())?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 10_000 {
        return Err(ApiError::bad_request("limit: must be within 1..=10000"));
    }
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        from: q.from,
        to: q.to,
        after: q.after,
        limit,
    };
    let entries = auth.app().store().audit_entries(org.as_deref(), &filter)?;
    if csv {
        let mut out = String::from("seq,at,actor,actor_org,orgs,addr,action,target,detail\n");
        for e in &entries {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                e.seq,
                e.at,
                csv_field(&e.actor),
                csv_field(e.actor_org.as_deref().unwrap_or("")),
                csv_field(&e.orgs.join(" ")),
                csv_field(&e.addr),
                csv_field(&e.action),
                csv_field(&e.target),
                csv_field(&e.detail.to_string()),
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(json!({
        "items": entries.iter().map(entry_view).collect::<Vec<_>>(),
        "next_after": next,
    }))
    .into_response())
}
