//! The register list: Russian and Kazakh registers side by side, searchable, paged by cursor,
//! downloadable as CSV and as an Excel workbook. Every row comes from the scoped store.

use axum::extract::Query;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use ofd_store::{ConnectionType, KktFilter, KktStatus, LIST_SCAN_BUDGET, Rn};
use serde::Deserialize;

use super::Colour;
use super::register::{connection_text, status_text};
use crate::error::PageError;
use crate::format;
use crate::i18n::M;
use crate::layout::{circle, page};
use crate::session::SignedIn;
use crate::workbook::{self, Cell};

/// Kopecks as roubles with two decimals, ungrouped for a CSV (`14000.50`).
fn plain(kopecks: u64) -> String {
    format::qr_sum(i64::try_from(kopecks).unwrap_or(i64::MAX))
}

const PAGE: usize = 50;
const CSV_MAX: usize = 10_000;

#[derive(Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    rn: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    conn: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
    /// `ru`, `kz` or empty (both).
    #[serde(default)]
    kind: String,
}

/// One row, whichever country the register is from.
pub struct Row {
    pub kind: &'static str,
    pub id: String,
    pub link: String,
    pub name: String,
    pub place: String,
    pub status: String,
    pub connection: String,
    pub colour: Colour,
    pub last_doc: Option<u64>,
    pub shift: u32,
    /// The current shift's sales and returns of sales, kopecks (RU: from the receipts stored).
    pub shift_sums: Option<(u64, u64)>,
    pub fn_replace_soon: bool,
}

fn filter_of(q: &ListQuery, limit: usize) -> Result<KktFilter, PageError> {
    let status = match q.status.as_str() {
        "" => None,
        "registered" => Some(KktStatus::Registered),
        "saved" => Some(KktStatus::Saved),
        "deregistered" => Some(KktStatus::Deregistered),
        other => return Err(PageError::BadRequest(format!("status: {other:?}"))),
    };
    let connection = match q.conn.as_str() {
        "" => None,
        "sim" => Some(ConnectionType::Sim),
        "wired" => Some(ConnectionType::Wired),
        other => return Err(PageError::BadRequest(format!("conn: {other:?}"))),
    };
    let date = |s: &str, end: bool| -> Result<Option<u64>, PageError> {
        if s.is_empty() {
            return Ok(None);
        }
        let d =
            format::parse_date(s).ok_or_else(|| PageError::BadRequest(format!("date: {s:?}")))?;
        Ok(Some(if end { d + 86_399 } else { d }))
    };
    let after = if q.after.is_empty() {
        None
    } else {
        Some(
            Rn::new(q.after.as_bytes())
                .map_err(|e| PageError::BadRequest(format!("after: {e}")))?,
        )
    };
    Ok(KktFilter {
        status,
        name_contains: (!q.q.trim().is_empty()).then(|| q.q.trim().to_string()),
        rn_prefix: (!q.rn.trim().is_empty()).then(|| q.rn.trim().to_string()),
        connection,
        registered_from: date(&q.from, false)?,
        registered_to: date(&q.to, true)?,
        after,
        limit,
    })
}

