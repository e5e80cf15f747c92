//! The server's decision, driven without sockets: every result code once, token rotation,
//! retries answered byte-identically, shifts, cash, reports, offline tickets.

mod common;

use common::{ID, NOW, Server, TOKEN, code, local};
use ofd_kz::builder::{self, ItemSpec, Kkm, TicketSpec};
use ofd_kz::kkm;
use ofd_kz::money::to_tiyn;
use ofd_kz::{Decision, Event, Header, ResultCode, TokenRotation};
use prost::Message;

fn sale(seed: u64) -> TicketSpec {
    TicketSpec::sample(seed, local(NOW))
}

fn ok(resp: &kkm::Response) {
    assert_eq!(code(resp), 0, "{:?}", resp.result.result_text);
}

#[test]
fn info_system_and_a_ticket() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    let r = s.call(&mut k, &builder::info());
    ok(&r);
    let rep = r.report.unwrap();
    assert_eq!(rep.report, kkm::ReportTypeEnum::ReportZ as i32);
    assert_eq!(
        rep.zx_report.unwrap().shift_number,
        0,
        "no Z yet: an empty one, shift 0"
    );
    let svc = r.service.unwrap();
    assert_eq!(
        svc.reg_info.unwrap().kkm.unwrap().fns_kkm_id.as_deref(),
        Some("010101012345")
    );
    ok(&s.call(&mut k, &builder::system(None)));

    let t = sale(1);
    let r = s.call(&mut k, &t.request());
    ok(&r);
    let tr = r.ticket.unwrap();
    assert_eq!(tr.ticket_number, "1");
    let qr = String::from_utf8(tr.qr_code.unwrap()).unwrap();
    assert!(
        qr.starts_with("http://consumer.ofd.invalid?i=1&f=010101012345&s="),
        "{qr}"
    );
    assert!(qr.ends_with("&t=20231115T031320"), "{qr}");
    assert!(s.events.contains(&Event::ShiftOpened { shift_number: 1 }));

    // INFO now reports X of the open shift and the last document.
    let r = s.call(&mut k, &builder::info());
    let rep = r.report.unwrap();
    assert_eq!(rep.report, kkm::ReportTypeEnum::ReportX as i32);
    let x = rep.zx_report.unwrap();
    assert_eq!(x.shift_number, 1);
    let sold = &x.ticket_operations[kkm::OperationTypeEnum::OperationSell as usize];
    assert_eq!(
        (sold.tickets_count, to_tiyn(&sold.tickets_sum)),
        (1, Ok(t.total()))
    );
    assert_eq!(
        r.service
            .unwrap()
            .last_document_info
            .unwrap()
            .fr_shift_number,
        1
    );
}

#[test]
fn code_1_unknown_id() {
    let mut s = Server::new();
    s.facts = None;
    let mut k = Kkm::new(ID, TOKEN);
    let (d, _) = s.exchange(&k.frame(&builder::info()));
    let a = d.answer().unwrap();
    assert_eq!((a.code, a.code.wire()), (ResultCode::UnknownId, 1));
    assert!(a.state.is_none());
}

#[test]
fn code_2_wrong_token() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN + 1);
    let r = s.call(&mut k, &builder::info());
    assert_eq!(code(&r), 2);
    assert_eq!(s.facts().last, None, "a wrong token moves nothing");
}

#[test]
fn code_8_same_reqnum_other_token_and_code_9_other_command() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    ok(&s.call(&mut k, &builder::info()));
    // Same REQNUM, another token → 8.
    let mut other = k;
    other.token ^= 1;
    let (d, _) = s.exchange(&other.resend(&builder::info()));
    assert_eq!(d.answer().unwrap().code, ResultCode::InvalidRequestNumber);
    // Same TOKEN and REQNUM, another command → 9.
    let (d, _) = s.exchange(&k.resend(&builder::system(None)));
    assert_eq!(d.answer().unwrap().code.wire(), 9);
    // Same everything → a retry.
    let (d, _) = s.exchange(&k.resend(&builder::info()));
    assert_eq!(d, Decision::Retry);
}

