//! What a run measured: per-worker statistics, merged into one [`Report`], printed for humans or
//! as one JSON object.
//!
//! Every worker owns its [`Stats`] (an HDR histogram of acknowledgement latency at microsecond
//! resolution plus counters), so the hot path never contends on a lock; the run merges them once
//! at the end. Errors are counted by [`ErrorKind`] so that "the daemon said 14" and "the
//! connection reset" are never lumped together.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::profile::Protocol;

/// Longest latency the histogram records exactly (larger values are clamped to it).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Every kind of error ofd-load counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum ErrorKind {
    /// Connecting to the target failed.
    Connect,
    /// A read or write failed (reset, broken pipe) — not one ofd-load simulated.
    Io,
    /// The daemon closed the connection while acknowledgements were outstanding.
    Eof,
    /// No acknowledgement within the acknowledgement timeout.
    Timeout,
    /// The answer stream is not a sequence of session frames.
    Framing,
    /// A frame that does not decode as an acknowledgement (document 7).
    Decode,
    /// The acknowledgement names another FN than the document it answers.
    FnMismatch,
    /// The acknowledgement names another FD number than the document it answers.
    FdMismatch,
    /// Response code 11 (not recognised).
    Code11,
    /// Response code 14 (format-logic control failed).
    Code14,
    /// Any other non-zero response code.
    CodeOther,
    /// An acknowledgement arrived with no document outstanding.
    UnexpectedAck,
    /// A document was dropped after too many failed attempts.
    GaveUp,
    /// A document still unacknowledged when the hard deadline ended the run.
    UnackedAtDeadline,
    /// The builder refused a document (a bug in the fleet model).
    Build,
    /// KZ: the answer's header names another system ID than the request.
    KzIdMismatch,
    /// KZ: the answer's REQNUM is not the request's.
    KzReqnumMismatch,
    /// KZ: the answer's command is not the request's.
    KzCommandMismatch,
    /// KZ: a ticket answered OK without a ticket number, or with one that is not the next of its
    /// register (a retry numbered twice, a ticket lost or numbered out of order).
    KzTicketNumber,
    /// KZ result code 1 (unknown system ID).
    KzCode1,
    /// KZ result code 2 (wrong token: a rotation was not followed).
    KzCode2,
    /// KZ result codes 8 and 9 (a retry refused: another token, another command).
    KzCode8Or9,
    /// KZ result code 11 (the shift has been open too long).
    KzCode11,
    /// KZ result code 254 (service temporarily unavailable).
    KzCode254,
    /// Any other non-zero KZ result code (3, 4, 5, 13, 14, 15, …).
    KzCodeOther,
}

impl ErrorKind {
    pub const COUNT: usize = 25;
    pub const ALL: [ErrorKind; ErrorKind::COUNT] = [
        ErrorKind::Connect,
        ErrorKind::Io,
        ErrorKind::Eof,
        ErrorKind::Timeout,
        ErrorKind::Framing,
        ErrorKind::Decode,
        ErrorKind::FnMismatch,
        ErrorKind::FdMismatch,
        ErrorKind::Code11,
        ErrorKind::Code14,
        ErrorKind::CodeOther,
        ErrorKind::UnexpectedAck,
        ErrorKind::GaveUp,
        ErrorKind::UnackedAtDeadline,
        ErrorKind::Build,
        ErrorKind::KzIdMismatch,
        ErrorKind::KzReqnumMismatch,
        ErrorKind::KzCommandMismatch,
        ErrorKind::KzTicketNumber,
        ErrorKind::KzCode1,
        ErrorKind::KzCode2,
        ErrorKind::KzCode8Or9,
        ErrorKind::KzCode11,
        ErrorKind::KzCode254,
        ErrorKind::KzCodeOther,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Io => "io",
            ErrorKind::Eof => "eof",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Framing => "framing",
            ErrorKind::Decode => "decode",
            ErrorKind::FnMismatch => "fn_mismatch",
            ErrorKind::FdMismatch => "fd_mismatch",
            ErrorKind::Code11 => "code_11",
            ErrorKind::Code14 => "code_14",
            ErrorKind::CodeOther => "code_other",
            ErrorKind::UnexpectedAck => "unexpected_ack",
            ErrorKind::GaveUp => "gave_up",
            ErrorKind::UnackedAtDeadline => "unacked_at_deadline",
            ErrorKind::Build => "build",
            ErrorKind::KzIdMismatch => "kz_id_mismatch",
            ErrorKind::KzReqnumMismatch => "kz_reqnum_mismatch",
            ErrorKind::KzCommandMismatch => "kz_command_mismatch",
            ErrorKind::KzTicketNumber => "kz_ticket_number",
            ErrorKind::KzCode1 => "kz_code_1",
            ErrorKind::KzCode2 => "kz_code_2",
            ErrorKind::KzCode8Or9 => "kz_code_8_9",
            ErrorKind::KzCode11 => "kz_code_11",
            ErrorKind::KzCode254 => "kz_code_254",
            ErrorKind::KzCodeOther => "kz_code_other",
        }
    }
}

