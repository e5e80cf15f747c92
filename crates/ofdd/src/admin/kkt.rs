//! `/api/v1/kkt`: the register registry — register, list, show, edit, deregister, credentials,
//! and per-register liveness. Identifiers are verified the way the tax service does: INN check
//! digits, and the RN's six check digits against INN and KKT serial.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ofd_proto::checks::{verify_inn, verify_rn};
use ofd_store::{ConnectionType, FnNumber, KktFilter, KktPatch, KktRecord, KktStatus, NewKkt, Rn};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::principal::{Auth, Need};
use crate::clock::unix_now;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    rn: String,
    serial: String,
    #[serde(rename = "fn")]
    fn_number: Option<String>,
    inn: String,
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    place: String,
    connection: ConnectionType,
    #[serde(default)]
    tariff: String,
    /// `registered` (default) or `saved` (a draft not yet confirmed).
    #[serde(default)]
    status: Option<KktStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    serial: Option<String>,
    inn: Option<String>,
    name: Option<String>,
    address: Option<String>,
    place: Option<String>,
    connection: Option<ConnectionType>,
    tariff: Option<String>,
    status: Option<KktStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<KktStatus>,
    name: Option<String>,
    rn: Option<String>,
    connection: Option<ConnectionType>,
    registered_from: Option<u64>,
    registered_to: Option<u64>,
    after: Option<String>,
    limit: Option<usize>,
}

const MAX_PAGE: usize = 1000;
const MAX_TEXT: usize = 256;

pub fn parse_rn(rn: &str) -> Result<Rn, ApiError> {
    Rn::new(rn.as_bytes()).map_err(|e| ApiError::bad_request(format!("rn: {e}")))
}

fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::unprocessable(format!(
            "{field}: longer than {MAX_TEXT} characters"
        )));
    }
    Ok(())
}

fn check_inn(inn: &str) -> Result<(), ApiError> {
    verify_inn(inn.as_bytes()).map_err(|e| ApiError::unprocessable(format!("inn {inn:?}: {e}")))
}

pub async fn register(
    auth: Auth,
    body: Result<Json<RegisterBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Need::Write)?;
    let Json(b) = body?;
    let rn = parse_rn(&b.rn)?;
    check_inn(&b.inn)?;
    if b.serial.is_empty()
        || b.serial.len() > 20
        || !b.serial.bytes().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::unprocessable(
            "serial: 1 to 20 ASCII letters or digits",
        ));
    }
    verify_rn(rn.as_bytes(), b.inn.as_bytes(), b.serial.as_bytes())
        .map_err(|e| ApiError::unprocessable(format!("rn {}: {e} (RN check digits are computed from the RN sequence, the INN and the KKT serial)", b.rn)))?;
    let fn_number = b
        .fn_number
        .as_deref()
        .map(|f| {
            FnNumber::new(f.as_bytes()).map_err(|e| ApiError::unprocessable(format!("fn: {e}")))
        })
        .transpose()?;
    for (field, value) in [
        ("name", &b.name),
        ("address", &b.address),
        ("place", &b.place),
        ("tariff", &b.tariff),
    ] {
        check_text(field, value)?;
    }
    if b.name.trim().is_empty() {
        return Err(ApiError::unprocessable("name: must not be empty"));
    }
    let status = b.status.unwrap_or(KktStatus::Registered);
    if status == KktStatus::Deregistered {
        return Err(ApiError::unprocessable(
            "status: a new register cannot start deregistered",
        ));
    }
    let record = auth
        .store()
        .register_kkt(
            NewKkt {
                rn,
                kkt_serial: b.serial,
                fn_number,
                user_inn: b.inn,
                user_name: b.name,
                address: b.address,
                place: b.place,
                connection: b.connection,
                tariff: b.tariff,
                status,
                encrypted: false,
            },
            u64::from(unix_now()),
        )
        .await?;
    auth.audit(
        "register.create",
        record.rn.as_str(),
        &[record.user_inn.trim()],
        view(&record),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&record))))
}

pub async fn list(
    auth: Auth,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit: must be within 1..={MAX_PAGE}"
        )));
    }
    if let Some(prefix) = &q.rn
        && (prefix.len() > 16 || !prefix.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(ApiError::bad_request("rn: a prefix of at most 16 digits"));
    }
    let filter = KktFilter {
        status: q.status,
        name_contains: q.name,
        rn_prefix: q.rn,
        connection: q.connection,
        registered_from: q.registered_from,
        registered_to: q.registered_to,
        after: q.after.as_deref().map(parse_rn).transpose()?,
        limit,
    };
    let page = auth.store().list_kkt(&filter)?;
    Ok(Json(json!({
        "items": page.items.iter().map(view).collect::<Vec<_>>(),
        "next": page.next.map(|rn| rn.as_str().to_string()),
    })))
}

pub async fn show(auth: Auth, Path(rn): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    let rn = parse_rn(&rn)?;
    match auth.store().kkt(&rn)? {
        Some(r) => Ok(Json(view(&r))),
        None => Err(ApiError::not_found(format!(
            "register {} is not in the registry",
            rn.as_str()
        ))),
    }
}

