//! The Kazakh half of the public receipt check: a KKM ticket's QR code leads to
//! `/check?i=<ticket number>&f=<RNM>&s=<sum>&t=<yyyyMMddTHHmmss>` (the text `ofd-kz` builds
//! from the daemon's `kz.qr_base_url`, by default this page). The ticket is found by one read
//! of the store's (RNM, ticket number) index and shown only when every value matches it — the
//! time to the second, in the register's local time as the ticket carries it. Anything else is
//! one "not found" whose body does not depend on what was asked (the form is not refilled), so
//! it tells nothing about which value was wrong. The per-address limit is the Russian check's.

use maud::{Markup, html};

use super::check::CheckQuery;
use crate::error::PageError;
use crate::format;
use crate::i18n::{Lang, M};
use crate::layout::svg;
use crate::receipt::qr_svg;
use crate::{KzOperation, KzPayment, KzTicket, Portal};

/// Where the Kazakh form is (the language switch comes back here).
pub const PATH: &str = "/check?kz=1";

/// The empty form: never refilled, so a "not found" is the same whatever was typed.
pub fn form(l: Lang) -> Markup {
    let f = |label: M, name: &str, hint: &str| {
        let id = format!("k-{name}");
        html! {
            div.field {
                label for=(id) { (l.t(label)) }
                input id=(id) name=(name) placeholder=(hint) required;
            }
        }
    };
    html! {
        p { (l.t(M::KzCheckHelp)) }
        form method="get" action="/check" {
            (f(M::KzFiscalSign, "i", "1234567890"))
            (f(M::KzRnm, "f", "123456789012"))
            (f(M::CheckSum, "s", "1500.00"))
            (f(M::KzCheckTime, "t", "20231115T031320"))
            button type="submit" { (l.t(M::CheckReceipt)) }
        }
    }
}

/// The ticket, when every value matches it.
pub fn find(p: &Portal, q: &CheckQuery) -> Result<Option<KzTicket>, PageError> {
    let rnm = q.f.trim();
    let time = q.t.trim();
    let (Ok(number), Some(sum)) = (q.i.trim().parse::<u64>(), format::parse_sum(&q.s)) else {
        return Ok(None);
    };
    if rnm.is_empty() || time.len() != 15 {
        return Ok(None);
    }
    let Some(t) = p
        .services
        .kz_ticket(rnm, number)
        .map_err(PageError::Internal)?
    else {
        return Ok(None);
    };
    let matches = t.registration_number == rnm
        && t.ticket_number == number
        && i64::try_from(t.total).ok() == Some(sum)
        && t.time == time;
    Ok(matches.then_some(t))
}

pub fn operation_text(l: Lang, op: KzOperation) -> &'static str {
    match op {
        KzOperation::Buy => l.t(M::KzBuy),
        KzOperation::BuyReturn => l.t(M::KzBuyReturn),
        KzOperation::Sell => l.t(M::KzSell),
        KzOperation::SellReturn => l.t(M::KzSellReturn),
    }
}

fn payment_text(l: Lang, p: KzPayment) -> &'static str {
    match p {
        KzPayment::Cash => l.t(M::PayCash),
        KzPayment::Card => l.t(M::PayCard),
        KzPayment::Credit => l.t(M::PayCredit),
        KzPayment::Tare => l.t(M::PayTare),
        KzPayment::Mobile => l.t(M::PayMobile),
    }
}

/// Thousandths as a quantity: `2.5`, `1`.
fn quantity(milli: u64) -> String {
    let (whole, frac) = (milli / 1000, milli % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

/// Thousandths of a percent as a rate: `12%`.
fn percent(milli: u32) -> String {
    format!("{}%", quantity(u64::from(milli)))
}

/// A ticket as the buyer's receipt shows it.
pub fn ticket_markup(l: Lang, t: &KzTicket) -> Markup {
    html! {
        div.receipt {
            p { strong { (t.org_name) } }
            p { (l.t(M::IinBin)) " " (t.org_inn) }
            @if !t.pos_title.is_empty() { p { (t.pos_title) } }
            p { (t.pos_address) }
            p { strong #kz-operation { (operation_text(l, t.operation)) } " " span #kz-time { (format::compact_time(&t.time)) } }
            table {
                thead { tr { th scope="col" { (l.t(M::Item)) } th.num scope="col" { (l.t(M::Price)) } th.num scope="col" { (l.t(M::Qty)) } th.num scope="col" { (l.t(M::Sum)) } } }
                tbody {
                    @for it in &t.items {
                        tr {
                            td { (it.name) @if it.storno { " (" (l.t(M::Storno)) ")" } }
                            td.num { (format::money_u(it.price)) }
                            td.num { (quantity(it.quantity_milli)) }
                            td.num { @if it.storno { "-" } (format::money_u(it.sum)) }
                        }
                    }
                }
            }
            @if t.discount > 0 { p { (l.t(M::Discount)) ": " (format::money_u(t.discount)) } }
            @if t.markup > 0 { p { (l.t(M::Markup)) ": " (format::money_u(t.markup)) } }
            p.total { (l.t(M::Total)) ": " span #kz-total { (format::money_u(t.total)) } }
            @for (p, sum) in &t.payments { p { (payment_text(l, *p)) ": " (format::money_u(*sum)) } }
            @if t.change > 0 { p { (l.t(M::Change)) ": " (format::money_u(t.change)) } }
            @for (rate, sum) in &t.taxes { p { (l.t(M::Vat)) " " (percent(*rate)) ": " (format::money_u(*sum)) } }
            p { (l.t(M::Cashier)) ": " (t.cashier) }
            @if let Some(s) = t.shift { p { (l.t(M::Shift)) " " (s) } }
            @if t.offline { p { (l.t(M::OfflineTicket)) } }
            p { (l.t(M::KzRnm)) " " span #kz-rnm { (t.registration_number) } }
            p { (l.t(M::KzSerial)) " " (t.serial) }
            p { (l.t(M::KzFiscalSign)) " " span #kz-ticket { (t.ticket_number) } }
            @if !t.qr.is_empty() {
                @if let Some(svg_text) = qr_svg(&t.qr) {
                    div.qr role="img" aria-label=(l.t(M::QrCode)) { (svg(svg_text)) }
                }
                p { small #qr-string { (t.qr) } }
            }
        }
    }
}