/// Error counts by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Errors([u64; ErrorKind::COUNT]);

impl Errors {
    pub fn add(&mut self, kind: ErrorKind) {
        self.0[kind as usize] += 1;
    }

    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    fn merge(&mut self, other: &Errors) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

impl Serialize for Errors {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(ErrorKind::COUNT + 1))?;
        for kind in ErrorKind::ALL {
            map.serialize_entry(kind.label(), &self.get(kind))?;
        }
        map.serialize_entry("total", &self.total())?;
        map.end()
    }
}

/// What only a Kazakh (KKM–OFD) run counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KzCounters {
    /// Tickets answered OK with the register's next ticket number.
    pub tickets: u64,
    /// Answers that carried a new token, adopted for the register's next request.
    pub token_rotations: u64,
    /// Periods a register spent offline (`sim`), each ended by a replay.
    pub offline_periods: u64,
    /// Tickets numbered by the register offline (`offline_ticket_number`), replayed in order and
    /// answered OK.
    pub offline_tickets: u64,
    /// Answers to a resend with the same TOKEN and REQNUM (the server's stored answer), all OK
    /// and numbered as the first attempt would have been.
    pub retries_answered: u64,
}

impl KzCounters {
    fn merge(&mut self, o: &KzCounters) {
        self.tickets += o.tickets;
        self.token_rotations += o.token_rotations;
        self.offline_periods += o.offline_periods;
        self.offline_tickets += o.offline_tickets;
        self.retries_answered += o.retries_answered;
    }
}

/// One worker's measurements.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Acknowledgement latency, microseconds.
    pub latency: Histogram<u64>,
    /// Documents acknowledged with code 0 by the right (FN, FD).
    pub acked: u64,
    /// Documents taken from the schedule (first sends, not resends).
    pub issued: u64,
    pub errors: Errors,
    /// Connections re-established after a drop (simulated or not).
    pub reconnects: u64,
    /// Documents sent again after a drop.
    pub resends: u64,
    /// Resends of a document that had been written completely before the drop: the daemon has
    /// probably stored it already and answers with its stored acknowledgement.
    pub duplicates: u64,
    /// Connections opened (all profiles).
    pub connects: u64,
    pub bytes_sent: u64,
    /// Acknowledged documents by document type byte.
    pub by_type: [u64; 256],
    /// Acknowledged (FN, FD) pairs, kept only for `--acked-out`.
    pub acked_pairs: Vec<([u8; 16], u32)>,
    pub kz: KzCounters,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: new_histogram(),
            acked: 0,
            issued: 0,
            errors: Errors::default(),
            reconnects: 0,
            resends: 0,
            duplicates: 0,
            connects: 0,
            bytes_sent: 0,
            by_type: [0; 256],
            acked_pairs: Vec::new(),
            kz: KzCounters::default(),
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h with 3 significant figures: the bounds are valid constants, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

