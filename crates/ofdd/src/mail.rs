//! Mail to people: one-time set-password links, and (from the notifier) alerts. SMTP through
//! `lettre`; where no `[accounts.smtp]` is configured nothing is sent and callers show the link
//! to the admin who asked for it instead.
//!
//! The connection is plain SMTP to the configured relay (usually the machine's own MTA, which
//! does TLS and authentication to the world); the relay's address is the operator's choice.

use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ofd_store::accounts::LinkPurpose;

use crate::config::{Config, SmtpConfig};

/// Sends one plain-text mail. `Ok(false)` when no SMTP is configured.
pub async fn send(cfg: &Config, to: &str, subject: &str, body: String) -> anyhow::Result<bool> {
    let Some(smtp) = &cfg.accounts.smtp else {
        return Ok(false);
    };
    send_via(smtp, to, subject, body).await?;
    Ok(true)
}

pub async fn send_via(
    smtp: &SmtpConfig,
    to: &str,
    subject: &str,
    body: String,
) -> anyhow::Result<()> {
    // Quoted-printable, not base64 (which lettre picks for mostly-Cyrillic text): the link stays
    // readable in the raw mail, for people and for mail filters alike.
    let body = Body::new_with_encoding(body, ContentTransferEncoding::QuotedPrintable)
        .map_err(|_| anyhow::anyhow!("the mail body cannot be quoted-printable"))?;
    let msg = Message::builder()
        .from(smtp.from.parse()?)
        .to(to.parse()?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(smtp.timeout_secs)))
        .build();
    transport.send(msg).await?;
    Ok(())
}

/// Mails a set-password link. `Ok(false)` when no SMTP is configured.
pub async fn send_link(
    cfg: &Config,
    to: &str,
    url: &str,
    purpose: LinkPurpose,
) -> anyhow::Result<bool> {
    let hours = cfg.accounts.link_ttl_secs / 3600;
    let (subject, intro) = match purpose {
        LinkPurpose::Invite => (
            "Доступ к личному кабинету ОФД / Your OFD account",
            "Для вас создана учётная запись в личном кабинете оператора фискальных данных.\nAn account was created for you at the fiscal data operator's portal.",
        ),
        LinkPurpose::Reset => (
            "Новый пароль / Set a new password",
            "Вы запросили смену пароля.\nYou asked to set a new password.",
        ),
    };
    let body = format!(
        "{intro}\n\nЗадайте пароль по ссылке (действует {hours} ч, один раз):\nSet your password here (valid {hours} h, once):\n\n{url}\n\nЕсли это были не вы, ничего не делайте. / If this was not you, ignore this mail.\n"
    );
    send(cfg, to, subject, body).await
}
