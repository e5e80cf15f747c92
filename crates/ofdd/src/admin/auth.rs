//! Bearer-token authentication for `/api/v1` and request-size limits for everything.
//!
//! The token is compared in constant time (`subtle`), so response timing does not leak how
//! many leading bytes of a guess were right. No token configured means the API is disabled
//! (503), never open.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// Longest accepted request target (path + query).
const MAX_URI_BYTES: usize = 4096;

pub async fn require_bearer(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = s.app.config().admin_token.as_deref() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin API disabled: set OFDD_ADMIN_TOKEN (or admin_token in the config)",
        )
        .into_response();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        None => {
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing bearer token (Authorization: Bearer <token>)",
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            resp
        }
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => {
            next.run(req).await
        }
        Some(_) => ApiError::new(StatusCode::FORBIDDEN, "invalid bearer token").into_response(),
    }
}

pub async fn limit_uri(req: Request, next: Next) -> Response {
    let len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    if len > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("request target over {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}
