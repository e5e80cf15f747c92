//! FNS JSON back to the document TLV (`json::from_fns_json`): names are mapped to tags by the
//! object they are in, so the names FNS reuses in disjoint objects (1020 / 1201 `totalSum`,
//! 1215–1217 / 1218–1220, 1012 / 1273 `dateTime`) come back to the right tags; every bad input
//! gets a specific error.

use ofd_proto::json::{JsonError, from_fns_json, message_to_fns_json, to_fns_json};
use ofd_proto::message::parse_message;
use ofd_proto::tlv::{Tlv, TlvIter, begin_stlv, end_stlv, write_tlv};
use ofd_proto::value::vln_bytes;
use serde_json::{Value, json};

fn vln(out: &mut Vec<u8>, tag: u16, n: u64) {
    let (b, len) = vln_bytes(n);
    write_tlv(out, tag, &b[..len]);
}

/// Every (path of tags, value) leaf of a TLV sequence, sorted: equal for the same elements in
/// any order.
fn leaves(bytes: &[u8], prefix: &[u16], out: &mut Vec<(Vec<u16>, Vec<u8>)>, stlvs: &[u16]) {
    for t in TlvIter::new(bytes) {
        let t = t.expect("well-formed");
        let mut path = prefix.to_vec();
        path.push(t.tag);
        if stlvs.contains(&t.tag) {
            leaves(t.value, &path, out, stlvs);
        } else {
            out.push((path, t.value.to_vec()));
        }
    }
}

fn sorted_leaves(doc: &[u8], stlvs: &[u16]) -> Vec<(Vec<u16>, Vec<u8>)> {
    let mut out = Vec::new();
    leaves(doc, &[], &mut out, stlvs);
    out.sort();
    out
}

/// A shift-close report with counters (1201, 1218–1220 inside 1129 and 1232) — the names FNS
/// shares with a receipt's 1020, 1215–1217.
fn shift_close_with_counters() -> Vec<u8> {
    let mut doc = Vec::new();
    let reports = begin_stlv(&mut doc, 1194);
    write_tlv(&mut doc, 1134, &3u32.to_le_bytes());
    let sell = begin_stlv(&mut doc, 1129);
    write_tlv(&mut doc, 1135, &3u32.to_le_bytes());
    vln(&mut doc, 1201, 12_345);
    vln(&mut doc, 1218, 100);
    vln(&mut doc, 1219, 200);
    vln(&mut doc, 1220, 300);
    end_stlv(&mut doc, sell);
    let corrections = begin_stlv(&mut doc, 1133);
    let sell_return = begin_stlv(&mut doc, 1232);
    vln(&mut doc, 1201, 70);
    end_stlv(&mut doc, sell_return);
    end_stlv(&mut doc, corrections);
    end_stlv(&mut doc, reports);
    write_tlv(&mut doc, 1118, &3u32.to_le_bytes());
    doc
}

/// A receipt with 1020, 1215–1217, 1012 at the top and 1273 inside 1270.
fn receipt_with_operational_details() -> Vec<u8> {
    let mut doc = Vec::new();
    write_tlv(&mut doc, 1012, &1_700_000_000u32.to_le_bytes());
    vln(&mut doc, 1020, 5000);
    vln(&mut doc, 1215, 1);
    vln(&mut doc, 1216, 2);
    vln(&mut doc, 1217, 3);
    let details = begin_stlv(&mut doc, 1270);
    write_tlv(&mut doc, 1271, &[7]);
    write_tlv(&mut doc, 1273, &1_690_000_000u32.to_le_bytes());
    end_stlv(&mut doc, details);
    doc
}

