//! Every ФЛК rule and every parser rule, each failed on purpose with its specific error and
//! disposition (close / code 11 / code 14). Messages are built valid, then exactly one thing is
//! changed and the message re-sealed (fresh lengths and CRCs), so nothing else can fail first.

mod common;

use common::{NOW, build, build_spec, drop_nested, drop_tag, edit_doc, reseal, set_tag};
use ofd_proto::ack::ResponseCode;
use ofd_proto::builder::{DocSpec, KktIdentity};
use ofd_proto::checks::CheckError;
use ofd_proto::doctype::{DocType, FfdVersion};
use ofd_proto::error::{Disposition, ProtoError};
use ofd_proto::message::parse_message;
use ofd_proto::tlv::{TlvError, write_tlv};
use ofd_proto::validate::{
    CORRECTION_BASIS_MANDATORY, ITEM_MANDATORY, ValidationConfig, mandatory_tags, validate,
};
use ofd_proto::value::ValueError;

const FLK: Disposition = Disposition::Nack(ResponseCode::FormatLogic);
const NOT_RECOGNISED: Disposition = Disposition::Nack(ResponseCode::NotRecognised);

fn check_with(raw: &[u8], cfg: &ValidationConfig, now: u32) -> Result<(), ProtoError> {
    let m = parse_message(raw)?;
    validate(&m, cfg, now).map(drop)
}

fn check(raw: &[u8]) -> Result<(), ProtoError> {
    check_with(raw, &ValidationConfig::default(), NOW)
}

fn fails(raw: &[u8], want: ProtoError, disposition: Disposition) {
    let got = check(raw).expect_err("must fail");
    assert_eq!(got, want);
    assert_eq!(got.disposition(), disposition, "{got}");
}

fn registration() -> Vec<u8> {
    build(DocType::Registration)
}

#[test]
fn built_documents_pass() {
    for d in DocType::ALL {
        check(&build(d)).unwrap_or_else(|e| panic!("{d}: {e}"));
    }
}

#[test]
fn every_mandatory_tag_of_every_doc_type() {
    for doc_type in DocType::ALL {
        let raw = build(doc_type);
        // Without 1209 a document *is* FFD 1.0 (NOTES §9), so dropping 1209 alone is not an
        // error; `ffd_1_0_documents_lack_six_tags` covers that case.
        for &tag in mandatory_tags(doc_type).iter().filter(|&&t| t != 1209) {
            fails(
                &drop_tag(&raw, tag),
                ProtoError::MissingTag {
                    doc_type: doc_type.as_u8(),
                    tag,
                },
                FLK,
            );
        }
    }
}

#[test]
fn ffd_1_0_documents_lack_six_tags() {
    let id = KktIdentity::generate(2);
    let raw = build_spec(
        &id,
        &DocSpec {
            ffd: FfdVersion::V1_0,
            ..DocSpec::new(DocType::Registration, 1, NOW)
        },
    );
    for tag in [1209u16, 1221, 1188, 1189, 1013, 1187] {
        assert!(!common::children(&raw).1.iter().any(|t| t.tag == tag));
    }
    check(&raw).unwrap();
    let d = validate(
        &parse_message(&raw).unwrap(),
        &ValidationConfig::default(),
        NOW,
    )
    .unwrap();
    assert_eq!(d.ffd, FfdVersion::V1_0);
    fails(
        &drop_tag(&raw, 1048),
        ProtoError::MissingTag {
            doc_type: 1,
            tag: 1048,
        },
        FLK,
    );
    // The same document claiming FFD 1.05 must have them.
    let claimed = edit_doc(
        &raw,
        |k| Some(vec![(k.tag, k.value.to_vec())]),
        &[(1209, vec![2])],
    );
    // All of them named at once, in the form's order.
    assert_eq!(
        check(&claimed),
        Err(ProtoError::MissingTags {
            doc_type: 1,
            ffd: FfdVersion::V1_05,
            tags: [1221, 1188, 1189, 1013, 1187].into(),
        })
    );
}

