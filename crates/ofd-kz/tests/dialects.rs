//! Real registers' dialects of KKM–OFD 2.0.x.
//!
//! 1. `kkm.proto` against the two public schemas (2.0.2 and 2.0.3), field by field, from the
//!    table `proto-spec/kz/public-schemas.tsv`: a field present on both sides with another wire
//!    type always fails; any other difference (a field or enum value left out, another scalar type
//!    with the same wire type) fails unless it is listed in [`INTENDED`] and named in
//!    `proto-spec/kz/README.md`; a listed difference that no longer exists fails too.
//! 2. A production operator's answer to a 2.0.2 register (`proto-spec/vectors/
//!    kz-info-answer-v202-id200773.bin`), whose `OrgRegInfo` carries field 6 as a varint
//!    (2.0.2 `tenantId`): it decodes, and a 2.0.2 register that echoes that reg info in its
//!    requests gets code 0 — as does a 2.0.3 register echoing field 6 as `address_kz`. Answers
//!    keep the register's VERSION and never carry field 6.

mod common;
mod schema;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use ofd_kz::builder::{self, Kkm, TicketSpec};
use ofd_kz::codec::decode_response;
use ofd_kz::header::{VERSION_202, VERSION_203};
use ofd_kz::raw;
use prost::Message;

// ---------------------------------------------------------------------------------------------
// 1. The schema against the public ones

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The public field (or enum value; `number` None: the whole enum) is not in kkm.proto.
    Absent,
    /// Present with another scalar or enum type of the same wire type.
    OtherType,
}

struct Intended {
    version: &'static str,
    path: &'static str,
    number: Option<i32>,
    kind: Kind,
    /// Text that proto-spec/kz/README.md must contain (where the difference is explained).
    readme: &'static str,
}

const fn d(
    version: &'static str,
    path: &'static str,
    number: Option<i32>,
    kind: Kind,
    readme: &'static str,
) -> Intended {
    Intended {
        version,
        path,
        number,
        kind,
        readme,
    }
}

/// Every intended difference between kkm.proto and the public schemas.
const INTENDED: &[Intended] = &[
    d(
        "2.0.2",
        "OrgRegInfo",
        Some(6),
        Kind::Absent,
        "`OrgRegInfo` field 6",
    ),
    d(
        "2.0.3",
        "OrgRegInfo",
        Some(6),
        Kind::Absent,
        "`OrgRegInfo` field 6",
    ),
    d(
        "2.0.2",
        "TicketRequest.Item.Commodity",
        Some(4),
        Kind::OtherType,
        "`Commodity.quantity`",
    ),
    d(
        "2.0.2",
        "TicketRequest.Item.StornoCommodity",
        Some(3),
        Kind::OtherType,
        "`StornoCommodity.quantity`",
    ),
    d(
        "2.0.3",
        "NomenclatureRequest",
        Some(2),
        Kind::Absent,
        "`NomenclatureRequest.barcode`",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.Element",
        Some(7),
        Kind::Absent,
        "`NomenclatureResponse.Element.title_kk`",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.Item",
        Some(17),
        Kind::Absent,
        "`NomenclatureResponse.Item` 17–19",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.Item",
        Some(18),
        Kind::Absent,
        "`NomenclatureResponse.Item` 17–19",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.Item",
        Some(19),
        Kind::Absent,
        "`NomenclatureResponse.Item` 17–19",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.Tax",
        Some(1),
        Kind::OtherType,
        "`NomenclatureResponse.Tax` 1–2",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.Tax",
        Some(2),
        Kind::OtherType,
        "`NomenclatureResponse.Tax` 1–2",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.TaxTypeEnum",
        None,
        Kind::Absent,
        "`NomenclatureResponse.Tax` 1–2",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.TaxationTypeEnum",
        None,
        Kind::Absent,
        "`NomenclatureResponse.Tax` 1–2",
    ),
    d(
        "2.0.3",
        "NomenclatureResponse.NomenclatureResultTypeEnum",
        Some(3),
        Kind::Absent,
        "`NomenclatureResultTypeEnum` 3",
    ),
];

fn spec_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto-spec/kz"))
}

fn ours() -> schema::Schema {
    schema::compile(spec_dir(), &["kkm.proto"]).expect("kkm.proto compiles")
}

/// The differences found, each as (version, path, number, kind, detail); wire-type conflicts are
/// collected apart (never allowed).
#[derive(Default)]
struct Report {
    conflicts: Vec<String>,
    found: Vec<(String, String, Option<i32>, Kind, String)>,
}

