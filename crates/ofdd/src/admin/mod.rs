//! The admin HTTP surface, on its own listener (loopback by default): `/metrics` for Prometheus,
//! `/healthz` and `/readyz` for orchestrators, and the bearer-protected JSON API under `/api/v1`
//! for operators. Nothing here is reachable from the ingest port.

mod accounts;
mod audit;
mod documents;
mod error;
mod kkt;
mod kz;
mod limits;
pub mod openapi;
pub mod principal;
pub mod routes;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::app::App;
use crate::clock::unix_now;

pub use error::ApiError;
pub use principal::{Auth, Need, Principal};

/// Request bodies are small JSON objects; anything bigger is refused with 413.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
}

pub fn router(app: Arc<App>) -> Router {
    let state = AppState { app };
    let mut api = Router::new();
    for r in routes::api_routes() {
        api = api.route(r.path, r.handler);
    }
    let api = api.fallback(|| async { ApiError::not_found("no such API endpoint") });
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .nest("/api/v1", api)
        .layer(axum::middleware::from_fn(limits::limit_uri))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Refresh the gauges that are computed from the store (liveness, FN trouble), then render.
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    refresh_gauges(&s.app);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.app.metrics().render(),
    )
}

/// Liveness and health counts are a memory scan of the store's index (milliseconds for a
/// million registers), so computing them at scrape time is exact and needs no background task.
pub fn refresh_gauges(app: &App) {
    let cfg = &app.config().liveness;
    let store = app.store();
    let m = app.metrics();
    let counts = store.liveness_counts(
        u64::from(unix_now()),
        u64::from(cfg.yellow_after_secs),
        u64::from(cfg.red_after_secs),
    );
    m.liveness
        .with_label_values(&["green"])
        .set(counts.green as i64);
    m.liveness
        .with_label_values(&["yellow"])
        .set(counts.yellow as i64);
    m.liveness
        .with_label_values(&["red"])
        .set(counts.red as i64);
    let h = store.health_counts();
    for (kind, n) in [
        ("untransmitted", h.untransmitted),
        ("key_expiry_soon", h.key_expiry_soon),
        ("key_expiry_urgent", h.key_expiry_urgent),
        ("memory_nearly_full", h.memory_nearly_full),
        ("ack_overdue", h.ack_overdue),
    ] {
        m.fn_trouble.with_label_values(&[kind]).set(n as i64);
    }
    crate::export::refresh_lag(app);
    m.store_healthy.set(i64::from(store.is_healthy()));
    let needed = match store.health() {
        ofd_store::HealthState::Degraded {
            waiting: Some(w), ..
        } => w.needed_free_bytes(),
        _ => 0,
    };
    m.store_free_needed
        .set(i64::try_from(needed).unwrap_or(i64::MAX));
    if let Ok((free, size)) = store.disk_space() {
        m.store_disk_free
            .set(i64::try_from(free).unwrap_or(i64::MAX));
        m.store_disk_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }
}

/// Ready when the store is healthy (one atomic load) and answers a read. While it is degraded
/// — disk full, I/O errors, damage — 503 with the reason, what it waits for now (`waiting for
/// 32 MiB free, 20 MiB now`) and the first error, so a load balancer sends registers to a node
/// that can store their documents and an operator sees what would end it. In replicated mode
/// also 503 while JetStream cannot take the node's writes (`replication unavailable for …`).
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    // Replicated mode: nothing is acknowledged while JetStream cannot take writes.
    if let Some(why) = s
        .app
        .replicator()
        .and_then(|r| r.health().unavailable_reason())
    {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response();
    }
    // Replicated mode: a node serves once it has the cluster's documents and KKMs.
    if let Some(why) = s.app.copies_not_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response();
    }
    let store = s.app.store();
    if let ofd_store::HealthState::Degraded {
        reason,
        since,
        detail,
        waiting,
    } = store.health()
    {
        let secs = since.elapsed().map_or(0, |d| d.as_secs());
        let waiting = waiting.map_or_else(
            || "the healer has not looked yet".to_owned(),
            |w| w.to_string(),
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store degraded ({reason}) for {secs} s, {waiting}; first error: {detail}\n"),
        )
            .into_response();
    }
    match store.outbox_cursor("readyz-probe") {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}\n"),
        )
            .into_response(),
    }
}

/// `GET /api/v1/liveness`: registers per colour and FN trouble counts, of the caller's scope
/// (a taxpayer's circles count only its registers).
async fn liveness(auth: Auth) -> Result<impl IntoResponse, ApiError> {
    auth.require(Need::Read)?;
    let cfg = &auth.config().liveness;
    let (c, h) = auth.store().liveness_counts(
        u64::from(unix_now()),
        u64::from(cfg.yellow_after_secs),
        u64::from(cfg.red_after_secs),
    )?;
    Ok(axum::Json(json!({
        "green": c.green, "yellow": c.yellow, "red": c.red, "deregistered": c.deregistered,
        "fn_trouble": {
            "untransmitted": h.untransmitted, "key_expiry_soon": h.key_expiry_soon,
            "key_expiry_urgent": h.key_expiry_urgent, "memory_nearly_full": h.memory_nearly_full,
            "ack_overdue": h.ack_overdue,
        },
    })))
}
