//! A ticket checked and reduced to the integers a report needs.
//!
//! [`digest`] is the only place a `TicketRequest` is judged. It answers with the code the
//! protocol gives each fault: a mandatory part missing → 15 BLOCKED (the document's rule for
//! tickets), a value outside its enum → 3 PROTOCOL_ERROR (a wrong field value is a malformed
//! message), figures that are well-formed but inconsistent → 13 INCORRECT_REQUEST_DATA.
//! What it does **not** judge (item sum vs price × quantity, the total vs the items) is listed in
//! `proto-spec/kz/README.md`: the server reports the register's own figures, exactly.

use crate::codes::ResultCode;
use crate::kkm;
use crate::kkm::ticket_request::item::ItemTypeEnum;
use crate::money::{self, MoneyError};
use crate::time::LocalDateTime;

/// Number of operation types (BUY, BUY_RETURN, SELL, SELL_RETURN), the index of per-operation
/// arrays.
pub const OPERATIONS: usize = 4;
/// Number of payment types (CASH, CARD, CREDIT, TARE, MOBILE).
pub const PAYMENT_TYPES: usize = 5;
/// Longest section code kept (a register sending megabyte section codes must not bloat state).
pub const MAX_SECTION_CODE: usize = 64;

/// A rejected request: the result code and a fixed reason for `result_text` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    pub code: ResultCode,
    pub reason: &'static str,
}

impl Reject {
    pub(crate) fn new(code: ResultCode, reason: &'static str) -> Reject {
        Reject { code, reason }
    }

    pub(crate) fn data(reason: &'static str) -> Reject {
        Reject::new(ResultCode::IncorrectRequestData, reason)
    }

    pub(crate) fn money(e: MoneyError) -> Reject {
        Reject::data(match e {
            MoneyError::Coins(_) => "coins must be 0..=99",
            MoneyError::Overflow => "amount overflows",
            MoneyError::Negative => "amount would be negative",
        })
    }
}

/// Operation types as array indices.
pub fn operation_index(op: i32) -> Option<usize> {
    kkm::OperationTypeEnum::try_from(op)
        .ok()
        .and_then(|o| usize::try_from(o as i32).ok())
}

/// Whether cash comes into the drawer (SELL, BUY_RETURN) or leaves it (BUY, SELL_RETURN).
pub fn cash_comes_in(operation: usize) -> bool {
    operation == kkm::OperationTypeEnum::OperationSell as usize
        || operation == kkm::OperationTypeEnum::OperationBuyReturn as usize
}

/// Per-section figures of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionFigure {
    pub code: String,
    /// Commodity lines.
    pub count: u32,
    /// Commodity sums less storno sums, tiyn.
    pub sum: u64,
}

/// Per-rate tax figures of one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxFigure {
    pub tax_type: u32,
    pub percent: u32,
    /// Taxed turnover, tiyn.
    pub turnover: u64,
    /// Tax amount, tiyn.
    pub sum: u64,
    /// Turnover less the tax where the tax is included in it, tiyn.
    pub turnover_without_tax: u64,
}

/// A ticket reduced to integers (all money in tiyn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketDigest {
    /// Operation index (see [`OPERATIONS`]).
    pub operation: usize,
    pub time: LocalDateTime,
    /// `amounts.total`.
    pub total: u64,
    /// Commodity sums less storno commodity sums.
    pub items: u64,
    /// Commodity lines.
    pub item_count: u32,
    pub sections: Vec<SectionFigure>,
    /// Discounts (item and ticket level) less their storno, and how many discounts.
    pub discount: u64,
    pub discount_count: u32,
    /// Markups (item and ticket level) less their storno, and how many markups.
    pub markup: u64,
    pub markup_count: u32,
    /// Payment sum per payment type (`None`: no payment of that type).
    pub payments: [Option<u64>; PAYMENT_TYPES],
    /// Change given back.
    pub change: u64,
    /// Net cash moved by this ticket (cash paid less change), in the direction of
    /// [`cash_comes_in`].
    pub cash: u64,
    pub taxes: Vec<TaxFigure>,
    /// Sent from the register's offline queue (`offline_ticket_number` set).
    pub offline: bool,
}

fn tiyn(m: &kkm::Money) -> Result<u64, Reject> {
    money::to_tiyn(m).map_err(Reject::money)
}

fn add(a: u64, b: u64) -> Result<u64, Reject> {
    money::add(a, b).map_err(Reject::money)
}

