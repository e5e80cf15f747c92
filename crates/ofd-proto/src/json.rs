//! FNS JSON rendering of a fiscal document.
//!
//! Operators, tax-office tools and support staff read documents in the FNS JSON form:
//! `{"receipt": {"code": 3, "fiscalDriveNumber": "…", "items": [{…}], …}}`. This module turns a
//! parsed document TLV into that form, using [`crate::dict`] for every name and type, so the
//! rendering follows `proto-spec/tags.toml` like the validator does. It is for display and export
//! (admin API, CLI), not the ingestion path, so it allocates freely; it never panics on bad input.
//!
//! Rendering rules:
//! - root key: [`crate::doctype::DocType::json_root`] (`document<N>` for an unknown type), plus
//!   `"code": <document type>` inside the root object, as FNS JSON does;
//! - `string`: CP866 decoded, trailing spaces (and NUL padding) trimmed;
//! - `byte`, `u16`, `u32`, `vln`: JSON integers (money stays in kopecks);
//! - `unixtime`: integer seconds, as written by the register (local time, no zone);
//! - `fvln`: the exact decimal value as a JSON number (see [`fvln_number`]);
//! - `stlv`: a nested object, rendered by the same rules;
//! - `bytes`: base64 (standard alphabet, padded), except 1077 fiscalSign, which FNS JSON prints
//!   as the document's fiscal sign number: the last 4 of its 6 bytes read big-endian (a u32,
//!   hence the "10-digit number" printed on receipts);
//! - a tag marked `array` in the dictionary (1059 items, 1084, phones, …) is always an array, and
//!   any tag that actually repeats becomes an array too;
//! - a tag missing from the dictionary: `"tag<NNNN>": base64` of its raw value;
//! - a value that does not decode as its dictionary type (e.g. a 3-byte u32): base64 of its raw
//!   bytes, so nothing is silently lost or invented;
//! - a TLV sequence that stops parsing: the elements before the fault, plus
//!   `"tlvError": "<message>"` in the object where it happened.
//!
//! Names are the FNS ones everywhere, including the five FNS reuses in disjoint objects (1201,
//! 1218–1220 inside the counters and 1273 inside 1270 are `totalSum`, `prepaidSum`, `creditSum`,
//! `provisionSum`, `dateTime`, like 1020, 1215–1217 and 1012). Going back,
//! [`from_fns_json`] maps each name to its tag by the object it is in ([`dict::lookup_name`])
//! and re-encodes the values.
//!
//! A document rendered together with the trailer that followed it in the message
//! ([`to_fns_json_with_trailer`], [`message_to_fns_json`]) also carries, in the root object, the
//! two keys other FNS-JSON producers add: `messageFiscalSign` (the message fiscal sign, ФПС, as
//! a number: [`message_fiscal_sign`]) and `rawData` (base64 of the document TLV followed by the
//! ФПС: [`raw_data`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value};

use crate::dict::{self, NameMatch, Scope};
use crate::doctype::DocType;
use crate::error::ProtoError;
use crate::message::Message;
use crate::tlv::{Tlv, TlvIter, write_tlv};
use crate::value::{
    Cp866, Fvln, ValueType, encode_cp866, read_byte, read_u16, read_u32, read_vln, trim_spaces,
    vln_bytes,
};

/// Tag of the document fiscal sign (ФПД), rendered as a number.
const FISCAL_SIGN: u16 = 1077;
/// Key added to an object whose TLV sequence is malformed.
pub const TLV_ERROR_KEY: &str = "tlvError";
/// Key of the message fiscal sign (ФПС) in the root object, see [`message_fiscal_sign`].
pub const MESSAGE_FISCAL_SIGN_KEY: &str = "messageFiscalSign";
/// Key of the document's binary form, base64, in the root object, see [`raw_data`].
pub const RAW_DATA_KEY: &str = "rawData";
/// Length of the message fiscal sign at the head of a request's trailer: `81 06` and the FN's
/// 6-byte message MAC (the two bytes after it, `00 00` in real messages, are not part of it).
pub const MESSAGE_FISCAL_SIGN_LEN: usize = 8;

