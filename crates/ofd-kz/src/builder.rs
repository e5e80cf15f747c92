//! Valid requests, for tests, fuzz seeds, the daemon's tests and `ofd-load --protocol kz`.
//!
//! [`Kkm`] plays the register's side of the header: it numbers requests (REQNUM +1, wrapping),
//! sends its latest token, adopts a new token from an answer, and can resend a request with the
//! same TOKEN and REQNUM (a retry). The free functions build request bodies; [`TicketSpec`]
//! describes a ticket in integers and [`TicketSpec::sample`] makes a varied, valid one from a
//! seed (1–30 items, cash/card/mobile payments, VAT), deterministic so failures replay.

use crate::codec::encode_request;
use crate::header::{Header, VERSION_202};
use crate::kkm;
use crate::kkm::ticket_request as tr;
use crate::money::from_tiyn;
use crate::time::LocalDateTime;

/// VAT's tax type code.
pub const TAX_VAT: u32 = 100;
/// Taxation type "general regime" (RTS).
pub const TAXATION_RTS: u32 = 101;

/// A register's side of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kkm {
    pub version: u16,
    pub id: u32,
    pub token: u32,
    /// The REQNUM of the last request framed.
    pub reqnum: u16,
}

impl Kkm {
    /// A register with its system ID and token, before its first request.
    pub fn new(id: u32, token: u32) -> Kkm {
        Kkm {
            version: VERSION_202,
            id,
            token,
            reqnum: 0,
        }
    }

    /// Frame a new request: REQNUM +1 (wrapping), the current token.
    pub fn frame(&mut self, request: &kkm::Request) -> Vec<u8> {
        self.reqnum = self.reqnum.wrapping_add(1);
        self.resend(request)
    }

    /// Frame `request` with the current TOKEN and REQNUM again (a retry after a lost answer).
    pub fn resend(&self, request: &kkm::Request) -> Vec<u8> {
        let header = Header {
            version: self.version,
            size: 0,
            id: self.id,
            token: self.token,
            reqnum: self.reqnum,
        };
        encode_request(header, request).unwrap_or_default()
    }

    /// Frame a new request with `extra` protobuf bytes appended to its body, as a register that
    /// echoes raw fields sends it (e.g. [`crate::raw::echo_reg_info`]: protobuf merges a repeated
    /// singular message field into the first).
    pub fn frame_with(&mut self, request: &kkm::Request, extra: &[u8]) -> Vec<u8> {
        let mut frame = self.frame(request);
        if frame.len() < crate::header::HEADER_LEN {
            return frame;
        }
        frame.extend_from_slice(extra);
        let size = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        frame[4..8].copy_from_slice(&size.to_le_bytes());
        frame
    }

    /// Adopt the token of an answer (the protocol: use a new token from then on).
    pub fn accept(&mut self, answer: &Header) {
        if answer.id == self.id && answer.reqnum == self.reqnum {
            self.token = answer.token;
        }
    }
}

fn request(command: kkm::CommandTypeEnum) -> kkm::Request {
    kkm::Request {
        command: command as i32,
        ..kkm::Request::default()
    }
}

/// COMMAND_INFO, asking for reg info.
pub fn info() -> kkm::Request {
    kkm::Request {
        service: Some(kkm::ServiceRequest {
            get_reg_info: Some(true),
            ..kkm::ServiceRequest::default()
        }),
        ..request(kkm::CommandTypeEnum::CommandInfo)
    }
}

/// COMMAND_SYSTEM, optionally reporting an offline period.
pub fn system(offline: Option<(LocalDateTime, LocalDateTime)>) -> kkm::Request {
    kkm::Request {
        service: Some(kkm::ServiceRequest {
            offline_period: offline.map(|(b, e)| kkm::service_request::OfflinePeriod {
                begin_time: b.to_wire(),
                end_time: e.to_wire(),
            }),
            ..kkm::ServiceRequest::default()
        }),
        ..request(kkm::CommandTypeEnum::CommandSystem)
    }
}

