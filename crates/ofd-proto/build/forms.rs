//! Generates the mandatory-tag tables of each document form from `proto-spec/forms.toml`.
//!
//! Checks the file against the dictionary (every tag known), the document types and the FFD
//! versions (exactly one form per document type and version, marking documents only in 1.2),
//! derives the FFD 1.0 forms from the 1.05 ones, and writes `OUT_DIR/forms.rs`, which
//! `src/forms.rs` `include!`s.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// FFD versions by the value of tag 1209 (1.0 = 1 is derived, not listed).
const VERSIONS: [(&str, u8); 3] = [("1.05", 2), ("1.1", 3), ("1.2", 4)];
const MARKING: [u8; 4] = [81, 82, 83, 84];

pub struct Form {
    docs: Vec<u8>,
    ffd: Vec<u8>,
    mandatory: Vec<u16>,
    any_of: Vec<Vec<u16>>,
    nested: Vec<(u16, Vec<u16>)>,
    source: String,
    lenient: String,
}

fn tags(v: &toml::Value, ctx: &str, known: &dyn Fn(u16) -> bool) -> Result<Vec<u16>, String> {
    let list = v
        .as_array()
        .ok_or(format!("{ctx} must be an array of tags"))?;
    let mut out = Vec::with_capacity(list.len());
    for t in list {
        let tag = t
            .as_integer()
            .and_then(|i| u16::try_from(i).ok())
            .ok_or(format!("{ctx}: {t} is not a tag number"))?;
        if !known(tag) {
            return Err(format!("{ctx}: tag {tag} is not in tags.toml"));
        }
        if out.contains(&tag) {
            return Err(format!("{ctx}: tag {tag} listed twice"));
        }
        out.push(tag);
    }
    Ok(out)
}

