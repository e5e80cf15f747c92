//! What the server must remember about one register between requests, as plain values.
//!
//! The daemon keeps one [`RegisterFacts`] per system ID, hands it to
//! [`crate::decision::decide`], and persists the new value the decision returns **before**
//! sending the answer (a rotated token must be durable before a device can learn it). All types
//! derive serde so the daemon picks the encoding; nothing here touches a store.

use crate::ticket::OPERATIONS;
use crate::time::LocalDateTime;
use crate::totals::{Counters, ShiftTotals};

/// Registry status of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RegisterStatus {
    /// Served normally.
    Registered,
    /// Blocked by the operator: every request gets 15 until unblocked.
    Blocked,
    /// Deregistered: every request gets 15.
    Deregistered,
}

/// Registration data sent back in `reg_info` (INFO, `get_reg_info`), and the registration
/// number the receipt-check QR code carries. Empty strings are left out of answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegInfo {
    /// Registration number issued by the tax committee (RNM), `KkmRegInfo.fns_kkm_id`.
    pub registration_number: String,
    /// Factory serial number.
    pub serial_number: String,
    /// The operator's id of the register (ofdd: the system ID as text).
    pub kkm_id: String,
    pub point_of_payment_number: String,
    pub terminal_number: String,
    pub org_title: String,
    pub org_address: String,
    /// Taxpayer IIN/BIN.
    pub org_inn: String,
    /// Activity classifier (OKED).
    pub org_okved: String,
    pub pos_title: String,
    pub pos_address: String,
    /// The register's model, as registered (informational; not sent).
    #[serde(default)]
    pub model: String,
    /// Year of manufacture, 0 if not given (informational; not sent).
    #[serde(default)]
    pub year: u16,
    /// How it reaches the operator: `sim`, `wired`, … (informational; not sent).
    #[serde(default)]
    pub connection: String,
}

/// The last request that passed the token check: what a retry is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastExchange {
    /// The TOKEN the request carried (the *previous* token if its answer rotated it).
    pub token: u32,
    pub reqnum: u16,
    /// Its command code as sent.
    pub command: i32,
}

/// An open shift.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenShift {
    /// Counted from registration.
    pub number: u32,
    /// Server time (Unix seconds) the shift was opened: the open-shift limit runs on it.
    pub opened_at: u64,
    /// The register's local time of the operation that opened it (the report's open time).
    pub opened_local: LocalDateTime,
    /// Non-nullable sums when it opened, tiyn.
    pub start_non_nullable: [u64; OPERATIONS],
    pub totals: ShiftTotals,
}

/// The last document the server accepted (INFO's `last_document_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastDocument {
    pub shift_number: u32,
    pub printed_document_number: Option<u64>,
}

/// Everything the decision needs about one register.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegisterFacts {
    pub status: RegisterStatus,
    pub reg: RegInfo,
    /// The current token.
    pub token: u32,
    /// The last authenticated request (for retries, codes 8 and 9).
    pub last: Option<LastExchange>,
    /// Answers that could have rotated the token since it last did (policy "every N").
    pub answers_since_rotation: u32,
    /// The number the next online or offline ticket gets (from 1, never reused).
    pub next_ticket_number: u64,
    /// The number of the last shift opened (0: none yet).
    pub last_shift_number: u32,
    pub shift: Option<OpenShift>,
    /// Cash in the drawer, tiyn.
    pub cash: u64,
    pub counters: Counters,
    /// The last Z report, protobuf-encoded `ZXReport` (kept encoded so it is answered exactly
    /// as it was computed).
    pub last_z: Option<Vec<u8>>,
    pub last_document: Option<LastDocument>,
}

impl RegisterFacts {
    /// A freshly registered register with its first token.
    pub fn new(reg: RegInfo, token: u32) -> RegisterFacts {
        RegisterFacts {
            status: RegisterStatus::Registered,
            reg,
            token,
            last: None,
            answers_since_rotation: 0,
            next_ticket_number: 1,
            last_shift_number: 0,
            shift: None,
            cash: 0,
            counters: Counters::default(),
            last_z: None,
            last_document: None,
        }
    }
}
