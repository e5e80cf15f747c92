//! A protobuf schema flattened to what reaches the wire: every field of every (nested) message
//! as (message path, number, name, label, type, wire type), every enum value as (enum path,
//! number, name). Package names are dropped (they never reach the wire), so ofdd's `kkm.proto`
//! and the public schemas (other packages, nine files) compare row by row.
//!
//! Shared by the test `schema_dialects.rs` and the example `schema_table`, which writes the
//! table of the public schemas (`proto-spec/kz/public-schemas.tsv`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

/// One field as the wire sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// `optional`, `required` or `repeated`.
    pub label: String,
    /// A scalar type name (`uint32`, `string`, …), `message:Path` or `enum:Path`.
    pub ty: String,
    /// `varint`, `i64`, `len`, `i32` or `group`; a packed repeated scalar is `len`.
    pub wire: String,
}

/// A flattened schema: message path → number → field; enum path → number → value name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub messages: BTreeMap<String, BTreeMap<i32, Field>>,
    pub enums: BTreeMap<String, BTreeMap<i32, String>>,
}

/// Compile `roots` (looked up in `dir`, with their imports) and flatten them.
pub fn compile(dir: &Path, roots: &[&str]) -> Result<Schema, String> {
    let files: Vec<_> = roots.iter().map(|r| dir.join(r)).collect();
    let fds = protox::compile(&files, [dir]).map_err(|e| format!("{e:?}"))?;
    Ok(flatten(&fds))
}

pub fn flatten(fds: &FileDescriptorSet) -> Schema {
    let mut s = Schema::default();
    for file in &fds.file {
        let package = file.package().to_owned();
        for e in &file.enum_type {
            add_enum(&mut s, "", e);
        }
        for m in &file.message_type {
            add_message(&mut s, &package, "", m);
        }
    }
    s
}

fn add_enum(s: &mut Schema, prefix: &str, e: &EnumDescriptorProto) {
    let path = format!("{prefix}{}", e.name());
    let values = s.enums.entry(path).or_default();
    for v in &e.value {
        values.insert(v.number(), v.name().to_owned());
    }
}

fn add_message(s: &mut Schema, package: &str, prefix: &str, m: &DescriptorProto) {
    let path = format!("{prefix}{}", m.name());
    let nested = format!("{path}.");
    for e in &m.enum_type {
        add_enum(s, &nested, e);
    }
    for n in &m.nested_type {
        add_message(s, package, &nested, n);
    }
    let fields = s.messages.entry(path).or_default();
    for f in &m.field {
        let ty = match f.r#type() {
            Type::Message | Type::Group => format!("message:{}", strip(f.type_name(), package)),
            Type::Enum => format!("enum:{}", strip(f.type_name(), package)),
            other => scalar_name(other).to_owned(),
        };
        let repeated = f.label() == Label::Repeated;
        let packed = repeated && f.options.as_ref().is_some_and(|o| o.packed());
        let wire = if packed { "len" } else { wire_type(f.r#type()) };
        let label = match f.label() {
            Label::Optional => "optional",
            Label::Required => "required",
            Label::Repeated => "repeated",
        };
        fields.insert(
            f.number(),
            Field {
                name: f.name().to_owned(),
                label: label.to_owned(),
                ty,
                wire: wire.to_owned(),
            },
        );
    }
}

/// `.kkm.proto.Money` → `Money` (the package dropped).
fn strip(type_name: &str, package: &str) -> String {
    let t = type_name.trim_start_matches('.');
    match t.strip_prefix(package) {
        Some(rest) if !package.is_empty() => rest.trim_start_matches('.').to_owned(),
        _ => t.to_owned(),
    }
}

fn scalar_name(t: Type) -> &'static str {
    match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Message | Type::Group | Type::Enum => "?",
    }
}

pub fn wire_type(t: Type) -> &'static str {
    match t {
        Type::Int64
        | Type::Uint64
        | Type::Int32
        | Type::Bool
        | Type::Uint32
        | Type::Enum
        | Type::Sint32
        | Type::Sint64 => "varint",
        Type::Double | Type::Fixed64 | Type::Sfixed64 => "i64",
        Type::Float | Type::Fixed32 | Type::Sfixed32 => "i32",
        Type::String | Type::Bytes | Type::Message => "len",
        Type::Group => "group",
    }
}

/// The table's text: a header line, then one tab-separated row per field and per enum value.
pub fn to_table(version: &str, s: &Schema) -> String {
    let mut out = String::new();
    for (path, fields) in &s.messages {
        for (n, f) in fields {
            let _ = writeln!(
                out,
                "field\t{version}\t{path}\t{n}\t{}\t{}\t{}\t{}",
                f.name, f.label, f.ty, f.wire
            );
        }
    }
    for (path, values) in &s.enums {
        for (n, name) in values {
            let _ = writeln!(out, "enum\t{version}\t{path}\t{n}\t{name}");
        }
    }
    out
}

/// Parse the rows of [`to_table`] (lines starting with `#` and blank lines are skipped) into one
/// schema per version.
pub fn from_table(text: &str) -> Result<BTreeMap<String, Schema>, String> {
    let mut out: BTreeMap<String, Schema> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let bad = || format!("line {}: {line:?}", i + 1);
        let number: i32 = cols.get(3).ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let schema = out
            .entry(cols.get(1).ok_or_else(bad)?.to_string())
            .or_default();
        match (cols[0], cols.len()) {
            ("field", 8) => {
                schema
                    .messages
                    .entry(cols[2].to_owned())
                    .or_default()
                    .insert(
                        number,
                        Field {
                            name: cols[4].to_owned(),
                            label: cols[5].to_owned(),
                            ty: cols[6].to_owned(),
                            wire: cols[7].to_owned(),
                        },
                    );
            }
            ("enum", 5) => {
                schema
                    .enums
                    .entry(cols[2].to_owned())
                    .or_default()
                    .insert(number, cols[4].to_owned());
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}
