//! The simulated fleet: one identity per register and the register's working day.
//!
//! Each register gets its own FN, RN (with valid check digits) and INN from
//! [`KktIdentity::generate`], seeded from the run seed and the register's index, so a run is
//! reproducible and two runs with different seeds never share an FN (an FD number reused with
//! different bytes is, rightly, a conflict for the daemon). Its documents follow a realistic
//! day — shift open, receipts of 1–50 items with the occasional correction (31) and current-state
//! report (21), shift close, next shift — with FD numbers increasing by one per document, as an
//! FN numbers them.
//!
//! Building is the expensive part of a document; [`Register::build_next`] writes into a buffer the
//! caller reuses, so the hot path allocates nothing once the buffers have grown.

use ofd_proto::ack::{ResponseCode, decode_ack};
use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::doctype::{DocType, FfdVersion};
use ofd_proto::error::ProtoError;
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::session::CrcMode;

use crate::link::{Dialect, Issued};
use crate::report::{ErrorKind, Stats};
use crate::rng::Rng;

/// Largest FD number the container can carry (3 bytes).
const MAX_FD: u32 = (1 << 24) - 1;

/// Identity seed of register `index` in a run seeded with `run_seed`: unique per (seed, index)
/// for seeds below 10^6 and fleets below 10^6 registers (the FN holds 12 free digits).
pub fn identity_seed(run_seed: u64, index: usize) -> u64 {
    (run_seed % 1_000_000) * 1_000_000 + index as u64
}

/// The identities of a whole fleet (what `--register-via` registers).
pub fn identities(run_seed: u64, registers: usize) -> Vec<KktIdentity> {
    (0..registers)
        .map(|i| KktIdentity::generate(identity_seed(run_seed, i)))
        .collect()
}

/// Where a register is in its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The next document opens a shift.
    Closed,
    /// A shift is open with this many receipts still to sell before closing it.
    Open { receipts_left: u32 },
}

/// One simulated register: its identity, FD counter and day schedule.
#[derive(Debug, Clone)]
pub struct Register {
    pub id: KktIdentity,
    ffd: FfdVersion,
    crc_mode: CrcMode,
    next_fd: u32,
    shift: u32,
    phase: Phase,
    rng: Rng,
}

/// What was built: enough to match the acknowledgement against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    pub fn_number: [u8; 16],
    pub fd_number: u32,
    pub doc_type: DocType,
}

impl Register {
    /// Register `index` of a fleet seeded with `run_seed`. Most registers speak FFD 1.05 and send
    /// no session CRC (flags `0x0014`, what real devices send); some use FFD 1.1 / 1.2 and the
    /// header+body CRC, so the daemon sees the whole mix.
    pub fn new(run_seed: u64, index: usize) -> Register {
        let seed = identity_seed(run_seed, index);
        let mut rng = Rng::new(seed ^ 0x0FD0_10AD);
        let ffd = match rng.range(0, 9) {
            0..=5 => FfdVersion::V1_05,
            6..=7 => FfdVersion::V1_1,
            _ => FfdVersion::V1_2,
        };
        let crc_mode = if rng.chance(0.7) {
            CrcMode::None
        } else {
            CrcMode::HeaderAndBody
        };
        Register {
            id: KktIdentity::generate(seed),
            ffd,
            crc_mode,
            next_fd: 1,
            shift: 1,
            phase: Phase::Closed,
            rng,
        }
    }

    /// The FN number (ASCII, as in the session header and tag 1041).
    pub fn fn_number(&self) -> &[u8; 16] {
        &self.id.fn_number
    }

    /// Whether this register's FN still has FD numbers left.
    pub fn exhausted(&self) -> bool {
        self.next_fd > MAX_FD
    }

    /// Plan the next document of the day (advancing the schedule) for time `now` (unix seconds).
    pub fn next_spec(&mut self, now: u32) -> DocSpec {
        let doc_type = match self.phase {
            Phase::Closed => {
                // A shift of 20–300 receipts, like a shop till's day.
                self.phase = Phase::Open {
                    receipts_left: self.rng.range(20, 300) as u32,
                };
                DocType::ShiftOpen
            }
            Phase::Open { receipts_left: 0 } => {
                self.phase = Phase::Closed;
                DocType::ShiftClose
            }
            Phase::Open { receipts_left } => {
                let roll = self.rng.unit();
                if roll < 0.02 {
                    DocType::ReceiptCorrection
                } else if roll < 0.03 {
                    DocType::CurrentState
                } else {
                    self.phase = Phase::Open {
                        receipts_left: receipts_left - 1,
                    };
                    DocType::Receipt
                }
            }
        };
        let fd_number = self.next_fd;
        self.next_fd = self.next_fd.saturating_add(1);
        let mut spec = DocSpec::new(doc_type, fd_number, now);
        spec.ffd = self.ffd;
        spec.crc_mode = self.crc_mode;
        spec.shift = self.shift;
        spec.items = self.items();
        if matches!(doc_type, DocType::CurrentState | DocType::ShiftClose) && self.rng.chance(0.1) {
            spec.untransmitted = self.rng.range(1, 5) as u32;
        }
        if doc_type == DocType::ShiftClose {
            self.shift = self.shift.saturating_add(1);
        }
        spec
    }

