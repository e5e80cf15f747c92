//! The server's side of the protocol as one pure function: request in, decision out.
//!
//! quinn-proto style: [`decide`] gets the decoded header, the raw protobuf body, what the
//! registry and store know about the register ([`RegisterFacts`], or `None` for an unknown ID),
//! the operator [`Policy`], the server's `now`, whether the store is up, and a fresh random token
//! the daemon drew (this crate has no randomness or clock). It returns a [`Decision`]: either
//! "resend the stored answer" ([`Decision::Retry`]) or an [`Answer`] — result code, the encoded
//! answer, the new token if rotated, the new state to persist and the events for indexes and
//! export. Tests and fuzzers drive it without sockets; the daemon only stores and sends.
//!
//! The daemon's duty, in order: persist `Answer::state` (if any) together with the request and
//! `Answer::bytes` (the stored answer a retry gets) **durably**, then send `Answer::bytes`.
//!
//! Checks, in order (the first that fails answers):
//! 1. store unavailable → 254 (nothing else can be trusted to be current);
//! 2. unknown ID → 1;
//! 3. same REQNUM as the last authenticated request: same TOKEN and command → retry, same TOKEN
//!    other command → 9, other TOKEN → 8 (so the previous token still works for the retry of the
//!    request that rotated it);
//! 4. TOKEN ≠ the current token → 2;
//! 5. undecodable protobuf → 3;
//! 6. blocked or deregistered → 15;
//! 7. unknown command → 4; NOMENCLATURE, CANCEL_TICKET, RESERVED → 5;
//! 8. the command's own checks (missing body → 3, bad data → 13, missing mandatory ticket
//!    part → 15, open-shift limit → 11, not enough cash → 14).
//!
//! Answers of steps 1–5 change no state (an unauthenticated or unreadable request must not move
//! the retry marker); from step 6 on the request becomes the new [`LastExchange`].

use prost::Message;

use crate::codec::encode_response;
use crate::codes::{Command, ResultCode};
use crate::header::Header;
use crate::kkm;
use crate::money;
use crate::policy::Policy;
use crate::qr::qr_text;
use crate::state::{LastDocument, LastExchange, OpenShift, RegInfo, RegisterFacts, RegisterStatus};
use crate::ticket::{Reject, cash_comes_in, digest};
use crate::time::LocalDateTime;
use crate::totals::{ReportFrame, ShiftTotals, zx_report};

/// Everything a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The request's header (from [`crate::framing::split_frame`]).
    pub header: Header,
    /// The protobuf body after the header.
    pub body: &'a [u8],
    /// The register with the header's ID, `None` if no register has it.
    pub register: Option<&'a RegisterFacts>,
    pub policy: &'a Policy,
    /// Server time, Unix seconds.
    pub now: u64,
    /// `false` while the store cannot take writes: answer 254 and change nothing.
    pub store_available: bool,
    /// A fresh random token the daemon drew, used if this answer rotates the token. Ignored (no
    /// rotation) if it is 0 or equals the current or the request's token.
    pub fresh_token: u32,
}

/// What happened, for the daemon's indexes, metrics and export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A ticket was accepted and numbered.
    TicketAccepted {
        ticket_number: u64,
        shift_number: u32,
        /// Index of `OperationTypeEnum`.
        operation: usize,
        total_tiyn: u64,
        offline_ticket_number: Option<u32>,
        /// The ticket's own local time.
        time: LocalDateTime,
    },
    /// A shift was opened (implicitly, by its first ticket or money placement, or by closing a
    /// shift that had none).
    ShiftOpened { shift_number: u32 },
    /// A shift was closed; `z_report` is the encoded `ZXReport` sent back.
    ShiftClosed {
        shift_number: u32,
        z_report: Vec<u8>,
        /// Whether the register's own Z report (if it sent one) agrees with ours on ticket
        /// counts and sums per operation, money placements and cash.
        device_report_agrees: Option<bool>,
    },
    /// Cash put in or taken out.
    MoneyPlaced {
        withdrawal: bool,
        sum_tiyn: u64,
        shift_number: u32,
    },
    /// The register reported a period offline.
    OfflinePeriod {
        begin: LocalDateTime,
        end: LocalDateTime,
    },
    /// The answer carries a new token.
    TokenRotated { from: u32, to: u32 },
}