/// Render `document` (the outer TLV, whose value is the document's STLV) of type `doc_type` as
/// FNS JSON: `{"<root>": {"code": doc_type, …}}`.
pub fn to_fns_json(doc_type: u8, document: Tlv<'_>) -> Value {
    wrap(doc_type, render_body(doc_type, document))
}

/// [`to_fns_json`] of a document as received, with the `trailer` that followed its TLV in the
/// container (see [`Message::document`]): the root object also holds `messageFiscalSign` (when
/// the trailer carries one) and `rawData`, as other FNS-JSON producers write them.
pub fn to_fns_json_with_trailer(doc_type: u8, document: Tlv<'_>, trailer: &[u8]) -> Value {
    let mut body = render_body(doc_type, document);
    if let Some(sign) = message_fiscal_sign(trailer) {
        body.insert(MESSAGE_FISCAL_SIGN_KEY.to_owned(), Value::from(sign));
    }
    if let Some(raw) = raw_data(document, trailer) {
        body.insert(RAW_DATA_KEY.to_owned(), Value::String(BASE64.encode(raw)));
    }
    wrap(doc_type, body)
}

/// The FNS JSON of a parsed message's document, with `messageFiscalSign` and `rawData`
/// ([`to_fns_json_with_trailer`]). Fails only where [`Message::document`] does (no document TLV,
/// or one whose tag is not the container's document type); an encrypted payload is not TLV and
/// must not be rendered.
pub fn message_to_fns_json(msg: &Message<'_>) -> Result<Value, ProtoError> {
    let (document, trailer) = msg.document()?;
    Ok(to_fns_json_with_trailer(
        msg.doc_type.as_u8(),
        document,
        trailer,
    ))
}

/// The message fiscal sign (ФПС) as FNS JSON writes it: the first [`MESSAGE_FISCAL_SIGN_LEN`]
/// bytes of the trailer — `81 06` followed by the FN's 6-byte message MAC — read as one
/// **big-endian** u64. `None` when the trailer is shorter (there is no ФПС to render).
///
/// Sources: chayleaf/coop-fd (`fiscal-data/src/lib.rs`, `Document::from_bytes`, keeps the 8
/// bytes after the document TLV as the message fiscal sign; `fiscal-data/src/json.rs`,
/// `fiscal_sign_8_opt`, writes `messageFiscalSign` as `u64::from_be_bytes` of them), and the FNS
/// JSON that operators serve, as quoted in public code: every `messageFiscalSign` found there is
/// `0x8106…` (9297239341736763000 ≈ `0x81066DEC24019E78`, 9297368881396023000 ≈
/// `0x8106E3BCF1617ED8`; such values exceed 2^53 and are often printed rounded). yandex/ofd
/// (`ofd/protocol.py`, `ProtocolPacker.unpack_container_message`) reads the same bytes as a
/// little-endian VLN instead, which would put `0x81` in the low byte: no published value looks
/// like that, so it is not followed. The real vector's trailer `81 06 A5 5A E1 0C 4D 75 00 00`
/// gives `0x8106A55AE10C4D75` = 9297300290494287221.
pub fn message_fiscal_sign(trailer: &[u8]) -> Option<u64> {
    let sign: [u8; MESSAGE_FISCAL_SIGN_LEN] =
        trailer.get(..MESSAGE_FISCAL_SIGN_LEN)?.try_into().ok()?;
    Some(u64::from_be_bytes(sign))
}

