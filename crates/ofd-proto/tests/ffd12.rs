//! FFD 1.2 judged by its own tables (`proto-spec/forms.toml`), not the 1.05 ones: the real
//! FFD 1.2 registration change a production operator refused with code 14 is refused here too,
//! naming the tags it lacks; the same report with them is accepted; the builder's FFD 1.2
//! documents of every type pass; and each 1.2-specific rule fails once, on purpose.

mod common;

use common::{build_spec, drop_nested, drop_tag, edit_doc, set_tag};
use ofd_proto::ack::ResponseCode;
use ofd_proto::builder::{DocSpec, KktIdentity};
use ofd_proto::doctype::{DocType, FfdVersion};
use ofd_proto::error::{Disposition, ProtoError};
use ofd_proto::message::parse_message;
use ofd_proto::validate::{ValidationConfig, validate};
use ofd_proto::value::encode_cp866;

/// The real FFD 1.2 registration change (origin: `proto-spec/vectors/README.md`).
const FFD12_REQUEST: &[u8] = include_bytes!(
    "../../../proto-spec/vectors/registration-change-ffd12-fn9999078902013267-fd1.bin"
);
/// Its document time, 2024-09-14 (tag 1012 = 0x66E5FEF0); "now" is a minute later.
const CAPTURE_NOW: u32 = 0x66E5_FEF0 + 60;
const NOW: u32 = common::NOW;

fn check_at(raw: &[u8], now: u32) -> Result<ofd_proto::validate::Document<'_>, ProtoError> {
    let m = parse_message(raw)?;
    validate(&m, &ValidationConfig::default(), now)
}

fn check(raw: &[u8]) -> Result<(), ProtoError> {
    check_at(raw, NOW).map(drop)
}

fn build12(doc_type: DocType) -> Vec<u8> {
    build_spec(
        &KktIdentity::generate(12),
        &DocSpec {
            ffd: FfdVersion::V1_2,
            ..DocSpec::new(doc_type, 100, NOW - 60)
        },
    )
}

fn fails(raw: &[u8], want: ProtoError) {
    let got = check(raw).expect_err("must fail");
    assert_eq!(got, want);
    assert_eq!(
        got.disposition(),
        Disposition::Nack(ResponseCode::FormatLogic),
        "{got}"
    );
}

fn missing(doc_type: DocType, tag: u16) -> ProtoError {
    ProtoError::MissingTag {
        doc_type: doc_type.as_u8(),
        tag,
    }
}

#[test]
fn the_captured_ffd12_report_is_refused_naming_1048_and_1009() {
    let err = check_at(FFD12_REQUEST, CAPTURE_NOW).expect_err("the operator answered 14");
    assert_eq!(
        err,
        ProtoError::MissingTags {
            doc_type: 11,
            ffd: FfdVersion::V1_2,
            tags: [1048, 1009].into(),
        }
    );
    assert_eq!(
        err.disposition(),
        Disposition::Nack(ResponseCode::FormatLogic)
    );
    let text = err.to_string();
    assert!(
        text.contains("1048, 1009") && text.contains("FFD 1.2"),
        "{text}"
    );
}

#[test]
fn the_captured_report_with_1048_and_1009_is_accepted_by_the_12_table() {
    // Nothing else in the real device's report offends the FFD 1.2 table: it has 1290, 1190 and
    // 1213 and none of 1108/1109/1110/1221, which the 1.05 table would demand.
    let fixed = edit_doc(
        FFD12_REQUEST,
        |k| Some(vec![(k.tag, k.value.to_vec())]),
        &[
            (1048, encode_cp866("ООО \"Ромашка\"")),
            (1009, encode_cp866("г. Москва, ул. Тверская, д. 1")),
        ],
    );
    let d = check_at(&fixed, CAPTURE_NOW).expect("valid by the FFD 1.2 table");
    assert_eq!(d.ffd, FfdVersion::V1_2);
    assert_eq!(d.rn, Some(&b"0000000000024136"[..]));
    for tag in [1108, 1109, 1110, 1221] {
        assert!(!common::children(&fixed).1.iter().any(|t| t.tag == tag));
    }
}

#[test]
fn built_ffd12_documents_of_every_type_pass() {
    for d in DocType::ALL {
        check(&build12(d)).unwrap_or_else(|e| panic!("{d}: {e}"));
    }
}

#[test]
fn registration_12_needs_1290_1190_1213_address_and_user_not_1108_to_1221() {
    for doc_type in [DocType::Registration, DocType::RegistrationChange] {
        let raw = build12(doc_type);
        for tag in [1290, 1190, 1213, 1009, 1048] {
            fails(&drop_tag(&raw, tag), missing(doc_type, tag));
        }
        let kids = common::children(&raw).1;
        assert!(
            !kids
                .iter()
                .any(|t| [1108, 1109, 1110, 1221].contains(&t.tag))
        );
        check(&drop_tag(&raw, 1062)).expect("1062 is optional in FFD 1.2");
    }
    fails(
        &drop_tag(&build12(DocType::RegistrationChange), 1205),
        missing(DocType::RegistrationChange, 1205),
    );
    // The same 1.2 report claiming FFD 1.05 is judged by the 1.05 table, and lacks its tags.
    let as_105 = set_tag(&build12(DocType::Registration), 1209, &[2]);
    assert_eq!(
        check(&as_105),
        Err(ProtoError::MissingTags {
            doc_type: 1,
            ffd: FfdVersion::V1_05,
            tags: [1221, 1110, 1109, 1108].into(),
        })
    );
}