/// Accumulates taxes per (type, percent) with signs (storno lines subtract).
#[derive(Default)]
struct TaxAcc {
    rates: Vec<(u32, u32, i128, i128, i128)>,
}

impl TaxAcc {
    fn add(
        &mut self,
        taxes: &[kkm::ticket_request::Tax],
        turnover: u64,
        sign: i128,
    ) -> Result<(), Reject> {
        for (i, t) in taxes.iter().enumerate() {
            if taxes
                .iter()
                .take(i)
                .any(|o| o.tax_type == t.tax_type && o.percent == t.percent)
            {
                return Err(Reject::data("a tax rate appears twice"));
            }
            let sum = tiyn(&t.sum)?;
            let without = if t.is_in_total_sum {
                money::sub(turnover, sum)
                    .map_err(|_| Reject::data("included tax exceeds its sum"))?
            } else {
                turnover
            };
            let slot = match self
                .rates
                .iter_mut()
                .find(|r| r.0 == t.tax_type && r.1 == t.percent)
            {
                Some(slot) => slot,
                None => {
                    if self.rates.len() >= 64 {
                        return Err(Reject::data("too many tax rates"));
                    }
                    self.rates.push((t.tax_type, t.percent, 0, 0, 0));
                    match self.rates.last_mut() {
                        Some(s) => s,
                        None => return Err(Reject::data("too many tax rates")),
                    }
                }
            };
            slot.2 += sign * i128::from(turnover);
            slot.3 += sign * i128::from(sum);
            slot.4 += sign * i128::from(without);
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<TaxFigure>, Reject> {
        let pos =
            |v: i128| u64::try_from(v).map_err(|_| Reject::data("storno tax exceeds the tax"));
        let mut out = Vec::with_capacity(self.rates.len());
        for (tax_type, percent, turnover, sum, without) in self.rates {
            out.push(TaxFigure {
                tax_type,
                percent,
                turnover: pos(turnover)?,
                sum: pos(sum)?,
                turnover_without_tax: pos(without)?,
            });
        }
        out.sort_by_key(|t| (t.tax_type, t.percent));
        Ok(out)
    }
}

/// Check a ticket and reduce it to integers.
pub fn digest(t: &kkm::TicketRequest) -> Result<TicketDigest, Reject> {
    let operation = operation_index(t.operation).ok_or(Reject::new(
        ResultCode::ProtocolError,
        "unknown operation type",
    ))?;
    let time = LocalDateTime::from_wire(&t.date_time).ok_or(Reject::data(
        "ticket date_time is not a valid date and time",
    ))?;
    if t.items.is_empty() {
        return Err(Reject::new(ResultCode::Blocked, "ticket has no items"));
    }
    let total = tiyn(&t.amounts.total)?;

    let mut goods: i128 = 0;
    let mut item_count: u32 = 0;
    let mut discount: i128 = 0;
    let mut discount_count: u32 = 0;
    let mut markup: i128 = 0;
    let mut markup_count: u32 = 0;
    let mut sections: Vec<(String, u32, i128)> = Vec::new();
    let mut taxes = TaxAcc::default();
    let mut item_taxes = false;

    let mut section = |code: &str, count: u32, sum: i128| -> Result<(), Reject> {
        if code.len() > MAX_SECTION_CODE {
            return Err(Reject::data("section code too long"));
        }
        match sections.iter_mut().find(|s| s.0 == code) {
            Some(s) => {
                s.1 = s.1.saturating_add(count);
                s.2 += sum;
            }
            None => sections.push((code.to_owned(), count, sum)),
        }
        Ok(())
    };

    for item in &t.items {
        let kind = ItemTypeEnum::try_from(item.r#type)
            .map_err(|_| Reject::new(ResultCode::ProtocolError, "unknown item type"))?;
        let missing = || Reject::new(ResultCode::Blocked, "item lacks the body its type requires");
        match kind {
            ItemTypeEnum::ItemTypeCommodity => {
                let c = item.commodity.as_ref().ok_or_else(missing)?;
                let sum = tiyn(&c.sum)?;
                tiyn(&c.price)?;
                goods += i128::from(sum);
                item_count = item_count.saturating_add(1);
                section(&c.section_code, 1, i128::from(sum))?;
                item_taxes |= !c.taxes.is_empty();
                taxes.add(&c.taxes, sum, 1)?;
            }
            ItemTypeEnum::ItemTypeStornoCommodity => {
                let c = item.storno_commodity.as_ref().ok_or_else(missing)?;
                let sum = tiyn(&c.sum)?;
                tiyn(&c.price)?;
                goods -= i128::from(sum);
                section(&c.section_code, 0, -i128::from(sum))?;
                item_taxes |= !c.taxes.is_empty();
                taxes.add(&c.taxes, sum, -1)?;
            }
            ItemTypeEnum::ItemTypeMarkup => {
                markup += i128::from(tiyn(&item.markup.as_ref().ok_or_else(missing)?.sum)?);
                markup_count = markup_count.saturating_add(1);
            }
            ItemTypeEnum::ItemTypeStornoMarkup => {
                markup -= i128::from(tiyn(&item.storno_markup.as_ref().ok_or_else(missing)?.sum)?);
            }
            ItemTypeEnum::ItemTypeDiscount => {
                discount += i128::from(tiyn(&item.discount.as_ref().ok_or_else(missing)?.sum)?);
                discount_count = discount_count.saturating_add(1);
            }
            ItemTypeEnum::ItemTypeStornoDiscount => {
                discount -= i128::from(tiyn(
                    &item.storno_discount.as_ref().ok_or_else(missing)?.sum,
                )?);
            }
        }
    }
    match (&t.amounts.markup, &t.amounts.discount) {
        (Some(_), Some(_)) => return Err(Reject::data("ticket has both a markup and a discount")),
        (Some(m), None) => {
            markup += i128::from(tiyn(&m.sum)?);
            markup_count = markup_count.saturating_add(1);
        }
        (None, Some(d)) => {
            discount += i128::from(tiyn(&d.sum)?);
            discount_count = discount_count.saturating_add(1);
        }
        (None, None) => {}
    }
    if !t.taxes.is_empty() {
        if item_taxes {
            return Err(Reject::data("taxes both per item and per ticket"));
        }
        taxes.add(&t.taxes, total, 1)?;
    }
    let nonneg = |v: i128, why: &'static str| u64::try_from(v).map_err(|_| Reject::data(why));
    let items = nonneg(goods, "storno exceeds the goods")?;
    let discount = nonneg(discount, "storno exceeds the discounts")?;
    let markup = nonneg(markup, "storno exceeds the markups")?;
    let mut section_figures = Vec::with_capacity(sections.len());
    for (code, count, sum) in sections {
        section_figures.push(SectionFigure {
            code,
            count,
            sum: nonneg(sum, "storno exceeds the section's goods")?,
        });
    }
    section_figures.sort_by(|a, b| a.code.cmp(&b.code));

    let mut payments = [None; PAYMENT_TYPES];
    let mut paid = 0u64;
    for p in &t.payments {
        let slot = usize::try_from(p.r#type)
            .ok()
            .filter(|_| kkm::PaymentTypeEnum::try_from(p.r#type).is_ok())
            .and_then(|i| payments.get_mut(i))
            .ok_or(Reject::new(
                ResultCode::ProtocolError,
                "unknown payment type",
            ))?;
        if slot.is_some() {
            return Err(Reject::data("two payments of one type"));
        }
        let sum = tiyn(&p.sum)?;
        *slot = Some(sum);
        paid = add(paid, sum)?;
    }
    // Registers fill payments one of two ways: the cash payment is what was applied (payments
    // add up to the total, change reported apart) or what was handed over (payments exceed the
    // total by the change). Both are accepted; the excess must be the change, paid from cash.
    let excess =
        money::sub(paid, total).map_err(|_| Reject::data("payments do not cover the total"))?;
    let reported_change = t.amounts.change.as_ref().map(tiyn).transpose()?;
    if excess > 0 && reported_change.is_some_and(|c| c != excess) {
        return Err(Reject::data("change differs from the overpayment"));
    }
    let change = reported_change.unwrap_or(excess);
    let cash_paid = payments.first().copied().flatten().unwrap_or(0);
    let cash =
        money::sub(cash_paid, excess).map_err(|_| Reject::data("change exceeds the cash paid"))?;

    Ok(TicketDigest {
        operation,
        time,
        total,
        items,
        item_count,
        sections: section_figures,
        discount,
        discount_count,
        markup,
        markup_count,
        payments,
        change,
        cash,
        taxes: taxes.finish()?,
        offline: t.offline_ticket_number.is_some(),
    })
}
