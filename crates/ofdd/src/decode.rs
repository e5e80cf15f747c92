//! `ofdd decode`: a captured message (raw bytes or hex text, from a file or stdin) → pretty JSON
//! on stdout. A register's request is shown as FNS JSON with the session and container headers
//! alongside; an operator's acknowledgement (document 7, whole or as a container alone, which is
//! what captures often keep) as its decoded fields. Invalid input exits non-zero with the
//! protocol error that names what is wrong — the same check the daemon runs.

use std::io::Read;

use anyhow::{Context, bail};
use ofd_proto::ack::{Ack, ResponseCode, decode_ack, decode_ack_container};
use ofd_proto::container::{ANSWER_MESSAGE_TYPE, ContainerHeader};
use ofd_proto::doctype::DocType;
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::session::{SESSION_HEADER_LEN, SIGNATURE, SessionHeader};
use ofd_proto::tlv::TlvIter;
use ofd_proto::validate::{ValidationConfig, validate};
use serde_json::json;

use crate::cli::DecodeArgs;
use crate::clock::unix_now;

/// Largest input read: a frame is at most 30 + 65535 bytes, hex doubles it.
const MAX_INPUT: u64 = 2 * (30 + 65_535) + 4096;

pub fn run(args: DecodeArgs) -> anyhow::Result<()> {
    let input = read_input(args.file.as_deref())?;
    let bytes = unhex(&input).unwrap_or(input);
    let value = decode(&bytes, !args.no_validate, args.now.unwrap_or_else(unix_now))?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn read_input(path: Option<&std::path::Path>) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match path {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::File::open(p)
                .with_context(|| format!("cannot open {}", p.display()))?
                .take(MAX_INPUT)
                .read_to_end(&mut buf)
                .with_context(|| format!("cannot read {}", p.display()))?;
        }
        _ => {
            std::io::stdin()
                .take(MAX_INPUT)
                .read_to_end(&mut buf)
                .context("cannot read stdin")?;
        }
    }
    if buf.is_empty() {
        bail!("empty input: expected one FN–OFD message (raw bytes or hex)");
    }
    Ok(buf)
}