#[test]
fn registration_change_needs_1101_or_1205() {
    let raw = build(DocType::RegistrationChange);
    fails(
        &drop_tag(&raw, 1101),
        ProtoError::MissingTag {
            doc_type: 11,
            tag: 1101,
        },
        FLK,
    );
    let with_1205 = edit_doc(
        &drop_tag(&raw, 1101),
        |k| Some(vec![(k.tag, k.value.to_vec())]),
        &[(1205, 8u32.to_le_bytes().to_vec())],
    );
    check(&with_1205).unwrap();
}

#[test]
fn item_and_correction_basis_nested_tags() {
    for doc_type in [DocType::Receipt, DocType::Bso] {
        let raw = build(doc_type);
        for tag in ITEM_MANDATORY {
            fails(
                &drop_nested(&raw, 1059, tag),
                ProtoError::MissingNestedTag { parent: 1059, tag },
                FLK,
            );
        }
    }
    for doc_type in [DocType::ReceiptCorrection, DocType::BsoCorrection] {
        let raw = build(doc_type);
        for tag in CORRECTION_BASIS_MANDATORY {
            fails(
                &drop_nested(&raw, 1174, tag),
                ProtoError::MissingNestedTag { parent: 1174, tag },
                FLK,
            );
        }
    }
}

#[test]
fn dictionary_lengths_and_types() {
    let raw = registration();
    fails(
        &set_tag(&raw, 1048, &[b'a'; 257]),
        ProtoError::TagTooLong {
            tag: 1048,
            len: 257,
            max: 256,
        },
        FLK,
    );
    fails(
        &set_tag(&raw, 1018, b"7702203276 "),
        ProtoError::TagWrongLength {
            tag: 1018,
            len: 11,
            expected: 12,
        },
        FLK,
    );
    fails(
        &set_tag(&raw, 1037, b"0000000005008570"),
        ProtoError::TagWrongLength {
            tag: 1037,
            len: 16,
            expected: 20,
        },
        FLK,
    );
    fails(
        &set_tag(&raw, 1040, &[1, 0, 0]),
        ProtoError::Value {
            tag: 1040,
            err: ValueError::Length {
                kind: "U32",
                got: 3,
                allowed: "4",
            },
        },
        FLK,
    );
    fails(
        &set_tag(&raw, 1056, &[0, 0]),
        ProtoError::Value {
            tag: 1056,
            err: ValueError::Length {
                kind: "byte",
                got: 2,
                allowed: "0 or 1",
            },
        },
        FLK,
    );
    // A zero-length byte reads as 0 (NOTES §3).
    check(&set_tag(&raw, 1056, &[])).unwrap();

    let receipt = build(DocType::Receipt);
    // The ФПО 1078's length (8 in a production capture, 16 or 18 by other sources) is disputed
    // (`uncertain`), so it is not enforced: another one passes control.
    assert!(ofd_proto::dict::uncertain().contains(&1078));
    check(&set_tag(&build(DocType::OperatorAck), 1078, &[0; 10])).unwrap();
    fails(
        &set_tag(&receipt, 1020, &[1; 7]),
        ProtoError::TagTooLong {
            tag: 1020,
            len: 7,
            max: 6,
        },
        FLK,
    );
    // Nested: an item price longer than 6 bytes, an item quantity with an absurd scale.
    let nested = |tag: u16, value: Vec<u8>| {
        edit_doc(
            &receipt,
            |k| {
                if k.tag != 1059 {
                    return Some(vec![(k.tag, k.value.to_vec())]);
                }
                let mut v = Vec::new();
                for c in k.children().map(Result::unwrap) {
                    write_tlv(&mut v, c.tag, if c.tag == tag { &value } else { c.value });
                }
                Some(vec![(k.tag, v)])
            },
            &[],
        )
    };
    fails(
        &nested(1079, vec![1; 7]),
        ProtoError::TagTooLong {
            tag: 1079,
            len: 7,
            max: 6,
        },
        FLK,
    );
    fails(
        &nested(1023, vec![25, 1]),
        ProtoError::Value {
            tag: 1023,
            err: ValueError::Scale(25),
        },
        FLK,
    );
}