fn compare(
    ours: &schema::Schema,
    public: &std::collections::BTreeMap<String, schema::Schema>,
) -> Report {
    let mut r = Report::default();
    for (version, theirs) in public {
        for (path, fields) in &theirs.messages {
            let mine = ours.messages.get(path);
            if mine.is_none() {
                r.conflicts
                    .push(format!("{version}: message {path} is not in kkm.proto"));
                continue;
            }
            let mine = mine.unwrap();
            for (n, f) in fields {
                let Some(m) = mine.get(n) else {
                    r.found.push((
                        version.clone(),
                        path.clone(),
                        Some(*n),
                        Kind::Absent,
                        format!("{} {}", f.ty, f.name),
                    ));
                    continue;
                };
                if m.wire != f.wire {
                    r.conflicts.push(format!(
                        "{version}: {path} field {n}: wire type {} in kkm.proto ({} {}), {} in the public schema ({} {})",
                        m.wire, m.ty, m.name, f.wire, f.ty, f.name
                    ));
                }
                if (m.label == "repeated") != (f.label == "repeated") {
                    r.conflicts.push(format!(
                        "{version}: {path} field {n}: {} here, {} there",
                        m.label, f.label
                    ));
                }
                if m.name != f.name {
                    r.conflicts.push(format!(
                        "{version}: {path} field {n}: named {} here, {} there",
                        m.name, f.name
                    ));
                }
                if m.ty != f.ty && m.wire == f.wire {
                    r.found.push((
                        version.clone(),
                        path.clone(),
                        Some(*n),
                        Kind::OtherType,
                        format!("{} here, {} there", m.ty, f.ty),
                    ));
                }
            }
        }
        for (path, values) in &theirs.enums {
            let Some(mine) = ours.enums.get(path) else {
                r.found.push((
                    version.clone(),
                    path.clone(),
                    None,
                    Kind::Absent,
                    "enum".into(),
                ));
                continue;
            };
            for (n, name) in values {
                if !mine.contains_key(n) {
                    r.found.push((
                        version.clone(),
                        path.clone(),
                        Some(*n),
                        Kind::Absent,
                        name.clone(),
                    ));
                }
            }
        }
    }
    // Everything in kkm.proto exists, with the same number, wire type and repeatedness, in at
    // least one public schema.
    for (path, fields) in &ours.messages {
        for (n, m) in fields {
            let known = public.values().any(|s| {
                s.messages
                    .get(path)
                    .and_then(|fs| fs.get(n))
                    .is_some_and(|f| {
                        f.wire == m.wire && (f.label == "repeated") == (m.label == "repeated")
                    })
            });
            if !known {
                r.conflicts.push(format!(
                    "kkm.proto {path} field {n} ({} {}) is in no public schema",
                    m.ty, m.name
                ));
            }
        }
    }
    for (path, values) in &ours.enums {
        for (n, name) in values {
            if !public
                .values()
                .any(|s| s.enums.get(path).is_some_and(|v| v.contains_key(n)))
            {
                r.conflicts.push(format!(
                    "kkm.proto enum {path} value {n} ({name}) is in no public schema"
                ));
            }
        }
    }
    r
}

fn public_table() -> std::collections::BTreeMap<String, schema::Schema> {
    let text = std::fs::read_to_string(spec_dir().join("public-schemas.tsv")).expect("the table");
    schema::from_table(&text).expect("the table parses")
}

#[test]
fn kkm_proto_matches_both_public_schemas_field_by_field() {
    let public = public_table();
    assert_eq!(
        public.keys().map(String::as_str).collect::<Vec<_>>(),
        ["2.0.2", "2.0.3"],
        "both public schemas are in the table"
    );
    assert!(
        public.values().all(|s| s.messages.len() > 50),
        "whole schemas, not fragments"
    );
    let r = compare(&ours(), &public);
    assert!(
        r.conflicts.is_empty(),
        "kkm.proto conflicts with a public schema:\n{}",
        r.conflicts.join("\n")
    );

    let readme = std::fs::read_to_string(spec_dir().join("README.md")).unwrap();
    let mut used = BTreeSet::new();
    let mut unexplained = Vec::new();
    for (version, path, number, kind, detail) in &r.found {
        match INTENDED.iter().position(|i| {
            i.version == version && i.path == path && i.number == *number && i.kind == *kind
        }) {
            Some(i) => {
                used.insert(i);
            }
            None => unexplained.push(format!("{version}: {path} {number:?} {kind:?} ({detail})")),
        }
    }
    assert!(
        unexplained.is_empty(),
        "differences not listed as intended:\n{}",
        unexplained.join("\n")
    );
    for (i, e) in INTENDED.iter().enumerate() {
        assert!(
            used.contains(&i),
            "listed as intended but no longer a difference: {} {} {:?}",
            e.version,
            e.path,
            e.number
        );
        assert!(
            readme.contains(e.readme),
            "README.md does not explain {:?} ({} {})",
            e.readme,
            e.version,
            e.path
        );
    }
}

