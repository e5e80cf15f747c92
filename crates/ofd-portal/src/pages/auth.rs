//! Signing in and out, setting a password from a one-time link, and "forgot password". The
//! policy (throttling, lockout, argon2id, TOTP, audit) is the shared `Authenticator`'s; these
//! pages only show its answers next to the right field, in the visitor's language.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::accounts::LinkPurpose;
use ofd_store::accounts::auth::{LoginError, SetPasswordError};
use serde::Deserialize;

use super::local_path;
use crate::Portal;
use crate::error::PageError;
use crate::i18n::{Lang, M};
use crate::layout::{field, public_page};
use crate::session::{
    FORM_COOKIE, SESSION_COOKIE, SignedIn, Visitor, check_form_token, random_hex,
};

fn session_cookie(p: &Portal, token: &str) -> String {
    let secure = if p.secure_cookies() { "; Secure" } else { "" };
    let max_age = if token.is_empty() {
        0
    } else {
        p.config.session_absolute_secs
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

/// A pre-session form: its token, reusing the visitor's cookie when present.
fn form_token(v: &Visitor) -> Result<(String, Option<String>), PageError> {
    match &v.form_token {
        Some(t) => Ok((t.clone(), None)),
        None => {
            let t = random_hex(16)?;
            let c = format!("{FORM_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400");
            Ok((t, Some(c)))
        }
    }
}

fn html_page(status: StatusCode, set_cookie: Option<String>, body: Markup) -> Response {
    let mut r = (status, Html(body.into_string())).into_response();
    if let Some(c) = set_cookie
        && let Ok(v) = c.parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

#[derive(Default)]
struct LoginErrors {
    form: Option<String>,
    login: Option<String>,
    password: Option<String>,
    totp: Option<String>,
}

fn login_markup(
    l: Lang,
    token: &str,
    login: &str,
    next: &str,
    e: &LoginErrors,
    ask_totp: bool,
) -> Markup {
    html! {
        @if let Some(msg) = &e.form { p.warning role="alert" { (msg) } }
        form method="post" action="/login" novalidate {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="next" value=(next);
            (field(l.t(M::Email), "login", login, "email", e.login.as_deref(), true))
            (field(l.t(M::Password), "password", "", "password", e.password.as_deref(), true))
            @if ask_totp || e.totp.is_some() {
                (field(l.t(M::TotpCode), "totp", "", "text", e.totp.as_deref(), false))
            } @else {
                details {
                    summary { (l.t(M::HaveTotp)) }
                    (field(l.t(M::TotpCode), "totp", "", "text", None, false))
                }
            }
            button type="submit" { (l.t(M::SignIn)) }
        }
        p { a href="/forgot" { (l.t(M::ForgotPassword)) } }
    }
}

/// `GET /login`.
pub async fn login_form(v: Visitor, Query(q): Query<LoginQuery>) -> Result<Response, PageError> {
    let (token, cookie) = form_token(&v)?;
    let l = v.lang;
    let body = login_markup(l, &token, "", &q.next, &LoginErrors::default(), false);
    Ok(html_page(
        StatusCode::OK,
        cookie,
        public_page(l, &v.path, l.t(M::SignInTitle), body),
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`.
pub async fn login(
    State(p): State<Arc<Portal>>,
    v: Visitor,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    check_form_token(&v, &f.csrf)?;
    let l = v.lang;
    let mut e = LoginErrors::default();
    if f.login.trim().is_empty() {
        e.login = Some(l.t(M::Required).into());
    }
    if f.password.is_empty() {
        e.password = Some(l.t(M::Required).into());
    }
    let (token, _) = form_token(&v)?;
    let render = |status: StatusCode, e: &LoginErrors, ask_totp: bool| {
        let body = login_markup(l, &token, &f.login, &f.next, e, ask_totp);
        html_page(
            status,
            None,
            public_page(l, &v.path, l.t(M::SignInTitle), body),
        )
    };
    if e.login.is_some() || e.password.is_some() {
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &e, false));
    }
    let auth = p.auth.clone();
    let (login, password, totp, addr, now) = (
        f.login.clone(),
        f.password.clone(),
        f.totp.clone(),
        v.addr,
        p.now(),
    );
    let outcome = tokio::task::spawn_blocking(move || {
        let code = (!totp.trim().is_empty()).then_some(totp.as_str());
        auth.login(&login, &password, code, addr, now)
    })
    .await?;
    match outcome {
        Ok(issued) => {
            let to = local_path(&f.next);
            let to = if to == "/" { "/monitoring" } else { to };
            Ok((
                [(header::SET_COOKIE, session_cookie(&p, &issued.token))],
                Redirect::to(to),
            )
                .into_response())
        }
        Err(LoginError::Throttled { retry_after_secs }) => {
            e.form = Some(format!("{} {retry_after_secs} s", l.t(M::Throttled)));
            let mut r = render(StatusCode::TOO_MANY_REQUESTS, &e, false);
            if let Ok(v) = retry_after_secs.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(r)
        }
        Err(LoginError::Locked) => {
            e.form = Some(l.t(M::Locked).into());
            Ok(render(StatusCode::LOCKED, &e, false))
        }
        Err(LoginError::BadCredentials) => {
            e.password = Some(l.t(M::BadCredentials).into());
            Ok(render(StatusCode::UNAUTHORIZED, &e, false))
        }
        Err(LoginError::TotpRequired) => {
            e.totp = Some(l.t(M::TotpRequired).into());
            Ok(render(StatusCode::UNAUTHORIZED, &e, true))
        }
        Err(LoginError::BadTotp) => {
            e.totp = Some(l.t(M::BadTotp).into());
            Ok(render(StatusCode::UNAUTHORIZED, &e, true))
        }
        Err(LoginError::Store(s)) => Err(s.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: ends the session on the server, not only in the browser.
pub async fn logout(
    State(p): State<Arc<Portal>>,
    s: SignedIn,
    headers: axum::http::HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    if let Some(token) = crate::session::cookie(&headers, SESSION_COOKIE) {
        p.store.end_session(token).await?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&p, ""))],
        Redirect::to("/login"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn set_password_markup(
    l: Lang,
    csrf: &str,
    link: &str,
    error: Option<&str>,
    form_error: Option<&str>,
) -> Markup {
    html! {
        @if let Some(msg) = form_error { p.warning role="alert" { (msg) } }
        p { (l.t(M::PasswordRules)) }
        form method="post" action="/set-password" novalidate {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="token" value=(link);
            (field(l.t(M::NewPassword), "password", "", "password", error, true))
            (field(l.t(M::RepeatPassword), "repeat", "", "password", None, true))
            button type="submit" { (l.t(M::SetPassword)) }
        }
    }
}

/// `GET /set-password?token=…`: the page a one-time link opens.
pub async fn set_password_form(
    v: Visitor,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let (csrf, cookie) = form_token(&v)?;
    let l = v.lang;
    let body = set_password_markup(l, &csrf, &q.token, None, None);
    // The token is in the URL: keep it out of other sites' Referer headers.
    let mut r = html_page(
        StatusCode::OK,
        cookie,
        public_page(l, "/set-password", l.t(M::SetPasswordTitle), body),
    );
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        "no-referrer".parse().expect("valid header"),
    );
    Ok(r)
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

/// `POST /set-password`.
pub async fn set_password(
    State(p): State<Arc<Portal>>,
    v: Visitor,
    Form(f): Form<SetPasswordForm>,
) -> Result<Response, PageError> {
    check_form_token(&v, &f.csrf)?;
    let l = v.lang;
    let again = |status, field_err: Option<String>, form_err: Option<String>| {
        let body = set_password_markup(
            l,
            &f.csrf,
            &f.token,
            field_err.as_deref(),
            form_err.as_deref(),
        );
        html_page(
            status,
            None,
            public_page(l, "/set-password", l.t(M::SetPasswordTitle), body),
        )
    };
    if f.password != f.repeat {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(l.t(M::PasswordsDiffer).into()),
            None,
        ));
    }
    let auth = p.auth.clone();
    let (token, password, now, addr) = (f.token.clone(), f.password.clone(), p.now(), v.addr);
    let outcome = tokio::task::spawn_blocking(move || {
        auth.set_password(&token, &password, now, &addr.to_string())
    })
    .await?;
    match outcome {
        Ok(_) => {
            let body = html! {
                p.notice role="status" { (l.t(M::PasswordSet)) }
                p { a.button href="/login" { (l.t(M::SignIn)) } }
            };
            Ok(html_page(
                StatusCode::OK,
                None,
                public_page(l, "/set-password", l.t(M::SetPasswordTitle), body),
            ))
        }
        Err(SetPasswordError::LinkGone) => Ok(again(
            StatusCode::NOT_FOUND,
            None,
            Some(l.t(M::LinkGone).into()),
        )),
        Err(SetPasswordError::Weak(why)) => Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(format!("{} ({why})", l.t(M::WeakPassword))),
            None,
        )),
        Err(SetPasswordError::Store(s)) => Err(s.into()),
    }
}

fn forgot_markup(l: Lang, csrf: &str, error: Option<&str>) -> Markup {
    html! {
        p { (l.t(M::ForgotHelp)) }
        form method="post" action="/forgot" novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (field(l.t(M::Email), "login", "", "email", error, true))
            button type="submit" { (l.t(M::SendLink)) }
        }
    }
}

/// `GET /forgot`.
pub async fn forgot_form(v: Visitor) -> Result<Response, PageError> {
    let (csrf, cookie) = form_token(&v)?;
    let l = v.lang;
    Ok(html_page(
        StatusCode::OK,
        cookie,
        public_page(
            l,
            "/forgot",
            l.t(M::ForgotPassword),
            forgot_markup(l, &csrf, None),
        ),
    ))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
}

/// `POST /forgot`: the same answer whether or not the login exists (it reveals nothing); a
/// link is mailed when it does and SMTP is configured.
pub async fn forgot(
    State(p): State<Arc<Portal>>,
    v: Visitor,
    Form(f): Form<ForgotForm>,
) -> Result<Response, PageError> {
    check_form_token(&v, &f.csrf)?;
    let l = v.lang;
    if f.login.trim().is_empty() {
        return Ok(html_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            public_page(
                l,
                "/forgot",
                l.t(M::ForgotPassword),
                forgot_markup(l, &f.csrf, Some(l.t(M::Required))),
            ),
        ));
    }
    if let Some(u) = p.store.get_user(f.login.trim())?
        && !u.disabled
    {
        let auth = p.auth.clone();
        let (login, now) = (u.login.clone(), p.now());
        let token =
            tokio::task::spawn_blocking(move || auth.issue_link(&login, LinkPurpose::Reset, now))
                .await??;
        let url = format!(
            "{}/set-password?token={token}",
            p.config.public_url.trim_end_matches('/')
        );
        if let Err(e) = p
            .services
            .mail_link(&u.login, &url, LinkPurpose::Reset)
            .await
        {
            tracing::warn!(error = %e, "reset link could not be mailed");
        }
    }
    let body = html! { p.notice role="status" { (l.t(M::LinkSentIfExists)) } };
    Ok(html_page(
        StatusCode::OK,
        None,
        public_page(l, "/forgot", l.t(M::ForgotPassword), body),
    ))
}
