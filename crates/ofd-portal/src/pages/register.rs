//! One Russian register: its card, a new register's form (register, or save as a draft),
//! "get token", and taking it off service behind a confirmation that names it.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_proto::checks::{verify_inn, verify_rn};
use ofd_store::{ConnectionType, FnNumber, KktRecord, KktStatus, NewKkt, Rn, StoreError};
use serde::Deserialize;

use super::Colour;
use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::{circle, field, page};
use crate::session::SignedIn;

pub fn parse_rn(s: &str) -> Result<Rn, PageError> {
    Rn::new(s.trim().as_bytes()).map_err(|_| PageError::NotFound)
}

pub fn status_text(l: Lang, s: KktStatus) -> &'static str {
    match s {
        KktStatus::Registered => l.t(M::StatusRegistered),
        KktStatus::Saved => l.t(M::StatusSaved),
        KktStatus::Deregistered => l.t(M::StatusDeregistered),
    }
}

pub fn connection_text(l: Lang, c: ConnectionType) -> &'static str {
    match c {
        ConnectionType::Sim => l.t(M::ConnSim),
        ConnectionType::Wired => l.t(M::ConnWired),
    }
}

fn load(s: &SignedIn, rn: &str) -> Result<KktRecord, PageError> {
    let rn = parse_rn(rn)?;
    s.store().kkt(&rn)?.ok_or(PageError::NotFound)
}

