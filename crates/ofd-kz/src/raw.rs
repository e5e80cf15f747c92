//! Protobuf fields read raw, without a schema: what a register does when it echoes the
//! registration data its operator sent it.
//!
//! Registers keep `ServiceResponse.reg_info` as they received it and send it back inside
//! `ServiceRequest.reg_info` (required since version 200), unknown fields and all. That is how an
//! operator's `OrgRegInfo` field 6 — `int32 tenantId` in 2.0.2, `string address_kz` in 2.0.3 —
//! reaches ofdd in either wire type. [`echo_reg_info`] does the same with an answer's bytes, so
//! tests and the load generator can send exactly what such a register sends.

/// One field of a protobuf message, as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField<'a> {
    pub number: u32,
    /// 0 varint, 1 i64, 2 length-delimited, 5 i32 (groups, 3 and 4, are refused).
    pub wire_type: u8,
    /// The whole field: key, length prefix if any, value.
    pub bytes: &'a [u8],
    /// The value alone (a length-delimited field's payload, a varint's bytes).
    pub value: &'a [u8],
}

fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Every field of `msg` in wire order; `None` if it is not well-formed protobuf (or holds groups).
pub fn fields(msg: &[u8]) -> Option<Vec<RawField<'_>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < msg.len() {
        let start = at;
        let key = varint(msg, &mut at)?;
        let number = u32::try_from(key >> 3).ok().filter(|n| *n != 0)?;
        let wire_type = (key & 7) as u8;
        let value_at;
        match wire_type {
            0 => {
                value_at = at;
                varint(msg, &mut at)?;
            }
            1 | 5 => {
                value_at = at;
                at = at.checked_add(if wire_type == 1 { 8 } else { 4 })?;
            }
            2 => {
                let len = usize::try_from(varint(msg, &mut at)?).ok()?;
                value_at = at;
                at = at.checked_add(len)?;
            }
            _ => return None,
        }
        if at > msg.len() {
            return None;
        }
        out.push(RawField {
            number,
            wire_type,
            bytes: &msg[start..at],
            value: &msg[value_at..at],
        });
    }
    Some(out)
}

/// The value of the last length-delimited field `number` of `msg` (protobuf: the last one wins
/// for a singular field; ofdd's answers carry each once).
pub fn submessage(msg: &[u8], number: u32) -> Option<&[u8]> {
    fields(msg)?
        .into_iter()
        .rev()
        .find(|f| f.number == number && f.wire_type == 2)
        .map(|f| f.value)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field: key, length, `value`.
pub fn len_field(number: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 8);
    put_varint(&mut out, (u64::from(number) << 3) | 2);
    put_varint(&mut out, value.len() as u64);
    out.extend_from_slice(value);
    out
}

/// `Request` field `service` (6) holding `ServiceRequest.reg_info` (12) = { kkm (1), org (2) }
/// copied byte for byte from `Response.service` (6) → `ServiceResponse.reg_info` (2) → kkm (1),
/// org (3) of an answer body (the protobuf after the 18-byte header). Appended to an encoded
/// request, it merges into that request's `service` (protobuf concatenation). `None` if the
/// answer carries no reg info or is not well-formed.
pub fn echo_reg_info(answer_body: &[u8]) -> Option<Vec<u8>> {
    let service = submessage(answer_body, 6)?;
    let reg_info = submessage(service, 2)?;
    let mut echoed = Vec::new();
    if let Some(kkm) = submessage(reg_info, 1) {
        echoed.extend(len_field(1, kkm));
    }
    if let Some(org) = submessage(reg_info, 3) {
        echoed.extend(len_field(2, org));
    }
    Some(len_field(6, &len_field(12, &echoed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_none_never_a_panic() {
        assert_eq!(fields(&[0x08]), None, "a varint cut short");
        assert_eq!(fields(&[0x0A, 0x05, 1, 2]), None, "a length past the end");
        assert_eq!(fields(&[0x0B]), None, "a group");
        assert_eq!(fields(&[0x00, 0x01]), None, "field number 0");
        assert_eq!(
            fields(&[
                0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F
            ]),
            None
        );
        assert_eq!(fields(&[]), Some(vec![]));
        assert_eq!(echo_reg_info(&[0x08, 0x05]), None, "no service part");
    }

    #[test]
    fn fields_and_len_field_round_trip() {
        let msg = [len_field(3, b"abc"), vec![0x30, 0x01]].concat();
        let f = fields(&msg).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].number, f[0].wire_type, f[0].value),
            (3, 2, &b"abc"[..])
        );
        assert_eq!(
            (f[1].number, f[1].wire_type, f[1].bytes),
            (6, 0, &[0x30, 0x01][..])
        );
    }
}
