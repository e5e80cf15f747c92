//! Builder → framer → parser → ФЛК round-trips for every document type, FFD version, CRC mode,
//! item count and FD number; acknowledgements decode back to what was encoded.

mod common;

use common::NOW;
use ofd_proto::ack::{AckTarget, ResponseCode, decode_ack, encode_ack};
use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::doctype::{DocType, FfdVersion};
use ofd_proto::forms;
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::session::CrcMode;
use ofd_proto::sign::HmacSigner;
use ofd_proto::tlv::TlvIter;
use ofd_proto::validate::{ValidationConfig, validate};
use proptest::prelude::*;

fn round_trip(id: &KktIdentity, spec: &DocSpec) {
    let mut raw = Vec::new();
    build_message(id, spec, &mut raw).unwrap();
    assert_eq!(
        check_frame(&raw, &FrameLimits::default()),
        Ok(Framing::Complete { len: raw.len() })
    );
    let m = parse_message(&raw).unwrap();
    assert_eq!(m.doc_type, spec.doc_type);
    assert_eq!(m.container.fd_number, spec.fd_number);
    assert_eq!(m.session.p_version, spec.ffd.p_version());
    let d = validate(&m, &ValidationConfig::default(), spec.time)
        .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    assert_eq!(d.doc_type, spec.doc_type);
    // Marking documents exist only in FFD 1.2 and are judged by it whatever they claim; an
    // operator acknowledgement carries no 1209 at all, as real ones.
    let ffd = match spec.doc_type {
        DocType::OperatorAck => FfdVersion::V1_0,
        d => forms::judged_as(d, spec.ffd),
    };
    assert_eq!(d.ffd, ffd);
    assert_eq!(d.fn_number, id.fn_number);
    assert_eq!(d.fd_number, spec.fd_number);
    // 81 and 83 carry no time (FFD 1.2 tables 127, 131).
    let timeless = matches!(
        spec.doc_type,
        DocType::MarkingRequest | DocType::MarkingResponse
    );
    assert_eq!(d.time, (!timeless).then_some(spec.time));
    if spec.doc_type != DocType::OperatorAck && !spec.doc_type.is_marking() {
        assert_eq!(d.rn, Some(&id.rn[..]));
        assert_eq!(d.user_inn, Some(&id.user_inn[..]));
    }
    if spec.doc_type.is_registration() {
        assert_eq!(d.encryption, Some(spec.encrypted));
        assert_eq!(d.user_name.unwrap().decode(), id.user_name);
        assert_eq!(d.address.unwrap().decode(), id.address);
        if spec.ffd != FfdVersion::V1_0 {
            assert_eq!(d.kkt_serial, Some(&id.kkt_serial[..]));
            assert_eq!(d.place.unwrap().decode(), id.place);
        }
    }
    if matches!(spec.doc_type, DocType::ShiftClose | DocType::CurrentState) {
        assert_eq!(d.health.untransmitted_count, Some(spec.untransmitted));
        assert_eq!(
            d.health.first_untransmitted_time.is_some(),
            spec.untransmitted > 0
        );
    }
    if spec.doc_type.is_receipt_like() {
        // Totals add up: 1020 == Σ 1043 over items (when there are items).
        let items: Vec<u64> = TlvIter::new(d.tlv.value)
            .map(Result::unwrap)
            .filter(|t| t.tag == 1059)
            .map(|t| {
                ofd_proto::value::read_vln(ofd_proto::tlv::find(t.value, 1043).unwrap().value)
                    .unwrap()
            })
            .collect();
        if !items.is_empty() {
            assert_eq!(d.total_sum, Some(items.iter().sum()));
        }
    }
}

#[test]
fn every_doc_type_every_ffd_round_trips() {
    for (seed, doc_type) in DocType::ALL.into_iter().enumerate() {
        for ffd in FfdVersion::ALL {
            for crc_mode in [CrcMode::None, CrcMode::Header, CrcMode::HeaderAndBody] {
                let id = KktIdentity::generate(seed as u64);
                let spec = DocSpec {
                    ffd,
                    crc_mode,
                    untransmitted: 3,
                    ..DocSpec::new(doc_type, 1 + seed as u32, NOW)
                };
                round_trip(&id, &spec);
            }
        }
    }
}

#[test]
fn encrypted_body_parses_but_is_opaque() {
    let id = KktIdentity::generate(5);
    let plain = common::build_spec(&id, &DocSpec::new(DocType::Receipt, 9, NOW));
    let enc = common::build_spec(
        &id,
        &DocSpec {
            encrypted: true,
            ..DocSpec::new(DocType::Receipt, 9, NOW)
        },
    );
    assert_eq!(plain.len(), enc.len());
    assert_ne!(plain[62..], enc[62..]);
    let m = parse_message(&enc).unwrap();
    assert_eq!(m.payload.len(), plain.len() - 62);
    assert!(validate(&m, &ValidationConfig::default(), NOW).is_err());
    // A registration report stays readable and says 1056 = 1.
    let reg = common::build_spec(
        &id,
        &DocSpec {
            encrypted: true,
            ..DocSpec::new(DocType::Registration, 1, NOW)
        },
    );
    let d = validate(
        &parse_message(&reg).unwrap(),
        &ValidationConfig::default(),
        NOW,
    )
    .unwrap();
    assert_eq!(d.encryption, Some(true));
}

