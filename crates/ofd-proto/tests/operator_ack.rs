//! Our acknowledgement against a production operator's: the two captured answers to a real FFD 1.2
//! drive (`proto-spec/vectors/`, origin in its README) decode to exactly the documented values,
//! and the answer ofd-proto writes to the captured request matches the captured answer byte for
//! byte, except for the values only the crypto module produces (ФПО, service data 2, message MAC)
//! and the CRC that covers them.

use ofd_proto::ack::{AckTarget, ResponseCode, decode_ack, decode_ack_container, encode_ack};
use ofd_proto::container::{ANSWER_MESSAGE_TYPE, CONTAINER_HEADER_LEN};
use ofd_proto::message::parse_message;
use ofd_proto::session::SESSION_HEADER_LEN;
use ofd_proto::sign::HmacSigner;
use ofd_proto::tlv::TlvIter;
use ofd_proto::validate::{ValidationConfig, validate};

const REQUEST: &[u8] = include_bytes!(
    "../../../proto-spec/vectors/registration-change-ffd12-fn9999078902013267-fd1.bin"
);
const ACK_FD1_CODE14: &[u8] = include_bytes!(
    "../../../proto-spec/vectors/operator-ack-container-fn9999078902013267-fd1-code14.bin"
);
const ACK_FD2_CODE0: &[u8] = include_bytes!(
    "../../../proto-spec/vectors/operator-ack-container-fn9999078902013267-fd2-code0.bin"
);
/// The operator's time in its answer to FD 1 (tag 1012).
const ACK_FD1_TIME: u32 = 0x66E6_C930;

fn tags(document: &[u8]) -> Vec<(u16, usize)> {
    TlvIter::new(document)
        .map(|t| t.map(|t| (t.tag, t.value.len())).unwrap())
        .collect()
}

#[test]
fn captured_answers_decode_to_the_documented_values() {
    for (bytes, fd, time, code, service2) in [
        (
            ACK_FD1_CODE14,
            1,
            ACK_FD1_TIME,
            ResponseCode::FormatLogic,
            [
                0xE1, 0xDD, 0x30, 0x4E, 0x1A, 0x93, 0x21, 0xAD, 0x00, 0x02, 0x00, 0x4D,
            ],
        ),
        (
            ACK_FD2_CODE0,
            2,
            0x66E6_D21F,
            ResponseCode::Accepted,
            [
                0xF0, 0xB1, 0x89, 0xC0, 0xD5, 0xD9, 0xD1, 0x48, 0x00, 0x02, 0x00, 0x4D,
            ],
        ),
    ] {
        assert_eq!(bytes.len(), 119);
        let a = decode_ack_container(bytes).unwrap();
        assert_eq!(a.session, None);
        assert_eq!(a.container.message_type, ANSWER_MESSAGE_TYPE);
        assert_eq!((a.container.doc_type, a.container.version), (7, 1));
        assert_eq!(a.container.service1, [0x10, 0x09]);
        assert_eq!(a.container.service2, service2);
        assert_eq!(&a.container_fn, b"9999078902013267");
        assert_eq!(a.fn_number, b"9999078902013267");
        assert_eq!((a.fd_number, a.container.fd_number), (fd, fd));
        assert_eq!(a.time, time);
        assert_eq!(a.code, code);
        assert_eq!(a.operator_inn, b"7704211201");
        assert_eq!(a.fpo.len(), 8);
        assert_eq!(a.fpo[..2], [0x88, 0x06]);
        assert_eq!(a.operator_message, None);
        assert_eq!(
            tags(a.document),
            [
                (1017, 12),
                (1078, 8),
                (1041, 16),
                (1040, 4),
                (1012, 4),
                (1068, 5)
            ]
        );
        assert_eq!(a.trailer.len(), 10);
        assert!(a.trailer.starts_with(&[0x82, 0x06]) && a.trailer.ends_with(&[0, 0]));
        assert_eq!(a.message_mac().map(<[u8]>::len), Some(6));
    }
}

#[test]
fn our_answer_to_the_captured_request_is_the_operators_but_for_the_crypto_values() {
    // ФЛК refuses the request (no 1048, 1009), as the production operator did.
    let request = parse_message(REQUEST).unwrap();
    let err = validate(&request, &ValidationConfig::default(), ACK_FD1_TIME).unwrap_err();
    let code = match err.disposition() {
        ofd_proto::error::Disposition::Nack(code) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(code, ResponseCode::FormatLogic);

    let mut ours = Vec::new();
    encode_ack(
        &AckTarget::from(&request),
        code,
        b"7704211201",
        ACK_FD1_TIME,
        REQUEST,
        &HmacSigner::new(b"stand-in key"),
        &mut ours,
    )
    .unwrap();
    // The session header: the request's P-version and FN, flags 0x0014, CRC 0.
    assert_eq!(&ours[..4], &[0x2A, 0x08, 0x41, 0x0A]);
    assert_eq!(&ours[6..8], &[0x01, 0x20]);
    assert_eq!(&ours[8..24], b"9999078902013267");
    assert_eq!(&ours[26..30], &[0x14, 0x00, 0x00, 0x00]);
    let container = &ours[SESSION_HEADER_LEN..];
    assert_eq!(container.len(), ACK_FD1_CODE14.len());

    // Where the crypto module's values and the CRC over them lie.
    let theirs = decode_ack_container(ACK_FD1_CODE14).unwrap();
    let fpo_at = CONTAINER_HEADER_LEN + 4 + 16 + 4; // doc-7 head, 1017 element, 1078 head
    let may_differ = |i: usize| {
        (2..4).contains(&i) // container CRC
            || (20..32).contains(&i) // service data 2
            || (fpo_at + 2..fpo_at + 8).contains(&i) // ФПО's 6 bytes after `88 06`
            || (container.len() - 8..container.len() - 2).contains(&i) // message MAC
    };
    assert_eq!(&ACK_FD1_CODE14[fpo_at..fpo_at + 2], &[0x88, 0x06]);
    let differing: Vec<usize> = (0..container.len())
        .filter(|&i| container[i] != ACK_FD1_CODE14[i])
        .collect();
    assert!(
        differing.iter().all(|&i| may_differ(i)),
        "bytes differ outside the crypto values: {differing:?}"
    );
    // Both decode to the same answer.
    let a = decode_ack(&ours).unwrap();
    assert_eq!(
        (a.fn_number, a.fd_number, a.time, a.code, a.operator_inn),
        (
            theirs.fn_number,
            theirs.fd_number,
            theirs.time,
            theirs.code,
            theirs.operator_inn
        )
    );
    assert_eq!(tags(a.document), tags(theirs.document));
}
