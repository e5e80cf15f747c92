//! Logged Kazakh exchanges read for people: a ticket for the portal's public check, and what an
//! exchange adds to a shift report. Decoded from the bytes the log keeps, with `ofd-kz`'s own
//! types and its one judge of a ticket (`ticket::digest`), so the portal shows what the register
//! sent and what ofdd accepted — and the portal itself needs no protocol.

use ofd_kz::codec::{decode_request, decode_response};
use ofd_kz::money::to_tiyn;
use ofd_kz::time::LocalDateTime;
use ofd_kz::{Command, RegInfo, kkm};
use ofd_portal::{KzExchange, KzItem, KzOperation, KzPayment, KzShiftSums, KzTicket};
use ofd_store::{KzLogEntry, Store};

const PAYMENTS: [KzPayment; 5] = [
    KzPayment::Cash,
    KzPayment::Card,
    KzPayment::Credit,
    KzPayment::Tare,
    KzPayment::Mobile,
];

fn is(e: &KzLogEntry, c: Command) -> bool {
    e.code == 0 && i32::from(e.command) == c.wire()
}

/// The accepted ticket `number` of the register registered as `rnm`: one read of the ticket
/// index, one of the log entry, one of the register (for its details).
pub fn ticket(store: &Store, rnm: &str, number: u64) -> Result<Option<KzTicket>, String> {
    let err = |e: ofd_store::StoreError| e.to_string();
    let Some((system_id, seq)) = store.kz_find_ticket(rnm, number).map_err(err)? else {
        return Ok(None);
    };
    let Some(entry) = store.kz_log_entry(system_id, seq).map_err(err)? else {
        return Ok(None);
    };
    let Some(record) = store.kz_get(system_id).map_err(err)? else {
        return Ok(None);
    };
    let facts = crate::kz::decode_state(system_id, &record.state).map_err(|e| e.to_string())?;
    // The index names the exchange; the log entry must agree that it is that ticket.
    Ok(ticket_of(&entry, &facts.reg).filter(|t| t.ticket_number == number))
}

/// A logged exchange as an accepted ticket, when it is one.
pub fn ticket_of(e: &KzLogEntry, reg: &RegInfo) -> Option<KzTicket> {
    if !is(e, Command::Ticket) {
        return None;
    }
    let (_, req) = decode_request(&e.request).ok()?;
    let t = req.ticket.as_ref()?;
    let d = ofd_kz::ticket::digest(t).ok()?;
    let qr = decode_response(&e.answer)
        .ok()
        .and_then(|(_, r)| r.ticket)
        .and_then(|t| t.qr_code)
        .map(|q| String::from_utf8_lossy(&q).into_owned())
        .unwrap_or_default();
    let money = |m: &kkm::Money| to_tiyn(m).unwrap_or(0);
    let items = t
        .items
        .iter()
        .filter_map(|it| {
            if let Some(c) = &it.commodity {
                Some(KzItem {
                    name: c.name.clone().unwrap_or_default(),
                    quantity_milli: c.quantity,
                    price: money(&c.price),
                    sum: money(&c.sum),
                    storno: false,
                })
            } else {
                it.storno_commodity.as_ref().map(|c| KzItem {
                    name: c.name.clone().unwrap_or_default(),
                    quantity_milli: c.quantity,
                    price: money(&c.price),
                    sum: money(&c.sum),
                    storno: true,
                })
            }
        })
        .collect();
    Some(KzTicket {
        system_id: e.system_id,
        registration_number: reg.registration_number.clone(),
        serial: reg.serial_number.clone(),
        org_inn: reg.org_inn.clone(),
        org_name: reg.org_title.clone(),
        pos_title: reg.pos_title.clone(),
        pos_address: reg.pos_address.clone(),
        ticket_number: e.ticket_number?,
        shift: e.shift,
        operation: KzOperation::ALL.get(d.operation).copied()?,
        time: d.time.compact(),
        cashier: t
            .operator
            .name
            .clone()
            .unwrap_or_else(|| t.operator.code.to_string()),
        items,
        discount: d.discount,
        markup: d.markup,
        total: d.total,
        payments: PAYMENTS
            .iter()
            .zip(d.payments)
            .filter_map(|(p, s)| Some((*p, s?)))
            .collect(),
        change: d.change,
        taxes: d.taxes.iter().map(|t| (t.percent, t.sum)).collect(),
        offline: d.offline,
        qr,
    })
}

/// What a logged exchange adds to its shift's report.
pub fn exchange(e: &KzLogEntry) -> KzExchange {
    if is(e, Command::Ticket) {
        let digest = decode_request(&e.request)
            .ok()
            .and_then(|(_, r)| r.ticket)
            .and_then(|t| ofd_kz::ticket::digest(&t).ok());
        if let Some(d) = digest
            && let Some(operation) = KzOperation::ALL.get(d.operation).copied()
        {
            return KzExchange::Ticket {
                operation,
                total: d.total,
                time: d.time.compact(),
            };
        }
    } else if is(e, Command::CloseShift)
        && let Ok((_, req)) = decode_request(&e.request)
        && let Some(c) = req.close_shift
    {
        return KzExchange::CloseShift {
            time: LocalDateTime::from_wire(&c.close_time).map(|t| t.compact()),
            register_sums: c.z_report.as_ref().map(sums_of),
        };
    }
    KzExchange::Other
}

/// The ticket counts and sums a Z report states, by operation.
fn sums_of(z: &kkm::ZxReport) -> KzShiftSums {
    let mut out: KzShiftSums = [(0, 0); 4];
    for t in &z.ticket_operations {
        if let Some(slot) = usize::try_from(t.operation)
            .ok()
            .and_then(|i| out.get_mut(i))
        {
            *slot = (t.tickets_count, to_tiyn(&t.tickets_sum).unwrap_or(0));
        }
    }
    out
}
