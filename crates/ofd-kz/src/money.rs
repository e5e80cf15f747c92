//! Money in integers: tenge (`bills`) and tiyn (`coins`) ↔ a total count of tiyn.
//!
//! Floats never touch money: a report must equal the sum of its tickets to the tiyn. The wire's
//! `Money { bills: u64, coins: u32 }` is turned into one `u64` of tiyn on the way in (rejecting
//! `coins > 99` and totals beyond `i64::MAX`, the document's cap on unsigned values) and back on
//! the way out. Every sum is checked: an overflow is an error the caller turns into a result code,
//! never a wrap.

use crate::kkm;

/// Tiyn in one tenge.
pub const TIYN_PER_TENGE: u64 = 100;
/// The largest amount accepted, in tiyn: the document caps uint64 values at `i64::MAX`.
pub const MAX_TIYN: u64 = i64::MAX as u64;

/// Why an amount is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// `coins` must be 0..=99.
    #[error("coins {0} is not 0..=99")]
    Coins(u32),
    /// The amount or a sum of amounts exceeds [`MAX_TIYN`].
    #[error("amount overflows")]
    Overflow,
    /// A difference would be negative where it cannot be.
    #[error("amount would be negative")]
    Negative,
}

/// A wire amount as tiyn.
pub fn to_tiyn(m: &kkm::Money) -> Result<u64, MoneyError> {
    if m.coins >= 100 {
        return Err(MoneyError::Coins(m.coins));
    }
    let t = m
        .bills
        .checked_mul(TIYN_PER_TENGE)
        .and_then(|b| b.checked_add(u64::from(m.coins)))
        .ok_or(MoneyError::Overflow)?;
    if t > MAX_TIYN {
        return Err(MoneyError::Overflow);
    }
    Ok(t)
}

/// Tiyn as a wire amount (always `coins` 0..=99).
pub fn from_tiyn(tiyn: u64) -> kkm::Money {
    kkm::Money {
        bills: tiyn / TIYN_PER_TENGE,
        // < 100, so the conversion cannot fail.
        coins: u32::try_from(tiyn % TIYN_PER_TENGE).unwrap_or(0),
    }
}

/// `a + b`, capped at [`MAX_TIYN`].
pub fn add(a: u64, b: u64) -> Result<u64, MoneyError> {
    match a.checked_add(b) {
        Some(s) if s <= MAX_TIYN => Ok(s),
        _ => Err(MoneyError::Overflow),
    }
}

/// `a - b`, never negative.
pub fn sub(a: u64, b: u64) -> Result<u64, MoneyError> {
    a.checked_sub(b).ok_or(MoneyError::Negative)
}

/// Sum of amounts.
pub fn sum(amounts: impl IntoIterator<Item = u64>) -> Result<u64, MoneyError> {
    amounts.into_iter().try_fold(0, add)
}

/// Tiyn as text, `1234.05` — the form the receipt-check URL carries.
pub fn format_tenge(tiyn: u64) -> String {
    format!("{}.{:02}", tiyn / TIYN_PER_TENGE, tiyn % TIYN_PER_TENGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        for t in [0, 1, 99, 100, 12_345, MAX_TIYN] {
            assert_eq!(to_tiyn(&from_tiyn(t)), Ok(t));
        }
        assert_eq!(
            to_tiyn(&kkm::Money {
                bills: 1,
                coins: 100
            }),
            Err(MoneyError::Coins(100))
        );
        assert_eq!(
            to_tiyn(&kkm::Money {
                bills: u64::MAX,
                coins: 0
            }),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            to_tiyn(&kkm::Money {
                bills: MAX_TIYN / 100,
                coins: 99
            }),
            Err(MoneyError::Overflow)
        );
        assert_eq!(add(MAX_TIYN, 1), Err(MoneyError::Overflow));
        assert_eq!(add(u64::MAX, 1), Err(MoneyError::Overflow));
        assert_eq!(sub(1, 2), Err(MoneyError::Negative));
        assert_eq!(format_tenge(123_405), "1234.05");
    }
}