/// The rows of one page (RU by RN, then KZ by system ID) and the cursor of the next.
pub fn rows(
    s: &SignedIn,
    q: &ListQuery,
    limit: usize,
) -> Result<(Vec<Row>, Option<String>), PageError> {
    let l = s.lang;
    let now = s.now();
    let store = s.store();
    let mut out = Vec::new();
    let place = q.place.trim().to_lowercase();
    let mut next = None;
    if q.kind != "kz" && !q.after.starts_with("kz") {
        // The place filter narrows after the store's page, so ask for more and stop at limit.
        let mut f = filter_of(q, limit)?;
        let mut examined = 0usize;
        loop {
            let (page, lives) = store.list_kkt_live(&f)?;
            examined += page.items.len();
            if page.items.len() < f.limit && page.next.is_some() {
                // The store's page ended on its budget: it looked at its limit and the budget.
                examined += f.limit + LIST_SCAN_BUDGET;
            }
            for (k, live) in page.items.into_iter().zip(lives) {
                if !place.is_empty() && !k.place.to_lowercase().contains(&place) {
                    continue;
                }
                if out.len() == limit {
                    next = out.last().map(|r: &Row| r.id.clone());
                    return Ok((out, next));
                }
                out.push(Row {
                    kind: "RU",
                    id: k.rn.as_str().to_string(),
                    link: format!("/registers/{}", k.rn.as_str()),
                    name: k.user_name.clone(),
                    place: k.place.clone(),
                    status: status_text(l, k.status).into(),
                    connection: connection_text(l, k.connection).into(),
                    colour: Colour::of(live.as_ref(), now, s.portal()),
                    last_doc: live.map(|r| u64::from(r.last_doc_time)),
                    shift: live.map_or(0, |r| r.shift),
                    shift_sums: live
                        .filter(|r| r.shift != 0)
                        .map(|r| (r.shift_sales, r.shift_returns)),
                    fn_replace_soon: live
                        .is_some_and(|r| r.key_expiry_soon() || r.key_expiry_urgent()),
                });
            }
            match page.next {
                // A page looks at most at its size plus the budget, however few match.
                Some(n) if examined >= limit + LIST_SCAN_BUDGET => {
                    return Ok((out, Some(n.as_str().to_string())));
                }
                Some(n) => f.after = Some(n),
                None => break,
            }
        }
    }
    // Kazakh registers have no RU-only filters: they appear only when none is set.
    let ru_only = !q.rn.is_empty()
        || !q.conn.is_empty()
        || !q.from.is_empty()
        || !q.to.is_empty()
        || !q.status.is_empty();
    if q.kind != "ru" && !ru_only {
        let after = q
            .after
            .strip_prefix("kz")
            .and_then(|a| a.parse::<u32>().ok());
        let mut cursor = after;
        let mut examined = 0usize;
        loop {
            let (page, next_id) = store.list_kkm_page(cursor, limit.max(1))?;
            examined += page.len();
            if page.len() < limit.max(1) && next_id.is_some() {
                examined += limit + LIST_SCAN_BUDGET;
            }
            for rec in page {
                let card = s
                    .portal()
                    .services
                    .kz_card(&store, rec.system_id)
                    .map_err(PageError::Internal)?;
                let Some(card) = card else { continue };
                let name_q = q.q.trim().to_lowercase();
                if !name_q.is_empty() && !card.org_name.to_lowercase().contains(&name_q) {
                    continue;
                }
                if !place.is_empty() && !card.address.to_lowercase().contains(&place) {
                    continue;
                }
                if out.len() == limit {
                    next = out.last().map(|r: &Row| r.id.clone());
                    return Ok((out, next.map(|n| format!("kz{n}"))));
                }
                let live = store.kkm_liveness(rec.system_id)?;
                out.push(Row {
                    kind: "KZ",
                    id: rec.system_id.to_string(),
                    link: format!("/kz/{}", rec.system_id),
                    name: card.org_name,
                    place: card.address,
                    status: card.status,
                    connection: "—".into(),
                    colour: Colour::of(live.as_ref(), now, s.portal()),
                    last_doc: live.map(|r| u64::from(r.last_doc_time)),
                    shift: card.shift_open.unwrap_or(0),
                    shift_sums: None,
                    fn_replace_soon: false,
                });
            }
            match next_id {
                Some(n) if examined >= limit + LIST_SCAN_BUDGET => {
                    return Ok((out, Some(format!("kz{n}"))));
                }
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
    }
    Ok((out, next))
}

fn query_string(q: &ListQuery, after: &str) -> String {
    let e = super::url_encode;
    format!(
        "q={}&rn={}&place={}&status={}&conn={}&from={}&to={}&kind={}&after={}",
        e(&q.q),
        e(&q.rn),
        e(&q.place),
        e(&q.status),
        e(&q.conn),
        e(&q.from),
        e(&q.to),
        e(&q.kind),
        e(after)
    )
}

/// `GET /registers`.
pub async fn list(s: SignedIn, Query(q): Query<ListQuery>) -> Result<Html<String>, PageError> {
    let l = s.lang;
    let (rows, next) = rows(&s, &q, PAGE)?;
    let sel = |v: &str, cur: &str| v == cur;
    let body = html! {
        form.filters method="get" action="/registers" role="search" {
            div.field { label for="q" { (l.t(M::Name)) } input #q name="q" type="search" value=(q.q); }
            div.field { label for="rn" { (l.t(M::RnOrId)) } input #rn name="rn" value=(q.rn); }
            div.field { label for="place" { (l.t(M::Place)) } input #place name="place" value=(q.place); }
            div.field { label for="status" { (l.t(M::Status)) }
                select #status name="status" {
                    option value="" { (l.t(M::Any)) }
                    option value="registered" selected[sel("registered", &q.status)] { (l.t(M::StatusRegistered)) }
                    option value="saved" selected[sel("saved", &q.status)] { (l.t(M::StatusSaved)) }
                    option value="deregistered" selected[sel("deregistered", &q.status)] { (l.t(M::StatusDeregistered)) }
                }
            }
            div.field { label for="conn" { (l.t(M::Connection)) }
                select #conn name="conn" {
                    option value="" { (l.t(M::Any)) }
                    option value="sim" selected[sel("sim", &q.conn)] { (l.t(M::ConnSim)) }
                    option value="wired" selected[sel("wired", &q.conn)] { (l.t(M::ConnWired)) }
                }
            }
            div.field { label for="from" { (l.t(M::RegisteredFrom)) } input #from name="from" type="date" value=(q.from); }
            div.field { label for="to" { (l.t(M::RegisteredTo)) } input #to name="to" type="date" value=(q.to); }
            div.field { label for="kind" { (l.t(M::Country)) }
                select #kind name="kind" {
                    option value="" { (l.t(M::Any)) }
                    option value="ru" selected[sel("ru", &q.kind)] { "RU" }
                    option value="kz" selected[sel("kz", &q.kind)] { "KZ" }
                }
            }
            button type="submit" { (l.t(M::Search)) }
        }
        p {
            a href={ "/registers.csv?" (query_string(&q, "")) } download { (l.t(M::DownloadCsv)) } " · "
            a href={ "/registers.xlsx?" (query_string(&q, "")) } download { (l.t(M::DownloadXlsx)) }
        }
        table {
            caption.sr { (l.t(M::Registers)) }
            thead { tr {
                th scope="col" { (l.t(M::Country)) } th scope="col" { (l.t(M::RnOrId)) }
                th scope="col" { (l.t(M::Name)) } th scope="col" { (l.t(M::Place)) }
                th scope="col" { (l.t(M::Status)) } th scope="col" { (l.t(M::Connection)) }
                th scope="col" { (l.t(M::State)) } th scope="col" { (l.t(M::LastDocument)) }
                th scope="col" class="num" { (l.t(M::Shift)) }
                th scope="col" class="num" { (l.t(M::ShiftSales)) }
                th scope="col" class="num" { (l.t(M::ShiftReturns)) }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td { (r.kind) }
                        td { a href=(r.link) { (r.id) } }
                        td { (r.name) } td { (r.place) } td { (r.status) } td { (r.connection) }
                        td { (circle(l, r.colour)) }
                        td { (r.last_doc.map(format::datetime).unwrap_or_else(|| "—".into())) }
                        td.num { (if r.shift == 0 { "—".to_string() } else { r.shift.to_string() }) }
                        td.num { (r.shift_sums.map_or("—".into(), |(s, _)| format::money_u(s))) }
                        td.num { (r.shift_sums.map_or("—".into(), |(_, x)| format::money_u(x))) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="11" { (l.t(M::NothingFound)) } } }
            }
        }
        @if let Some(n) = &next {
            p.pager { a href={ "/registers?" (query_string(&q, n)) } rel="next" { (l.t(M::NextPage)) } }
        }
    };
    Ok(Html(page(&s, l.t(M::Registers), body).into_string()))
}

/// Every row the filter matches, up to `CSV_MAX`, for a download: a list page stops after a
/// bounded look (`LIST_SCAN_BUDGET`) and hands back a cursor, so a download follows the cursors
/// to the end instead of ending where a page would. O(organisation) by design, like the file.
fn download_rows(s: &SignedIn, q: &ListQuery) -> Result<Vec<Row>, PageError> {
    let mut q = q.clone();
    let mut out = Vec::new();
    loop {
        let (mut page, next) = rows(s, &q, CSV_MAX - out.len())?;
        out.append(&mut page);
        match next {
            Some(n) if out.len() < CSV_MAX => q.after = n,
            _ => return Ok(out),
        }
    }
}

fn csv_field(s: &str) -> String {
    // Quote every field; a leading formula character is neutralised for spreadsheets.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `GET /registers.csv`: the filtered list (up to 10 000 rows), with the "fiscal drive to
/// replace within 30 days" column.
pub async fn csv(s: SignedIn, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    let rows = download_rows(&s, &q)?;
    let mut out = String::from(
        "country,id,name,place,status,connection,state,last_document,shift,shift_sales,shift_returns,fn_replace_within_30_days\n",
    );
    for r in rows {
        let state = match r.colour {
            Colour::Grey => "none",
            c => c.describe(s.lang).0,
        };
        let (sales, returns) = r
            .shift_sums
            .map_or((String::new(), String::new()), |(s, x)| {
                (plain(s), plain(x))
            });
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.kind,
            csv_field(&r.id),
            csv_field(&r.name),
            csv_field(&r.place),
            csv_field(&r.status),
            csv_field(&r.connection),
            state,
            r.last_doc.map(format::datetime_secs).unwrap_or_default(),
            r.shift,
            sales,
            returns,
            if r.fn_replace_soon { "yes" } else { "no" },
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"registers.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// `GET /registers.xlsx`: the same rows as the CSV, as a workbook with the page's own column
/// names, for the people who open the list in Excel rather than parse it.
pub async fn xlsx(s: SignedIn, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    let l = s.lang;
    let rows = download_rows(&s, &q)?;
    let headers = [
        l.t(M::Country),
        l.t(M::RnOrId),
        l.t(M::Name),
        l.t(M::Place),
        l.t(M::Status),
        l.t(M::Connection),
        l.t(M::State),
        l.t(M::LastDocument),
        l.t(M::Shift),
        l.t(M::ShiftSales),
        l.t(M::ShiftReturns),
        l.t(M::FnReplaceSoon),
    ];
    let cells: Vec<Vec<Cell>> = rows
        .into_iter()
        .map(|r| {
            vec![
                Cell::Text(r.kind.into()),
                Cell::Text(r.id),
                Cell::Text(r.name),
                Cell::Text(r.place),
                Cell::Text(r.status),
                Cell::Text(r.connection),
                Cell::Text(r.colour.describe(l).1.into()),
                r.last_doc.map_or(Cell::Empty, Cell::Time),
                if r.shift == 0 {
                    Cell::Empty
                } else {
                    Cell::Number(f64::from(r.shift))
                },
                r.shift_sums.map_or(Cell::Empty, |(s, _)| Cell::Money(s)),
                r.shift_sums.map_or(Cell::Empty, |(_, x)| Cell::Money(x)),
                Cell::Text(l.t(if r.fn_replace_soon { M::Yes } else { M::No }).into()),
            ]
        })
        .collect();
    let sheet = l.t(M::Registers);
    let bytes =
        tokio::task::spawn_blocking(move || workbook::build(sheet, &headers, &cells)).await??;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"registers.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}
