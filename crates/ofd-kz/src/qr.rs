//! The text of the receipt-check QR code a ticket answer carries.
//!
//! A Kazakh receipt's QR code opens the operator's public check page with the ticket's number,
//! the register's registration number, the sum and the time:
//! `<base>?i=<ticket number>&f=<registration number>&s=<sum>&t=<YYYYMMDDTHHMMSS>` (the shape
//! seen in public code; the base URL is the operator's, a policy value). The sum is tenge with
//! two decimals (`1500.00`), the time the ticket's own local time.

use crate::money::format_tenge;
use crate::time::LocalDateTime;

/// Build the QR text. A base that already has a query gets `&` instead of `?`.
pub fn qr_text(
    base_url: &str,
    ticket_number: u64,
    registration_number: &str,
    total_tiyn: u64,
    time: LocalDateTime,
) -> String {
    let sep = if base_url.contains('?') { '&' } else { '?' };
    format!(
        "{base_url}{sep}i={ticket_number}&f={}&s={}&t={}",
        url_escape(registration_number),
        format_tenge(total_tiyn),
        time.compact()
    )
}

/// Percent-escape everything but unreserved characters (registration numbers are digits; this
/// only keeps a bad registry value from breaking the URL).
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let t = LocalDateTime::from_unix(1_700_000_000, 5 * 3600);
        assert_eq!(
            qr_text("http://consumer.example.kz", 42, "010101012345", 150_000, t),
            "http://consumer.example.kz?i=42&f=010101012345&s=1500.00&t=20231115T031320"
        );
        assert_eq!(
            qr_text("https://x.kz/c?lang=ru", 1, "a b", 5, t),
            "https://x.kz/c?lang=ru&i=1&f=a%20b&s=0.05&t=20231115T031320"
        );
    }
}