/// COMMAND_MONEY_PLACEMENT of `sum_tiyn`.
pub fn money_placement(withdrawal: bool, sum_tiyn: u64, time: LocalDateTime) -> kkm::Request {
    kkm::Request {
        money_placement: Some(kkm::MoneyPlacementRequest {
            datetime: time.to_wire(),
            operation: i32::from(withdrawal),
            sum: from_tiyn(sum_tiyn),
            operator: Some(operator()),
            ..kkm::MoneyPlacementRequest::default()
        }),
        ..request(kkm::CommandTypeEnum::CommandMoneyPlacement)
    }
}

/// COMMAND_CLOSE_SHIFT (without the register's own Z report).
pub fn close_shift(time: LocalDateTime, withdraw_money: bool) -> kkm::Request {
    kkm::Request {
        close_shift: Some(kkm::CloseShiftRequest {
            close_time: time.to_wire(),
            withdraw_money: Some(withdraw_money),
            operator: Some(operator()),
            ..kkm::CloseShiftRequest::default()
        }),
        ..request(kkm::CommandTypeEnum::CommandCloseShift)
    }
}

/// COMMAND_REPORT: X (`x == true`) or the last Z.
pub fn report(x: bool, time: LocalDateTime) -> kkm::Request {
    kkm::Request {
        report: Some(kkm::ReportRequest {
            report: if x {
                kkm::ReportTypeEnum::ReportX as i32
            } else {
                kkm::ReportTypeEnum::ReportZ as i32
            },
            date_time: time.to_wire(),
            ..kkm::ReportRequest::default()
        }),
        ..request(kkm::CommandTypeEnum::CommandReport)
    }
}

/// COMMAND_AUTH.
pub fn auth(login: &str, password: &str) -> kkm::Request {
    kkm::Request {
        auth: Some(kkm::AuthRequest {
            login: login.to_owned(),
            password: password.to_owned(),
        }),
        ..request(kkm::CommandTypeEnum::CommandAuth)
    }
}

/// COMMAND_NOMENCLATURE.
pub fn nomenclature(current_version: u32) -> kkm::Request {
    kkm::Request {
        nomenclature: Some(kkm::NomenclatureRequest { current_version }),
        ..request(kkm::CommandTypeEnum::CommandNomenclature)
    }
}

fn operator() -> kkm::Operator {
    kkm::Operator {
        code: 1,
        name: Some("Кассир".to_owned()),
    }
}

/// One ticket line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSpec {
    pub name: String,
    pub section: String,
    /// Unit price, tiyn.
    pub price: u64,
    /// Thousandths (1000 == 1).
    pub quantity: u64,
    /// VAT in thousandths of a percent included in the line sum (12000 == 12 %), if any.
    pub vat_percent: Option<u32>,
}

impl ItemSpec {
    /// The line sum: price × quantity / 1000, rounded down (tiyn).
    pub fn sum(&self) -> u64 {
        u64::try_from(u128::from(self.price) * u128::from(self.quantity) / 1000).unwrap_or(u64::MAX)
    }

    /// The included VAT of the line: sum × p / (100 % + p), rounded down.
    pub fn vat(&self) -> Option<u64> {
        self.vat_percent.map(|p| {
            let p = u128::from(p);
            u64::try_from(u128::from(self.sum()) * p / (100_000 + p)).unwrap_or(0)
        })
    }
}

/// A ticket in integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSpec {
    /// `OperationTypeEnum` value (2 = SELL).
    pub operation: i32,
    pub time: LocalDateTime,
    pub items: Vec<ItemSpec>,
    /// Card part of the payment, tiyn (≤ the total); the rest is cash.
    pub card: u64,
    /// Mobile part, tiyn (card + mobile ≤ the total).
    pub mobile: u64,
    /// Extra cash handed over (the change), tiyn.
    pub change: u64,
    /// Set for a ticket replayed from the offline queue.
    pub offline_ticket_number: Option<u32>,
}

impl TicketSpec {
    /// Sum of the line sums, tiyn.
    pub fn total(&self) -> u64 {
        self.items
            .iter()
            .map(ItemSpec::sum)
            .fold(0, u64::saturating_add)
    }

