//! `--protocol kz`: a fleet of Kazakh cash registers (KKM) speaking KKM–OFD 2.0.x to an OFD.
//!
//! Each register has a system ID and a token (issued at registration: [`crate::admin`] registers
//! them through ofdd's admin API, or `--kz-fleet` reads them from a file for any operator's test
//! server). Its session, as a real KKM's: INFO first; then tickets of 1–30 items paid in cash, by
//! card or mobile, with VAT ([`TicketSpec::sample`]); a money placement now and then; a shift
//! close (with the cash withdrawn) every `shift_tickets` tickets. Requests are framed by
//! [`ofd_kz::builder::Kkm`]: REQNUM +1 per request, the latest token, and a new token adopted
//! from any answer that carries one (rotation followed).
//!
//! A register has at most one request outstanding, as the protocol requires (the next request's
//! TOKEN depends on the answer), so a connection's window holds requests of different registers.
//! After a drop the worker resends the outstanding request byte for byte — the same TOKEN and
//! REQNUM, a retry for the server — and its answer must be OK and numbered exactly as the first
//! attempt would have been (a ticket numbered twice is an error). In the `sim` profile a register
//! sometimes goes offline: it numbers its tickets itself (`offline_ticket_number`), queues them,
//! and after the link returns replays them strictly in order, the first carrying the offline
//! period.
//!
//! Every answer is checked: header (APPCODE, ID, REQNUM), the command echoed, result code 0, and
//! for tickets a number one above the register's previous one (or just above it, for servers
//! that number otherwise). Errors are counted by kind in the report.

use std::collections::VecDeque;
use std::path::Path;

use ofd_kz::builder::{self, Kkm, TicketSpec};
use ofd_kz::codec::decode_response;
use ofd_kz::kkm;
use ofd_kz::time::LocalDateTime;
use ofd_kz::{Command, FrameLimits, Framing, check_frame};
use serde::{Deserialize, Serialize};

use crate::link::{Dialect, Issued};
use crate::report::{ErrorKind, Stats};
use crate::rng::Rng;

/// A register's system ID and its current token (one line of a `--kz-fleet` file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KzCredential {
    pub system_id: u32,
    pub token: u32,
    /// The REQNUM of the register's last request, if known (written back after a run, so the
    /// next run continues the sequence instead of colliding with the server's retry marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reqnum: Option<u16>,
}

/// Read a `--kz-fleet` file: one JSON object `{"system_id": …, "token": …}` per line; blank
/// lines and lines starting with `#` are skipped. Duplicate system IDs are refused.
pub fn read_fleet(path: &Path) -> Result<Vec<KzCredential>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut fleet: Vec<KzCredential> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let c: KzCredential =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        fleet.push(c);
    }
    let mut ids: Vec<u32> = fleet.iter().map(|c| c.system_id).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "{}: system ID {} appears twice",
            path.display(),
            w[0]
        ));
    }
    if fleet.is_empty() {
        return Err(format!("{}: no registers", path.display()));
    }
    Ok(fleet)
}

/// Write the fleet's credentials as JSON lines (atomically: a temporary file, then rename).
pub fn write_fleet(path: &Path, fleet: &[KzCredential]) -> std::io::Result<()> {
    let mut text = String::new();
    for c in fleet {
        text.push_str(&serde_json::to_string(c).unwrap_or_default());
        text.push('\n');
    }
    let tmp = path.with_extension("tmp-ofd-load");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// What a Kazakh run does besides the link profile.
#[derive(Debug, Clone, PartialEq)]
pub struct KzOptions {
    /// The registers (system ID, token). Their number is the run's register count.
    pub fleet: Vec<KzCredential>,
    /// A register closes its shift after this many tickets (0: never).
    pub shift_tickets: u32,
    /// Probability that a request is a money placement instead of a ticket.
    pub placement_chance: f64,
    /// `sim` only: probability per ticket that the register goes offline.
    pub offline_chance: f64,
    /// Most tickets a register queues in one offline period (≥ 1).
    pub offline_max: u32,
    /// Ticket numbers must be consecutive per register (ofdd numbers 1, 2, 3, …); `false`: only
    /// increasing (servers that number globally).
    pub consecutive: bool,
    /// The registers' local time zone, seconds east of UTC (Kazakhstan: +5 h).
    pub utc_offset_secs: i32,
}

impl Default for KzOptions {
    fn default() -> Self {
        KzOptions {
            fleet: Vec::new(),
            shift_tickets: 100,
            placement_chance: 0.03,
            offline_chance: 0.01,
            offline_max: 8,
            consecutive: true,
            utc_offset_secs: 5 * 3600,
        }
    }
}

/// What a request was, to check its answer against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Index of the register in its dialect.
    register: usize,
    reqnum: u16,
    command: Command,
    /// A ticket replayed from the offline queue.
    offline: bool,
    /// It carries the offline period that ended before it.
    period: bool,
}

