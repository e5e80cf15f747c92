//! Document types and FFD versions: the two enums every other module switches on.
//!
//! The container's document type byte says what the document is; tag 1209 inside it says which
//! FFD (fiscal document format) version it follows. The session header's P-version is *not* a
//! reliable FFD indicator (the real vector has P-version `00 01` with 1209 = 2), so the FFD
//! version always comes from 1209, and its absence means FFD 1.0.

/// A fiscal document type (the container's document type byte and the outer TLV tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DocType {
    /// 1: registration report.
    Registration = 1,
    /// 11: registration change report.
    RegistrationChange = 11,
    /// 2: shift open report.
    ShiftOpen = 2,
    /// 21: current state of settlements.
    CurrentState = 21,
    /// 3: receipt.
    Receipt = 3,
    /// 31: correction receipt.
    ReceiptCorrection = 31,
    /// 4: strict-reporting form (БСО).
    Bso = 4,
    /// 41: БСО correction.
    BsoCorrection = 41,
    /// 5: shift close report.
    ShiftClose = 5,
    /// 6: FN close (archive close) report.
    FnClose = 6,
    /// 7: operator acknowledgement.
    OperatorAck = 7,
    /// 81 (FFD 1.2): marking-code request.
    MarkingRequest = 81,
    /// 82 (FFD 1.2): notification of a marked-goods sale.
    MarkingNotification = 82,
    /// 83 (FFD 1.2): answer to a marking-code request.
    MarkingResponse = 83,
    /// 84 (FFD 1.2): receipt for a notification.
    MarkingNotificationReceipt = 84,
}

impl DocType {
    /// Every document type, in wire-number order within families.
    pub const ALL: [DocType; 15] = [
        DocType::Registration,
        DocType::RegistrationChange,
        DocType::ShiftOpen,
        DocType::CurrentState,
        DocType::Receipt,
        DocType::ReceiptCorrection,
        DocType::Bso,
        DocType::BsoCorrection,
        DocType::ShiftClose,
        DocType::FnClose,
        DocType::OperatorAck,
        DocType::MarkingRequest,
        DocType::MarkingNotification,
        DocType::MarkingResponse,
        DocType::MarkingNotificationReceipt,
    ];

    pub fn from_u8(b: u8) -> Option<DocType> {
        use DocType::*;
        Some(match b {
            1 => Registration,
            11 => RegistrationChange,
            2 => ShiftOpen,
            21 => CurrentState,
            3 => Receipt,
            31 => ReceiptCorrection,
            4 => Bso,
            41 => BsoCorrection,
            5 => ShiftClose,
            6 => FnClose,
            7 => OperatorAck,
            81 => MarkingRequest,
            82 => MarkingNotification,
            83 => MarkingResponse,
            84 => MarkingNotificationReceipt,
            _ => return None,
        })
    }

