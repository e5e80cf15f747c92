//! The shift reports of a Kazakh register, summed from its exchange log: for each shift, when
//! it opened and closed, how many tickets, and the sums of sales, sale returns, purchases and
//! purchase returns — added up from the accepted tickets the log holds, not taken from any
//! report. Where the register's close-shift request carries its own Z report, its ticket totals
//! are shown against those sums, so a disagreement is visible.
//!
//! The log is read forward from a cursor (a log sequence number) and a page stops at the first
//! exchange of the shift after [`SHIFTS_PER_PAGE`] shifts: what one page reads is bounded by the
//! exchanges of those shifts, never the whole log of a big register.

use axum::extract::{Path, Query};
use axum::response::Html;
use maud::html;
use serde::Deserialize;

use super::check_kz::operation_text;
use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::page;
use crate::session::SignedIn;
use crate::{KzExchange, KzOperation, KzShiftSums};

/// Shifts on one page.
const SHIFTS_PER_PAGE: usize = 10;
/// Log entries read at a time.
const READ_BATCH: usize = 256;

#[derive(Default, Deserialize)]
pub struct ReportsQuery {
    /// Start after this log sequence number.
    after: Option<u64>,
}

/// One shift as its exchanges add up.
struct ShiftRow {
    number: u32,
    /// The first exchange's time: the register's own when it carries one.
    opened: String,
    closed: Option<String>,
    sums: KzShiftSums,
    /// `Some(None)`: the shift was closed without a Z report in the request.
    register_sums: Option<Option<KzShiftSums>>,
}

impl ShiftRow {
    fn tickets(&self) -> u32 {
        self.sums.iter().map(|s| s.0).sum()
    }
}

fn received(ms: u64) -> String {
    format!("{} UTC", format::datetime_secs(ms / 1000))
}

/// `GET /kz/{id}/reports[?after=<log seq>]`.
pub async fn shifts(
    s: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<ReportsQuery>,
) -> Result<Html<String>, PageError> {
    let c = super::kz::load(&s, &id)?;
    let l = s.lang;
    let store = s.store();
    let services = &s.portal().services;
    let mut rows: Vec<ShiftRow> = Vec::new();
    let mut cursor = q.after.unwrap_or(0);
    let mut next = None;
    'read: loop {
        let batch = store.kkm_log(c.system_id, cursor, READ_BATCH)?;
        for e in &batch {
            if let (0, Some(n)) = (e.code, e.shift) {
                if rows.last().map(|r| r.number) != Some(n) {
                    if rows.len() == SHIFTS_PER_PAGE {
                        next = Some(cursor);
                        break 'read;
                    }
                    rows.push(ShiftRow {
                        number: n,
                        opened: String::new(),
                        closed: None,
                        sums: [(0, 0); 4],
                        register_sums: None,
                    });
                }
                let Some(row) = rows.last_mut() else {
                    break 'read;
                };
                let exchange = services.kz_exchange(e);
                if row.opened.is_empty() {
                    row.opened = match &exchange {
                        KzExchange::Ticket { time, .. } => format::compact_time(time),
                        _ => received(e.received_at_ms),
                    };
                }
                match exchange {
                    KzExchange::Ticket {
                        operation, total, ..
                    } => {
                        let slot = &mut row.sums[operation.index()];
                        slot.0 = slot.0.saturating_add(1);
                        slot.1 = slot.1.saturating_add(total);
                    }
                    KzExchange::CloseShift {
                        time,
                        register_sums,
                    } => {
                        row.closed = Some(time.map_or_else(
                            || received(e.received_at_ms),
                            |t| format::compact_time(&t),
                        ));
                        row.register_sums = Some(register_sums);
                    }
                    KzExchange::Other => {}
                }
            }
            cursor = e.seq;
        }
        if batch.len() < READ_BATCH {
            break;
        }
    }
    let base = format!("/kz/{}/reports", c.system_id);
    let body = html! {
        p { (l.t(M::KzReportsHelp)) " " a href={ "/kz/" (c.system_id) } { (l.t(M::BackToRegister)) } }
        table {
            caption.sr { (l.t(M::ShiftReports)) }
            thead { tr {
                th.num scope="col" { (l.t(M::Shift)) } th scope="col" { (l.t(M::Opened)) } th scope="col" { (l.t(M::Closed)) }
                th.num scope="col" { (l.t(M::Receipts)) }
                @for op in [KzOperation::Sell, KzOperation::SellReturn, KzOperation::Buy, KzOperation::BuyReturn] {
                    th.num scope="col" { (operation_text(l, op)) }
                }
                th scope="col" { (l.t(M::KzZReport)) }
            } }
            tbody {
                @for r in &rows {
                    tr id={ "shift-" (r.number) } {
                        td.num { (r.number) }
                        td { (r.opened) }
                        td { @if let Some(t) = &r.closed { (t) } @else { (l.t(M::ShiftOpenNow)) } }
                        td.num id={ "shift-" (r.number) "-tickets" } { (r.tickets()) }
                        @for op in [KzOperation::Sell, KzOperation::SellReturn, KzOperation::Buy, KzOperation::BuyReturn] {
                            td.num id={ "shift-" (r.number) "-" (op_id(op)) } { (format::money_u(r.sums[op.index()].1)) }
                        }
                        td id={ "shift-" (r.number) "-z" } { (z_cell(l, r)) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="9" { (l.t(M::NothingFound)) } } }
            }
        }
        p {
            @if q.after.is_some() { a href=(base) { (l.t(M::FirstShifts)) } " " }
            @if let Some(n) = next { a #next-shifts href={ (base) "?after=" (n) } { (l.t(M::NextShifts)) } }
        }
    };
    Ok(Html(
        page(
            &s,
            &format!("{} · {}", l.t(M::ShiftReports), c.system_id),
            body,
        )
        .into_string(),
    ))
}

fn op_id(op: KzOperation) -> &'static str {
    match op {
        KzOperation::Buy => "buy",
        KzOperation::BuyReturn => "buy-return",
        KzOperation::Sell => "sell",
        KzOperation::SellReturn => "sell-return",
    }
}

/// The register's own Z report against the tickets' sums.
fn z_cell(l: Lang, r: &ShiftRow) -> maud::Markup {
    match &r.register_sums {
        None => html! {},
        Some(None) => html! { (l.t(M::ZNotSent)) },
        Some(Some(z)) if *z == r.sums => html! { (l.t(M::ZAgrees)) },
        Some(Some(z)) => html! {
            strong { (l.t(M::ZDiffers)) } ": "
            @for op in KzOperation::ALL {
                @if z[op.index()] != (0, 0) {
                    (operation_text(l, op)) " " (z[op.index()].0) " / " (format::money_u(z[op.index()].1)) "; "
                }
            }
        },
    }
}
