//! Hostile input: arbitrary bytes and arbitrary mutations of valid messages never panic any
//! entry point, and any chunking of a multi-message stream yields the same frames.

mod common;

use common::NOW;
use ofd_proto::ack::decode_ack;
use ofd_proto::builder::{DocSpec, KktIdentity};
use ofd_proto::doctype::DocType;
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::validate::{ValidationConfig, validate};
use proptest::prelude::*;

fn exercise(bytes: &[u8]) {
    let limits = FrameLimits::default();
    let _ = check_frame(bytes, &limits);
    if let Ok(m) = parse_message(bytes) {
        let _ = m.document();
        if let Err(e) = validate(&m, &ValidationConfig::default(), NOW) {
            let _ = (e.disposition(), e.reason(), e.to_string());
        }
    } else if let Err(e) = parse_message(bytes) {
        let _ = (e.disposition(), e.reason(), e.to_string());
    }
    let _ = decode_ack(bytes);
    let _ = ofd_proto::ack::AckTarget::from_frame(bytes);
}

/// Feed `stream` to the framer in the given chunk sizes, the way a tokio codec would: append a
/// chunk, then take frames off the front while complete.
fn frames_by_chunks(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut cuts = cuts.iter().copied().cycle();
    while pos < stream.len() {
        let n = cuts.next().unwrap_or(1).max(1).min(stream.len() - pos);
        buf.extend_from_slice(&stream[pos..pos + n]);
        pos += n;
        loop {
            match check_frame(&buf, &FrameLimits::default()).unwrap() {
                Framing::Complete { len } => frames.push(buf.drain(..len).collect()),
                Framing::Incomplete { needed } => {
                    assert!(needed > 0);
                    break;
                }
            }
        }
    }
    assert!(buf.is_empty());
    frames
}

fn stream_of(n: usize, seed: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let id = KktIdentity::generate(seed);
    let mut frames = Vec::new();
    for i in 0..n {
        let doc_type = DocType::ALL[(seed as usize + i) % DocType::ALL.len()];
        let spec = DocSpec {
            items: (i % 7) as u16,
            ..DocSpec::new(doc_type, i as u32 + 1, NOW)
        };
        frames.push(common::build_spec(&id, &spec));
    }
    (frames.concat(), frames)
}

#[test]
fn one_byte_at_a_time_and_all_at_once() {
    let (stream, frames) = stream_of(6, 11);
    assert_eq!(frames_by_chunks(&stream, &[1]), frames);
    assert_eq!(frames_by_chunks(&stream, &[stream.len()]), frames);
}

#[test]
fn garbage_after_a_frame_fails_at_its_first_byte() {
    let (mut stream, frames) = stream_of(1, 3);
    stream.push(b'X');
    let len = frames[0].len();
    assert_eq!(
        check_frame(&stream, &FrameLimits::default()),
        Ok(Framing::Complete { len })
    );
    assert!(check_frame(&stream[len..], &FrameLimits::default()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_yields_the_same_frames(seed in any::<u64>(), n in 1usize..6, cuts in prop::collection::vec(1usize..300, 1..20)) {
        let (stream, frames) = stream_of(n, seed);
        prop_assert_eq!(frames_by_chunks(&stream, &cuts), frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(body in prop::collection::vec(any::<u8>(), 0..600), flags in any::<u16>()) {
        let mut frame = vec![0x2A, 0x08, 0x41, 0x0A, 0x81, 0xA2, 0x01, 0x05];
        frame.extend_from_slice(b"9960000000000001");
        frame.extend_from_slice(&(body.len() as u16).to_le_bytes());
        frame.extend_from_slice(&flags.to_le_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&body);
        exercise(&frame);
    }

    #[test]
    fn mutated_valid_messages_never_panic(seed in any::<u64>(), doc in 0usize..15, flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), reseal in any::<bool>()) {
        let id = KktIdentity::generate(seed);
        let spec = DocSpec { items: 4, ..DocSpec::new(DocType::ALL[doc], 5, NOW) };
        let mut raw = common::build_spec(&id, &spec);
        for (i, b) in &flips {
            let at = i.index(raw.len());
            raw[at] = *b;
        }
        if reseal && raw.len() > 62 {
            // Re-seal so mutations reach the document checks instead of failing a CRC.
            let payload = raw[62..].to_vec();
            if let (Ok(s), Ok(c)) = (ofd_proto::session::SessionHeader::decode(&raw), ofd_proto::container::ContainerHeader::decode(&raw[30..])) {
                let mut out = Vec::new();
                if ofd_proto::message::encode_message(&s, &c, &payload, &mut out).is_ok() {
                    raw = out;
                }
            }
        }
        exercise(&raw);
    }
}