#[test]
fn the_reused_names_are_written_as_fns_writes_them() {
    let doc = shift_close_with_counters();
    let got = to_fns_json(
        5,
        Tlv {
            tag: 5,
            value: &doc,
        },
    );
    let sell = &got["closeShift"]["shiftSumReports"]["sellOper"];
    assert_eq!(sell["totalSum"], 12_345);
    assert_eq!(sell["prepaidSum"], 100);
    assert_eq!(sell["creditSum"], 200);
    assert_eq!(sell["provisionSum"], 300);
    assert_eq!(
        got["closeShift"]["shiftSumReports"]["receiptCorrection"]["sellReturnCorrection"]["totalSum"],
        70
    );
    let receipt = receipt_with_operational_details();
    let got = to_fns_json(
        3,
        Tlv {
            tag: 3,
            value: &receipt,
        },
    );
    assert_eq!(got["receipt"]["totalSum"], 5000);
    assert_eq!(got["receipt"]["prepaidSum"], 1);
    assert_eq!(got["receipt"]["dateTime"], 1_700_000_000u32);
    assert_eq!(
        got["receipt"]["operationalDetails"]["dateTime"],
        1_690_000_000u32
    );
    let text = got.to_string()
        + &to_fns_json(
            5,
            Tlv {
                tag: 5,
                value: &doc,
            },
        )
        .to_string();
    for own in [
        "totalReceiptsSum",
        "totalPrepaidSum",
        "totalCreditSum",
        "totalProvisionSum",
        "operationDateTime",
    ] {
        assert!(!text.contains(own), "{own} is not an FNS name");
    }
}

#[test]
fn decoding_maps_each_name_back_by_its_object() {
    let stlvs = [1194, 1129, 1133, 1232, 1270];
    for (doc_type, doc) in [
        (5u8, shift_close_with_counters()),
        (3, receipt_with_operational_details()),
    ] {
        let json = to_fns_json(
            doc_type,
            Tlv {
                tag: u16::from(doc_type),
                value: &doc,
            },
        );
        let back = from_fns_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(back.doc_type, doc_type);
        assert!(back.approximated.is_empty());
        let outer = TlvIter::new(&back.document).next().unwrap().unwrap();
        assert_eq!(outer.tag, u16::from(doc_type));
        assert_eq!(
            sorted_leaves(outer.value, &stlvs),
            sorted_leaves(&doc, &stlvs),
            "{json}"
        );
        // Same JSON again.
        assert_eq!(to_fns_json(doc_type, outer), json);
    }
}

#[test]
fn the_real_vector_round_trips_through_fns_json() {
    let frame = include_bytes!(
        "../../../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin"
    );
    let msg = parse_message(frame).unwrap();
    let (document, _) = msg.document().unwrap();
    let json = message_to_fns_json(&msg).unwrap();
    let back = from_fns_json(&json).unwrap();
    assert_eq!(back.doc_type, 11);
    // 1077 is printed as its last 4 bytes: the only value not restored byte for byte.
    assert_eq!(back.approximated, vec![1077]);
    let outer = TlvIter::new(&back.document).next().unwrap().unwrap();
    let mut expected = sorted_leaves(document.value, &[]);
    for (path, value) in &mut expected {
        if path == &[1077] {
            value[..2].fill(0);
        }
        // FNS JSON trims a string's padding; a fixed-length one is padded again, a variable one
        // (1021 and 1048 here carry a trailing space) comes back without it.
        let info = ofd_proto::dict::lookup(path[0]).unwrap();
        if info.ty == ofd_proto::value::ValueType::String && !info.fixed {
            while value.last() == Some(&b' ') {
                value.pop();
            }
        }
    }
    assert_eq!(sorted_leaves(outer.value, &[]), expected);
    // Fixed-length strings come back padded (RN 20, INN 12).
    let rn = ofd_proto::tlv::find(outer.value, 1037).unwrap();
    assert_eq!(rn.value, b"0000000005008570    ");
}

