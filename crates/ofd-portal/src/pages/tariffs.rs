//! Tariff plans and the monthly statement. The operator's staff define plans (a price per
//! register per month); a register names its plan; an organisation sees, for any month, each of
//! its registers with its days in service and what they cost — registers × days in service ×
//! price — and downloads it as CSV.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::accounts::{Role, Tariff};
use serde::Deserialize;

use super::organisation::org_to_read;
use crate::error::PageError;
use crate::format;
use crate::i18n::M;
use crate::layout::{field, page};
use crate::session::SignedIn;

type Errors = BTreeMap<&'static str, String>;

fn list_markup(s: &SignedIn, e: &Errors) -> Result<Markup, PageError> {
    let l = s.lang;
    let tariffs = s.portal().store.tariffs()?;
    let err = |k: &str| e.get(k).map(String::as_str);
    Ok(html! {
        table {
            thead { tr { th scope="col" { (l.t(M::Code)) } th scope="col" { (l.t(M::Name)) } th.num scope="col" { (l.t(M::MonthlyPrice)) } } }
            tbody {
                @for t in &tariffs {
                    tr { td { (t.code) } td { (t.name) } td.num { (format::money(i64::try_from(t.monthly_price).unwrap_or(i64::MAX))) } }
                }
                @if tariffs.is_empty() { tr { td colspan="3" { (l.t(M::NothingFound)) } } }
            }
        }
        @if s.user.role == Role::Staff {
            h2 { (l.t(M::DefineTariff)) }
            form method="post" action="/tariffs" novalidate {
                input type="hidden" name="csrf" value=(s.csrf);
                (field(l.t(M::Code), "code", "", "text", err("code"), true))
                (field(l.t(M::Name), "name", "", "text", err("name"), true))
                (field(l.t(M::MonthlyPrice), "price", "", "text", err("price"), true))
                button type="submit" { (l.t(M::Save)) }
            }
        }
    })
}

/// `GET /tariffs`.
pub async fn list(s: SignedIn) -> Result<Html<String>, PageError> {
    let b = list_markup(&s, &Errors::new())?;
    Ok(Html(page(&s, s.lang.t(M::Tariffs), b).into_string()))
}

#[derive(Deserialize)]
pub struct TariffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    price: String,
}

/// `POST /tariffs`: staff create or change a plan.
pub async fn save(s: SignedIn, Form(f): Form<TariffForm>) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    if s.user.role != Role::Staff {
        return Err(PageError::Forbidden(
            "only the operator's staff define tariffs".into(),
        ));
    }
    let l = s.lang;
    let mut e = Errors::new();
    let code = f.code.trim();
    if code.is_empty()
        || code.len() > 32
        || !code
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        e.insert("code", l.t(M::BadCode).into());
    }
    if f.name.trim().is_empty() || f.name.chars().count() > 128 {
        e.insert("name", l.t(M::Required).into());
    }
    let price = format::parse_sum(&f.price).and_then(|p| u64::try_from(p).ok());
    if price.is_none() {
        e.insert("price", l.t(M::BadPrice).into());
    }
    let Some(price) = price.filter(|_| e.is_empty()) else {
        let b = list_markup(&s, &e)?;
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(&s, l.t(M::Tariffs), b).into_string()),
        )
            .into_response());
    };
    let t = s
        .portal()
        .store
        .put_tariff(Tariff {
            code: code.into(),
            name: f.name.trim().into(),
            monthly_price: price,
        })
        .await?;
    s.audit(
        "tariff.put",
        &t.code,
        &[],
        serde_json::json!({"monthly_price": t.monthly_price}),
    )
    .await?;
    Ok(Redirect::to("/tariffs").into_response())
}

#[derive(Default, Deserialize)]
pub struct StatementQuery {
    #[serde(default)]
    inn: String,
    /// `yyyy-mm`; the current month when empty.
    #[serde(default)]
    month: String,
    #[serde(default)]
    format: String,
}

struct Line {
    rn: String,
    name: String,
    tariff: String,
    days: u32,
    price: u64,
    amount: u64,
}

