//! `/api/v1/kz/...`: Kazakh registers (KKM–OFD protocol) for the operator's portal and staff.
//!
//! The flow the portals follow: the taxpayer (or their service partner) registers the KKM with
//! the operator and gets a **system ID** and a **token**, which they type into the KKM; from then
//! on the KKM talks to the ingest port. "Получить токен → Создать новый токен" is
//! `POST /kz/kkm/{id}/token`. The operator blocks, unblocks or deregisters a KKM with
//! `POST /kz/kkm/{id}/status`. Tickets (JSON or CSV, by shift and date) and the X and Z report history
//! come from the register's exchange log, which keeps every request with its answer.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ofd_kz::codec::{decode_request, decode_response};
use ofd_kz::kkm;
use ofd_kz::time::LocalDateTime;
use ofd_kz::{Command, RegInfo, RegisterFacts, RegisterStatus};
use ofd_store::KzLogEntry;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::principal::{Auth, Need};
use crate::kz::KzAdminError;

/// Most log entries scanned for one tickets / reports query.
const MAX_SCAN: usize = 100_000;

impl From<KzAdminError> for ApiError {
    fn from(e: KzAdminError) -> ApiError {
        match e {
            KzAdminError::NotFound(_) => ApiError::not_found(e.to_string()),
            KzAdminError::Store(s) => s.into(),
            KzAdminError::BadState(..) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKkm {
    /// Registration number issued by the tax committee (РНМ).
    registration_number: String,
    /// Factory serial number.
    serial: String,
    /// Taxpayer IIN (person) or BIN (organisation), 12 digits with its check digit.
    iin_bin: String,
    /// Taxpayer name.
    name: String,
    /// Point of sale.
    pos_address: String,
    #[serde(default)]
    pos_title: String,
    #[serde(default)]
    org_address: String,
    #[serde(default)]
    okved: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    year: Option<u16>,
    /// `sim`, `wired`, `wifi`…: how it reaches the operator (informational).
    #[serde(default)]
    connection: String,
}

fn check_new(b: &NewKkm) -> Result<(), ApiError> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(&b.registration_number) || b.registration_number.len() > 20 {
        return Err(ApiError::unprocessable(format!(
            "registration_number {:?}: 1 to 20 digits expected",
            b.registration_number
        )));
    }
    if b.serial.trim().is_empty() || b.serial.len() > 64 {
        return Err(ApiError::unprocessable(
            "serial: 1 to 64 characters expected",
        ));
    }
    ofd_kz::iin::verify_iin_bin(b.iin_bin.as_bytes())
        .map_err(|e| ApiError::unprocessable(format!("iin_bin {:?}: {e}", b.iin_bin)))?;
    for (field, v) in [("name", &b.name), ("pos_address", &b.pos_address)] {
        if v.trim().is_empty() || v.len() > 512 {
            return Err(ApiError::unprocessable(format!(
                "{field}: 1 to 512 characters expected"
            )));
        }
    }
    if let Some(y) = b.year
        && !(1990..=2100).contains(&y)
    {
        return Err(ApiError::unprocessable(format!(
            "year {y}: not a plausible year"
        )));
    }
    Ok(())
}

/// `POST /api/v1/kz/kkm` → 201 `{system_id, token}`.
pub async fn register(
    auth: Auth,
    body: Result<Json<NewKkm>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    auth.require(Need::Write)?;
    let Json(b) = body?;
    check_new(&b)?;
    let reg = RegInfo {
        registration_number: b.registration_number,
        serial_number: b.serial,
        org_title: b.name,
        org_inn: b.iin_bin,
        org_address: b.org_address,
        org_okved: b.okved,
        pos_title: b.pos_title,
        pos_address: b.pos_address,
        model: b.model,
        year: b.year.unwrap_or(0),
        connection: b.connection,
        ..RegInfo::default()
    };
    let owner = reg.org_inn.clone();
    // A synced write: off the async workers.
    let auth = std::sync::Arc::new(auth);
    let a = auth.clone();
    let (system_id, token) =
        tokio::task::spawn_blocking(move || a.kz().register(&a.store(), reg)).await??;
    auth.audit(
        "kkm.create",
        &system_id.to_string(),
        &[owner.as_str()],
        json!({ "iin_bin": owner }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "system_id": system_id, "token": token })),
    )
        .into_response())
}

