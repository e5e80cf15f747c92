//! Who is looking at a page: the [`SignedIn`] extractor (a page that needs a user takes it as
//! an argument, so it cannot forget to), the [`Visitor`] extractor for public pages, the
//! language, and CSRF tokens.
//!
//! The session cookie is the one the JSON API also accepts (`ofdd_session`: `HttpOnly`,
//! `SameSite=Strict`, `Secure` behind https), checked by the shared
//! [`ofd_store::accounts::auth::Authenticator`]. Every form carries a CSRF token in a hidden
//! field: the session's own token once signed in, and before that (the sign-in, set-password
//! and forgot-password forms) a random token also set as a `SameSite=Strict` cookie, which a
//! cross-site form can neither read nor send.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ofd_store::accounts::User;
use ofd_store::{Holder, Scope, Scoped};
use subtle::ConstantTimeEq;

use crate::error::PageError;
use crate::i18n::Lang;
use crate::{Portal, format};

pub const SESSION_COOKIE: &str = "ofdd_session";
/// The pre-session CSRF cookie of the sign-in forms.
pub const FORM_COOKIE: &str = "ofdd_form";
pub const LANG_COOKIE: &str = "ofdd_lang";

/// The value of one cookie in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The client's address, as the listener recorded it (unspecified when it did not).
pub fn peer_addr(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// The language: the switch's cookie, else the browser's `Accept-Language`, else Russian.
fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
        return l;
    }
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language)
        .unwrap_or(Lang::Ru)
}

/// Anyone: the language and address (public pages, the sign-in forms).
pub struct Visitor {
    pub lang: Lang,
    pub addr: IpAddr,
    /// The pre-session CSRF cookie, when the browser sent one.
    pub form_token: Option<String>,
    /// The path asked for (for the language switch to come back to).
    pub path: String,
}

impl FromRequestParts<Arc<Portal>> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<Portal>,
    ) -> Result<Visitor, Self::Rejection> {
        Ok(Visitor {
            lang: lang_of(&parts.headers),
            addr: peer_addr(parts),
            form_token: cookie(&parts.headers, FORM_COOKIE)
                .filter(|t| t.len() == 32 && t.bytes().all(|c| c.is_ascii_hexdigit()))
                .map(str::to_string),
            path: parts
                .uri
                .path_and_query()
                .map_or("/".into(), |p| p.to_string()),
        })
    }
}

/// A signed-in user, with the scope every page's store access goes through.
pub struct SignedIn {
    pub user: User,
    pub csrf: String,
    pub scope: Scope,
    pub lang: Lang,
    pub addr: IpAddr,
    pub path: String,
    portal: Arc<Portal>,
}

impl FromRequestParts<Arc<Portal>> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, p: &Arc<Portal>) -> Result<SignedIn, PageError> {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/".into(), |p| p.to_string());
        let sign_in = || PageError::SignIn { next: path.clone() };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in());
        };
        let Some((session, user)) = p.auth.session(token, p.now())? else {
            return Err(sign_in());
        };
        let (scope, _) = p.store.scope_of(Holder::User(&user))?;
        Ok(SignedIn {
            user,
            csrf: session.csrf,
            scope,
            lang: lang_of(&parts.headers),
            addr: peer_addr(parts),
            path,
            portal: p.clone(),
        })
    }
}

impl SignedIn {
    /// The store as this user's scope sees it: the only way a page reaches tenant data.
    pub fn store(&self) -> Scoped<'_> {
        self.portal.store.scoped(&self.scope)
    }

    /// Whether the user may register, edit and deregister registers.
    pub fn may_write(&self) -> bool {
        self.user.role.may_change_registers()
    }

    pub fn require_write(&self) -> Result<(), PageError> {
        if self.may_write() {
            Ok(())
        } else {
            Err(PageError::Forbidden(format!(
                "role {} may not change registers",
                self.user.role.as_str()
            )))
        }
    }

    /// Whether the user runs the accounts of their organisation (or is the operator's staff).
    pub fn is_org_admin(&self) -> bool {
        matches!(
            self.user.role,
            ofd_store::accounts::Role::Admin | ofd_store::accounts::Role::Staff
        )
    }

    pub fn is_operator(&self) -> bool {
        self.user.role.is_operator()
    }

    /// Refuses a change whose form did not carry this session's CSRF token.
    pub fn check_csrf(&self, presented: &str) -> Result<(), PageError> {
        if bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "the form's security token is missing or stale; reload the page and try again"
                    .into(),
            ))
        }
    }

    pub fn now(&self) -> u64 {
        self.portal.now()
    }

    pub fn today(&self) -> String {
        format::date(self.now())
    }
}

/// A fresh random token, hex (`bytes` random bytes).
pub fn random_hex(bytes: usize) -> Result<String, PageError> {
    let mut b = vec![0u8; bytes];
    // If the OS's generator ever failed, an all-zero token would be guessable: refuse.
    ofd_store::random_bytes(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Checks a pre-session form's token against its cookie.
pub fn check_form_token(v: &Visitor, presented: &str) -> Result<(), PageError> {
    match &v.form_token {
        Some(t) if bool::from(t.as_bytes().ct_eq(presented.as_bytes())) => Ok(()),
        _ => Err(PageError::Forbidden(
            "the form's security token is missing or stale; reload the page and try again".into(),
        )),
    }
}

impl SignedIn {
    /// Appends an audit entry for a change this user made, listed for `orgs` and the user's
    /// own organisation. Durable before it returns.
    pub async fn audit(
        &self,
        action: &str,
        target: &str,
        orgs: &[&str],
        detail: serde_json::Value,
    ) -> Result<(), PageError> {
        let actor = ofd_store::accounts::auth::Actor {
            name: self.user.login.clone(),
            org: Some(self.user.org.clone()),
            addr: self.addr.to_string(),
        };
        self.portal
            .store
            .audit(actor.entry(self.now(), action, target, orgs, detail))
            .await?;
        Ok(())
    }

    pub fn portal(&self) -> &Portal {
        &self.portal
    }
}
