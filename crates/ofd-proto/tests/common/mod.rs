//! Helpers shared by the integration tests: build a valid message, then change one thing and
//! re-seal it (lengths and both CRCs recomputed) so exactly one rule fails.
#![allow(dead_code)]

use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::container::ContainerHeader;
use ofd_proto::doctype::DocType;
use ofd_proto::message::encode_message;
use ofd_proto::session::SessionHeader;
use ofd_proto::tlv::{Tlv, TlvIter, write_tlv};

pub const NOW: u32 = 1_700_000_000;

pub fn build(doc_type: DocType) -> Vec<u8> {
    build_spec(
        &KktIdentity::generate(1),
        &DocSpec::new(doc_type, 100, NOW - 60),
    )
}

pub fn build_spec(id: &KktIdentity, spec: &DocSpec) -> Vec<u8> {
    let mut out = Vec::new();
    build_message(id, spec, &mut out).expect("valid spec");
    out
}

/// Re-encode `frame` with its headers (possibly edited) and a new payload.
pub fn reseal(
    frame: &[u8],
    edit: impl FnOnce(&mut SessionHeader, &mut ContainerHeader),
    payload: &[u8],
) -> Vec<u8> {
    let mut s = SessionHeader::decode(frame).unwrap();
    let mut c = ContainerHeader::decode(&frame[30..]).unwrap();
    edit(&mut s, &mut c);
    let mut out = Vec::new();
    encode_message(&s, &c, payload, &mut out).unwrap();
    out
}

/// The document TLV children and trailer of a frame.
pub fn children(frame: &[u8]) -> (u16, Vec<Tlv<'_>>, &[u8]) {
    let payload = &frame[62..];
    let tag = u16::from_le_bytes([payload[0], payload[1]]);
    let len = usize::from(u16::from_le_bytes([payload[2], payload[3]]));
    let value = &payload[4..4 + len];
    let kids = TlvIter::new(value).collect::<Result<Vec<_>, _>>().unwrap();
    (tag, kids, &payload[4 + len..])
}

/// Rewrite the document: `f` maps each top-level child to zero or more replacement TLVs
/// (`None` removes it); `extra` children are appended.
pub fn edit_doc(
    frame: &[u8],
    f: impl Fn(&Tlv<'_>) -> Option<Vec<(u16, Vec<u8>)>>,
    extra: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let (tag, kids, trailer) = children(frame);
    let mut value = Vec::new();
    for k in &kids {
        if let Some(repl) = f(k) {
            for (t, v) in repl {
                write_tlv(&mut value, t, &v);
            }
        }
    }
    for (t, v) in extra {
        write_tlv(&mut value, *t, v);
    }
    let mut payload = Vec::new();
    write_tlv(&mut payload, tag, &value);
    payload.extend_from_slice(trailer);
    reseal(frame, |_, _| {}, &payload)
}

/// Replace the value of every top-level `tag`.
pub fn set_tag(frame: &[u8], tag: u16, value: &[u8]) -> Vec<u8> {
    edit_doc(
        frame,
        |k| {
            Some(vec![(
                k.tag,
                if k.tag == tag {
                    value.to_vec()
                } else {
                    k.value.to_vec()
                },
            )])
        },
        &[],
    )
}

/// Remove every top-level `tag`.
pub fn drop_tag(frame: &[u8], tag: u16) -> Vec<u8> {
    edit_doc(
        frame,
        |k| (k.tag != tag).then(|| vec![(k.tag, k.value.to_vec())]),
        &[],
    )
}

/// Remove `nested` from every `parent` STLV.
pub fn drop_nested(raw: &[u8], parent: u16, nested: u16) -> Vec<u8> {
    edit_doc(
        raw,
        |k| {
            if k.tag != parent {
                return Some(vec![(k.tag, k.value.to_vec())]);
            }
            let mut v = Vec::new();
            for c in k.children().map(Result::unwrap).filter(|c| c.tag != nested) {
                write_tlv(&mut v, c.tag, c.value);
            }
            Some(vec![(k.tag, v)])
        },
        &[],
    )
}