pub fn parse(
    text: &str,
    doc_types: &[u8],
    known: &dyn Fn(u16) -> bool,
) -> Result<Vec<Form>, String> {
    let root: toml::Table = text.parse().map_err(|e| format!("invalid TOML: {e}"))?;
    let drop = root
        .get("ffd_1_0")
        .and_then(|t| t.get("drop"))
        .ok_or("missing [ffd_1_0] drop")?;
    let drop = tags(drop, "ffd_1_0.drop", known)?;
    let list = root
        .get("form")
        .and_then(|f| f.as_array())
        .ok_or("missing [[form]] entries")?;

    let mut forms = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let ctx = format!("form #{}", i + 1);
        let f = f.as_table().ok_or(format!("{ctx} must be a table"))?;
        for k in f.keys() {
            if ![
                "docs",
                "ffd",
                "mandatory",
                "any_of",
                "nested",
                "source",
                "lenient",
            ]
            .contains(&k.as_str())
            {
                return Err(format!("{ctx}: unknown key {k:?}"));
            }
        }
        let docs = f
            .get("docs")
            .and_then(|d| d.as_array())
            .ok_or(format!("{ctx}: docs must be an array"))?
            .iter()
            .map(|d| {
                d.as_integer()
                    .and_then(|i| u8::try_from(i).ok())
                    .filter(|d| doc_types.contains(d))
                    .ok_or(format!("{ctx}: {d} is not a document type"))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        let ffd = f
            .get("ffd")
            .and_then(|d| d.as_array())
            .ok_or(format!("{ctx}: ffd must be an array"))?
            .iter()
            .map(|v| {
                let s = v.as_str().unwrap_or_default();
                VERSIONS
                    .iter()
                    .find(|(name, _)| *name == s)
                    .map(|&(_, value)| value)
                    .ok_or(format!(
                        "{ctx}: FFD version {v} is not one of 1.05, 1.1, 1.2"
                    ))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        let mandatory = tags(
            f.get("mandatory")
                .ok_or(format!("{ctx}: missing mandatory"))?,
            &format!("{ctx} mandatory"),
            known,
        )?;
        let mut any_of = Vec::new();
        if let Some(groups) = f.get("any_of") {
            for g in groups
                .as_array()
                .ok_or(format!("{ctx}: any_of must be an array"))?
            {
                let group = tags(g, &format!("{ctx} any_of"), known)?;
                if group.len() < 2 {
                    return Err(format!("{ctx}: an any_of group needs two tags or more"));
                }
                any_of.push(group);
            }
        }
        let mut nested = Vec::new();
        if let Some(list) = f.get("nested") {
            for n in list
                .as_array()
                .ok_or(format!("{ctx}: nested must be an array"))?
            {
                let parent = n
                    .get("parent")
                    .and_then(|p| p.as_integer())
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|&p| known(p))
                    .ok_or(format!("{ctx}: nested parent must be a known tag"))?;
                let children = tags(
                    n.get("mandatory")
                        .ok_or(format!("{ctx}: nested needs mandatory"))?,
                    &format!("{ctx} nested {parent}"),
                    known,
                )?;
                nested.push((parent, children));
            }
        }
        let source = f
            .get("source")
            .and_then(|s| s.as_str())
            .filter(|s| ["ffd105", "ffd12"].contains(s))
            .ok_or(format!("{ctx}: source must be ffd105 or ffd12"))?
            .to_owned();
        let lenient = f
            .get("lenient")
            .map(|l| {
                l.as_str()
                    .map(str::to_owned)
                    .ok_or(format!("{ctx}: lenient must be text"))
            })
            .transpose()?
            .unwrap_or_default();
        forms.push(Form {
            docs,
            ffd,
            mandatory,
            any_of,
            nested,
            source,
            lenient,
        });
    }

    // Exactly one form per (document type, version); marking documents only in 1.2.
    let mut seen: BTreeMap<(u8, u8), usize> = BTreeMap::new();
    for (i, f) in forms.iter().enumerate() {
        for &d in &f.docs {
            for &v in &f.ffd {
                if MARKING.contains(&d) && v != 4 {
                    return Err(format!(
                        "form #{}: marking document {d} exists only in FFD 1.2",
                        i + 1
                    ));
                }
                if let Some(j) = seen.insert((d, v), i) {
                    return Err(format!(
                        "forms #{} and #{} both define document {d} in FFD value {v}",
                        j + 1,
                        i + 1
                    ));
                }
            }
        }
    }
    for &d in doc_types {
        let versions: &[u8] = if MARKING.contains(&d) {
            &[4]
        } else {
            &[2, 3, 4]
        };
        for &v in versions {
            if !seen.contains_key(&(d, v)) {
                return Err(format!("no form for document {d} in FFD value {v}"));
            }
        }
    }

    // FFD 1.0: the 1.05 form without the tags 1.0 did not have.
    let derived: Vec<Form> = forms
        .iter()
        .filter(|f| f.ffd.contains(&2))
        .map(|f| Form {
            docs: f.docs.clone(),
            ffd: vec![1],
            mandatory: f
                .mandatory
                .iter()
                .copied()
                .filter(|t| !drop.contains(t))
                .collect(),
            any_of: f.any_of.clone(),
            nested: f.nested.clone(),
            source: f.source.clone(),
            lenient: "FFD 1.0: the 1.05 form without the tags 1.0 did not have".to_owned(),
        })
        .collect();
    forms.extend(derived);
    Ok(forms)
}

pub fn generate(forms: &[Form]) -> String {
    let mut out = String::new();
    out.push_str("// @generated by build.rs from proto-spec/forms.toml. Do not edit.\n\n");
    let _ = writeln!(out, "static FORMS: [Form; {}] = [", forms.len());
    for f in forms {
        let any_of: Vec<String> = f.any_of.iter().map(|g| format!("&{g:?}")).collect();
        let nested: Vec<String> = f
            .nested
            .iter()
            .map(|(p, m)| format!("Nested {{ parent: {p}, mandatory: &{m:?} }}"))
            .collect();
        let _ = writeln!(
            out,
            "    Form {{ docs: &{:?}, ffd: &{:?}, mandatory: &{:?}, any_of: &[{}], nested: &[{}], source: {:?}, lenient: {:?} }},",
            f.docs,
            f.ffd,
            f.mandatory,
            any_of.join(", "),
            nested.join(", "),
            f.source,
            f.lenient
        );
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// Index into `FORMS` of a document type (its byte) in an FFD version (1209's value).\n",
    );
    out.push_str("fn form_index(doc_type: u8, ffd: u8) -> Option<usize> {\n    Some(match (doc_type, ffd) {\n");
    for (i, f) in forms.iter().enumerate() {
        for d in &f.docs {
            for v in &f.ffd {
                let _ = writeln!(out, "        ({d}, {v}) => {i},");
            }
        }
    }
    out.push_str("        _ => return None,\n    })\n}\n");
    out
}
