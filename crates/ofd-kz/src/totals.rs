//! Running totals of a shift and of the register since registration, and the X/Z report built
//! from them.
//!
//! X and Z reports have one shape; an X report is the open shift's totals as of now, a Z report
//! the same totals frozen at CLOSE_SHIFT. Totals are kept as integers (tiyn, counts) and grow
//! only through [`ShiftTotals::add_ticket`] / [`ShiftTotals::add_placement`], which check every
//! addition: an overflow rejects the request (code 13) instead of wrapping, and a rejected
//! request changes nothing. So a Z report equals the sum of the shift's accepted tickets and
//! money placements, exactly (proptest `z_report_is_the_sum_of_its_tickets`).

use crate::kkm;
use crate::kkm::zx_report as zx;
use crate::money::{self, from_tiyn};
use crate::ticket::{OPERATIONS, PAYMENT_TYPES, Reject, TicketDigest};
use crate::time::LocalDateTime;

/// Most distinct section codes kept per shift; beyond it tickets get code 13 (bounds the state).
pub const MAX_SECTIONS: usize = 1024;
/// Most distinct tax rates kept per shift.
pub const MAX_TAX_RATES: usize = 64;

/// A count and a sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountSum {
    pub count: u32,
    /// Tiyn.
    pub sum: u64,
}

impl CountSum {
    fn add(&mut self, count: u32, sum: u64) -> Result<(), Reject> {
        let c = self
            .count
            .checked_add(count)
            .ok_or(Reject::data("counter overflows"))?;
        let s = money::add(self.sum, sum).map_err(Reject::money)?;
        *self = CountSum { count: c, sum: s };
        Ok(())
    }

    fn wire(&self, operation: usize) -> zx::Operation {
        zx::Operation {
            operation: op_wire(operation),
            count: self.count,
            sum: from_tiyn(self.sum),
        }
    }
}

/// Ticket totals of one operation type in a shift.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperationTotals {
    /// Tickets and the sum of their totals.
    pub tickets: CountSum,
    /// Of which sent from an offline queue.
    pub offline: u32,
    /// Commodity lines and their net sum (before discounts and markups).
    pub items: CountSum,
    pub discounts: CountSum,
    pub markups: CountSum,
    /// Change given back, tiyn.
    pub change: u64,
    /// Per payment type (index = `PaymentTypeEnum` value): payments and their sum.
    pub payments: [CountSum; PAYMENT_TYPES],
}

/// Per-section totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SectionTotals {
    pub code: String,
    pub operations: [CountSum; OPERATIONS],
}

/// One tax rate's totals for one operation type, tiyn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaxOperationTotals {
    pub turnover: u64,
    pub sum: u64,
    pub turnover_without_tax: u64,
}

/// Per tax rate totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaxTotals {
    pub tax_type: u32,
    /// Thousandths of a percent.
    pub percent: u32,
    pub operations: [TaxOperationTotals; OPERATIONS],
}

/// Deposits (index 0) or withdrawals (index 1) in a shift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlacementTotals {
    pub operations: CountSum,
    pub offline: u32,
}

/// Everything a shift report sums.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShiftTotals {
    /// Index = `OperationTypeEnum` value (BUY, BUY_RETURN, SELL, SELL_RETURN).
    pub operations: [OperationTotals; OPERATIONS],
    /// Sorted by code.
    pub sections: Vec<SectionTotals>,
    /// Sorted by (type, percent).
    pub taxes: Vec<TaxTotals>,
    /// Index = `MoneyPlacementEnum` value (DEPOSIT, WITHDRAWAL).
    pub placements: [PlacementTotals; 2],
}

/// Counters that survive shifts (since registration).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Tickets per operation type since registration.
    pub tickets: [u32; OPERATIONS],
    /// Deposits and withdrawals since registration.
    pub placements: [u32; 2],
    /// Non-nullable sums per operation type (ticket totals since registration), tiyn.
    pub non_nullable: [u64; OPERATIONS],
}

fn slot<T>(arr: &mut [T], i: usize) -> Result<&mut T, Reject> {
    arr.get_mut(i).ok_or(Reject::data("index out of range"))
}

