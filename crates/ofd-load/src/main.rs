//! `ofd-load`: the command line over [`ofd_load::run`].
//!
//! Parses the flags, checks the target is loopback (before anything else happens), optionally
//! pre-registers the fleet through the admin API (blocking, before the runtime starts), runs the
//! load on a multi-threaded tokio runtime and prints the report: a human summary, or with `--json`
//! exactly one JSON object on stdout. Exit status: 0 when every document was acknowledged with
//! code 0 and nothing went wrong, 1 when the run counted errors, 2 for a usage or setup error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ofd_load::{Config, KzOptions, Profile, Protocol, SimLink};

#[derive(Debug, Parser)]
#[command(
    name = "ofd-load",
    version,
    about = "KKT fleet simulator and load generator for ofdd"
)]
struct Cli {
    /// Ingest address of the daemon (loopback only unless --allow-remote).
    #[arg(long, default_value = "127.0.0.1:7777")]
    target: String,
    /// Protocol of the simulated fleet: fn (FN–OFD, Russia) or kz (KKM–OFD 2.0.x, Kazakhstan:
    /// system IDs and tokens from --register-via or --kz-fleet).
    #[arg(long, default_value = "fn")]
    protocol: Protocol,
    /// Link profile: wired (persistent, whole messages), sim (latency, segments, drops and
    /// resends), one-shot (a connection per document), idle (send one document per connection,
    /// then hold it open for --duration).
    #[arg(long, default_value = "wired")]
    profile: Profile,
    /// Simulated registers (each its own FN, RN and INN; kz: KKMs to register with
    /// --register-via — with --kz-fleet the file says how many).
    #[arg(long, default_value_t = 256)]
    registers: usize,
    /// Concurrent connections [default: registers for sim and idle, else min(registers, 256)].
    #[arg(long)]
    connections: Option<usize>,
    /// Stop scheduling documents after this long (e.g. 10s, 500ms, 2m) [default: 10s when
    /// --documents is not given].
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many documents.
    #[arg(long)]
    documents: Option<u64>,
    /// Open loop: schedule this many documents per second in total; latency counts from the
    /// scheduled time. Without it the run is closed-loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Most outstanding documents per connection (wired and sim), 1..=1024.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Print exactly one JSON object on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Write every acknowledged "FN FD" pair to this file, one per line.
    #[arg(long)]
    acked_out: Option<PathBuf>,
    /// Fleet seed (identities and schedules) [default: from the clock; printed in the report].
    #[arg(long)]
    seed: Option<u64>,
    /// Allow a target (and --register-via URL) that is not loopback.
    #[arg(long)]
    allow_remote: bool,
    /// Pre-register the fleet through this admin API base URL (e.g. http://127.0.0.1:9100).
    #[arg(long)]
    register_via: Option<String>,
    /// Admin bearer token for --register-via.
    #[arg(
        long,
        visible_alias = "admin-token",
        env = "OFDD_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// kz: the fleet's system IDs and tokens, one JSON object {"system_id": …, "token": …} per
    /// line (registered elsewhere, e.g. on an operator's test server). Rewritten after the run
    /// with the tokens and REQNUMs the registers hold then, so the next run continues.
    #[arg(long)]
    kz_fleet: Option<PathBuf>,
    /// kz: with --register-via, write the registered fleet (JSON lines) to this file too.
    #[arg(long)]
    kz_fleet_out: Option<PathBuf>,
    /// kz: a KKM closes its shift after this many tickets (0: never).
    #[arg(long, default_value_t = 100)]
    kz_shift_tickets: u32,
    /// kz: probability that a request is a money placement (deposit or withdrawal).
    #[arg(long, default_value_t = 0.03)]
    kz_placements: f64,
    /// kz: only require increasing ticket numbers per KKM, not consecutive ones (for servers
    /// that do not number 1, 2, 3, … per register as ofdd does).
    #[arg(long)]
    kz_loose_numbering: bool,
    /// kz, sim: probability per ticket that a KKM goes offline (it then numbers and queues
    /// tickets itself and replays them in order when the link is back).
    #[arg(long, default_value_t = 0.01)]
    sim_offline: f64,
    /// kz, sim: most tickets a KKM queues in one offline period.
    #[arg(long, default_value_t = 8)]
    kz_offline_max: u32,
    /// After --duration, how long outstanding documents may still be answered (hard deadline).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    grace: Duration,
    /// Hard cap on a run bounded only by --documents.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    max_duration: Duration,
    /// Longest wait for an acknowledgement before the connection is dropped and resent.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    ack_timeout: Duration,
    /// Spread connection start over this long [default: 100 µs per connection above 1000, ≤ 5 s].
    #[arg(long, value_parser = parse_duration)]
    ramp: Option<Duration>,
    /// sim: mean link delay before each document (closed loop).
    #[arg(long, default_value = "30ms", value_parser = parse_duration)]
    sim_latency: Duration,
    /// sim: ± jitter on the link delay.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    sim_jitter: Duration,
    /// sim: largest write segment in bytes.
    #[arg(long, default_value_t = 256)]
    sim_segment: usize,
    /// sim: largest pause between two segments.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    sim_gap: Duration,
    /// sim: probability of a drop in the middle of writing a message.
    #[arg(long, default_value_t = 0.01)]
    sim_drop_mid: f64,
    /// sim: probability of a drop after a message, before its acknowledgement is read.
    #[arg(long, default_value_t = 0.01)]
    sim_drop_ack: f64,
    /// Build every document before the clock starts (needs --documents; ≈1.2 KB of memory per
    /// document), so the figures exclude the load generator's own building.
    #[arg(long)]
    prebuild: bool,
    /// No progress line on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// `10s`, `500ms`, `250us`, `2m`, `1h`, or a bare number of seconds (`1.5`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10s, 500ms or 2m"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use us, ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("ofd-load: error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode, String> {
    // Refuse a non-loopback target before doing anything else.
    ofd_load::target::resolve_target(&cli.target, cli.allow_remote).map_err(|e| e.to_string())?;
    if let Some(url) = &cli.register_via {
        ofd_load::target::check_url(url, cli.allow_remote).map_err(|e| e.to_string())?;
    }
    let seed = cli.seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.as_secs() % 1_000_000
    });
    let per_register = matches!(cli.profile, Profile::Sim | Profile::Idle);

    let mut kz_fleet = Vec::new();
    if cli.protocol == Protocol::Kz {
        kz_fleet = match (&cli.register_via, &cli.kz_fleet) {
            (Some(_), Some(_)) => return Err("give --register-via or --kz-fleet, not both".into()),
            (None, None) => {
                return Err(
                    "--protocol kz needs a fleet: --register-via URL (with --admin-token) or --kz-fleet FILE"
                        .into(),
                );
            }
            (None, Some(path)) => ofd_load::kz::read_fleet(path)?,
            (Some(url), None) => {
                let token = cli
                    .token
                    .as_deref()
                    .ok_or("--register-via needs --admin-token (or OFDD_ADMIN_TOKEN)")?;
                let regs = ofd_load::kz::registrations(seed, cli.registers);
                let fleet = ofd_load::admin::register_kz_fleet(url, token, &regs, !cli.quiet)
                    .map_err(|e| e.to_string())?;
                if !cli.quiet {
                    eprintln!("ofd-load: registered {} KKMs", fleet.len());
                }
                if let Some(out) = &cli.kz_fleet_out {
                    ofd_load::kz::write_fleet(out, &fleet)
                        .map_err(|e| format!("writing {}: {e}", out.display()))?;
                }
                fleet
            }
        };
    }
    let registers = if cli.protocol == Protocol::Kz {
        kz_fleet.len()
    } else {
        cli.registers
    };
    let connections = cli.connections.unwrap_or(if per_register {
        registers
    } else {
        registers.min(256)
    });

    if let (Protocol::Fn, Some(url)) = (cli.protocol, &cli.register_via) {
        let token = cli
            .token
            .as_deref()
            .ok_or("--register-via needs --token (or OFDD_ADMIN_TOKEN)")?;
        let ids = ofd_load::fleet::identities(seed, cli.registers);
        let done = ofd_load::admin::register_fleet(
            url,
            token,
            &ids,
            cli.profile.connection_type(),
            !cli.quiet,
        )
        .map_err(|e| e.to_string())?;
        if !cli.quiet {
            eprintln!(
                "ofd-load: registered {} registers ({} already known)",
                done.created, done.already_known
            );
        }
    }

    let ramp = cli.ramp.unwrap_or_else(|| {
        let extra = connections.saturating_sub(1000) as u64;
        Duration::from_micros(extra * 100).min(Duration::from_secs(5))
    });
    let nofile = ofd_load::raise_nofile_limit();
    if (connections as u64) + 64 > nofile && !cli.quiet {
        eprintln!(
            "ofd-load: warning: {connections} connections but only {nofile} open files allowed (ulimit -n)"
        );
    }

    let cfg = Config {
        allow_remote: cli.allow_remote,
        protocol: cli.protocol,
        registers,
        connections,
        duration: cli.duration,
        documents: cli.documents,
        rate: cli.rate,
        pipeline: cli.pipeline,
        acked_out: cli.acked_out,
        seed,
        sim: SimLink {
            latency: cli.sim_latency,
            jitter: cli.sim_jitter,
            max_segment: cli.sim_segment,
            segment_gap: cli.sim_gap,
            drop_mid_message: cli.sim_drop_mid,
            drop_before_ack: cli.sim_drop_ack,
        },
        grace: cli.grace,
        max_duration: cli.max_duration,
        ack_timeout: cli.ack_timeout,
        ramp,
        progress: !cli.quiet,
        prebuild: cli.prebuild,
        kz: KzOptions {
            fleet: kz_fleet,
            shift_tickets: cli.kz_shift_tickets,
            placement_chance: cli.kz_placements,
            offline_chance: cli.sim_offline,
            offline_max: cli.kz_offline_max,
            consecutive: !cli.kz_loose_numbering,
            ..KzOptions::default()
        },
        ..Config::new(cli.target, cli.profile)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let report = runtime
        .block_on(ofd_load::run(cfg))
        .map_err(|e| e.to_string())?;
    // The registers' tokens and REQNUMs now: the next run must start from them.
    let fleet_file = cli.kz_fleet.as_ref().or(cli.kz_fleet_out.as_ref());
    if let (Protocol::Kz, Some(path)) = (cli.protocol, fleet_file) {
        ofd_load::kz::write_fleet(path, &report.kz_fleet_after)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if cli.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.human());
    }
    Ok(if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
