//! Wired-connection requests: a customer asks from a register's card (date, time, contact,
//! phone, comment) and follows the status on `/requests`; the operator's staff work through the
//! same page, which for them is the whole queue, and move each request on with a note the
//! customer reads.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::StoreError;
use ofd_store::accounts::{NewConnectionRequest, RequestStatus, Role};
use serde::Deserialize;

use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::{field, page};
use crate::session::SignedIn;

const LIST: usize = 500;

#[derive(Default, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    comment: String,
}

type Errors = BTreeMap<&'static str, String>;

/// The request form, for a register's card (`action`: where it posts).
pub fn form(s: &SignedIn, action: &str, f: &RequestForm, e: &Errors) -> Markup {
    let l = s.lang;
    let err = |k: &str| e.get(k).map(String::as_str);
    html! {
        h2 #wired { (l.t(M::RequestWired)) }
        form method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (field(l.t(M::Date), "date", &f.date, "date", err("date"), true))
            (field(l.t(M::Time), "time", &f.time, "time", err("time"), true))
            (field(l.t(M::Contact), "contact", &f.contact, "text", err("contact"), true))
            (field(l.t(M::Phone), "phone", &f.phone, "tel", err("phone"), true))
            (field(l.t(M::Comment), "comment", &f.comment, "text", err("comment"), false))
            button type="submit" { (l.t(M::SendRequest)) }
        }
    }
}

fn check(l: Lang, f: &RequestForm, today: &str) -> Errors {
    let mut e = Errors::new();
    match format::parse_date(&f.date) {
        None => {
            e.insert("date", l.t(M::BadDate).into());
        }
        Some(_) if f.date.trim() < today => {
            e.insert("date", l.t(M::DateInPast).into());
        }
        Some(_) => {}
    }
    let t = f.time.trim();
    let time_ok = t.len() == 5
        && t.as_bytes()[2] == b':'
        && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && t[3..].parse::<u8>().is_ok_and(|m| m < 60);
    if !time_ok {
        e.insert("time", l.t(M::BadTime).into());
    }
    if f.contact.trim().is_empty() || f.contact.chars().count() > 128 {
        e.insert("contact", l.t(M::Required).into());
    }
    let digits = f.phone.chars().filter(char::is_ascii_digit).count();
    if !(10..=15).contains(&digits)
        || f.phone
            .chars()
            .any(|c| !(c.is_ascii_digit() || " +-()".contains(c)))
    {
        e.insert("phone", l.t(M::BadPhone).into());
    }
    if f.comment.chars().count() > 1000 {
        e.insert("comment", l.t(M::TooLong).into());
    }
    e
}

/// `POST /registers/{rn}/connection` and `/kz/{id}/connection`.
pub async fn file(
    s: SignedIn,
    Path(register): Path<String>,
    Form(f): Form<RequestForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let l = s.lang;
    let e = check(l, &f, &s.today());
    let back = if register.len() == 16 {
        format!("/registers/{register}")
    } else {
        format!("/kz/{register}")
    };
    if !e.is_empty() {
        let body = form(&s, &format!("{back}/connection"), &f, &e);
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(&s, l.t(M::RequestWired), body).into_string()),
        )
            .into_response());
    }
    let filed = s
        .store()
        .request_connection(
            NewConnectionRequest {
                register: register.clone(),
                date: f.date.trim().into(),
                time: f.time.trim().into(),
                contact: f.contact.trim().into(),
                phone: f.phone.trim().into(),
                comment: f.comment.trim().into(),
            },
            s.user.login.clone(),
            s.now(),
        )
        .await;
    let r = match filed {
        Ok(r) => r,
        Err(StoreError::NotFound(_) | StoreError::RegisterNotFound { .. }) => {
            return Err(PageError::NotFound);
        }
        Err(e) => return Err(e.into()),
    };
    s.audit(
        "connection.request",
        &r.id.to_string(),
        &[&r.org],
        serde_json::json!({"register": register}),
    )
    .await?;
    Ok(Redirect::to("/requests").into_response())
}

fn status_text(l: Lang, st: RequestStatus) -> &'static str {
    match st {
        RequestStatus::New => l.t(M::ReqNew),
        RequestStatus::Scheduled => l.t(M::ReqScheduled),
        RequestStatus::Done => l.t(M::ReqDone),
        RequestStatus::Cancelled => l.t(M::ReqCancelled),
    }
}

/// `GET /requests`: the customer's requests, or for staff the whole queue.
pub async fn list(s: SignedIn) -> Result<Html<String>, PageError> {
    let l = s.lang;
    let staff = s.user.role == Role::Staff;
    let items = s.store().connection_requests(LIST)?;
    let body = html! {
        table {
            caption.sr { (l.t(M::Requests)) }
            thead { tr {
                th scope="col" class="num" { "№" } th scope="col" { (l.t(M::Register)) } th scope="col" { (l.t(M::Inn)) }
                th scope="col" { (l.t(M::Date)) } th scope="col" { (l.t(M::Contact)) } th scope="col" { (l.t(M::Comment)) }
                th scope="col" { (l.t(M::Status)) }
            } }
            tbody {
                @for r in &items {
                    tr {
                        td.num { (r.id) }
                        td { (r.request.register) }
                        td { (r.org) }
                        td { (r.request.date) " " (r.request.time) }
                        td { (r.request.contact) br; (r.request.phone) }
                        td { (r.request.comment) }
                        td {
                            strong.req-status { (status_text(l, r.status)) }
                            @if !r.staff_note.is_empty() { br; (r.staff_note) }
                            @if staff {
                                form method="post" action={ "/requests/" (r.id) } {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    label.sr for={ "st-" (r.id) } { (l.t(M::Status)) }
                                    select id={ "st-" (r.id) } name="status" {
                                        @for st in [RequestStatus::New, RequestStatus::Scheduled, RequestStatus::Done, RequestStatus::Cancelled] {
                                            option value=(st.as_str()) selected[st == r.status] { (status_text(l, st)) }
                                        }
                                    }
                                    label.sr for={ "note-" (r.id) } { (l.t(M::StaffNote)) }
                                    input id={ "note-" (r.id) } name="note" value=(r.staff_note) placeholder=(l.t(M::StaffNote));
                                    button type="submit" { (l.t(M::Save)) }
                                }
                            }
                        }
                    }
                }
                @if items.is_empty() { tr { td colspan="7" { (l.t(M::NothingFound)) } } }
            }
        }
    };
    Ok(Html(page(&s, l.t(M::Requests), body).into_string()))
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
}

/// `POST /requests/{id}`: staff move a request on.
pub async fn set_status(
    s: SignedIn,
    Path(id): Path<u64>,
    Form(f): Form<StatusForm>,
) -> Result<Redirect, PageError> {
    s.check_csrf(&f.csrf)?;
    if s.user.role != Role::Staff {
        return Err(PageError::Forbidden(
            "only the operator's staff work the queue".into(),
        ));
    }
    let status = RequestStatus::parse(&f.status)
        .ok_or_else(|| PageError::BadRequest(format!("status: {:?}", f.status)))?;
    if s.store().connection_request(id)?.is_none() {
        return Err(PageError::NotFound);
    }
    let r = s
        .portal()
        .store
        .set_connection_request_status(
            id,
            status,
            f.note.trim().chars().take(500).collect(),
            s.now(),
        )
        .await?;
    s.audit(
        "connection.status",
        &id.to_string(),
        &[&r.org],
        serde_json::json!({"status": status.as_str()}),
    )
    .await?;
    Ok(Redirect::to("/requests"))
}