pub async fn update(
    auth: Auth,
    Path(rn): Path<String>,
    body: Result<Json<PatchBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Write)?;
    let rn = parse_rn(&rn)?;
    let Json(b) = body?;
    if let Some(inn) = &b.inn {
        check_inn(inn)?;
    }
    for (field, value) in [
        ("name", &b.name),
        ("address", &b.address),
        ("place", &b.place),
        ("tariff", &b.tariff),
    ] {
        if let Some(v) = value {
            check_text(field, v)?;
        }
    }
    if b.status == Some(KktStatus::Deregistered) {
        return Err(ApiError::unprocessable(
            "status: use POST /api/v1/kkt/{rn}/deregister to deregister",
        ));
    }
    // A changed INN or serial must still match the RN's check digits.
    if b.inn.is_some() || b.serial.is_some() {
        let current = auth.store().kkt(&rn)?.ok_or_else(|| {
            ApiError::not_found(format!("register {} is not in the registry", rn.as_str()))
        })?;
        let inn = b.inn.as_deref().unwrap_or(&current.user_inn);
        let serial = b.serial.as_deref().unwrap_or(&current.kkt_serial);
        verify_rn(rn.as_bytes(), inn.as_bytes(), serial.as_bytes()).map_err(|e| {
            ApiError::unprocessable(format!(
                "rn {} no longer matches INN and serial: {e}",
                rn.as_str()
            ))
        })?;
    }
    let patch = KktPatch {
        kkt_serial: b.serial,
        user_inn: b.inn,
        user_name: b.name,
        address: b.address,
        place: b.place,
        connection: b.connection,
        tariff: b.tariff,
        status: b.status,
        encrypted: None,
    };
    let before = auth.store().kkt(&rn)?;
    let record = auth
        .store()
        .update_kkt(rn, patch, u64::from(unix_now()))
        .await?;
    let mut orgs = vec![record.user_inn.trim()];
    if let Some(b) = &before
        && b.user_inn.trim() != record.user_inn.trim()
    {
        orgs.push(b.user_inn.trim());
    }
    auth.audit(
        "register.edit",
        rn.as_str(),
        &orgs,
        json!({ "before": before.as_ref().map(view), "after": view(&record) }),
    )
    .await?;
    Ok(Json(view(&record)))
}

pub async fn deregister(auth: Auth, Path(rn): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Write)?;
    let rn = parse_rn(&rn)?;
    let record = auth
        .store()
        .deregister_kkt(rn, u64::from(unix_now()))
        .await?;
    auth.audit(
        "register.deregister",
        rn.as_str(),
        &[record.user_inn.trim()],
        json!({}),
    )
    .await?;
    Ok(Json(view(&record)))
}

pub async fn token(auth: Auth, Path(rn): Path<String>) -> Result<impl IntoResponse, ApiError> {
    auth.require(Need::Write)?;
    let rn = parse_rn(&rn)?;
    let issued = auth
        .store()
        .issue_kkt_token(rn, u64::from(unix_now()))
        .await?;
    let owner = auth
        .store()
        .kkt(&rn)?
        .map(|r| r.user_inn.trim().to_string());
    auth.audit(
        "register.token",
        rn.as_str(),
        &owner.as_deref().into_iter().collect::<Vec<_>>(),
        json!({ "system_id": issued.system_id }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "rn": rn.as_str(),
            "system_id": issued.system_id,
            "secret": issued.secret,
            "note": "the secret is shown once; only its salted hash is stored",
        })),
    ))
}

pub async fn status(auth: Auth, Path(rn): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    let rn = parse_rn(&rn)?;
    let store = auth.store();
    let record = store.kkt(&rn)?.ok_or_else(|| {
        ApiError::not_found(format!("register {} is not in the registry", rn.as_str()))
    })?;
    let cfg = &auth.config().liveness;
    let live = store.kkt_liveness(&rn)?;
    let now = unix_now();
    let colour = match (&record.status, live) {
        (KktStatus::Deregistered, _) => "deregistered",
        (_, None) => "unknown",
        (_, Some(l)) => {
            let age = now.saturating_sub(l.last_doc_time);
            if age < cfg.yellow_after_secs {
                "green"
            } else if age <= cfg.red_after_secs {
                "yellow"
            } else {
                "red"
            }
        }
    };
    let today = now / 86_400;
    Ok(Json(json!({
        "rn": rn.as_str(),
        "fn": record.fn_number.map(|f| f.as_str().to_string()),
        "status": record.status.as_str(),
        "liveness": colour,
        "last_document_time": live.map(|l| l.last_doc_time),
        "last_received_at": live.map(|l| l.last_received_at),
        "documents_today": live.map_or(0, |l| if l.day == today { l.docs_today } else { 0 }),
        "shift": live.map(|l| l.shift),
        "fn_health": live.map(|l| json!({
            "untransmitted": l.untransmitted,
            "first_untransmitted_time": l.first_untransmitted_time,
            "first_untransmitted_number": l.first_untransmitted_number,
            "key_expiry_soon": l.key_expiry_soon(),
            "key_expiry_urgent": l.key_expiry_urgent(),
            "memory_nearly_full": l.memory_nearly_full(),
            "ack_overdue": l.ack_overdue(),
        })),
    })))
}

/// The JSON shape of a register. The credential's secret is never shown here.
pub fn view(r: &KktRecord) -> Value {
    json!({
        "rn": r.rn.as_str(),
        "serial": r.kkt_serial,
        "fn": r.fn_number.map(|f| f.as_str().to_string()),
        "fn_history": r.fn_history.iter().map(|b| json!({
            "fn": b.fn_number.as_str(), "bound_at": b.bound_at, "unbound_at": b.unbound_at,
        })).collect::<Vec<_>>(),
        "inn": r.user_inn,
        "name": r.user_name,
        "address": r.address,
        "place": r.place,
        "connection": r.connection,
        "tariff": r.tariff,
        "status": r.status.as_str(),
        "encrypted": r.encrypted,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "registered_at": r.registered_at,
        "deregistered_at": r.deregistered_at,
        "credential": r.credential.as_ref().map(|c| json!({ "system_id": c.system_id, "issued_at": c.issued_at })),
    })
}
