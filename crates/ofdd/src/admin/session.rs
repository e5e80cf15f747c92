//! `/api/v1/session` and `/api/v1/password`: signing in with a password (and TOTP), signing out,
//! one-time set-password links, "forgot password", and the optional second factor.
//!
//! A session is a random cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when the public URL is
//! https), stored server-side only as its hash, with idle and absolute expiry; changes made with
//! it must carry its CSRF token in `X-CSRF-Token`. The policy itself (throttling, lockout,
//! argon2id, TOTP, audit) is `ofd_store::accounts::auth`, shared with the portal.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ofd_store::accounts::auth::{LoginError, SetPasswordError, new_totp, totp_matches};
use ofd_store::accounts::{LinkPurpose, User};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::accounts::user_view;
use super::error::ApiError;
use super::principal::{Auth, Peer, Principal, SESSION_COOKIE, cookie};
use crate::clock::unix_now;

fn now() -> u64 {
    u64::from(unix_now())
}

/// The `Set-Cookie` value for a session token (empty token: clear it).
pub fn session_cookie(cfg: &crate::config::Config, token: &str) -> String {
    let secure = if cfg.accounts.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = if token.is_empty() {
        0
    } else {
        cfg.accounts.session_absolute_secs
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> ApiError {
        let msg = e.to_string();
        match e {
            LoginError::Throttled { retry_after_secs } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, msg)
                    .with_header(header::RETRY_AFTER, &retry_after_secs.to_string())
            }
            LoginError::Locked => ApiError::new(StatusCode::LOCKED, msg),
            LoginError::BadCredentials => ApiError::new(StatusCode::UNAUTHORIZED, msg),
            LoginError::TotpRequired | LoginError::BadTotp => {
                let mut e = ApiError::new(StatusCode::UNAUTHORIZED, msg);
                e.field = Some("totp");
                e
            }
            LoginError::Store(s) => s.into(),
        }
    }
}

