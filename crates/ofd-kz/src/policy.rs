//! The operator's choices the protocol leaves open.

/// When the server gives a register a new token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRotation {
    /// Keep the token until the operator issues a new one.
    Never,
    /// Every N-th successful answer that may carry a new token (N ≥ 1; 0 behaves as 1).
    EveryN(u32),
    /// Every successful answer that may carry one.
    Always,
}

/// Operator policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Token rotation in answers to TICKET, CLOSE_SHIFT, MONEY_PLACEMENT (never to SYSTEM,
    /// REPORT, AUTH, INFO, NOMENCLATURE).
    pub rotation: TokenRotation,
    /// How long a shift may stay open (server clock); past it tickets and money placements get
    /// code 11 until the shift is closed. Default 24 h.
    pub open_shift_limit_secs: u64,
    /// Base URL of the public receipt check (the QR code's text starts with it).
    pub qr_base_url: String,
    /// Seconds east of UTC of the registers' local time, for report times the request does not
    /// carry (INFO). Default +5 h (Kazakhstan).
    pub utc_offset_secs: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rotation: TokenRotation::Never,
            open_shift_limit_secs: 24 * 3600,
            qr_base_url: "http://consumer.ofd.invalid".to_owned(),
            utc_offset_secs: 5 * 3600,
        }
    }
}

impl TokenRotation {
    /// Whether the answer after `answers_since_rotation` earlier rotatable answers rotates.
    pub fn due(self, answers_since_rotation: u32) -> bool {
        match self {
            TokenRotation::Never => false,
            TokenRotation::Always => true,
            TokenRotation::EveryN(n) => answers_since_rotation.saturating_add(1) >= n.max(1),
        }
    }
}