    /// Cash applied to the total, tiyn.
    pub fn cash(&self) -> u64 {
        self.total()
            .saturating_sub(self.card)
            .saturating_sub(self.mobile)
    }

    /// A varied valid sale with 1–30 items from `seed` (a xorshift stream, no `rand`).
    pub fn sample(seed: u64, time: LocalDateTime) -> TicketSpec {
        let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let n = 1 + next() % 30;
        let items: Vec<ItemSpec> = (0..n)
            .map(|i| ItemSpec {
                name: format!("Товар {i}"),
                section: format!("{}", 1 + next() % 3),
                price: 50 + next() % 500_000,
                quantity: 1000 * (1 + next() % 5),
                vat_percent: (next() % 2 == 0).then_some(12_000),
            })
            .collect();
        let mut t = TicketSpec {
            operation: kkm::OperationTypeEnum::OperationSell as i32,
            time,
            items,
            card: 0,
            mobile: 0,
            change: 0,
            offline_ticket_number: None,
        };
        let total = t.total();
        match next() % 4 {
            0 => t.card = total,
            1 => t.card = total / 2,
            2 => t.mobile = total / 3,
            _ => t.change = next() % 100_000,
        }
        t
    }

    /// The TicketRequest.
    pub fn to_proto(&self) -> kkm::TicketRequest {
        let items = self
            .items
            .iter()
            .map(|i| tr::Item {
                r#type: tr::item::ItemTypeEnum::ItemTypeCommodity as i32,
                commodity: Some(tr::item::Commodity {
                    name: Some(i.name.clone()),
                    section_code: i.section.clone(),
                    quantity: i.quantity,
                    price: from_tiyn(i.price),
                    sum: from_tiyn(i.sum()),
                    taxes: i
                        .vat()
                        .map(|vat| tr::Tax {
                            tax_type: TAX_VAT,
                            taxation_type: Some(TAXATION_RTS),
                            percent: i.vat_percent.unwrap_or(0),
                            sum: from_tiyn(vat),
                            is_in_total_sum: true,
                        })
                        .into_iter()
                        .collect(),
                    measure_unit_code: Some("796".to_owned()),
                    ..tr::item::Commodity::default()
                }),
                ..tr::Item::default()
            })
            .collect();
        let mut payments = Vec::new();
        let cash = self.cash();
        if cash > 0 || self.change > 0 || (self.card == 0 && self.mobile == 0) {
            payments.push(tr::Payment {
                r#type: kkm::PaymentTypeEnum::PaymentCash as i32,
                sum: from_tiyn(cash.saturating_add(self.change)),
                ..tr::Payment::default()
            });
        }
        if self.card > 0 {
            payments.push(tr::Payment {
                r#type: kkm::PaymentTypeEnum::PaymentCard as i32,
                sum: from_tiyn(self.card),
                ..tr::Payment::default()
            });
        }
        if self.mobile > 0 {
            payments.push(tr::Payment {
                r#type: kkm::PaymentTypeEnum::PaymentMobile as i32,
                sum: from_tiyn(self.mobile),
                ..tr::Payment::default()
            });
        }
        let with_cash = cash > 0 || self.change > 0;
        kkm::TicketRequest {
            operation: self.operation,
            date_time: self.time.to_wire(),
            operator: operator(),
            domain: Some(tr::Domain {
                r#type: Some(kkm::DomainTypeEnum::DomainTrading as i32),
                ..tr::Domain::default()
            }),
            items,
            payments,
            amounts: tr::Amounts {
                total: from_tiyn(self.total()),
                taken: with_cash.then(|| from_tiyn(cash.saturating_add(self.change))),
                change: with_cash.then(|| from_tiyn(self.change)),
                ..tr::Amounts::default()
            },
            offline_ticket_number: self.offline_ticket_number,
            ..kkm::TicketRequest::default()
        }
    }

    /// COMMAND_TICKET with this ticket.
    pub fn request(&self) -> kkm::Request {
        kkm::Request {
            ticket: Some(self.to_proto()),
            ..request(kkm::CommandTypeEnum::CommandTicket)
        }
    }
}