impl ShiftTotals {
    /// Add an accepted ticket. On error nothing is guaranteed about `self`: callers apply it to a
    /// copy (the decision works on a copy of the whole state and drops it on rejection).
    pub fn add_ticket(&mut self, t: &TicketDigest) -> Result<(), Reject> {
        let op = slot(&mut self.operations, t.operation)?;
        op.tickets.add(1, t.total)?;
        if t.offline {
            op.offline = op
                .offline
                .checked_add(1)
                .ok_or(Reject::data("counter overflows"))?;
        }
        op.items.add(t.item_count, t.items)?;
        op.discounts.add(t.discount_count, t.discount)?;
        op.markups.add(t.markup_count, t.markup)?;
        op.change = money::add(op.change, t.change).map_err(Reject::money)?;
        for (acc, paid) in op.payments.iter_mut().zip(t.payments) {
            if let Some(sum) = paid {
                acc.add(1, sum)?;
            }
        }
        for s in &t.sections {
            let at = match self
                .sections
                .binary_search_by(|x| x.code.as_str().cmp(&s.code))
            {
                Ok(at) => at,
                Err(at) => {
                    if self.sections.len() >= MAX_SECTIONS {
                        return Err(Reject::data("too many sections in the shift"));
                    }
                    self.sections.insert(
                        at,
                        SectionTotals {
                            code: s.code.clone(),
                            ..SectionTotals::default()
                        },
                    );
                    at
                }
            };
            let sec = slot(&mut self.sections, at)?;
            slot(&mut sec.operations, t.operation)?.add(s.count, s.sum)?;
        }
        for x in &t.taxes {
            let key = (x.tax_type, x.percent);
            let at = match self
                .taxes
                .binary_search_by(|y| (y.tax_type, y.percent).cmp(&key))
            {
                Ok(at) => at,
                Err(at) => {
                    if self.taxes.len() >= MAX_TAX_RATES {
                        return Err(Reject::data("too many tax rates in the shift"));
                    }
                    self.taxes.insert(
                        at,
                        TaxTotals {
                            tax_type: x.tax_type,
                            percent: x.percent,
                            ..TaxTotals::default()
                        },
                    );
                    at
                }
            };
            let tax = slot(&mut self.taxes, at)?;
            let o = slot(&mut tax.operations, t.operation)?;
            let add = |a: u64, b: u64| money::add(a, b).map_err(Reject::money);
            *o = TaxOperationTotals {
                turnover: add(o.turnover, x.turnover)?,
                sum: add(o.sum, x.sum)?,
                turnover_without_tax: add(o.turnover_without_tax, x.turnover_without_tax)?,
            };
        }
        Ok(())
    }

    /// Add a deposit (`withdrawal == false`) or withdrawal of `sum` tiyn.
    pub fn add_placement(
        &mut self,
        withdrawal: bool,
        sum: u64,
        offline: bool,
    ) -> Result<(), Reject> {
        let p = slot(&mut self.placements, usize::from(withdrawal))?;
        p.operations.add(1, sum)?;
        if offline {
            p.offline = p
                .offline
                .checked_add(1)
                .ok_or(Reject::data("counter overflows"))?;
        }
        Ok(())
    }
}

impl Counters {
    /// Count an accepted ticket since registration.
    pub fn add_ticket(&mut self, t: &TicketDigest) -> Result<(), Reject> {
        let c = slot(&mut self.tickets, t.operation)?;
        *c = c.checked_add(1).ok_or(Reject::data("counter overflows"))?;
        let n = slot(&mut self.non_nullable, t.operation)?;
        *n = money::add(*n, t.total).map_err(Reject::money)?;
        Ok(())
    }

    /// Count a deposit or withdrawal since registration.
    pub fn add_placement(&mut self, withdrawal: bool) -> Result<(), Reject> {
        let c = slot(&mut self.placements, usize::from(withdrawal))?;
        *c = c.checked_add(1).ok_or(Reject::data("counter overflows"))?;
        Ok(())
    }
}

fn op_wire(operation: usize) -> i32 {
    i32::try_from(operation).unwrap_or(0)
}

/// What a report is about, beside the totals.
#[derive(Debug, Clone, Copy)]
pub struct ReportFrame<'a> {
    pub shift_number: u32,
    /// When the report was made (local time).
    pub date_time: LocalDateTime,
    pub open_shift_time: Option<LocalDateTime>,
    /// Z reports only.
    pub close_shift_time: Option<LocalDateTime>,
    pub totals: &'a ShiftTotals,
    pub counters: &'a Counters,
    /// Non-nullable sums at the shift's start, tiyn.
    pub start_non_nullable: [u64; OPERATIONS],
    /// Cash in the drawer, tiyn.
    pub cash: u64,
}