#[test]
fn receipts_12_need_address_place_and_items_by_their_12_contents() {
    for doc_type in [DocType::Receipt, DocType::Bso] {
        let raw = build12(doc_type);
        for tag in [1009, 1187, 1059] {
            fails(&drop_tag(&raw, tag), missing(doc_type, tag));
        }
        check(&drop_tag(&raw, 1055)).expect("1055 is not mandatory in FFD 1.2 (lenient)");
        fails(
            &drop_nested(&raw, 1059, 1079),
            ProtoError::MissingNestedTag {
                parent: 1059,
                tag: 1079,
            },
        );
        check(&drop_nested(&raw, 1059, 1030)).expect("1030 is 'sometimes' in FFD 1.2");
    }
    // In FFD 1.05 an item without its name fails, and without its price does not.
    let raw105 = common::build(DocType::Receipt);
    assert_eq!(
        check(&drop_nested(&raw105, 1059, 1030)),
        Err(ProtoError::MissingNestedTag {
            parent: 1059,
            tag: 1030
        })
    );
    check(&drop_nested(&raw105, 1059, 1079)).expect("1079 is not mandatory in FFD 1.05");
}

#[test]
fn corrections_12_basis_holds_1178_and_1179_by_order_not_1177() {
    for doc_type in [DocType::ReceiptCorrection, DocType::BsoCorrection] {
        let raw = build12(doc_type);
        assert!(
            common::children(&raw)
                .1
                .iter()
                .filter(|t| t.tag == 1174)
                .all(|t| t.children().all(|c| c.unwrap().tag != 1177))
        );
        for tag in [1174, 1059, 1009, 1187] {
            fails(&drop_tag(&raw, tag), missing(doc_type, tag));
        }
        fails(
            &drop_nested(&raw, 1174, 1178),
            ProtoError::MissingNestedTag {
                parent: 1174,
                tag: 1178,
            },
        );
        // 1179 (the tax authority's order number) only when the correction is by order.
        let self_initiated = drop_nested(&raw, 1174, 1179);
        check(&self_initiated).expect("1173 = 0: no order to name");
        fails(
            &set_tag(&self_initiated, 1173, &[1]),
            ProtoError::MissingNestedTag {
                parent: 1174,
                tag: 1179,
            },
        );
        check(&set_tag(&raw, 1173, &[1])).expect("by order, naming it");
        check(&drop_tag(&raw, 1173)).expect("1173 is optional in FFD 1.2");
    }
}

#[test]
fn shift_and_state_reports_12_need_their_counters() {
    let cases: [(DocType, &[u16]); 4] = [
        (DocType::ShiftOpen, &[1188, 1189]),
        (DocType::CurrentState, &[1213, 1157]),
        (DocType::ShiftClose, &[1194, 1157, 1213]),
        (DocType::FnClose, &[1157, 1009, 1187, 1038]),
    ];
    for (doc_type, tags) in cases {
        let raw = build12(doc_type);
        for &tag in tags {
            fails(&drop_tag(&raw, tag), missing(doc_type, tag));
        }
    }
    // 1.05's mandatory 1097/1098/1116 are "sometimes" in the 1.2 current-state report.
    let state = build12(DocType::CurrentState);
    check(&drop_tag(&drop_tag(&drop_tag(&state, 1097), 1098), 1116)).unwrap();
}

#[test]
fn marking_documents_by_their_own_tables() {
    let cases: [(DocType, &[u16]); 4] = [
        (DocType::MarkingRequest, &[2001, 2114, 1041, 2000, 2102]),
        (
            DocType::MarkingNotification,
            &[2002, 1012, 1041, 2116, 2007],
        ),
        (DocType::MarkingResponse, &[2001, 2114, 2105]),
        (DocType::MarkingNotificationReceipt, &[2002, 1012, 2111]),
    ];
    for (doc_type, tags) in cases {
        // Built as FFD 1.05 (the default) on purpose: marking documents are 1.2 whatever
        // they claim, and carry neither 1209 nor 1040.
        let raw = common::build(doc_type);
        let kids = common::children(&raw).1;
        assert!(!kids.iter().any(|t| t.tag == 1209 || t.tag == 1040));
        let d = check_at(&raw, NOW).unwrap_or_else(|e| panic!("{doc_type}: {e}"));
        assert_eq!(d.ffd, FfdVersion::V1_2);
        assert_eq!(d.fd_number, 100, "the container's FD number");
        for &tag in tags {
            fails(&drop_tag(&raw, tag), missing(doc_type, tag));
        }
    }
}