#[test]
fn codes_3_4_5_protocol_errors() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    // Undecodable protobuf (a truncated varint) → 3, and no state moves.
    k.reqnum += 1;
    let mut f = Header {
        version: 202,
        size: 20,
        id: ID,
        token: TOKEN,
        reqnum: k.reqnum,
    }
    .encode()
    .to_vec();
    f.extend_from_slice(&[0x08, 0xFF]);
    let (d, _) = s.exchange(&f);
    assert_eq!(d.answer().unwrap().code.wire(), 3);
    assert!(d.answer().unwrap().state.is_none());
    // A wrong wire type for a known field → 3.
    let mut f = f[..18].to_vec();
    f.extend_from_slice(&[0x0A, 0x00]); // field 1 as length-delimited
    f[4..8].copy_from_slice(&20u32.to_le_bytes());
    let (d, _) = s.exchange(&f);
    assert_eq!(d.answer().unwrap().code, ResultCode::ProtocolError);
    // A command's body missing → 3.
    let r = s.call(
        &mut k,
        &kkm::Request {
            command: kkm::CommandTypeEnum::CommandTicket as i32,
            ..Default::default()
        },
    );
    assert_eq!(code(&r), 3);
    // Unknown command → 4, echoed.
    let r = s.call(
        &mut k,
        &kkm::Request {
            command: 42,
            ..Default::default()
        },
    );
    assert_eq!(code(&r), 4);
    // NOMENCLATURE, CANCEL_TICKET, RESERVED → 5 (ofdd keeps no nomenclature).
    assert_eq!(code(&s.call(&mut k, &builder::nomenclature(0))), 5);
    for c in [7, 127] {
        let r = s.call(
            &mut k,
            &kkm::Request {
                command: c,
                ..Default::default()
            },
        );
        assert_eq!(code(&r), 5);
    }
    // AUTH: answered, login not confirmed (no cashier accounts).
    let r = s.call(&mut k, &builder::auth("cashier", "secret"));
    ok(&r);
    assert_eq!(r.auth.unwrap().result, 1);
}

#[test]
fn code_11_open_shift_timeout_but_not_offline_and_close_allowed() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    ok(&s.call(&mut k, &sale(2).request()));
    s.now += 24 * 3600 + 1;
    assert_eq!(code(&s.call(&mut k, &sale(3).request())), 11);
    assert_eq!(
        code(&s.call(&mut k, &builder::money_placement(false, 100, local(NOW)))),
        11
    );
    // Offline replays are never refused with 11.
    let mut off = sale(4);
    off.offline_ticket_number = Some(1_699_999_000);
    ok(&s.call(&mut k, &off.request()));
    // Closing is allowed, then tickets flow again.
    ok(&s.call(&mut k, &builder::close_shift(local(s.now), false)));
    ok(&s.call(&mut k, &sale(5).request()));
    assert_eq!(s.facts().shift.as_ref().unwrap().number, 2);
}

#[test]
fn code_14_not_enough_cash_and_cash_balance() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    ok(&s.call(&mut k, &builder::money_placement(false, 10_000, local(NOW))));
    assert_eq!(s.facts().cash, 10_000);
    assert_eq!(
        code(&s.call(&mut k, &builder::money_placement(true, 10_001, local(NOW)))),
        14
    );
    assert_eq!(
        s.facts().cash,
        10_000,
        "a refused withdrawal changes nothing"
    );
    ok(&s.call(&mut k, &builder::money_placement(true, 4_000, local(NOW))));
    assert_eq!(s.facts().cash, 6_000);
    // A cash sale return above the drawer is refused too.
    let mut ret = TicketSpec {
        operation: kkm::OperationTypeEnum::OperationSellReturn as i32,
        time: local(NOW),
        items: vec![ItemSpec {
            name: "x".into(),
            section: "1".into(),
            price: 7_000,
            quantity: 1000,
            vat_percent: None,
        }],
        card: 0,
        mobile: 0,
        change: 0,
        offline_ticket_number: None,
    };
    assert_eq!(code(&s.call(&mut k, &ret.request())), 14);
    ret.items[0].price = 6_000;
    ok(&s.call(&mut k, &ret.request()));
    assert_eq!(s.facts().cash, 0);
}

