//! How the portal writes dates, times and money: one place, so every page agrees.
//!
//! Fiscal documents carry the register's local wall-clock time as "Unix seconds without a
//! zone", so a document time is written as if it were UTC, which prints the wall clock the
//! register had. The daemon's own times (arrival, registration) are UTC and say so.

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
}

fn parts(unix: u64) -> Parts {
    let (y, mo, d) = civil((unix / 86_400) as i64);
    let rem = unix % 86_400;
    Parts {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
    }
}

/// `2026-12-06`.
pub fn date(unix: u64) -> String {
    let p = parts(unix);
    format!("{:04}-{:02}-{:02}", p.y, p.mo, p.d)
}

/// `2026-12-06 22:30`.
pub fn datetime(unix: u64) -> String {
    let p = parts(unix);
    format!("{:04}-{:02}-{:02} {:02}:{:02}", p.y, p.mo, p.d, p.h, p.mi)
}

/// `2026-12-06 22:30:15`.
pub fn datetime_secs(unix: u64) -> String {
    let p = parts(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    )
}

/// A Kazakh ticket's local time as its QR code carries it (`20231115T031320`), shown as
/// `2023-11-15 03:13:20`; anything else as it is.
pub fn compact_time(t: &str) -> String {
    let b = t.as_bytes();
    if b.len() != 15
        || b[8] != b'T'
        || !t[..8]
            .bytes()
            .chain(t[9..].bytes())
            .all(|c| c.is_ascii_digit())
    {
        return t.to_string();
    }
    format!(
        "{}-{}-{} {}:{}:{}",
        &t[..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
    )
}

/// The `t=` of a Russian receipt's QR code: `20171007T1024`.
pub fn qr_time(unix: u64) -> String {
    let p = parts(unix);
    format!("{:04}{:02}{:02}T{:02}{:02}", p.y, p.mo, p.d, p.h, p.mi)
}

/// Parses the `t=` of a QR code (`yyyyMMddTHHmm`, seconds optional) to the minute it names.
pub fn parse_qr_time(s: &str) -> Option<u64> {
    let s = s.trim();
    let (d, t) = s.split_once(['T', 't'])?;
    if d.len() != 8 || !(t.len() == 4 || t.len() == 6) {
        return None;
    }
    if !d.bytes().chain(t.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let num = |x: &str| x.parse::<u32>().ok();
    let (y, mo, day) = (num(&d[..4])?, num(&d[4..6])?, num(&d[6..])?);
    let (h, mi) = (num(&t[..2])?, num(&t[2..4])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, day);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + mi * 60)).ok()
}

/// Parses `yyyy-mm-dd` (an HTML date input) to the Unix second its day starts.
pub fn parse_date(s: &str) -> Option<u64> {
    let b = s.trim().as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let s = s.trim();
    let (y, mo, d) = (
        s[..4].parse::<i64>().ok()?,
        s[5..7].parse::<u32>().ok()?,
        s[8..].parse::<u32>().ok()?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    u64::try_from(days_from_civil(y, mo, d) * 86_400).ok()
}

/// Parses `yyyy-mm` to (first day's Unix second, number of days in the month).
pub fn parse_month(s: &str) -> Option<(u64, u32)> {
    let s = s.trim();
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m) = (y.parse::<i64>().ok()?, m.parse::<u32>().ok()?);
    if !(1..=12).contains(&m) || !(1970..=9999).contains(&y) {
        return None;
    }
    let start = days_from_civil(y, m, 1);
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    Some((
        u64::try_from(start * 86_400).ok()?,
        u32::try_from(next - start).ok()?,
    ))
}

/// `yyyy-mm` of a Unix second.
pub fn month(unix: u64) -> String {
    date(unix)[..7].to_string()
}

/// Kopecks (or tiyn) as `1 234.56`.
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    let whole = (m / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", m % 100)
}

/// An unsigned amount (kopecks, tiyn) as [`money`] shows it; saturates past `i64::MAX`.
pub fn money_u(minor: u64) -> String {
    money(i64::try_from(minor).unwrap_or(i64::MAX))
}

/// Kopecks as the `s=` of a QR code: `129.90`.
pub fn qr_sum(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, (minor % 100).abs())
}

/// Parses a QR code's `s=` (`129.90`, `129.9`, `129`) to kopecks.
pub fn parse_sum(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = s.split_once(['.', ',']).unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 15 || frac.len() > 2 {
        return None;
    }
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let frac = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse::<i64>().ok()?,
    };
    Some(whole.parse::<i64>().ok()? * 100 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(datetime(1_507_371_840), "2017-10-07 10:24");
        assert_eq!(qr_time(1_507_371_840), "20171007T1024");
        assert_eq!(parse_qr_time("20171007T1024"), Some(1_507_371_840));
        assert_eq!(parse_qr_time("20171007T102400"), Some(1_507_371_840));
        assert_eq!(parse_qr_time("20171307T1024"), None);
        assert_eq!(parse_qr_time("2017100T1024"), None);
        assert_eq!(parse_date("2017-10-07"), Some(1_507_334_400));
        assert_eq!(date(1_507_334_400), "2017-10-07");
        assert_eq!(parse_date("2017-13-07"), None);
        assert_eq!(compact_time("20231115T031320"), "2023-11-15 03:13:20");
        assert_eq!(compact_time("2023111503132"), "2023111503132");
        for day in [0u64, 59, 60, 365, 10_000, 20_000, 30_000] {
            assert_eq!(parse_date(&date(day * 86_400)), Some(day * 86_400));
        }
    }

    #[test]
    fn money_is_grouped_and_parsed() {
        assert_eq!(money(12_990), "129.90");
        assert_eq!(money(123_456_789), "1\u{a0}234\u{a0}567.89");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(qr_sum(12_990), "129.90");
        assert_eq!(parse_sum("129.90"), Some(12_990));
        assert_eq!(parse_sum("129.9"), Some(12_990));
        assert_eq!(parse_sum("129"), Some(12_900));
        assert_eq!(parse_sum("12a"), None);
        assert_eq!(parse_sum("1.234"), None);
    }
}
