//! The portal's routes: one table, each page in a file of its own.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use ofd_store::LivenessRecord;
use serde::Deserialize;

use crate::Portal;
use crate::i18n::{Lang, M};
use crate::session::{LANG_COOKIE, SESSION_COOKIE, cookie};

mod audit;
mod auth;
mod check;
mod check_kz;
mod documents;
mod kz;
mod kz_reports;
mod monitoring;
mod notifications;
mod organisation;
mod partners;
mod register;
mod registers;
mod reports;
mod requests;
mod staff;
mod tariffs;
mod users;

/// The form of a change that carries nothing but the session's CSRF token (a button).
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// One page or form action: its method, path, whether it answers without signing in, and its
/// handler. The router is built from [`routes`], and the tests walk the same table (every
/// route × every kind of user), so a page cannot be added without its access being tested.
pub struct PageRoute {
    pub method: &'static str,
    /// With `{param}` segments.
    pub path: &'static str,
    /// Answered without a session (sign-in forms, the receipt check, the stylesheet).
    pub public: bool,
    handler: MethodRouter<Arc<Portal>>,
}

fn r(
    method: &'static str,
    path: &'static str,
    public: bool,
    handler: MethodRouter<Arc<Portal>>,
) -> PageRoute {
    PageRoute {
        method,
        path,
        public,
        handler,
    }
}

/// Every route of the portal.
pub fn routes() -> Vec<PageRoute> {
    vec![
        r("GET", "/", true, get(home)),
        r("GET", "/static/portal.css", true, get(css)),
        r("GET", "/lang", true, get(switch_lang)),
        r("GET", "/login", true, get(auth::login_form)),
        r("POST", "/login", true, post(auth::login)),
        r("POST", "/logout", false, post(auth::logout)),
        r("GET", "/set-password", true, get(auth::set_password_form)),
        r("POST", "/set-password", true, post(auth::set_password)),
        r("GET", "/forgot", true, get(auth::forgot_form)),
        r("POST", "/forgot", true, post(auth::forgot)),
        r("GET", "/check", true, get(check::page)),
        r("GET", "/monitoring", false, get(monitoring::page)),
        r("GET", "/registers", false, get(registers::list)),
        r("GET", "/registers.csv", false, get(registers::csv)),
        r("GET", "/registers.xlsx", false, get(registers::xlsx)),
        r("GET", "/registers/new", false, get(register::new_form)),
        r("POST", "/registers/new", false, post(register::create)),
        r("GET", "/registers/{rn}", false, get(register::card)),
        r(
            "POST",
            "/registers/{rn}/token",
            false,
            post(register::token),
        ),
        r(
            "GET",
            "/registers/{rn}/deregister",
            false,
            get(register::deregister_confirm),
        ),
        r(
            "POST",
            "/registers/{rn}/deregister",
            false,
            post(register::deregister),
        ),
        r(
            "GET",
            "/registers/{rn}/documents",
            false,
            get(documents::of_register),
        ),
        r(
            "GET",
            "/registers/{rn}/reports",
            false,
            get(reports::shifts),
        ),
        r(
            "POST",
            "/registers/{rn}/connection",
            false,
            post(requests::file),
        ),
        r("GET", "/kz/{id}", false, get(kz::card)),
        r("POST", "/kz/{id}/token", false, post(kz::token)),
        r("GET", "/kz/{id}/reports", false, get(kz_reports::shifts)),
        r("POST", "/kz/{id}/connection", false, post(requests::file)),
        r(
            "GET",
            "/documents/{fn}/{fd}",
            false,
            get(documents::receipt),
        ),
        r(
            "GET",
            "/documents/{fn}/{fd}/raw",
            false,
            get(documents::raw),
        ),
        r(
            "GET",
            "/documents/{fn}/{fd}/json",
            false,
            get(documents::json),
        ),
        r("GET", "/requests", false, get(requests::list)),
        r("POST", "/requests/{id}", false, post(requests::set_status)),
        r("GET", "/tariffs", false, get(tariffs::list)),
        r("POST", "/tariffs", false, post(tariffs::save)),
        r(
            "GET",
            "/organisation",
            false,
            get(organisation::page_handler),
        ),
        r(
            "GET",
            "/organisation/statement",
            false,
            get(tariffs::statement),
        ),
        r(
            "GET",
            "/organisation/notifications",
            false,
            get(notifications::show),
        ),
        r(
            "POST",
            "/organisation/notifications",
            false,
            post(notifications::save),
        ),
        r(
            "POST",
            "/organisation/users",
            false,
            post(organisation::invite),
        ),
        r(
            "POST",
            "/organisation/users/{login}",
            false,
            post(users::change),
        ),
        r(
            "POST",
            "/organisation/keys",
            false,
            post(organisation::create_key),
        ),
        r(
            "POST",
            "/organisation/keys/{id}/revoke",
            false,
            post(organisation::revoke_key),
        ),
        r(
            "POST",
            "/organisation/partners",
            false,
            post(partners::request),
        ),
        r(
            "POST",
            "/organisation/partners/{taxpayer}/{partner}",
            false,
            post(partners::answer),
        ),
        r("GET", "/organisation/audit", false, get(audit::of_org)),
        r("GET", "/audit", false, get(audit::all)),
        r(
            "GET",
            "/staff/organisations",
            false,
            get(staff::organisations),
        ),
        r(
            "POST",
            "/staff/organisations",
            false,
            post(staff::create_org),
        ),
        r("GET", "/staff/partners", false, get(staff::partners)),
    ]
}

/// Every page of the portal. The daemon serves this on `portal_listen`.
pub fn router(portal: Arc<Portal>) -> Router {
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    router
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