/// Build the X/Z report. Every per-operation list has one entry per operation type, in code
/// order, as the document asks (`n == OperationTypeEnum::size`).
pub fn zx_report(f: &ReportFrame<'_>) -> kkm::ZxReport {
    let ops = &f.totals.operations;
    let per_op = |pick: fn(&OperationTotals) -> CountSum| -> Vec<zx::Operation> {
        ops.iter()
            .enumerate()
            .map(|(i, o)| pick(o).wire(i))
            .collect()
    };
    let non_nullable = |sums: &[u64; OPERATIONS]| -> Vec<zx::NonNullableSum> {
        sums.iter()
            .enumerate()
            .map(|(i, &s)| zx::NonNullableSum {
                operation: op_wire(i),
                sum: from_tiyn(s),
            })
            .collect()
    };
    // Revenue: sales less sale returns, less purchases, plus purchase returns (i128: exact).
    let signed = |i: usize, sign: i128| {
        ops.get(i)
            .map(|o| sign * i128::from(o.tickets.sum))
            .unwrap_or(0)
    };
    let revenue = signed(kkm::OperationTypeEnum::OperationSell as usize, 1)
        - signed(kkm::OperationTypeEnum::OperationSellReturn as usize, 1)
        - signed(kkm::OperationTypeEnum::OperationBuy as usize, 1)
        + signed(kkm::OperationTypeEnum::OperationBuyReturn as usize, 1);
    kkm::ZxReport {
        date_time: f.date_time.to_wire(),
        shift_number: f.shift_number,
        sections: f
            .totals
            .sections
            .iter()
            .map(|s| zx::Section {
                section_code: s.code.clone(),
                operations: s
                    .operations
                    .iter()
                    .enumerate()
                    .map(|(i, o)| o.wire(i))
                    .collect(),
            })
            .collect(),
        operations: per_op(|o| o.items),
        discounts: per_op(|o| o.discounts),
        markups: per_op(|o| o.markups),
        total_result: per_op(|o| o.tickets),
        taxes: f
            .totals
            .taxes
            .iter()
            .map(|t| zx::Tax {
                tax_type: t.tax_type,
                percent: t.percent,
                operations: t
                    .operations
                    .iter()
                    .enumerate()
                    .map(|(i, o)| zx::tax::TaxOperation {
                        operation: op_wire(i),
                        turnover: from_tiyn(o.turnover),
                        sum: from_tiyn(o.sum),
                        turnover_without_tax: Some(from_tiyn(o.turnover_without_tax)),
                    })
                    .collect(),
            })
            .collect(),
        start_shift_non_nullable_sums: non_nullable(&f.start_non_nullable),
        ticket_operations: ops
            .iter()
            .enumerate()
            .map(|(i, o)| zx::TicketOperation {
                operation: op_wire(i),
                tickets_total_count: f.counters.tickets.get(i).copied().unwrap_or(0),
                tickets_count: o.tickets.count,
                tickets_sum: from_tiyn(o.tickets.sum),
                payments: o
                    .payments
                    .iter()
                    .enumerate()
                    .map(|(p, cs)| zx::ticket_operation::Payment {
                        payment: i32::try_from(p).unwrap_or(0),
                        sum: from_tiyn(cs.sum),
                        count: Some(cs.count),
                    })
                    .collect(),
                offline_count: Some(o.offline),
                discount_sum: Some(from_tiyn(o.discounts.sum)),
                markup_sum: Some(from_tiyn(o.markups.sum)),
                change_sum: Some(from_tiyn(o.change)),
            })
            .collect(),
        money_placements: f
            .totals
            .placements
            .iter()
            .enumerate()
            .map(|(i, p)| zx::MoneyPlacement {
                operation: i32::try_from(i).unwrap_or(0),
                operations_total_count: f.counters.placements.get(i).copied().unwrap_or(0),
                operations_count: p.operations.count,
                operations_sum: from_tiyn(p.operations.sum),
                offline_count: Some(p.offline),
            })
            .collect(),
        annulled_tickets: None,
        cash_sum: from_tiyn(f.cash),
        revenue: zx::Revenue {
            sum: from_tiyn(u64::try_from(revenue.unsigned_abs()).unwrap_or(u64::MAX)),
            is_negative: revenue < 0,
        },
        non_nullable_sums: non_nullable(&f.counters.non_nullable),
        open_shift_time: f.open_shift_time.map(LocalDateTime::to_wire),
        close_shift_time: f.close_shift_time.map(LocalDateTime::to_wire),
        checksum: None,
    }
}