fn details(s: &SignedIn, k: &KktRecord) -> Result<Markup, PageError> {
    let l = s.lang;
    let live = s.store().kkt_liveness(&k.rn)?;
    let colour = Colour::of(live.as_ref(), s.now(), s.portal());
    Ok(html! {
        dl.card {
            dt { (l.t(M::State)) } dd { (circle(l, colour)) }
            dt { (l.t(M::Rn)) } dd { (k.rn.as_str()) }
            dt { (l.t(M::Serial)) } dd { (k.kkt_serial) }
            dt { (l.t(M::FnNumber)) } dd { (k.fn_number.map(|f| f.as_str().to_string()).unwrap_or_else(|| "—".into())) }
            dt { (l.t(M::Inn)) } dd { (k.user_inn) }
            dt { (l.t(M::Name)) } dd { (k.user_name) }
            dt { (l.t(M::Address)) } dd { (k.address) }
            dt { (l.t(M::Place)) } dd { (k.place) }
            dt { (l.t(M::Status)) } dd { (status_text(l, k.status)) }
            dt { (l.t(M::Connection)) } dd { (connection_text(l, k.connection)) }
            dt { (l.t(M::Tariff)) } dd { (k.tariff) }
            dt { (l.t(M::RegisteredAt)) } dd { (k.registered_at.map(format::datetime).unwrap_or_else(|| "—".into())) " UTC" }
            @if let Some(r) = &live {
                dt { (l.t(M::LastDocument)) } dd { (format::datetime(u64::from(r.last_doc_time))) }
                dt { (l.t(M::Shift)) } dd { (if r.shift == 0 { "—".to_string() } else { r.shift.to_string() }) }
                dt { (l.t(M::DocsToday)) } dd { (r.docs_today) }
                @if r.untransmitted > 0 {
                    dt { (l.t(M::Untransmitted)) } dd.error { (r.untransmitted) }
                }
                @if r.key_expiry_urgent() {
                    dt { (l.t(M::FnTrouble)) } dd.error { (l.t(M::KeyExpiry3)) }
                } @else if r.key_expiry_soon() {
                    dt { (l.t(M::FnTrouble)) } dd.error { (l.t(M::KeyExpiry30)) }
                }
                @if r.memory_nearly_full() { dt { (l.t(M::FnTrouble)) } dd.error { (l.t(M::MemoryFull)) } }
                @if r.ack_overdue() { dt { (l.t(M::FnTrouble)) } dd.error { (l.t(M::AckOverdue)) } }
            }
            @if let Some(c) = &k.credential {
                dt { (l.t(M::TokenIssued)) } dd { (format::datetime(c.issued_at)) " UTC" }
            }
        }
        @if k.fn_history.len() > 1 {
            h2 { (l.t(M::FnHistory)) }
            table {
                thead { tr { th { (l.t(M::FnNumber)) } th { (l.t(M::From)) } th { (l.t(M::To)) } } }
                tbody {
                    @for b in &k.fn_history {
                        tr {
                            td { (b.fn_number.as_str()) }
                            td { (format::datetime(b.bound_at)) }
                            td { (b.unbound_at.map(format::datetime).unwrap_or_else(|| "—".into())) }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /registers/{rn}`.
pub async fn card(s: SignedIn, Path(rn): Path<String>) -> Result<Html<String>, PageError> {
    let k = load(&s, &rn)?;
    let l = s.lang;
    let body = html! {
        (details(&s, &k)?)
        p {
            a.button href={ "/registers/" (k.rn.as_str()) "/documents?date=" (s.today()) } { (l.t(M::Transactions)) }
            " "
            a.button href={ "/registers/" (k.rn.as_str()) "/reports" } { (l.t(M::ShiftReports)) }
        }
        @if s.may_write() && k.status != KktStatus::Deregistered {
            h2 { (l.t(M::Actions)) }
            form.inline method="post" action={ "/registers/" (k.rn.as_str()) "/token" } {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" { (l.t(M::GetToken)) }
            }
            " "
            a.button href={ "/registers/" (k.rn.as_str()) "/deregister" } { (l.t(M::Deregister)) }
            (super::requests::form(&s, &format!("/registers/{}/connection", k.rn.as_str()), &Default::default(), &Default::default()))
        }
    };
    Ok(Html(
        page(&s, &format!("{} {}", l.t(M::Register), k.rn.as_str()), body).into_string(),
    ))
}

/// `POST /registers/{rn}/token`: a new system ID and token, shown once.
pub async fn token(
    s: SignedIn,
    Path(rn): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let k = load(&s, &rn)?;
    let issued = s.store().issue_kkt_token(k.rn, s.now()).await?;
    s.audit(
        "register.token",
        k.rn.as_str(),
        &[k.user_inn.trim()],
        serde_json::Value::Null,
    )
    .await?;
    let l = s.lang;
    let back = format!("/registers/{}", k.rn.as_str());
    let body = super::token_markup(
        l,
        &issued.system_id,
        &issued.secret,
        M::TokenInstruction,
        &back,
    );
    Ok(super::shown_once(page(&s, l.t(M::GetToken), body)))
}

/// `GET /registers/{rn}/deregister`: the confirmation, naming the register.
pub async fn deregister_confirm(
    s: SignedIn,
    Path(rn): Path<String>,
) -> Result<Html<String>, PageError> {
    s.require_write()?;
    let k = load(&s, &rn)?;
    let l = s.lang;
    let body = html! {
        p.warning {
            (l.t(M::DeregisterWarning)) " "
            strong { (k.rn.as_str()) } " · " (k.user_name) " · " (k.place) " · " (k.address)
        }
        form method="post" action={ "/registers/" (k.rn.as_str()) "/deregister" } {
            input type="hidden" name="csrf" value=(s.csrf);
            button.danger type="submit" { (l.t(M::DeregisterConfirm)) " " (k.rn.as_str()) }
            " "
            a href={ "/registers/" (k.rn.as_str()) } { (l.t(M::Cancel)) }
        }
    };
    Ok(Html(page(&s, l.t(M::Deregister), body).into_string()))
}

/// `POST /registers/{rn}/deregister`.
pub async fn deregister(
    s: SignedIn,
    Path(rn): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Redirect, PageError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let k = load(&s, &rn)?;
    let rec = s.store().deregister_kkt(k.rn, s.now()).await?;
    s.audit(
        "register.deregister",
        rec.rn.as_str(),
        &[rec.user_inn.trim()],
        serde_json::Value::Null,
    )
    .await?;
    Ok(Redirect::to(&format!("/registers/{}", rec.rn.as_str())))
}

#[derive(Default, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rn: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    inn: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    tariff: String,
    #[serde(default, rename = "fn")]
    fn_number: String,
    /// `register` or `save` (a draft).
    #[serde(default)]
    action: String,
}

type Errors = BTreeMap<&'static str, String>;

fn new_markup(s: &SignedIn, f: &NewForm, e: &Errors) -> Markup {
    let l = s.lang;
    let err = |k: &str| e.get(k).map(String::as_str);
    let inn = if f.inn.is_empty() && !s.is_operator() {
        s.user.org.as_str()
    } else {
        f.inn.as_str()
    };
    html! {
        @if let Some(msg) = err("form") { p.warning role="alert" { (msg) } }
        form method="post" action="/registers/new" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (field(l.t(M::Rn), "rn", &f.rn, "text", err("rn"), true))
            (field(l.t(M::Serial), "serial", &f.serial, "text", err("serial"), true))
            (field(l.t(M::Inn), "inn", inn, "text", err("inn"), true))
            (field(l.t(M::Name), "name", &f.name, "text", err("name"), true))
            (field(l.t(M::Address), "address", &f.address, "text", err("address"), false))
            (field(l.t(M::Place), "place", &f.place, "text", err("place"), false))
            div.field {
                label for="f-connection" { (l.t(M::Connection)) }
                select #f-connection name="connection" {
                    option value="sim" selected[f.connection != "wired"] { (l.t(M::ConnSim)) }
                    option value="wired" selected[f.connection == "wired"] { (l.t(M::ConnWired)) }
                }
            }
            (field(l.t(M::Tariff), "tariff", &f.tariff, "text", err("tariff"), false))
            (field(l.t(M::FnNumberOptional), "fn", &f.fn_number, "text", err("fn"), false))
            button type="submit" name="action" value="register" { (l.t(M::RegisterAction)) }
            " "
            button.secondary type="submit" name="action" value="save" { (l.t(M::SaveDraft)) }
        }
    }
}

/// `GET /registers/new`.
pub async fn new_form(s: SignedIn) -> Result<Html<String>, PageError> {
    s.require_write()?;
    let body = new_markup(&s, &NewForm::default(), &Errors::new());
    Ok(Html(page(&s, s.lang.t(M::NewRegister), body).into_string()))
}

fn check_text(e: &mut Errors, l: Lang, key: &'static str, v: &str, required: bool) {
    if required && v.trim().is_empty() {
        e.insert(key, l.t(M::Required).into());
    } else if v.chars().count() > 256 {
        e.insert(key, l.t(M::TooLong).into());
    }
}

/// `POST /registers/new`: every field checked, each error next to its field.
pub async fn create(s: SignedIn, Form(f): Form<NewForm>) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let l = s.lang;
    let mut e = Errors::new();
    let rn = Rn::new(f.rn.trim().as_bytes());
    if rn.is_err() {
        e.insert("rn", l.t(M::BadRn).into());
    }
    let serial = f.serial.trim();
    if serial.is_empty() || serial.len() > 20 || !serial.bytes().all(|c| c.is_ascii_alphanumeric())
    {
        e.insert("serial", l.t(M::BadSerial).into());
    }
    let inn = f.inn.trim();
    if verify_inn(inn.as_bytes()).is_err() {
        e.insert("inn", l.t(M::BadInn).into());
    }
    if let Ok(rn) = &rn
        && !e.contains_key("serial")
        && !e.contains_key("inn")
        && verify_rn(rn.as_bytes(), inn.as_bytes(), serial.as_bytes()).is_err()
    {
        e.insert("rn", l.t(M::RnMismatch).into());
    }
    check_text(&mut e, l, "name", &f.name, true);
    check_text(&mut e, l, "address", &f.address, false);
    check_text(&mut e, l, "place", &f.place, false);
    check_text(&mut e, l, "tariff", &f.tariff, false);
    let fn_number = if f.fn_number.trim().is_empty() {
        None
    } else {
        match FnNumber::new(f.fn_number.trim().as_bytes()) {
            Ok(n) => Some(n),
            Err(_) => {
                e.insert("fn", l.t(M::BadFn).into());
                None
            }
        }
    };
    let connection = if f.connection == "wired" {
        ConnectionType::Wired
    } else {
        ConnectionType::Sim
    };
    let status = if f.action == "save" {
        KktStatus::Saved
    } else {
        KktStatus::Registered
    };
    let again = |e: &Errors| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(&s, l.t(M::NewRegister), new_markup(&s, &f, e)).into_string()),
        )
            .into_response()
    };
    let Ok(rn) = rn else { return Ok(again(&e)) };
    if !e.is_empty() {
        return Ok(again(&e));
    }
    let outcome = s
        .store()
        .register_kkt(
            NewKkt {
                rn,
                kkt_serial: serial.to_string(),
                fn_number,
                user_inn: inn.to_string(),
                user_name: f.name.trim().to_string(),
                address: f.address.trim().to_string(),
                place: f.place.trim().to_string(),
                connection,
                tariff: f.tariff.trim().to_string(),
                status,
                encrypted: false,
            },
            s.now(),
        )
        .await;
    match outcome {
        Ok(rec) => {
            s.audit(
                "register.create",
                rec.rn.as_str(),
                &[rec.user_inn.trim()],
                serde_json::json!({"status": rec.status.as_str()}),
            )
            .await?;
            Ok(Redirect::to(&format!("/registers/{}", rec.rn.as_str())).into_response())
        }
        Err(StoreError::OutOfScope { .. }) => {
            e.insert("inn", l.t(M::InnNotYours).into());
            Ok(again(&e))
        }
        Err(StoreError::RegisterExists { .. }) => {
            e.insert("rn", l.t(M::RnTaken).into());
            Ok(again(&e))
        }
        Err(StoreError::InvalidInput(why)) => {
            e.insert("form", why);
            Ok(again(&e))
        }
        Err(other) => Err(other.into()),
    }
}
