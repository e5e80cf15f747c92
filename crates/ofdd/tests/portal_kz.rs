//! The portal's Kazakh pages against a real daemon, a real KKM over TCP and real HTTP: a KKM of
//! taxpayer A sells, returns and buys; the QR text each answer carries, opened as a URL on the
//! portal, shows that ticket, and one wrong digit in any of its values gives the one "not
//! found" page, byte for byte; the register's shift reports add up exactly the tickets sent and
//! set the KKM's own Z report against them, page by page; taxpayer B gets 404s; and the check's
//! per-address limit is shared by Russian and Kazakh queries.

mod common;

use common::kz::KzLink;
use common::portal::*;
use common::*;
use ofd_kz::builder::{self, Kkm, TicketSpec};
use ofd_kz::kkm;
use ofd_kz::money::from_tiyn;
use ofd_kz::time::LocalDateTime;
use serde_json::{Value, json};

const A: &str = "772998649896";
const B: &str = "779857229651";
const RNM: &str = "010100012345";

/// Tiyn as the portal shows money: `1 234.56` with no-break spaces.
fn money(tiyn: u64) -> String {
    let whole = (tiyn / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", tiyn % 100)
}

fn local_now() -> LocalDateTime {
    LocalDateTime::from_unix(u64::from(now()), 5 * 3600)
}

/// A ticket accepted; its number and QR text.
async fn sell(link: &mut KzLink, kkm: &mut Kkm, spec: &TicketSpec) -> (u64, String) {
    let (_, resp, _) = link.call(kkm, &spec.request()).await;
    assert_eq!(resp.result.result_code, 0, "{:?}", resp.result);
    let t = resp.ticket.expect("a ticket answer");
    (
        t.ticket_number.parse().unwrap(),
        String::from_utf8(t.qr_code.expect("a QR text")).unwrap(),
    )
}

/// A shift closed with the KKM's own Z report stating `sums` (count, tiyn) per operation.
async fn close(link: &mut KzLink, kkm: &mut Kkm, sums: [(u32, u64); 4]) {
    let mut req = builder::close_shift(local_now(), false);
    let z = kkm::ZxReport {
        ticket_operations: (0..4)
            .map(|op| kkm::zx_report::TicketOperation {
                operation: op as i32,
                tickets_count: sums[op].0,
                tickets_sum: from_tiyn(sums[op].1),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    req.close_shift.as_mut().unwrap().z_report = Some(z);
    let (_, resp, _) = link.call(kkm, &req).await;
    assert_eq!(resp.result.result_code, 0, "{:?}", resp.result);
}

/// A sample ticket of `operation`, paid by card (no cash leaves the drawer).
fn ticket(seed: u64, operation: kkm::OperationTypeEnum) -> TicketSpec {
    let mut s = TicketSpec::sample(seed, local_now());
    s.operation = operation as i32;
    if operation != kkm::OperationTypeEnum::OperationSell {
        (s.card, s.mobile, s.change) = (s.total(), 0, 0);
    }
    s
}

/// The path and query of a QR text that leads to the portal's check.
fn check_path(qr: &str) -> &str {
    &qr[qr.find("/check?").expect("the QR text leads to /check")..]
}

/// `qr` with the last digit of parameter `name` changed.
fn one_digit_off(qr: &str, name: &str) -> String {
    let path = check_path(qr);
    let (head, query) = path.split_once('?').unwrap();
    let params: Vec<String> = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            if k != name {
                return p.to_string();
            }
            let mut v = v.to_string();
            let last = v.pop().unwrap();
            let other = if last == '9' {
                '0'
            } else {
                (last as u8 + 1) as char
            };
            format!("{k}={v}{other}")
        })
        .collect();
    format!("{head}?{}", params.join("&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kkm_ticket_is_found_by_its_qr_code_and_its_shifts_add_up() {
    let t = TestDaemon::start().await;
    let portal = format!("http://{}", t.d().portal_addr);
    let mut a = taxpayer(&t, &portal, A, "a@example.com", "admin").await;
    let mut b = taxpayer(&t, &portal, B, "b@example.com", "admin").await;
    let r = t
        .admin()
        .post(
            "/api/v1/kz/kkm",
            json!({
                "registration_number": RNM, "serial": "KA-1", "iin_bin": A,
                "name": "ТОО «Альфа»", "pos_address": "Алматы, пр. Абая, 1",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v: Value = r.json();
    let id = v["system_id"].as_u64().unwrap() as u32;
    let mut kkm = Kkm::new(id, v["token"].as_u64().unwrap() as u32);
    let mut link = KzLink::connect(&t).await;

    // Shift 1: three sales, a sale return, a purchase, then the close with the KKM's own (true)
    // Z report.
    use kkm::OperationTypeEnum as Op;
    let mut sums = [(0u32, 0u64); 4];
    let mut sent = Vec::new();
    for (seed, op) in [
        (1, Op::OperationSell),
        (2, Op::OperationSell),
        (3, Op::OperationSellReturn),
        (4, Op::OperationSell),
        (5, Op::OperationBuy),
    ] {
        let spec = ticket(seed, op);
        let (number, qr) = sell(&mut link, &mut kkm, &spec).await;
        sums[op as usize].0 += 1;
        sums[op as usize].1 += spec.total();
        sent.push((number, qr, spec));
    }
    close(&mut link, &mut kkm, sums).await;

    // The QR text leads to the portal's public check (accounts.public_url + /check) and carries
    // exactly its parameters.
    let mut buyer = Browser::new(&portal);
    for (number, qr, spec) in &sent {
        assert!(
            qr.starts_with(&format!(
                "http://127.0.0.1:8080/check?i={number}&f={RNM}&s="
            )),
            "{qr}"
        );
        let r = buyer.get(check_path(qr)).await;
        assert_eq!(r.status, 200, "{qr}: {}", r.body);
        assert_eq!(
            by_id(&r.body, "kz-ticket").as_deref(),
            Some(&*number.to_string())
        );
        assert_eq!(by_id(&r.body, "kz-rnm").as_deref(), Some(RNM));
        assert_eq!(by_id(&r.body, "kz-total"), Some(money(spec.total())));
        assert!(r.body.contains("ТОО «Альфа»"), "the register's details");
        assert!(r.body.contains(&spec.items[0].name), "the items");
        assert_eq!(by_id(&r.body, "qr-string").as_deref(), Some(qr.as_str()));
    }
    // One wrong digit in any value: the same "not found", which names nothing asked.
    let (_, qr, _) = &sent[0];
    let mut misses = Vec::new();
    for name in ["i", "f", "s", "t"] {
        let path = one_digit_off(qr, name);
        let r = buyer.get(&path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.body.contains("id=\"not-found\""), "{}", r.body);
        assert!(!r.body.contains(RNM), "names nothing asked");
        misses.push(r.body);
    }
    let r = buyer
        .get(&format!(
            "{}&s=1",
            check_path(qr).split("&s=").next().unwrap()
        ))
        .await;
    assert_eq!(r.status, 404);
    misses.push(r.body);
    assert!(misses.windows(2).all(|w| w[0] == w[1]), "identical misses");
    // The empty Kazakh form is offered beside the Russian one.
    let r = buyer.get("/check?kz=1").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"f\""));

    // Shift 2: a sale, closed with a Z report that is off by one ticket; then shifts 3–11 of a
    // sale each (11 shifts: more than a page).
    let spec = ticket(6, Op::OperationSell);
    sell(&mut link, &mut kkm, &spec).await;
    let second = spec.total();
    close(&mut link, &mut kkm, [(0, 0), (0, 0), (2, second), (0, 0)]).await;
    let mut later = Vec::new();
    for n in 3..=11u64 {
        let spec = ticket(100 + n, Op::OperationSell);
        sell(&mut link, &mut kkm, &spec).await;
        later.push(spec.total());
        close(
            &mut link,
            &mut kkm,
            [(0, 0), (0, 0), (1, spec.total()), (0, 0)],
        )
        .await;
    }
    // Shift 12 stays open.
    sell(&mut link, &mut kkm, &ticket(200, Op::OperationSell)).await;

    let r = a.get(&format!("/kz/{id}/reports")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cell = |body: &str, shift: u32, col: &str| {
        by_id(body, &format!("shift-{shift}-{col}"))
            .unwrap_or_else(|| panic!("shift {shift} {col}"))
    };
    assert_eq!(cell(&r.body, 1, "tickets"), "5");
    assert_eq!(cell(&r.body, 1, "sell"), money(sums[2].1));
    assert_eq!(cell(&r.body, 1, "sell-return"), money(sums[3].1));
    assert_eq!(cell(&r.body, 1, "buy"), money(sums[0].1));
    assert_eq!(cell(&r.body, 1, "buy-return"), money(0));
    assert!(cell(&r.body, 1, "z").contains("совпадает"), "{}", r.body);
    assert_eq!(cell(&r.body, 2, "tickets"), "1");
    assert_eq!(cell(&r.body, 2, "sell"), money(second));
    assert!(
        r.body.contains("id=\"shift-2-z\"><strong>расходится"),
        "{}",
        r.body
    );
    assert_eq!(cell(&r.body, 10, "sell"), money(later[7]));
    assert!(
        by_id(&r.body, "shift-11-tickets").is_none(),
        "ten shifts a page"
    );
    let next = r.body.split("id=\"next-shifts\" href=\"").nth(1).unwrap();
    let next = next.split('"').next().unwrap().replace("&amp;", "&");
    let r = a.get(&next).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(by_id(&r.body, "shift-10-tickets").is_none());
    assert_eq!(cell(&r.body, 11, "sell"), money(later[8]));
    assert!(cell(&r.body, 11, "z").contains("совпадает"));
    assert_eq!(cell(&r.body, 12, "tickets"), "1");
    assert!(r.body.contains("смена открыта"), "shift 12 is open");
    assert!(!r.body.contains("id=\"next-shifts\""));
    // The card links to the reports.
    let r = a.get(&format!("/kz/{id}")).await;
    assert!(r.body.contains(&format!("href=\"/kz/{id}/reports\"")));

    // Another tenant reaches none of it.
    for path in [
        format!("/kz/{id}/reports"),
        format!("/kz/{id}/reports?after=3"),
        format!("/kz/{id}"),
    ] {
        assert_eq!(b.get(&path).await.status, 404, "{path}");
    }
    // Not signed in: to the sign-in page.
    assert_eq!(
        Browser::new(&portal)
            .get(&format!("/kz/{id}/reports"))
            .await
            .status,
        303
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kazakh_check_shares_the_per_address_limit() {
    let t = TestDaemon::start().await;
    let portal = format!("http://{}", t.d().portal_addr);
    let mut buyer = Browser::new(&portal);
    let kz = format!("/check?i=1&f={RNM}&s=1500.00&t=20231115T031320");
    let ru = "/check?t=20171007T1024&s=129.90&fn=8710000100240299&i=40143&fp=1324042032&n=1";
    for n in 0..30 {
        let r = buyer.get(if n % 3 == 0 { ru } else { &kz }).await;
        assert_eq!(r.status, 404, "check {n}");
    }
    for path in [kz.as_str(), ru] {
        let r = buyer.get(path).await;
        assert_eq!(r.status, 429, "{path}");
        assert!(
            r.header("retry-after")
                .parse::<u64>()
                .is_ok_and(|s| (1..=60).contains(&s))
        );
    }
    // The empty forms are never limited.
    assert_eq!(buyer.get("/check?kz=1").await.status, 200);
    t.stop().await;
}