#[test]
fn code_13_and_15_ticket_checks() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    // Payments below the total → 13.
    let mut t = sale(6).to_proto();
    t.payments.clear();
    let req = kkm::Request {
        command: 1,
        ticket: Some(t),
        ..Default::default()
    };
    let total_positive = to_tiyn(&req.ticket.as_ref().unwrap().amounts.total).unwrap() > 0;
    assert!(total_positive);
    assert_eq!(code(&s.call(&mut k, &req)), 13);
    // coins > 99 → 13.
    let mut t = sale(7).to_proto();
    t.amounts.total.coins = 100;
    let r = s.call(
        &mut k,
        &kkm::Request {
            command: 1,
            ticket: Some(t),
            ..Default::default()
        },
    );
    assert_eq!(code(&r), 13);
    // No items: a mandatory ticket part missing → 15 (the document's rule).
    let mut t = sale(8).to_proto();
    t.items.clear();
    let r = s.call(
        &mut k,
        &kkm::Request {
            command: 1,
            ticket: Some(t),
            ..Default::default()
        },
    );
    assert_eq!(code(&r), 15);
    assert_eq!(
        s.facts().next_ticket_number,
        1,
        "refused tickets take no number"
    );
}

#[test]
fn code_15_blocked_and_deregistered() {
    for status in [
        ofd_kz::RegisterStatus::Blocked,
        ofd_kz::RegisterStatus::Deregistered,
    ] {
        let mut s = Server::new();
        s.facts.as_mut().unwrap().status = status;
        let mut k = Kkm::new(ID, TOKEN);
        assert_eq!(code(&s.call(&mut k, &builder::system(None))), 15);
        s.facts.as_mut().unwrap().status = ofd_kz::RegisterStatus::Registered;
        ok(&s.call(&mut k, &builder::system(None)));
    }
}

#[test]
fn code_254_store_unavailable() {
    let mut s = Server::new();
    s.store_available = false;
    let mut k = Kkm::new(ID, TOKEN);
    let (d, sent) = s.exchange(&k.frame(&sale(9).request()));
    let a = d.answer().unwrap();
    assert_eq!(a.code.wire(), 254);
    assert!(a.state.is_none());
    let (h, r) = ofd_kz::codec::decode_response(&sent).unwrap();
    assert_eq!((h.token, r.command), (TOKEN, 1));
}

/// The code `decide` answers `frame` with on `s` (and the state moves as the daemon's would).
fn answered(s: &mut Server, frame: &[u8]) -> ResultCode {
    let (d, _) = s.exchange(frame);
    d.answer().expect("an answer, not a retry").code
}

#[test]
fn every_code_is_reachable() {
    // One input per code, each driven through `decide`: every code ofdd can send is produced by
    // some request, and a new code in `ResultCode::ALL` fails here until an input reaches it.
    let mut reached = Vec::new();
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    reached.push(answered(&mut s, &k.frame(&builder::info())));
    // Same REQNUM, another token → 8; same TOKEN and REQNUM, another command → 9.
    let mut other = k;
    other.token ^= 1;
    reached.push(answered(&mut s, &other.resend(&builder::info())));
    reached.push(answered(&mut s, &k.resend(&builder::system(None))));
    // An undecodable body → 3; an unknown command → 4; NOMENCLATURE → 5.
    k.reqnum += 1;
    let mut f = Header {
        version: 202,
        size: 20,
        id: ID,
        token: TOKEN,
        reqnum: k.reqnum,
    }
    .encode()
    .to_vec();
    f.extend_from_slice(&[0x08, 0xFF]);
    reached.push(answered(&mut s, &f));
    let unknown = kkm::Request {
        command: 42,
        ..Default::default()
    };
    reached.push(answered(&mut s, &k.frame(&unknown)));
    reached.push(answered(&mut s, &k.frame(&builder::nomenclature(0))));
    // Payments below the total → 13; a withdrawal above the drawer → 14.
    let mut t = sale(30).to_proto();
    t.payments.clear();
    let unpaid = kkm::Request {
        command: 1,
        ticket: Some(t),
        ..Default::default()
    };
    reached.push(answered(&mut s, &k.frame(&unpaid)));
    let withdrawal = builder::money_placement(true, 1, local(NOW));
    reached.push(answered(&mut s, &k.frame(&withdrawal)));
    // A shift open past 24 hours → 11.
    ok(&s.call(&mut k, &sale(31).request()));
    s.now += 24 * 3600 + 1;
    reached.push(answered(&mut s, &k.frame(&sale(32).request())));
    // The wrong token → 2.
    let mut stranger = Kkm::new(ID, TOKEN ^ 0xFF);
    reached.push(answered(&mut s, &stranger.frame(&builder::info())));
    // Blocked → 15; the store unavailable → 254; an unknown id → 1 (each on a fresh register).
    let mut s = Server::new();
    s.facts.as_mut().unwrap().status = ofd_kz::RegisterStatus::Blocked;
    let system = builder::system(None);
    reached.push(answered(&mut s, &Kkm::new(ID, TOKEN).frame(&system)));
    let mut s = Server::new();
    s.store_available = false;
    let ticket = sale(33).request();
    reached.push(answered(&mut s, &Kkm::new(ID, TOKEN).frame(&ticket)));
    let mut s = Server::new();
    s.facts = None;
    reached.push(answered(
        &mut s,
        &Kkm::new(ID, TOKEN).frame(&builder::info()),
    ));

    let mut wires: Vec<u32> = reached.iter().map(|c| c.wire()).collect();
    wires.sort_unstable();
    wires.dedup();
    let mut all: Vec<u32> = ResultCode::ALL.iter().map(|c| c.wire()).collect();
    all.sort_unstable();
    assert_eq!(
        wires, all,
        "codes reached by an input vs. every code ofdd can send"
    );
}

