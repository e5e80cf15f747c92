//! Transactions: a register's documents for a day or a shift (and as CSV), one document as a
//! readable receipt with its QR code, and its FNS JSON and raw bytes as downloads.

use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use ofd_proto::doctype::DocType;
use ofd_proto::json::message_to_fns_json;
use ofd_proto::message::parse_message;
use ofd_store::{DocFlags, FnNumber, Outcome, RegisterQuery, StoredDocument};
use serde::Deserialize;
use serde_json::Value;

use super::register::parse_rn;
use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::{page, svg};
use crate::receipt::{Receipt, qr_svg};
use crate::session::SignedIn;

/// Documents listed on one page (a register sends at most a few hundred a day).
const MAX_ROWS: usize = 2000;

#[derive(Default, Deserialize)]
pub struct DocsQuery {
    /// `yyyy-mm-dd` (the register's local date).
    #[serde(default)]
    date: String,
    #[serde(default)]
    shift: String,
    /// `csv` for a download.
    #[serde(default)]
    format: String,
}

/// The FNS JSON of a stored document (`None` for an encrypted or unreadable body).
pub fn fns_json(d: &StoredDocument) -> Option<Value> {
    if d.header.flags.contains(DocFlags::ENCRYPTED) {
        return None;
    }
    parse_message(&d.raw)
        .and_then(|m| message_to_fns_json(&m))
        .ok()
}

fn type_name(t: u8) -> String {
    DocType::from_u8(t).map_or_else(|| format!("document{t}"), |d| d.json_root().to_string())
}

fn outcome_text(l: Lang, o: Outcome) -> String {
    match o {
        Outcome::Accepted => l.t(M::Accepted).into(),
        Outcome::Rejected { code } => format!("{} ({code})", l.t(M::Refused)),
        Outcome::EncryptedUnacknowledged => l.t(M::Encrypted).into(),
    }
}