/// One simulated KKM.
#[derive(Debug)]
struct Register {
    kkm: Kkm,
    /// A request is outstanding.
    busy: bool,
    info_sent: bool,
    tickets_in_shift: u32,
    /// The number of its last ticket answered OK.
    last_ticket: Option<u64>,
    /// A ticket's answer was lost for good (given up, undecodable): the next number may skip.
    gap_ok: bool,
    /// Cash put in by placements since the last shift close, less withdrawals, tiyn: a
    /// withdrawal never takes more, so it cannot be refused for want of cash.
    deposited: u64,
    /// Offline: more tickets to queue before the link comes back.
    offline_left: u32,
    offline_begin: LocalDateTime,
    offline_last: LocalDateTime,
    /// The offline period to report with the first replayed ticket.
    period: Option<(LocalDateTime, LocalDateTime)>,
    queue: VecDeque<TicketSpec>,
    next_offline_number: u32,
    rng: Rng,
}

impl Register {
    fn new(c: &KzCredential, seed: u64) -> Register {
        let mut rng = Rng::new(seed ^ u64::from(c.system_id).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut kkm = Kkm::new(c.system_id, c.token);
        // Continue a known sequence; otherwise start somewhere random, so that a rerun's first
        // REQNUM does not equal the server's last one (which would make it a retry).
        kkm.reqnum = c.reqnum.unwrap_or_else(|| rng.range(0, 60_000) as u16);
        Register {
            kkm,
            busy: false,
            info_sent: false,
            tickets_in_shift: 0,
            last_ticket: None,
            gap_ok: false,
            deposited: 0,
            offline_left: 0,
            offline_begin: LocalDateTime::default(),
            offline_last: LocalDateTime::default(),
            period: None,
            queue: VecDeque::new(),
            next_offline_number: 1,
            rng,
        }
    }

    /// Its offline queue is waiting to be replayed (nothing new may be sent before it).
    fn replay_pending(&self) -> bool {
        self.offline_left == 0 && !self.queue.is_empty()
    }

    fn queue_offline(&mut self, time: LocalDateTime) {
        let mut t = TicketSpec::sample(self.rng.next_u64(), time);
        t.offline_ticket_number = Some(self.next_offline_number);
        self.next_offline_number = self.next_offline_number.wrapping_add(1).max(1);
        self.queue.push_back(t);
        self.tickets_in_shift += 1;
        self.offline_last = time;
        if self.offline_left == 0 {
            self.period = Some((self.offline_begin, time));
        }
    }
}

/// The KKM–OFD protocol for a worker's registers.
#[derive(Debug)]
pub struct KzDialect {
    registers: Vec<Register>,
    next: usize,
    limits: FrameLimits,
    opts: KzOptions,
}

impl KzDialect {
    /// A dialect for `fleet` (this worker's share); `offline` enables offline periods (`sim`).
    pub fn new(fleet: &[KzCredential], opts: &KzOptions, offline: bool, seed: u64) -> KzDialect {
        let mut opts = KzOptions {
            fleet: Vec::new(),
            ..opts.clone()
        };
        if !offline {
            opts.offline_chance = 0.0;
        }
        KzDialect {
            registers: fleet.iter().map(|c| Register::new(c, seed)).collect(),
            next: 0,
            limits: FrameLimits::default(),
            opts,
        }
    }

