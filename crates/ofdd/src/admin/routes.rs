//! The `/api/v1` route table: each route's method, path, handler and description in one row.
//! The router is built from it, the OpenAPI document is generated from it (`openapi.rs`), and
//! the tests walk it (every route × every kind of principal), so a route cannot be added
//! without being documented and tested.

use axum::routing::{MethodRouter, delete, get, patch, post};
use serde_json::{Value, json};

use super::{AppState, accounts, audit, documents, kkt, kz, session};

/// What a successful answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// A JSON object.
    Json,
    /// JSON, or CSV with `format=csv`.
    JsonOrCsv,
    /// The exact bytes received.
    Bytes,
    /// Nothing (204).
    Empty,
}

/// One documented route.
pub struct ApiRoute {
    pub method: &'static str,
    /// Below `/api/v1`, with `{param}` segments.
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// Query parameters: (name, JSON type, description).
    pub query: &'static [(&'static str, &'static str, &'static str)],
    /// The JSON schema of the request body, if it takes one.
    pub body: Option<fn() -> Value>,
    /// The success status.
    pub ok: u16,
    pub returns: Body,
    /// Answered without credentials (sign-in, set-password, forgot-password).
    pub public: bool,
    pub handler: MethodRouter<AppState>,
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": props })
}

fn s() -> Value {
    json!({ "type": "string" })
}

fn list_of_strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

const PAGE: &[(&str, &str, &str)] = &[
    ("after", "string", "cursor: the `next` of the previous page"),
    ("limit", "integer", "page size"),
];

fn kkt_body() -> Value {
    obj(
        &["rn", "serial", "inn", "name", "connection"],
        json!({
            "rn": s(), "serial": s(), "fn": s(), "inn": s(), "name": s(), "address": s(),
            "place": s(), "connection": { "type": "string", "enum": ["sim", "wired"] },
            "tariff": s(), "status": { "type": "string", "enum": ["registered", "saved", "deregistered"] },
        }),
    )
}

fn kkt_patch() -> Value {
    obj(
        &[],
        json!({
            "serial": s(), "inn": s(), "name": s(), "address": s(), "place": s(),
            "connection": { "type": "string", "enum": ["sim", "wired"] }, "tariff": s(),
            "status": { "type": "string", "enum": ["registered", "saved", "deregistered"] },
        }),
    )
}

fn kkm_body() -> Value {
    obj(
        &[
            "registration_number",
            "serial",
            "iin_bin",
            "name",
            "pos_address",
        ],
        json!({
            "registration_number": s(), "serial": s(), "iin_bin": s(), "name": s(),
            "pos_address": s(), "pos_title": s(), "org_address": s(), "okved": s(), "model": s(),
            "year": { "type": "integer", "minimum": 0, "maximum": 65535 }, "connection": s(),
        }),
    )
}

fn kkm_status() -> Value {
    obj(&["status"], json!({ "status": s() }))
}

fn org_body() -> Value {
    obj(
        &["inn", "name", "kind"],
        json!({ "inn": s(), "name": s(), "kind": { "type": "string", "enum": ["taxpayer", "partner", "operator"] } }),
    )
}

fn role() -> Value {
    json!({ "type": "string", "enum": ["admin", "manager", "viewer", "staff", "support"] })
}

fn user_body() -> Value {
    obj(
        &["login", "name", "role"],
        json!({ "login": s(), "name": s(), "role": role(), "places": list_of_strings(), "registers": list_of_strings() }),
    )
}

fn user_patch() -> Value {
    obj(
        &[],
        json!({ "name": s(), "role": role(), "disabled": { "type": "boolean" }, "places": list_of_strings(), "registers": list_of_strings() }),
    )
}

fn key_body() -> Value {
    obj(
        &["scope"],
        json!({ "scope": { "type": "string", "enum": ["read", "write"] }, "registers": list_of_strings(), "name": s() }),
    )
}

fn partner_body() -> Value {
    obj(&["partner_inn"], json!({ "partner_inn": s(), "note": s() }))
}

fn login_body() -> Value {
    obj(
        &["login", "password"],
        json!({ "login": s(), "password": s(), "totp": s() }),
    )
}

fn set_password_body() -> Value {
    obj(
        &["token", "password"],
        json!({ "token": s(), "password": s() }),
    )
}

fn forgot_body() -> Value {
    obj(&["login"], json!({ "login": s() }))
}

fn totp_body() -> Value {
    obj(&["secret", "code"], json!({ "secret": s(), "code": s() }))
}

/// A route with the defaults: no query, no body, 200 with JSON, credentials needed.
fn r(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    handler: MethodRouter<AppState>,
) -> ApiRoute {
    ApiRoute {
        method,
        path,
        summary,
        tag,
        query: &[],
        body: None,
        ok: 200,
        returns: Body::Json,
        public: false,
        handler,
    }
}

