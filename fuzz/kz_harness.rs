// Fuzz harness body for ofd-kz, shared through `include!` by the cargo-fuzz target
// `fuzz/fuzz_targets/kz.rs` and by `crates/ofd-kz/tests/fuzz_corpus.rs` (which replays
// `fuzz/corpus/kz/` and `fuzz/regressions/kz/` in a plain `cargo test`). Plain `//` comments
// only: `include!` does not allow inner doc comments.
//
// Input layout: byte 0 selects the register's situation (bit 0: registered, bit 1: store
// available, bit 2: rotation always, bit 3: a shift is open, with cash in the drawer, bit 4: the
// header's token is the register's, bit 5: that shift is past the 24-hour limit), the rest is a
// would-be frame. It panics only when an invariant is broken:
// * framing and splitting never panic, and agree with each other;
// * a decision's answer decodes, echoes ID, VERSION and REQNUM, and its SIZE is its length;
// * only an OK answer to a rotating command carries a new token, and the state holds it;
// * a non-OK answer never changes anything but the retry marker;
// * a retry is only decided for the last exchange's TOKEN and REQNUM.

use ofd_kz::builder::{self as kz_builder, Kkm, TicketSpec};
use ofd_kz::time::LocalDateTime;
use ofd_kz::{
    Decision, FrameLimits, Framing, Input, Policy, RegInfo, RegisterFacts, TokenRotation,
    check_frame, decide, split_frame,
};

// The fixed "now" of the harness (2023-11-14): no clock here either.
pub const KZ_FUZZ_NOW: u64 = 1_700_000_000;
pub const KZ_FUZZ_TOKEN: u32 = 0x0BAD_F00D;

pub fn fuzz_kz(data: &[u8]) {
    let _ = fuzz_kz_answer(data);
}

// The harness itself: the result code answered, or `None` when nothing is answered (the input
// is no frame, or the decision is a retry of the stored answer).
pub fn fuzz_kz_answer(data: &[u8]) -> Option<ofd_kz::ResultCode> {
    let (&mode, frame) = data.split_first()?;
    let limits = FrameLimits { max_size: 1 << 16 };
    let framing = check_frame(frame, &limits);
    let split = split_frame(frame);
    if let Ok(Framing::Complete { len }) = framing {
        assert!(len >= 18 && len <= frame.len());
        if len == frame.len() {
            assert!(split.is_ok(), "check_frame says whole, split_frame refuses");
        }
    }
    let (mut header, body) = split.ok()?;
    if mode & 16 != 0 {
        header.token = KZ_FUZZ_TOKEN;
    }
    let mut facts = RegisterFacts::new(RegInfo::default(), KZ_FUZZ_TOKEN);
    facts.last = Some(ofd_kz::state::LastExchange {
        token: KZ_FUZZ_TOKEN,
        reqnum: 7,
        command: 1,
    });
    if mode & 8 != 0 {
        let opened_at = if mode & 32 != 0 {
            0
        } else {
            KZ_FUZZ_NOW - 3600
        };
        facts.shift = Some(ofd_kz::state::OpenShift {
            number: 1,
            opened_at,
            opened_local: LocalDateTime::from_unix(opened_at, 5 * 3600),
            start_non_nullable: [0; 4],
            totals: Default::default(),
        });
        facts.last_shift_number = 1;
        facts.cash = 1_000_000;
    }
    let policy = Policy {
        rotation: if mode & 4 != 0 {
            TokenRotation::Always
        } else {
            TokenRotation::Never
        },
        ..Policy::default()
    };
    let d = decide(&Input {
        header,
        body,
        register: (mode & 1 != 0).then_some(&facts),
        policy: &policy,
        now: KZ_FUZZ_NOW,
        store_available: mode & 2 != 0,
        fresh_token: 0x5EED_5EED,
    });
    match d {
        Decision::Retry => {
            let last = facts.last.expect("a retry needs a last exchange");
            assert_eq!((header.token, header.reqnum), (last.token, last.reqnum));
            None
        }
        Decision::Answer(a) => {
            let (h, resp) = ofd_kz::codec::decode_response(&a.bytes).expect("our answers decode");
            assert_eq!(
                (h.id, h.version, h.reqnum),
                (header.id, header.version, header.reqnum)
            );
            assert_eq!(h.size as usize, a.bytes.len());
            assert_eq!(resp.result.result_code, a.code.wire());
            if let Some(t) = a.new_token {
                assert_eq!(a.code, ofd_kz::ResultCode::Ok);
                assert!(a.command.is_some_and(|c| c.may_rotate_token()));
                assert_eq!(h.token, t);
                assert_eq!(a.state.as_ref().map(|s| s.token), Some(t));
            } else {
                assert_eq!(h.token, header.token);
            }
            if a.code != ofd_kz::ResultCode::Ok
                && let Some(s) = &a.state
            {
                let mut same = s.clone();
                same.last = facts.last;
                assert_eq!(same, facts, "a refusal changed more than the retry marker");
            }
            Some(a.code)
        }
    }
}

// Seeds: valid requests of every command, framed for the harness's register with a shift open
// inside its limit and cash in the drawer, so that each reaches its OK answer (mode 0b01_1111).
pub fn kz_fuzz_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let t = LocalDateTime::from_unix(KZ_FUZZ_NOW, 5 * 3600);
    let mut k = Kkm::new(22_656, KZ_FUZZ_TOKEN);
    // Past the harness's last exchange (REQNUM 7), which only the retry seed repeats: a seed
    // on REQNUM 7 with another command would be answered 9, not go through.
    k.reqnum = 100;
    let mut seeds = Vec::new();
    let mut off = TicketSpec::sample(3, t);
    off.offline_ticket_number = Some(42);
    for (name, req) in [
        ("seed-info", kz_builder::info()),
        ("seed-system", kz_builder::system(Some((t, t)))),
        ("seed-ticket", TicketSpec::sample(1, t).request()),
        ("seed-ticket-offline", off.request()),
        ("seed-deposit", kz_builder::money_placement(false, 5_000, t)),
        (
            "seed-withdrawal",
            kz_builder::money_placement(true, 5_000, t),
        ),
        ("seed-close-shift", kz_builder::close_shift(t, true)),
        ("seed-report-x", kz_builder::report(true, t)),
        ("seed-report-z", kz_builder::report(false, t)),
        ("seed-auth", kz_builder::auth("a", "b")),
        ("seed-nomenclature", kz_builder::nomenclature(0)),
    ] {
        let mut bytes = vec![0b1_1111];
        bytes.extend(k.frame(&req));
        seeds.push((name, bytes));
    }
    // The KKM resends its last exchange (a ticket, REQNUM 7): a retry, answered with the
    // stored bytes.
    k.reqnum = 7;
    let mut bytes = vec![0b1_1111];
    bytes.extend(k.resend(&TicketSpec::sample(1, t).request()));
    seeds.push(("seed-retry", bytes));
    seeds
}
