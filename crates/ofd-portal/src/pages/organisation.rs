//! The organisation's accounts: its users (invite with a role, optionally limited to points of
//! sale; change the role and the limit, disable, unlock), its API keys (create with a scope,
//! revoke, last use), its partners and a link to its audit log. For the organisation's admin;
//! the operator's staff use the same page for any organisation (`?inn=`), and support reads it.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::StoreError;
use ofd_store::accounts::{KeyScope, LinkPurpose, NewUser, Role};
use serde::Deserialize;

use crate::error::PageError;
use crate::format;
use crate::i18n::M;
use crate::layout::{field, page};
use crate::session::SignedIn;

#[derive(Default, Deserialize)]
pub struct OrgQuery {
    #[serde(default)]
    pub inn: String,
}

/// The organisation this user may *read* the accounts of here: their own when they are its
/// admin, or for the operator's people (staff and support) the one asked for. An organisation
/// out of reach is a 404.
pub fn org_to_read(s: &SignedIn, asked: &str) -> Result<String, PageError> {
    if s.is_operator() {
        return operator_org(s, asked.trim());
    }
    org_of(s, asked)
}

fn operator_org(s: &SignedIn, asked: &str) -> Result<String, PageError> {
    if asked.is_empty() {
        return Ok(s.user.org.clone());
    }
    s.portal()
        .store
        .get_org(asked)?
        .map(|o| o.inn)
        .ok_or(PageError::NotFound)
}

/// Whether this user may change the accounts of `inn` (already known to be readable).
pub fn may_change_org(s: &SignedIn, inn: &str) -> bool {
    s.user.role == Role::Staff || (s.user.role == Role::Admin && s.user.org == inn)
}

/// The organisation this user manages here: their own, or for staff the one asked for. An
/// organisation out of reach is a 404; support, who reads every organisation, changes none.
pub fn org_of(s: &SignedIn, asked: &str) -> Result<String, PageError> {
    let asked = asked.trim();
    if s.is_operator() {
        let inn = operator_org(s, asked)?;
        if s.user.role == Role::Staff {
            return Ok(inn);
        }
        return Err(PageError::Forbidden(
            "support reads the organisations' pages and changes nothing".into(),
        ));
    }
    // Another organisation, asked for by a tenant: as if it did not exist.
    if !asked.is_empty() && asked != s.user.org {
        return Err(PageError::NotFound);
    }
    if s.is_org_admin() {
        return Ok(s.user.org.clone());
    }
    Err(PageError::Forbidden(format!(
        "role {} may not manage the organisation's accounts",
        s.user.role.as_str()
    )))
}

type Errors = BTreeMap<&'static str, String>;

/// The page, re-rendered after a change (with the change's notice or the form's errors).
pub fn render(
    s: &SignedIn,
    inn: &str,
    e: &Errors,
    notice: Option<Markup>,
) -> Result<Markup, PageError> {
    Ok(page(s, s.lang.t(M::Organisation), body(s, inn, e, notice)?))
}

