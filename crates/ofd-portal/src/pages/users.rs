//! Changing one user of an organisation from its page: the role and the points of sale the
//! user is limited to, disabling (which ends the user's sessions) and enabling, and unlocking
//! after failed sign-ins. The same rules as the API's `PATCH …/users/{login}`: only the
//! organisation's admin or the operator's staff change anything, a role must fit the kind of
//! organisation, and nobody disables themselves or changes their own role (another admin can).

use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::accounts::{Role, User, UserPatch};
use serde::Deserialize;

use super::organisation::{OrgQuery, org_of, parse_role, render, roles_for};
use crate::error::PageError;
use crate::i18n::M;
use crate::session::SignedIn;

/// The controls in a user's row (none for the signed-in user's own row).
pub fn actions(s: &SignedIn, inn: &str, u: &User, roles: &[Role]) -> Markup {
    let l = s.lang;
    if u.login == s.user.login {
        return html! { (l.t(M::You)) };
    }
    let action = format!(
        "/organisation/users/{}?inn={inn}",
        super::url_encode(&u.login)
    );
    let id = |what: &str| format!("u-{what}-{}", u.login.replace(['@', '.'], "-"));
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(s.csrf);
            input type="hidden" name="op" value="edit";
            label.sr for=(id("role")) { (l.t(M::Role)) " " (u.login) }
            select id=(id("role")) name="role" {
                @for r in roles { option value=(r.as_str()) selected[*r == u.role] { (r.as_str()) } }
            }
            label.sr for=(id("places")) { (l.t(M::PlacesOptional)) " " (u.login) }
            input id=(id("places")) name="places" value=(u.places.join(", ")) placeholder=(l.t(M::AllPlaces));
            button type="submit" { (l.t(M::Save)) }
        }
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(s.csrf);
            @if u.disabled {
                input type="hidden" name="op" value="enable";
                button type="submit" { (l.t(M::Enable)) }
            } @else {
                input type="hidden" name="op" value="disable";
                button.danger type="submit" { (l.t(M::Disable)) }
            }
        }
        @if u.locked {
            form.inline method="post" action=(action) {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="op" value="unlock";
                button type="submit" { (l.t(M::Unlock)) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    places: String,
}

/// `POST /organisation/users/{login}[?inn=]` with `op` = `edit` (role and places), `disable`,
/// `enable` or `unlock`.
pub async fn change(
    s: SignedIn,
    Path(login): Path<String>,
    Query(q): Query<OrgQuery>,
    Form(f): Form<UserForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    let inn = org_of(&s, &q.inn)?;
    let l = s.lang;
    let store = &s.portal().store;
    // Another organisation's user is a 404, like any object out of reach.
    let before = match store.get_user(&login)? {
        Some(u) if u.org == inn => u,
        _ => return Err(PageError::NotFound),
    };
    let own = before.login == s.user.login;
    let refuse = |why: &str| -> Result<Response, PageError> {
        let mut e = std::collections::BTreeMap::new();
        e.insert("login", why.to_string());
        let notice = html! { p.error role="alert" { (before.login) ": " (why) } };
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(render(&s, &inn, &e, Some(notice))?.into_string()),
        )
            .into_response())
    };
    let (patch, action) = match f.op.as_str() {
        "edit" => {
            let Some(role) = parse_role(&f.role) else {
                return refuse(l.t(M::BadRole));
            };
            if !roles_for(&s, &inn)?.contains(&role) {
                return refuse(l.t(M::BadRole));
            }
            if own && role != before.role {
                return refuse(l.t(M::NotYourself));
            }
            let places: Vec<String> = f
                .places
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
            let action = if role != before.role {
                "user.role"
            } else {
                "user.edit"
            };
            let patch = UserPatch {
                role: Some(role),
                places: Some(places),
                ..Default::default()
            };
            (Some(patch), action)
        }
        "disable" | "enable" => {
            let disable = f.op == "disable";
            if own && disable {
                return refuse(l.t(M::NotYourself));
            }
            let patch = UserPatch {
                disabled: Some(disable),
                ..Default::default()
            };
            let action = if disable {
                "user.disable"
            } else {
                "user.enable"
            };
            (Some(patch), action)
        }
        "unlock" => (None, "user.unlock"),
        other => {
            return Err(PageError::BadRequest(format!(
                "op: {other:?} is not one of edit, disable, enable, unlock"
            )));
        }
    };
    let after = match patch {
        Some(p) => store.update_user(before.login.clone(), p).await?,
        None => store.unlock_user(before.login.clone()).await?,
    };
    s.audit(
        action,
        &after.login,
        &[&inn],
        serde_json::json!({
            "before": {"role": before.role.as_str(), "places": before.places, "disabled": before.disabled, "locked": before.locked},
            "after": {"role": after.role.as_str(), "places": after.places, "disabled": after.disabled, "locked": after.locked},
        }),
    )
    .await?;
    Ok(Redirect::to(&format!("/organisation?inn={inn}")).into_response())
}