#[test]
fn token_rotation_policy() {
    for (policy, expect_rotations) in [
        (TokenRotation::Never, 0),
        (TokenRotation::Always, 6),
        (TokenRotation::EveryN(2), 3),
        (TokenRotation::EveryN(4), 1),
    ] {
        let mut s = Server::new();
        s.policy.rotation = policy;
        let mut k = Kkm::new(ID, TOKEN);
        let mut rotations = 0;
        // Never for SYSTEM, REPORT, AUTH, INFO, NOMENCLATURE.
        for req in [
            builder::system(None),
            builder::report(true, local(NOW)),
            builder::auth("a", "b"),
            builder::info(),
            builder::nomenclature(1),
        ] {
            let before = k.token;
            s.call(&mut k, &req);
            assert_eq!(k.token, before, "{policy:?} rotated on {}", req.command);
        }
        // May on TICKET, MONEY_PLACEMENT, CLOSE_SHIFT.
        for req in [
            sale(10).request(),
            builder::money_placement(false, 500, local(NOW)),
            sale(11).request(),
            sale(12).request(),
            builder::money_placement(true, 500, local(NOW)),
            builder::close_shift(local(NOW), false),
        ] {
            let before = k.token;
            ok(&s.call(&mut k, &req));
            if k.token != before {
                rotations += 1;
                assert_eq!(s.facts().token, k.token);
            }
        }
        assert_eq!(rotations, expect_rotations, "{policy:?}");
    }
}

#[test]
fn retry_gets_the_stored_answer_byte_identical_even_after_rotation() {
    let mut s = Server::new();
    s.policy.rotation = TokenRotation::Always;
    let mut k = Kkm::new(ID, TOKEN);
    let t = sale(13).request();
    let first = k.frame(&t);
    let (d, answer) = s.exchange(&first);
    let a = d.answer().unwrap();
    let new = a.new_token.expect("rotated");
    assert_eq!(s.facts().token, new);
    // The answer was lost: the register resends with the old token and the same REQNUM.
    let (d, again) = s.exchange(&first);
    assert_eq!(d, Decision::Retry);
    assert_eq!(again, answer, "byte-identical");
    assert_eq!(s.facts().next_ticket_number, 2, "not applied twice");
    // Having learned the new token it goes on; the old one no longer works for new requests.
    let mut old = k;
    k.accept(&ofd_kz::codec::decode_response(&answer).unwrap().0);
    assert_eq!(k.token, new);
    ok(&s.call(&mut k, &sale(14).request()));
    old.reqnum = k.reqnum.wrapping_add(5);
    assert_eq!(code(&s.call(&mut old, &sale(15).request())), 2);
    // The old token with the REQNUM just used by the new one is code 8.
    old.reqnum = k.reqnum.wrapping_sub(1);
    assert_eq!(code(&s.call(&mut old, &sale(15).request())), 8);
}

#[test]
fn offline_tickets_numbered_in_order_sent() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    let begin = local(NOW - 3600);
    ok(&s.call(&mut k, &builder::system(Some((begin, local(NOW))))));
    assert!(s.events.contains(&Event::OfflinePeriod {
        begin,
        end: local(NOW)
    }));
    let mut numbers = Vec::new();
    for (i, off) in [500u32, 17, 9_000].into_iter().enumerate() {
        let mut t = TicketSpec::sample(20 + i as u64, local(NOW - 3000 + 60 * i as u64));
        t.offline_ticket_number = Some(off);
        let r = s.call(&mut k, &t.request());
        ok(&r);
        numbers.push(r.ticket.unwrap().ticket_number);
    }
    assert_eq!(numbers, ["1", "2", "3"]);
    let offline: Vec<Option<u32>> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TicketAccepted {
                offline_ticket_number,
                ..
            } => Some(*offline_ticket_number),
            _ => None,
        })
        .collect();
    assert_eq!(offline, [Some(500), Some(17), Some(9_000)]);
    let x = s.facts().shift.as_ref().unwrap();
    assert_eq!(
        x.totals.operations[kkm::OperationTypeEnum::OperationSell as usize].offline,
        3
    );
}