impl Stats {
    /// Record one acknowledged document (`type_byte`: FN document type, KZ command code).
    pub fn record_ack(&mut self, latency: Duration, type_byte: u8) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_LATENCY_US)
            .clamp(1, MAX_LATENCY_US);
        self.latency.saturating_record(us);
        self.acked += 1;
        self.by_type[usize::from(type_byte)] += 1;
    }

    pub fn merge(&mut self, other: Stats) {
        // Same bounds on both sides, so `add` cannot fail.
        let _ = self.latency.add(&other.latency);
        self.acked += other.acked;
        self.issued += other.issued;
        self.errors.merge(&other.errors);
        self.reconnects += other.reconnects;
        self.resends += other.resends;
        self.duplicates += other.duplicates;
        self.connects += other.connects;
        self.bytes_sent += other.bytes_sent;
        for (a, b) in self.by_type.iter_mut().zip(other.by_type) {
            *a += b;
        }
        self.acked_pairs.extend(other.acked_pairs);
        self.kz.merge(&other.kz);
    }
}

/// The result of a run. With `--json` this is printed as exactly one JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `fn` (FN–OFD) or `kz` (KKM–OFD of Kazakhstan).
    pub protocol: String,
    pub profile: String,
    pub target: String,
    pub registers: usize,
    pub connections: usize,
    pub pipeline: usize,
    /// Open-loop rate (documents/s), or `null` for closed loop.
    pub rate: Option<f64>,
    pub seed: u64,
    /// Documents acknowledged with code 0 by the right (FN, FD).
    pub documents: u64,
    /// Documents taken from the schedule.
    pub sent: u64,
    pub docs_per_s: f64,
    pub duration_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub errors: Errors,
    pub reconnects: u64,
    pub resends: u64,
    pub duplicates: u64,
    pub connects: u64,
    pub bytes_sent: u64,
    pub mib_per_s: f64,
    /// Acknowledged documents by type (`"3"`: receipts, …; kz: by command, `"ticket"`, …).
    pub by_type: BTreeMap<String, u64>,
    /// Kazakh runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kz: Option<KzSummary>,
    /// The run hit its hard deadline with documents outstanding.
    pub hit_hard_deadline: bool,
    /// Kazakh runs: every register's system ID, token and REQNUM at the end (what its next
    /// session must use; `--kz-fleet` is rewritten with it).
    #[serde(skip)]
    pub kz_fleet_after: Vec<crate::kz::KzCredential>,
}

/// The Kazakh part of a report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KzSummary {
    #[serde(flatten)]
    pub counters: KzCounters,
    pub tickets_per_s: f64,
}

/// Run parameters echoed in the report.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub protocol: Protocol,
    pub profile: String,
    pub target: String,
    pub registers: usize,
    pub connections: usize,
    pub pipeline: usize,
    pub rate: Option<f64>,
    pub seed: u64,
}

