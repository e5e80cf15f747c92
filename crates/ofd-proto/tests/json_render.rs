//! FNS JSON rendering: the real vector end to end, a hand-built receipt, and malformed input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ofd_proto::dict;
use ofd_proto::json::{
    MESSAGE_FISCAL_SIGN_KEY, RAW_DATA_KEY, message_to_fns_json, to_fns_json, to_fns_json_string,
    to_fns_json_with_trailer,
};
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

/// `messageFiscalSign`: the trailer's `81 06` + 6-byte MAC read big-endian, as coop-fd and the
/// operators' FNS JSON write it; `rawData`: base64 of the document TLV followed by those 8 bytes.
#[test]
fn real_vector_carries_message_fiscal_sign_and_raw_data() {
    let frame = real_vector();
    let msg = parse_message(&frame).unwrap();
    let (document, trailer) = msg.document().unwrap();
    assert_eq!(
        trailer,
        [0x81, 0x06, 0xA5, 0x5A, 0xE1, 0x0C, 0x4D, 0x75, 0x00, 0x00]
    );

    let got = message_to_fns_json(&msg).expect("the real vector renders");
    assert_eq!(got, to_fns_json_with_trailer(11, document, trailer));
    let body = &got["fiscalReportCorrection"];
    assert_eq!(body[MESSAGE_FISCAL_SIGN_KEY], 0x8106_A55A_E10C_4D75u64);
    assert_eq!(body[MESSAGE_FISCAL_SIGN_KEY], 9_297_300_290_494_287_221u64);

    // 30-byte session header + 32-byte container header, then the 394-byte document TLV.
    let raw = BASE64
        .decode(body[RAW_DATA_KEY].as_str().expect("rawData is a string"))
        .expect("standard base64 with padding");
    assert_eq!(raw.len(), 394 + 8);
    assert_eq!(raw, frame[62..62 + 394 + 8]);
    assert_eq!(raw[..4], [11, 0, 0x86, 0x01], "document 11, 390 bytes");

    // Everything else is the plain rendering.
    let mut rest = got.clone();
    let obj = rest["fiscalReportCorrection"].as_object_mut().unwrap();
    obj.remove(MESSAGE_FISCAL_SIGN_KEY);
    obj.remove(RAW_DATA_KEY);
    assert_eq!(rest, to_fns_json(11, document));
}

#[test]
fn ffd12_vector_message_fiscal_sign() {
    let frame = include_bytes!(
        "../../../proto-spec/vectors/registration-change-ffd12-fn9999078902013267-fd1.bin"
    );
    let msg = parse_message(frame).unwrap();
    let got = message_to_fns_json(&msg).unwrap();
    let body = &got["fiscalReportCorrection"];
    // Trailer 81 06 33 DE D3 11 F3 15 00 00.
    assert_eq!(body[MESSAGE_FISCAL_SIGN_KEY], 0x8106_33DE_D311_F315u64);
    assert_eq!(body["documentFdVersion"], 4);
    assert_eq!(body["usageConditionSigns"], 0x140);
    let raw = BASE64.decode(body[RAW_DATA_KEY].as_str().unwrap()).unwrap();
    assert_eq!(raw, frame[62..frame.len() - 2]);
}

/// Names taken from tags-reference.json (issue 14): the counters of a shift-close report and the
/// FFD 1.2 marking-check result of a receipt.
#[test]
fn counters_and_marking_tags_use_the_reference_names() {
    let mut doc = Vec::new();
    let reports = begin_stlv(&mut doc, 1194);
    write_tlv(&mut doc, 1134, &3u32.to_le_bytes());
    let sell = begin_stlv(&mut doc, 1129);
    write_tlv(&mut doc, 1135, &3u32.to_le_bytes());
    vln(&mut doc, 1136, 1000);
    vln(&mut doc, 1138, 2500);
    vln(&mut doc, 1139, 500);
    vln(&mut doc, 1183, 0);
    end_stlv(&mut doc, sell);
    let corrections = begin_stlv(&mut doc, 1133);
    write_tlv(&mut doc, 1144, &1u32.to_le_bytes());
    let sell_return = begin_stlv(&mut doc, 1232);
    write_tlv(&mut doc, 1135, &1u32.to_le_bytes());
    vln(&mut doc, 1136, 70);
    end_stlv(&mut doc, sell_return);
    end_stlv(&mut doc, corrections);
    end_stlv(&mut doc, reports);
    write_tlv(&mut doc, 1118, &3u32.to_le_bytes());
    write_tlv(&mut doc, 2104, &0u32.to_le_bytes());

    let got = to_fns_json(
        5,
        Tlv {
            tag: 5,
            value: &doc,
        },
    );
    assert_eq!(
        got,
        json!({"closeShift": {
            "code": 5,
            "shiftSumReports": {
                "totalReceiptBsoCount": 3,
                "sellOper": {"receiptBsoCount": 3, "cashSum": 1000, "ecashSum": 2500,
                             "tax18Sum": 500, "taxFreeSum": 0},
                "receiptCorrection": {
                    "receiptCorrectionCount": 1,
                    "sellReturnCorrection": {"receiptBsoCount": 1, "cashSum": 70},
                },
            },
            "receiptQuantity": 3,
            "undeliveredNotificationsNumber": 0,
        }})
    );

    let mut receipt = Vec::new();
    write_tlv(&mut receipt, 2107, &[0]);
    let got = to_fns_json(
        3,
        Tlv {
            tag: 3,
            value: &receipt,
        },
    );
    assert_eq!(
        got,
        json!({"receipt": {"code": 3, "checkingLabeledProdResult": 0}})
    );
}