    /// Each register's system ID, current token and last REQNUM (after a run: what to use next).
    pub fn credentials(&self) -> impl Iterator<Item = KzCredential> + '_ {
        self.registers.iter().map(|r| KzCredential {
            system_id: r.kkm.id,
            token: r.kkm.token,
            reqnum: Some(r.kkm.reqnum),
        })
    }

    fn send(
        &mut self,
        i: usize,
        request: &kkm::Request,
        offline: bool,
        period: bool,
        buf: &mut Vec<u8>,
    ) -> Result<Sent, ErrorKind> {
        let r = self.registers.get_mut(i).ok_or(ErrorKind::Build)?;
        *buf = r.kkm.frame(request);
        if buf.is_empty() {
            return Err(ErrorKind::Build);
        }
        r.busy = true;
        Ok(Sent {
            register: i,
            reqnum: r.kkm.reqnum,
            command: Command::from_wire(request.command).ok_or(ErrorKind::Build)?,
            offline,
            period,
        })
    }

    /// The next request of register `i`.
    fn issue_for(
        &mut self,
        i: usize,
        time: u32,
        buf: &mut Vec<u8>,
    ) -> Result<Issued<Sent>, ErrorKind> {
        let local = LocalDateTime::from_unix(u64::from(time), self.opts.utc_offset_secs);
        let opts = &self.opts;
        let r = self.registers.get_mut(i).ok_or(ErrorKind::Build)?;
        let request = if !r.info_sent {
            r.info_sent = true;
            builder::info()
        } else if r.offline_left > 0 {
            r.offline_left -= 1;
            r.queue_offline(local);
            return Ok(Issued::Queued);
        } else if opts.shift_tickets > 0 && r.tickets_in_shift >= opts.shift_tickets {
            r.tickets_in_shift = 0;
            r.deposited = 0;
            builder::close_shift(local, true)
        } else if r.rng.chance(opts.placement_chance) {
            if r.deposited > 0 && r.rng.chance(0.3) {
                let sum = r.rng.range(1, r.deposited);
                r.deposited -= sum;
                builder::money_placement(true, sum, local)
            } else {
                let sum = r.rng.range(100, 5_000_000);
                r.deposited = r.deposited.saturating_add(sum);
                builder::money_placement(false, sum, local)
            }
        } else if r.rng.chance(opts.offline_chance) {
            r.offline_begin = local;
            r.offline_left = r.rng.range(0, u64::from(opts.offline_max.max(1) - 1)) as u32;
            r.queue_offline(local);
            return Ok(Issued::WentOffline);
        } else {
            r.tickets_in_shift += 1;
            TicketSpec::sample(r.rng.next_u64(), local).request()
        };
        self.send(i, &request, false, false, buf).map(Issued::Send)
    }

    /// Check one answer; the register is free again whatever it says.
    fn check_answer(
        &mut self,
        frame: &[u8],
        sent: &Sent,
        retry: bool,
        stats: &mut Stats,
    ) -> Result<u8, ErrorKind> {
        let consecutive = self.opts.consecutive;
        let r = self
            .registers
            .get_mut(sent.register)
            .ok_or(ErrorKind::UnexpectedAck)?;
        r.busy = false;
        let (h, resp) = decode_response(frame).map_err(|_| ErrorKind::Decode)?;
        if h.id != r.kkm.id {
            return Err(ErrorKind::KzIdMismatch);
        }
        if h.reqnum != sent.reqnum {
            return Err(ErrorKind::KzReqnumMismatch);
        }
        // Follow the token the answer carries (a rotation, or the same token again).
        let before = r.kkm.token;
        r.kkm.accept(&h);
        if r.kkm.token != before {
            stats.kz.token_rotations += 1;
        }
        if resp.command != sent.command.wire() {
            return Err(ErrorKind::KzCommandMismatch);
        }
        match resp.result.result_code {
            0 => {}
            1 => return Err(ErrorKind::KzCode1),
            2 => return Err(ErrorKind::KzCode2),
            8 | 9 => return Err(ErrorKind::KzCode8Or9),
            11 => return Err(ErrorKind::KzCode11),
            254 => return Err(ErrorKind::KzCode254),
            _ => return Err(ErrorKind::KzCodeOther),
        }
        if sent.command == Command::Ticket {
            let number = resp
                .ticket
                .as_ref()
                .and_then(|t| t.ticket_number.parse::<u64>().ok())
                .ok_or(ErrorKind::KzTicketNumber)?;
            if let Some(prev) = r.last_ticket {
                let next_expected = consecutive && !r.gap_ok;
                if number <= prev || (next_expected && number != prev.saturating_add(1)) {
                    r.gap_ok = true;
                    r.last_ticket = Some(number.max(prev));
                    return Err(ErrorKind::KzTicketNumber);
                }
            }
            r.last_ticket = Some(number);
            r.gap_ok = false;
            stats.kz.tickets += 1;
            if sent.offline {
                stats.kz.offline_tickets += 1;
            }
        }
        if sent.period {
            stats.kz.offline_periods += 1;
        }
        if retry {
            stats.kz.retries_answered += 1;
        }
        Ok(u8::try_from(sent.command.wire()).unwrap_or(u8::MAX))
    }
}