/// The bytes FNS JSON's `rawData` holds: the document TLV as received (tag, length, value)
/// followed by the message fiscal sign (the trailer's first [`MESSAGE_FISCAL_SIGN_LEN`] bytes),
/// or by nothing when the trailer carries none. `None` only for a value longer than a TLV can
/// hold (never for a parsed document).
///
/// This is the layout both reference producers use, rather than the whole session frame:
/// yandex/ofd writes `rawData` as base64 of the document TLV with the fiscal sign appended
/// (`ofd/protocol.py`, `ProtocolPacker.unpack_container_message`; its README: the fiscal sign "is
/// appended at the end of rawData"), and chayleaf/coop-fd reads `rawData` back as a document TLV
/// followed by exactly 8 bytes of message fiscal sign (`fiscal-data/src/lib.rs`,
/// `Document::from_bytes`), which a frame with its session and container headers would not
/// parse as. The whole frame stays available byte for byte where the message is stored.
pub fn raw_data(document: Tlv<'_>, trailer: &[u8]) -> Option<Vec<u8>> {
    if u16::try_from(document.value.len()).is_err() {
        return None;
    }
    let sign = trailer.get(..MESSAGE_FISCAL_SIGN_LEN).unwrap_or(&[]);
    let mut out = Vec::with_capacity(4 + document.value.len() + sign.len());
    write_tlv(&mut out, document.tag, document.value);
    out.extend_from_slice(sign);
    Some(out)
}

/// The root object's content: `"code"` and the rendered TLVs.
fn render_body(doc_type: u8, document: Tlv<'_>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("code".to_owned(), Value::from(doc_type));
    render_sequence(document.value, &mut body);
    body
}

/// `{"<root of doc_type>": body}`.
fn wrap(doc_type: u8, body: Map<String, Value>) -> Value {
    let root = match DocType::from_u8(doc_type) {
        Some(t) => t.json_root().to_owned(),
        None => format!("document{doc_type}"),
    };
    let mut out = Map::with_capacity(1);
    out.insert(root, Value::Object(body));
    Value::Object(out)
}

/// [`to_fns_json`] serialised compactly.
pub fn to_fns_json_string(doc_type: u8, document: Tlv<'_>) -> String {
    to_fns_json(doc_type, document).to_string()
}

/// [`to_fns_json`] serialised with indentation, for humans.
pub fn to_fns_json_pretty(doc_type: u8, document: Tlv<'_>) -> String {
    // Serialising a `Value` cannot fail: every key is a string.
    serde_json::to_string_pretty(&to_fns_json(doc_type, document)).unwrap_or_default()
}

/// Render the TLVs of `bytes` into `obj`, grouping repeated tags into arrays.
fn render_sequence(bytes: &[u8], obj: &mut Map<String, Value>) {
    for item in TlvIter::new(bytes) {
        let tlv = match item {
            Ok(tlv) => tlv,
            Err(e) => {
                obj.insert(TLV_ERROR_KEY.to_owned(), Value::String(e.to_string()));
                return;
            }
        };
        let (key, value) = render_element(tlv);
        match obj.get_mut(&key) {
            // A rendered element is never itself an array, so an array here is a group.
            Some(Value::Array(items)) => items.push(value),
            // A tag not declared repeatable that occurs again: promote it to an array.
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None if dict::is_repeatable(tlv.tag) => {
                obj.insert(key, Value::Array(vec![value]));
            }
            None => {
                obj.insert(key, value);
            }
        }
    }
}

/// The JSON key and value of one element.
fn render_element(tlv: Tlv<'_>) -> (String, Value) {
    match dict::lookup(tlv.tag) {
        Some(info) => (info.name.to_owned(), render_value(tlv, info.ty)),
        None => (format!("tag{:04}", tlv.tag), raw(tlv.value)),
    }
}

fn render_value(tlv: Tlv<'_>, ty: ValueType) -> Value {
    let v = tlv.value;
    let decoded = match ty {
        ValueType::Byte => read_byte(v).ok().map(Value::from),
        ValueType::U16 => read_u16(v).ok().map(Value::from),
        ValueType::U32 | ValueType::UnixTime => read_u32(v).ok().map(Value::from),
        ValueType::Vln => read_vln(v).ok().map(Value::from),
        ValueType::Fvln => Fvln::read(v).ok().map(fvln_number),
        ValueType::String => Some(Value::String(Cp866(trim_spaces(v)).decode().into_owned())),
        ValueType::Stlv => {
            let mut obj = Map::new();
            render_sequence(v, &mut obj);
            Some(Value::Object(obj))
        }
        ValueType::Bytes if tlv.tag == FISCAL_SIGN => fiscal_sign(v).map(Value::from),
        ValueType::Bytes => None,
    };
    decoded.unwrap_or_else(|| raw(v))
}