impl ApiRoute {
    fn query(mut self, q: &'static [(&'static str, &'static str, &'static str)]) -> Self {
        self.query = q;
        self
    }
    fn body(mut self, b: fn() -> Value) -> Self {
        self.body = Some(b);
        self
    }
    fn ok(mut self, status: u16) -> Self {
        self.ok = status;
        self
    }
    fn returns(mut self, b: Body) -> Self {
        self.returns = b;
        self
    }
    fn public(mut self) -> Self {
        self.public = true;
        self
    }
}

/// Every `/api/v1` route.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        r(
            "POST",
            "/kkt",
            "registers",
            "Register a Russian cash register (KKT)",
            post(kkt::register),
        )
        .body(kkt_body)
        .ok(201),
        r(
            "GET",
            "/kkt",
            "registers",
            "List registers in scope, with filters and cursor paging",
            get(kkt::list),
        )
        .query(&[
            ("status", "string", "registered | saved | deregistered"),
            ("name", "string", "part of the user name"),
            ("rn", "string", "RN prefix"),
            ("connection", "string", "sim | wired"),
            ("registered_from", "integer", "unix seconds"),
            ("registered_to", "integer", "unix seconds"),
            ("after", "string", "cursor: the `next` RN"),
            ("limit", "integer", "1..=1000"),
        ]),
        r(
            "GET",
            "/kkt/{rn}",
            "registers",
            "One register",
            get(kkt::show),
        ),
        r(
            "PATCH",
            "/kkt/{rn}",
            "registers",
            "Edit a register (INN and serial must still match the RN)",
            patch(kkt::update),
        )
        .body(kkt_patch),
        r(
            "POST",
            "/kkt/{rn}/deregister",
            "registers",
            "Take a register off service",
            post(kkt::deregister),
        ),
        r(
            "POST",
            "/kkt/{rn}/token",
            "registers",
            "Issue or rotate its admission credential (shown once)",
            post(kkt::token),
        )
        .ok(201),
        r(
            "GET",
            "/kkt/{rn}/status",
            "registers",
            "Liveness, shift and FN health of a register",
            get(kkt::status),
        ),
        r(
            "GET",
            "/kkt/{rn}/documents",
            "documents",
            "A register's documents",
            get(documents::of_register),
        )
        .query(&[
            ("from", "integer", "document time from, unix seconds"),
            ("to", "integer", "document time to"),
            ("shift", "integer", "shift number"),
            ("fn", "string", "one FN"),
            ("fd_from", "integer", "FD from (needs fn)"),
            ("fd_to", "integer", "FD to (needs fn)"),
            ("format", "string", "json | csv"),
            ("limit", "integer", "1..=10000"),
        ])
        .returns(Body::JsonOrCsv),
        r(
            "GET",
            "/documents/{fn}/{fd}",
            "documents",
            "One document: header, FNS JSON, acknowledgement",
            get(documents::one),
        ),
        r(
            "GET",
            "/documents/{fn}/{fd}/raw",
            "documents",
            "The exact bytes received",
            get(documents::raw),
        )
        .returns(Body::Bytes),
        r(
            "GET",
            "/liveness",
            "registers",
            "Registers per colour and FN trouble, in scope",
            get(super::liveness),
        ),
        r(
            "POST",
            "/kz/kkm",
            "kz",
            "Register a Kazakh KKM: system ID and token to type into it",
            post(kz::register),
        )
        .body(kkm_body)
        .ok(201),
        r(
            "GET",
            "/kz/kkm",
            "kz",
            "List Kazakh KKMs in scope",
            get(kz::list),
        )
        .query(&[
            ("after", "integer", "system ID cursor"),
            ("limit", "integer", "page size"),
        ]),
        r("GET", "/kz/kkm/{id}", "kz", "One KKM", get(kz::show)),
        r(
            "POST",
            "/kz/kkm/{id}/token",
            "kz",
            "A new token (the old one stops working)",
            post(kz::token),
        ),
        r(
            "POST",
            "/kz/kkm/{id}/status",
            "kz",
            "Registered, blocked or deregistered",
            post(kz::set_status),
        )
        .body(kkm_status),
        r(
            "GET",
            "/kz/kkm/{id}/exchanges",
            "kz",
            "Every request with its answer",
            get(kz::exchanges),
        )
        .query(&[
            ("after", "integer", "log sequence cursor"),
            ("limit", "integer", "page size"),
        ]),
        r(
            "GET",
            "/kz/kkm/{id}/tickets",
            "kz",
            "Accepted tickets",
            get(kz::tickets),
        )
        .query(&[
            ("shift", "integer", "shift number"),
            ("from", "string", "YYYY-MM-DD"),
            ("to", "string", "YYYY-MM-DD"),
            ("format", "string", "json | csv"),
        ])
        .returns(Body::JsonOrCsv),
        r(
            "GET",
            "/kz/kkm/{id}/reports",
            "kz",
            "X and Z report history",
            get(kz::reports),
        ),
        r(
            "POST",
            "/organisations",
            "accounts",
            "Create an organisation (operator staff)",
            post(accounts::create_org),
        )
        .body(org_body)
        .ok(201),
        r(
            "GET",
            "/organisations",
            "accounts",
            "Organisations in sight",
            get(accounts::list_orgs),
        )
        .query(PAGE),
        r(
            "GET",
            "/organisations/{inn}",
            "accounts",
            "One organisation",
            get(accounts::show_org),
        ),
        r(
            "POST",
            "/organisations/{inn}/users",
            "accounts",
            "Invite a user: a one-time set-password link",
            post(accounts::create_user),
        )
        .body(user_body)
        .ok(201),
        r(
            "GET",
            "/organisations/{inn}/users",
            "accounts",
            "An organisation's users",
            get(accounts::list_users),
        ),
        r(
            "GET",
            "/organisations/{inn}/users/{login}",
            "accounts",
            "One user",
            get(accounts::show_user),
        ),
        r(
            "PATCH",
            "/organisations/{inn}/users/{login}",
            "accounts",
            "Role, limits, disabled",
            patch(accounts::update_user),
        )
        .body(user_patch),
        r(
            "POST",
            "/organisations/{inn}/users/{login}/unlock",
            "accounts",
            "Lift a lockout",
            post(accounts::unlock_user),
        ),
        r(
            "POST",
            "/organisations/{inn}/users/{login}/reset",
            "accounts",
            "A new set-password link",
            post(accounts::reset_user),
        ),
        r(
            "POST",
            "/organisations/{inn}/api-keys",
            "accounts",
            "Create an API key (shown once)",
            post(accounts::create_key),
        )
        .body(key_body)
        .ok(201),
        r(
            "GET",
            "/organisations/{inn}/api-keys",
            "accounts",
            "An organisation's API keys, without secrets",
            get(accounts::list_keys),
        ),
        r(
            "DELETE",
            "/organisations/{inn}/api-keys/{id}",
            "accounts",
            "Revoke an API key",
            delete(accounts::revoke_key),
        ),
        r(
            "POST",
            "/organisations/{inn}/partners",
            "accounts",
            "Ask for (or, as staff, make) a partner link",
            post(accounts::request_partner),
        )
        .body(partner_body)
        .ok(201),
        r(
            "GET",
            "/organisations/{inn}/partners",
            "accounts",
            "Partner links with their statuses",
            get(accounts::list_partners),
        ),
        r(
            "POST",
            "/organisations/{inn}/partners/{partner_inn}/accept",
            "accounts",
            "Accept a partner request",
            post(accounts::accept_partner),
        ),
        r(
            "POST",
            "/organisations/{inn}/partners/{partner_inn}/decline",
            "accounts",
            "Decline a partner request",
            post(accounts::decline_partner),
        ),
        r(
            "DELETE",
            "/organisations/{inn}/partners/{partner_inn}",
            "accounts",
            "End a partner link",
            delete(accounts::end_partner),
        ),
        r(
            "GET",
            "/audit",
            "accounts",
            "The audit log",
            get(audit::list),
        )
        .query(&[
            ("org", "string", "one organisation"),
            ("actor", "string", "login, root or key:<id>"),
            ("action", "string", "action prefix"),
            ("from", "integer", "unix seconds"),
            ("to", "integer", "unix seconds"),
            ("after", "integer", "sequence cursor"),
            ("limit", "integer", "1..=10000"),
            ("format", "string", "json | csv"),
        ])
        .returns(Body::JsonOrCsv),
        r(
            "POST",
            "/session",
            "session",
            "Sign in: sets the session cookie",
            post(session::login),
        )
        .body(login_body)
        .public(),
        r(
            "GET",
            "/session",
            "session",
            "Who is calling",
            get(session::whoami),
        ),
        r(
            "DELETE",
            "/session",
            "session",
            "Sign out",
            delete(session::logout),
        )
        .ok(204)
        .returns(Body::Empty),
        r(
            "POST",
            "/session/totp/new",
            "session",
            "A new TOTP secret to enrol",
            post(session::totp_new),
        ),
        r(
            "POST",
            "/session/totp",
            "session",
            "Turn TOTP on with a code that proves the secret",
            post(session::totp_on),
        )
        .body(totp_body),
        r(
            "DELETE",
            "/session/totp",
            "session",
            "Turn TOTP off",
            delete(session::totp_off),
        ),
        r(
            "POST",
            "/password/set",
            "session",
            "Set a password from a one-time link",
            post(session::set_password),
        )
        .body(set_password_body)
        .public(),
        r(
            "POST",
            "/password/forgot",
            "session",
            "Ask for a reset link (always 202)",
            post(session::forgot),
        )
        .body(forgot_body)
        .ok(202)
        .public(),
        r(
            "GET",
            "/openapi.json",
            "meta",
            "This document",
            get(super::openapi::document),
        )
        .public(),
    ]
}