/// `GET /registers/{rn}/documents?date=|shift=[&format=csv]`.
pub async fn of_register(
    s: SignedIn,
    Path(rn): Path<String>,
    Query(q): Query<DocsQuery>,
) -> Result<Response, PageError> {
    let l = s.lang;
    let rn = parse_rn(&rn)?;
    let shift = if q.shift.trim().is_empty() {
        None
    } else {
        Some(
            q.shift
                .trim()
                .parse::<u32>()
                .map_err(|_| PageError::BadRequest(format!("shift: {:?}", q.shift)))?,
        )
    };
    let date = if shift.is_none() {
        let d = if q.date.is_empty() {
            s.today()
        } else {
            q.date.clone()
        };
        Some(format::parse_date(&d).ok_or_else(|| PageError::BadRequest(format!("date: {d:?}")))?)
    } else {
        None
    };
    let query = RegisterQuery {
        doc_time: date.map(|d| {
            let from = u32::try_from(d).unwrap_or(u32::MAX);
            from..=from.saturating_add(86_399)
        }),
        shift,
        ..RegisterQuery::default()
    };
    let store = s.store();
    let mut docs = Vec::new();
    for d in store.documents_of(&rn, query)?.take(MAX_ROWS) {
        docs.push(d?);
    }
    if q.format == "csv" {
        let mut out = String::from("fn,fd,type,doc_time,shift,outcome,total,fiscal_sign\n");
        for d in &docs {
            let r = fns_json(d).as_ref().and_then(Receipt::from_fns_json);
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                d.key.fn_number.as_str(),
                d.key.fd,
                type_name(d.header.doc_type),
                format::datetime_secs(u64::from(d.header.doc_time)),
                d.header.shift.map(|s| s.to_string()).unwrap_or_default(),
                outcome_text(Lang::En, d.header.outcome),
                r.as_ref()
                    .and_then(|r| r.total)
                    .map(format::qr_sum)
                    .unwrap_or_default(),
                r.as_ref()
                    .and_then(|r| r.fiscal_sign)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ));
        }
        let name = format!("attachment; filename=\"{}-documents.csv\"", rn.as_str());
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, name),
            ],
            out,
        )
            .into_response());
    }
    let (mut sales, mut returns) = (0i64, 0i64);
    let rows: Vec<(StoredDocument, Option<Receipt>)> = docs
        .into_iter()
        .map(|d| {
            let r = fns_json(&d).as_ref().and_then(Receipt::from_fns_json);
            if let Some(r) = &r
                && r.root == "receipt"
            {
                match r.operation {
                    Some(1) | Some(4) => sales += r.total.unwrap_or(0),
                    Some(2) | Some(3) => returns += r.total.unwrap_or(0),
                    _ => {}
                }
            }
            (d, r)
        })
        .collect();
    let csv_link = format!(
        "/registers/{}/documents?date={}&shift={}&format=csv",
        rn.as_str(),
        q.date,
        q.shift
    );
    let body = html! {
        form.filters method="get" action={ "/registers/" (rn.as_str()) "/documents" } {
            div.field { label for="date" { (l.t(M::Date)) } input #date name="date" type="date" value=(date.map(format::date).unwrap_or_default()); }
            div.field { label for="shift" { (l.t(M::Shift)) } input #shift name="shift" inputmode="numeric" value=(q.shift); }
            button type="submit" { (l.t(M::Search)) }
        }
        p {
            (l.t(M::Sales)) ": " strong { (format::money(sales)) } " · "
            (l.t(M::Returns)) ": " strong { (format::money(returns)) } " · "
            a href=(csv_link) download { (l.t(M::DownloadCsv)) }
        }
        table {
            caption.sr { (l.t(M::Transactions)) }
            thead { tr {
                th scope="col" class="num" { "FD" } th scope="col" { (l.t(M::DocType)) }
                th scope="col" { (l.t(M::Time)) } th scope="col" class="num" { (l.t(M::Shift)) }
                th scope="col" class="num" { (l.t(M::Total)) } th scope="col" { (l.t(M::Outcome)) }
            } }
            tbody {
                @for (d, r) in &rows {
                    tr {
                        td.num { a href={ "/documents/" (d.key.fn_number.as_str()) "/" (d.key.fd) } { (d.key.fd) } }
                        td { (type_name(d.header.doc_type)) }
                        td { (format::datetime(u64::from(d.header.doc_time))) }
                        td.num { (d.header.shift.map(|s| s.to_string()).unwrap_or_default()) }
                        td.num { (r.as_ref().and_then(|r| r.total).map(format::money).unwrap_or_default()) }
                        td { (outcome_text(l, d.header.outcome)) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="6" { (l.t(M::NothingFound)) } } }
            }
        }
    };
    let title = format!("{} · {}", l.t(M::Transactions), rn.as_str());
    Ok(Html(page(&s, &title, body).into_string()).into_response())
}

fn fetch(s: &SignedIn, fn_s: &str, fd_s: &str) -> Result<StoredDocument, PageError> {
    let f = FnNumber::new(fn_s.as_bytes()).map_err(|_| PageError::NotFound)?;
    let fd = fd_s.parse::<u32>().map_err(|_| PageError::NotFound)?;
    s.store().document(&f, fd)?.ok_or(PageError::NotFound)
}

fn operation_text(l: Lang, op: i64) -> &'static str {
    match op {
        1 => l.t(M::OpSale),
        2 => l.t(M::OpSaleReturn),
        3 => l.t(M::OpPurchase),
        4 => l.t(M::OpPurchaseReturn),
        _ => "",
    }
}

/// The receipt as printed (also used by the public check).
pub fn receipt_markup(l: Lang, r: &Receipt) -> Markup {
    let qr = r.qr_string();
    html! {
        div.receipt {
            @if let Some(u) = &r.user { p { strong { (u) } } }
            @if let Some(i) = &r.user_inn { p { (l.t(M::Inn)) " " (i) } }
            @if let Some(a) = &r.address { p { (a) } }
            @if let Some(p) = &r.place { p { (p) } }
            p {
                @if let Some(op) = r.operation { strong { (operation_text(l, op)) } " " }
                @if let Some(t) = r.date_time { (format::datetime(t)) }
            }
            @if !r.items.is_empty() {
                table {
                    thead { tr { th scope="col" { (l.t(M::Item)) } th.num scope="col" { (l.t(M::Price)) } th.num scope="col" { (l.t(M::Qty)) } th.num scope="col" { (l.t(M::Sum)) } } }
                    tbody {
                        @for it in &r.items {
                            tr {
                                td { (it.name) @if let Some(v) = it.vat { br; small { (l.t(M::Vat)) " " (vat_rate(v)) } } }
                                td.num { (it.price.map(format::money).unwrap_or_default()) }
                                td.num { (it.quantity) }
                                td.num { (it.sum.map(format::money).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            @if let Some(t) = r.total { p.total { (l.t(M::Total)) ": " (format::money(t)) } }
            @for (k, v) in &r.payments { p { (payment_text(l, k)) ": " (format::money(*v)) } }
            @for (k, v) in &r.vat { p { (l.t(M::Vat)) " " (vat_sum_text(k)) ": " (format::money(*v)) } }
            @if let Some(s) = r.shift { p { (l.t(M::Shift)) " " (s) @if let Some(q) = r.request { " · " (l.t(M::ReceiptNo)) " " (q) } } }
            @if let Some(k) = &r.kkt_reg_id { p { (l.t(M::Rn)) " " (k) } }
            @if let Some(f) = &r.fn_number { p { (l.t(M::FnNumber)) " " (f) } }
            @if let Some(fd) = r.fd { p { "ФД / FD " (fd) } }
            @if let Some(fp) = r.fiscal_sign { p { "ФП / FP " span #fiscal-sign { (fp) } } }
            @if let Some(q) = &qr {
                @if let Some(svg_text) = qr_svg(q) {
                    div.qr role="img" aria-label=(l.t(M::QrCode)) { (svg(svg_text)) }
                }
                p { small #qr-string { (q) } }
            }
        }
    }
}

fn vat_rate(code: i64) -> &'static str {
    match code {
        1 => "20%",
        2 => "10%",
        3 => "20/120",
        4 => "10/110",
        5 => "0%",
        6 => "—",
        7 => "5%",
        8 => "7%",
        9 => "5/105",
        10 => "7/107",
        _ => "?",
    }
}

fn vat_sum_text(k: &str) -> &'static str {
    match k {
        "nds18" => "20%",
        "nds10" => "10%",
        "nds0" => "0%",
        "ndsNo" => "—",
        "nds18118" => "20/120",
        "nds10110" => "10/110",
        _ => "",
    }
}

fn payment_text(l: Lang, k: &str) -> &'static str {
    match k {
        "cashTotalSum" => l.t(M::PayCash),
        "ecashTotalSum" => l.t(M::PayCard),
        "prepaidSum" => l.t(M::PayPrepaid),
        "creditSum" => l.t(M::PayCredit),
        _ => l.t(M::PayOther),
    }
}

/// `GET /documents/{fn}/{fd}`.
pub async fn receipt(
    s: SignedIn,
    Path((fn_s, fd_s)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let d = fetch(&s, &fn_s, &fd_s)?;
    let l = s.lang;
    let r = fns_json(&d).as_ref().and_then(Receipt::from_fns_json);
    let base = format!("/documents/{}/{}", d.key.fn_number.as_str(), d.key.fd);
    let body = html! {
        dl.card {
            dt { (l.t(M::DocType)) } dd { (type_name(d.header.doc_type)) }
            dt { (l.t(M::Outcome)) } dd { (outcome_text(l, d.header.outcome)) }
            dt { (l.t(M::ReceivedAt)) } dd { (format::datetime_secs(d.header.received_at_ms / 1000)) " UTC" }
            @if let Some(rn) = &d.header.rn { dt { (l.t(M::Rn)) } dd { a href={ "/registers/" (rn.as_str()) } { (rn.as_str()) } } }
        }
        @match &r {
            Some(r) => (receipt_markup(l, r)),
            None => p { (l.t(M::NotReadable)) },
        }
        p {
            a href={ (base) "/json" } download { (l.t(M::DownloadJson)) } " · "
            a href={ (base) "/raw" } download { (l.t(M::DownloadRaw)) }
        }
    };
    let title = format!(
        "{} {} · FD {}",
        l.t(M::Document),
        d.key.fn_number.as_str(),
        d.key.fd
    );
    Ok(Html(page(&s, &title, body).into_string()))
}

/// `GET /documents/{fn}/{fd}/raw`: the exact bytes received.
pub async fn raw(
    s: SignedIn,
    Path((fn_s, fd_s)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let d = fetch(&s, &fn_s, &fd_s)?;
    let name = format!(
        "attachment; filename=\"{}-{}.bin\"",
        d.key.fn_number.as_str(),
        d.key.fd
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        d.raw,
    )
        .into_response())
}

/// `GET /documents/{fn}/{fd}/json`: the FNS JSON.
pub async fn json(
    s: SignedIn,
    Path((fn_s, fd_s)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let d = fetch(&s, &fn_s, &fd_s)?;
    let v = fns_json(&d).ok_or(PageError::NotFound)?;
    let name = format!(
        "attachment; filename=\"{}-{}.json\"",
        d.key.fn_number.as_str(),
        d.key.fd
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        serde_json::to_string_pretty(&v).map_err(|e| PageError::Internal(e.to_string()))?,
    )
        .into_response())
}