#[test]
fn test_drive_fn_with_trailing_space() {
    let mut id = KktIdentity::generate(3);
    id.fn_number = *b"999907891234567 ";
    let raw = common::build_spec(&id, &DocSpec::new(DocType::Receipt, 4, NOW));
    let m = parse_message(&raw).unwrap();
    assert_eq!(m.container.fn_bcd[7], 0x7F);
    assert_eq!(
        &validate(&m, &ValidationConfig::default(), NOW)
            .unwrap()
            .fn_number,
        b"999907891234567 "
    );
}

#[test]
fn ack_answers_each_code_and_addresses_the_request() {
    let signer = HmacSigner::new(b"test operator key");
    for doc_type in DocType::ALL {
        let raw = common::build(doc_type);
        let m = parse_message(&raw).unwrap();
        for code in [
            ResponseCode::Accepted,
            ResponseCode::NotRecognised,
            ResponseCode::FormatLogic,
        ] {
            let mut out = Vec::new();
            encode_ack(
                &AckTarget::from(&m),
                code,
                b"7704358518",
                NOW + 1,
                &raw,
                &signer,
                &mut out,
            )
            .unwrap();
            let ack = decode_ack(&out).unwrap();
            assert_eq!(ack.code, code);
            assert_eq!(ack.fn_number, &m.session.fn_number);
            assert_eq!(ack.fd_number, m.container.fd_number);
            assert_eq!(ack.time, NOW + 1);
            assert_eq!(ack.operator_inn, b"7704358518");
            assert_eq!(ack.session.unwrap().p_version, m.session.p_version);
            assert_eq!(ack.container.fn_bcd, m.container.fn_bcd);
            assert_eq!(ack.container.service1, m.container.service1);
            let [before, after] = ack.sealed_parts();
            let (service2, mac) = (&ack.container.service2, ack.message_mac().unwrap());
            assert!(signer.verify(&[&raw, before, after], ack.fpo, service2, mac));
            assert!(!signer.verify(&[&raw[1..], before, after], ack.fpo, service2, mac));
        }
    }
}

fn arb_spec() -> impl Strategy<Value = (u64, DocSpec)> {
    (
        any::<u64>(),
        prop::sample::select(DocType::ALL.to_vec()),
        prop::sample::select(FfdVersion::ALL.to_vec()),
        0u32..=0xFF_FFFF,
        0u16..120,
        prop::sample::select(vec![CrcMode::None, CrcMode::Header, CrcMode::HeaderAndBody]),
        0u32..1000,
        1u32..10_000,
        any::<bool>(),
    )
        .prop_map(
            |(seed, doc_type, ffd, fd, items, crc_mode, untransmitted, shift, encrypted)| {
                let spec = DocSpec {
                    ffd,
                    items,
                    crc_mode,
                    untransmitted,
                    shift,
                    encrypted: encrypted && doc_type.is_registration(),
                    ..DocSpec::new(doc_type, fd, NOW - (seed % 1_000_000) as u32)
                };
                (seed, spec)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn built_messages_validate((seed, spec) in arb_spec()) {
        round_trip(&KktIdentity::generate(seed), &spec);
    }

    #[test]
    fn acks_round_trip(fd in 0u32..=0xFF_FFFF, code in any::<u8>(), time in any::<u32>(), req in prop::collection::vec(any::<u8>(), 0..200)) {
        let target = AckTarget { p_version: [1, 5], fn_ascii: *b"9960000000000042", fn_bcd: [0x99, 0x60, 0, 0, 0, 0, 0, 0x42], fd_number: fd, service1: [1, 2] };
        let signer = HmacSigner::new(b"k");
        let mut out = Vec::new();
        encode_ack(&target, ResponseCode::from_u8(code), b"504404744207", time, &req, &signer, &mut out).unwrap();
        let ack = decode_ack(&out).unwrap();
        prop_assert_eq!(ack.code.as_u8(), code);
        prop_assert_eq!(ack.fd_number, fd);
        prop_assert_eq!(ack.time, time);
        prop_assert_eq!(ack.target(), Some(target));
        let [before, after] = ack.sealed_parts();
        prop_assert!(signer.verify(&[&req, before, after], ack.fpo, &ack.container.service2, ack.message_mac().unwrap()));
    }
}