#[test]
fn every_bad_input_gets_a_specific_error() {
    let err = |v: Value| from_fns_json(&v).expect_err(&v.to_string());
    assert_eq!(err(json!([])), JsonError::NotADocument);
    assert_eq!(
        err(json!({"receipt": {}, "bso": {}})),
        JsonError::NotADocument
    );
    assert_eq!(err(json!({"receipt": 3})), JsonError::NotADocument);
    assert_eq!(
        err(json!({"cheque": {}})),
        JsonError::UnknownRoot("cheque".into())
    );
    assert!(matches!(
        err(json!({"receipt": {"code": 5}})),
        JsonError::CodeMismatch { doc_type: 3, .. }
    ));
    assert_eq!(
        err(json!({"receipt": {"noSuchTag": 1}})),
        JsonError::UnknownName {
            path: "receipt.noSuchTag".into(),
            name: "noSuchTag".into()
        }
    );
    // `totalSum` inside an item is neither 1020's nor 1201's place: ambiguous, not guessed.
    assert_eq!(
        err(json!({"receipt": {"items": [{"totalSum": 1}]}})),
        JsonError::AmbiguousName {
            path: "receipt.items[0].totalSum".into(),
            name: "totalSum".into(),
            tags: &[1020, 1201],
        }
    );
    for (v, tag) in [
        (json!({"receipt": {"fiscalDocumentFormatVer": 256}}), 1209),
        (json!({"receipt": {"fiscalDocumentNumber": -1}}), 1040),
        (json!({"receipt": {"fiscalDocumentNumber": 1.5}}), 1040),
        (
            json!({"receipt": {"fiscalDocumentNumber": "not base64!"}}),
            1040,
        ),
        (json!({"receipt": {"user": 5}}), 1048),
        (json!({"receipt": {"items": [{"quantity": "1,5"}]}}), 1023),
        (json!({"receipt": {"items": [{"quantity": -1}]}}), 1023),
        (json!({"receipt": {"items": [5]}}), 1059),
        (json!({"receipt": {"user": "x".repeat(70_000)}}), 1048),
    ] {
        match err(v.clone()) {
            JsonError::BadValue { tag: t, .. } => assert_eq!(t, tag, "{v}"),
            other => panic!("{v}: {other:?}"),
        }
    }
    assert!(matches!(
        err(json!({"receipt": {"items": [{"tlvError": "truncated"}]}})),
        JsonError::TlvError { .. }
    ));
    assert!(matches!(
        err(json!({"receipt": {"tag9999": "%%"}})),
        JsonError::BadValue { tag: 9999, .. }
    ));
}

#[test]
fn renderer_fallbacks_decode_back() {
    // A 3-byte u32 renders as base64 and comes back as those bytes; an unknown tag as tagNNNN.
    let mut doc = Vec::new();
    write_tlv(&mut doc, 1040, &[1, 2, 3]);
    write_tlv(&mut doc, 1399, &[9, 9]);
    write_tlv(&mut doc, 1399, &[8]);
    let json = to_fns_json(
        3,
        Tlv {
            tag: 3,
            value: &doc,
        },
    );
    assert_eq!(json["receipt"]["tag1399"], json!(["CQk=", "CA=="]));
    let back = from_fns_json(&json).unwrap();
    let outer = TlvIter::new(&back.document).next().unwrap().unwrap();
    assert_eq!(sorted_leaves(outer.value, &[]), sorted_leaves(&doc, &[]));
}

fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let names = prop::sample::select(vec![
        "receipt",
        "closeShift",
        "code",
        "items",
        "totalSum",
        "dateTime",
        "sellOper",
        "shiftSumReports",
        "operationalDetails",
        "quantity",
        "user",
        "fiscalSign",
        "tag1399",
        "tlvError",
        "rawData",
        "document99",
        "name",
        "price",
        "kktRegId",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..5).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn arbitrary_json_never_panics(v in arbitrary_json()) {
        let _ = from_fns_json(&v);
        let _ = from_fns_json(&json!({"receipt": v.clone()}));
        let _ = from_fns_json(&json!({"closeShift": {"shiftSumReports": {"sellOper": v}}}));
    }
}