/// `GET /organisation/statement[?inn=&month=yyyy-mm&format=csv]`.
pub async fn statement(
    s: SignedIn,
    Query(q): Query<StatementQuery>,
) -> Result<Response, PageError> {
    let inn = org_to_read(&s, &q.inn)?;
    let l = s.lang;
    let month = if q.month.is_empty() {
        format::month(s.now())
    } else {
        q.month.trim().to_string()
    };
    let (start, days_in_month) = format::parse_month(&month)
        .ok_or_else(|| PageError::BadRequest(format!("month: {month:?} is not yyyy-mm")))?;
    let end = start + u64::from(days_in_month) * 86_400 - 1;
    let today_end = s.now() - s.now() % 86_400 + 86_399;
    let tariffs: BTreeMap<String, Tariff> = s
        .portal()
        .store
        .tariffs()?
        .into_iter()
        .map(|t| (t.code.clone(), t))
        .collect();
    let mut lines = Vec::new();
    for k in s.store().kkt_of_org(&inn)? {
        let Some(from) = k.registered_at else {
            continue;
        };
        let to = k
            .deregistered_at
            .unwrap_or(u64::MAX)
            .min(end)
            .min(today_end);
        let from = from.max(start);
        if from > to {
            continue;
        }
        let days = u32::try_from((to / 86_400) - (from / 86_400) + 1).unwrap_or(0);
        let price = tariffs.get(k.tariff.trim()).map_or(0, |t| t.monthly_price);
        let amount = price.saturating_mul(u64::from(days)) / u64::from(days_in_month);
        lines.push(Line {
            rn: k.rn.as_str().into(),
            name: k.user_name.clone(),
            tariff: k.tariff.clone(),
            days,
            price,
            amount,
        });
    }
    let total = lines.iter().fold(0u64, |t, x| t.saturating_add(x.amount));
    let money = |v: u64| format::money(i64::try_from(v).unwrap_or(i64::MAX));
    if q.format == "csv" {
        let mut out =
            String::from("rn,name,tariff,days_in_service,days_in_month,monthly_price,amount\n");
        for x in &lines {
            out.push_str(&format!(
                "{},\"{}\",{},{},{days_in_month},{},{}\n",
                x.rn,
                x.name.replace('"', "\"\""),
                x.tariff,
                x.days,
                format::qr_sum(i64::try_from(x.price).unwrap_or(i64::MAX)),
                format::qr_sum(i64::try_from(x.amount).unwrap_or(i64::MAX)),
            ));
        }
        out.push_str(&format!(
            ",,,,,total,{}\n",
            format::qr_sum(i64::try_from(total).unwrap_or(i64::MAX))
        ));
        let name = format!("attachment; filename=\"statement-{inn}-{month}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, name),
            ],
            out,
        )
            .into_response());
    }
    let body = html! {
        form.filters method="get" action="/organisation/statement" {
            input type="hidden" name="inn" value=(inn);
            div.field { label for="month" { (l.t(M::Month)) } input #month name="month" type="month" value=(month); }
            button type="submit" { (l.t(M::Search)) }
        }
        table {
            thead { tr {
                th scope="col" { (l.t(M::Rn)) } th scope="col" { (l.t(M::Name)) } th scope="col" { (l.t(M::Tariff)) }
                th.num scope="col" { (l.t(M::DaysInService)) } th.num scope="col" { (l.t(M::MonthlyPrice)) } th.num scope="col" { (l.t(M::Amount)) }
            } }
            tbody {
                @for x in &lines {
                    tr { td { (x.rn) } td { (x.name) } td { (x.tariff) } td.num { (x.days) " / " (days_in_month) } td.num { (money(x.price)) } td.num { (money(x.amount)) } }
                }
                @if lines.is_empty() { tr { td colspan="6" { (l.t(M::NothingFound)) } } }
            }
            tfoot { tr { td colspan="5" { strong { (l.t(M::Total)) } } td.num #statement-total { strong { (money(total)) } } } }
        }
        p { a href={ "/organisation/statement?inn=" (inn) "&month=" (month) "&format=csv" } download { (l.t(M::DownloadCsv)) } }
    };
    Ok(
        Html(page(&s, &format!("{} {month}", l.t(M::Statement)), body).into_string())
            .into_response(),
    )
}