/// The printed fiscal sign of a document: the last 4 bytes of the 6-byte 1077 value, big-endian.
/// For the real vector `21 04 AA 10 75 41` that is `0xAA107541` = 2853205313.
pub fn fiscal_sign(v: &[u8]) -> Option<u32> {
    match v {
        [_, _, a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// An FVLN as a JSON number with exactly its decimal value.
///
/// Without serde_json's `arbitrary_precision` (which would change number handling for every crate
/// in the workspace) a JSON number is a u64 or an f64. Integral values (trailing fraction zeros
/// dropped) become a u64, exactly. Others go through the f64 nearest to the exact decimal string
/// (Rust's parser rounds correctly); with at most 15 significant digits that double's shortest
/// representation, which serde_json prints, is the original decimal, so the JSON text is exact.
/// Values with more significant digits (never seen in practice: quantities carry a few) would be
/// rounded by an f64, so they are rendered as a JSON string holding the exact decimal instead.
pub fn fvln_number(f: Fvln) -> Value {
    let (mut mantissa, mut scale) = (f.mantissa, f.scale);
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    if scale == 0 {
        return Value::from(mantissa);
    }
    let exact = Fvln { scale, mantissa }.to_string();
    let significant = mantissa.checked_ilog10().map_or(1, |d| d + 1);
    match exact.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) if significant <= 15 => Value::Number(n),
        _ => Value::String(exact),
    }
}

fn raw(v: &[u8]) -> Value {
    Value::String(BASE64.encode(v))
}

/// A document decoded back from FNS JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub doc_type: u8,
    /// The document TLV: tag = `doc_type`, value = the elements.
    pub document: Vec<u8>,
    /// Tags whose bytes FNS JSON does not hold in full, re-encoded as closely as it allows: 1077
    /// `fiscalSign` is printed as the last 4 of its 6 bytes, so the first 2 come back as zeros.
    pub approximated: Vec<u16>,
}

/// Why FNS JSON could not be decoded; `path` is where, as `root.key[index].key`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("FNS JSON must be an object with one key, the document's root")]
    NotADocument,
    #[error("unknown document root {0:?}")]
    UnknownRoot(String),
    #[error("{path}: \"code\" {code} does not match the root's document type {doc_type}")]
    CodeMismatch {
        path: String,
        code: String,
        doc_type: u8,
    },
    #[error("{path}: no tag is named {name:?}")]
    UnknownName { path: String, name: String },
    #[error("{path}: {name:?} is not a name of this object, and tags {tags:?} carry it elsewhere")]
    AmbiguousName {
        path: String,
        name: String,
        tags: &'static [u16],
    },
    #[error("{path}: tag {tag}: {reason}")]
    BadValue {
        path: String,
        tag: u16,
        reason: String,
    },
    #[error("{path}: the rendering recorded a malformed TLV here: {reason}")]
    TlvError { path: String, reason: String },
}