#[test]
fn the_comparison_fails_loudly_on_a_wire_type_change() {
    // The check must be able to fail: kkm.proto as it was before this rule (OrgRegInfo field 6 =
    // 2.0.3's `string address_kz`) conflicts with 2.0.2's `int32 tenantId`.
    let mut old = ours();
    old.messages.get_mut("OrgRegInfo").unwrap().insert(
        6,
        schema::Field {
            name: "address_kz".into(),
            label: "optional".into(),
            ty: "string".into(),
            wire: "len".into(),
        },
    );
    let r = compare(&old, &public_table());
    assert!(
        r.conflicts
            .iter()
            .any(|c| c.starts_with("2.0.2: OrgRegInfo field 6: wire type len in kkm.proto")),
        "{:?}",
        r.conflicts
    );
    assert!(
        r.conflicts.iter().all(|c| c.contains("OrgRegInfo field 6")),
        "{:?}",
        r.conflicts
    );
    // And a renumbered field.
    let mut moved = ours();
    let f = moved.messages.get_mut("Money").unwrap().remove(&2).unwrap();
    moved.messages.get_mut("Money").unwrap().insert(3, f);
    let r = compare(&moved, &public_table());
    assert!(
        r.conflicts.iter().any(|c| c.contains("Money field 3")),
        "{:?}",
        r.conflicts
    );
    assert!(
        r.found
            .iter()
            .any(|f| f.1 == "Money" && f.2 == Some(2) && f.3 == Kind::Absent),
        "a field gone from its number is an unexplained difference"
    );
}

