//! `ofdd kz …`: the operator's commands for Kazakh KKMs, spoken to a running daemon's admin API
//! over HTTP (`/api/v1/kz/kkm`). Prints the API's answer (JSON, or CSV for `tickets --csv`); a
//! non-2xx answer becomes a non-zero exit with the API's reason.

use serde_json::{Value, json};

use crate::admin_client::{Client, encode};
use crate::cli::{KzArgs, KzCommand};

pub fn run(args: KzArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.api, &args.token);
    let kkm = |id: u32| format!("/api/v1/kz/kkm/{id}");
    let status = |id: u32, status: &str| {
        client.send(
            "POST",
            &format!("{}/status", kkm(id)),
            Some(json!({ "status": status })),
        )
    };
    let answer = match args.command {
        KzCommand::Register {
            registration_number,
            serial,
            iin_bin,
            name,
            pos_address,
            pos_title,
            org_address,
            model,
            year,
            connection,
        } => client.send(
            "POST",
            "/api/v1/kz/kkm",
            Some(json!({
                "registration_number": registration_number, "serial": serial, "iin_bin": iin_bin,
                "name": name, "pos_address": pos_address, "pos_title": pos_title,
                "org_address": org_address, "model": model, "year": year,
                "connection": connection.as_str(),
            })),
        )?,
        KzCommand::List { limit, after } => {
            let mut query = format!("limit={limit}");
            if let Some(a) = after {
                query.push_str(&format!("&after={a}"));
            }
            client.send("GET", &format!("/api/v1/kz/kkm?{query}"), None)?
        }
        KzCommand::Show { system_id } => client.send("GET", &kkm(system_id), None)?,
        KzCommand::Token { system_id } => {
            client.send("POST", &format!("{}/token", kkm(system_id)), None)?
        }
        KzCommand::Block { system_id } => status(system_id, "blocked")?,
        KzCommand::Unblock { system_id } => status(system_id, "registered")?,
        KzCommand::Deregister { system_id } => status(system_id, "deregistered")?,
        KzCommand::Tickets {
            system_id,
            shift,
            from,
            to,
            csv,
        } => {
            let mut query = vec![format!("format={}", if csv { "csv" } else { "json" })];
            if let Some(s) = shift {
                query.push(format!("shift={s}"));
            }
            for (key, value) in [("from", from), ("to", to)] {
                if let Some(v) = value {
                    query.push(format!("{key}={}", encode(&v)));
                }
            }
            let path = format!("{}/tickets?{}", kkm(system_id), query.join("&"));
            client.send("GET", &path, None)?
        }
        KzCommand::Reports { system_id } => {
            client.send("GET", &format!("{}/reports", kkm(system_id)), None)?
        }
        KzCommand::Exchanges {
            system_id,
            after,
            limit,
        } => {
            let mut query = format!("limit={limit}");
            if let Some(a) = after {
                query.push_str(&format!("&after={a}"));
            }
            client.send(
                "GET",
                &format!("{}/exchanges?{query}", kkm(system_id)),
                None,
            )?
        }
    };
    match answer {
        // CSV (and any other non-JSON answer) is printed as it came.
        Value::String(text) => print!("{text}"),
        json => println!("{}", serde_json::to_string_pretty(&json)?),
    }
    Ok(())
}