/// Decode FNS JSON (as [`to_fns_json`] and other producers write it) back into the document
/// TLV. Each name is mapped to its tag by the object it is in — the root object of the
/// document type, or the STLV it is nested in ([`dict::lookup_name`]) — so FNS's reused names
/// (`totalSum` is 1020 in a receipt and 1201 in a counter) come back to the right tags. Values
/// are re-encoded by the tag's type: integers, VLN (minimal), FVLN (from a number or a decimal
/// string), CP866 strings (space-padded to a fixed length), base64 for bytes and for any value
/// the renderer could not decode (a string where a number belongs), `tag<NNNN>` keys as raw
/// base64. The root's `code`, `messageFiscalSign` and `rawData` are checked or skipped; a
/// `tlvError` key is refused. Element order follows the JSON object's key order. Never panics.
///
/// What FNS JSON does not keep cannot come back: the first 2 bytes of 1077 (listed in
/// [`Decoded::approximated`]), the trailing spaces of a variable-length string, and non-minimal
/// VLN/FVLN encodings (re-encoded minimal). The bytes received are what ofdd stores and serves.
pub fn from_fns_json(json: &Value) -> Result<Decoded, JsonError> {
    let root = match json.as_object() {
        Some(o) if o.len() == 1 => o,
        _ => return Err(JsonError::NotADocument),
    };
    let (root_key, body) = root.iter().next().ok_or(JsonError::NotADocument)?;
    let doc_type = DocType::ALL
        .iter()
        .find(|t| t.json_root() == root_key)
        .map(|t| t.as_u8())
        .or_else(|| root_key.strip_prefix("document")?.parse().ok())
        .ok_or_else(|| JsonError::UnknownRoot(root_key.clone()))?;
    let body = body.as_object().ok_or(JsonError::NotADocument)?;
    let mut d = Decoder {
        approximated: Vec::new(),
    };
    let mut value = Vec::new();
    for (key, v) in body {
        let path = format!("{root_key}.{key}");
        match key.as_str() {
            "code" => {
                if v.as_u64() != Some(u64::from(doc_type)) {
                    return Err(JsonError::CodeMismatch {
                        path,
                        code: v.to_string(),
                        doc_type,
                    });
                }
            }
            MESSAGE_FISCAL_SIGN_KEY | RAW_DATA_KEY => {}
            _ => d.element(Scope::Document(doc_type), &path, key, v, &mut value)?,
        }
    }
    let mut document = Vec::with_capacity(value.len() + 4);
    put_tlv(&mut document, u16::from(doc_type), &value, root_key)?;
    Ok(Decoded {
        doc_type,
        document,
        approximated: d.approximated,
    })
}

struct Decoder {
    approximated: Vec<u16>,
}

impl Decoder {
    /// One key of an object (an array value: the tag repeated) appended to `out`.
    fn element(
        &mut self,
        scope: Scope,
        path: &str,
        key: &str,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), JsonError> {
        if key == TLV_ERROR_KEY {
            return Err(JsonError::TlvError {
                path: path.to_owned(),
                reason: v.as_str().unwrap_or_default().to_owned(),
            });
        }
        if let Some(tag) = raw_tag_key(key) {
            return match v {
                Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
                    let bytes = base64_of(item, &format!("{path}[{i}]"), tag)?;
                    put_tlv(out, tag, &bytes, path)
                }),
                _ => put_tlv(out, tag, &base64_of(v, path, tag)?, path),
            };
        }
        let info = match dict::lookup_name(scope, key) {
            NameMatch::Tag(info) => info,
            NameMatch::Ambiguous(tags) => {
                return Err(JsonError::AmbiguousName {
                    path: path.to_owned(),
                    name: key.to_owned(),
                    tags,
                });
            }
            NameMatch::Unknown => {
                return Err(JsonError::UnknownName {
                    path: path.to_owned(),
                    name: key.to_owned(),
                });
            }
        };
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    let bytes = self.value(info, &p, item)?;
                    put_tlv(out, info.tag, &bytes, &p)?;
                }
                Ok(())
            }
            _ => {
                let bytes = self.value(info, path, v)?;
                put_tlv(out, info.tag, &bytes, path)
            }
        }
    }

    /// The wire bytes of one value of `info`'s type.
    fn value(
        &mut self,
        info: &'static dict::TagInfo,
        path: &str,
        v: &Value,
    ) -> Result<Vec<u8>, JsonError> {
        let tag = info.tag;
        let bad = |reason: String| JsonError::BadValue {
            path: path.to_owned(),
            tag,
            reason,
        };
        // The renderer writes base64 of the raw bytes for a value it could not decode as its
        // type: a string where a number or an object belongs is that.
        let numeric = matches!(
            info.ty,
            ValueType::Byte
                | ValueType::U16
                | ValueType::U32
                | ValueType::UnixTime
                | ValueType::Vln
        );
        if (numeric || info.ty == ValueType::Stlv || info.ty == ValueType::Bytes) && v.is_string() {
            return base64_of(v, path, tag);
        }
        let int = |max: u64| -> Result<u64, JsonError> {
            v.as_u64()
                .filter(|n| *n <= max)
                .ok_or_else(|| bad(format!("expected an integer 0..={max}, got {v}")))
        };
        Ok(match info.ty {
            ValueType::Byte => vec![int(u64::from(u8::MAX))? as u8],
            ValueType::U16 => (int(u64::from(u16::MAX))? as u16).to_le_bytes().to_vec(),
            ValueType::U32 | ValueType::UnixTime => {
                (int(u64::from(u32::MAX))? as u32).to_le_bytes().to_vec()
            }
            ValueType::Vln => {
                let (b, len) = vln_bytes(int(u64::MAX)?);
                b[..len].to_vec()
            }
            ValueType::Fvln => {
                let text = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => return Err(bad(format!("expected a decimal number, got {v}"))),
                };
                parse_decimal(&text)
                    .ok_or_else(|| bad(format!("{text:?} is not a decimal FVLN can hold")))?
                    .to_bytes()
            }
            ValueType::String => {
                let text = v
                    .as_str()
                    .ok_or_else(|| bad(format!("expected a string, got {v}")))?;
                let mut bytes = encode_cp866(text);
                if info.fixed && bytes.len() < usize::from(info.max_len) {
                    bytes.resize(usize::from(info.max_len), b' ');
                }
                bytes
            }
            ValueType::Bytes if tag == FISCAL_SIGN => {
                let n = int(u64::from(u32::MAX))? as u32;
                self.approximated.push(tag);
                let mut b = vec![0, 0];
                b.extend_from_slice(&n.to_be_bytes());
                b
            }
            ValueType::Bytes => return Err(bad(format!("expected base64, got {v}"))),
            ValueType::Stlv => {
                let obj = v
                    .as_object()
                    .ok_or_else(|| bad(format!("expected an object, got {v}")))?;
                let mut out = Vec::new();
                for (key, child) in obj {
                    self.element(
                        Scope::Stlv(tag),
                        &format!("{path}.{key}"),
                        key,
                        child,
                        &mut out,
                    )?;
                }
                out
            }
        })
    }
}