#[test]
fn close_shift_z_report_and_reports() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    // REPORT Z before any shift: empty, shift 0, the request's date.
    let r = s.call(&mut k, &builder::report(false, local(NOW)));
    let z = r.report.unwrap().zx_report.unwrap();
    assert_eq!((z.shift_number, z.date_time), (0, local(NOW).to_wire()));

    ok(&s.call(
        &mut k,
        &builder::money_placement(false, 100_000, local(NOW)),
    ));
    let tickets: Vec<TicketSpec> = (30..35).map(sale).collect();
    for t in &tickets {
        ok(&s.call(&mut k, &t.request()));
    }
    let x = s
        .call(&mut k, &builder::report(true, local(NOW)))
        .report
        .unwrap()
        .zx_report
        .unwrap();
    let close = s.call(&mut k, &builder::close_shift(local(NOW + 60), true));
    ok(&close);
    let z = close.report.unwrap().zx_report.unwrap();
    assert_eq!(z.shift_number, 1);
    assert_eq!(z.close_shift_time, Some(local(NOW + 60).to_wire()));
    // X before the close and Z agree on the tickets.
    assert_eq!(x.ticket_operations, z.ticket_operations);
    let sell = &z.ticket_operations[kkm::OperationTypeEnum::OperationSell as usize];
    let sum: u64 = tickets.iter().map(TicketSpec::total).sum();
    assert_eq!(to_tiyn(&sell.tickets_sum), Ok(sum));
    assert_eq!(sell.tickets_count, 5);
    // withdraw_money took all the cash out before closing.
    assert_eq!(to_tiyn(&z.cash_sum), Ok(0));
    assert_eq!(s.facts().cash, 0);
    assert_eq!(z.money_placements[1].operations_count, 1);
    // REPORT Z and INFO now give that very Z.
    let again = s
        .call(&mut k, &builder::report(false, local(NOW + 120)))
        .report
        .unwrap()
        .zx_report
        .unwrap();
    assert_eq!(again, z);
    assert_eq!(
        s.call(&mut k, &builder::info())
            .report
            .unwrap()
            .zx_report
            .unwrap(),
        z
    );
    let stored = s.facts().last_z.clone().unwrap();
    assert_eq!(kkm::ZxReport::decode(stored.as_slice()).unwrap(), z);
    // The device's own Z report is compared.
    let closed = s.events.iter().find_map(|e| match e {
        Event::ShiftClosed {
            device_report_agrees,
            ..
        } => Some(*device_report_agrees),
        _ => None,
    });
    assert_eq!(closed, Some(None));
    // Closing an empty shift yields an empty Z with the next number; the device's report agrees.
    let mut req = builder::close_shift(local(NOW + 600), false);
    let mut theirs = z.clone();
    theirs.ticket_operations.clear();
    theirs.money_placements.clear();
    req.close_shift.as_mut().unwrap().z_report = Some(theirs);
    let r = s.call(&mut k, &req);
    assert_eq!(r.report.unwrap().zx_report.unwrap().shift_number, 2);
    assert!(s.events.iter().any(|e| matches!(
        e,
        Event::ShiftClosed {
            shift_number: 2,
            device_report_agrees: Some(true),
            ..
        }
    )));
}

#[test]
fn answers_echo_id_version_reqnum() {
    let mut s = Server::new();
    let mut k = Kkm::new(ID, TOKEN);
    k.version = 124;
    k.reqnum = u16::MAX; // wraps to 0 on the next request
    let f = k.frame(&builder::info());
    let (_, sent) = s.exchange(&f);
    let (h, _) = ofd_kz::codec::decode_response(&sent).unwrap();
    assert_eq!((h.version, h.id, h.reqnum, h.token), (124, ID, 0, TOKEN));
    assert_eq!(h.size as usize, sent.len());
}
