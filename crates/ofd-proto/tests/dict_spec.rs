//! The generated dictionary against its source, `proto-spec/tags.toml`, re-read here independently
//! of `build.rs`, and against the mandatory-tag tables of NOTES §5.

use std::collections::{BTreeMap, HashSet};

use ofd_proto::dict::{self, TagInfo};
use ofd_proto::value::ValueType;

fn spec() -> toml::Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto-spec/tags.toml");
    let text = std::fs::read_to_string(path).expect("proto-spec/tags.toml is readable");
    text.parse().expect("tags.toml is valid TOML")
}

fn int_list(v: Option<&toml::Value>) -> Vec<i64> {
    v.and_then(toml::Value::as_array)
        .map(|a| a.iter().map(|x| x.as_integer().expect("integer")).collect())
        .unwrap_or_default()
}

#[test]
fn table_matches_tags_toml_entry_by_entry() {
    let spec = spec();
    let sets = spec["doc_sets"].as_table().expect("[doc_sets]");
    let tags = spec["tags"].as_table().expect("[tags]");
    assert_eq!(
        tags.len(),
        dict::all().len(),
        "every spec entry is generated, nothing else"
    );

    for (key, entry) in tags {
        let tag: u16 = key.parse().expect("numeric key");
        let info = dict::lookup(tag).unwrap_or_else(|| panic!("tag {tag} missing from the table"));
        let e = entry.as_table().unwrap();
        assert_eq!(info.tag, tag);
        assert_eq!(info.name, e["name"].as_str().unwrap(), "tag {tag}");
        assert_eq!(info.description, e["desc"].as_str().unwrap(), "tag {tag}");

        let ty = match e["type"].as_str().unwrap() {
            "byte" => ValueType::Byte,
            "u16" => ValueType::U16,
            "u32" => ValueType::U32,
            "unixtime" => ValueType::UnixTime,
            "string" => ValueType::String,
            "vln" => ValueType::Vln,
            "fvln" => ValueType::Fvln,
            "stlv" => ValueType::Stlv,
            "bytes" => ValueType::Bytes,
            other => panic!("tag {tag}: unknown type {other}"),
        };
        assert_eq!(info.ty, ty, "tag {tag}");
        if let Some(len) = e.get("len") {
            let len = len.as_integer().unwrap();
            assert!(info.fixed, "tag {tag}");
            assert_eq!(
                (i64::from(info.min_len), i64::from(info.max_len)),
                (len, len),
                "tag {tag}"
            );
        } else if let Some(max) = e.get("max") {
            assert!(!info.fixed, "tag {tag}");
            assert_eq!(
                i64::from(info.max_len),
                max.as_integer().unwrap(),
                "tag {tag}"
            );
            if let Some(min) = e.get("min") {
                assert_eq!(
                    i64::from(info.min_len),
                    min.as_integer().unwrap(),
                    "tag {tag}"
                );
            }
        }

        let mut docs: Vec<i64> = Vec::new();
        for d in e
            .get("docs")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            match d.as_str() {
                Some(set) => docs.extend(int_list(sets.get(set))),
                None => docs.push(d.as_integer().unwrap()),
            }
        }
        let mut seen = HashSet::new();
        docs.retain(|d| seen.insert(*d));
        let got: Vec<i64> = info.docs.iter().map(|d| i64::from(*d)).collect();
        assert_eq!(got, docs, "tag {tag} docs");
        let got: Vec<i64> = info.parents.iter().map(|p| i64::from(*p)).collect();
        assert_eq!(got, int_list(e.get("parents")), "tag {tag} parents");

        let uncertain = e
            .get("uncertain")
            .and_then(toml::Value::as_bool)
            .unwrap_or(false);
        assert_eq!(
            dict::uncertain().contains(&tag),
            uncertain,
            "tag {tag} uncertain"
        );
        let array = e
            .get("array")
            .and_then(toml::Value::as_bool)
            .unwrap_or(false);
        assert_eq!(dict::is_repeatable(tag), array, "tag {tag} array");
    }
}

#[test]
fn names_are_camel_case_and_unique_within_each_object() {
    let mut names: BTreeMap<String, BTreeMap<&str, u16>> = BTreeMap::new();
    for t in dict::all() {
        assert!(
            t.name.starts_with(|c: char| c.is_ascii_lowercase()),
            "{}: {}",
            t.tag,
            t.name
        );
        assert!(
            t.name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{}: {}",
            t.tag,
            t.name
        );
        assert!(
            !t.description.is_empty(),
            "tag {} has no description",
            t.tag
        );
        // Unique within each object the tag can appear in (FNS JSON reuses a name in disjoint
        // objects: 1020 and 1201 are both `totalSum`).
        let places = t
            .docs
            .iter()
            .map(|d| format!("document {d}"))
            .chain(t.parents.iter().map(|p| format!("STLV {p}")));
        for place in places {
            let in_place: &mut BTreeMap<&str, u16> = names.entry(place.clone()).or_default();
            if let Some(other) = in_place.insert(t.name, t.tag) {
                panic!("name {} used by {other} and {} in {place}", t.name, t.tag);
            }
        }
    }
}

