//! `ofdd kkt …`: registry commands for operators, spoken to a running daemon's admin API over HTTP.
//! Prints the API's JSON answer; a non-2xx answer becomes a non-zero exit with the API's reason.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::{KktArgs, KktCommand};

pub fn run(args: KktArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.api, &args.token);
    let answer = match args.command {
        KktCommand::Register { rn, serial, fn_number, inn, name, address, place, connection, tariff } => client.send(
            "POST",
            "/api/v1/kkt",
            Some(json!({
                "rn": rn, "serial": serial, "fn": fn_number, "inn": inn, "name": name,
                "address": address, "place": place, "connection": connection.as_str(), "tariff": tariff,
            })),
        )?,
        KktCommand::List { status, name, rn, connection, limit, after } => {
            let mut query = vec![format!("limit={limit}")];
            for (key, value) in [("status", status), ("name", name), ("rn", rn), ("after", after)] {
                if let Some(v) = value {
                    query.push(format!("{key}={}", encode(&v)));
                }
            }
            if let Some(c) = connection {
                query.push(format!("connection={}", c.as_str()));
            }
            client.send("GET", &format!("/api/v1/kkt?{}", query.join("&")), None)?
        }
        KktCommand::Show { rn } => client.send("GET", &format!("/api/v1/kkt/{}", encode(&rn)), None)?,
        KktCommand::Status { rn } => client.send("GET", &format!("/api/v1/kkt/{}/status", encode(&rn)), None)?,
        KktCommand::Deregister { rn } => {
            client.send("POST", &format!("/api/v1/kkt/{}/deregister", encode(&rn)), None)?
        }
        KktCommand::Token { rn } => client.send("POST", &format!("/api/v1/kkt/{}/token", encode(&rn)), None)?,
        KktCommand::Liveness => client.send("GET", "/api/v1/liveness", None)?,
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// Percent-encode a query or path component (RFC 3986 unreserved characters pass through).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Client {
    fn new(base: &str, token: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            auth: format!("Bearer {token}"),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.base, path);
        let result = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("Authorization", &self.auth)
                .call(),
            (_, Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &self.auth)
                .send_json(body),
            (_, None) => self
                .agent
                .post(&url)
                .header("Authorization", &self.auth)
                .send_empty(),
        };
        let mut response =
            result.with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .context("reading the admin API's answer")?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let reason = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            bail!("{method} {path}: {status}: {reason}");
        }
        Ok(value)
    }
}
