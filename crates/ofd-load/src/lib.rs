//! # ofd-load — a KKT fleet simulator and load generator for ofdd
//!
//! Simulates a fleet of cash registers (each with its own FN, RN and INN, working a realistic
//! day of shifts, receipts, corrections and reports) sending fiscal documents to an OFD over one
//! of several link profiles, verifies every acknowledgement (decoded, code 0, the right FN and FD),
//! and reports throughput, latency percentiles (HDR histogram, µs resolution) and errors by kind.
//!
//! It exists to answer "how fast, how reliable and how big" about `ofdd` with numbers a reader can
//! reproduce: every run is bounded in time and count, refuses non-loopback targets unless told
//! otherwise, and measures open-loop latency from the *scheduled* send time so a stalled daemon
//! cannot hide its stalls (no coordinated omission).
//!
//! With `--protocol kz` the fleet is of Kazakh registers speaking KKM–OFD 2.0.x instead ([`kz`]):
//! the same link profiles, schedule, checks and report, another [`link::Dialect`].
//!
//! Module map: [`fleet`] (identities and the day), [`kz`] (the Kazakh fleet), [`schedule`]
//! (tickets, rate and deadlines), [`link`] (one connection's behaviour per [`profile`]),
//! [`report`] (histograms and output),
//! [`target`] (the loopback guard), [`admin`] (pre-registration through the admin API),
//! [`progress`] (the stderr progress line). The binary's `main.rs` is only the CLI.

pub mod admin;
pub mod fleet;
pub mod kz;
pub mod link;
pub mod profile;
pub mod progress;
pub mod report;
pub mod rng;
pub mod schedule;
pub mod target;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout_at};

pub use kz::{KzCredential, KzOptions};
pub use profile::{Profile, Protocol, SimLink};
pub use report::{ErrorKind, Report};

use fleet::{FnDialect, Register};
use kz::KzDialect;
use link::{Dialect, LinkConfig, Worker};
use report::{RunInfo, Stats};
use schedule::Schedule;
use target::TargetError;

/// Largest `--pipeline`: beyond this the socket buffers, not the daemon, are being measured.
pub const MAX_PIPELINE: usize = 1024;

/// Most documents `--prebuild` holds in memory.
pub const MAX_PREBUILD: u64 = 3_000_000;

/// Everything a run needs. [`Config::new`] gives the defaults the CLI uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Ingest `HOST:PORT`.
    pub target: String,
    pub allow_remote: bool,
    pub protocol: Protocol,
    pub profile: Profile,
    /// Simulated registers (`kz`: the size of `kz.fleet`, this is ignored).
    pub registers: usize,
    /// Concurrent connections (capped at `registers`: one FN never uses two connections).
    pub connections: usize,
    /// Stop scheduling documents after this long.
    pub duration: Option<Duration>,
    /// Stop after this many documents.
    pub documents: Option<u64>,
    /// Open-loop rate, documents per second (whole run).
    pub rate: Option<f64>,
    /// Outstanding documents per connection (`wired` and `sim`).
    pub pipeline: usize,
    pub acked_out: Option<PathBuf>,
    pub seed: u64,
    pub sim: SimLink,
    /// After `duration`, how long outstanding documents may still be answered.
    pub grace: Duration,
    /// Hard cap on a run bounded only by `documents`.
    pub max_duration: Duration,
    pub ack_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_attempts: u32,
    /// Connections are opened spread over this long (0: all at once).
    pub ramp: Duration,
    /// Print the progress line on stderr every second.
    pub progress: bool,
    /// Fixed document time (unix seconds); `None`: the system clock.
    pub clock: Option<u32>,
    /// Build every document before the clock starts (needs `documents`), so the measurement
    /// excludes the builder. Costs about 1.2 KB of memory per document.
    pub prebuild: bool,
    /// `--protocol kz`: the fleet and its session.
    pub kz: KzOptions,
}

impl Config {
    pub fn new(target: impl Into<String>, profile: Profile) -> Config {
        Config {
            target: target.into(),
            allow_remote: false,
            protocol: Protocol::Fn,
            profile,
            registers: 256,
            connections: 256,
            duration: None,
            documents: None,
            rate: None,
            pipeline: 1,
            acked_out: None,
            seed: 1,
            sim: SimLink::default(),
            grace: Duration::from_secs(30),
            max_duration: Duration::from_secs(300),
            ack_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 10,
            ramp: Duration::ZERO,
            progress: false,
            clock: None,
            prebuild: false,
            kz: KzOptions::default(),
        }
    }
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("writing --acked-out {path}: {err}")]
    AckedOut { path: PathBuf, err: std::io::Error },
}

