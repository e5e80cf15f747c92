//! The shift report history of a Russian register: each shift's opening and closing reports
//! in a month, with the shift's sales and returns summed from its receipts (each shift one
//! index range scan of the register's documents, never a scan of the log).

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use axum::response::Html;
use maud::html;
use ofd_store::RegisterQuery;
use serde::Deserialize;

use super::documents::fns_json;
use super::register::parse_rn;
use crate::error::PageError;
use crate::format;
use crate::i18n::M;
use crate::layout::page;
use crate::receipt::Receipt;
use crate::session::SignedIn;

/// Document types: shift opened, shift closed.
const OPEN_SHIFT: u8 = 2;
const CLOSE_SHIFT: u8 = 5;
/// Documents read per month, at most (a register sends a few hundred a day).
const MAX_DOCS: usize = 200_000;

#[derive(Default, Deserialize)]
pub struct ReportsQuery {
    #[serde(default)]
    month: String,
}

#[derive(Default)]
struct ShiftRow {
    opened: Option<(u64, u32)>,
    closed: Option<(u64, u32)>,
    receipts: u32,
    sales: i64,
    returns: i64,
}

/// `GET /registers/{rn}/reports[?month=yyyy-mm]`.
pub async fn shifts(
    s: SignedIn,
    Path(rn): Path<String>,
    Query(q): Query<ReportsQuery>,
) -> Result<Html<String>, PageError> {
    let l = s.lang;
    let rn = parse_rn(&rn)?;
    let month = if q.month.is_empty() {
        format::month(s.now())
    } else {
        q.month.trim().to_string()
    };
    let (start, days) = format::parse_month(&month)
        .ok_or_else(|| PageError::BadRequest(format!("month: {month:?} is not yyyy-mm")))?;
    let from = u32::try_from(start).unwrap_or(u32::MAX);
    let to = from.saturating_add(days * 86_400 - 1);
    let store = s.store();
    let mut by_shift: BTreeMap<u32, ShiftRow> = BTreeMap::new();
    let query = RegisterQuery {
        doc_time: Some(from..=to),
        ..RegisterQuery::default()
    };
    for d in store.documents_of(&rn, query)?.take(MAX_DOCS) {
        let d = d?;
        let Some(shift) = d.header.shift else {
            continue;
        };
        let row = by_shift.entry(shift).or_default();
        match d.header.doc_type {
            OPEN_SHIFT => row.opened = Some((u64::from(d.header.doc_time), d.key.fd)),
            CLOSE_SHIFT => row.closed = Some((u64::from(d.header.doc_time), d.key.fd)),
            _ => {
                if let Some(r) = fns_json(&d).as_ref().and_then(Receipt::from_fns_json)
                    && r.root == "receipt"
                {
                    row.receipts += 1;
                    match r.operation {
                        Some(1 | 4) => row.sales += r.total.unwrap_or(0),
                        Some(2 | 3) => row.returns += r.total.unwrap_or(0),
                        _ => {}
                    }
                }
            }
        }
    }
    let fn_of = store.kkt(&rn)?.and_then(|k| k.fn_number);
    let body = html! {
        form.filters method="get" action={ "/registers/" (rn.as_str()) "/reports" } {
            div.field { label for="month" { (l.t(M::Month)) } input #month name="month" type="month" value=(month); }
            button type="submit" { (l.t(M::Search)) }
        }
        table {
            caption.sr { (l.t(M::ShiftReports)) }
            thead { tr {
                th.num scope="col" { (l.t(M::Shift)) } th scope="col" { (l.t(M::Opened)) } th scope="col" { (l.t(M::Closed)) }
                th.num scope="col" { (l.t(M::Receipts)) } th.num scope="col" { (l.t(M::Sales)) } th.num scope="col" { (l.t(M::Returns)) }
            } }
            tbody {
                @for (n, r) in by_shift.iter().rev() {
                    tr {
                        td.num { a href={ "/registers/" (rn.as_str()) "/documents?shift=" (n) } { (n) } }
                        td { @if let Some((t, fd)) = r.opened { (format::datetime(t)) @if let Some(f) = &fn_of { " · " a href={ "/documents/" (f.as_str()) "/" (fd) } { "FD " (fd) } } } }
                        td { @if let Some((t, fd)) = r.closed { (format::datetime(t)) @if let Some(f) = &fn_of { " · " a href={ "/documents/" (f.as_str()) "/" (fd) } { "FD " (fd) } } } @else { (l.t(M::ShiftOpenNow)) } }
                        td.num { (r.receipts) }
                        td.num { (format::money(r.sales)) }
                        td.num { (format::money(r.returns)) }
                    }
                }
                @if by_shift.is_empty() { tr { td colspan="6" { (l.t(M::NothingFound)) } } }
            }
        }
    };
    Ok(Html(
        page(
            &s,
            &format!("{} · {}", l.t(M::ShiftReports), rn.as_str()),
            body,
        )
        .into_string(),
    ))
}
