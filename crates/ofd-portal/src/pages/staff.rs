//! The operator's pages: every organisation (paged; staff create new ones) and every partner
//! link (paged; staff accept, decline or end one on either side's behalf). Support reads both
//! and changes nothing. Each organisation's own page (`/organisation?inn=`) is the support
//! view of its users, keys, partners, notifications, statement and audit log; the
//! wired-connection queue is `/requests`, the whole audit log `/audit`.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::StoreError;
use ofd_store::accounts::{Org, OrgKind, Role, Side};
use serde::Deserialize;

use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::{field, page};
use crate::session::SignedIn;

const PAGE: usize = 100;

type Errors = BTreeMap<&'static str, String>;

fn require_operator(s: &SignedIn) -> Result<(), PageError> {
    if s.is_operator() {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "only the operator's staff and support see every organisation".into(),
        ))
    }
}

fn kind_text(l: Lang, k: OrgKind) -> &'static str {
    l.t(match k {
        OrgKind::Taxpayer => M::Taxpayer,
        OrgKind::Partner => M::Partner,
        OrgKind::Operator => M::Operator,
    })
}

#[derive(Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    after: String,
}

fn orgs_body(s: &SignedIn, after: &str, e: &Errors, form: &OrgForm) -> Result<Markup, PageError> {
    let l = s.lang;
    let after = after.trim();
    let orgs = s
        .portal()
        .store
        .list_orgs((!after.is_empty()).then_some(after), PAGE)?;
    let next = (orgs.len() == PAGE)
        .then(|| orgs.last().map(|o| o.inn.clone()))
        .flatten();
    let err = |k: &str| e.get(k).map(String::as_str);
    Ok(html! {
        p {
            a href="/staff/partners" { (l.t(M::PartnerLinks)) } " · "
            a href="/requests" { (l.t(M::Requests)) } " · "
            a href="/audit" { (l.t(M::AuditLog)) } " · "
            a href="/tariffs" { (l.t(M::Tariffs)) }
        }
        table {
            caption.sr { (l.t(M::Organisations)) }
            thead { tr {
                th scope="col" { (l.t(M::Inn)) } th scope="col" { (l.t(M::Name)) }
                th scope="col" { (l.t(M::Kind)) } th scope="col" { (l.t(M::CreatedAt)) }
                th scope="col" { (l.t(M::AuditLog)) }
            } }
            tbody {
                @for o in &orgs {
                    tr {
                        td { a href={ "/organisation?inn=" (o.inn) } { (o.inn) } }
                        td { (o.name) } td { (kind_text(l, o.kind)) }
                        td { (format::date(o.created_at)) }
                        td { a href={ "/organisation/audit?inn=" (o.inn) } { (l.t(M::AuditLog)) } }
                    }
                }
                @if orgs.is_empty() { tr { td colspan="5" { (l.t(M::NothingFound)) } } }
            }
        }
        @if let Some(n) = next {
            p.pager { a href={ "/staff/organisations?after=" (n) } rel="next" { (l.t(M::NextPage)) } }
        }
        @if s.user.role == Role::Staff {
            h2 { (l.t(M::NewOrganisation)) }
            form method="post" action="/staff/organisations" novalidate {
                input type="hidden" name="csrf" value=(s.csrf);
                (field(l.t(M::InnOrBin), "inn", &form.inn, "text", err("inn"), true))
                (field(l.t(M::Name), "name", &form.name, "text", err("name"), true))
                div.field {
                    label for="f-kind" { (l.t(M::Kind)) }
                    select #f-kind name="kind" {
                        @for (v, k) in [("taxpayer", OrgKind::Taxpayer), ("partner", OrgKind::Partner)] {
                            option value=(v) selected[form.kind == v] { (kind_text(l, k)) }
                        }
                    }
                }
                button type="submit" { (l.t(M::Create)) }
            }
        }
    })
}

/// `GET /staff/organisations[?after=]`.
pub async fn organisations(
    s: SignedIn,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, PageError> {
    require_operator(&s)?;
    let b = orgs_body(&s, &q.after, &Errors::new(), &OrgForm::default())?;
    Ok(Html(page(&s, s.lang.t(M::Organisations), b).into_string()))
}

#[derive(Default, Deserialize)]
pub struct OrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    inn: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

/// `POST /staff/organisations`: a new taxpayer or partner (staff only). Its first admin is
/// invited from its page.
pub async fn create_org(s: SignedIn, Form(f): Form<OrgForm>) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    if s.user.role != Role::Staff {
        return Err(PageError::Forbidden(
            "only the operator's staff create organisations".into(),
        ));
    }
    let l = s.lang;
    let inn = f.inn.trim().to_string();
    let name = f.name.trim().to_string();
    let mut e = Errors::new();
    let ru = ofd_proto::checks::verify_inn(inn.as_bytes());
    let kz = ofd_kz::iin::verify_iin_bin(inn.as_bytes());
    if ru.is_err() && kz.is_err() {
        e.insert("inn", l.t(M::BadInnOrBin).into());
    }
    if name.is_empty() || name.chars().count() > 256 {
        e.insert("name", l.t(M::Required).into());
    }
    let kind = match f.kind.as_str() {
        "partner" => OrgKind::Partner,
        _ => OrgKind::Taxpayer,
    };
    let again = |e: &Errors| -> Result<Response, PageError> {
        let b = orgs_body(&s, "", e, &f)?;
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(&s, l.t(M::Organisations), b).into_string()),
        )
            .into_response())
    };
    if !e.is_empty() {
        return again(&e);
    }
    let created = s
        .portal()
        .store
        .create_org(Org {
            inn: inn.clone(),
            name,
            kind,
            created_at: s.now(),
        })
        .await;
    let org = match created {
        Ok(o) => o,
        Err(StoreError::Exists(_)) => {
            e.insert("inn", l.t(M::OrgExists).into());
            return again(&e);
        }
        Err(other) => return Err(other.into()),
    };
    s.audit(
        "org.create",
        &org.inn,
        &[&org.inn],
        serde_json::json!({"inn": org.inn, "name": org.name, "kind": org.kind.as_str()}),
    )
    .await?;
    Ok(Redirect::to(&format!("/organisation?inn={}", org.inn)).into_response())
}

/// `GET /staff/partners[?after=taxpayer/partner]`: every partner link.
pub async fn partners(s: SignedIn, Query(q): Query<PageQuery>) -> Result<Html<String>, PageError> {
    require_operator(&s)?;
    let l = s.lang;
    let after = q.after.trim().split_once('/');
    let links = s.portal().store.partner_links(after, PAGE)?;
    let next = (links.len() == PAGE)
        .then(|| {
            links
                .last()
                .map(|k| format!("{}/{}", k.taxpayer, k.partner))
        })
        .flatten();
    let acting = (s.user.role == Role::Staff).then_some(Side::Operator);
    let body = html! {
        (super::partners::table(&s, &links, acting, None))
        @if let Some(n) = next {
            p.pager { a href={ "/staff/partners?after=" (super::url_encode(&n)) } rel="next" { (l.t(M::NextPage)) } }
        }
    };
    Ok(Html(page(&s, l.t(M::PartnerLinks), body).into_string()))
}
