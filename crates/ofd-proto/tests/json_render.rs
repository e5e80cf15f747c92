//! FNS JSON rendering: the real vector end to end, a hand-built receipt, and malformed input.

use ofd_proto::dict;
use ofd_proto::json::{to_fns_json, to_fns_json_string};
use ofd_proto::message::parse_message;
use ofd_proto::tlv::{Tlv, TlvIter, begin_stlv, end_stlv, write_tlv};
use ofd_proto::value::{Fvln, encode_cp866, vln_bytes};
use serde_json::json;

fn real_vector() -> Vec<u8> {
    // The real 466-byte message (FN 9999078900005488, FD 1, document 11, FFD 1.05).
    include_bytes!(
        "../../../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin"
    )
    .to_vec()
}

#[test]
fn real_vector_renders_as_fns_json() {
    let frame = real_vector();
    assert_eq!(frame.len(), 466);
    let msg = parse_message(&frame).expect("the real vector parses");
    let (document, _trailer) = msg.document().expect("document TLV");
    assert_eq!(document.tag, 11);

    let expected = json!({
        "fiscalReportCorrection": {
            "code": 11,
            "fiscalDriveNumber": "9999078900005488",
            "kktRegId": "0000000005008570",
            "userInn": "7702203276",
            "fiscalDocumentNumber": 1,
            "dateTime": 1488541080,
            "fiscalSign": 2853205313u32,
            "encryptionSign": 0,
            "offlineMode": 0,
            "autoMode": 0,
            "serviceSign": 1,
            "bsoSign": 0,
            "internetSign": 0,
            "taxationType": 6,
            "correctionReasonCode": 1,
            "kktNumber": "000000000002",
            "user": "ООО РАПКАТ-центр",
            "retailPlaceAddress": "111141 г.Москва, ул. Кусковская д.20А офис В-202",
            "ofdInn": "7704358518",
            "fnsUrl": "nalog.ru",
            "sellerAddress": "example@example.com",
            "operator": "Шеннон К.",
            "ofdName": "OOO TAXCOM",
            "documentKktVersion": 2,
            "fiscalDocumentFormatVer": 2,
            "kktVersion": "2.0",
            "retailPlace": "111141 г.Москва, ул. Кусковская\r\nд.20А офис В-202",
            "operatorInn": "771234567890",
            "printInMachineSign": 0,
            "exciseDutyProductSign": 1,
        }
    });
    let got = to_fns_json(msg.doc_type.as_u8(), document);
    assert_eq!(got, expected);
    let round_trip: serde_json::Value =
        serde_json::from_str(&to_fns_json_string(11, document)).expect("valid JSON text");
    assert_eq!(round_trip, expected);
}

#[test]
fn every_tag_of_the_real_vector_is_known_and_allowed_in_its_document() {
    let frame = real_vector();
    let msg = parse_message(&frame).unwrap();
    let (document, _) = msg.document().unwrap();
    for tlv in TlvIter::new(document.value) {
        let tlv = tlv.unwrap();
        let info = dict::lookup(tlv.tag).unwrap_or_else(|| panic!("tag {} unknown", tlv.tag));
        assert!(
            info.allowed_in_doc(11),
            "tag {} not allowed in document 11",
            tlv.tag
        );
        let len = u16::try_from(tlv.value.len()).unwrap();
        assert!(
            (info.min_len..=info.max_len).contains(&len),
            "tag {} length {len}",
            tlv.tag
        );
    }
}

fn string(out: &mut Vec<u8>, tag: u16, s: &str) {
    write_tlv(out, tag, &encode_cp866(s));
}

fn vln(out: &mut Vec<u8>, tag: u16, n: u64) {
    let (bytes, len) = vln_bytes(n);
    write_tlv(out, tag, &bytes[..len]);
}

fn item(out: &mut Vec<u8>, name: &str, price: u64, quantity: Fvln, sum: u64) {
    let at = begin_stlv(out, 1059);
    string(out, 1030, name);
    vln(out, 1079, price);
    write_tlv(out, 1023, &quantity.to_bytes());
    vln(out, 1043, sum);
    write_tlv(out, 1199, &[1]);
    write_tlv(out, 1214, &[4]);
    write_tlv(out, 1212, &[1]);
    end_stlv(out, at);
}

