//! Who is calling, and what they may reach: the [`Auth`] extractor.
//!
//! Every `/api/v1` handler takes `Auth` as an argument, so a handler that reads or changes
//! tenant data cannot forget to authenticate; and it reaches registers, documents and Kazakh
//! exchanges only through [`Auth::store`], the store as the caller's scope sees it (tenancy in
//! one place: `ofd_store::Scoped`). A credential resolves to one principal:
//!
//! | credential | principal | scope |
//! |---|---|---|
//! | `Authorization: Bearer $OFDD_ADMIN_TOKEN` | root | everything |
//! | `Authorization: Bearer ofk_…` (an API key) | the key's organisation, read or write | its registers (and a partner's clients), optionally only the key's list |
//! | cookie `ofdd_session` (+ `X-CSRF-Token` on changes) | a user | by role: staff and support everything; others their organisation's (and a partner's clients'), optionally only some points of sale or registers |
//!
//! No credential, or an expired session: 401. An unknown or revoked token or key: 403. A
//! credential whose role does not allow the action: 403. Another tenant's object: 404.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use ofd_store::accounts::auth::Actor;
use ofd_store::accounts::{ApiKey, KeyScope, OrgKind, Role, User};
use ofd_store::{Holder, Scope, Scoped};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::app::App;
use crate::clock::unix_now;

/// The session cookie both listeners accept, its parsing, and the peer's address: the portal's.
pub use ofd_portal::{SESSION_COOKIE, cookie, peer_addr as peer_of};
/// The header a cookie-authenticated change must carry (the session's CSRF token).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who a request is from.
#[derive(Clone, Debug)]
pub enum Principal {
    /// The operator's root token.
    Root,
    /// A signed-in user.
    User(User),
    /// An organisation's API key.
    Key(ApiKey),
}

/// What an action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Reading registers, documents, reports.
    Read,
    /// Registering, editing, deregistering registers and issuing their tokens.
    Write,
    /// The operator's own work: organisations of any kind, everyone's accounts.
    Staff,
}

/// An authenticated request: its principal, scope and origin, and the only way to the store.
pub struct Auth {
    app: Arc<App>,
    principal: Principal,
    scope: Scope,
    addr: IpAddr,
    org_kind: Option<OrgKind>,
}

/// The peer's address (unspecified when the listener does not record it).
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(peer_of(parts)))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Auth, ApiError> {
        let app = s.app.clone();
        let addr = peer_of(parts);
        let principal = resolve(&app, parts)?;
        Auth::new(app, principal, addr)
    }
}

fn unauthorized(reason: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, reason).with_header(header::WWW_AUTHENTICATE, "Bearer")
}

fn resolve(app: &App, parts: &Parts) -> Result<Principal, ApiError> {
    let now = u64::from(unix_now());
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        if token.starts_with(ofd_store::accounts::ISSUED_KEY_PREFIX) {
            return match app.auth().api_key(token, now)? {
                Some(k) => Ok(Principal::Key(k)),
                None => Err(ApiError::forbidden("unknown or revoked API key")),
            };
        }
        return match app.config().admin_token.as_deref() {
            Some(root) if bool::from(token.as_bytes().ct_eq(root.as_bytes())) => {
                Ok(Principal::Root)
            }
            Some(_) => Err(ApiError::forbidden("invalid bearer token")),
            // No root token configured: the root credential is off, never open.
            None => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the root credential is disabled: set OFDD_ADMIN_TOKEN (or admin_token in the config); API keys and sessions still work",
            )),
        };
    }
    if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
        let Some((session, user)) = app.auth().session(token, now)? else {
            return Err(unauthorized("session expired or ended; sign in again"));
        };
        // SameSite=Strict already keeps other sites' forms out; the token is a second lock for
        // browsers that do not honour it.
        let unsafe_method = ![Method::GET, Method::HEAD, Method::OPTIONS].contains(&parts.method);
        if unsafe_method {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !bool::from(presented.as_bytes().ct_eq(session.csrf.as_bytes())) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong X-CSRF-Token for this session",
                ));
            }
        }
        return Ok(Principal::User(user));
    }
    Err(unauthorized(
        "missing bearer token or session (Authorization: Bearer <token or API key>, or a session cookie)",
    ))
}

impl Auth {
    /// The scope of a principal, read from its organisation and partner links
    /// (`Store::scope_of`, shared with the portal).
    pub fn new(app: Arc<App>, principal: Principal, addr: IpAddr) -> Result<Auth, ApiError> {
        let holder = match &principal {
            Principal::Root => Holder::Root,
            Principal::User(u) => Holder::User(u),
            Principal::Key(k) => Holder::Key(k),
        };
        let (scope, org_kind) = app.store().scope_of(holder)?;
        Ok(Auth {
            app,
            principal,
            scope,
            addr,
            org_kind,
        })
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The store as this principal sees it.
    pub fn store(&self) -> Scoped<'_> {
        self.app.store().scoped(&self.scope)
    }

