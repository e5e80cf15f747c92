//! An organisation's service partners (or, for a partner, its clients): the links in every
//! status, asking for one, accepting or declining the other side's request, and ending a link.
//! A partner acts on a taxpayer's registers only while their link is active, and the scope of
//! the partner's users follows the link (`Store::scope_of`), so nothing here grants access by
//! itself. The rules are the store's (`request_partner`, `answer_partner`, `end_partner`), the
//! same the API applies.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::StoreError;
use ofd_store::accounts::{LinkStatus, OrgKind, PartnerLink, Side};
use serde::Deserialize;

use super::organisation::{OrgQuery, org_of, render};
use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::field;
use crate::session::SignedIn;

type Errors = BTreeMap<&'static str, String>;

/// Which side of `inn`'s links the signed-in user speaks for.
fn side(s: &SignedIn, kind: OrgKind) -> Side {
    if s.is_operator() {
        Side::Operator
    } else if kind == OrgKind::Partner {
        Side::Partner
    } else {
        Side::Taxpayer
    }
}

fn kind_of(s: &SignedIn, inn: &str) -> Result<OrgKind, PageError> {
    Ok(s.portal()
        .store
        .get_org(inn)?
        .ok_or(PageError::NotFound)?
        .kind)
}

pub fn status_text(l: Lang, st: LinkStatus) -> &'static str {
    l.t(match st {
        LinkStatus::Requested => M::LinkRequested,
        LinkStatus::Active => M::LinkActive,
        LinkStatus::Declined => M::LinkDeclined,
        LinkStatus::Ended => M::LinkEnded,
    })
}

pub fn side_text(l: Lang, side: Side) -> &'static str {
    l.t(match side {
        Side::Taxpayer => M::Taxpayer,
        Side::Partner => M::Partner,
        Side::Operator => M::Operator,
    })
}

/// The links table (with its controls when `change`), for the organisation page.
pub fn section(s: &SignedIn, inn: &str, change: bool, e: &Errors) -> Result<Markup, PageError> {
    let kind = kind_of(s, inn)?;
    if kind == OrgKind::Operator {
        return Ok(html! {});
    }
    let l = s.lang;
    let me = side(s, kind);
    let links = s.portal().store.partner_links_of(inn)?;
    let (title, other_label) = if kind == OrgKind::Partner {
        (M::Clients, M::TaxpayerInn)
    } else {
        (M::Partners, M::PartnerInn)
    };
    Ok(html! {
        h2 { (l.t(title)) }
        (table(s, &links, change.then_some(me), Some(inn)))
        @if change {
            form method="post" action={ "/organisation/partners?inn=" (inn) } novalidate {
                input type="hidden" name="csrf" value=(s.csrf);
                (field(l.t(other_label), "other", "", "text", e.get("other").map(String::as_str), true))
                (field(l.t(M::Comment), "note", "", "text", e.get("note").map(String::as_str), false))
                button type="submit" { (l.t(M::RequestLink)) }
            }
        }
    })
}

/// A table of links; with `acting_as`, the buttons that side may press; `back` is the
/// organisation whose page the buttons return to.
pub fn table(
    s: &SignedIn,
    links: &[PartnerLink],
    acting_as: Option<Side>,
    back: Option<&str>,
) -> Markup {
    let l = s.lang;
    html! {
        table {
            thead { tr {
                th scope="col" { (l.t(M::Taxpayer)) } th scope="col" { (l.t(M::Partner)) }
                th scope="col" { (l.t(M::Status)) } th scope="col" { (l.t(M::RequestedBy)) }
                th scope="col" { (l.t(M::Comment)) } th scope="col" { (l.t(M::UpdatedAt)) }
                @if acting_as.is_some() { th scope="col" { (l.t(M::Actions)) } }
            } }
            tbody {
                @for k in links {
                    tr {
                        td { a href={ "/organisation?inn=" (k.taxpayer) } { (k.taxpayer) } }
                        td { a href={ "/organisation?inn=" (k.partner) } { (k.partner) } }
                        td { (status_text(l, k.status)) }
                        td { (side_text(l, k.requested_by)) }
                        td { (k.note) }
                        td { (format::datetime(k.updated_at)) }
                        @if let Some(me) = acting_as {
                            td { (buttons(s, k, me, back.unwrap_or(&k.taxpayer))) }
                        }
                    }
                }
                @if links.is_empty() { tr { td colspan="7" { (l.t(M::NothingFound)) } } }
            }
        }
    }
}

