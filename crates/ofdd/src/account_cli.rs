//! `ofdd account …`: organisations, users, API keys, partner links and the audit log, spoken to
//! a running daemon's admin API. Prints the API's JSON answer; a non-2xx answer becomes a
//! non-zero exit with the API's reason.

use serde_json::json;

use crate::admin_client::{Client, encode};
use crate::cli::{AccountArgs, AccountCommand};

pub fn run(args: AccountArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.api, &args.token);
    let org = |inn: &str| format!("/api/v1/organisations/{}", encode(inn));
    let answer = match args.command {
        AccountCommand::CreateOrg { inn, name, kind } => client.send(
            "POST",
            "/api/v1/organisations",
            Some(json!({ "inn": inn, "name": name, "kind": kind })),
        )?,
        AccountCommand::ListOrgs => client.send("GET", "/api/v1/organisations?limit=1000", None)?,
        AccountCommand::CreateUser { org: o, login, name, role, places, registers } => client.send(
            "POST",
            &format!("{}/users", org(&o)),
            Some(json!({ "login": login, "name": name, "role": role, "places": places, "registers": registers })),
        )?,
        AccountCommand::ListUsers { org: o } => client.send("GET", &format!("{}/users", org(&o)), None)?,
        AccountCommand::SetUser { org: o, login, role, disabled } => {
            let mut body = json!({});
            if let Some(r) = role {
                body["role"] = json!(r);
            }
            if let Some(d) = disabled {
                body["disabled"] = json!(d);
            }
            client.send("PATCH", &format!("{}/users/{}", org(&o), encode(&login)), Some(body))?
        }
        AccountCommand::Unlock { org: o, login } => {
            client.send("POST", &format!("{}/users/{}/unlock", org(&o), encode(&login)), None)?
        }
        AccountCommand::Reset { org: o, login } => {
            client.send("POST", &format!("{}/users/{}/reset", org(&o), encode(&login)), None)?
        }
        AccountCommand::CreateKey { org: o, scope, registers, name } => client.send(
            "POST",
            &format!("{}/api-keys", org(&o)),
            Some(json!({ "scope": scope, "registers": registers, "name": name })),
        )?,
        AccountCommand::ListKeys { org: o } => client.send("GET", &format!("{}/api-keys", org(&o)), None)?,
        AccountCommand::RevokeKey { org: o, id } => {
            client.send("DELETE", &format!("{}/api-keys/{}", org(&o), encode(&id)), None)?
        }
        AccountCommand::LinkPartner { taxpayer, partner } => client.send(
            "POST",
            &format!("{}/partners", org(&taxpayer)),
            Some(json!({ "partner_inn": partner })),
        )?,
        AccountCommand::UnlinkPartner { taxpayer, partner } => client.send(
            "DELETE",
            &format!("{}/partners/{}", org(&taxpayer), encode(&partner)),
            None,
        )?,
        AccountCommand::Audit { org: o, action, limit } => {
            let mut query = vec![format!("limit={limit}")];
            if let Some(o) = o {
                query.push(format!("org={}", encode(&o)));
            }
            if let Some(a) = action {
                query.push(format!("action={}", encode(&a)));
            }
            client.send("GET", &format!("/api/v1/audit?{}", query.join("&")), None)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
