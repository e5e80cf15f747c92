//! `ofdd kkt …`: registry commands for operators, spoken to a running daemon's admin API over HTTP.
//! Prints the API's JSON answer; a non-2xx answer becomes a non-zero exit with the API's reason.

use serde_json::json;

use crate::admin_client::{Client, encode};
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