    pub fn config(&self) -> &crate::config::Config {
        self.app.config()
    }

    /// The Kazakh pipeline's operator changes (they take the scoped store themselves).
    pub fn kz(&self) -> &crate::kz::KzIngest {
        self.app.kz()
    }

    pub(crate) fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The principal's own organisation (`None` for root).
    pub fn home_org(&self) -> Option<&str> {
        match &self.principal {
            Principal::Root => None,
            Principal::User(u) => Some(&u.org),
            Principal::Key(k) => Some(&k.org),
        }
    }

    /// The operator's people: root, staff, support.
    pub fn is_operator(&self) -> bool {
        match &self.principal {
            Principal::Root => true,
            Principal::User(u) => u.role.is_operator(),
            Principal::Key(_) => false,
        }
    }

    fn role_name(&self) -> String {
        match &self.principal {
            Principal::Root => "root".into(),
            Principal::User(u) => format!("role {}", u.role.as_str()),
            Principal::Key(k) => format!(
                "a {} API key",
                match k.scope {
                    KeyScope::Read => "read",
                    KeyScope::Write => "write",
                }
            ),
        }
    }

    /// Fails with 403 unless the principal's role allows `need`.
    pub fn require(&self, need: Need) -> Result<(), ApiError> {
        let ok = match (&self.principal, need) {
            (Principal::Root, _) => true,
            (Principal::User(u), Need::Staff) => u.role == Role::Staff,
            (Principal::User(_), Need::Read) => true,
            (Principal::User(u), Need::Write) => u.role.may_change_registers(),
            (Principal::Key(k), Need::Write) => k.scope == KeyScope::Write,
            (Principal::Key(_), Need::Read) => true,
            (Principal::Key(_), Need::Staff) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{} may not {}",
                    self.role_name(),
                    match need {
                        Need::Read => "read this",
                        Need::Write => "change registers",
                        Need::Staff => "do the operator's staff work",
                    }
                ),
            ))
        }
    }

    /// May this principal see organisation `inn` at all? (its own, a linked one, or operator)
    pub fn sees_org(&self, inn: &str) -> Result<bool, ApiError> {
        if self.is_operator() {
            return Ok(true);
        }
        let Some(home) = self.home_org() else {
            return Ok(false);
        };
        if home == inn {
            return Ok(true);
        }
        Ok(self.app.store().partner_link(inn, home)?.is_some()
            || self.app.store().partner_link(home, inn)?.is_some())
    }

    /// Managing organisation `inn`'s accounts (users, keys, partners, audit): its own admin,
    /// or the operator's staff (support reads). 404 for an organisation out of sight, 403 for
    /// one in sight whose accounts this principal may not manage.
    pub fn require_org_admin(&self, inn: &str, change: bool) -> Result<(), ApiError> {
        let allowed = match &self.principal {
            Principal::Root => true,
            Principal::User(u) if u.role == Role::Staff => true,
            Principal::User(u) if u.role == Role::Support => !change,
            Principal::User(u) => u.role == Role::Admin && u.org == inn,
            Principal::Key(_) => false,
        };
        if allowed {
            return Ok(());
        }
        if !self.sees_org(inn)? {
            return Err(org_not_found(inn));
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} may not {} the accounts of organisation {inn}",
                self.role_name(),
                if change { "manage" } else { "read" }
            ),
        ))
    }

    pub fn org_kind(&self) -> Option<OrgKind> {
        self.org_kind
    }

    /// The actor's name in the audit log.
    pub fn actor(&self) -> Actor {
        let (name, org) = match &self.principal {
            Principal::Root => ("root".to_string(), None),
            Principal::User(u) => (u.login.clone(), Some(u.org.clone())),
            Principal::Key(k) => (format!("key:{}", k.id), Some(k.org.clone())),
        };
        Actor {
            name,
            org,
            addr: self.addr.to_string(),
        }
    }

    /// Appends an audit entry for a change this principal made, listed for `orgs` (and for
    /// the actor's own organisation). Durable before it returns.
    pub async fn audit(
        &self,
        action: &str,
        target: &str,
        orgs: &[&str],
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let entry = self
            .actor()
            .entry(u64::from(unix_now()), action, target, orgs, detail);
        self.app.store().audit(entry).await?;
        Ok(())
    }
}

pub fn org_not_found(inn: &str) -> ApiError {
    ApiError::not_found(format!("organisation {inn} not found"))
}