fn status_label(s: RegisterStatus) -> &'static str {
    match s {
        RegisterStatus::Registered => "registered",
        RegisterStatus::Blocked => "blocked",
        RegisterStatus::Deregistered => "deregistered",
    }
}

fn summary(system_id: u32, f: &RegisterFacts, auth: &Auth) -> Value {
    let cfg = &auth.config().liveness;
    let live = auth.store().kkm_liveness(system_id).ok().flatten();
    let now = u64::from(crate::clock::unix_now());
    let colour = live.map(|l| {
        let silent = now.saturating_sub(u64::from(l.last_doc_time));
        if silent > u64::from(cfg.red_after_secs) {
            "red"
        } else if silent > u64::from(cfg.yellow_after_secs) {
            "yellow"
        } else {
            "green"
        }
    });
    json!({
        "system_id": system_id,
        "status": status_label(f.status),
        "registration_number": f.reg.registration_number,
        "serial": f.reg.serial_number,
        "iin_bin": f.reg.org_inn,
        "name": f.reg.org_title,
        "pos_address": f.reg.pos_address,
        "model": f.reg.model,
        "year": f.reg.year,
        "connection": f.reg.connection,
        "shift_open": f.shift.as_ref().map(|sh| sh.number),
        "last_shift_number": f.last_shift_number,
        "next_ticket_number": f.next_ticket_number,
        "cash_tiyn": f.cash,
        "liveness": colour.unwrap_or("never_seen"),
        "last_seen": live.map(|l| l.last_received_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    after: Option<u32>,
    limit: Option<usize>,
}

/// `GET /api/v1/kz/kkm?after=&limit=`.
pub async fn list(
    auth: Auth,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let records = auth.store().list_kkm(q.after, limit)?;
    let mut items = Vec::with_capacity(records.len());
    for r in &records {
        let facts = crate::kz::decode_state(r.system_id, &r.state)?;
        items.push(summary(r.system_id, &facts, &auth));
    }
    let next = (records.len() == limit).then(|| records.last().map(|r| r.system_id));
    Ok(Json(
        json!({ "items": items, "next_after": next.flatten() }),
    ))
}

fn parse_id(id: &str) -> Result<u32, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("system ID {id:?} is not a number")))
}

/// `GET /api/v1/kz/kkm/{id}`.
pub async fn show(auth: Auth, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    let id = parse_id(&id)?;
    let facts = auth.kz().facts(&auth.store(), id)?;
    Ok(Json(summary(id, &facts, &auth)))
}

