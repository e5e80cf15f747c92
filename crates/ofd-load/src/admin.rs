//! `--register-via`: put the simulated fleet into the daemon's KKT registry before the load.
//!
//! A fleet of unknown FNs is accepted by ofdd by default, but a realistic run (and one with
//! `accept_unknown_fn = false`) needs every register known: `POST /api/v1/kkt` once per register,
//! with the bearer token. This is blocking HTTP (`ureq`) on purpose: it runs before the load
//! phase and before the tokio runtime exists, on one keep-alive connection, and its time is not
//! part of any measurement. A register that already exists (409, e.g. a rerun with the same seed)
//! is fine; any other refusal stops the run with the daemon's reason.
//!
//! Kazakh registers (`--protocol kz`) are registered with `POST /api/v1/kz/kkm`, which answers
//! each with its system ID and first token ([`register_kz_kkm`], the one place that knows that
//! contract).

use std::time::{Duration, Instant};

use ofd_proto::builder::KktIdentity;
use serde_json::json;

use crate::kz::{KzCredential, KzRegistration};

/// What pre-registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registered {
    pub created: usize,
    pub already_known: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("registering RN {rn} at {url}: HTTP {status}: {body}")]
    Refused {
        rn: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("registering RN {rn} at {url}: {reason}")]
    Transport {
        rn: String,
        url: String,
        reason: String,
    },
}

/// The JSON body of `POST /api/v1/kkt` for one simulated register.
pub fn register_body(id: &KktIdentity, connection: &str) -> serde_json::Value {
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    json!({
        "rn": text(&id.rn),
        "serial": text(&id.kkt_serial),
        "fn": text(&id.fn_number),
        "inn": text(&id.user_inn),
        "name": id.user_name,
        "address": id.address,
        "place": id.place,
        "connection": connection,
        "tariff": "ofd-load",
    })
}

/// Register every identity at `base` (e.g. `http://127.0.0.1:9100`), printing progress to stderr
/// when `progress` is set.
pub fn register_fleet(
    base: &str,
    token: &str,
    ids: &[KktIdentity],
    connection: &str,
    progress: bool,
) -> Result<Registered, AdminError> {
    let url = format!("{}/api/v1/kkt", base.trim_end_matches('/'));
    let agent = agent();
    let auth = format!("Bearer {token}");
    let mut done = Registered::default();
    let mut last_report = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let rn = String::from_utf8_lossy(&id.rn).into_owned();
        let mut resp = agent
            .post(&url)
            .header("Authorization", &auth)
            .send_json(register_body(id, connection))
            .map_err(|e| AdminError::Transport {
                rn: rn.clone(),
                url: url.clone(),
                reason: e.to_string(),
            })?;
        match resp.status().as_u16() {
            200 | 201 => done.created += 1,
            409 => done.already_known += 1,
            status => {
                let body = resp.body_mut().read_to_string().unwrap_or_default();
                return Err(AdminError::Refused {
                    rn,
                    url,
                    status,
                    body: body.chars().take(500).collect(),
                });
            }
        }
        if progress && last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!("ofd-load: registered {}/{} registers", i + 1, ids.len());
            last_report = Instant::now();
        }
    }
    Ok(done)
}

/// The blocking HTTP client both registrations use.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Register one Kazakh register: `POST {base}/api/v1/kz/kkm` with `reg` as JSON →
/// `201 {"system_id": u32, "token": u32}`. The whole contract with the daemon is here.
pub fn register_kz_kkm(
    agent: &ureq::Agent,
    base: &str,
    auth: &str,
    reg: &KzRegistration,
) -> Result<KzCredential, AdminError> {
    #[derive(serde::Deserialize)]
    struct Created {
        system_id: u32,
        token: u32,
    }
    let url = format!("{}/api/v1/kz/kkm", base.trim_end_matches('/'));
    let rn = reg.registration_number.clone();
    let transport = |reason: String| AdminError::Transport {
        rn: rn.clone(),
        url: url.clone(),
        reason,
    };
    let mut resp = agent
        .post(&url)
        .header("Authorization", auth)
        .send_json(reg)
        .map_err(|e| transport(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if !matches!(status, 200 | 201) {
        return Err(AdminError::Refused {
            rn,
            url,
            status,
            body: body.chars().take(500).collect(),
        });
    }
    let created: Created = serde_json::from_str(&body)
        .map_err(|e| transport(format!("unexpected answer {body:.200}: {e}")))?;
    Ok(KzCredential {
        system_id: created.system_id,
        token: created.token,
        reqnum: None,
    })
}

/// Register a whole Kazakh fleet at `base`, returning each register's system ID and token.
pub fn register_kz_fleet(
    base: &str,
    token: &str,
    regs: &[KzRegistration],
    progress: bool,
) -> Result<Vec<KzCredential>, AdminError> {
    let agent = agent();
    let auth = format!("Bearer {token}");
    let mut fleet = Vec::with_capacity(regs.len());
    let mut last_report = Instant::now();
    for (i, reg) in regs.iter().enumerate() {
        fleet.push(register_kz_kkm(&agent, base, &auth, reg)?);
        if progress && last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!("ofd-load: registered {}/{} KKMs", i + 1, regs.len());
            last_report = Instant::now();
        }
    }
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ofd_proto::checks::{verify_inn, verify_rn};

    #[test]
    fn body_carries_a_valid_identity() {
        let id = KktIdentity::generate(12);
        let b = register_body(&id, "sim");
        let s = |k: &str| b[k].as_str().unwrap().to_owned();
        assert_eq!(s("fn").len(), 16);
        verify_inn(s("inn").as_bytes()).unwrap();
        verify_rn(
            s("rn").as_bytes(),
            s("inn").as_bytes(),
            s("serial").as_bytes(),
        )
        .unwrap();
        assert_eq!(s("connection"), "sim");
    }
}