/// An answer to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub code: ResultCode,
    /// Why, when not OK (also in `result_text`).
    pub reason: &'static str,
    /// The request's command, if it decoded to a known one.
    pub command: Option<Command>,
    /// The answer's header (same ID, VERSION and REQNUM; the current or new token).
    pub header: Header,
    pub response: kkm::Response,
    /// Header + encoded response: what to store and send.
    pub bytes: Vec<u8>,
    /// The new token, if this answer rotates it.
    pub new_token: Option<u32>,
    /// The register's new state, to persist before sending; `None`: persist nothing.
    pub state: Option<RegisterFacts>,
    pub events: Vec<Event>,
}

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Same TOKEN, REQNUM and command as the last request: send the stored answer to it again,
    /// byte for byte, and change nothing.
    Retry,
    Answer(Box<Answer>),
}

impl Decision {
    /// The answer, unless this is a retry.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Decision::Retry => None,
            Decision::Answer(a) => Some(a),
        }
    }
}

/// What a command handler produced.
#[derive(Default)]
struct Reply {
    ticket: Option<kkm::TicketResponse>,
    report: Option<kkm::ReportResponse>,
    service: Option<kkm::ServiceResponse>,
    auth: Option<kkm::AuthResponse>,
    events: Vec<Event>,
}

/// Decide what to answer.
pub fn decide(input: &Input<'_>) -> Decision {
    let h = input.header;
    let request = kkm::Request::decode(input.body).ok();
    let command_wire = request.as_ref().map_or(0, |r| r.command);

    if !input.store_available {
        return reject(
            input,
            command_wire,
            None,
            Reject::new(
                ResultCode::ServiceTemporarilyUnavailable,
                "store unavailable",
            ),
            None,
        );
    }
    let Some(reg) = input.register else {
        return reject(
            input,
            command_wire,
            None,
            Reject::new(ResultCode::UnknownId, "unknown ID"),
            None,
        );
    };
    if let Some(last) = reg.last
        && last.reqnum == h.reqnum
    {
        if last.token != h.token {
            return reject(
                input,
                command_wire,
                None,
                Reject::new(
                    ResultCode::InvalidRequestNumber,
                    "same REQNUM as the last request with another TOKEN",
                ),
                None,
            );
        }
        match &request {
            Some(r) if r.command == last.command => return Decision::Retry,
            Some(_) => {
                return reject(
                    input,
                    command_wire,
                    None,
                    Reject::new(
                        ResultCode::InvalidRetryRequest,
                        "same TOKEN and REQNUM as the last request with another command",
                    ),
                    None,
                );
            }
            None => {}
        }
    }
    if h.token != reg.token {
        return reject(
            input,
            command_wire,
            None,
            Reject::new(ResultCode::InvalidToken, "wrong token"),
            None,
        );
    }
    let Some(request) = request else {
        return reject(
            input,
            0,
            None,
            Reject::new(ResultCode::ProtocolError, "undecodable protobuf body"),
            None,
        );
    };

    // From here on the request is authenticated and readable: it becomes the last exchange.
    let mut next = reg.clone();
    next.last = Some(LastExchange {
        token: h.token,
        reqnum: h.reqnum,
        command: request.command,
    });
    let command = Command::from_wire(request.command);
    if reg.status != RegisterStatus::Registered {
        let why = if reg.status == RegisterStatus::Blocked {
            "register blocked by the operator"
        } else {
            "register deregistered"
        };
        return reject(
            input,
            request.command,
            command,
            Reject::new(ResultCode::Blocked, why),
            Some(next),
        );
    }
    let Some(command) = command else {
        return reject(
            input,
            request.command,
            None,
            Reject::new(ResultCode::UnknownCommand, "unknown command"),
            Some(next),
        );
    };

    let mut work = next.clone();
    match handle(command, &request, &mut work, input) {
        Ok(mut reply) => {
            // Offline periods ride on any command after a return to online.
            if let Some(p) = request
                .service
                .as_ref()
                .and_then(|s| s.offline_period.as_ref())
                && let (Some(begin), Some(end)) = (
                    LocalDateTime::from_wire(&p.begin_time),
                    LocalDateTime::from_wire(&p.end_time),
                )
            {
                reply.events.push(Event::OfflinePeriod { begin, end });
            }
            let mut token = reg.token;
            let mut new_token = None;
            if command.may_rotate_token() {
                if input.policy.rotation.due(work.answers_since_rotation)
                    && input.fresh_token != 0
                    && input.fresh_token != reg.token
                    && input.fresh_token != h.token
                {
                    token = input.fresh_token;
                    new_token = Some(token);
                    work.token = token;
                    work.answers_since_rotation = 0;
                    reply.events.push(Event::TokenRotated {
                        from: reg.token,
                        to: token,
                    });
                } else {
                    work.answers_since_rotation = work.answers_since_rotation.saturating_add(1);
                }
            }
            let response = kkm::Response {
                command: request.command,
                result: kkm::Result {
                    result_code: ResultCode::Ok.wire(),
                    result_text: None,
                },
                ticket: reply.ticket,
                report: reply.report,
                nomenclature: None,
                service: reply.service,
                auth: reply.auth,
            };
            finish(
                h,
                token,
                ResultCode::Ok,
                "",
                Some(command),
                response,
                new_token,
                Some(work),
                reply.events,
            )
        }
        Err(r) => reject(input, request.command, Some(command), r, Some(next)),
    }
}