impl Dialect for KzDialect {
    type Sent = Sent;

    /// The head of an offline queue whose link is back, in order.
    fn replay(&mut self, _time: u32, buf: &mut Vec<u8>) -> Option<Result<Sent, ErrorKind>> {
        let n = self.registers.len();
        let i = (0..n).map(|k| (self.next + k) % n).find(|&i| {
            self.registers
                .get(i)
                .is_some_and(|r| !r.busy && r.replay_pending())
        })?;
        let r = self.registers.get_mut(i)?;
        let spec = r.queue.pop_front()?;
        let period = r.period.take();
        let mut request = spec.request();
        if let Some((begin, end)) = period {
            request.service = Some(kkm::ServiceRequest {
                offline_period: Some(kkm::service_request::OfflinePeriod {
                    begin_time: begin.to_wire(),
                    end_time: end.to_wire(),
                }),
                ..kkm::ServiceRequest::default()
            });
        }
        Some(self.send(i, &request, true, period.is_some(), buf))
    }

    fn can_issue(&self) -> bool {
        self.registers
            .iter()
            .any(|r| !r.busy && !r.replay_pending())
    }

    fn issue(&mut self, time: u32, buf: &mut Vec<u8>) -> Result<Issued<Sent>, ErrorKind> {
        let n = self.registers.len();
        for _ in 0..n {
            let i = self.next % n;
            self.next = self.next.wrapping_add(1);
            if self
                .registers
                .get(i)
                .is_some_and(|r| !r.busy && !r.replay_pending())
            {
                return self.issue_for(i, time, buf);
            }
        }
        Err(ErrorKind::Build)
    }

    /// No more tickets: every register still offline comes back and replays its queue.
    fn flush(&mut self) {
        for r in &mut self.registers {
            if r.offline_left > 0 {
                r.offline_left = 0;
                if !r.queue.is_empty() {
                    r.period = Some((r.offline_begin, r.offline_last));
                }
            }
        }
    }

    fn owed(&self) -> usize {
        self.registers.iter().map(|r| r.queue.len()).sum()
    }

    fn frame(&self, buf: &[u8]) -> Result<Option<usize>, ErrorKind> {
        match check_frame(buf, &self.limits) {
            Ok(Framing::Complete { len }) => Ok(Some(len)),
            Ok(Framing::Incomplete { .. }) => Ok(None),
            Err(_) => Err(ErrorKind::Framing),
        }
    }

    fn check(
        &mut self,
        frame: &[u8],
        sent: &Sent,
        retry: bool,
        stats: &mut Stats,
    ) -> Result<u8, ErrorKind> {
        let result = self.check_answer(frame, sent, retry, stats);
        if result.is_err()
            && sent.command == Command::Ticket
            && let Some(r) = self.registers.get_mut(sent.register)
        {
            // The server may or may not have numbered it: the next number may skip one.
            r.gap_ok = true;
        }
        result
    }

    fn abandon(&mut self, sent: &Sent) {
        if let Some(r) = self.registers.get_mut(sent.register) {
            r.busy = false;
            if sent.command == Command::Ticket {
                r.gap_ok = true;
            }
        }
    }
}

