//! The tag dictionary (`proto-spec/tags.toml`, generated into [`ofd_proto::dict`]) against
//! `proto-spec/tags-reference.json`: the FNS JSON name, wire type and maximum length of each tag
//! as independent public implementations give them (chayleaf/coop-fd, yandex/ofd; every entry
//! names its source, see `proto-spec/tags-reference.md`).
//!
//! Every dictionary tag must match its reference entry — name (unless the reference has none),
//! type and maximum length (unless the reference gives none) — or carry `differs = "reason"` in
//! `tags.toml`; a tag the reference lacks needs a `differs` too. Any other difference fails with
//! the tag named.

use std::collections::BTreeMap;

use ofd_proto::dict::{self, TagInfo};
use ofd_proto::value::ValueType;

/// One entry of `tags-reference.json`.
struct RefTag {
    /// FNS JSON name; `None` where no implementation gives one (e.g. 1022).
    name: Option<String>,
    ty: String,
    /// `None` where the sources give none or disagree (e.g. 1078).
    max_len: Option<u16>,
    source: String,
}

fn spec_path(file: &str) -> String {
    format!("{}/../../proto-spec/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> BTreeMap<u16, RefTag> {
    let path = spec_path("tags-reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = BTreeMap::new();
    for e in entries {
        let tag = e["tag"]
            .as_u64()
            .and_then(|t| u16::try_from(t).ok())
            .unwrap_or_else(|| panic!("{path}: bad tag in {e}"));
        let name = match &e["name"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => panic!("{path}: tag {tag}: name {other}"),
        };
        let ty = e["type"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: tag {tag}: no type"))
            .to_owned();
        let max_len = match &e["max_len"] {
            serde_json::Value::Null => None,
            v => Some(
                v.as_u64()
                    .and_then(|m| u16::try_from(m).ok())
                    .unwrap_or_else(|| panic!("{path}: tag {tag}: max_len {v}")),
            ),
        };
        let source = e["source"].as_str().unwrap_or_default().to_owned();
        assert!(
            !source.trim().is_empty(),
            "{path}: tag {tag} names no source"
        );
        let previous = out.insert(
            tag,
            RefTag {
                name,
                ty,
                max_len,
                source,
            },
        );
        assert!(previous.is_none(), "{path}: tag {tag} listed twice");
    }
    out
}

/// The `differs = "reason"` keys of `tags.toml`.
fn differs() -> BTreeMap<u16, String> {
    let path = spec_path("tags.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec: toml::Table = text.parse().unwrap_or_else(|e| panic!("{path}: {e}"));
    let tags = spec["tags"].as_table().expect("[tags]");
    let mut out = BTreeMap::new();
    for (key, entry) in tags {
        let tag: u16 = key.parse().expect("numeric tag key");
        if let Some(v) = entry.get("differs") {
            let reason = v
                .as_str()
                .unwrap_or_else(|| panic!("tag {tag}: differs must be a string"));
            out.insert(tag, reason.to_owned());
        }
    }
    out
}

/// The `tags.toml` / reference spelling of a type.
fn type_name(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Byte => "byte",
        ValueType::U16 => "u16",
        ValueType::U32 => "u32",
        ValueType::UnixTime => "unixtime",
        ValueType::String => "string",
        ValueType::Vln => "vln",
        ValueType::Fvln => "fvln",
        ValueType::Stlv => "stlv",
        ValueType::Bytes => "bytes",
    }
}

/// How `info` differs from its reference entry; empty when it does not.
fn differences(info: &TagInfo, r: Option<&RefTag>) -> Vec<String> {
    let Some(r) = r else {
        return vec!["not in tags-reference.json".to_owned()];
    };
    let mut out = Vec::new();
    if let Some(name) = &r.name
        && name != info.name
    {
        out.push(format!("name {:?}, reference {name:?}", info.name));
    }
    if type_name(info.ty) != r.ty {
        out.push(format!("type {}, reference {}", type_name(info.ty), r.ty));
    }
    if let Some(max) = r.max_len
        && max != info.max_len
    {
        out.push(format!("max length {}, reference {max}", info.max_len));
    }
    out
}

#[test]
fn every_dictionary_tag_matches_the_reference_or_says_why() {
    let reference = reference();
    let differs = differs();
    let mut failures = Vec::new();
    for info in dict::all() {
        let found = differences(info, reference.get(&info.tag));
        match (found.is_empty(), differs.get(&info.tag)) {
            (true, None) => {}
            (false, Some(reason)) if !reason.trim().is_empty() => {}
            (false, Some(_)) => failures.push(format!("tag {}: empty `differs`", info.tag)),
            (false, None) => failures.push(format!(
                "tag {} ({}): {}; follow the reference or explain with `differs = \"…\"` in \
                 tags.toml",
                info.tag,
                info.name,
                found.join("; ")
            )),
            (true, Some(_)) => failures.push(format!(
                "tag {} ({}) has `differs` but matches the reference: drop the key",
                info.tag, info.name
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "tags.toml vs tags-reference.json:\n{}",
        failures.join("\n")
    );
}

/// FNS JSON names everywhere: no `differs` may excuse a name of ofdd's own (names need only be
/// unique within one object, so the names FNS reuses need no exception).
#[test]
fn no_tag_keeps_a_name_of_its_own() {
    let reference = reference();
    let own: Vec<String> = dict::all()
        .iter()
        .filter_map(|info| {
            let name = reference.get(&info.tag)?.name.as_deref()?;
            (name != info.name).then(|| format!("{} {} (FNS: {name})", info.tag, info.name))
        })
        .collect();
    assert!(own.is_empty(), "names of ofdd's own: {own:?}");
    // The one `differs` left is a tag the reference lacks, not a name.
    let differs = differs();
    assert!(
        differs.keys().all(|tag| !reference.contains_key(tag)),
        "{differs:?}"
    );
}

#[test]
fn every_reference_tag_is_in_the_dictionary() {
    let missing: Vec<String> = reference()
        .iter()
        .filter(|(tag, _)| dict::lookup(**tag).is_none())
        .map(|(tag, r)| format!("{tag} ({})", r.name.as_deref().unwrap_or("no JSON name")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in tags.toml: {}",
        missing.join(", ")
    );
}

/// A tag whose name, type and length both implementations confirm without a noted conflict is
/// not a guess: `uncertain` (which also stops ФЛК from enforcing its limits) is for tags resting
/// on one source, on sources that disagree, or on a deliberate difference (`differs`).
#[test]
fn tags_both_implementations_confirm_are_not_marked_uncertain() {
    let reference = reference();
    let differs = differs();
    let confirmed = |r: &RefTag| {
        r.name.is_some()
            && r.max_len.is_some()
            && r.source.contains("fields.rs + json.rs")
            && r.source.contains("cross-checked yandex/ofd")
            && !r.source.contains("NOTE")
    };
    let stale: Vec<u16> = dict::uncertain()
        .iter()
        .copied()
        .filter(|tag| !differs.contains_key(tag))
        .filter(|tag| reference.get(tag).is_some_and(confirmed))
        .collect();
    assert!(
        stale.is_empty(),
        "confirmed by both implementations yet marked uncertain: {stale:?}"
    );
}

/// The changes the reference brought (issue 14), spelled out so that a regression names them.
#[test]
fn names_and_lengths_taken_from_the_reference() {
    let info = |tag| dict::lookup(tag).unwrap_or_else(|| panic!("tag {tag} missing"));
    for (tag, name, max) in [
        (1133, "receiptCorrection", 216),
        (1134, "totalReceiptBsoCount", 4),
        (1135, "receiptBsoCount", 4),
        (1136, "cashSum", 6),
        (1138, "ecashSum", 6),
        (1139, "tax18Sum", 6),
        (1140, "tax10Sum", 6),
        (1141, "tax18118Sum", 6),
        (1142, "tax10110Sum", 6),
        (1143, "tax0Sum", 6),
        (1183, "taxFreeSum", 6),
        (1144, "receiptCorrectionCount", 4),
        (1157, "fiscalDriveSumReports", 708),
        (1129, "sellOper", 116),
        (1262, "idFoiv", 3),
        (1263, "foundationDocDateTime", 10),
        (1264, "foundationDocNumber", 32),
        (1274, "additionalPropsFRC", 32),
        (1304, "gs1", 38),
        (2107, "checkingLabeledProdResult", 1),
        (2104, "undeliveredNotificationsNumber", 4),
        (1068, "messageToFn", 169),
    ] {
        let t = info(tag);
        assert_eq!((t.name, t.max_len), (name, max), "tag {tag}");
    }
    // Tags the dictionary lacked.
    for (tag, ty) in [
        (1232, ValueType::Stlv),
        (1233, ValueType::Stlv),
        (2116, ValueType::Byte),
        (1184, ValueType::Vln),
        (1147, ValueType::U32),
        (1150, ValueType::Vln),
        (1061, ValueType::String),
        (1208, ValueType::String),
    ] {
        assert_eq!(info(tag).ty, ty, "tag {tag}");
    }
    // Confirmed by both implementations: now held to their limits by ФЛК.
    for tag in [1129, 1133, 1136, 1157, 1158, 1190, 1057, 1116] {
        assert!(!dict::uncertain().contains(&tag), "tag {tag}");
    }
}
