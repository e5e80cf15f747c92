//! The frame every page shares: document head, navigation, language switch, sign-out form,
//! and the bare page errors use. Landmarks, labels and text next to every colour keep the
//! pages usable with a screen reader and without colour vision.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::i18n::{Lang, M};
use crate::session::SignedIn;

/// The stylesheet, embedded in the binary (no build step, nothing to deploy beside it).
pub const CSS: &str = include_str!("../assets/portal.css");

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (lang.t(M::Brand)) }
            link rel="stylesheet" href="/static/portal.css";
        }
    }
}

fn lang_switch(lang: Lang, back: &str) -> Markup {
    let other = lang.other();
    html! {
        a.lang href={ "/lang?to=" (other.code()) "&back=" (crate::pages::url_encode(back)) }
            lang=(other.code()) hreflang=(other.code()) { (other.name()) }
    }
}

/// A page for a signed-in user.
pub fn page(s: &SignedIn, title: &str, body: Markup) -> Markup {
    let l = s.lang;
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            (head(l, title))
            body {
                a.skip href="#main" { (l.t(M::SkipToContent)) }
                header.top {
                    nav aria-label=(l.t(M::Navigation)) {
                        a.brand href="/monitoring" { (l.t(M::Brand)) }
                        a href="/monitoring" { (l.t(M::Monitoring)) }
                        a href="/registers" { (l.t(M::Registers)) }
                        @if s.may_write() {
                            a href="/registers/new" { (l.t(M::NewRegister)) }
                        }
                        a href="/requests" { (l.t(M::Requests)) }
                        @if s.is_org_admin() || s.is_operator() {
                            a href="/organisation" { (l.t(M::Organisation)) }
                        }
                        @if s.is_operator() {
                            a href="/staff/organisations" { (l.t(M::Organisations)) }
                            a href="/audit" { (l.t(M::AuditLog)) }
                        }
                    }
                    div.who {
                        span { (s.user.name) " · " (s.user.org) }
                        (lang_switch(l, &s.path))
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { (l.t(M::SignOut)) }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page for anyone (sign-in forms, the receipt check).
pub fn public_page(lang: Lang, path: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body.public {
                header.top {
                    nav aria-label=(lang.t(M::Navigation)) {
                        a.brand href="/" { (lang.t(M::Brand)) }
                        a href="/check" { (lang.t(M::CheckReceipt)) }
                    }
                    div.who { (lang_switch(lang, path)) }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page errors render: bilingual, because it may come before the language is known.
pub fn bare(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="ru" {
            head {
                meta charset="utf-8";
                title { (title) }
                link rel="stylesheet" href="/static/portal.css";
            }
            body.public {
                main #main {
                    h1 { (title) }
                    @if !detail.is_empty() { p { (detail) } }
                    p { a href="/" { "На главную · Home" } }
                }
            }
        }
    };
    (status, Html(body.into_string())).into_response()
}

/// A labelled text input with its error (if any) right next to it.
pub fn field(
    label: &str,
    name: &str,
    value: &str,
    kind: &str,
    error: Option<&str>,
    required: bool,
) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("e-{name}");
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) { (label) @if required { " *" } }
            input id=(id) name=(name) type=(kind) value=(value) required[required]
                aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| err_id.as_str())];
            @if let Some(e) = error {
                span.error id=(err_id) role="alert" { (e) }
            }
        }
    }
}

/// A liveness circle with its meaning in words (colour is never the only signal).
pub fn circle(lang: Lang, colour: crate::pages::Colour) -> Markup {
    let (class, text) = colour.describe(lang);
    html! { span.circle.(class) role="img" aria-label=(text) title=(text) {} span.sr { (text) } }
}

/// Raw SVG (the QR code), already escaped by its generator.
pub fn svg(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}