#[test]
fn hand_built_receipt_with_two_items() {
    let mut doc = Vec::new();
    let outer = begin_stlv(&mut doc, 3);
    string(&mut doc, 1041, "9999078900005488");
    string(&mut doc, 1037, "0000000005008570    ");
    string(&mut doc, 1018, "7702203276  ");
    write_tlv(&mut doc, 1040, &42u32.to_le_bytes());
    write_tlv(&mut doc, 1012, &1_700_000_000u32.to_le_bytes());
    write_tlv(&mut doc, 1077, &[0, 0, 0x12, 0x34, 0x56, 0x78]);
    write_tlv(&mut doc, 1042, &7u32.to_le_bytes());
    write_tlv(&mut doc, 1038, &3u32.to_le_bytes());
    write_tlv(&mut doc, 1054, &[1]);
    write_tlv(&mut doc, 1055, &[1]);
    string(&mut doc, 1021, "Иванова А. ");
    item(
        &mut doc,
        "Хлеб",
        4599,
        Fvln {
            scale: 0,
            mantissa: 2,
        },
        9198,
    );
    item(
        &mut doc,
        "Сыр весовой",
        89_900,
        Fvln {
            scale: 3,
            mantissa: 1250,
        },
        112_375,
    );
    vln(&mut doc, 1020, 121_573);
    vln(&mut doc, 1031, 0);
    write_tlv(&mut doc, 1081, &[0xE5, 0xDA, 0x01, 0, 0, 0]); // 121_573 with high zero bytes kept
    write_tlv(&mut doc, 1102, &[0x10, 0x27]);
    let props = begin_stlv(&mut doc, 1084);
    string(&mut doc, 1085, "акция");
    string(&mut doc, 1086, "2+1");
    end_stlv(&mut doc, props);
    string(&mut doc, 1008, "a@b.ru");
    string(&mut doc, 1008, "+79990000000"); // not declared repeatable, yet repeated
    write_tlv(&mut doc, 1399, &[0xDE, 0xAD]); // not in the dictionary
    write_tlv(&mut doc, 1209, &[2]);
    end_stlv(&mut doc, outer);

    let document = TlvIter::new(&doc).next().unwrap().unwrap();
    let expected = json!({
        "receipt": {
            "code": 3,
            "fiscalDriveNumber": "9999078900005488",
            "kktRegId": "0000000005008570",
            "userInn": "7702203276",
            "fiscalDocumentNumber": 42,
            "dateTime": 1_700_000_000,
            "fiscalSign": 0x1234_5678,
            "requestNumber": 7,
            "shiftNumber": 3,
            "operationType": 1,
            "appliedTaxationType": 1,
            "operator": "Иванова А.",
            "items": [
                {"name": "Хлеб", "price": 4599, "quantity": 2, "sum": 9198,
                 "nds": 1, "paymentType": 4, "productType": 1},
                {"name": "Сыр весовой", "price": 89_900, "quantity": 1.25,
                 "sum": 112_375, "nds": 1, "paymentType": 4, "productType": 1},
            ],
            "totalSum": 121_573,
            "cashTotalSum": 0,
            "ecashTotalSum": 121_573,
            "nds18": 10_000,
            "properties": [{"propertyName": "акция", "propertyValue": "2+1"}],
            "buyerPhoneOrAddress": ["a@b.ru", "+79990000000"],
            "tag1399": "3q0=",
            "fiscalDocumentFormatVer": 2,
        }
    });
    assert_eq!(to_fns_json(3, document), expected);
}

#[test]
fn a_single_item_is_still_an_array() {
    let mut doc = Vec::new();
    item(
        &mut doc,
        "X",
        1,
        Fvln {
            scale: 0,
            mantissa: 1,
        },
        1,
    );
    let got = to_fns_json(
        3,
        Tlv {
            tag: 3,
            value: &doc,
        },
    );
    assert!(got["receipt"]["items"].is_array(), "{got}");
    assert_eq!(got["receipt"]["items"].as_array().map(Vec::len), Some(1));
}

#[test]
fn values_that_do_not_fit_their_type_become_base64() {
    let mut doc = Vec::new();
    write_tlv(&mut doc, 1040, &[1, 2, 3]); // u32 with 3 bytes
    write_tlv(&mut doc, 1077, &[1, 2, 3, 4]); // fiscal sign of 4 bytes
    write_tlv(&mut doc, 1023, &[]); // FVLN without its scale byte
    let got = to_fns_json(
        3,
        Tlv {
            tag: 3,
            value: &doc,
        },
    );
    assert_eq!(
        got,
        json!({"receipt": {"code": 3, "fiscalDocumentNumber": "AQID", "fiscalSign": "AQIDBA==", "quantity": ""}})
    );
}

#[test]
fn malformed_sequences_keep_the_readable_prefix_and_say_why() {
    let mut doc = Vec::new();
    write_tlv(&mut doc, 1040, &5u32.to_le_bytes());
    let at = begin_stlv(&mut doc, 1059);
    doc.extend_from_slice(&[0x06, 0x04, 0x09, 0x00, b'A']); // 1030 claims 9 bytes, has 1
    end_stlv(&mut doc, at);
    doc.extend_from_slice(&[0x10, 0x04]); // truncated head at the top level

    let got = to_fns_json(
        3,
        Tlv {
            tag: 3,
            value: &doc,
        },
    );
    let receipt = &got["receipt"];
    assert_eq!(receipt["fiscalDocumentNumber"], 5);
    let item_error = receipt["items"][0]["tlvError"]
        .as_str()
        .expect("error inside the item");
    assert!(item_error.contains("tag 1030"), "{item_error}");
    let top_error = receipt["tlvError"]
        .as_str()
        .expect("error at the top level");
    assert!(top_error.contains("truncated"), "{top_error}");
}

#[test]
fn unknown_document_type_gets_a_generic_root() {
    let got = to_fns_json(
        99,
        Tlv {
            tag: 99,
            value: &[],
        },
    );
    assert_eq!(got, json!({"document99": {"code": 99}}));
    let ack = to_fns_json(7, Tlv { tag: 7, value: &[] });
    assert_eq!(ack, json!({"operatorAck": {"code": 7}}));
}
