//! Request-size limits for everything on the admin listener (who may call what is
//! `principal.rs`).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Longest accepted request target (path + query).
const MAX_URI_BYTES: usize = 4096;

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