/// `tag1234` → 1234 (the renderer's key for a tag the dictionary lacks).
fn raw_tag_key(key: &str) -> Option<u16> {
    let digits = key.strip_prefix("tag")?;
    (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn base64_of(v: &Value, path: &str, tag: u16) -> Result<Vec<u8>, JsonError> {
    let bad = |reason: String| JsonError::BadValue {
        path: path.to_owned(),
        tag,
        reason,
    };
    let s = v
        .as_str()
        .ok_or_else(|| bad(format!("expected base64, got {v}")))?;
    BASE64
        .decode(s)
        .map_err(|e| bad(format!("not base64: {e}")))
}

fn put_tlv(out: &mut Vec<u8>, tag: u16, value: &[u8], path: &str) -> Result<(), JsonError> {
    if value.len() > usize::from(u16::MAX) {
        return Err(JsonError::BadValue {
            path: path.to_owned(),
            tag,
            reason: format!("{} bytes do not fit a TLV", value.len()),
        });
    }
    write_tlv(out, tag, value);
    Ok(())
}

/// `"1234.5"` → scale 1, mantissa 12345; also `"7"`, `"0.005"`, `"1e-7"` (from an f64). `None`
/// for a negative, a non-number, or more than 19 decimals or a mantissa beyond u64.
fn parse_decimal(text: &str) -> Option<Fvln> {
    let (digits, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut mantissa: u64 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    let mut scale = i32::try_from(frac.len()).ok()? - exp;
    while scale < 0 {
        mantissa = mantissa.checked_mul(10)?;
        scale += 1;
    }
    while scale > 19 && mantissa.is_multiple_of(10) {
        mantissa /= 10;
        scale -= 1;
    }
    Some(Fvln {
        scale: u8::try_from(scale).ok().filter(|s| *s <= 19)?,
        mantissa,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(scale: u8, mantissa: u64) -> String {
        fvln_number(Fvln { scale, mantissa }).to_string()
    }

    #[test]
    fn fvln_renders_its_exact_decimal() {
        assert_eq!(num(2, 123_456_789), "1234567.89");
        assert_eq!(num(3, 5), "0.005");
        assert_eq!(num(3, 1250), "1.25");
        assert_eq!(num(3, 1000), "1");
        assert!(
            fvln_number(Fvln {
                scale: 3,
                mantissa: 1000
            })
            .is_u64()
        );
        assert_eq!(num(0, u64::MAX), u64::MAX.to_string());
        assert_eq!(num(0, 0), "0");
        assert_eq!(num(5, 0), "0");
        // 15 significant digits: still an exact number.
        assert_eq!(num(3, 999_999_999_999_999), "999999999999.999");
        assert_eq!(num(7, 1).parse::<f64>().ok(), Some(1e-7));
    }

    #[test]
    fn fvln_beyond_f64_precision_is_an_exact_string() {
        let v = fvln_number(Fvln {
            scale: 2,
            mantissa: 1_234_567_890_123_456_789,
        });
        assert_eq!(v, Value::String("12345678901234567.89".to_owned()));
    }

    #[test]
    fn message_fiscal_sign_is_the_first_eight_trailer_bytes_big_endian() {
        let trailer = [0x81, 0x06, 0xA5, 0x5A, 0xE1, 0x0C, 0x4D, 0x75, 0x00, 0x00];
        assert_eq!(message_fiscal_sign(&trailer), Some(0x8106_A55A_E10C_4D75));
        assert_eq!(
            message_fiscal_sign(&trailer),
            Some(9_297_300_290_494_287_221)
        );
        assert_eq!(
            message_fiscal_sign(&trailer[..8]),
            Some(0x8106_A55A_E10C_4D75)
        );
        assert_eq!(message_fiscal_sign(&trailer[..7]), None);
        assert_eq!(message_fiscal_sign(&[]), None);
    }

    #[test]
    fn raw_data_is_the_document_tlv_then_the_message_fiscal_sign() {
        let document = Tlv {
            tag: 3,
            value: &[0x10, 0x04, 0x01, 0x00, 0x07],
        };
        let trailer = [0x81, 0x06, 1, 2, 3, 4, 5, 6, 0x00, 0x00];
        assert_eq!(
            raw_data(document, &trailer),
            Some(vec![
                3, 0, 5, 0, 0x10, 0x04, 0x01, 0x00, 0x07, 0x81, 0x06, 1, 2, 3, 4, 5, 6
            ])
        );
        // No ФПС: the document alone, and no messageFiscalSign key.
        assert_eq!(
            raw_data(document, &[0x81, 0x06]),
            Some(vec![3, 0, 5, 0, 0x10, 0x04, 0x01, 0x00, 0x07])
        );
        let json = to_fns_json_with_trailer(3, document, &[]);
        assert!(
            json["receipt"].get(MESSAGE_FISCAL_SIGN_KEY).is_none(),
            "{json}"
        );
        assert_eq!(json["receipt"][RAW_DATA_KEY], "AwAFABAEAQAH");
        let long = vec![0; usize::from(u16::MAX) + 1];
        assert_eq!(
            raw_data(
                Tlv {
                    tag: 3,
                    value: &long
                },
                &trailer
            ),
            None
        );
    }

    #[test]
    fn decimals_parse_exactly() {
        let d = |t| parse_decimal(t).map(|f| (f.scale, f.mantissa));
        assert_eq!(d("1234567.89"), Some((2, 123_456_789)));
        assert_eq!(d("0.005"), Some((3, 5)));
        assert_eq!(d("7"), Some((0, 7)));
        assert_eq!(d("1e-7"), Some((7, 1)));
        assert_eq!(d("2.5e2"), Some((0, 250)));
        for bad in [
            "",
            ".",
            "-1",
            "1.2.3",
            "abc",
            "1e",
            "99999999999999999999",
            "1e-30",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fiscal_sign_is_the_last_four_bytes_big_endian() {
        assert_eq!(
            fiscal_sign(&[0x21, 0x04, 0xAA, 0x10, 0x75, 0x41]),
            Some(2_853_205_313)
        );
        assert_eq!(fiscal_sign(&[0, 0, 0, 0, 0, 1]), Some(1));
        assert_eq!(fiscal_sign(&[1, 2, 3, 4]), None);
    }
}
