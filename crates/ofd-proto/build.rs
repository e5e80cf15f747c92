//! Generates the FFD tag dictionary from `proto-spec/tags.toml`.
//!
//! The TOML file is the single source of truth for every tag the daemon knows (number, FNS JSON
//! name, wire type, length limits, where it may appear). This script checks it for internal
//! consistency (names unique within each JSON object they can appear in, sane lengths, known
//! parents and document types) and writes a static table plus an O(1) index and the per-object
//! name tables into `OUT_DIR/tags.rs`, which `src/dict.rs` `include!`s. A broken
//! spec therefore fails the build with a message naming the tag, and the code cannot drift from
//! the spec.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

#[path = "build/forms.rs"]
mod forms;

/// Tag ranges covered by the O(1) index; `src/dict.rs` mirrors these constants.
const RANGES: [(u16, u16); 2] = [(1000, 1399), (2000, 2399)];
/// Keys the FNS JSON renderer writes itself (`src/json.rs`); no tag may be named so.
const RESERVED_KEYS: [&str; 4] = ["code", "messageFiscalSign", "rawData", "tlvError"];
/// Document types a tag may be listed under (NOTES §4).
const DOC_TYPES: [u8; 15] = [1, 11, 2, 21, 3, 31, 4, 41, 5, 6, 7, 81, 82, 83, 84];

