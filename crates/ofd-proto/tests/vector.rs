//! The real 466-byte registration-change report (document 11, FFD 1.05) from
//! `proto-spec/vectors`: decodes to exactly the values in its README, both CRCs and
//! the RN check digits verify, ФЛК accepts it (including its cashier INN that fails its
//! checksum), and re-encoding its parts reproduces every byte.

use ofd_proto::checks::verify_rn;
use ofd_proto::container::{self, ContainerHeader};
use ofd_proto::crc::crc16;
use ofd_proto::doctype::{DocType, FfdVersion};
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::session::{Flags, SessionHeader};
use ofd_proto::tlv::{Tlv, TlvIter, find};
use ofd_proto::validate::{ValidationConfig, validate};
use ofd_proto::value::{Cp866, read_byte, read_u32};

const VECTOR: &[u8] = include_bytes!(
    "../../../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin"
);
const TIME: u32 = 1_488_541_080;

#[test]
fn frames_as_one_whole_message() {
    assert_eq!(VECTOR.len(), 466);
    assert_eq!(
        check_frame(VECTOR, &FrameLimits::default()),
        Ok(Framing::Complete { len: 466 })
    );
}

#[test]
fn headers_decode_to_the_readme_values() {
    let m = parse_message(VECTOR).unwrap();
    assert_eq!(m.session.p_version, [0x00, 0x01]);
    assert_eq!(&m.session.fn_number, b"9999078900005488");
    assert_eq!(m.session.body_len, 436);
    assert_eq!(m.session.flags, Flags(0x0014));
    assert_eq!(m.session.crc, 0);
    assert_eq!(m.container.len, 436);
    assert_eq!(m.container.crc, 0x7825);
    assert_eq!(container::compute_crc(&VECTOR[30..]), Some(0x7825));
    assert_eq!(m.container.message_type, 0xA5);
    assert_eq!(m.doc_type, DocType::RegistrationChange);
    assert_eq!(m.container.version, 1);
    assert_eq!(m.container.service1, [0x10, 0x09]);
    assert_eq!(
        m.container.fn_bcd,
        [0x99, 0x99, 0x07, 0x89, 0x00, 0x00, 0x54, 0x88]
    );
    assert_eq!(&m.container_fn, b"9999078900005488");
    assert_eq!(m.container.fd_number, 1);
    assert_eq!(
        m.container.service2,
        [
            0x84, 0xEC, 0x4C, 0x14, 0xC2, 0x00, 0x00, 0x01, 0x00, 0x04, 0x01, 0x8A
        ]
    );
}

#[test]
fn document_decodes_to_the_readme_values() {
    let m = parse_message(VECTOR).unwrap();
    let (doc, trailer) = m.document().unwrap();
    assert_eq!(doc.tag, 11);
    assert_eq!(doc.value.len(), 390);
    assert_eq!(
        trailer,
        &[0x81, 0x06, 0xA5, 0x5A, 0xE1, 0x0C, 0x4D, 0x75, 0x00, 0x00]
    );

    let tags: Vec<u16> = TlvIter::new(doc.value).map(|t| t.unwrap().tag).collect();
    assert_eq!(
        tags,
        [
            1041, 1037, 1018, 1040, 1012, 1077, 1056, 1002, 1001, 1109, 1110, 1108, 1062, 1101,
            1013, 1048, 1009, 1017, 1060, 1117, 1021, 1046, 1189, 1209, 1188, 1187, 1203, 1221,
            1207
        ]
    );
    let v = |tag| find(doc.value, tag).unwrap().value;
    let byte = |tag| read_byte(v(tag)).unwrap();
    assert_eq!(v(1041), b"9999078900005488");
    assert_eq!(v(1037), b"0000000005008570    ");
    assert_eq!(v(1018), b"7702203276  ");
    assert_eq!(read_u32(v(1040)).unwrap(), 1);
    assert_eq!(read_u32(v(1012)).unwrap(), TIME);
    assert_eq!(v(1077), &[0x21, 0x04, 0xAA, 0x10, 0x75, 0x41]);
    for (tag, want) in [
        (1056, 0),
        (1002, 0),
        (1001, 0),
        (1109, 1),
        (1110, 0),
        (1108, 0),
        (1062, 6),
        (1101, 1),
        (1189, 2),
        (1209, 2),
        (1221, 0),
        (1207, 1),
    ] {
        assert_eq!(byte(tag), want, "tag {tag}");
    }
    assert_eq!(v(1013), b"000000000002");
    assert_eq!(Cp866(v(1048)).decode(), "ООО РАПКАТ-центр ");
    assert_eq!(v(1017), b"7704358518  ");
    assert_eq!(v(1060), b"nalog.ru");
    assert_eq!(v(1117), b"example@example.com");
    assert_eq!(Cp866(v(1021)).decode(), "Шеннон К. ");
    assert_eq!(v(1046), b"OOO TAXCOM");
    assert_eq!(v(1188), b"2.0");
    assert!(v(1187).windows(2).any(|w| w == b"\r\n"));
    assert_eq!(v(1203), b"771234567890");
}