    /// Receipt size: 1–50 items, skewed towards small baskets (median ≈ 7, mean ≈ 13).
    fn items(&mut self) -> u16 {
        let x = self.rng.unit();
        1 + (49.0 * x * x * x) as u16
    }

    /// Plan and append the next document's message to `out` (cleared first).
    pub fn build_next(&mut self, now: u32, out: &mut Vec<u8>) -> Result<Built, ProtoError> {
        let spec = self.next_spec(now);
        out.clear();
        build_message(&self.id, &spec, out)?;
        Ok(Built {
            fn_number: self.id.fn_number,
            fd_number: spec.fd_number,
            doc_type: spec.doc_type,
        })
    }
}

/// The FN–OFD protocol for a worker's registers: their documents round robin, acknowledgements
/// checked for code 0 and the right FN and FD.
#[derive(Debug)]
pub struct FnDialect {
    registers: Vec<Register>,
    next_register: usize,
    limits: FrameLimits,
    /// Keep acknowledged (FN, FD) pairs for `--acked-out`.
    keep_acked: bool,
}

impl FnDialect {
    pub fn new(registers: Vec<Register>, keep_acked: bool) -> FnDialect {
        FnDialect {
            registers,
            next_register: 0,
            limits: FrameLimits {
                accept_unknown_p_version: true,
                ..FrameLimits::default()
            },
            keep_acked,
        }
    }
}

impl Dialect for FnDialect {
    type Sent = Built;

    /// The next document of the next register (round robin).
    fn issue(&mut self, time: u32, buf: &mut Vec<u8>) -> Result<Issued<Built>, ErrorKind> {
        let count = self.registers.len();
        for _ in 0..count {
            let i = self.next_register % count;
            self.next_register = self.next_register.wrapping_add(1);
            let Some(register) = self.registers.get_mut(i) else {
                break;
            };
            if !register.exhausted() {
                return register
                    .build_next(time, buf)
                    .map(Issued::Send)
                    .map_err(|_| ErrorKind::Build);
            }
        }
        // No register, or every FN is out of FD numbers: a fleet-model limit, counted as such.
        Err(ErrorKind::Build)
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
        sent: &Built,
        _retry: bool,
        stats: &mut Stats,
    ) -> Result<u8, ErrorKind> {
        match decode_ack(frame) {
            Err(_) => Err(ErrorKind::Decode),
            Ok(ack) if ack.fn_number != sent.fn_number => Err(ErrorKind::FnMismatch),
            Ok(ack) if ack.fd_number != sent.fd_number => Err(ErrorKind::FdMismatch),
            Ok(ack) => match ack.code {
                ResponseCode::Accepted => {
                    if self.keep_acked {
                        stats.acked_pairs.push((sent.fn_number, sent.fd_number));
                    }
                    Ok(sent.doc_type.as_u8())
                }
                ResponseCode::NotRecognised => Err(ErrorKind::Code11),
                ResponseCode::FormatLogic => Err(ErrorKind::Code14),
                ResponseCode::Other(_) => Err(ErrorKind::CodeOther),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ofd_proto::message::parse_message;
    use ofd_proto::validate::{ValidationConfig, validate};

    #[test]
    fn a_day_is_open_receipts_close_with_increasing_fd() {
        let mut r = Register::new(7, 3);
        let mut buf = Vec::new();
        let now = 1_750_000_000;
        let first = r.build_next(now, &mut buf).unwrap();
        assert_eq!(first.doc_type, DocType::ShiftOpen);
        assert_eq!(first.fd_number, 1);
        let mut fd = 1;
        let mut seen_close = false;
        let mut receipts = 0;
        for _ in 0..2000 {
            let b = r.build_next(now, &mut buf).unwrap();
            fd += 1;
            assert_eq!(b.fd_number, fd);
            let m = parse_message(&buf).unwrap();
            let d = validate(&m, &ValidationConfig::default(), now).unwrap();
            assert_eq!(d.fd_number, fd);
            match b.doc_type {
                DocType::Receipt => receipts += 1,
                DocType::ShiftClose => seen_close = true,
                DocType::ShiftOpen => assert!(
                    seen_close,
                    "a shift opens only after the previous one closed"
                ),
                DocType::ReceiptCorrection | DocType::CurrentState => {}
                other => panic!("unexpected document type {other:?}"),
            }
        }
        assert!(seen_close);
        assert!(receipts > 1500);
    }

    #[test]
    fn identities_are_distinct_and_reproducible() {
        let a = identities(5, 100);
        assert_eq!(a, identities(5, 100));
        let mut fns: Vec<_> = a.iter().map(|i| i.fn_number).collect();
        fns.sort();
        fns.dedup();
        assert_eq!(fns.len(), 100);
        assert_ne!(identities(6, 1)[0].fn_number, a[0].fn_number);
    }

    #[test]
    fn items_stay_within_1_to_50() {
        let mut r = Register::new(1, 1);
        for _ in 0..10_000 {
            assert!((1..=50).contains(&r.items()));
        }
    }
}
