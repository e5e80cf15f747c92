//! Command and result codes as Rust enums, so the decision logic matches on names, not numbers.
//!
//! On the wire both are plain integers (`Request.command` is an enum field prost keeps as `i32`
//! so unknown values survive decoding; `Result.result_code` is a `uint32` by design, so new codes
//! never break old decoders). [`Command::from_wire`] is where an unknown command becomes
//! [`ResultCode::UnknownCommand`].

use crate::kkm;

/// A command the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Command {
    System,
    Ticket,
    CloseShift,
    Report,
    Nomenclature,
    Info,
    MoneyPlacement,
    CancelTicket,
    Auth,
    Reserved,
}

impl Command {
    /// All commands, in code order.
    pub const ALL: [Command; 10] = [
        Command::System,
        Command::Ticket,
        Command::CloseShift,
        Command::Report,
        Command::Nomenclature,
        Command::Info,
        Command::MoneyPlacement,
        Command::CancelTicket,
        Command::Auth,
        Command::Reserved,
    ];

    /// The command of a wire code, `None` when unknown.
    pub fn from_wire(code: i32) -> Option<Command> {
        kkm::CommandTypeEnum::try_from(code).ok().map(|c| match c {
            kkm::CommandTypeEnum::CommandSystem => Command::System,
            kkm::CommandTypeEnum::CommandTicket => Command::Ticket,
            kkm::CommandTypeEnum::CommandCloseShift => Command::CloseShift,
            kkm::CommandTypeEnum::CommandReport => Command::Report,
            kkm::CommandTypeEnum::CommandNomenclature => Command::Nomenclature,
            kkm::CommandTypeEnum::CommandInfo => Command::Info,
            kkm::CommandTypeEnum::CommandMoneyPlacement => Command::MoneyPlacement,
            kkm::CommandTypeEnum::CommandCancelTicket => Command::CancelTicket,
            kkm::CommandTypeEnum::CommandAuth => Command::Auth,
            kkm::CommandTypeEnum::CommandReserved => Command::Reserved,
        })
    }

    /// The wire code.
    pub fn wire(self) -> i32 {
        self.proto() as i32
    }

    /// The generated enum value.
    pub fn proto(self) -> kkm::CommandTypeEnum {
        match self {
            Command::System => kkm::CommandTypeEnum::CommandSystem,
            Command::Ticket => kkm::CommandTypeEnum::CommandTicket,
            Command::CloseShift => kkm::CommandTypeEnum::CommandCloseShift,
            Command::Report => kkm::CommandTypeEnum::CommandReport,
            Command::Nomenclature => kkm::CommandTypeEnum::CommandNomenclature,
            Command::Info => kkm::CommandTypeEnum::CommandInfo,
            Command::MoneyPlacement => kkm::CommandTypeEnum::CommandMoneyPlacement,
            Command::CancelTicket => kkm::CommandTypeEnum::CommandCancelTicket,
            Command::Auth => kkm::CommandTypeEnum::CommandAuth,
            Command::Reserved => kkm::CommandTypeEnum::CommandReserved,
        }
    }

    /// Whether the protocol lets the server send a new token in the answer to this command
    /// (TICKET, CLOSE_SHIFT, MONEY_PLACEMENT, CANCEL_TICKET, RESERVED; never SYSTEM, REPORT,
    /// AUTH — devices may ignore those answers — and, by ofdd's choice, never INFO or
    /// NOMENCLATURE either).
    pub fn may_rotate_token(self) -> bool {
        matches!(
            self,
            Command::Ticket
                | Command::CloseShift
                | Command::MoneyPlacement
                | Command::CancelTicket
                | Command::Reserved
        )
    }