/// Run the load described by `cfg` and report what happened.
pub async fn run(cfg: Config) -> Result<Report, LoadError> {
    let addr = target::resolve_target(&cfg.target, cfg.allow_remote)?;
    check(&cfg)?;
    let registers = match cfg.protocol {
        Protocol::Fn => cfg.registers,
        Protocol::Kz => cfg.kz.fleet.len(),
    };
    let connections = cfg.connections.min(registers);
    // Each worker owns registers w, w + C, w + 2C, … so a register always uses the same
    // connection.
    let share = |w: usize| (w..registers).step_by(connections);
    let worker_seed = |w: usize| cfg.seed ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    match cfg.protocol {
        Protocol::Fn => {
            let keep_acked = cfg.acked_out.is_some();
            let dialects = (0..connections)
                .map(|w| {
                    let regs = share(w).map(|i| Register::new(cfg.seed, i)).collect();
                    FnDialect::new(regs, keep_acked)
                })
                .collect();
            let (report, stats, _) = drive(&cfg, addr, registers, dialects).await;
            if let Some(path) = &cfg.acked_out {
                write_acked(path, &stats.acked_pairs).map_err(|err| LoadError::AckedOut {
                    path: path.clone(),
                    err,
                })?;
            }
            Ok(report)
        }
        Protocol::Kz => {
            let offline = cfg.profile == Profile::Sim;
            let dialects = (0..connections)
                .map(|w| {
                    let fleet: Vec<KzCredential> = share(w)
                        .filter_map(|i| cfg.kz.fleet.get(i).copied())
                        .collect();
                    KzDialect::new(&fleet, &cfg.kz, offline, worker_seed(w))
                })
                .collect();
            let (mut report, _, dialects) = drive(&cfg, addr, registers, dialects).await;
            let mut after: Vec<KzCredential> =
                dialects.iter().flat_map(KzDialect::credentials).collect();
            // Back in the fleet's order.
            let order: std::collections::HashMap<u32, usize> = cfg
                .kz
                .fleet
                .iter()
                .enumerate()
                .map(|(i, c)| (c.system_id, i))
                .collect();
            after.sort_by_key(|c| order.get(&c.system_id).copied().unwrap_or(usize::MAX));
            report.kz_fleet_after = after;
            Ok(report)
        }
    }
}