#[test]
fn rn_check_digits_verify() {
    let input = b"0000000005007702203276" as &[u8];
    let serial = b"00000000000000000002" as &[u8];
    let mut all = input.to_vec();
    all.extend_from_slice(serial);
    assert_eq!(crc16(&all), 8570);
    verify_rn(b"0000000005008570", b"7702203276", b"000000000002").unwrap();
}

#[test]
fn passes_flk_with_its_bad_cashier_inn() {
    let m = parse_message(VECTOR).unwrap();
    let d = validate(&m, &ValidationConfig::default(), TIME + 3600).unwrap();
    assert_eq!(d.doc_type, DocType::RegistrationChange);
    assert_eq!(d.ffd, FfdVersion::V1_05);
    assert_eq!(&d.fn_number, b"9999078900005488");
    assert_eq!(d.fd_number, 1);
    assert_eq!(d.time, Some(TIME));
    assert_eq!(d.rn, Some(&b"0000000005008570"[..]));
    assert_eq!(d.user_inn, Some(&b"7702203276"[..]));
    assert_eq!(d.kkt_serial, Some(&b"000000000002"[..]));
    assert_eq!(d.user_name.unwrap().decode(), "ООО РАПКАТ-центр ");
    assert!(d.address.is_some() && d.place.is_some());
    assert_eq!(d.encryption, Some(false));
    assert_eq!(
        d.fiscal_sign_raw,
        Some(&[0x21, 0x04, 0xAA, 0x10, 0x75, 0x41])
    );
    assert_eq!(d.fiscal_sign(), Some(0xAA10_7541));
    assert_eq!(
        d.unverified_inns, 1,
        "the cashier INN 1203 fails its checksum and is only counted"
    );
    assert_eq!(d.total_sum, None);
    assert_eq!(d.trailer.len(), 10);
    assert_eq!(
        d.tlv,
        Tlv {
            tag: 11,
            value: &VECTOR[66..456]
        }
    );
}

#[test]
fn reencoding_the_parts_reproduces_all_466_bytes() {
    let m = parse_message(VECTOR).unwrap();
    let (doc, trailer) = m.document().unwrap();
    let body = &VECTOR[30..];
    let mut out = Vec::new();
    out.extend_from_slice(&m.session.encode(body).unwrap());
    out.extend_from_slice(&m.container.encode().unwrap());
    ofd_proto::tlv::write_tlv(&mut out, doc.tag, doc.value);
    out.extend_from_slice(trailer);
    assert_eq!(out, VECTOR);

    // Header decode → encode is the identity too.
    let s = SessionHeader::decode(VECTOR).unwrap();
    assert_eq!(s.encode(body).unwrap(), VECTOR[..30]);
    let c = ContainerHeader::decode(body).unwrap();
    assert_eq!(c.encode().unwrap(), VECTOR[30..62]);
    let mut sealed = body.to_vec();
    sealed[2..4].fill(0);
    container::seal(&mut sealed).unwrap();
    assert_eq!(sealed, body);
}