impl Report {
    pub fn new(info: RunInfo, stats: &Stats, elapsed: Duration, hit_hard_deadline: bool) -> Report {
        let secs = elapsed.as_secs_f64();
        let per_s = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let h = &stats.latency;
        let ms = |us: u64| us as f64 / 1000.0;
        let q = |quantile: f64| {
            if h.is_empty() {
                0.0
            } else {
                ms(h.value_at_quantile(quantile))
            }
        };
        let by_type = stats
            .by_type
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| (info.protocol.type_label(t), *n))
            .collect();
        let kz = (info.protocol == Protocol::Kz).then(|| KzSummary {
            counters: stats.kz,
            tickets_per_s: per_s(stats.kz.tickets as f64),
        });
        Report {
            protocol: info.protocol.to_string(),
            profile: info.profile,
            target: info.target,
            registers: info.registers,
            connections: info.connections,
            pipeline: info.pipeline,
            rate: info.rate,
            seed: info.seed,
            documents: stats.acked,
            sent: stats.issued,
            docs_per_s: per_s(stats.acked as f64),
            duration_s: secs,
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
            mean_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            errors: stats.errors,
            reconnects: stats.reconnects,
            resends: stats.resends,
            duplicates: stats.duplicates,
            connects: stats.connects,
            bytes_sent: stats.bytes_sent,
            mib_per_s: per_s(stats.bytes_sent as f64) / (1024.0 * 1024.0),
            by_type,
            kz,
            hit_hard_deadline,
            kz_fleet_after: Vec::new(),
        }
    }

    /// Every scheduled document acknowledged, no error of any kind.
    pub fn clean(&self) -> bool {
        self.errors.total() == 0 && self.documents == self.sent && !self.hit_hard_deadline
    }

    pub fn to_json(&self) -> String {
        // A struct of numbers, strings and string-keyed maps always serializes.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The multi-line human summary.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let rate = match self.rate {
            Some(r) => format!("open loop at {r} docs/s"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(
            s,
            "ofd-load: {} {} profile → {}, {} registers on {} connections, pipeline {}, {rate}, seed {}",
            self.protocol,
            self.profile,
            self.target,
            self.registers,
            self.connections,
            self.pipeline,
            self.seed
        );
        let _ = writeln!(
            s,
            "  documents  {} acknowledged of {} sent in {:.2} s = {:.0} docs/s ({:.1} MiB/s)",
            self.documents, self.sent, self.duration_s, self.docs_per_s, self.mib_per_s
        );
        let _ = writeln!(
            s,
            "  latency    p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  (mean {:.3} ms)",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.mean_ms
        );
        let _ = writeln!(
            s,
            "  links      {} connects, {} reconnects, {} resends ({} of complete documents)",
            self.connects, self.reconnects, self.resends, self.duplicates
        );
        let types: Vec<String> = self
            .by_type
            .iter()
            .map(|(t, n)| format!("{t}:{n}"))
            .collect();
        let _ = writeln!(s, "  by type    {}", types.join(" "));
        if let Some(kz) = &self.kz {
            let c = kz.counters;
            let _ = writeln!(
                s,
                "  kz         {} tickets ({:.0}/s), {} token rotations followed, {} retries answered, {} offline tickets replayed in {} periods",
                c.tickets,
                kz.tickets_per_s,
                c.token_rotations,
                c.retries_answered,
                c.offline_tickets,
                c.offline_periods
            );
        }
        if self.errors.total() == 0 {
            let _ = writeln!(s, "  errors     none");
        } else {
            let kinds: Vec<String> = ErrorKind::ALL
                .iter()
                .filter(|k| self.errors.get(**k) > 0)
                .map(|k| format!("{} {}", k.label(), self.errors.get(*k)))
                .collect();
            let _ = writeln!(
                s,
                "  errors     {} total: {}",
                self.errors.total(),
                kinds.join(", ")
            );
        }
        if self.hit_hard_deadline {
            let _ = writeln!(
                s,
                "  WARNING    the hard deadline ended the run with documents outstanding"
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ofd_proto::doctype::DocType;

    fn info() -> RunInfo {
        RunInfo {
            protocol: Protocol::Fn,
            profile: "wired".into(),
            target: "127.0.0.1:1".into(),
            registers: 1,
            connections: 1,
            pipeline: 1,
            rate: None,
            seed: 1,
        }
    }

    #[test]
    fn percentiles_and_json_fields() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for i in 1..=1000u64 {
            a.record_ack(Duration::from_micros(i * 10), DocType::Receipt.as_u8());
        }
        b.record_ack(Duration::from_secs(2), DocType::ShiftOpen.as_u8());
        b.errors.add(ErrorKind::Code14);
        a.issued = 1000;
        b.issued = 2;
        a.merge(b);
        let r = Report::new(info(), &a, Duration::from_secs(2), false);
        assert_eq!(r.documents, 1001);
        assert!((r.docs_per_s - 500.5).abs() < 1e-9);
        assert!((r.p50_ms - 5.01).abs() < 0.01, "{}", r.p50_ms); // the 501st of 1001 samples
        assert!((r.max_ms - 2000.0).abs() < 2.0, "{}", r.max_ms);
        assert!(!r.clean());
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        for key in [
            "docs_per_s",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "max_ms",
            "documents",
            "reconnects",
            "duration_s",
            "profile",
            "connections",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["errors"]["code_14"], 1);
        assert_eq!(v["errors"]["total"], 1);
        assert_eq!(v["by_type"]["3"], 1000);
        assert!(r.human().contains("code_14 1"));
    }

    #[test]
    fn empty_run_reports_zeros() {
        let r = Report::new(info(), &Stats::default(), Duration::ZERO, false);
        assert_eq!(r.docs_per_s, 0.0);
        assert_eq!(r.p99_ms, 0.0);
        assert!(r.clean());
    }
}