fn buttons(s: &SignedIn, k: &PartnerLink, me: Side, back: &str) -> Markup {
    let l = s.lang;
    let action = format!(
        "/organisation/partners/{}/{}?inn={back}",
        k.taxpayer, k.partner
    );
    let button = |op: &str, text: M, danger: bool| {
        html! {
            form.inline method="post" action=(action) {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="op" value=(op);
                @if danger { button.danger type="submit" { (l.t(text)) } }
                @else { button type="submit" { (l.t(text)) } }
            }
        }
    };
    html! {
        @match k.status {
            LinkStatus::Requested if k.requested_by != me => {
                (button("accept", M::Accept, false)) (button("decline", M::Decline, true))
            }
            LinkStatus::Requested => { (button("end", M::Withdraw, true)) }
            LinkStatus::Active => { (button("end", M::EndLink, true)) }
            LinkStatus::Declined | LinkStatus::Ended => {}
        }
    }
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    other: String,
    #[serde(default)]
    note: String,
}

/// `POST /organisation/partners[?inn=]`: ask for a link with another organisation (made at
/// once when the operator's staff ask, or when the other side had already asked).
pub async fn request(
    s: SignedIn,
    Query(q): Query<OrgQuery>,
    Form(f): Form<LinkForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    let inn = org_of(&s, &q.inn)?;
    let kind = kind_of(&s, &inn)?;
    let l = s.lang;
    let other = f.other.trim().to_string();
    let mut e = Errors::new();
    let again = |e: &Errors| -> Result<Response, PageError> {
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(render(&s, &inn, e, None)?.into_string()),
        )
            .into_response())
    };
    if f.note.chars().count() > 1000 {
        e.insert("note", l.t(M::TooLong).into());
    }
    let wanted = match kind {
        OrgKind::Taxpayer => OrgKind::Partner,
        OrgKind::Partner => OrgKind::Taxpayer,
        OrgKind::Operator => {
            return Err(PageError::BadRequest(
                "the operator has no partner links".into(),
            ));
        }
    };
    // Only organisations of the kind a link needs are named; any other INN reads the same,
    // so the form does not tell a tenant which INNs the operator serves.
    let found = s.portal().store.get_org(&other)?;
    if other.is_empty() || !found.is_some_and(|o| o.kind == wanted) {
        e.insert("other", l.t(M::NoSuchOrg).into());
    }
    if !e.is_empty() {
        return again(&e);
    }
    let (taxpayer, partner) = if kind == OrgKind::Taxpayer {
        (inn.clone(), other)
    } else {
        (other, inn.clone())
    };
    let by = side(&s, kind);
    let made = s
        .portal()
        .store
        .request_partner(taxpayer, partner, by, f.note.trim().to_string(), s.now())
        .await;
    let link = match made {
        Ok(link) => link,
        Err(StoreError::Exists(_)) => {
            e.insert("other", l.t(M::LinkExists).into());
            return again(&e);
        }
        Err(StoreError::InvalidInput(why)) => {
            e.insert("other", why);
            return again(&e);
        }
        Err(other) => return Err(other.into()),
    };
    s.audit(
        "partner.request",
        &format!("{}/{}", link.taxpayer, link.partner),
        &[&link.taxpayer, &link.partner],
        serde_json::json!({"status": link.status.as_str(), "note": link.note}),
    )
    .await?;
    Ok(Redirect::to(&format!("/organisation?inn={inn}")).into_response())
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    op: String,
}

/// `POST /organisation/partners/{taxpayer}/{partner}[?inn=]` with `op` = `accept`, `decline`
/// or `end`, by the organisation `inn` (one of the two) or the operator's staff.
pub async fn answer(
    s: SignedIn,
    Path((taxpayer, partner)): Path<(String, String)>,
    Query(q): Query<OrgQuery>,
    Form(f): Form<AnswerForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    let inn = org_of(&s, &q.inn)?;
    // A link the organisation is not part of is a 404, like any object out of reach.
    if inn != taxpayer && inn != partner && !s.is_operator() {
        return Err(PageError::NotFound);
    }
    let store = &s.portal().store;
    if store.partner_link(&taxpayer, &partner)?.is_none() {
        return Err(PageError::NotFound);
    }
    let kind = kind_of(&s, &inn)?;
    let by = side(&s, kind);
    let now = s.now();
    let (link, action) = match f.op.as_str() {
        "accept" => (
            store
                .answer_partner(taxpayer, partner, by, true, now)
                .await?,
            "partner.accept",
        ),
        "decline" => (
            store
                .answer_partner(taxpayer, partner, by, false, now)
                .await?,
            "partner.decline",
        ),
        "end" => (
            store.end_partner(taxpayer, partner, by, now).await?,
            "partner.end",
        ),
        other => {
            return Err(PageError::BadRequest(format!(
                "op: {other:?} is not one of accept, decline, end"
            )));
        }
    };
    s.audit(
        action,
        &format!("{}/{}", link.taxpayer, link.partner),
        &[&link.taxpayer, &link.partner],
        serde_json::json!({"status": link.status.as_str()}),
    )
    .await?;
    Ok(Redirect::to(&format!("/organisation?inn={inn}")).into_response())
}
