// Seed inputs for every fuzz target, from the builder (every document type, every FFD version,
// every session CRC mode, acknowledgements with every code) and the real captured message.
//
// Included (`include!`) by `crates/ofd-proto/tests/fuzz_corpus.rs`, which checks that every
// seed passes its harness, and by the command that (re)writes them to
// `fuzz/corpus/<target>/seed-*`:
//
//     cargo run --release -p ofd-proto --example write_fuzz_seeds
// Needs the harness (`fuzz/harness.rs`) in
// scope for the mode-byte convention only. Plain `//` comments: `include!` forbids inner docs.

use ofd_proto::ack::encode_ack;
use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::doctype::FfdVersion;
use ofd_proto::session::CrcMode;

/// The real 466-byte registration-change report (FN 9999078900005488, FD 1).
pub const REAL_VECTOR: &[u8] = include_bytes!(
    "../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin"
);

/// The real FFD 1.2 registration change a production operator refused with code 14.
pub const FFD12_VECTOR: &[u8] = include_bytes!(
    "../proto-spec/vectors/registration-change-ffd12-fn9999078902013267-fd1.bin"
);
/// The production operator's answers to FD 1 and FD 2 of that drive (containers only).
pub const CAPTURED_ACKS: [(&str, &[u8]); 2] = [
    (
        "code14",
        include_bytes!(
            "../proto-spec/vectors/operator-ack-container-fn9999078902013267-fd1-code14.bin"
        ),
    ),
    (
        "code0",
        include_bytes!(
            "../proto-spec/vectors/operator-ack-container-fn9999078902013267-fd2-code0.bin"
        ),
    ),
];

/// A fixed document time inside every harness's window.
const SEED_TIME: u32 = FUZZ_NOW - 3600;

fn seed_message(seed: u64, spec: &DocSpec) -> Vec<u8> {
    let mut out = Vec::new();
    build_message(&KktIdentity::generate(seed), spec, &mut out)
        .expect("the builder accepts its own specs");
    out
}

/// (label, frame) for a representative set of valid messages.
fn seed_messages() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("real-vector".to_string(), REAL_VECTOR.to_vec())];
    for (i, doc_type) in DocType::ALL.into_iter().enumerate() {
        let spec = DocSpec {
            items: 2,
            ..DocSpec::new(doc_type, 10 + i as u32, SEED_TIME)
        };
        out.push((
            format!("{}-ffd105", doc_type.label()),
            seed_message(i as u64, &spec),
        ));
    }
    for ffd in [FfdVersion::V1_0, FfdVersion::V1_1, FfdVersion::V1_2] {
        for doc_type in [
            DocType::Registration,
            DocType::Receipt,
            DocType::ReceiptCorrection,
        ] {
            let spec = DocSpec {
                ffd,
                items: 1,
                ..DocSpec::new(doc_type, 7, SEED_TIME)
            };
            out.push((
                format!("{}-{}", doc_type.label(), ffd.as_str()),
                seed_message(3, &spec),
            ));
        }
    }
    for (name, crc_mode) in [("crc-none", CrcMode::None), ("crc-header", CrcMode::Header)] {
        let spec = DocSpec {
            crc_mode,
            items: 1,
            ..DocSpec::new(DocType::Receipt, 5, SEED_TIME)
        };
        out.push((format!("receipt-{name}"), seed_message(4, &spec)));
    }
    let spec = DocSpec {
        encrypted: true,
        items: 1,
        ..DocSpec::new(DocType::Receipt, 6, SEED_TIME)
    };
    out.push(("receipt-encrypted".to_string(), seed_message(5, &spec)));
    for (i, doc_type) in DocType::ALL.into_iter().enumerate() {
        let spec = DocSpec {
            ffd: FfdVersion::V1_2,
            items: 2,
            ..DocSpec::new(doc_type, 40 + i as u32, SEED_TIME)
        };
        out.push((
            format!("{}-ffd12-all", doc_type.label()),
            seed_message(40 + i as u64, &spec),
        ));
    }
    let spec = DocSpec {
        untransmitted: 4,
        ..DocSpec::new(DocType::ShiftClose, 20, SEED_TIME)
    };
    out.push((
        "shift-close-untransmitted".to_string(),
        seed_message(6, &spec),
    ));
    out
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(mode);
    v.extend_from_slice(bytes);
    v
}