struct Tag {
    tag: u16,
    name: String,
    ty: &'static str,
    min_len: u16,
    max_len: u16,
    fixed: bool,
    docs: Vec<u8>,
    parents: Vec<u16>,
    description: String,
    array: bool,
    uncertain: bool,
}

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let spec_path = manifest.join("../../proto-spec/tags.toml");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    println!("cargo:rerun-if-changed=build.rs");

    let text = std::fs::read_to_string(&spec_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", spec_path.display()));
    let tags = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", spec_path.display()));
    let code = generate(&tags);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("tags.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));

    // The mandatory-tag tables of every document form, checked against the dictionary.
    let forms_path = manifest.join("../../proto-spec/forms.toml");
    println!("cargo:rerun-if-changed={}", forms_path.display());
    println!("cargo:rerun-if-changed=build/forms.rs");
    let text = std::fs::read_to_string(&forms_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", forms_path.display()));
    let known = |tag: u16| tags.iter().any(|t| t.tag == tag);
    let parsed = forms::parse(&text, &DOC_TYPES, &known)
        .unwrap_or_else(|e| panic!("{}: {e}", forms_path.display()));
    let out = out_dir.join("forms.rs");
    std::fs::write(&out, forms::generate(&parsed))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

fn parse(text: &str) -> Result<Vec<Tag>, String> {
    let root: toml::Table = text.parse().map_err(|e| format!("invalid TOML: {e}"))?;

    let mut sets: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Some(v) = root.get("doc_sets") {
        let table = v.as_table().ok_or("[doc_sets] must be a table")?;
        for (name, list) in table {
            let docs = list
                .as_array()
                .ok_or(format!("doc_sets.{name} must be an array"))?
                .iter()
                .map(|d| doc_type(d, &format!("doc_sets.{name}")))
                .collect::<Result<Vec<_>, _>>()?;
            sets.insert(name.clone(), docs);
        }
    }

    let table = root
        .get("tags")
        .and_then(|t| t.as_table())
        .ok_or("missing [tags] table")?;
    let mut tags = Vec::with_capacity(table.len());
    for (key, entry) in table {
        let tag: u16 = key
            .parse()
            .map_err(|_| format!("tag key {key:?} is not a u16"))?;
        if !RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&tag)) {
            return Err(format!(
                "tag {tag} is outside the indexed ranges {RANGES:?}"
            ));
        }
        let e = entry
            .as_table()
            .ok_or(format!("tag {tag}: entry must be a table"))?;
        for k in e.keys() {
            if ![
                "name",
                "type",
                "len",
                "min",
                "max",
                "docs",
                "parents",
                "desc",
                "array",
                "uncertain",
                "differs",
            ]
            .contains(&k.as_str())
            {
                return Err(format!("tag {tag}: unknown key {k:?}"));
            }
        }
        let s = |k: &str| -> Result<String, String> {
            e.get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or(format!("tag {tag}: missing string {k:?}"))
        };
        let int = |k: &str| -> Result<Option<u16>, String> {
            match e.get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_integer()
                    .and_then(|i| u16::try_from(i).ok())
                    .map(Some)
                    .ok_or(format!("tag {tag}: {k:?} must be an integer 0..=65535")),
            }
        };
        let flag = |k: &str| -> Result<bool, String> {
            match e.get(k) {
                None => Ok(false),
                Some(v) => v
                    .as_bool()
                    .ok_or(format!("tag {tag}: {k:?} must be a boolean")),
            }
        };

        let name = s("name")?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "tag {tag}: JSON name {name:?} must be non-empty ASCII camelCase"
            ));
        }
        let ty_str = s("type")?;
        let (ty, natural): (&'static str, Option<u16>) = match ty_str.as_str() {
            "byte" => ("Byte", Some(1)),
            "u16" => ("U16", Some(2)),
            "u32" => ("U32", Some(4)),
            "unixtime" => ("UnixTime", Some(4)),
            "string" => ("String", None),
            "vln" => ("Vln", None),
            "fvln" => ("Fvln", None),
            "stlv" => ("Stlv", None),
            "bytes" => ("Bytes", None),
            other => return Err(format!("tag {tag}: unknown type {other:?}")),
        };
        let (len, min, max) = (int("len")?, int("min")?, int("max")?);
        let (min_len, max_len, fixed) = match (natural, len, min, max) {
            (Some(n), None, None, None) => (n, n, true),
            (Some(_), ..) => {
                return Err(format!(
                    "tag {tag}: {ty_str} has a fixed size; drop len/min/max"
                ));
            }
            (None, Some(n), None, None) => (n, n, true),
            (None, None, min, Some(max)) => {
                // The FFD tables give maxima only. A VLN zero may be sent with no bytes at all
                // (read as 0, like an empty byte); an FVLN needs at least its scale byte.
                let floor = u16::from(ty == "Fvln");
                (min.unwrap_or(floor), max, false)
            }
            (None, ..) => {
                return Err(format!(
                    "tag {tag}: give either len, or max (with optional min)"
                ));
            }
        };
        if min_len > max_len || max_len == 0 {
            return Err(format!("tag {tag}: bad length range {min_len}..={max_len}"));
        }
        if (ty == "Vln" && max_len > 8) || (ty == "Fvln" && max_len > 9) {
            return Err(format!(
                "tag {tag}: {ty_str} longer than the reader supports"
            ));
        }

        let mut docs = Vec::new();
        if let Some(v) = e.get("docs") {
            for d in v
                .as_array()
                .ok_or(format!("tag {tag}: docs must be an array"))?
            {
                match d.as_str() {
                    Some(set) => docs.extend(
                        sets.get(set)
                            .ok_or(format!("tag {tag}: unknown doc set {set:?}"))?
                            .iter()
                            .copied(),
                    ),
                    None => docs.push(doc_type(d, &format!("tag {tag}"))?),
                }
            }
        }
        let mut seen = BTreeSet::new();
        docs.retain(|d| seen.insert(*d));

        let mut parents = Vec::new();
        if let Some(v) = e.get("parents") {
            for p in v
                .as_array()
                .ok_or(format!("tag {tag}: parents must be an array"))?
            {
                let p = p
                    .as_integer()
                    .and_then(|i| u16::try_from(i).ok())
                    .ok_or(format!("tag {tag}: parents must be tag numbers"))?;
                parents.push(p);
            }
        }
        if docs.is_empty() && parents.is_empty() {
            return Err(format!("tag {tag}: appears nowhere (no docs, no parents)"));
        }

        tags.push(Tag {
            tag,
            name,
            ty,
            min_len,
            max_len,
            fixed,
            docs,
            parents,
            description: s("desc")?,
            array: flag("array")?,
            uncertain: flag("uncertain")?,
        });
    }
    tags.sort_by_key(|t| t.tag);

    // A JSON name must be unique within each object it can appear in (one document type's root
    // object, one STLV), not across the dictionary: FNS JSON reuses names in disjoint places
    // (1201 `totalSum` inside the counters, 1020 `totalSum` in a receipt).
    let mut scopes: BTreeMap<String, BTreeMap<&str, u16>> = BTreeMap::new();
    for t in &tags {
        if RESERVED_KEYS.contains(&t.name.as_str())
            || (t.name.len() == 7
                && t.name.starts_with("tag")
                && t.name[3..].bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "tag {}: JSON name {:?} is a key the renderer writes itself",
                t.tag, t.name
            ));
        }
        let places = t
            .docs
            .iter()
            .map(|d| format!("document type {d}"))
            .chain(t.parents.iter().map(|p| format!("STLV {p}")));
        for place in places {
            if let Some(other) = scopes
                .entry(place.clone())
                .or_default()
                .insert(&t.name, t.tag)
            {
                return Err(format!(
                    "JSON name {:?} used by tags {other} and {} in the same object ({place})",
                    t.name, t.tag
                ));
            }
        }
        for p in &t.parents {
            match tags.iter().find(|x| x.tag == *p) {
                Some(x) if x.ty == "Stlv" => {}
                Some(_) => return Err(format!("tag {}: parent {p} is not an STLV", t.tag)),
                None => {
                    return Err(format!(
                        "tag {}: parent {p} is not in the dictionary",
                        t.tag
                    ));
                }
            }
        }
    }
    Ok(tags)
}

