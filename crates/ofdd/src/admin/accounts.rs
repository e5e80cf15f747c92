//! `/api/v1/organisations/...`: organisations, their users, API keys and partner links.
//!
//! The operator's root and staff manage every organisation; an organisation's admin manages its
//! own users and keys and answers partner requests; support reads. Every change leaves an audit
//! entry. Secrets (a key's text, a set-password link) are in the answer that creates them and
//! nowhere else.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ofd_proto::checks::verify_inn;
use ofd_store::RegisterRef;
use ofd_store::accounts::{
    ApiKey, KeyScope, LinkPurpose, NewUser, Org, OrgKind, PartnerLink, Role, Side, User, UserPatch,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::principal::{Auth, Need, Principal, org_not_found};
use crate::clock::unix_now;

fn now() -> u64 {
    u64::from(unix_now())
}

/// An INN (RU: 10 or 12 digits with check digits) or IIN/BIN (KZ: 12 digits with its check
/// digit). A 12-digit number passes if either country's rule holds.
pub fn check_org_number(field: &'static str, inn: &str) -> Result<(), ApiError> {
    let ru = verify_inn(inn.as_bytes());
    let kz = ofd_kz::iin::verify_iin_bin(inn.as_bytes());
    if ru.is_ok() || kz.is_ok() {
        return Ok(());
    }
    let reason = ru.err().map(|e| e.to_string()).unwrap_or_default();
    Err(ApiError::field(
        field,
        format!("{field} {inn:?}: not a valid INN ({reason}) nor IIN/BIN"),
    ))
}

pub fn org_view(o: &Org) -> Value {
    json!({ "inn": o.inn, "name": o.name, "kind": o.kind, "created_at": o.created_at })
}

pub fn user_view(u: &User) -> Value {
    json!({
        "login": u.login, "name": u.name, "org": u.org, "role": u.role,
        "places": u.places, "registers": u.registers, "disabled": u.disabled,
        "locked": u.locked, "failed_logins": u.failed_logins,
        "password_set": u.has_password(), "totp": u.totp.is_some(),
        "created_at": u.created_at, "last_login_at": u.last_login_at,
    })
}

pub fn key_view(k: &ApiKey) -> Value {
    json!({
        "id": k.id, "org": k.org, "scope": k.scope, "registers": k.registers, "name": k.name,
        "created_by": k.created_by, "created_at": k.created_at, "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    })
}

pub fn link_view(l: &PartnerLink) -> Value {
    json!({
        "taxpayer": l.taxpayer, "partner": l.partner, "status": l.status.as_str(),
        "requested_by": l.requested_by, "changed_by": l.changed_by, "note": l.note,
        "created_at": l.created_at, "updated_at": l.updated_at,
    })
}

// ---- organisations ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrgBody {
    inn: String,
    name: String,
    kind: OrgKind,
}

/// `POST /api/v1/organisations`: root and staff.
pub async fn create_org(
    auth: Auth,
    body: Result<Json<NewOrgBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(Need::Staff)?;
    let Json(b) = body?;
    check_org_number("inn", &b.inn)?;
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(ApiError::field("name", "name: 1 to 256 characters"));
    }
    let org = auth
        .app()
        .store()
        .create_org(Org {
            inn: b.inn.clone(),
            name,
            kind: b.kind,
            created_at: now(),
        })
        .await?;
    auth.audit("org.create", &org.inn, &[&org.inn], org_view(&org))
        .await?;
    Ok((StatusCode::CREATED, Json(org_view(&org))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/organisations`: every organisation for the operator; one's own (and its
/// partner links' other sides) for everyone else.
pub async fn list_orgs(
    auth: Auth,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let store = auth.app().store();
    let items: Vec<Org> = if auth.is_operator() {
        store.list_orgs(q.after.as_deref(), limit)?
    } else {
        let home = auth.home_org().unwrap_or_default().to_string();
        let mut inns = vec![home.clone()];
        for l in store.partner_links_of(&home)? {
            inns.push(if l.taxpayer == home {
                l.partner
            } else {
                l.taxpayer
            });
        }
        inns.sort();
        inns.dedup();
        let mut out = Vec::new();
        for inn in inns {
            if q.after.as_ref().is_some_and(|a| &inn <= a) {
                continue;
            }
            if let Some(o) = store.get_org(&inn)? {
                out.push(o);
            }
            if out.len() >= limit {
                break;
            }
        }
        out
    };
    let next = (items.len() == limit)
        .then(|| items.last().map(|o| o.inn.clone()))
        .flatten();
    Ok(Json(json!({
        "items": items.iter().map(org_view).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// `GET /api/v1/organisations/{inn}`.
pub async fn show_org(auth: Auth, Path(inn): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    if !auth.sees_org(&inn)? {
        return Err(org_not_found(&inn));
    }
    let org = auth
        .app()
        .store()
        .get_org(&inn)?
        .ok_or_else(|| org_not_found(&inn))?;
    Ok(Json(org_view(&org)))
}

// ---- users ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    login: String,
    name: String,
    role: Role,
    #[serde(default)]
    places: Vec<String>,
    #[serde(default)]
    registers: Vec<String>,
}

fn check_registers(list: &[String]) -> Result<(), ApiError> {
    for r in list {
        r.parse::<RegisterRef>()
            .map_err(|e| ApiError::field("registers", format!("registers: {e}")))?;
    }
    Ok(())
}

/// Only the operator's staff hand out operator roles; an organisation's admin cannot make
/// someone staff.
fn check_role_grant(auth: &Auth, role: Role) -> Result<(), ApiError> {
    if matches!(role, Role::Staff | Role::Support) && !auth.is_operator() {
        return Err(ApiError::forbidden(
            "only the operator's staff grant the staff and support roles",
        ));
    }
    Ok(())
}

/// `POST /api/v1/organisations/{inn}/users` → the user and a one-time set-password link.
pub async fn create_user(
    auth: Auth,
    Path(inn): Path<String>,
    body: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_org_admin(&inn, true)?;
    let Json(b) = body?;
    check_role_grant(&auth, b.role)?;
    check_registers(&b.registers)?;
    let login = ofd_store::accounts::normalise_login(&b.login)
        .map_err(|e| ApiError::field("login", format!("login: {e}")))?;
    if b.name.trim().is_empty() || b.name.chars().count() > 256 {
        return Err(ApiError::field("name", "name: 1 to 256 characters"));
    }
    let store = auth.app().store().clone();
    let org = store.get_org(&inn)?.ok_or_else(|| org_not_found(&inn))?;
    if !b.role.fits(org.kind) {
        return Err(ApiError::field(
            "role",
            format!(
                "role: {} does not fit a {} organisation",
                b.role.as_str(),
                org.kind.as_str()
            ),
        ));
    }
    let user = store
        .create_user(
            NewUser {
                login,
                name: b.name.trim().to_string(),
                org: inn.clone(),
                role: b.role,
                places: b.places,
                registers: b.registers,
            },
            now(),
        )
        .await?;
    let link = issue_link(&auth, &user.login, LinkPurpose::Invite).await?;
    auth.audit("user.create", &user.login, &[&inn], user_view(&user))
        .await?;
    let mut out = user_view(&user);
    out["set_password"] = link;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Issues a set-password link and mails it where SMTP is configured; otherwise the link is in
/// the answer, shown once, for the creating admin to pass on.
async fn issue_link(auth: &Auth, login: &str, purpose: LinkPurpose) -> Result<Value, ApiError> {
    let app = auth.app().clone();
    let l = login.to_string();
    let token =
        tokio::task::spawn_blocking(move || app.auth().issue_link(&l, purpose, now())).await??;
    let url = format!(
        "{}/set-password?token={token}",
        auth.config().accounts.public_url.trim_end_matches('/')
    );
    let mailed = crate::mail::send_link(auth.config(), login, &url, purpose)
        .await
        .map_err(|e| ApiError::internal(format!("the link could not be mailed: {e}")))?;
    Ok(if mailed {
        json!({ "mailed_to": login, "expires_in_secs": auth.config().accounts.link_ttl_secs })
    } else {
        json!({ "url": url, "token": token, "expires_in_secs": auth.config().accounts.link_ttl_secs,
                "note": "shown once: pass it to the user; no SMTP server is configured" })
    })
}

/// `GET /api/v1/organisations/{inn}/users`.
pub async fn list_users(auth: Auth, Path(inn): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require_org_admin(&inn, false)?;
    let users = auth.app().store().users_of(&inn)?;
    Ok(Json(
        json!({ "items": users.iter().map(user_view).collect::<Vec<_>>() }),
    ))
}

fn user_of(auth: &Auth, inn: &str, login: &str) -> Result<User, ApiError> {
    auth.app()
        .store()
        .get_user(login)?
        .filter(|u| u.org == inn)
        .ok_or_else(|| ApiError::not_found(format!("user {login} not found in {inn}")))
}

/// `GET /api/v1/organisations/{inn}/users/{login}`.
pub async fn show_user(
    auth: Auth,
    Path((inn, login)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_org_admin(&inn, false)?;
    Ok(Json(user_view(&user_of(&auth, &inn, &login)?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    name: Option<String>,
    role: Option<Role>,
    disabled: Option<bool>,
    places: Option<Vec<String>>,
    registers: Option<Vec<String>>,
}

/// `PATCH /api/v1/organisations/{inn}/users/{login}`: role, limits, disabled (which ends the
/// user's sessions).
pub async fn update_user(
    auth: Auth,
    Path((inn, login)): Path<(String, String)>,
    body: Result<Json<UserPatchBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require_org_admin(&inn, true)?;
    let Json(b) = body?;
    let before = user_of(&auth, &inn, &login)?;
    if let Some(r) = b.role {
        check_role_grant(&auth, r)?;
        let kind = auth.app().store().get_org(&inn)?.map(|o| o.kind);
        if kind.is_some_and(|k| !r.fits(k)) {
            return Err(ApiError::field(
                "role",
                "role: does not fit this organisation",
            ));
        }
    }
    if let Some(r) = &b.registers {
        check_registers(r)?;
    }
    if let Principal::User(me) = auth.principal()
        && me.login == before.login
        && (b.disabled == Some(true) || b.role.is_some_and(|r| r != me.role))
    {
        return Err(ApiError::field(
            "role",
            "you cannot disable yourself or change your own role; another admin can",
        ));
    }
    let user = auth
        .app()
        .store()
        .update_user(
            before.login.clone(),
            UserPatch {
                name: b.name,
                role: b.role,
                disabled: b.disabled,
                places: b.places,
                registers: b.registers,
            },
        )
        .await?;
    let action = match (before.role != user.role, before.disabled != user.disabled) {
        (true, _) => "user.role",
        (_, true) if user.disabled => "user.disable",
        (_, true) => "user.enable",
        _ => "user.edit",
    };
    auth.audit(
        action,
        &user.login,
        &[&inn],
        json!({ "before": user_view(&before), "after": user_view(&user) }),
    )
    .await?;
    Ok(Json(user_view(&user)))
}

/// `POST /api/v1/organisations/{inn}/users/{login}/unlock`.
pub async fn unlock_user(
    auth: Auth,
    Path((inn, login)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_org_admin(&inn, true)?;
    let u = user_of(&auth, &inn, &login)?;
    let user = auth.app().store().unlock_user(u.login).await?;
    auth.audit("user.unlock", &user.login, &[&inn], json!({}))
        .await?;
    Ok(Json(user_view(&user)))
}

/// `POST /api/v1/organisations/{inn}/users/{login}/reset`: a new set-password link.
pub async fn reset_user(
    auth: Auth,
    Path((inn, login)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_org_admin(&inn, true)?;
    let u = user_of(&auth, &inn, &login)?;
    let link = issue_link(&auth, &u.login, LinkPurpose::Reset).await?;
    auth.audit("user.reset_link", &u.login, &[&inn], json!({}))
        .await?;
    Ok(Json(json!({ "login": u.login, "set_password": link })))
}

// ---- API keys ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    scope: KeyScope,
    #[serde(default)]
    registers: Vec<String>,
    #[serde(default)]
    name: String,
}

/// `POST /api/v1/organisations/{inn}/api-keys` → `{id, key}`, the key shown once.
pub async fn create_key(
    auth: Auth,
    Path(inn): Path<String>,
    body: Result<Json<NewKeyBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require_org_admin(&inn, true)?;
    let Json(b) = body?;
    check_registers(&b.registers)?;
    if b.name.chars().count() > 128 {
        return Err(ApiError::field("name", "name: at most 128 characters"));
    }
    let issued = auth
        .app()
        .store()
        .create_api_key(
            inn.clone(),
            b.scope,
            b.registers,
            b.name,
            auth.actor().name,
            now(),
        )
        .await?;
    auth.audit("key.create", &issued.key.id, &[&inn], key_view(&issued.key))
        .await?;
    let mut out = key_view(&issued.key);
    out["key"] = Value::String(issued.text);
    out["note"] = Value::String("the key is shown once; only its hash is stored".into());
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /api/v1/organisations/{inn}/api-keys`: without secrets.
pub async fn list_keys(auth: Auth, Path(inn): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require_org_admin(&inn, false)?;
    let keys = auth.app().store().api_keys_of(&inn)?;
    Ok(Json(
        json!({ "items": keys.iter().map(key_view).collect::<Vec<_>>() }),
    ))
}

/// `DELETE /api/v1/organisations/{inn}/api-keys/{id}`: revoked at once.
pub async fn revoke_key(
    auth: Auth,
    Path((inn, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require_org_admin(&inn, true)?;
    let store = auth.app().store();
    if store.get_api_key(&id)?.is_none_or(|k| k.org != inn) {
        return Err(ApiError::not_found(format!(
            "API key {id} not found in {inn}"
        )));
    }
    let k = store.revoke_api_key(id, now()).await?;
    auth.audit("key.revoke", &k.id, &[&inn], json!({})).await?;
    Ok(Json(key_view(&k)))
}

// ---- partner links ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerBody {
    partner_inn: String,
    #[serde(default)]
    note: String,
}

/// Which side of the link between `taxpayer` and `partner` the caller speaks for: the
/// operator, or an admin of one of the two organisations.
fn side(auth: &Auth, taxpayer: &str, partner: &str) -> Result<Side, ApiError> {
    if auth.is_operator() {
        auth.require(Need::Staff)?;
        return Ok(Side::Operator);
    }
    let home = auth.home_org().unwrap_or_default();
    let as_side = if home == taxpayer {
        Side::Taxpayer
    } else if home == partner {
        Side::Partner
    } else if auth.sees_org(taxpayer)? {
        return Err(ApiError::forbidden(
            "only the taxpayer, the partner and the operator's staff act on their link",
        ));
    } else {
        return Err(org_not_found(taxpayer));
    };
    auth.require_org_admin(home, true)?;
    Ok(as_side)
}

/// `POST /api/v1/organisations/{inn}/partners` `{partner_inn}`: a request (or at once when the
/// operator makes it, or when the other side had already asked).
pub async fn request_partner(
    auth: Auth,
    Path(inn): Path<String>,
    body: Result<Json<PartnerBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(b) = body?;
    let by = side(&auth, &inn, &b.partner_inn)?;
    if b.note.chars().count() > 1000 {
        return Err(ApiError::field("note", "note: at most 1000 characters"));
    }
    let store = auth.app().store();
    for (field, n) in [("inn", &inn), ("partner_inn", &b.partner_inn)] {
        if store.get_org(n)?.is_none() {
            return Err(ApiError::field(
                field,
                format!("{field}: organisation {n} not found"),
            ));
        }
    }
    let link = store
        .request_partner(inn.clone(), b.partner_inn.clone(), by, b.note, now())
        .await?;
    auth.audit(
        "partner.request",
        &format!("{}/{}", link.taxpayer, link.partner),
        &[&link.taxpayer, &link.partner],
        link_view(&link),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(link_view(&link))))
}

/// `GET /api/v1/organisations/{inn}/partners`: links on either side, with their statuses.
pub async fn list_partners(auth: Auth, Path(inn): Path<String>) -> Result<Json<Value>, ApiError> {
    auth.require(Need::Read)?;
    if !auth.is_operator() && auth.home_org() != Some(inn.as_str()) {
        return Err(if auth.sees_org(&inn)? {
            ApiError::forbidden("only the organisation itself and the operator list its partners")
        } else {
            org_not_found(&inn)
        });
    }
    let links = auth.app().store().partner_links_of(&inn)?;
    Ok(Json(
        json!({ "items": links.iter().map(link_view).collect::<Vec<_>>() }),
    ))
}

async fn answer(
    auth: Auth,
    inn: String,
    partner: String,
    accept: bool,
) -> Result<Json<Value>, ApiError> {
    let by = side(&auth, &inn, &partner)?;
    let link = auth
        .app()
        .store()
        .answer_partner(inn, partner, by, accept, now())
        .await?;
    auth.audit(
        if accept {
            "partner.accept"
        } else {
            "partner.decline"
        },
        &format!("{}/{}", link.taxpayer, link.partner),
        &[&link.taxpayer, &link.partner],
        link_view(&link),
    )
    .await?;
    Ok(Json(link_view(&link)))
}

/// `POST /api/v1/organisations/{inn}/partners/{partner_inn}/accept`.
pub async fn accept_partner(
    auth: Auth,
    Path((inn, partner)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    answer(auth, inn, partner, true).await
}

/// `POST /api/v1/organisations/{inn}/partners/{partner_inn}/decline`.
pub async fn decline_partner(
    auth: Auth,
    Path((inn, partner)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    answer(auth, inn, partner, false).await
}

/// `DELETE /api/v1/organisations/{inn}/partners/{partner_inn}`: either side ends the link; the
/// other is told through its audit log (and notifications, where configured).
pub async fn end_partner(
    auth: Auth,
    Path((inn, partner)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let by = side(&auth, &inn, &partner)?;
    let link = auth
        .app()
        .store()
        .end_partner(inn, partner, by, now())
        .await?;
    auth.audit(
        "partner.end",
        &format!("{}/{}", link.taxpayer, link.partner),
        &[&link.taxpayer, &link.partner],
        link_view(&link),
    )
    .await?;
    Ok(Json(link_view(&link)))
}
