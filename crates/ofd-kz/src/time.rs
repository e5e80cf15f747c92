//! Wall-clock times of the register, and the server's `now`.
//!
//! The protocol's `DateTime` is the register's local time with no zone. ofdd keeps two clocks
//! apart: shift age (the 24 h rule) is measured with the **server's** `now` (Unix seconds, passed
//! in by the daemon — this crate reads no clock), because a register's clock can be wrong or
//! offline; report and QR times are local wall-clock values, taken from the request where it has
//! one and otherwise from `now` shifted by the configured UTC offset.

use crate::kkm;

/// A validated local date and time.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct LocalDateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl LocalDateTime {
    /// Validate a wire `DateTime` (year 2000..=9999, a real day of the month, 00:00:00..23:59:59).
    pub fn from_wire(dt: &kkm::DateTime) -> Option<LocalDateTime> {
        let year = u16::try_from(dt.date.year)
            .ok()
            .filter(|y| (2000..=9999).contains(y))?;
        let month = u8::try_from(dt.date.month)
            .ok()
            .filter(|m| (1..=12).contains(m))?;
        let day = u8::try_from(dt.date.day)
            .ok()
            .filter(|&d| d >= 1 && d <= days_in_month(year, month))?;
        let hour = u8::try_from(dt.time.hour).ok().filter(|&h| h < 24)?;
        let minute = u8::try_from(dt.time.minute).ok().filter(|&m| m < 60)?;
        let second = u8::try_from(dt.time.second.unwrap_or(0))
            .ok()
            .filter(|&s| s < 60)?;
        Some(LocalDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// As a wire `DateTime`.
    pub fn to_wire(self) -> kkm::DateTime {
        kkm::DateTime {
            date: kkm::Date {
                year: u32::from(self.year),
                month: u32::from(self.month),
                day: u32::from(self.day),
            },
            time: kkm::Time {
                hour: u32::from(self.hour),
                minute: u32::from(self.minute),
                second: Some(u32::from(self.second)),
            },
        }
    }

    /// Local time of Unix second `unix` at `utc_offset` seconds east of UTC (1970..=9999 only;
    /// outside that the nearest end is returned).
    pub fn from_unix(unix: u64, utc_offset: i32) -> LocalDateTime {
        let secs = i64::try_from(unix)
            .unwrap_or(i64::MAX)
            .saturating_add(i64::from(utc_offset))
            .clamp(0, 253_402_300_799); // 9999-12-31T23:59:59
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        LocalDateTime {
            year: u16::try_from(y).unwrap_or(9999),
            month: u8::try_from(m).unwrap_or(12),
            day: u8::try_from(d).unwrap_or(31),
            hour: u8::try_from(rem / 3600).unwrap_or(0),
            minute: u8::try_from(rem % 3600 / 60).unwrap_or(0),
            second: u8::try_from(rem % 60).unwrap_or(0),
        }
    }

    /// `YYYYMMDDTHHMMSS`, the form of the receipt-check URL's `t` parameter.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_to_local() {
        // 2023-11-14T22:13:20Z, at UTC+5 → 2023-11-15T03:13:20.
        let t = LocalDateTime::from_unix(1_700_000_000, 5 * 3600);
        assert_eq!(t.compact(), "20231115T031320");
        assert_eq!(LocalDateTime::from_unix(0, 0).compact(), "19700101T000000");
        assert_eq!(
            LocalDateTime::from_unix(951_782_400, 0).compact(),
            "20000229T000000"
        );
        assert_eq!(LocalDateTime::from_unix(u64::MAX, 0).year, 9999);
    }

    #[test]
    fn wire_validation() {
        let ok = LocalDateTime::from_unix(1_700_000_000, 0);
        assert_eq!(LocalDateTime::from_wire(&ok.to_wire()), Some(ok));
        let mut bad = ok.to_wire();
        bad.date.month = 13;
        assert_eq!(LocalDateTime::from_wire(&bad), None);
        let mut bad = ok.to_wire();
        bad.date.month = 2;
        bad.date.day = 29; // 2023 is not a leap year
        assert_eq!(LocalDateTime::from_wire(&bad), None);
        let mut bad = ok.to_wire();
        bad.time.second = Some(60);
        assert_eq!(LocalDateTime::from_wire(&bad), None);
    }
}
