//! Transmission damage is never mistaken for a document: a single corrupted byte anywhere in a
//! valid message either makes parsing or format-logic control fail, or leaves the container (what
//! is stored and acknowledged) untouched. With the session CRC over header and body (mode 10)
//! every single-byte change is caught (CRC-16 detects all bursts up to 16 bits) except one that
//! turns the CRC mode itself off — and then the container CRC still holds.

mod common;

use common::NOW;
use ofd_proto::builder::{DocSpec, KktIdentity};
use ofd_proto::doctype::DocType;
use ofd_proto::framing::{FrameLimits, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::session::CrcMode;
use ofd_proto::validate::{ValidationConfig, validate};
use proptest::prelude::*;

fn accepted(raw: &[u8]) -> bool {
    check_frame(raw, &FrameLimits::default()).is_ok()
        && parse_message(raw).is_ok_and(|m| validate(&m, &ValidationConfig::default(), NOW).is_ok())
}

fn message(seed: u64, doc: usize, crc_mode: CrcMode) -> Vec<u8> {
    let spec = DocSpec {
        crc_mode,
        items: 2,
        ..DocSpec::new(DocType::ALL[doc % DocType::ALL.len()], 42, NOW - 60)
    };
    common::build_spec(&KktIdentity::generate(seed), &spec)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn single_byte_damage_is_caught_under_the_full_session_crc(
        seed in any::<u64>(), doc in 0usize..15, at in any::<prop::sample::Index>(), delta in 1u8..=255,
    ) {
        let mut raw = message(seed, doc, CrcMode::HeaderAndBody);
        prop_assert!(accepted(&raw));
        let original = raw.clone();
        let i = at.index(raw.len());
        raw[i] ^= delta;
        if accepted(&raw) {
            // The one blind spot is the CRC mode itself: damage to the flags byte that switches
            // it to "none" disables the session CRC. The container CRC still guards everything
            // that is stored, so the document is the original one.
            prop_assert_eq!(i, 26, "byte {} changed by {:#04x} went unnoticed", i, delta);
            prop_assert_eq!(raw[26] & 0b11, 0);
            prop_assert_eq!(&raw[30..], &original[30..]);
        }
    }

    #[test]
    fn without_session_crc_damage_never_alters_the_stored_container(
        seed in any::<u64>(), doc in 0usize..15, mode in 0usize..2, at in any::<prop::sample::Index>(), delta in 1u8..=255,
    ) {
        let original = message(seed, doc, [CrcMode::None, CrcMode::Header][mode]);
        let mut raw = original.clone();
        let i = at.index(raw.len());
        raw[i] ^= delta;
        if accepted(&raw) {
            // Only session-level bits that carry no document data may differ (P-version among
            // the known ones, flag bits other than CRC mode and container, the unused CRC field).
            prop_assert_eq!(&raw[30..], &original[30..]);
            prop_assert!(matches!(i, 6 | 7 | 26..=29), "byte {} changed and still accepted", i);
        }
    }
}