#[test]
fn lengths_are_sane_for_each_type() {
    for t in dict::all() {
        let ctx = format!("tag {} ({})", t.tag, t.name);
        assert!(t.min_len <= t.max_len && t.max_len > 0, "{ctx}");
        assert_eq!(t.fixed, t.min_len == t.max_len, "{ctx}");
        match t.ty {
            ValueType::Byte => assert_eq!(t.max_len, 1, "{ctx}"),
            ValueType::U16 => assert_eq!(t.max_len, 2, "{ctx}"),
            ValueType::U32 | ValueType::UnixTime => assert_eq!(t.max_len, 4, "{ctx}"),
            ValueType::Vln => assert!((1..=8).contains(&t.max_len), "{ctx}"),
            ValueType::Fvln => assert!((2..=9).contains(&t.max_len) && t.min_len >= 1, "{ctx}"),
            ValueType::String | ValueType::Bytes | ValueType::Stlv => {
                assert!(t.max_len <= 1024, "{ctx}")
            }
        }
    }
    // The limits the brief and NOTES §3 pin down.
    let len = |tag| dict::lookup(tag).map(|t: &TagInfo| (t.min_len, t.max_len, t.fixed));
    for inn in [1016, 1017, 1018, 1203, 1226, 1228] {
        assert_eq!(len(inn), Some((12, 12, true)), "INN tag {inn}");
    }
    assert_eq!(len(1037), Some((20, 20, true)));
    assert_eq!(len(1041), Some((16, 16, true)));
    assert_eq!(len(1077), Some((6, 6, true)));
    assert_eq!(len(1078), Some((8, 18, false)));
    assert_eq!(len(1048).map(|l| l.1), Some(256));
    assert_eq!(len(1009).map(|l| l.1), Some(256));
    assert_eq!(len(1030).map(|l| l.1), Some(128));
    assert_eq!(len(1023).map(|l| l.1), Some(8));
    for sum in [
        1020, 1031, 1043, 1079, 1081, 1102, 1103, 1104, 1105, 1106, 1107, 1215, 1216, 1217,
    ] {
        assert_eq!(len(sum).map(|l| l.1), Some(6), "sum tag {sum}");
    }
}

#[test]
fn every_parent_is_a_known_stlv_and_every_tag_appears_somewhere() {
    for t in dict::all() {
        assert!(
            !t.docs.is_empty() || !t.parents.is_empty(),
            "tag {} appears nowhere",
            t.tag
        );
        for p in t.parents {
            let parent =
                dict::lookup(*p).unwrap_or_else(|| panic!("tag {}: parent {p} unknown", t.tag));
            assert_eq!(parent.ty, ValueType::Stlv, "tag {}: parent {p}", t.tag);
        }
        for d in t.docs {
            assert!(
                [1, 11, 2, 21, 3, 31, 4, 41, 5, 6, 7, 81, 82, 83, 84].contains(d),
                "tag {}: document type {d}",
                t.tag
            );
        }
    }
}

/// NOTES §5: the mandatory tags of every document type are in the dictionary and allowed at the
/// top level of that document; the nested ones are allowed in their STLV.
#[test]
fn mandatory_tags_of_notes_section_5_are_known_and_placed() {
    const REG: &[u16] = &[
        1209, 1221, 1188, 1189, 1013, 1048, 1018, 1062, 1012, 1037, 1002, 1110, 1109, 1056, 1001,
        1108, 1040, 1041, 1021, 1187, 1017, 1077,
    ];
    const RECEIPT: &[u16] = &[
        1209, 1042, 1012, 1038, 1054, 1055, 1037, 1041, 1040, 1020, 1077,
    ];
    const CORRECTION: &[u16] = &[
        1209, 1173, 1174, 1018, 1042, 1012, 1038, 1054, 1055, 1021, 1037, 1041, 1020, 1040, 1077,
    ];
    let table: &[(u8, &[u16])] = &[
        (1, REG),
        (11, REG),
        (11, &[1101, 1205]),
        (2, &[1209, 1018, 1012, 1038, 1037, 1041, 1040, 1077]),
        (
            21,
            &[
                1209, 1018, 1012, 1002, 1116, 1097, 1098, 1037, 1041, 1040, 1077,
            ],
        ),
        (3, RECEIPT),
        (4, RECEIPT),
        (31, CORRECTION),
        (41, CORRECTION),
        (
            5,
            &[
                1209, 1018, 1012, 1038, 1118, 1111, 1097, 1098, 1053, 1051, 1052, 1050, 1037, 1041,
                1040, 1077,
            ],
        ),
        (
            6,
            &[1209, 1048, 1187, 1018, 1021, 1012, 1037, 1041, 1040, 1077],
        ),
        (7, &[1017, 1041, 1040, 1012, 1068, 1078]),
    ];
    for (doc, tags) in table {
        for tag in *tags {
            let info = dict::lookup(*tag).unwrap_or_else(|| panic!("doc {doc}: tag {tag} unknown"));
            assert!(
                info.allowed_in_doc(*doc),
                "doc {doc}: tag {tag} not allowed at top level"
            );
        }
    }
    for (parent, tags) in [
        (1059, &[1030, 1023, 1043][..]),
        (1174, &[1177, 1178, 1179]),
        (1068, &[1022]),
    ] {
        for tag in tags {
            assert!(
                dict::lookup(*tag).unwrap().allowed_in(parent),
                "tag {tag} inside {parent}"
            );
        }
    }
}
