//! One error type for every page, turned into one kind of response: a short page that says
//! what happened in both languages (an error can happen before the language is known), with
//! the right status. Another tenant's object is [`PageError::NotFound`], exactly like a missing
//! one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ofd_store::StoreError;

use crate::layout;

#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    /// Signed in, but the role does not allow it.
    Forbidden(String),
    /// Missing, or not in the user's scope.
    NotFound,
    /// Over a rate limit.
    TooMany {
        retry_after: u64,
    },
    /// A malformed request that no form produces (a hand-edited URL).
    BadRequest(String),
    /// The object is in a state that refuses the change (already exists, already done).
    Conflict(String),
    /// The store cannot serve now (degraded, closing).
    Unavailable(String),
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        match e {
            StoreError::RegisterNotFound { .. } | StoreError::NotFound(_) => PageError::NotFound,
            StoreError::InvalidKey(_) | StoreError::InvalidInput(_) => {
                PageError::BadRequest(e.to_string())
            }
            StoreError::OutOfScope { reason, .. } => PageError::Forbidden(reason),
            StoreError::Exists(_) | StoreError::RegisterExists { .. } => {
                PageError::Conflict(e.to_string())
            }
            StoreError::Closed | StoreError::Unavailable { .. } | StoreError::Replication(_) => {
                PageError::Unavailable(e.to_string())
            }
            e => PageError::Internal(e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for PageError {
    fn from(e: tokio::task::JoinError) -> PageError {
        PageError::Internal(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self {
            PageError::SignIn { next } => {
                let to = format!("/login?next={}", crate::pages::url_encode(&next));
                return Redirect::to(&to).into_response();
            }
            PageError::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                "Недостаточно прав · Not allowed",
                why,
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Не найдено · Not found",
                String::new(),
            ),
            PageError::TooMany { retry_after } => {
                let mut r = layout::bare(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Слишком много запросов · Too many requests",
                    &format!("Повторите через {retry_after} с · Try again in {retry_after} s"),
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return r;
            }
            PageError::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                "Неверный запрос · Bad request",
                why,
            ),
            PageError::Conflict(why) => (
                StatusCode::CONFLICT,
                "Уже сделано или невозможно · Conflict",
                why,
            ),
            PageError::Unavailable(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Временно недоступно · Temporarily unavailable",
                why,
            ),
            PageError::Internal(why) => {
                tracing::error!(error = %why, "portal page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Ошибка сервера · Server error",
                    String::new(),
                )
            }
        };
        layout::bare(status, title, &detail)
    }
}