/// Hex text (whitespace allowed) → bytes; `None` if the input is not hex text.
fn unhex(input: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.is_empty()
        || !digits.len().is_multiple_of(2)
        || !digits.iter().all(u8::is_ascii_hexdigit)
    {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    digits
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Decode one message to a JSON report; errors name the protocol rule broken.
pub fn decode(bytes: &[u8], check: bool, now: u32) -> anyhow::Result<serde_json::Value> {
    if bytes.starts_with(&ofd_kz::header::APPCODE_BYTES) {
        return decode_kz(bytes);
    }
    if !bytes.starts_with(&SIGNATURE) {
        return decode_container(bytes);
    }
    let len = match check_frame(bytes, &FrameLimits::default()).context("invalid message")? {
        Framing::Complete { len } => len,
        Framing::Incomplete { needed } => bail!("truncated message: {needed} more byte(s) needed"),
    };
    if len != bytes.len() {
        bail!(
            "{} trailing byte(s) after the message (one message expected)",
            bytes.len() - len
        );
    }
    if is_answer(bytes.get(SESSION_HEADER_LEN..).unwrap_or_default()) {
        let ack = decode_ack(bytes).context("invalid acknowledgement")?;
        return Ok(ack_report(&ack));
    }
    let msg = parse_message(bytes).context("invalid message")?;
    if check {
        validate(&msg, &ValidationConfig::default(), now).context("format-logic control failed")?;
    }
    let (_, trailer) = msg.document().context("invalid document")?;
    let document = ofd_proto::json::message_to_fns_json(&msg).context("invalid document")?;
    Ok(json!({
        "kind": "request",
        "session": session_json(&msg.session),
        "container": container_json(&msg.container),
        "validated": check,
        "document": document,
        "trailer": hex(trailer),
    }))
}

/// A KKM–OFD (Kazakhstan) message: the header, and the body read as a request and as an answer
/// (the bytes do not say which; a field that does not fit shows as a decoding error).
fn decode_kz(bytes: &[u8]) -> anyhow::Result<serde_json::Value> {
    let limits = ofd_kz::FrameLimits {
        max_size: u32::try_from(MAX_INPUT).unwrap_or(u32::MAX),
    };
    match ofd_kz::check_frame(bytes, &limits).context("invalid KKM–OFD message")? {
        ofd_kz::Framing::Complete { len } if len == bytes.len() => {}
        ofd_kz::Framing::Complete { len } => bail!(
            "{} trailing byte(s) after the KKM–OFD message (one message expected)",
            bytes.len() - len
        ),
        ofd_kz::Framing::Incomplete { needed } => {
            bail!("truncated KKM–OFD message: {needed} more byte(s) needed")
        }
    }
    let (h, _) = ofd_kz::split_frame(bytes).context("invalid KKM–OFD message")?;
    let as_request = ofd_kz::codec::decode_request(bytes);
    let as_answer = ofd_kz::codec::decode_response(bytes);
    let show = |r: Result<String, String>| match r {
        Ok(v) => json!({ "decoded": v }),
        Err(e) => json!({ "error": e }),
    };
    Ok(json!({
        "kind": "kkm",
        "header": {
            "version": h.version,
            "size": h.size,
            "id": h.id,
            "token": h.token,
            "reqnum": h.reqnum,
        },
        "as_request": show(as_request.map(|(_, r)| format!("{r:#?}")).map_err(|e| e.to_string())),
        "as_answer": show(as_answer.map(|(_, r)| format!("{r:#?}")).map_err(|e| e.to_string())),
    }))
}

/// An operator's answer: message type `0x5A` or document 7 in the container header.
fn is_answer(container: &[u8]) -> bool {
    ContainerHeader::decode(container).is_ok_and(|c| {
        c.message_type == ANSWER_MESSAGE_TYPE || c.doc_type == DocType::OperatorAck.as_u8()
    })
}

/// Input without a session header: only an acknowledgement's container is decoded that way.
fn decode_container(bytes: &[u8]) -> anyhow::Result<serde_json::Value> {
    if !is_answer(bytes) {
        bail!(
            "invalid message: neither a session header (2A 08 41 0A) nor an operator \
             acknowledgement's container"
        );
    }
    let ack = decode_ack_container(bytes).context("invalid acknowledgement container")?;
    Ok(ack_report(&ack))
}

fn ack_report(a: &Ack<'_>) -> serde_json::Value {
    let code_meaning = match a.code {
        ResponseCode::Accepted => "accepted",
        ResponseCode::NotRecognised => "message not recognised",
        ResponseCode::FormatLogic => "format-logic control (ФЛК) failed",
        ResponseCode::Other(_) => "other",
    };
    let tags: Vec<u16> = TlvIter::new(a.document)
        .map_while(|t| t.ok().map(|t| t.tag))
        .collect();
    json!({
        "kind": "acknowledgement",
        "session": a.session.as_ref().map(session_json),
        "container": container_json(&a.container),
        "ack": {
            "fn": String::from_utf8_lossy(a.fn_number),
            "fd": a.fd_number,
            "time": a.time,
            "code": a.code.as_u8(),
            "code_meaning": code_meaning,
            "operator_inn": String::from_utf8_lossy(a.operator_inn),
            "fpo": hex(a.fpo),
            "operator_message": a.operator_message,
            "tags": tags,
            "trailer": hex(a.trailer),
            "message_mac": a.message_mac().map(hex),
        },
    })
}

fn session_json(s: &SessionHeader) -> serde_json::Value {
    json!({
        "p_version": hex(&s.p_version),
        "fn": String::from_utf8_lossy(&s.fn_number),
        "body_len": s.body_len,
        "flags": format!("0x{:04x}", s.flags.0),
        "crc": format!("0x{:04x}", s.crc),
    })
}

fn container_json(c: &ContainerHeader) -> serde_json::Value {
    json!({
        "len": c.len,
        "crc": format!("0x{:04x}", c.crc),
        "message_type": format!("0x{:02x}", c.message_type),
        "doc_type": c.doc_type,
        "version": c.version,
        "service1": hex(&c.service1),
        "fn_bcd": hex(&c.fn_bcd),
        "fd": c.fd_number,
        "service2": hex(&c.service2),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_input_is_recognised() {
        assert_eq!(unhex(b"2a08 410a\n"), Some(vec![0x2a, 0x08, 0x41, 0x0a]));
        assert_eq!(unhex(b"2a0"), None);
        assert_eq!(unhex(&[0x2a, 0x08]), None);
    }

    #[test]
    fn garbage_is_a_specific_error() {
        let err = decode(b"GET / HTTP/1.1\r\n\r\n", true, 1_700_000_000).unwrap_err();
        assert!(format!("{err:#}").contains("invalid message"), "{err:#}");
    }
}