/// What `--register-via` registers for a Kazakh fleet: one register per index, unique per
/// (seed, index) for seeds below 10^5 and fleets below 10^6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KzRegistration {
    /// Registration number in the tax committee (RNM), 12 digits.
    pub registration_number: String,
    pub serial: String,
    /// Taxpayer IIN/BIN, 12 digits with a valid check digit.
    pub iin_bin: String,
    pub name: String,
    pub pos_address: String,
}

/// The registrations of a fleet of `registers` for run seed `seed`.
pub fn registrations(seed: u64, registers: usize) -> Vec<KzRegistration> {
    let iin_bin = bin_for(seed);
    (0..registers)
        .map(|i| KzRegistration {
            registration_number: format!("6{:05}{:06}", seed % 100_000, i % 1_000_000),
            serial: format!("OFDLOAD-{}-{i}", seed % 1_000_000),
            iin_bin: iin_bin.clone(),
            name: format!("ТОО «ofd-load {}»", seed % 1_000_000),
            pos_address: format!("г. Алматы, пр. Абая, {}", i + 1),
        })
        .collect()
}

/// The check digit of an IIN/BIN's first 11 digits (the public rule: weights 1–11 mod 11; if
/// that is 10, weights 3–11, 1, 2; if that is 10 again the number is invalid: `None`).
pub fn iin_bin_check_digit(digits: &[u8; 11]) -> Option<u8> {
    let sum = |w: &dyn Fn(usize) -> u32| -> u32 {
        digits
            .iter()
            .enumerate()
            .map(|(i, d)| u32::from(*d) * w(i))
            .sum::<u32>()
            % 11
    };
    let first = sum(&|i| i as u32 + 1);
    if first != 10 {
        return u8::try_from(first).ok();
    }
    let second = sum(&|i| ((i as u32 + 2) % 11) + 1);
    (second != 10).then(|| u8::try_from(second).ok()).flatten()
}

/// A valid BIN (a legal entity's: YYMM, type 4, …) derived from the seed.
fn bin_for(seed: u64) -> String {
    let mut base = 1_540_000_000u64 + seed % 10_000_000;
    loop {
        let s = format!("{:011}", base % 100_000_000_000);
        let mut d = [0u8; 11];
        for (dst, c) in d.iter_mut().zip(s.bytes()) {
            *dst = c - b'0';
        }
        if let Some(check) = iin_bin_check_digit(&d) {
            return format!("{s}{check}");
        }
        base += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        // Every generated BIN verifies.
        for seed in 0..200 {
            let bin = bin_for(seed);
            assert_eq!(bin.len(), 12);
            let d: Vec<u8> = bin.bytes().map(|c| c - b'0').collect();
            let first: [u8; 11] = d[..11].try_into().unwrap();
            assert_eq!(iin_bin_check_digit(&first), Some(d[11]));
        }
        // Weights 1..11 on 1,0,0,…: 1.
        assert_eq!(
            iin_bin_check_digit(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Some(1)
        );
        // First sum 10 (digit 10 at weight 1 is impossible; use 5 at weight 2), second 5*4 % 11 = 9.
        assert_eq!(
            iin_bin_check_digit(&[0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Some(9)
        );
    }

    #[test]
    fn registrations_are_distinct() {
        let regs = registrations(42, 300);
        let mut rn: Vec<_> = regs.iter().map(|r| &r.registration_number).collect();
        rn.sort();
        rn.dedup();
        assert_eq!(rn.len(), 300);
        assert!(regs.iter().all(|r| r.registration_number.len() == 12));
    }

    #[test]
    fn fleet_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fleet.jsonl");
        std::fs::write(
            &p,
            "# test\n{\"system_id\":1,\"token\":2}\n\n{\"system_id\":3,\"token\":4,\"reqnum\":9}\n",
        )
        .unwrap();
        let f = read_fleet(&p).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].reqnum, Some(9));
        write_fleet(&p, &f).unwrap();
        assert_eq!(read_fleet(&p).unwrap(), f);
        std::fs::write(
            &p,
            "{\"system_id\":1,\"token\":2}\n{\"system_id\":1,\"token\":3}\n",
        )
        .unwrap();
        assert!(read_fleet(&p).unwrap_err().contains("twice"));
    }
}
