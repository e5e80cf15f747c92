//! The notifier: every `[notifications] interval_secs` it looks at the registers of each
//! organisation that set up notifications (through the owner index, never the whole registry),
//! finds what its people must hear about, records each event durably **before** sending it (so
//! an event is sent once, whatever restarts happen), then delivers what is owed: mail through
//! `[accounts.smtp]` and a JSON POST signed with HMAC-SHA256 to the organisation's webhook,
//! retried with back-off (`retry_base_secs`, 30 s by default, doubling up to an hour) until each
//! channel has taken it.
//!
//! In replicated cluster mode the nodes hold one lease (`cluster::lease`): only its holder makes
//! passes; the others count `ofd_notifier_runs_total{kind="standby"}`. Each node's records are
//! its own until the accounts are replicated, so after a failover the new holder may repeat an
//! event the old one had sent.
//!
//! Events: a register silent `silent_days` (default 3; its circle is red by then, long before
//! its fiscal drive blocks it after 30 days without an acknowledgement); a fiscal drive's key
//! expiring within 30 and within 3 days; a Kazakh shift open past `kz_shift_limit_secs`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use ofd_store::accounts::{Notification, NotifySettings};
use ofd_store::{RegisterRef, Scope, StoreError};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tracing::{error, warn};

use crate::app::App;
use crate::clock::unix_now;
use crate::cluster::lease::Lease;
use crate::shutdown::Shutdown;

pub fn spawn(app: Arc<App>, mut shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        let cfg = &app.config().notifications;
        let every = Duration::from_secs(cfg.interval_secs.max(1));
        // In replicated cluster mode the nodes share one lease, so one of them notifies.
        let mut lease = None;
        if let Some(r) = app.replicator() {
            let ttl = Duration::from_secs(cfg.lease_secs);
            let replicas = app.config().cluster.stream_replicas;
            match Lease::open(r.jetstream(), "notifier", r.node(), ttl, replicas).await {
                Ok(l) => lease = Some(l),
                Err(e) => {
                    // Without the lease every node would notify: better none until restart,
                    // loudly, than duplicates to every customer.
                    error!(error = %e, "notifier: cannot open its cluster lease; not notifying");
                    return;
                }
            }
        }
        loop {
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = tokio::time::sleep(every) => {}
            }
            if let Some(l) = lease.as_mut()
                && !l.hold().await
            {
                app.metrics()
                    .notifier_runs
                    .with_label_values(&["standby"])
                    .inc();
                continue;
            }
            if let Err(e) = pass(&app).await {
                warn!(error = %e, "notifier pass failed; retrying at the next one");
            }
            app.metrics()
                .notifier_runs
                .with_label_values(&["pass"])
                .inc();
        }
    })
}

fn event(
    org: &str,
    kind: &str,
    register: &str,
    key: String,
    text: String,
    s: &NotifySettings,
    smtp: bool,
) -> Notification {
    Notification {
        org: org.to_string(),
        event: key,
        kind: kind.to_string(),
        register: register.to_string(),
        text,
        created_at: u64::from(unix_now()),
        email_sent_at: None,
        webhook_sent_at: None,
        wants_email: smtp && !s.emails.is_empty(),
        wants_webhook: !s.webhook_url.is_empty(),
        attempts: 0,
        next_attempt_at: 0,
        last_error: String::new(),
    }
}

/// What one register owes its organisation now.
fn events_of(
    app: &App,
    org: &str,
    s: &NotifySettings,
    r: RegisterRef,
    now: u64,
) -> Result<Vec<Notification>, StoreError> {
    let store = app.store();
    let smtp = app.config().accounts.smtp.is_some();
    let (live, fn_number, name) = match r {
        RegisterRef::Kkt(rn) => (
            store.liveness_of(&rn),
            store
                .get_register(&rn)?
                .and_then(|k| k.fn_number)
                .map(|f| f.as_str().to_string()),
            rn.as_str().to_string(),
        ),
        RegisterRef::Kkm(id) => (store.liveness_of_kz(id), None, id.to_string()),
    };
    let mut out = Vec::new();
    let Some(l) = live.filter(|l| !l.deregistered()) else {
        return Ok(out);
    };
    let last = u64::from(l.last_doc_time);
    let silent_for = now.saturating_sub(last);
    if silent_for > u64::from(s.silent_days) * 86_400 {
        out.push(event(org, "silent", &name, format!("silent:{name}:{last}"),
            format!("Касса {name} не передаёт документы {} дн. / Register {name} has sent no document for {} days", silent_for / 86_400, silent_for / 86_400), s, smtp));
    }
    let drive = fn_number.unwrap_or_else(|| "-".into());
    if l.key_expiry_urgent() {
        out.push(event(org, "key_expiry_3", &name, format!("key_expiry_3:{name}:{drive}"),
            format!("Ключ ФН {drive} кассы {name} истекает в течение 3 дней / The key of FN {drive} of register {name} expires within 3 days"), s, smtp));
    } else if l.key_expiry_soon() {
        out.push(event(org, "key_expiry_30", &name, format!("key_expiry_30:{name}:{drive}"),
            format!("Ключ ФН {drive} кассы {name} истекает в течение 30 дней / The key of FN {drive} of register {name} expires within 30 days"), s, smtp));
    }
    if let RegisterRef::Kkm(id) = r {
        let all = Scope::all();
        if let Ok(f) = app.kz().facts(&store.scoped(&all), id)
            && let Some(shift) = &f.shift
            && now.saturating_sub(shift.opened_at) > app.config().notifications.kz_shift_limit_secs
        {
            out.push(event(org, "kz_shift_open", &name, format!("kz_shift_open:{id}:{}", shift.number),
                format!("Смена {} кассы {id} открыта дольше допустимого / Shift {} of register {id} is open past its limit", shift.number, shift.number), s, smtp));
        }
    }
    Ok(out)
}