#[test]
fn the_table_is_what_the_example_writes() {
    // from_table ∘ to_table is the identity, so the committed rows are the extractor's output.
    let public = public_table();
    for (v, s) in &public {
        let again = schema::from_table(&schema::to_table(v, s)).unwrap();
        assert_eq!(&again[v], s);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A production operator's answer to a 2.0.2 register

/// Origin: `proto-spec/vectors/README.md`.
const CAPTURE: &[u8] =
    include_bytes!("../../../proto-spec/vectors/kz-info-answer-v202-id200773.bin");

/// `OrgRegInfo` as 2.0.3 declares it (field 6 a string): what kkm.proto held before.
#[derive(Clone, PartialEq, prost::Message)]
struct OrgRegInfo203 {
    #[prost(string, optional, tag = "3")]
    inn: Option<String>,
    #[prost(string, optional, tag = "6")]
    address_kz: Option<String>,
}

fn org_of(answer_body: &[u8]) -> &[u8] {
    let service = raw::submessage(answer_body, 6).expect("service");
    let reg = raw::submessage(service, 2).expect("reg_info");
    raw::submessage(reg, 3).expect("org")
}

#[test]
fn the_captured_2_0_2_answer_decodes_with_its_varint_field_6() {
    let (h, resp) = decode_response(CAPTURE).expect("the production answer decodes");
    assert_eq!(
        (h.version, h.id, h.token, h.reqnum),
        (202, 200_773, 26_264_070, 1)
    );
    assert_eq!(h.size as usize, CAPTURE.len());
    assert_eq!(resp.command, 5, "INFO");
    assert_eq!(resp.result.result_code, 0);
    let reg = resp.service.unwrap().reg_info.unwrap();
    let org = reg.org.unwrap();
    assert_eq!(org.inn.as_deref(), Some("960624350642"));
    assert!(org.title.unwrap().starts_with("ИП "));
    assert_eq!(
        reg.kkm.unwrap().serial_number.as_deref(),
        Some("KTCD1117737127791")
    );
    // Field 6 is there, as a varint (2.0.2 tenantId = 1).
    let raw_org = raw::fields(org_of(&CAPTURE[18..])).unwrap();
    let six: Vec<_> = raw_org.iter().filter(|f| f.number == 6).collect();
    assert_eq!(six.len(), 1);
    assert_eq!((six[0].wire_type, six[0].value), (0, &[1u8][..]));
    // The 2.0.3 declaration cannot read it: the bug the schema avoids.
    assert!(OrgRegInfo203::decode(org_of(&CAPTURE[18..])).is_err());
}

/// `org` with its field 6 replaced by `address_kz` (a string), as a 2.0.3 operator sends it.
fn org_203(org: &[u8], address_kz: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for f in raw::fields(org).unwrap() {
        if f.number == 6 {
            out.extend(raw::len_field(6, address_kz.as_bytes()));
        } else {
            out.extend_from_slice(f.bytes);
        }
    }
    out
}

/// `answer_body` with `ServiceResponse.reg_info.org` replaced by `org`.
fn with_org(answer_body: &[u8], org: &[u8]) -> Vec<u8> {
    let service = raw::submessage(answer_body, 6).unwrap();
    let reg = raw::submessage(service, 2).unwrap();
    let kkm = raw::submessage(reg, 1).unwrap();
    let reg = [raw::len_field(1, kkm), raw::len_field(3, org)].concat();
    raw::len_field(6, &raw::len_field(2, &reg))
}

/// A register of `version` echoing `echo` (a Request `service` field) in SYSTEM, INFO, TICKET
/// and REPORT requests: every one gets code 0, in its own VERSION, without field 6 in reg info.
fn echoing_register_is_served(version: u16, echo: &[u8]) {
    let mut s = Server::new();
    let mut kkm = Kkm::new(ID, TOKEN);
    kkm.version = version;
    let requests = [
        builder::system(None),
        builder::info(),
        TicketSpec::sample(1, local(NOW)).request(),
        builder::report(true, local(NOW)),
    ];
    for req in &requests {
        let frame = kkm.frame_with(req, echo);
        let (_, sent) = s.exchange(&frame);
        let (h, resp) = decode_response(&sent).expect("answers decode");
        assert_eq!(
            resp.result.result_code, 0,
            "command {}: {:?}",
            req.command, resp.result
        );
        assert_eq!(h.version, version, "answered in the register's version");
        assert_eq!((h.id, h.reqnum), (kkm.id, kkm.reqnum));
        kkm.accept(&h);
        if resp
            .service
            .as_ref()
            .is_some_and(|sv| sv.reg_info.is_some())
        {
            let org = raw::fields(org_of(&sent[18..])).unwrap();
            assert!(
                org.iter().all(|f| f.number != 6),
                "no field 6 in any version"
            );
            assert!(org.iter().any(|f| f.number == 3), "the org is sent");
        }
    }
    assert_eq!(s.facts().next_ticket_number, 2, "the ticket was accepted");
}

#[test]
fn a_2_0_2_register_echoing_the_captured_reg_info_gets_code_0() {
    let echo = raw::echo_reg_info(&CAPTURE[18..]).expect("the capture has reg info");
    // The echo carries field 6 as a varint, and the request decodes with it.
    let frame = Kkm::new(ID, TOKEN).frame_with(&builder::system(None), &echo);
    let (_, req) = ofd_kz::codec::decode_request(&frame).expect("decodes");
    let org = req.service.unwrap().reg_info.unwrap().org.unwrap();
    assert_eq!(org.inn.as_deref(), Some("960624350642"));
    echoing_register_is_served(VERSION_202, &echo);
}

#[test]
fn a_2_0_3_register_echoing_address_kz_gets_code_0() {
    let org = org_203(org_of(&CAPTURE[18..]), "Астана қ., Ленин к-сі, 33");
    let answer = with_org(&CAPTURE[18..], &org);
    let echo = raw::echo_reg_info(&answer).unwrap();
    assert!(
        OrgRegInfo203::decode(org.as_slice())
            .unwrap()
            .address_kz
            .is_some()
    );
    echoing_register_is_served(VERSION_203, &echo);
}

#[test]
fn field_6_of_any_wire_type_is_skipped() {
    let base = org_of(&CAPTURE[18..]);
    let without: Vec<u8> = raw::fields(base)
        .unwrap()
        .iter()
        .filter(|f| f.number != 6)
        .flat_map(|f| f.bytes.to_vec())
        .collect();
    for six in [
        vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], // varint (5 bytes)
        vec![0x31, 1, 2, 3, 4, 5, 6, 7, 8],       // i64
        vec![0x35, 1, 2, 3, 4],                   // i32
        raw::len_field(6, &[0xFF, 0xFE]),         // length-delimited, not UTF-8
    ] {
        let org = [without.clone(), six].concat();
        let echo = raw::echo_reg_info(&with_org(&CAPTURE[18..], &org)).unwrap();
        echoing_register_is_served(VERSION_202, &echo);
    }
}
