//! One Kazakh register (KKM): its card, recent exchanges (tickets, X and Z reports), a link to
//! its shift reports (`kz_reports.rs`), and a new token ("Создать новый токен") to type into
//! the register, shown once.

use axum::Form;
use axum::extract::Path;
use axum::response::{Html, Response};
use maud::html;

use super::Colour;
use crate::KzCard;
use crate::error::PageError;
use crate::format;
use crate::i18n::M;
use crate::layout::{circle, page};
use crate::session::SignedIn;

/// Exchanges shown on the card.
const LOG_ROWS: usize = 200;

pub(super) fn load(s: &SignedIn, id: &str) -> Result<KzCard, PageError> {
    let id = id.parse::<u32>().map_err(|_| PageError::NotFound)?;
    s.portal()
        .services
        .kz_card(&s.store(), id)
        .map_err(PageError::Internal)?
        .ok_or(PageError::NotFound)
}

/// `GET /kz/{id}`.
pub async fn card(s: SignedIn, Path(id): Path<String>) -> Result<Html<String>, PageError> {
    let c = load(&s, &id)?;
    let l = s.lang;
    let store = s.store();
    let live = store.kkm_liveness(c.system_id)?;
    let colour = Colour::of(live.as_ref(), s.now(), s.portal());
    let log = store.kkm_log(c.system_id, 0, LOG_ROWS)?;
    let body = html! {
        dl.card {
            dt { (l.t(M::State)) } dd { (circle(l, colour)) }
            dt { (l.t(M::SystemId)) } dd { (c.system_id) }
            dt { (l.t(M::Serial)) } dd { (c.serial) }
            dt { (l.t(M::Inn)) } dd { (c.org_inn) }
            dt { (l.t(M::Name)) } dd { (c.org_name) }
            dt { (l.t(M::Address)) } dd { (c.address) }
            dt { (l.t(M::Status)) } dd { (c.status) }
            dt { (l.t(M::Shift)) } dd { @match c.shift_open { Some(n) => { (l.t(M::ShiftOpen)) " " (n) }, None => { (l.t(M::ShiftClosed)) " (" (c.last_shift_number) ")" } } }
            dt { (l.t(M::NextTicket)) } dd { (c.next_ticket_number) }
            @if let Some(r) = &live { dt { (l.t(M::LastDocument)) } dd { (format::datetime(u64::from(r.last_doc_time))) } }
        }
        @if s.may_write() {
            form method="post" action={ "/kz/" (c.system_id) "/token" } {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" { (l.t(M::GetToken)) }
            }
            (super::requests::form(&s, &format!("/kz/{}/connection", c.system_id), &Default::default(), &Default::default()))
        }
        p { a #kz-reports href={ "/kz/" (c.system_id) "/reports" } { (l.t(M::ShiftReports)) } }
        h2 { (l.t(M::Exchanges)) }
        table {
            thead { tr {
                th scope="col" class="num" { "#" } th scope="col" { (l.t(M::ReceivedAt)) }
                th scope="col" class="num" { (l.t(M::Command)) } th scope="col" class="num" { (l.t(M::Outcome)) }
                th scope="col" class="num" { (l.t(M::Ticket)) } th scope="col" class="num" { (l.t(M::Shift)) }
            } }
            tbody {
                @for e in &log {
                    tr {
                        td.num { (e.seq) }
                        td { (format::datetime_secs(e.received_at_ms / 1000)) " UTC" }
                        td.num { (e.command) }
                        td.num { (e.code) }
                        td.num { (e.ticket_number.map(|t| t.to_string()).unwrap_or_default()) }
                        td.num { (e.shift.map(|t| t.to_string()).unwrap_or_default()) }
                    }
                }
                @if log.is_empty() { tr { td colspan="6" { (l.t(M::NothingFound)) } } }
            }
        }
    };
    Ok(Html(
        page(&s, &format!("{} {}", l.t(M::Register), c.system_id), body).into_string(),
    ))
}

/// `POST /kz/{id}/token`.
pub async fn token(
    s: SignedIn,
    Path(id): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    s.require_write()?;
    let c = load(&s, &id)?;
    let store = s.store();
    let token = s
        .portal()
        .services
        .kz_issue_token(&store, c.system_id)
        .await
        .map_err(PageError::Internal)?
        .ok_or(PageError::NotFound)?;
    s.audit(
        "kkm.token",
        &c.system_id.to_string(),
        &[&c.org_inn],
        serde_json::Value::Null,
    )
    .await?;
    let l = s.lang;
    let back = format!("/kz/{}", c.system_id);
    let body = super::token_markup(
        l,
        &c.system_id.to_string(),
        &token.to_string(),
        M::TokenInstructionKz,
        &back,
    );
    Ok(super::shown_once(page(&s, l.t(M::GetToken), body)))
}