/// An error answer (same token, empty body besides the result).
fn reject(
    input: &Input<'_>,
    command_wire: i32,
    command: Option<Command>,
    r: Reject,
    state: Option<RegisterFacts>,
) -> Decision {
    let response = kkm::Response {
        command: command_wire,
        result: kkm::Result {
            result_code: r.code.wire(),
            result_text: Some(r.reason.to_owned()),
        },
        ..kkm::Response::default()
    };
    finish(
        input.header,
        input.header.token,
        r.code,
        r.reason,
        command,
        response,
        None,
        state,
        Vec::new(),
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    h: Header,
    token: u32,
    code: ResultCode,
    reason: &'static str,
    command: Option<Command>,
    response: kkm::Response,
    new_token: Option<u32>,
    state: Option<RegisterFacts>,
    events: Vec<Event>,
) -> Decision {
    let header = Header { token, ..h };
    let bytes = encode_response(header, &response).unwrap_or_default();
    let header = header
        .answer(token, bytes.len().saturating_sub(crate::header::HEADER_LEN))
        .unwrap_or(header);
    Decision::Answer(Box::new(Answer {
        code,
        reason,
        command,
        header,
        response,
        bytes,
        new_token,
        state,
        events,
    }))
}

fn handle(
    command: Command,
    req: &kkm::Request,
    st: &mut RegisterFacts,
    input: &Input<'_>,
) -> Result<Reply, Reject> {
    let missing = Reject::new(ResultCode::ProtocolError, "the command's body is missing");
    match command {
        Command::System => Ok(Reply {
            service: service_reply(req, st, false),
            ..Reply::default()
        }),
        Command::Ticket => ticket(req.ticket.as_ref().ok_or(missing)?, st, input),
        Command::MoneyPlacement => {
            money_placement(req.money_placement.as_ref().ok_or(missing)?, st, input)
        }
        Command::CloseShift => close_shift(req.close_shift.as_ref().ok_or(missing)?, st, input),
        Command::Report => report(req.report.as_ref().ok_or(missing)?, st, input),
        Command::Info => {
            let now = LocalDateTime::from_unix(input.now, input.policy.utc_offset_secs);
            let report = match &st.shift {
                Some(_) => x_report(st, now),
                None => last_z(st, now)?,
            };
            Ok(Reply {
                report: Some(report),
                service: service_reply(req, st, true),
                ..Reply::default()
            })
        }
        Command::Auth => {
            req.auth.as_ref().ok_or(missing)?;
            // ofdd keeps no cashier accounts: the documented answer to a login it cannot confirm.
            // The server trusts operator codes in every other request (document 3.11).
            Ok(Reply {
                auth: Some(kkm::AuthResponse {
                    result: kkm::auth_response::ResultTypeEnum::ResultTypeInvalidLoginPassword
                        as i32,
                    ..kkm::AuthResponse::default()
                }),
                ..Reply::default()
            })
        }
        Command::Nomenclature => Err(Reject::new(
            ResultCode::UnsupportedCommand,
            "ofdd keeps no operator-side nomenclature",
        )),
        Command::CancelTicket => Err(Reject::new(
            ResultCode::UnsupportedCommand,
            "CANCEL_TICKET is deprecated",
        )),
        Command::Reserved => Err(Reject::new(
            ResultCode::UnsupportedCommand,
            "reserved command",
        )),
    }
}

/// Open a shift if none is open; refuse with 11 if the open one is past the limit (not for
/// messages replayed from an offline queue, as the document says).
fn ensure_shift(
    st: &mut RegisterFacts,
    input: &Input<'_>,
    local: LocalDateTime,
    offline: bool,
    events: &mut Vec<Event>,
) -> Result<u32, Reject> {
    match &st.shift {
        Some(s) => {
            if !offline
                && input.now.saturating_sub(s.opened_at) > input.policy.open_shift_limit_secs
            {
                return Err(Reject::new(
                    ResultCode::OpenShiftTimeoutExpired,
                    "the shift has been open longer than allowed: close it",
                ));
            }
            Ok(s.number)
        }
        None => {
            let number = open_shift(st, input.now, local)?;
            events.push(Event::ShiftOpened {
                shift_number: number,
            });
            Ok(number)
        }
    }
}

fn open_shift(st: &mut RegisterFacts, now: u64, local: LocalDateTime) -> Result<u32, Reject> {
    let number = st
        .last_shift_number
        .checked_add(1)
        .ok_or(Reject::data("shift number overflows"))?;
    st.last_shift_number = number;
    st.shift = Some(OpenShift {
        number,
        opened_at: now,
        opened_local: local,
        start_non_nullable: st.counters.non_nullable,
        totals: ShiftTotals::default(),
    });
    Ok(number)
}

fn move_cash(st: &mut RegisterFacts, comes_in: bool, sum: u64) -> Result<(), Reject> {
    st.cash = if comes_in {
        money::add(st.cash, sum).map_err(Reject::money)?
    } else {
        money::sub(st.cash, sum)
            .map_err(|_| Reject::new(ResultCode::NotEnoughCash, "not enough cash in the drawer"))?
    };
    Ok(())
}

fn ticket(
    t: &kkm::TicketRequest,
    st: &mut RegisterFacts,
    input: &Input<'_>,
) -> Result<Reply, Reject> {
    let d = digest(t)?;
    let mut events = Vec::new();
    let shift_number = ensure_shift(st, input, d.time, d.offline, &mut events)?;
    move_cash(st, cash_comes_in(d.operation), d.cash)?;
    if let Some(s) = st.shift.as_mut() {
        s.totals.add_ticket(&d)?;
    }
    st.counters.add_ticket(&d)?;
    let number = st.next_ticket_number;
    st.next_ticket_number = number
        .checked_add(1)
        .ok_or(Reject::data("ticket number overflows"))?;
    st.last_document = Some(LastDocument {
        shift_number,
        printed_document_number: t.printed_document_number,
    });
    let qr = qr_text(
        &input.policy.qr_base_url,
        number,
        &st.reg.registration_number,
        d.total,
        d.time,
    );
    events.push(Event::TicketAccepted {
        ticket_number: number,
        shift_number,
        operation: d.operation,
        total_tiyn: d.total,
        offline_ticket_number: t.offline_ticket_number,
        time: d.time,
    });
    Ok(Reply {
        ticket: Some(kkm::TicketResponse {
            ticket_number: number.to_string(),
            qr_code: Some(qr.into_bytes()),
        }),
        events,
        ..Reply::default()
    })
}

fn money_placement(
    m: &kkm::MoneyPlacementRequest,
    st: &mut RegisterFacts,
    input: &Input<'_>,
) -> Result<Reply, Reject> {
    let local = LocalDateTime::from_wire(&m.datetime)
        .ok_or(Reject::data("datetime is not a valid date and time"))?;
    let withdrawal = match kkm::MoneyPlacementEnum::try_from(m.operation) {
        Ok(kkm::MoneyPlacementEnum::MoneyPlacementDeposit) => false,
        Ok(kkm::MoneyPlacementEnum::MoneyPlacementWithdrawal) => true,
        Err(_) => {
            return Err(Reject::new(
                ResultCode::ProtocolError,
                "unknown money placement operation",
            ));
        }
    };
    let sum = money::to_tiyn(&m.sum).map_err(Reject::money)?;
    let offline = m.is_offline.unwrap_or(false);
    let mut events = Vec::new();
    let shift_number = ensure_shift(st, input, local, offline, &mut events)?;
    move_cash(st, !withdrawal, sum)?;
    if let Some(s) = st.shift.as_mut() {
        s.totals.add_placement(withdrawal, sum, offline)?;
    }
    st.counters.add_placement(withdrawal)?;
    st.last_document = Some(LastDocument {
        shift_number,
        printed_document_number: m.printed_document_number,
    });
    events.push(Event::MoneyPlaced {
        withdrawal,
        sum_tiyn: sum,
        shift_number,
    });
    Ok(Reply {
        events,
        ..Reply::default()
    })
}

fn close_shift(
    c: &kkm::CloseShiftRequest,
    st: &mut RegisterFacts,
    input: &Input<'_>,
) -> Result<Reply, Reject> {
    let local = LocalDateTime::from_wire(&c.close_time)
        .ok_or(Reject::data("close_time is not a valid date and time"))?;
    let mut events = Vec::new();
    if st.shift.is_none() {
        // A register may close a shift in which nothing happened: it still gets its Z report.
        let number = open_shift(st, input.now, local)?;
        events.push(Event::ShiftOpened {
            shift_number: number,
        });
    }
    if c.withdraw_money.unwrap_or(false) && st.cash > 0 {
        let cash = st.cash;
        if let Some(s) = st.shift.as_mut() {
            s.totals
                .add_placement(true, cash, c.is_offline.unwrap_or(false))?;
        }
        st.counters.add_placement(true)?;
        st.cash = 0;
        events.push(Event::MoneyPlaced {
            withdrawal: true,
            sum_tiyn: cash,
            shift_number: st.last_shift_number,
        });
    }
    let Some(shift) = st.shift.take() else {
        return Err(Reject::data("no shift to close"));
    };
    let z = zx_report(&ReportFrame {
        shift_number: shift.number,
        date_time: local,
        open_shift_time: Some(shift.opened_local),
        close_shift_time: Some(local),
        totals: &shift.totals,
        counters: &st.counters,
        start_non_nullable: shift.start_non_nullable,
        cash: st.cash,
    });
    let encoded = z.encode_to_vec();
    let agrees = c.z_report.as_ref().map(|theirs| reports_agree(&z, theirs));
    st.last_z = Some(encoded.clone());
    st.last_document = Some(LastDocument {
        shift_number: shift.number,
        printed_document_number: c.printed_document_number,
    });
    events.push(Event::ShiftClosed {
        shift_number: shift.number,
        z_report: encoded,
        device_report_agrees: agrees,
    });
    Ok(Reply {
        report: Some(kkm::ReportResponse {
            report: kkm::ReportTypeEnum::ReportZ as i32,
            zx_report: Some(z),
        }),
        events,
        ..Reply::default()
    })
}

/// The figures a register and the server must agree on: tickets and their sums per operation,
/// money placements, cash.
fn reports_agree(ours: &kkm::ZxReport, theirs: &kkm::ZxReport) -> bool {
    let tickets = |r: &kkm::ZxReport| {
        let mut v: Vec<(i32, u32, u64, u32)> = r
            .ticket_operations
            .iter()
            .filter(|t| t.tickets_count > 0)
            .map(|t| {
                (
                    t.operation,
                    t.tickets_count,
                    t.tickets_sum.bills,
                    t.tickets_sum.coins,
                )
            })
            .collect();
        v.sort_unstable();
        v
    };
    let placements = |r: &kkm::ZxReport| {
        let mut v: Vec<(i32, u32, u64, u32)> = r
            .money_placements
            .iter()
            .filter(|p| p.operations_count > 0)
            .map(|p| {
                (
                    p.operation,
                    p.operations_count,
                    p.operations_sum.bills,
                    p.operations_sum.coins,
                )
            })
            .collect();
        v.sort_unstable();
        v
    };
    tickets(ours) == tickets(theirs)
        && placements(ours) == placements(theirs)
        && ours.cash_sum == theirs.cash_sum
}

fn x_report(st: &RegisterFacts, now: LocalDateTime) -> kkm::ReportResponse {
    let empty = ShiftTotals::default();
    let (number, open, totals, start) = match &st.shift {
        Some(s) => (
            s.number,
            Some(s.opened_local),
            &s.totals,
            s.start_non_nullable,
        ),
        // No open shift: the X report of the shift that would open next, empty.
        None => (
            st.last_shift_number.saturating_add(1),
            None,
            &empty,
            st.counters.non_nullable,
        ),
    };
    kkm::ReportResponse {
        report: kkm::ReportTypeEnum::ReportX as i32,
        zx_report: Some(zx_report(&ReportFrame {
            shift_number: number,
            date_time: now,
            open_shift_time: open,
            close_shift_time: None,
            totals,
            counters: &st.counters,
            start_non_nullable: start,
            cash: st.cash,
        })),
    }
}

/// The last Z report; before any, an empty one with shift number 0 dated `date` (document 3.8).
fn last_z(st: &RegisterFacts, date: LocalDateTime) -> Result<kkm::ReportResponse, Reject> {
    let z = match &st.last_z {
        Some(bytes) => kkm::ZxReport::decode(bytes.as_slice()).map_err(|_| {
            Reject::new(
                ResultCode::IncorrectRequestData,
                "stored Z report unreadable",
            )
        })?,
        None => zx_report(&ReportFrame {
            shift_number: 0,
            date_time: date,
            open_shift_time: None,
            close_shift_time: None,
            totals: &ShiftTotals::default(),
            counters: &st.counters,
            start_non_nullable: st.counters.non_nullable,
            cash: st.cash,
        }),
    };
    Ok(kkm::ReportResponse {
        report: kkm::ReportTypeEnum::ReportZ as i32,
        zx_report: Some(z),
    })
}

fn report(
    r: &kkm::ReportRequest,
    st: &mut RegisterFacts,
    _input: &Input<'_>,
) -> Result<Reply, Reject> {
    let local = LocalDateTime::from_wire(&r.date_time)
        .ok_or(Reject::data("date_time is not a valid date and time"))?;
    let report = match kkm::ReportTypeEnum::try_from(r.report) {
        Ok(kkm::ReportTypeEnum::ReportX) => x_report(st, local),
        Ok(kkm::ReportTypeEnum::ReportZ) => last_z(st, local)?,
        Err(_) => {
            return Err(Reject::new(
                ResultCode::ProtocolError,
                "unknown report type",
            ));
        }
    };
    Ok(Reply {
        report: Some(report),
        ..Reply::default()
    })
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn reg_info(reg: &RegInfo) -> kkm::service_response::RegInfo {
    kkm::service_response::RegInfo {
        kkm: Some(kkm::KkmRegInfo {
            point_of_payment_number: non_empty(&reg.point_of_payment_number),
            terminal_number: non_empty(&reg.terminal_number),
            fns_kkm_id: non_empty(&reg.registration_number),
            serial_number: non_empty(&reg.serial_number),
            kkm_id: non_empty(&reg.kkm_id),
        }),
        pos: Some(kkm::PosRegInfo {
            title: non_empty(&reg.pos_title),
            address: non_empty(&reg.pos_address),
            ..kkm::PosRegInfo::default()
        }),
        org: Some(kkm::OrgRegInfo {
            title: non_empty(&reg.org_title),
            address: non_empty(&reg.org_address),
            inn: non_empty(&reg.org_inn),
            okved: non_empty(&reg.org_okved),
            ..kkm::OrgRegInfo::default()
        }),
    }
}

/// The service part of an answer: reg info when asked (always for INFO) and, for INFO, the last
/// document. `None` when there is nothing to say.
fn service_reply(
    req: &kkm::Request,
    st: &RegisterFacts,
    info: bool,
) -> Option<kkm::ServiceResponse> {
    let asked = req
        .service
        .as_ref()
        .and_then(|s| s.get_reg_info)
        .unwrap_or(false);
    if !info && !asked {
        return None;
    }
    Some(kkm::ServiceResponse {
        reg_info: Some(reg_info(&st.reg)),
        last_document_info: if info {
            st.last_document
                .map(|d| kkm::service_response::LastDocumentInfo {
                    fr_shift_number: d.shift_number,
                    printed_document_number: d.printed_document_number,
                })
        } else {
            None
        },
        ..kkm::ServiceResponse::default()
    })
}