fn doc_type(v: &toml::Value, ctx: &str) -> Result<u8, String> {
    v.as_integer()
        .and_then(|i| u8::try_from(i).ok())
        .filter(|d| DOC_TYPES.contains(d))
        .ok_or(format!("{ctx}: {v} is not a document type {DOC_TYPES:?}"))
}

fn generate(tags: &[Tag]) -> String {
    let mut out = String::new();
    out.push_str("// @generated by build.rs from proto-spec/tags.toml. Do not edit.\n\n");
    let _ = writeln!(out, "static TAGS: [TagInfo; {}] = [", tags.len());
    for t in tags {
        let _ = writeln!(
            out,
            "    TagInfo {{ tag: {}, name: {:?}, ty: ValueType::{}, min_len: {}, max_len: {}, fixed: {}, docs: &{:?}, parents: &{:?}, description: {:?} }},",
            t.tag, t.name, t.ty, t.min_len, t.max_len, t.fixed, t.docs, t.parents, t.description
        );
    }
    out.push_str("];\n\n");

    for (lo, hi) in RANGES {
        let mut slots = vec![0u16; usize::from(hi - lo) + 1];
        for (i, t) in tags.iter().enumerate() {
            if (lo..=hi).contains(&t.tag) {
                slots[usize::from(t.tag - lo)] =
                    u16::try_from(i + 1).expect("fewer than 65535 tags");
            }
        }
        let _ = writeln!(
            out,
            "/// Position + 1 in `TAGS` of tags {lo}..={hi}; 0 = not in the dictionary."
        );
        let _ = writeln!(
            out,
            "static INDEX_{lo}: [u16; {}] = {slots:?};\n",
            slots.len()
        );
    }

    // Names per object: each document type's root object and each STLV, sorted by name for a
    // binary search; then every name with the tags that carry it.
    let mut doc_names: BTreeMap<u8, Vec<(&str, u16)>> = BTreeMap::new();
    let mut stlv_names: BTreeMap<u16, Vec<(&str, u16)>> = BTreeMap::new();
    let mut all_names: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    for t in tags {
        for d in &t.docs {
            doc_names.entry(*d).or_default().push((&t.name, t.tag));
        }
        for p in &t.parents {
            stlv_names.entry(*p).or_default().push((&t.name, t.tag));
        }
        all_names.entry(&t.name).or_default().push(t.tag);
    }
    let _ = writeln!(
        out,
        "/// (document type, its root object's names sorted, with their tags).\nstatic DOC_NAMES: [(u8, &[(&str, u16)]); {}] = [",
        doc_names.len()
    );
    for (d, mut names) in doc_names {
        names.sort_unstable();
        let _ = writeln!(out, "    ({d}, &{names:?}),");
    }
    out.push_str("];\n\n");
    let _ = writeln!(
        out,
        "/// (STLV tag, its object's names sorted, with their tags), sorted by STLV tag.\nstatic STLV_NAMES: [(u16, &[(&str, u16)]); {}] = [",
        stlv_names.len()
    );
    for (p, mut names) in stlv_names {
        names.sort_unstable();
        let _ = writeln!(out, "    ({p}, &{names:?}),");
    }
    out.push_str("];\n\n");
    let _ = writeln!(
        out,
        "/// Every name with the tags that carry it, sorted by name.\nstatic NAMES: [(&str, &[u16]); {}] = [",
        all_names.len()
    );
    for (name, list) in all_names {
        let _ = writeln!(out, "    ({name:?}, &{list:?}),");
    }
    out.push_str("];\n\n");

    let arrays: Vec<u16> = tags.iter().filter(|t| t.array).map(|t| t.tag).collect();
    let uncertain: Vec<u16> = tags.iter().filter(|t| t.uncertain).map(|t| t.tag).collect();
    let _ = writeln!(
        out,
        "static REPEATABLE: [u16; {}] = {arrays:?};\n",
        arrays.len()
    );
    let _ = writeln!(
        out,
        "static UNCERTAIN: [u16; {}] = {uncertain:?};",
        uncertain.len()
    );
    out
}
