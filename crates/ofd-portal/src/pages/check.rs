//! The public receipt check, where a receipt's QR code leads: no sign-in. A receipt is shown
//! only when every value the buyer gives matches the stored document; anything else is the
//! same plain "not found", which reveals nothing (not even whether the fiscal drive exists).
//! Limited per address, so fiscal signs cannot be guessed by enumeration.
//!
//! Russian receipts (54-FZ: `t`, `s`, `fn`, `i`, `fp`, `n`) are checked here; a query naming a
//! Kazakh register (`f`, its RNM) goes to `check_kz.rs`, under the same limit.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use ofd_store::{FnNumber, Outcome};
use serde::Deserialize;

use super::check_kz;
use super::documents::{fns_json, receipt_markup};
use crate::Portal;
use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::public_page;
use crate::receipt::Receipt;
use crate::session::Visitor;

/// The QR string's fields. 54-FZ: date-time, total, FN, FD, fiscal sign, payment kind. A
/// Kazakh ticket's: `i` (ticket number), `f` (RNM), `s`, `t` (to the second).
#[derive(Default, Deserialize)]
pub struct CheckQuery {
    #[serde(default)]
    pub t: String,
    #[serde(default)]
    pub s: String,
    #[serde(default, rename = "fn")]
    fn_number: String,
    #[serde(default)]
    pub i: String,
    #[serde(default)]
    fp: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    pub f: String,
    /// `1`: the Kazakh form.
    #[serde(default)]
    kz: String,
}

impl CheckQuery {
    fn is_empty(&self) -> bool {
        [
            &self.t,
            &self.s,
            &self.fn_number,
            &self.i,
            &self.fp,
            &self.n,
            &self.f,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }
}

fn form(l: Lang, q: &CheckQuery) -> Markup {
    let f = |label: M, name: &str, value: &str, hint: &str| {
        let id = format!("c-{name}");
        html! {
            div.field {
                label for=(id) { (l.t(label)) }
                input id=(id) name=(name) value=(value) placeholder=(hint) required;
            }
        }
    };
    html! {
        (switch(l, false))
        p { (l.t(M::CheckHelp)) }
        form method="get" action="/check" {
            (f(M::CheckDate, "t", &q.t, "20171007T1024"))
            (f(M::CheckSum, "s", &q.s, "129.90"))
            (f(M::FnNumber, "fn", &q.fn_number, "8710000100240299"))
            (f(M::CheckFd, "i", &q.i, "40143"))
            (f(M::CheckFp, "fp", &q.fp, "1324042032"))
            div.field {
                label for="c-n" { (l.t(M::CheckKind)) }
                select #c-n name="n" {
                    option value="1" selected[q.n == "1" || q.n.is_empty()] { (l.t(M::OpSale)) }
                    option value="2" selected[q.n == "2"] { (l.t(M::OpSaleReturn)) }
                    option value="3" selected[q.n == "3"] { (l.t(M::OpPurchase)) }
                    option value="4" selected[q.n == "4"] { (l.t(M::OpPurchaseReturn)) }
                }
            }
            button type="submit" { (l.t(M::CheckReceipt)) }
        }
    }
}

/// Russia or Kazakhstan: which form is shown.
fn switch(l: Lang, kz: bool) -> Markup {
    html! {
        nav.filters aria-label=(l.t(M::CheckReceipt)) {
            @if kz { a href="/check" { (l.t(M::CheckRu)) } } @else { strong { (l.t(M::CheckRu)) } }
            " · "
            @if kz { strong { (l.t(M::CheckKz)) } } @else { a href=(check_kz::PATH) { (l.t(M::CheckKz)) } }
        }
    }
}

/// The stored receipt, when every value matches it.
fn find(p: &Portal, q: &CheckQuery) -> Result<Option<Receipt>, PageError> {
    let (Ok(f), Ok(fd), Ok(fp), Some(sum), Some(minute), Ok(op)) = (
        FnNumber::new(q.fn_number.trim().as_bytes()),
        q.i.trim().parse::<u32>(),
        q.fp.trim().parse::<u64>(),
        format::parse_sum(&q.s),
        format::parse_qr_time(&q.t),
        q.n.trim().parse::<i64>(),
    ) else {
        return Ok(None);
    };
    let Some(doc) = p.store.get(&f, fd)? else {
        return Ok(None);
    };
    if doc.header.outcome != Outcome::Accepted {
        return Ok(None);
    }
    let Some(r) = fns_json(&doc).as_ref().and_then(Receipt::from_fns_json) else {
        return Ok(None);
    };
    let matches = r.fiscal_sign == Some(fp)
        && r.total == Some(sum)
        && r.operation == Some(op)
        && r.date_time.map(|t| t - t % 60) == Some(minute);
    Ok(matches.then_some(r))
}

/// `GET /check[?t=…&s=…&fn=…&i=…&fp=…&n=…]`.
pub async fn page(
    State(p): State<Arc<Portal>>,
    v: Visitor,
    Query(q): Query<CheckQuery>,
) -> Result<Response, PageError> {
    let l = v.lang;
    let title = l.t(M::CheckReceipt);
    if q.is_empty() {
        let body = if q.kz == "1" {
            html! { (switch(l, true)) (check_kz::form(l)) }
        } else {
            form(l, &q)
        };
        return Ok(Html(public_page(l, &v.path, title, body).into_string()).into_response());
    }
    if let Err(retry_after) = p.checks.hit(v.addr, p.now()) {
        return Err(PageError::TooMany { retry_after });
    }
    if !q.f.trim().is_empty() {
        return kz_page(&p, l, &q);
    }
    match find(&p, &q)? {
        Some(r) => {
            let body = html! {
                p.notice role="status" { (l.t(M::CheckFound)) }
                (receipt_markup(l, &r))
            };
            Ok(Html(public_page(l, &v.path, title, body).into_string()).into_response())
        }
        None => {
            let body = html! {
                p.warning role="alert" #not-found { (l.t(M::CheckNotFound)) }
                (form(l, &q))
            };
            Ok((
                StatusCode::NOT_FOUND,
                Html(public_page(l, &v.path, title, body).into_string()),
            )
                .into_response())
        }
    }
}

/// A Kazakh ticket's check (the limit already counted).
fn kz_page(p: &Portal, l: Lang, q: &CheckQuery) -> Result<Response, PageError> {
    let title = l.t(M::CheckReceipt);
    match check_kz::find(p, q)? {
        Some(t) => {
            let body = html! {
                p.notice role="status" { (l.t(M::CheckFound)) }
                (check_kz::ticket_markup(l, &t))
            };
            Ok(Html(public_page(l, check_kz::PATH, title, body).into_string()).into_response())
        }
        None => {
            // Nothing from the query is on this page: the same bytes for every miss.
            let body = html! {
                p.warning role="alert" #not-found { (l.t(M::CheckNotFound)) }
                (switch(l, true))
                (check_kz::form(l))
            };
            Ok((
                StatusCode::NOT_FOUND,
                Html(public_page(l, check_kz::PATH, title, body).into_string()),
            )
                .into_response())
        }
    }
}