/// `POST /api/v1/kz/kkm/{id}/token`: a new token, durable before it is shown.
pub async fn token(auth: Auth, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Write)?;
    let id = parse_id(&id)?;
    let token = auth.kz().issue_token(&auth.store(), id).await?;
    let owner = auth.kz().facts(&auth.store(), id)?.reg.org_inn;
    auth.audit("kkm.token", &id.to_string(), &[owner.as_str()], json!({}))
        .await?;
    Ok(Json(json!({ "system_id": id, "token": token })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: String,
}

/// `POST /api/v1/kz/kkm/{id}/status` `{status: registered|blocked|deregistered}`.
pub async fn set_status(
    auth: Auth,
    Path(id): Path<String>,
    body: Result<Json<StatusBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Write)?;
    let id = parse_id(&id)?;
    let Json(b) = body?;
    let status = match b.status.as_str() {
        "registered" => RegisterStatus::Registered,
        "blocked" => RegisterStatus::Blocked,
        "deregistered" => RegisterStatus::Deregistered,
        other => {
            return Err(ApiError::unprocessable(format!(
                "status {other:?}: expected registered, blocked or deregistered"
            )));
        }
    };
    let facts = auth
        .kz()
        .update(&auth.store(), id, |f| f.status = status)
        .await?;
    auth.audit(
        "kkm.status",
        &id.to_string(),
        &[facts.reg.org_inn.as_str()],
        json!({ "status": b.status }),
    )
    .await?;
    Ok(Json(summary(id, &facts, &auth)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/kz/kkm/{id}/exchanges?after=&limit=`: every request with its answer (base64).
pub async fn exchanges(
    auth: Auth,
    Path(id): Path<String>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let Query(q) = q?;
    auth.require(Need::Read)?;
    auth.kz().facts(&auth.store(), id)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = auth.store().kkm_log(id, q.after.unwrap_or(0), limit)?;
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "received_at_ms": e.received_at_ms,
                "command": Command::from_wire(i32::from(e.command)).map_or("unknown", |c| c.label()),
                "code": e.code,
                "ticket_number": e.ticket_number,
                "shift": e.shift,
                "request": B64.encode(&e.request),
                "answer": B64.encode(&e.answer),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    shift: Option<u32>,
    /// First day, `YYYY-MM-DD` (the ticket's own date).
    from: Option<String>,
    /// Last day, inclusive.
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

fn parse_day(s: &str) -> Result<(u16, u8, u8), ApiError> {
    let bad = || ApiError::bad_request(format!("date {s:?}: YYYY-MM-DD expected"));
    let mut it = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    Ok((
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    ))
}

const OPERATIONS: [&str; 4] = ["buy", "buy_return", "sell", "sell_return"];

/// One accepted ticket, from its logged request and answer.
struct TicketRow {
    ticket_number: u64,
    shift: u32,
    operation: &'static str,
    time: LocalDateTime,
    total_tiyn: u64,
    offline_ticket_number: Option<u32>,
    received_at_ms: u64,
    qr: String,
}

fn ticket_row(e: &KzLogEntry) -> Option<TicketRow> {
    if e.command != 1 || e.code != 0 {
        return None;
    }
    let (_, req) = decode_request(&e.request).ok()?;
    let (_, resp) = decode_response(&e.answer).ok()?;
    let t = req.ticket.as_ref()?;
    let d = ofd_kz::ticket::digest(t).ok()?;
    Some(TicketRow {
        ticket_number: e.ticket_number?,
        shift: e.shift.unwrap_or(0),
        operation: OPERATIONS.get(d.operation).copied().unwrap_or("unknown"),
        time: d.time,
        total_tiyn: d.total,
        offline_ticket_number: t.offline_ticket_number,
        received_at_ms: e.received_at_ms,
        qr: String::from_utf8_lossy(&resp.ticket.and_then(|t| t.qr_code).unwrap_or_default())
            .into_owned(),
    })
}

/// `GET /api/v1/kz/kkm/{id}/tickets?shift=&from=&to=&format=json|csv`.
pub async fn tickets(
    auth: Auth,
    Path(id): Path<String>,
    q: Result<Query<TicketQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let Query(q) = q?;
    let from = q.from.as_deref().map(parse_day).transpose()?;
    let to = q.to.as_deref().map(parse_day).transpose()?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {other:?}: json or csv expected"
            )));
        }
    };
    auth.require(Need::Read)?;
    auth.kz().facts(&auth.store(), id)?;
    let entries = auth.store().kkm_log(id, 0, MAX_SCAN)?;
    let rows: Vec<TicketRow> = entries
        .iter()
        .filter_map(ticket_row)
        .filter(|r| q.shift.is_none_or(|sh| r.shift == sh))
        .filter(|r| {
            let day = (r.time.year, r.time.month, r.time.day);
            from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t)
        })
        .collect();
    if csv {
        let mut out = String::from(
            "ticket_number,shift,operation,time,total_tiyn,offline_ticket_number,received_at_ms,qr\n",
        );
        for r in &rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},\"{}\"\n",
                r.ticket_number,
                r.shift,
                r.operation,
                r.time.compact(),
                r.total_tiyn,
                r.offline_ticket_number
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                r.received_at_ms,
                r.qr.replace('"', "\"\"")
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "ticket_number": r.ticket_number,
                "shift": r.shift,
                "operation": r.operation,
                "time": r.time.compact(),
                "total_tiyn": r.total_tiyn,
                "offline_ticket_number": r.offline_ticket_number,
                "received_at_ms": r.received_at_ms,
                "qr": r.qr,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

fn tiyn(m: &kkm::Money) -> Value {
    ofd_kz::money::to_tiyn(m).map_or(Value::Null, Value::from)
}

/// The fields of a Z (or X) report an operator reads, money in tiyn.
pub fn report_json(r: &kkm::ZxReport) -> Value {
    let op = |o: i32| {
        OPERATIONS
            .get(usize::try_from(o).unwrap_or(9))
            .copied()
            .unwrap_or("unknown")
    };
    let time = |t: &Option<kkm::DateTime>| {
        t.as_ref()
            .and_then(LocalDateTime::from_wire)
            .map(|t| t.compact())
    };
    json!({
        "shift_number": r.shift_number,
        "date_time": LocalDateTime::from_wire(&r.date_time).map(|t| t.compact()),
        "open_shift_time": time(&r.open_shift_time),
        "close_shift_time": time(&r.close_shift_time),
        "cash_tiyn": tiyn(&r.cash_sum),
        "revenue_tiyn": {
            "sum": tiyn(&r.revenue.sum),
            "negative": r.revenue.is_negative,
        },
        "tickets": r.ticket_operations.iter().map(|t| json!({
            "operation": op(t.operation),
            "count": t.tickets_count,
            "total_count": t.tickets_total_count,
            "sum_tiyn": tiyn(&t.tickets_sum),
        })).collect::<Vec<_>>(),
        "money_placements": r.money_placements.iter().map(|m| json!({
            "withdrawal": m.operation == 1,
            "count": m.operations_count,
            "sum_tiyn": tiyn(&m.operations_sum),
        })).collect::<Vec<_>>(),
        "taxes": r.taxes.iter().map(|t| json!({
            "tax_type": t.tax_type,
            "percent": t.percent,
            "operations": t.operations.iter().map(|o| json!({
                "operation": op(o.operation),
                "turnover_tiyn": tiyn(&o.turnover),
                "sum_tiyn": tiyn(&o.sum),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/kz/kkm/{id}/reports`: the Z reports of closed shifts (as answered), newest last,
/// and the X report of the open shift.
pub async fn reports(auth: Auth, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    auth.require(Need::Read)?;
    let facts = auth.kz().facts(&auth.store(), id)?;
    let entries = auth.store().kkm_log(id, 0, MAX_SCAN)?;
    // Z reports are the answers to CLOSE_SHIFT; X reports the answers to REPORT requests for
    // the open shift (a REPORT for Z repeats the last close, already listed).
    let report_of = |e: &KzLogEntry, want_x: bool| {
        let (_, resp) = decode_response(&e.answer).ok()?;
        let report = resp.report?;
        let is_x = report.report == kkm::ReportTypeEnum::ReportX as i32;
        let mut v = report_json(report.zx_report.as_ref()?);
        v["received_at_ms"] = Value::from(e.received_at_ms);
        (is_x == want_x).then_some(v)
    };
    let z: Vec<Value> = entries
        .iter()
        .filter(|e| e.command == Command::CloseShift.wire() as u8 && e.code == 0)
        .filter_map(|e| report_of(e, false))
        .collect();
    let x: Vec<Value> = entries
        .iter()
        .filter(|e| e.command == Command::Report.wire() as u8 && e.code == 0)
        .filter_map(|e| report_of(e, true))
        .collect();
    Ok(Json(json!({
        "z_reports": z,
        "x_reports": x,
        "open_shift": facts.shift.as_ref().map(|sh| sh.number),
    })))
}
