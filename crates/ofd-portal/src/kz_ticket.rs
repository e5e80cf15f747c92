//! A Kazakh ticket and a logged exchange as the portal is told them. The portal does not know
//! the KKM–OFD protocol (see the crate's rules): the daemon decodes the stored request bytes
//! with `ofd-kz` into these plain values through [`crate::Services`], and the pages only compare
//! and render them. Money is in tiyn.

/// What a ticket records, in the protocol's order (`OperationTypeEnum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KzOperation {
    Buy,
    BuyReturn,
    Sell,
    SellReturn,
}

impl KzOperation {
    pub const ALL: [KzOperation; 4] = [
        KzOperation::Buy,
        KzOperation::BuyReturn,
        KzOperation::Sell,
        KzOperation::SellReturn,
    ];

    /// The protocol's number of the operation.
    pub fn from_wire(v: i64) -> Option<KzOperation> {
        usize::try_from(v)
            .ok()
            .and_then(|i| KzOperation::ALL.get(i))
            .copied()
    }

    /// Its place in [`KzOperation::ALL`] (and the protocol's number).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a ticket was paid (`PaymentTypeEnum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KzPayment {
    Cash,
    Card,
    Credit,
    Tare,
    Mobile,
}

/// One line of a ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KzItem {
    pub name: String,
    /// Thousandths: 2500 is 2.5.
    pub quantity_milli: u64,
    pub price: u64,
    pub sum: u64,
    /// A cancelled line (its sum is taken off).
    pub storno: bool,
}

/// An accepted ticket with its register's details, for the public check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KzTicket {
    pub system_id: u32,
    /// The register's registration number (RNM), the QR code's `f`.
    pub registration_number: String,
    pub serial: String,
    pub org_inn: String,
    pub org_name: String,
    pub pos_title: String,
    pub pos_address: String,
    /// The number the OFD gave the ticket, the QR code's `i`.
    pub ticket_number: u64,
    pub shift: Option<u32>,
    pub operation: KzOperation,
    /// The ticket's own local time as `yyyyMMddTHHmmss`, the QR code's `t`.
    pub time: String,
    pub cashier: String,
    pub items: Vec<KzItem>,
    pub discount: u64,
    pub markup: u64,
    /// The QR code's `s`.
    pub total: u64,
    pub payments: Vec<(KzPayment, u64)>,
    pub change: u64,
    /// VAT and other taxes: (percent in thousandths, sum).
    pub taxes: Vec<(u32, u64)>,
    /// Made while the register was offline (its own number, sent later).
    pub offline: bool,
    /// The QR text the OFD answered with.
    pub qr: String,
}

/// Ticket counts and sums of a shift by operation, indexed as [`KzOperation::ALL`].
pub type KzShiftSums = [(u32, u64); 4];

/// What a logged exchange means to the shift reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KzExchange {
    /// An accepted ticket.
    Ticket {
        operation: KzOperation,
        total: u64,
        /// The ticket's local time, `yyyyMMddTHHmmss`.
        time: String,
    },
    /// An accepted shift close (the Z report).
    CloseShift {
        /// The close's local time, `yyyyMMddTHHmmss`.
        time: Option<String>,
        /// The ticket totals of the register's own Z report, when the request carries one.
        register_sums: Option<KzShiftSums>,
    },
    /// Anything else (money placements, X reports, info, refusals).
    Other,
}
