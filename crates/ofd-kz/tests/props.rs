//! Properties: the Z report is the exact sum of its tickets, money never overflows silently,
//! arbitrary bytes never panic, and every command's request/response survives a round trip.

mod common;

use common::{ID, NOW, Server, TOKEN, code, local};
use ofd_kz::builder::{self, ItemSpec, Kkm, TicketSpec};
use ofd_kz::codec::{decode_request, decode_response, encode_request, encode_response};
use ofd_kz::kkm;
use ofd_kz::money::{MAX_TIYN, MoneyError, to_tiyn};
use ofd_kz::{FrameLimits, Header, Input, Policy, RegInfo, RegisterFacts, check_frame, decide};
use proptest::prelude::*;

fn item() -> impl Strategy<Value = ItemSpec> {
    (
        1u64..10_000_000,
        1u64..20_000,
        0u8..4,
        prop::option::of(prop::sample::select(vec![12_000u32, 0, 16_000])),
    )
        .prop_map(|(price, quantity, section, vat_percent)| ItemSpec {
            name: "x".into(),
            section: format!("S{section}"),
            price,
            quantity,
            vat_percent,
        })
}

fn ticket() -> impl Strategy<Value = TicketSpec> {
    (
        0i32..4,
        prop::collection::vec(item(), 1..=30),
        0u8..4,
        0u64..1_000_000,
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(operation, items, pay, change, offline)| {
            let mut t = TicketSpec {
                operation,
                time: local(NOW),
                items,
                card: 0,
                mobile: 0,
                change: 0,
                offline_ticket_number: offline,
            };
            let total = t.total();
            match pay {
                0 => t.card = total,
                1 => t.mobile = total / 3,
                2 => t.change = change,
                _ => {}
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn z_report_is_the_sum_of_its_tickets(tickets in prop::collection::vec(ticket(), 1..25)) {
        let mut s = Server::new();
        let mut k = Kkm::new(ID, TOKEN);
        let float = 1_000_000_000_000u64;
        prop_assert_eq!(code(&s.call(&mut k, &builder::money_placement(false, float, local(NOW)))), 0);
        let mut count = [0u32; 4];
        let mut sums = [0u64; 4];
        let mut pay = [[0u64; 5]; 4];
        let mut cash = i128::from(float);
        let mut vat = std::collections::BTreeMap::<(u32, usize), (u64, u64)>::new();
        for t in &tickets {
            let r = s.call(&mut k, &t.request());
            prop_assert_eq!(code(&r), 0, "{:?}", r.result.result_text);
            let op = usize::try_from(t.operation).unwrap();
            count[op] += 1;
            sums[op] += t.total();
            let cash_part = t.cash();
            pay[op][0] += if cash_part > 0 || t.change > 0 || (t.card == 0 && t.mobile == 0) { cash_part + t.change } else { 0 };
            pay[op][1] += t.card;
            pay[op][4] += t.mobile;
            let sign = if op == 2 || op == 1 { 1 } else { -1 };
            cash += sign * i128::from(cash_part);
            for i in &t.items {
                if let (Some(p), Some(v)) = (i.vat_percent, i.vat()) {
                    let e = vat.entry((p, op)).or_default();
                    e.0 += i.sum();
                    e.1 += v;
                }
            }
        }
        let z = s.call(&mut k, &builder::close_shift(local(NOW), false)).report.unwrap().zx_report.unwrap();
        for op in 0..4 {
            let t = &z.ticket_operations[op];
            prop_assert_eq!(t.operation, op as i32);
            prop_assert_eq!(t.tickets_count, count[op]);
            prop_assert_eq!(to_tiyn(&t.tickets_sum), Ok(sums[op]));
            prop_assert_eq!(to_tiyn(&z.total_result[op].sum), Ok(sums[op]));
            for p in &t.payments {
                prop_assert_eq!(to_tiyn(&p.sum), Ok(pay[op][p.payment as usize]));
            }
            let items: u64 = tickets.iter().filter(|t| t.operation == op as i32).flat_map(|t| t.items.iter().map(ItemSpec::sum)).sum();
            prop_assert_eq!(to_tiyn(&z.operations[op].sum), Ok(items));
            let by_section: u64 = z.sections.iter().map(|s| to_tiyn(&s.operations[op].sum).unwrap()).sum();
            prop_assert_eq!(by_section, items);
        }
        prop_assert_eq!(i128::from(to_tiyn(&z.cash_sum).unwrap()), cash);
        for tax in &z.taxes {
            for (op, o) in tax.operations.iter().enumerate() {
                let (turnover, sum) = vat.get(&(tax.percent, op)).copied().unwrap_or((0, 0));
                prop_assert_eq!(to_tiyn(&o.turnover), Ok(turnover));
                prop_assert_eq!(to_tiyn(&o.sum), Ok(sum));
                prop_assert_eq!(to_tiyn(o.turnover_without_tax.as_ref().unwrap()), Ok(turnover - sum));
            }
        }
        let revenue = i128::from(sums[2]) - i128::from(sums[3]) - i128::from(sums[0]) + i128::from(sums[1]);
        let r = &z.revenue;
        prop_assert_eq!(r.is_negative, revenue < 0);
        prop_assert_eq!(i128::from(to_tiyn(&r.sum).unwrap()), revenue.abs());
    }

    #[test]
    fn money_is_exact_or_refused(bills in any::<u64>(), coins in any::<u32>()) {
        let exact = u128::from(bills) * 100 + u128::from(coins);
        match to_tiyn(&kkm::Money { bills, coins }) {
            Ok(t) => prop_assert_eq!(u128::from(t), exact),
            Err(MoneyError::Coins(c)) => prop_assert!(c >= 100 && c == coins),
            Err(MoneyError::Overflow) => prop_assert!(coins < 100 && exact > u128::from(MAX_TIYN)),
            Err(MoneyError::Negative) => prop_assert!(false),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), token in any::<u32>(), reqnum in any::<u16>()) {
        let _ = check_frame(&bytes, &FrameLimits::default());
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
        let facts = RegisterFacts::new(RegInfo::default(), token);
        let d = decide(&Input {
            header: Header { version: 202, size: 0, id: ID, token, reqnum },
            body: &bytes,
            register: Some(&facts),
            policy: &Policy::default(),
            now: NOW,
            store_available: true,
            fresh_token: 9,
        });
        if let Some(a) = d.answer() {
            prop_assert!(decode_response(&a.bytes).is_ok());
        }
    }
}

#[test]
fn totals_at_the_limit_refuse_instead_of_wrapping() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    let f = s.facts.as_mut().unwrap();
    f.counters.non_nullable[2] = MAX_TIYN - 10;
    let before = s.facts().clone();
    let t = TicketSpec {
        operation: 2,
        time: local(NOW),
        items: vec![ItemSpec {
            name: "x".into(),
            section: "1".into(),
            price: 11,
            quantity: 1000,
            vat_percent: None,
        }],
        card: 11,
        mobile: 0,
        change: 0,
        offline_ticket_number: None,
    };
    let r = s.call(&mut k, &t.request());
    assert_eq!(code(&r), 13);
    let mut after = s.facts().clone();
    after.last = before.last;
    assert_eq!(after, before, "nothing but the retry marker moved");
    // Cash at the limit: a deposit that would overflow is refused the same way.
    s.facts.as_mut().unwrap().cash = MAX_TIYN;
    let r = s.call(&mut k, &builder::money_placement(false, 1, local(NOW)));
    assert_eq!(code(&r), 13);
}

#[test]
fn every_command_round_trips() {
    let t = local(NOW);
    let mut k = Kkm::new(ID, TOKEN);
    let requests = [
        builder::system(Some((t, t))),
        TicketSpec::sample(1, t).request(),
        builder::close_shift(t, true),
        builder::report(true, t),
        builder::nomenclature(3),
        builder::info(),
        builder::money_placement(true, 12_345, t),
        kkm::Request {
            command: 7,
            ..Default::default()
        },
        builder::auth("login", "пароль"),
        kkm::Request {
            command: 127,
            ..Default::default()
        },
    ];
    for (i, req) in requests.iter().enumerate() {
        let f = k.frame(req);
        let (h, back) = decode_request(&f).unwrap();
        assert_eq!(&back, req);
        assert_eq!(
            (h.id, h.token, h.reqnum, h.size as usize),
            (ID, TOKEN, u16::try_from(i + 1).unwrap(), f.len())
        );
        assert_eq!(encode_request(h, &back).unwrap(), f);
    }
    // Responses of every command from a real exchange round-trip too.
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    for req in &requests {
        let (d, sent) = s.exchange(&k.frame(req));
        let (h, resp) = decode_response(&sent).unwrap();
        assert_eq!(encode_response(h, &resp).unwrap(), sent);
        assert_eq!(&d.answer().unwrap().response, &resp);
    }
    // 2.0.2's uint32 quantity and 2.0.3's uint64 share the varint wire type.
    let mut wide = TicketSpec::sample(2, t).request();
    wide.ticket.as_mut().unwrap().items[0]
        .commodity
        .as_mut()
        .unwrap()
        .quantity = u64::from(u32::MAX) + 1;
    let (_, back) = decode_request(&k.frame(&wide)).unwrap();
    assert_eq!(back, wide);
}

#[test]
fn state_serializes() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    s.call(&mut k, &TicketSpec::sample(5, local(NOW)).request());
    let json = serde_json::to_string(s.facts()).unwrap();
    let back: RegisterFacts = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, s.facts());
}
