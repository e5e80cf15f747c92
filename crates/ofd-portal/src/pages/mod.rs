//! The portal's routes: one table, each page in a file of its own.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ofd_store::LivenessRecord;
use serde::Deserialize;

use crate::Portal;
use crate::i18n::{Lang, M};
use crate::session::{LANG_COOKIE, SESSION_COOKIE, cookie};

mod auth;
mod check;
mod check_kz;
mod documents;
mod kz;
mod kz_reports;
mod monitoring;
mod notifications;
mod organisation;
mod register;
mod registers;
mod reports;
mod requests;
mod tariffs;

/// Every page of the portal. The daemon serves this on `portal_listen`.
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/static/portal.css", get(css))
        .route("/lang", get(switch_lang))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/set-password",
            get(auth::set_password_form).post(auth::set_password),
        )
        .route("/forgot", get(auth::forgot_form).post(auth::forgot))
        .route("/monitoring", get(monitoring::page))
        .route("/registers", get(registers::list))
        .route("/registers.csv", get(registers::csv))
        .route(
            "/registers/new",
            get(register::new_form).post(register::create),
        )
        .route("/registers/{rn}", get(register::card))
        .route("/registers/{rn}/token", post(register::token))
        .route(
            "/registers/{rn}/deregister",
            get(register::deregister_confirm).post(register::deregister),
        )
        .route("/registers/{rn}/documents", get(documents::of_register))
        .route("/registers/{rn}/reports", get(reports::shifts))
        .route("/registers/{rn}/connection", post(requests::file))
        .route("/kz/{id}/connection", post(requests::file))
        .route("/requests", get(requests::list))
        .route("/tariffs", get(tariffs::list).post(tariffs::save))
        .route("/organisation/statement", get(tariffs::statement))
        .route("/requests/{id}", post(requests::set_status))
        .route("/kz/{id}", get(kz::card))
        .route("/kz/{id}/token", post(kz::token))
        .route("/kz/{id}/reports", get(kz_reports::shifts))
        .route("/documents/{fn}/{fd}", get(documents::receipt))
        .route("/documents/{fn}/{fd}/raw", get(documents::raw))
        .route("/documents/{fn}/{fd}/json", get(documents::json))
        .route("/check", get(check::page))
        .route("/organisation", get(organisation::page_handler))
        .route("/organisation/users", post(organisation::invite))
        .route(
            "/organisation/notifications",
            get(notifications::show).post(notifications::save),
        )
        .route("/organisation/keys", post(organisation::create_key))
        .route(
            "/organisation/keys/{id}/revoke",
            post(organisation::revoke_key),
        )
        .fallback(|| async { crate::PageError::NotFound })
        .with_state(portal)
}

async fn home(headers: axum::http::HeaderMap) -> Redirect {
    if cookie(&headers, SESSION_COOKIE).is_some() {
        Redirect::to("/monitoring")
    } else {
        Redirect::to("/login")
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::layout::CSS,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
    #[serde(default)]
    back: String,
}

/// `GET /lang?to=en&back=/registers`: remembers the choice and returns to the page.
async fn switch_lang(State(_): State<Arc<Portal>>, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to).unwrap_or(Lang::Ru);
    let back = local_path(&q.back);
    (
        [(
            header::SET_COOKIE,
            format!(
                "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
                lang.code()
            ),
        )],
        Redirect::to(back),
    )
        .into_response()
}

/// A page that shows a secret once (a token, a key, a link): never kept by a cache.
pub fn shown_once(html: maud::Markup) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(html.into_string()),
    )
        .into_response()
}

/// The system ID and token to type into a register, shown once.
pub fn token_markup(l: Lang, system_id: &str, token: &str, how: M, back: &str) -> maud::Markup {
    maud::html! {
        p.notice role="status" { (l.t(M::TokenOnce)) }
        dl.card {
            dt { (l.t(M::SystemId)) } dd { span.token #system-id { (system_id) } }
            dt { (l.t(M::Token)) } dd { span.token #token { (token) } }
        }
        p { (l.t(how)) }
        p { a href=(back) { (l.t(M::BackToRegister)) } }
    }
}

/// A path on this site only (no `//host`, no scheme): redirects never leave the portal.
pub fn local_path(p: &str) -> &str {
    if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') {
        p
    } else {
        "/"
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A register's circle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Green,
    Yellow,
    Red,
    /// Deregistered, or never heard from.
    Grey,
}

impl Colour {
    pub fn of(rec: Option<&LivenessRecord>, now: u64, p: &Portal) -> Colour {
        let Some(r) = rec else { return Colour::Grey };
        if r.deregistered() {
            return Colour::Grey;
        }
        let age = now.saturating_sub(u64::from(r.last_doc_time));
        if age < p.config.yellow_after_secs {
            Colour::Green
        } else if age <= p.config.red_after_secs {
            Colour::Yellow
        } else {
            Colour::Red
        }
    }

    pub fn describe(self, l: Lang) -> (&'static str, &'static str) {
        match self {
            Colour::Green => ("green", l.t(M::Online)),
            Colour::Yellow => ("yellow", l.t(M::Late)),
            Colour::Red => ("red", l.t(M::Silent)),
            Colour::Grey => ("grey", l.t(M::NoData)),
        }
    }
}