    /// A short fixed label for metrics and export subjects.
    pub fn label(self) -> &'static str {
        match self {
            Command::System => "system",
            Command::Ticket => "ticket",
            Command::CloseShift => "close_shift",
            Command::Report => "report",
            Command::Nomenclature => "nomenclature",
            Command::Info => "info",
            Command::MoneyPlacement => "money_placement",
            Command::CancelTicket => "cancel_ticket",
            Command::Auth => "auth",
            Command::Reserved => "reserved",
        }
    }
}

/// A result code ofdd sends (`Result.result_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ResultCode {
    Ok,
    UnknownId,
    InvalidToken,
    ProtocolError,
    UnknownCommand,
    UnsupportedCommand,
    InvalidRequestNumber,
    InvalidRetryRequest,
    OpenShiftTimeoutExpired,
    IncorrectRequestData,
    NotEnoughCash,
    Blocked,
    ServiceTemporarilyUnavailable,
}

impl ResultCode {
    /// Every code ofdd can send.
    pub const ALL: [ResultCode; 13] = [
        ResultCode::Ok,
        ResultCode::UnknownId,
        ResultCode::InvalidToken,
        ResultCode::ProtocolError,
        ResultCode::UnknownCommand,
        ResultCode::UnsupportedCommand,
        ResultCode::InvalidRequestNumber,
        ResultCode::InvalidRetryRequest,
        ResultCode::OpenShiftTimeoutExpired,
        ResultCode::IncorrectRequestData,
        ResultCode::NotEnoughCash,
        ResultCode::Blocked,
        ResultCode::ServiceTemporarilyUnavailable,
    ];

    /// The wire value.
    pub fn wire(self) -> u32 {
        let e = match self {
            ResultCode::Ok => kkm::ResultTypeEnum::ResultTypeOk,
            ResultCode::UnknownId => kkm::ResultTypeEnum::ResultTypeUnknownId,
            ResultCode::InvalidToken => kkm::ResultTypeEnum::ResultTypeInvalidToken,
            ResultCode::ProtocolError => kkm::ResultTypeEnum::ResultTypeProtocolError,
            ResultCode::UnknownCommand => kkm::ResultTypeEnum::ResultTypeUnknownCommand,
            ResultCode::UnsupportedCommand => kkm::ResultTypeEnum::ResultTypeUnsupportedCommand,
            ResultCode::InvalidRequestNumber => kkm::ResultTypeEnum::ResultTypeInvalidRequestNumber,
            ResultCode::InvalidRetryRequest => kkm::ResultTypeEnum::ResultTypeInvalidRetryRequest,
            ResultCode::OpenShiftTimeoutExpired => {
                kkm::ResultTypeEnum::ResultTypeOpenShiftTimeoutExpired
            }
            ResultCode::IncorrectRequestData => kkm::ResultTypeEnum::ResultTypeIncorrectRequestData,
            ResultCode::NotEnoughCash => kkm::ResultTypeEnum::ResultTypeNotEnoughCash,
            ResultCode::Blocked => kkm::ResultTypeEnum::ResultTypeBlocked,
            ResultCode::ServiceTemporarilyUnavailable => {
                kkm::ResultTypeEnum::ResultTypeServiceTemporarilyUnavailable
            }
        };
        e as u32
    }

    /// A short fixed label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            ResultCode::Ok => "ok",
            ResultCode::UnknownId => "unknown_id",
            ResultCode::InvalidToken => "invalid_token",
            ResultCode::ProtocolError => "protocol_error",
            ResultCode::UnknownCommand => "unknown_command",
            ResultCode::UnsupportedCommand => "unsupported_command",
            ResultCode::InvalidRequestNumber => "invalid_request_number",
            ResultCode::InvalidRetryRequest => "invalid_retry_request",
            ResultCode::OpenShiftTimeoutExpired => "open_shift_timeout_expired",
            ResultCode::IncorrectRequestData => "incorrect_request_data",
            ResultCode::NotEnoughCash => "not_enough_cash",
            ResultCode::Blocked => "blocked",
            ResultCode::ServiceTemporarilyUnavailable => "service_temporarily_unavailable",
        }
    }
}
