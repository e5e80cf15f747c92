//! The audit log, newest first: an organisation's (`/organisation/audit`, for its admin and the
//! operator's people) and everything (`/audit`, for the operator's staff and support). Filters
//! by actor, action prefix and dates; each page reads a bounded number of entries
//! (`Store::audit_newest`), so a filter that matches little pages on instead of scanning.

use axum::extract::Query;
use axum::response::Html;
use maud::{Markup, html};
use ofd_store::accounts::{AuditEntry, AuditFilter};
use serde::Deserialize;

use super::organisation::org_to_read;
use crate::error::PageError;
use crate::format;
use crate::i18n::M;
use crate::layout::page;
use crate::session::SignedIn;

const PAGE: usize = 100;
/// Entries read per page at most, whatever the filter.
const EXAMINE: usize = 5_000;

#[derive(Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    inn: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

/// `GET /organisation/audit[?inn=]`.
pub async fn of_org(s: SignedIn, Query(q): Query<AuditQuery>) -> Result<Html<String>, PageError> {
    let inn = org_to_read(&s, &q.inn)?;
    let title = format!("{} {inn}", s.lang.t(M::AuditLog));
    let body = log(&s, Some(&inn), "/organisation/audit", &q)?;
    Ok(Html(page(&s, &title, body).into_string()))
}

/// `GET /audit[?inn=]`: every entry, or one organisation's, for the operator's people.
pub async fn all(s: SignedIn, Query(q): Query<AuditQuery>) -> Result<Html<String>, PageError> {
    if !s.is_operator() {
        return Err(PageError::Forbidden(
            "only the operator's staff and support read the whole audit log".into(),
        ));
    }
    let org = q.inn.trim().to_string();
    let body = log(&s, (!org.is_empty()).then_some(org.as_str()), "/audit", &q)?;
    Ok(Html(page(&s, s.lang.t(M::AuditLog), body).into_string()))
}

fn log(s: &SignedIn, org: Option<&str>, path: &str, q: &AuditQuery) -> Result<Markup, PageError> {
    let l = s.lang;
    let date = |v: &str, end: bool| -> Result<Option<u64>, PageError> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        let d = format::parse_date(v.trim())
            .ok_or_else(|| PageError::BadRequest(format!("date: {v:?} is not yyyy-mm-dd")))?;
        Ok(Some(if end { d + 86_399 } else { d }))
    };
    let before = match q.before.trim() {
        "" => None,
        b => Some(
            b.parse::<u64>()
                .map_err(|_| PageError::BadRequest(format!("before: {b:?} is not a number")))?,
        ),
    };
    let filter = AuditFilter {
        actor: (!q.actor.trim().is_empty()).then(|| q.actor.trim().to_lowercase()),
        action: (!q.action.trim().is_empty()).then(|| q.action.trim().to_string()),
        from: date(&q.from, false)?,
        to: date(&q.to, true)?,
        after: None,
        limit: PAGE,
    };
    let (entries, next) = s
        .portal()
        .store
        .audit_newest(org, &filter, before, EXAMINE)?;
    let e = super::url_encode;
    let more = next.map(|n| {
        format!(
            "{path}?inn={}&actor={}&action={}&from={}&to={}&before={n}",
            e(&q.inn),
            e(&q.actor),
            e(&q.action),
            e(&q.from),
            e(&q.to)
        )
    });
    Ok(html! {
        form.filters method="get" action=(path) role="search" {
            @if path == "/audit" {
                div.field { label for="a-inn" { (l.t(M::Inn)) } input #a-inn name="inn" value=(q.inn); }
            } @else {
                input type="hidden" name="inn" value=(q.inn);
            }
            div.field { label for="a-actor" { (l.t(M::Actor)) } input #a-actor name="actor" value=(q.actor); }
            div.field { label for="a-action" { (l.t(M::Action)) } input #a-action name="action" value=(q.action) placeholder="register."; }
            div.field { label for="a-from" { (l.t(M::DateFrom)) } input #a-from name="from" type="date" value=(q.from); }
            div.field { label for="a-to" { (l.t(M::DateTo)) } input #a-to name="to" type="date" value=(q.to); }
            button type="submit" { (l.t(M::Search)) }
        }
        (table(s, &entries))
        @if let Some(href) = more {
            p.pager { a href=(href) rel="next" { (l.t(M::Older)) } }
        }
    })
}

fn table(s: &SignedIn, entries: &[AuditEntry]) -> Markup {
    let l = s.lang;
    html! {
        table.audit {
            caption.sr { (l.t(M::AuditLog)) }
            thead { tr {
                th scope="col" class="num" { "#" } th scope="col" { (l.t(M::When)) }
                th scope="col" { (l.t(M::Actor)) } th scope="col" { (l.t(M::Action)) }
                th scope="col" { (l.t(M::Target)) } th scope="col" { (l.t(M::Organisations)) }
                th scope="col" { (l.t(M::Address)) } th scope="col" { (l.t(M::Details)) }
            } }
            tbody {
                @for e in entries {
                    tr {
                        td.num { (e.seq) }
                        td { (format::datetime_secs(e.at)) " UTC" }
                        td { (e.actor) @if let Some(o) = &e.actor_org { " (" (o) ")" } }
                        td { code { (e.action) } }
                        td { (e.target) }
                        td { (e.orgs.join(", ")) }
                        td { (e.addr) }
                        td { @if !e.detail.is_null() { code.detail { (e.detail.to_string()) } } }
                    }
                }
                @if entries.is_empty() { tr { td colspan="8" { (l.t(M::NothingFound)) } } }
            }
        }
    }
}
