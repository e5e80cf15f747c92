//! The organisation's notifications: where they go (e-mail addresses, a webhook and its
//! signing secret), after how many silent days a register is reported, and every event found
//! with how its delivery went. The daemon's notifier finds and sends them.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ofd_store::accounts::NotifySettings;
use serde::Deserialize;

use super::organisation::{OrgQuery, org_of};
use crate::error::PageError;
use crate::format;
use crate::i18n::M;
use crate::layout::{field, page};
use crate::session::SignedIn;

type Errors = BTreeMap<&'static str, String>;

fn body(s: &SignedIn, inn: &str, set: &NotifySettings, e: &Errors) -> Result<Markup, PageError> {
    let l = s.lang;
    let events = s.portal().store.notifications_of(inn, 200)?;
    let err = |k: &str| e.get(k).map(String::as_str);
    Ok(html! {
        form method="post" action={ "/organisation/notifications?inn=" (inn) } novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (field(l.t(M::NotifyEmails), "emails", &set.emails.join(", "), "text", err("emails"), false))
            (field(l.t(M::WebhookUrl), "webhook_url", &set.webhook_url, "url", err("webhook_url"), false))
            (field(l.t(M::WebhookSecret), "webhook_secret", &set.webhook_secret, "text", err("webhook_secret"), false))
            (field(l.t(M::SilentDays), "silent_days", &set.silent_days.to_string(), "number", err("silent_days"), true))
            button type="submit" { (l.t(M::Save)) }
        }
        h2 { (l.t(M::Events)) }
        table {
            thead { tr {
                th scope="col" { (l.t(M::Time)) } th scope="col" { (l.t(M::Register)) }
                th scope="col" { (l.t(M::Document)) } th scope="col" { (l.t(M::Delivery)) }
            } }
            tbody {
                @for n in &events {
                    tr {
                        td { (format::datetime(n.created_at)) " UTC" }
                        td { (n.register) }
                        td { (n.text) }
                        td {
                            @if n.wants_email { "e-mail: " (n.email_sent_at.map(format::datetime).unwrap_or_else(|| "…".into())) br; }
                            @if n.wants_webhook { "webhook: " (n.webhook_sent_at.map(format::datetime).unwrap_or_else(|| "…".into())) br; }
                            @if !n.last_error.is_empty() { span.error { (n.last_error) } }
                        }
                    }
                }
                @if events.is_empty() { tr { td colspan="4" { (l.t(M::NothingFound)) } } }
            }
        }
    })
}

/// `GET /organisation/notifications[?inn=]`.
pub async fn show(s: SignedIn, Query(q): Query<OrgQuery>) -> Result<Html<String>, PageError> {
    let inn = org_of(&s, &q.inn)?;
    let set = s.portal().store.notify_settings(&inn)?.unwrap_or_default();
    let b = body(&s, &inn, &set, &Errors::new())?;
    Ok(Html(page(&s, s.lang.t(M::Notifications), b).into_string()))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    emails: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    webhook_secret: String,
    #[serde(default)]
    silent_days: String,
}

/// `POST /organisation/notifications[?inn=]`.
pub async fn save(
    s: SignedIn,
    Query(q): Query<OrgQuery>,
    Form(f): Form<SettingsForm>,
) -> Result<Response, PageError> {
    s.check_csrf(&f.csrf)?;
    let inn = org_of(&s, &q.inn)?;
    let l = s.lang;
    let mut e = Errors::new();
    let emails: Vec<String> = f
        .emails
        .split([',', ';', ' '])
        .map(|m| m.trim().to_lowercase())
        .filter(|m| !m.is_empty())
        .collect();
    if emails.len() > 20
        || emails
            .iter()
            .any(|m| ofd_store::accounts::normalise_login(m).is_err())
    {
        e.insert("emails", l.t(M::BadEmail).into());
    }
    let url = f.webhook_url.trim();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if (!url.is_empty() && !scheme_ok) || url.len() > 512 {
        e.insert("webhook_url", l.t(M::BadUrl).into());
    }
    if !url.is_empty() && f.webhook_secret.trim().len() < 16 {
        e.insert("webhook_secret", l.t(M::SecretTooShort).into());
    }
    let days = f
        .silent_days
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=29).contains(d));
    if days.is_none() {
        e.insert("silent_days", l.t(M::BadSilentDays).into());
    }
    let set = NotifySettings {
        emails,
        webhook_url: url.to_string(),
        webhook_secret: f.webhook_secret.trim().to_string(),
        silent_days: days.unwrap_or(3),
    };
    if !e.is_empty() {
        let b = body(&s, &inn, &set, &e)?;
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page(&s, l.t(M::Notifications), b).into_string()),
        )
            .into_response());
    }
    s.portal()
        .store
        .set_notify_settings(inn.clone(), set)
        .await?;
    s.audit(
        "notifications.settings",
        &inn,
        &[&inn],
        serde_json::Value::Null,
    )
    .await?;
    Ok(Redirect::to(&format!("/organisation/notifications?inn={inn}")).into_response())
}