impl From<SetPasswordError> for ApiError {
    fn from(e: SetPasswordError) -> ApiError {
        match e {
            SetPasswordError::LinkGone => ApiError::not_found(e.to_string()),
            SetPasswordError::Weak(_) => ApiError::field("password", e.to_string()),
            SetPasswordError::Store(s) => s.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    login: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

/// `POST /api/v1/session` `{login, password, totp?}` → the session cookie and its CSRF token.
pub async fn login(
    State(s): State<AppState>,
    Peer(addr): Peer,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    if b.password.len() > 1024 || b.login.len() > 254 {
        return Err(ApiError::unprocessable("login or password too long"));
    }
    let app = s.app.clone();
    let issued = tokio::task::spawn_blocking(move || {
        app.auth()
            .login(&b.login, &b.password, b.totp.as_deref(), addr, now())
    })
    .await??;
    let user = s.app.store().get_user(&issued.session.login)?;
    let mut resp = Json(json!({
        "login": issued.session.login,
        "csrf": issued.session.csrf,
        "user": user.as_ref().map(user_view),
        "expires_in_secs": s.app.config().accounts.session_absolute_secs,
    }))
    .into_response();
    if let Ok(v) = session_cookie(s.app.config(), &issued.token).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `GET /api/v1/session`: who the caller is.
pub async fn whoami(auth: Auth) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(match auth.principal() {
        Principal::Root => json!({ "principal": "root" }),
        Principal::User(u) => json!({ "principal": "user", "user": user_view(u) }),
        Principal::Key(k) => json!({ "principal": "api_key", "key": super::accounts::key_view(k) }),
    }))
}

/// `DELETE /api/v1/session`: signs out (the cookie's session ends on the server).
pub async fn logout(
    auth: Auth,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        s.app.store().end_session(token).await?;
    }
    auth.audit("logout", &auth.actor().name, &[], json!({}))
        .await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = session_cookie(s.app.config(), "").parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordBody {
    token: String,
    password: String,
}

/// `POST /api/v1/password/set` `{token, password}`: from a one-time link; ends every session
/// of the user.
pub async fn set_password(
    State(s): State<AppState>,
    Peer(addr): Peer,
    body: Result<Json<SetPasswordBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    if b.token.len() != 64 || !b.token.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::not_found(SetPasswordError::LinkGone.to_string()));
    }
    let addr = addr.to_string();
    let app = s.app.clone();
    let user: User = tokio::task::spawn_blocking(move || {
        app.auth().set_password(&b.token, &b.password, now(), &addr)
    })
    .await??;
    Ok(Json(
        json!({ "login": user.login, "note": "password set; sign in with it" }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    login: String,
}

/// `POST /api/v1/password/forgot` `{login}`: always 202, so it does not reveal which logins
/// exist; where SMTP is configured and the user exists, a reset link is mailed.
pub async fn forgot(
    State(s): State<AppState>,
    body: Result<Json<ForgotBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    let cfg = s.app.config();
    let mailed = cfg.accounts.smtp.is_some();
    if mailed
        && let Some(u) = s.app.store().get_user(&b.login)?
        && !u.disabled
    {
        let app = s.app.clone();
        let login = u.login.clone();
        let token = tokio::task::spawn_blocking(move || {
            app.auth().issue_link(&login, LinkPurpose::Reset, now())
        })
        .await??;
        let url = format!(
            "{}/set-password?token={token}",
            cfg.accounts.public_url.trim_end_matches('/')
        );
        crate::mail::send_link(cfg, &u.login, &url, LinkPurpose::Reset)
            .await
            .map_err(|e| ApiError::internal(format!("the link could not be mailed: {e}")))?;
    }
    let note = if mailed {
        "if this login exists, a link to set a new password is on its way"
    } else {
        "no mail is configured here: ask your organisation's administrator for a new link"
    };
    Ok((StatusCode::ACCEPTED, Json(json!({ "note": note }))).into_response())
}

/// `POST /api/v1/session/totp/new`: a fresh TOTP secret and its `otpauth://` URL, not yet on.
pub async fn totp_new(auth: Auth) -> Result<Json<serde_json::Value>, ApiError> {
    let Principal::User(u) = auth.principal() else {
        return Err(ApiError::forbidden(
            "only people signed in with a session have a second factor",
        ));
    };
    let (secret, url) =
        new_totp(&u.login).ok_or_else(|| ApiError::internal("cannot make a TOTP secret"))?;
    Ok(Json(json!({ "secret": secret, "otpauth_url": url })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpBody {
    secret: String,
    code: String,
}

/// `POST /api/v1/session/totp` `{secret, code}`: turns the second factor on once a code from
/// the authenticator app proves the secret was taken.
pub async fn totp_on(
    auth: Auth,
    body: Result<Json<TotpBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Principal::User(u) = auth.principal() else {
        return Err(ApiError::forbidden(
            "only people signed in with a session have a second factor",
        ));
    };
    let Json(b) = body?;
    if !totp_matches(&b.secret, b.code.trim(), &u.login, now()) {
        return Err(ApiError::field(
            "code",
            "code: does not match this secret now",
        ));
    }
    let user = auth
        .app()
        .store()
        .set_totp(u.login.clone(), Some(b.secret))
        .await?;
    auth.audit("user.totp_on", &user.login, &[&user.org], json!({}))
        .await?;
    Ok(Json(user_view(&user)))
}

/// `DELETE /api/v1/session/totp`: turns it off.
pub async fn totp_off(auth: Auth) -> Result<Json<serde_json::Value>, ApiError> {
    let Principal::User(u) = auth.principal() else {
        return Err(ApiError::forbidden(
            "only people signed in with a session have a second factor",
        ));
    };
    let user = auth.app().store().set_totp(u.login.clone(), None).await?;
    auth.audit("user.totp_off", &user.login, &[&user.org], json!({}))
        .await?;
    Ok(Json(user_view(&user)))
}