fn body(s: &SignedIn, inn: &str, e: &Errors, notice: Option<Markup>) -> Result<Markup, PageError> {
    let l = s.lang;
    let store = &s.portal().store;
    let change = may_change_org(s, inn);
    let users = store.users_of(inn)?;
    let keys = store.api_keys_of(inn)?;
    let err = |k: &str| e.get(k).map(String::as_str);
    let roles = roles_for(s, inn)?;
    let partners = super::partners::section(s, inn, change, e)?;
    Ok(html! {
        @if let Some(n) = notice { (n) }
        p {
            @if change { a href={ "/organisation/notifications?inn=" (inn) } { (l.t(M::Notifications)) } " · " }
            a href={ "/organisation/statement?inn=" (inn) } { (l.t(M::Statement)) } " · "
            a href={ "/organisation/audit?inn=" (inn) } { (l.t(M::AuditLog)) } " · "
            a href="/tariffs" { (l.t(M::Tariffs)) }
        }
        h2 { (l.t(M::Users)) }
        table {
            thead { tr {
                th scope="col" { (l.t(M::Email)) } th scope="col" { (l.t(M::Name)) } th scope="col" { (l.t(M::Role)) }
                th scope="col" { (l.t(M::Places)) } th scope="col" { (l.t(M::State)) }
                @if change { th scope="col" { (l.t(M::Actions)) } }
            } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u.login) } td { (u.name) } td { (u.role.as_str()) }
                        td { (if u.places.is_empty() { l.t(M::AllPlaces).to_string() } else { u.places.join(", ") }) }
                        td {
                            @if u.disabled { (l.t(M::Disabled)) }
                            @else if u.locked { (l.t(M::LockedShort)) }
                            @else if u.password.is_none() { (l.t(M::Invited)) }
                            @else { (l.t(M::Active)) }
                        }
                        @if change { td { (super::users::actions(s, inn, u, roles)) } }
                    }
                }
            }
        }
        @if change {
        h2 { (l.t(M::InviteUser)) }
        form method="post" action={ "/organisation/users?inn=" (inn) } novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (field(l.t(M::Email), "login", "", "email", err("login"), true))
            (field(l.t(M::Name), "name", "", "text", err("name"), true))
            div.field {
                label for="f-role" { (l.t(M::Role)) }
                select #f-role name="role" { @for r in roles { option value=(r.as_str()) { (r.as_str()) } } }
            }
            (field(l.t(M::PlacesOptional), "places", "", "text", err("places"), false))
            button type="submit" { (l.t(M::Invite)) }
        }
        h2 { (l.t(M::ApiKeys)) }
        table {
            thead { tr { th scope="col" { "ID" } th scope="col" { (l.t(M::Name)) } th scope="col" { (l.t(M::Access)) } th scope="col" { (l.t(M::CreatedAt)) } th scope="col" { (l.t(M::LastUse)) } th scope="col" { (l.t(M::State)) } } }
            tbody {
                @for k in &keys {
                    tr {
                        td { (k.id) } td { (k.name) }
                        td { (match k.scope { KeyScope::Read => l.t(M::ReadOnly), KeyScope::Write => l.t(M::ReadWrite) }) }
                        td { (format::datetime(k.created_at)) }
                        td { (k.last_used_at.map(format::datetime).unwrap_or_else(|| "—".into())) }
                        td {
                            @if k.revoked_at.is_some() { (l.t(M::Revoked)) }
                            @else {
                                form.inline method="post" action={ "/organisation/keys/" (k.id) "/revoke?inn=" (inn) } {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    button.danger type="submit" { (l.t(M::Revoke)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action={ "/organisation/keys?inn=" (inn) } novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (field(l.t(M::KeyName), "name", "", "text", err("key_name"), true))
            div.field {
                label for="f-scope" { (l.t(M::Access)) }
                select #f-scope name="scope" {
                    option value="read" { (l.t(M::ReadOnly)) }
                    option value="write" { (l.t(M::ReadWrite)) }
                }
            }
            button type="submit" { (l.t(M::CreateKey)) }
        }
        }
        (partners)
    })
}

/// The roles users of `inn` may be given: the operator's for the operator, a taxpayer's or a
/// partner's otherwise.
pub fn roles_for(s: &SignedIn, inn: &str) -> Result<&'static [Role], PageError> {
    let operator = s
        .portal()
        .store
        .get_org(inn)?
        .is_some_and(|o| o.kind == ofd_store::accounts::OrgKind::Operator);
    Ok(if operator {
        &[Role::Staff, Role::Support]
    } else {
        &[Role::Admin, Role::Manager, Role::Viewer]
    })
}

/// `GET /organisation[?inn=]`.
pub async fn page_handler(
    s: SignedIn,
    Query(q): Query<OrgQuery>,
) -> Result<Html<String>, PageError> {
    let inn = org_to_read(&s, &q.inn)?;
    let b = body(&s, &inn, &Errors::new(), None)?;
    Ok(Html(
        page(&s, &format!("{} {inn}", s.lang.t(M::Organisation)), b).into_string(),
    ))
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    places: String,
}

pub fn parse_role(s: &str) -> Option<Role> {
    [
        Role::Admin,
        Role::Manager,
        Role::Viewer,
        Role::Staff,
        Role::Support,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

/// `POST /organisation/users`: creates the user and mails (or shows once) the set-password link.
pub async fn invite(
    s: SignedIn,
    Query(q): Query<OrgQuery>,
    Form(f): Form<InviteForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    let inn = org_of(&s, &q.inn)?;
    let l = s.lang;
    let mut e = Errors::new();
    if f.login.trim().is_empty() || !f.login.contains('@') {
        e.insert("login", l.t(M::BadEmail).into());
    }
    if f.name.trim().is_empty() {
        e.insert("name", l.t(M::Required).into());
    }
    let role = parse_role(&f.role);
    let again = |e: &Errors| -> Result<Response, PageError> {
        let b = body(&s, &inn, e, None)?;
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(&s, l.t(M::Organisation), b).into_string()),
        )
            .into_response())
    };
    let Some(role) = role else {
        e.insert("login", format!("role: {:?}", f.role));
        return again(&e);
    };
    if !e.is_empty() {
        return again(&e);
    }
    let places: Vec<String> = f
        .places
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let p = s.portal();
    let created = p
        .store
        .create_user(
            NewUser {
                login: f.login.trim().to_string(),
                name: f.name.trim().to_string(),
                org: inn.clone(),
                role,
                places,
                registers: Vec::new(),
            },
            s.now(),
        )
        .await;
    let user = match created {
        Ok(u) => u,
        Err(StoreError::Exists(_)) => {
            e.insert("login", l.t(M::LoginTaken).into());
            return again(&e);
        }
        Err(StoreError::InvalidInput(why)) => {
            e.insert("login", why);
            return again(&e);
        }
        Err(other) => return Err(other.into()),
    };
    s.audit(
        "user.create",
        &user.login,
        &[&inn],
        serde_json::json!({"role": user.role.as_str()}),
    )
    .await?;
    let auth = p.auth.clone();
    let (login, now) = (user.login.clone(), s.now());
    let token =
        tokio::task::spawn_blocking(move || auth.issue_link(&login, LinkPurpose::Invite, now))
            .await??;
    let url = format!(
        "{}/set-password?token={token}",
        p.config.public_url.trim_end_matches('/')
    );
    let mailed = p
        .services
        .mail_link(&user.login, &url, LinkPurpose::Invite)
        .await
        .map_err(PageError::Internal)?;
    let notice = if mailed {
        html! { p.notice role="status" { (l.t(M::InviteMailed)) " " (user.login) } }
    } else {
        html! { p.notice role="status" { (l.t(M::InviteLinkOnce)) " " a #invite-link href=(url) { (url) } } }
    };
    let b = body(&s, &inn, &Errors::new(), Some(notice))?;
    Ok(super::shown_once(page(&s, l.t(M::Organisation), b)))
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

/// `POST /organisation/keys`: the key's text is shown once.
pub async fn create_key(
    s: SignedIn,
    Query(q): Query<OrgQuery>,
    Form(f): Form<KeyForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    let inn = org_of(&s, &q.inn)?;
    let l = s.lang;
    if f.name.trim().is_empty() || f.name.chars().count() > 128 {
        let mut e = Errors::new();
        e.insert("key_name", l.t(M::Required).into());
        let b = body(&s, &inn, &e, None)?;
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(&s, l.t(M::Organisation), b).into_string()),
        )
            .into_response());
    }
    let scope = if f.scope == "write" {
        KeyScope::Write
    } else {
        KeyScope::Read
    };
    let issued = s
        .portal()
        .store
        .create_api_key(
            inn.clone(),
            scope,
            Vec::new(),
            f.name.trim().to_string(),
            s.user.login.clone(),
            s.now(),
        )
        .await?;
    s.audit(
        "key.create",
        &issued.key.id,
        &[&inn],
        serde_json::json!({"scope": f.scope}),
    )
    .await?;
    let notice = html! {
        p.notice role="status" { (l.t(M::KeyOnce)) }
        p { span.token #api-key { (issued.text) } }
    };
    let b = body(&s, &inn, &Errors::new(), Some(notice))?;
    Ok(super::shown_once(page(&s, l.t(M::Organisation), b)))
}

/// `POST /organisation/keys/{id}/revoke`.
pub async fn revoke_key(
    s: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<OrgQuery>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Redirect, PageError> {
    s.check_csrf(&f.csrf)?;
    let inn = org_of(&s, &q.inn)?;
    let p = s.portal();
    // Another organisation's key is a 404, like any object out of reach.
    match p.store.get_api_key(&id)? {
        Some(k) if k.org == inn => {}
        _ => return Err(PageError::NotFound),
    }
    p.store.revoke_api_key(id.clone(), s.now()).await?;
    s.audit("key.revoke", &id, &[&inn], serde_json::Value::Null)
        .await?;
    Ok(Redirect::to(&format!("/organisation?inn={inn}")))
}