/// (target, file name, bytes) of every seed.
pub fn fuzz_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let messages = seed_messages();
    let mut seeds = Vec::new();
    for (label, msg) in &messages {
        seeds.push(("flk", format!("seed-{label}"), with_mode(0, msg)));
        seeds.push(("pipeline", format!("seed-{label}"), with_mode(0, msg)));
        seeds.push(("tlv", format!("seed-{label}"), msg[62..].to_vec()));
    }
    // Resealed variants: one field changed, CRCs made right again by the harness.
    let receipt = &messages[1 + DocType::ALL
        .iter()
        .position(|d| *d == DocType::Receipt)
        .unwrap_or(0)]
    .1;
    let mut fd_mismatch = receipt.clone();
    fd_mismatch[30 + 19] ^= 1;
    seeds.push((
        "flk",
        "seed-resealed-fd-mismatch".to_string(),
        with_mode(1, &fd_mismatch),
    ));
    let mut bad_bcd = receipt.clone();
    bad_bcd[30 + 9] = 0xAB;
    seeds.push((
        "pipeline",
        "seed-resealed-bad-bcd".to_string(),
        with_mode(1, &bad_bcd),
    ));
    let mut unknown_type = receipt.clone();
    unknown_type[30 + 5] = 99;
    seeds.push((
        "pipeline",
        "seed-resealed-unknown-doc-type".to_string(),
        with_mode(1, &unknown_type),
    ));

    // Streams for the framer and the pipeline: several messages back to back, cut in chunks.
    let stream: Vec<u8> = messages
        .iter()
        .take(4)
        .flat_map(|(_, m)| m.clone())
        .collect();
    for (name, cuts) in [
        ("bytewise", vec![0u8]),
        ("mixed", vec![29, 0, 2, 200, 61]),
        ("whole", vec![]),
    ] {
        let mut v = vec![cuts.len() as u8];
        v.extend_from_slice(&cuts);
        v.extend_from_slice(&stream);
        seeds.push(("framing", format!("seed-stream-{name}"), v));
    }
    let mut garbage_tail = vec![1u8, 7];
    garbage_tail.extend_from_slice(REAL_VECTOR);
    garbage_tail.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    seeds.push(("framing", "seed-vector-then-http".to_string(), garbage_tail));
    let mut partial = vec![2u8, 15, 100];
    partial.extend_from_slice(&messages[2].1);
    partial.extend_from_slice(&messages[3].1[..40]);
    seeds.push(("framing", "seed-frame-then-partial".to_string(), partial));
    seeds.push((
        "pipeline",
        "seed-stream-4".to_string(),
        with_mode(0, &stream),
    ));

    // The real FFD 1.2 report ФЛК refuses (code 14), as the production operator did.
    for target in ["flk", "pipeline"] {
        seeds.push((
            target,
            "seed-real-vector-ffd12-refused".to_string(),
            with_mode(0, FFD12_VECTOR),
        ));
    }
    seeds.push(("tlv", "seed-real-vector-ffd12".to_string(), FFD12_VECTOR[62..].to_vec()));

    // The production operator's answers, with the session header the capture did not keep.
    for (label, container) in CAPTURED_ACKS {
        let session = ofd_proto::session::SessionHeader {
            p_version: [0x01, 0x20],
            fn_number: *b"9999078902013267",
            body_len: container.len() as u16,
            flags: ofd_proto::session::Flags(0x0014),
            crc: 0,
        };
        let mut frame = session.encode(container).expect("a valid header").to_vec();
        frame.extend_from_slice(container);
        seeds.push(("ack", format!("seed-captured-{label}"), with_mode(0, &frame)));
    }

    // Acknowledgements of every code, addressed to a few requests.
    let signer = HmacSigner::new(b"seed operator key");
    for (label, msg) in messages.iter().take(4) {
        let m = parse_message(msg).expect("seed messages parse");
        for code in [
            ResponseCode::Accepted,
            ResponseCode::NotRecognised,
            ResponseCode::FormatLogic,
        ] {
            let mut ack = Vec::new();
            encode_ack(
                &AckTarget::from(&m),
                code,
                FUZZ_OPERATOR_INN,
                FUZZ_NOW,
                msg,
                &signer,
                &mut ack,
            )
            .expect("seed acks encode");
            seeds.push((
                "ack",
                format!("seed-{label}-code{}", code.as_u8()),
                with_mode(0, &ack),
            ));
        }
    }
    seeds
}