#[test]
fn unknown_tags_are_skipped() {
    let raw = registration();
    let extra = edit_doc(
        &raw,
        |k| Some(vec![(k.tag, k.value.to_vec())]),
        &[(1999, vec![1, 2, 3]), (9999, vec![0; 300]), (65535, vec![])],
    );
    check(&extra).unwrap();
}

#[test]
fn undecodable_tlv_is_not_recognised() {
    let raw = registration();
    // Top level: the last child's length overruns the document.
    let (tag, kids, trailer) = common::children(&raw);
    let mut value = Vec::new();
    for k in &kids {
        write_tlv(&mut value, k.tag, k.value);
    }
    value.extend_from_slice(&[0x10, 0x04, 9, 0, 1]);
    let mut payload = Vec::new();
    write_tlv(&mut payload, tag, &value);
    payload.extend_from_slice(trailer);
    let bad = reseal(&raw, |_, _| {}, &payload);
    let err = check(&bad).unwrap_err();
    assert!(
        matches!(
            err,
            ProtoError::Tlv(TlvError::Overrun {
                tag: 1040,
                len: 9,
                available: 1,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.disposition(), NOT_RECOGNISED);
    assert_eq!(err.reason(), "bad_tlv");

    // Nested: an item whose content is not TLV.
    let receipt = build(DocType::Receipt);
    let bad = set_tag(&receipt, 1059, &[1, 2, 3]);
    let err = check(&bad).unwrap_err();
    assert_eq!(
        err,
        ProtoError::Tlv(TlvError::TruncatedHead {
            offset: 0,
            available: 3
        })
    );
    assert_eq!(err.disposition(), NOT_RECOGNISED);

    // The outer TLV itself runs past the container.
    let mut payload = Vec::new();
    payload.extend_from_slice(&[1, 0, 0xFF, 0xFF, 0]);
    let err = check(&reseal(&raw, |_, _| {}, &payload)).unwrap_err();
    assert!(
        matches!(
            err,
            ProtoError::Tlv(TlvError::Overrun {
                tag: 1,
                offset: 0,
                len: 0xFFFF,
                available: 1
            })
        ),
        "{err}"
    );
    assert_eq!(
        check(&reseal(&raw, |_, _| {}, &[1, 0])).unwrap_err(),
        ProtoError::Tlv(TlvError::TruncatedHead {
            offset: 0,
            available: 2
        })
    );
}

#[test]
fn stlv_nesting_depth_is_bounded() {
    let receipt = build(DocType::Receipt);
    let mut v = Vec::new();
    write_tlv(&mut v, 1030, b"x");
    for _ in 0..6 {
        let mut outer = Vec::new();
        write_tlv(&mut outer, 1059, &v);
        v = outer;
    }
    let bad = set_tag(&receipt, 1059, &v);
    let err = check(&bad).unwrap_err();
    assert!(
        matches!(err, ProtoError::TooDeep { tag: 1059, .. }),
        "{err}"
    );
    assert_eq!(err.disposition(), NOT_RECOGNISED);
}

#[test]
fn digit_formats() {
    let raw = registration();
    let bad_fn = set_tag(&raw, 1041, b"99600000000000x1");
    assert!(matches!(
        check(&bad_fn),
        Err(ProtoError::BadFormat { tag: 1041, .. })
    ));
    let bad_rn = set_tag(&raw, 1037, b"00000000050085 0    ");
    assert!(matches!(
        check(&bad_rn),
        Err(ProtoError::BadFormat { tag: 1037, .. })
    ));
    assert_eq!(check(&bad_rn).unwrap_err().disposition(), FLK);
    let bad_inn = set_tag(&raw, 1018, b"77022032    ");
    fails(
        &bad_inn,
        ProtoError::BadInn {
            tag: 1018,
            reason: CheckError::Length {
                expected: "10 or 12",
                got: 8,
            },
        },
        FLK,
    );
}

#[test]
fn inn_check_digits_hard_for_user_and_operator() {
    let raw = registration();
    fails(
        &set_tag(&raw, 1018, b"7702203277  "),
        ProtoError::BadInn {
            tag: 1018,
            reason: CheckError::Mismatch {
                expected: 6,
                found: 7,
            },
        },
        FLK,
    );
    fails(
        &set_tag(&raw, 1017, b"7704358519  "),
        ProtoError::BadInn {
            tag: 1017,
            reason: CheckError::Mismatch {
                expected: 8,
                found: 9,
            },
        },
        FLK,
    );
    let lax = ValidationConfig {
        check_inn_digits: false,
        check_rn_digits: false,
        ..Default::default()
    };
    check_with(&set_tag(&raw, 1018, b"7702203277  "), &lax, NOW).unwrap();
}

#[test]
fn inn_check_digits_lenient_for_cashier_supplier_buyer() {
    let raw = registration();
    for tag in [1203u16, 1226, 1228, 1016] {
        let with = edit_doc(
            &raw,
            |k| Some(vec![(k.tag, k.value.to_vec())]),
            &[(tag, b"771234567890".to_vec())],
        );
        let m = parse_message(&with).unwrap();
        let d = validate(&m, &ValidationConfig::default(), NOW).unwrap();
        assert_eq!(d.unverified_inns, 1, "tag {tag}");
    }
}

#[test]
fn zero_left_padded_inn() {
    let id = KktIdentity {
        user_inn: b"7702203276".to_vec(),
        ..KktIdentity::generate(9)
    };
    let id = KktIdentity {
        rn: ofd_proto::checks::make_rn(5, &id.user_inn, &id.kkt_serial).unwrap(),
        ..id
    };
    let raw = build_spec(&id, &DocSpec::new(DocType::Registration, 1, NOW));
    let padded = set_tag(&raw, 1018, b"007702203276");
    let m = parse_message(&padded).unwrap();
    // Accepted and normalised by default — also for the RN check digits.
    assert_eq!(
        validate(&m, &ValidationConfig::default(), NOW)
            .unwrap()
            .user_inn,
        Some(&b"7702203276"[..])
    );
    let strict = ValidationConfig {
        accept_zero_left_padded_inn: false,
        ..Default::default()
    };
    assert!(matches!(
        check_with(&padded, &strict, NOW),
        Err(ProtoError::BadInn {
            tag: 1018,
            reason: CheckError::Mismatch { .. }
        })
    ));
}

#[test]
fn rn_check_digits_in_registration_reports() {
    let raw = registration();
    let (_, kids, _) = common::children(&raw);
    let rn = kids.iter().find(|t| t.tag == 1037).unwrap().value;
    let mut bad = rn.to_vec();
    bad[15] = if bad[15] == b'9' { b'0' } else { bad[15] + 1 };
    let bad_reg = set_tag(&raw, 1037, &bad);
    let err = check(&bad_reg).unwrap_err();
    assert!(
        matches!(err, ProtoError::BadRn(CheckError::Mismatch { .. })),
        "{err}"
    );
    assert_eq!((err.disposition(), err.reason()), (FLK, "bad_rn"));
    check_with(
        &bad_reg,
        &ValidationConfig {
            check_rn_digits: false,
            ..Default::default()
        },
        NOW,
    )
    .unwrap();
    // A serial change breaks the RN too.
    assert!(matches!(
        check(&set_tag(&raw, 1013, b"0000000000000099")),
        Err(ProtoError::BadRn(_))
    ));
    // Other documents: digits format only (no serial to check against).
    check(&set_tag(&build(DocType::Receipt), 1037, &bad)).unwrap();
}

#[test]
fn ffd_version_tag() {
    fails(
        &set_tag(&registration(), 1209, &[9]),
        ProtoError::UnknownFfdVersion(9),
        FLK,
    );
}

#[test]
fn time_window() {
    let cfg = ValidationConfig::default();
    let raw = registration();
    let at = |t: u32| set_tag(&raw, 1012, &t.to_le_bytes());
    fails(
        &at(cfg.min_time - 1),
        ProtoError::TimeTooOld {
            tag: 1012,
            time: cfg.min_time - 1,
            min: cfg.min_time,
        },
        FLK,
    );
    check(&at(cfg.min_time)).unwrap();
    check(&at(NOW + 86_400)).unwrap();
    fails(
        &at(NOW + 86_401),
        ProtoError::TimeInFuture {
            tag: 1012,
            time: NOW + 86_401,
            now: NOW,
            max_future: 86_400,
        },
        FLK,
    );
    let tight = ValidationConfig {
        max_future_secs: 60,
        ..cfg
    };
    assert!(matches!(
        check_with(&at(NOW + 61), &tight, NOW),
        Err(ProtoError::TimeInFuture { .. })
    ));
    assert_eq!(check(&at(0)).unwrap_err().reason(), "time_window");

    // 1098: zero means "none"; otherwise the same window.
    let close = build(DocType::ShiftClose);
    let m_raw = set_tag(&close, 1098, &0u32.to_le_bytes());
    let d = validate(&parse_message(&m_raw).unwrap(), &cfg, NOW).unwrap();
    assert_eq!(d.health.first_untransmitted_time, None);
    fails(
        &set_tag(&close, 1098, &1_000u32.to_le_bytes()),
        ProtoError::TimeTooOld {
            tag: 1098,
            time: 1_000,
            min: cfg.min_time,
        },
        FLK,
    );
}

#[test]
fn health_flags_are_reported() {
    let close = build(DocType::ShiftClose);
    let raw = edit_doc(
        &close,
        |k| {
            let v = match k.tag {
                1097 => 5u32.to_le_bytes().to_vec(),
                1098 => (NOW - 7200).to_le_bytes().to_vec(),
                1116 => 95u32.to_le_bytes().to_vec(),
                1050..=1053 => vec![1],
                _ => k.value.to_vec(),
            };
            Some(vec![(k.tag, v)])
        },
        &[],
    );
    let h = validate(
        &parse_message(&raw).unwrap(),
        &ValidationConfig::default(),
        NOW,
    )
    .unwrap()
    .health;
    assert_eq!(h.untransmitted_count, Some(5));
    assert_eq!(h.first_untransmitted_time, Some(NOW - 7200));
    assert_eq!(h.first_untransmitted_number, Some(95));
    assert!(h.ack_overdue && h.key_expiry_soon && h.key_expiry_urgent && h.memory_nearly_full);
}

#[test]
fn cross_checks() {
    let raw = registration();
    let payload = raw[62..].to_vec();
    // Session FN differs from container and 1041.
    let bad = reseal(&raw, |s, _| s.fn_number = *b"9960000000000777", &payload);
    let err = check(&bad).unwrap_err();
    assert!(
        matches!(
            err,
            ProtoError::FnMismatch {
                other_source: "container",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!((err.disposition(), err.reason()), (FLK, "fn_mismatch"));
    // Session and container agree, 1041 differs.
    let bad = set_tag(&raw, 1041, b"9960000000000777");
    assert!(matches!(
        check(&bad),
        Err(ProtoError::FnMismatch {
            other_source: "tag 1041",
            ..
        })
    ));
    // Container FD differs from 1040.
    let bad = reseal(&raw, |_, c| c.fd_number = 101, &payload);
    fails(
        &bad,
        ProtoError::FdMismatch {
            container: 101,
            document: 100,
        },
        FLK,
    );
    // Container doc type differs from the outer TLV tag (both known types).
    let bad = reseal(&raw, |_, c| c.doc_type = 2, &payload);
    fails(
        &bad,
        ProtoError::DocTypeMismatch {
            container: 2,
            document: 1,
        },
        FLK,
    );
}

#[test]
fn container_content_not_recognised() {
    let raw = registration();
    let payload = raw[62..].to_vec();
    type Edit = fn(&mut ofd_proto::container::ContainerHeader);
    let cases: [(Edit, ProtoError); 4] = [
        (
            |c| c.message_type = 0xA6,
            ProtoError::UnknownMessageType(0xA6),
        ),
        (|c| c.version = 2, ProtoError::UnknownContainerVersion(2)),
        (|c| c.doc_type = 99, ProtoError::UnknownDocType(99)),
        (
            |c| c.fn_bcd[3] = 0x8B,
            ProtoError::BadBcd {
                nibble_index: 7,
                nibble: 0xB,
            },
        ),
    ];
    for (edit, want) in cases {
        let bad = reseal(&raw, |_, c| edit(c), &payload);
        fails(&bad, want, NOT_RECOGNISED);
        // Such a message can still be answered.
        assert!(ofd_proto::ack::AckTarget::from_frame(&bad).is_some());
    }
}

#[test]
fn frame_breakage_closes() {
    let raw = registration();
    let close = |bytes: &[u8], reason: &str| {
        let err = check(bytes).unwrap_err();
        assert_eq!(
            (err.disposition(), err.reason()),
            (Disposition::Close, reason),
            "{err}"
        );
    };
    let flip = |at: usize| {
        let mut b = raw.clone();
        b[at] ^= 0x40;
        b
    };
    close(&flip(0), "bad_signature");
    close(&flip(5), "bad_s_version");
    close(&flip(6), "unknown_p_version");
    let with_crc = build_spec(
        &KktIdentity::generate(1),
        &DocSpec {
            crc_mode: ofd_proto::session::CrcMode::HeaderAndBody,
            ..DocSpec::new(DocType::Registration, 100, NOW - 60)
        },
    );
    let mut b = with_crc.clone();
    *b.last_mut().unwrap() ^= 1;
    close(&b, "session_crc");
    let no_crc = registration(); // builder default: no session CRC, like real registers
    let mut b = no_crc.clone();
    *b.last_mut().unwrap() ^= 1;
    close(&b, "container_crc");
    let mut b = no_crc.clone();
    b[26] = 0x10;
    close(&b, "no_container");
    let mut b = no_crc.clone();
    b[26] = 0x17;
    close(&b, "bad_crc_mode");
    let mut b = no_crc.clone();
    b[30] ^= 1; // container length field
    close(&b, "length_mismatch");
    close(&no_crc[..no_crc.len() - 1], "length_mismatch");
    let mut b = no_crc.clone();
    b[24..26].copy_from_slice(&[0, 0]);
    close(&b, "bad_body_length");
}

/// A tag whose dictionary limits are a guess (`uncertain` in tags.toml) is not held to them: a
/// long value passes control, while a certain tag's limit still holds.
#[test]
fn guessed_limits_do_not_reject() {
    use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
    use ofd_proto::doctype::DocType;
    use ofd_proto::message::parse_message;
    use ofd_proto::validate::{ValidationConfig, validate};

    let guessed = *ofd_proto::dict::uncertain()
        .iter()
        .find(|t| {
            let i = ofd_proto::dict::lookup(**t).unwrap();
            i.ty == ofd_proto::value::ValueType::String && i.docs.contains(&3) && i.max_len < 300
        })
        .expect("an uncertain top-level string tag of receipts");
    let now = 1_700_000_000;
    let id = KktIdentity::generate(5);
    let mut msg = Vec::new();
    build_message(&id, &DocSpec::new(DocType::Receipt, 1, now - 10), &mut msg).unwrap();
    // Append the tag with a value over its guessed limit inside the document, then re-seal.
    let long = vec![b'x'; usize::from(ofd_proto::dict::lookup(guessed).unwrap().max_len) + 20];
    let grown = append_top_level(&msg, guessed, &long);
    let m = parse_message(&grown).unwrap();
    validate(&m, &ValidationConfig::default(), now).expect("guessed limit must not reject");
}

/// Insert one top-level TLV at the end of the document and fix lengths and the container CRC.
fn append_top_level(msg: &[u8], tag: u16, value: &[u8]) -> Vec<u8> {
    use ofd_proto::container::seal;
    use ofd_proto::message::parse_message;
    let m = parse_message(msg).unwrap();
    let (doc, trailer) = m.document().unwrap();
    let mut payload = Vec::new();
    let start = ofd_proto::tlv::begin_stlv(&mut payload, doc.tag);
    payload.extend_from_slice(doc.value);
    ofd_proto::tlv::write_tlv(&mut payload, tag, value);
    ofd_proto::tlv::end_stlv(&mut payload, start);
    payload.extend_from_slice(trailer);
    let mut out = msg[..62].to_vec();
    out.extend_from_slice(&payload);
    let container_len = (out.len() - 30) as u16;
    out[24..26].copy_from_slice(&container_len.to_le_bytes());
    out[30..32].copy_from_slice(&container_len.to_le_bytes());
    seal(&mut out[30..]).unwrap();
    out
}