/// Run one worker per dialect (connection) against the schedule; merge their statistics.
async fn drive<D: Dialect>(
    cfg: &Config,
    addr: std::net::SocketAddr,
    registers: usize,
    dialects: Vec<D>,
) -> (Report, Stats, Vec<D>) {
    let single = matches!(cfg.profile, Profile::OneShot | Profile::Idle);
    let pipeline = if single { 1 } else { cfg.pipeline };
    let connections = dialects.len();
    let duration = match (cfg.duration, cfg.documents) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let link = Arc::new(LinkConfig {
        addr,
        profile: cfg.profile,
        pipeline,
        sim: cfg.sim,
        ack_timeout: cfg.ack_timeout,
        connect_timeout: cfg.connect_timeout,
        max_attempts: cfg.max_attempts.max(1),
        keep_acked: cfg.acked_out.is_some(),
        clock: cfg.clock,
    });
    let mut workers: Vec<Worker<D>> = Vec::with_capacity(connections);
    // The schedule is created after prebuilding, so the workers get a placeholder until then.
    let placeholder = Arc::new(Schedule::new(
        Instant::now(),
        Some(0),
        None,
        Instant::now(),
        None,
    ));
    for (w, dialect) in dialects.into_iter().enumerate() {
        let seed = cfg.seed ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut worker = Worker::new(link.clone(), placeholder.clone(), dialect, seed);
        if let (true, Some(n)) = (cfg.prebuild, cfg.documents) {
            let c = connections as u64;
            worker.prebuild(n / c + u64::from((w as u64) < n % c));
        }
        workers.push(worker);
    }

    let start = Instant::now();
    let hard_deadline = start + duration.map_or(cfg.max_duration, |d| d + cfg.grace);
    let schedule = Arc::new(Schedule::new(
        start,
        cfg.documents,
        duration,
        hard_deadline,
        cfg.rate,
    ));
    let progress = cfg.progress.then(|| progress::spawn(schedule.clone()));

    let mut tasks = Vec::with_capacity(connections);
    for (w, mut worker) in workers.into_iter().enumerate() {
        let offset = cfg.ramp.mul_f64(w as f64 / connections as f64);
        worker.set_schedule(schedule.clone());
        tasks.push(tokio::spawn(async move {
            sleep_until(start + offset).await;
            let finished = timeout_at(hard_deadline, worker.run()).await.is_ok();
            if !finished {
                for _ in 0..worker.unfinished() {
                    worker.stats.errors.add(ErrorKind::UnackedAtDeadline);
                }
            }
            worker.close();
            let stats = std::mem::take(&mut worker.stats);
            (stats, finished, worker.into_dialect())
        }));
    }

    let mut stats = Stats::default();
    let mut hit_hard_deadline = false;
    let mut dialects = Vec::with_capacity(connections);
    for task in tasks {
        match task.await {
            Ok((s, finished, dialect)) => {
                stats.merge(s);
                hit_hard_deadline |= !finished;
                dialects.push(dialect);
            }
            // A worker panicked: a bug, but the others' figures are still worth reporting.
            Err(_) => stats.errors.add(ErrorKind::Build),
        }
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.abort();
    }

    let info = RunInfo {
        protocol: cfg.protocol,
        profile: cfg.profile.to_string(),
        target: addr.to_string(),
        registers,
        connections,
        pipeline,
        rate: cfg.rate,
        seed: cfg.seed,
    };
    let report = Report::new(info, &stats, elapsed, hit_hard_deadline);
    (report, stats, dialects)
}

fn check(cfg: &Config) -> Result<(), LoadError> {
    let bad = |m: &str| Err(LoadError::Config(m.to_owned()));
    if cfg.registers == 0 || cfg.registers >= 1_000_000 {
        return bad("--registers must be 1..=999999");
    }
    if cfg.connections == 0 {
        return bad("--connections must be at least 1");
    }
    if cfg.pipeline == 0 || cfg.pipeline > MAX_PIPELINE {
        return bad("--pipeline must be 1..=1024");
    }
    if cfg.documents == Some(0) {
        return bad("--documents must be at least 1");
    }
    if cfg.duration.is_some_and(|d| d.is_zero()) {
        return bad("--duration must be positive");
    }
    if cfg.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return bad("--rate must be a positive number of documents per second");
    }
    if cfg.prebuild {
        let Some(n) = cfg.documents else {
            return bad("--prebuild needs --documents (it builds the whole run in advance)");
        };
        if n > MAX_PREBUILD {
            return bad(
                "--prebuild is limited to 3,000,000 documents (about 1.2 KB each in memory)",
            );
        }
    }
    if cfg.profile == Profile::Idle && cfg.duration.is_none() {
        return bad("the idle profile holds connections for --duration: give one");
    }
    let p = [
        cfg.sim.drop_mid_message,
        cfg.sim.drop_before_ack,
        cfg.kz.placement_chance,
        cfg.kz.offline_chance,
    ];
    if p.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return bad("probabilities (drops, placements, offline) must be within 0..=1");
    }
    if cfg.protocol == Protocol::Kz {
        if cfg.kz.fleet.is_empty() {
            return bad(
                "--protocol kz needs a fleet: --register-via (admin API) or --kz-fleet FILE",
            );
        }
        if cfg.prebuild {
            return bad(
                "--prebuild is for --protocol fn (a KKM's next token comes with the answer)",
            );
        }
        if cfg.acked_out.is_some() {
            return bad("--acked-out is for --protocol fn");
        }
        if cfg.kz.offline_max == 0 {
            return bad("--kz-offline-max must be at least 1");
        }
    }
    Ok(())
}

/// One `FN FD` line per acknowledged document.
fn write_acked(path: &std::path::Path, pairs: &[([u8; 16], u32)]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (fn_number, fd) in pairs {
        out.write_all(fn_number)?;
        writeln!(out, " {fd}")?;
    }
    out.flush()
}

/// Raise the open-files soft limit to the hard limit (thousands of connections need it).
/// Returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}