    #[inline]
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Root object name in the FNS JSON rendering of the document.
    pub fn json_root(self) -> &'static str {
        use DocType::*;
        match self {
            Registration => "fiscalReport",
            RegistrationChange => "fiscalReportCorrection",
            ShiftOpen => "openShift",
            CurrentState => "currentStateReport",
            Receipt => "receipt",
            ReceiptCorrection => "receiptCorrection",
            Bso => "bso",
            BsoCorrection => "bsoCorrection",
            ShiftClose => "closeShift",
            FnClose => "closeArchive",
            OperatorAck => "operatorAck",
            MarkingRequest => "labelCodeRequest",
            MarkingNotification => "labelNotification",
            MarkingResponse => "labelCodeResponse",
            MarkingNotificationReceipt => "labelNotificationReceipt",
        }
    }

    /// Short snake_case label for metrics.
    pub fn label(self) -> &'static str {
        use DocType::*;
        match self {
            Registration => "registration",
            RegistrationChange => "registration_change",
            ShiftOpen => "shift_open",
            CurrentState => "current_state",
            Receipt => "receipt",
            ReceiptCorrection => "receipt_correction",
            Bso => "bso",
            BsoCorrection => "bso_correction",
            ShiftClose => "shift_close",
            FnClose => "fn_close",
            OperatorAck => "operator_ack",
            MarkingRequest => "marking_request",
            MarkingNotification => "marking_notification",
            MarkingResponse => "marking_response",
            MarkingNotificationReceipt => "marking_notification_receipt",
        }
    }

    /// Registration reports (1, 11): the documents carrying RN, user INN, KKT serial and 1056.
    #[inline]
    pub fn is_registration(self) -> bool {
        matches!(self, DocType::Registration | DocType::RegistrationChange)
    }

    /// Receipts and БСО (3, 4, 31, 41): the documents with items and totals.
    #[inline]
    pub fn is_receipt_like(self) -> bool {
        matches!(
            self,
            DocType::Receipt | DocType::Bso | DocType::ReceiptCorrection | DocType::BsoCorrection
        )
    }

    /// Corrections (31, 41).
    #[inline]
    pub fn is_correction(self) -> bool {
        matches!(self, DocType::ReceiptCorrection | DocType::BsoCorrection)
    }

    /// FFD 1.2 marking documents (81–84).
    #[inline]
    pub fn is_marking(self) -> bool {
        matches!(
            self,
            DocType::MarkingRequest
                | DocType::MarkingNotification
                | DocType::MarkingResponse
                | DocType::MarkingNotificationReceipt
        )
    }
}

impl std::fmt::Display for DocType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Fiscal document format version, from tag 1209.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FfdVersion {
    V1_0,
    V1_05,
    V1_1,
    V1_2,
}

impl FfdVersion {
    pub const ALL: [FfdVersion; 4] = [
        FfdVersion::V1_0,
        FfdVersion::V1_05,
        FfdVersion::V1_1,
        FfdVersion::V1_2,
    ];

    /// Value of tag 1209: 1 → 1.0, 2 → 1.05, 3 → 1.1, 4 → 1.2.
    pub fn from_tag_value(v: u8) -> Option<FfdVersion> {
        Some(match v {
            1 => FfdVersion::V1_0,
            2 => FfdVersion::V1_05,
            3 => FfdVersion::V1_1,
            4 => FfdVersion::V1_2,
            _ => return None,
        })
    }

    /// The value written in tag 1209.
    pub fn tag_value(self) -> u8 {
        match self {
            FfdVersion::V1_0 => 1,
            FfdVersion::V1_05 => 2,
            FfdVersion::V1_1 => 3,
            FfdVersion::V1_2 => 4,
        }
    }

    /// The P-protocol version bytes a register following this FFD normally sends.
    pub fn p_version(self) -> [u8; 2] {
        match self {
            FfdVersion::V1_0 => [0x01, 0x00],
            FfdVersion::V1_05 => [0x01, 0x05],
            FfdVersion::V1_1 => [0x01, 0x10],
            FfdVersion::V1_2 => [0x01, 0x20],
        }
    }

    /// "1.0", "1.05", "1.1", "1.2".
    pub fn as_str(self) -> &'static str {
        match self {
            FfdVersion::V1_0 => "1.0",
            FfdVersion::V1_05 => "1.05",
            FfdVersion::V1_1 => "1.1",
            FfdVersion::V1_2 => "1.2",
        }
    }
}

impl std::fmt::Display for FfdVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_type_round_trip() {
        for d in DocType::ALL {
            assert_eq!(DocType::from_u8(d.as_u8()), Some(d));
        }
        let known = (0..=255u8)
            .filter(|b| DocType::from_u8(*b).is_some())
            .count();
        assert_eq!(known, DocType::ALL.len());
        assert_eq!(
            DocType::RegistrationChange.json_root(),
            "fiscalReportCorrection"
        );
    }

    #[test]
    fn ffd_round_trip() {
        for v in FfdVersion::ALL {
            assert_eq!(FfdVersion::from_tag_value(v.tag_value()), Some(v));
        }
        assert_eq!(FfdVersion::from_tag_value(0), None);
        assert_eq!(FfdVersion::from_tag_value(5), None);
    }
}