async fn pass(app: &Arc<App>) -> anyhow::Result<()> {
    let now = u64::from(unix_now());
    let store = app.store();
    for (org, s) in store.notify_orgs()? {
        if s.emails.is_empty() && s.webhook_url.is_empty() {
            continue;
        }
        let mut after = None;
        loop {
            let page = store.registers_of(&org, after.as_ref(), 1000)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (r, _) in page {
                for n in events_of(app, &org, &s, r, now)? {
                    if store.record_notification(n).await? {
                        app.metrics()
                            .notifications
                            .with_label_values(&["event", "found"])
                            .inc();
                    }
                }
            }
        }
    }
    for n in store.pending_notifications()? {
        if n.next_attempt_at <= now {
            deliver(app, n, now).await?;
        }
    }
    Ok(())
}

/// The webhook's signature header value: `sha256=` and the hex HMAC-SHA256 of the body.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn deliver(app: &Arc<App>, mut n: Notification, now: u64) -> anyhow::Result<()> {
    let s = app.store().notify_settings(&n.org)?.unwrap_or_default();
    // A channel the organisation has since switched off is no longer owed.
    if s.emails.is_empty() || app.config().accounts.smtp.is_none() {
        n.wants_email = n.wants_email && n.email_sent_at.is_some();
    }
    if s.webhook_url.is_empty() {
        n.wants_webhook = n.wants_webhook && n.webhook_sent_at.is_some();
    }
    let mut errors = Vec::new();
    if n.wants_email && n.email_sent_at.is_none() {
        let subject = "Уведомление ОФД / OFD notification";
        let mut ok = true;
        for to in &s.emails {
            if let Err(e) = crate::mail::send(app.config(), to, subject, n.text.clone()).await {
                ok = false;
                errors.push(format!("mail to {to}: {e}"));
            }
        }
        let result = if ok { "sent" } else { "failed" };
        app.metrics()
            .notifications
            .with_label_values(&["email", result])
            .inc();
        if ok {
            n.email_sent_at = Some(now);
        }
    }
    if n.wants_webhook && n.webhook_sent_at.is_none() {
        let body = serde_json::to_vec(&serde_json::json!({
            "org": n.org, "event": n.event, "kind": n.kind, "register": n.register,
            "text": n.text, "created_at": n.created_at,
        }))?;
        let sig = signature(&s.webhook_secret, &body);
        let url = s.webhook_url.clone();
        let status = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-Ofdd-Signature", &sig)
                .send(&body[..])
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        })
        .await?;
        match status {
            Ok(code) if (200..300).contains(&code) => {
                n.webhook_sent_at = Some(now);
                app.metrics()
                    .notifications
                    .with_label_values(&["webhook", "sent"])
                    .inc();
            }
            other => {
                errors.push(format!(
                    "webhook: {}",
                    match other {
                        Ok(c) => format!("HTTP {c}"),
                        Err(e) => e,
                    }
                ));
                app.metrics()
                    .notifications
                    .with_label_values(&["webhook", "failed"])
                    .inc();
            }
        }
    }
    if !n.delivered() {
        n.attempts = n.attempts.saturating_add(1);
        let base = app.config().notifications.retry_base_secs.max(1);
        n.next_attempt_at = now + (base << (n.attempts - 1).min(7)).min(3600);
        n.last_error = errors.join("; ");
    } else {
        n.last_error.clear();
    }
    app.store().update_notification(n).await?;
    Ok(())
}
