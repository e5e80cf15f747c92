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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value};

use crate::dict;
use crate::doctype::DocType;
use crate::tlv::{Tlv, TlvIter};
use crate::value::{Cp866, Fvln, ValueType, read_byte, read_u16, read_u32, read_vln, trim_spaces};

/// Tag of the document fiscal sign (ФПД), rendered as a number.
const FISCAL_SIGN: u16 = 1077;
/// Key added to an object whose TLV sequence is malformed.
pub const TLV_ERROR_KEY: &str = "tlvError";

/// Render `document` (the outer TLV, whose value is the document's STLV) of type `doc_type` as
/// FNS JSON: `{"<root>": {"code": doc_type, …}}`.
pub fn to_fns_json(doc_type: u8, document: Tlv<'_>) -> Value {
    let mut body = Map::new();
    body.insert("code".to_owned(), Value::from(doc_type));
    render_sequence(document.value, &mut body);
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
    fn fiscal_sign_is_the_last_four_bytes_big_endian() {
        assert_eq!(
            fiscal_sign(&[0x21, 0x04, 0xAA, 0x10, 0x75, 0x41]),
            Some(2_853_205_313)
        );
        assert_eq!(fiscal_sign(&[0, 0, 0, 0, 0, 1]), Some(1));
        assert_eq!(fiscal_sign(&[1, 2, 3, 4]), None);
    }
}
