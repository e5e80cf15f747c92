//! The loopback guard: where ofd-load is allowed to send traffic.
//!
//! A load generator pointed at the wrong address is a denial-of-service tool, and an OFD's
//! production acceptor is exactly the wrong address. So every target (the ingest `HOST:PORT` and
//! the admin URL of `--register-via`) must be a loopback address — `127.0.0.0/8`, `::1` or the
//! name `localhost` — unless the operator says `--allow-remote` explicitly. Names other than
//! `localhost` are refused *without* resolving them, so the check cannot be fooled by DNS and
//! does not depend on it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target {0:?} is not HOST:PORT (e.g. 127.0.0.1:7777 or [::1]:7777)")]
    Syntax(String),
    #[error("target {0:?} has no valid port (1-65535)")]
    Port(String),
    #[error(
        "refusing non-loopback target {0:?}: ofd-load only sends to 127.0.0.0/8, ::1 or localhost; \
         pass --allow-remote if you really mean to load another machine"
    )]
    NotLoopback(String),
    #[error("cannot resolve target {0:?}: {1}")]
    Resolve(String, String),
    #[error("URL {0:?} is not http://HOST[:PORT][/path]")]
    Url(String),
}

/// Check and resolve an ingest target `HOST:PORT`.
///
/// `localhost` means `127.0.0.1` (ofdd's usual bind), a literal IP must be loopback, and any other
/// name is refused unless `allow_remote` (then it is resolved and the first address is used).
pub fn resolve_target(target: &str, allow_remote: bool) -> Result<SocketAddr, TargetError> {
    let (host, port) = split_host_port(target)?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| TargetError::Port(target.to_owned()))?;
    if let Some(ip) = loopback_ip(host) {
        return Ok(SocketAddr::new(ip, port));
    }
    if !allow_remote {
        return Err(TargetError::NotLoopback(target.to_owned()));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| TargetError::Resolve(target.to_owned(), e.to_string()))?
        .next()
        .ok_or_else(|| TargetError::Resolve(target.to_owned(), "no addresses".to_owned()))
}

/// Check an admin base URL (`http://127.0.0.1:9100`): the same rule for its host.
pub fn check_url(url: &str, allow_remote: bool) -> Result<(), TargetError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| TargetError::Url(url.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(TargetError::Url(url.to_owned()));
    }
    // Without a port, give the split a dummy one so that bracketed IPv6 parses the same way.
    let host = if authority.ends_with(']') || !authority.contains(':') {
        authority
    } else {
        split_host_port(authority)
            .map_err(|_| TargetError::Url(url.to_owned()))?
            .0
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if loopback_ip(host).is_some() || allow_remote {
        Ok(())
    } else {
        Err(TargetError::NotLoopback(url.to_owned()))
    }
}

/// The loopback address `host` names, if it names one.
fn loopback_ip(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let ip: IpAddr = host.parse().ok()?;
    let loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    loopback.then_some(ip)
}

/// `host:port`, `[v6]:port`.
fn split_host_port(s: &str) -> Result<(&str, &str), TargetError> {
    let syntax = || TargetError::Syntax(s.to_owned());
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(syntax)?;
        let port = after.strip_prefix(':').ok_or_else(syntax)?;
        return Ok((host, port));
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(syntax)?;
    if host.is_empty() || host.contains(':') {
        return Err(syntax());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_accepted() {
        assert_eq!(
            resolve_target("127.0.0.1:7777", false).unwrap().to_string(),
            "127.0.0.1:7777"
        );
        assert_eq!(resolve_target("127.8.9.10:1", false).unwrap().port(), 1);
        assert_eq!(
            resolve_target("localhost:7777", false).unwrap().to_string(),
            "127.0.0.1:7777"
        );
        assert_eq!(
            resolve_target("[::1]:7777", false).unwrap().to_string(),
            "[::1]:7777"
        );
        assert!(resolve_target("[::ffff:127.0.0.1]:7777", false).is_ok());
    }

    #[test]
    fn remote_refused_without_flag() {
        for t in [
            "10.0.0.1:7777",
            "8.8.8.8:53",
            "[2001:db8::1]:7777",
            "ofd.example.com:7777",
            "0.0.0.0:7777",
        ] {
            assert!(
                matches!(resolve_target(t, false), Err(TargetError::NotLoopback(_))),
                "{t}"
            );
        }
        assert_eq!(
            resolve_target("10.0.0.1:7777", true).unwrap().to_string(),
            "10.0.0.1:7777"
        );
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(
            resolve_target("127.0.0.1", false),
            Err(TargetError::Syntax(_))
        ));
        assert!(matches!(
            resolve_target("::1:7777", false),
            Err(TargetError::Syntax(_))
        ));
        assert!(matches!(
            resolve_target("127.0.0.1:0", false),
            Err(TargetError::Port(_))
        ));
        assert!(matches!(
            resolve_target("127.0.0.1:99999", false),
            Err(TargetError::Port(_))
        ));
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:9100", false).is_ok());
        assert!(check_url("http://localhost/api", false).is_ok());
        assert!(check_url("http://[::1]:9100/", false).is_ok());
        assert!(matches!(
            check_url("http://10.1.1.1:9100", false),
            Err(TargetError::NotLoopback(_))
        ));
        assert!(matches!(
            check_url("https://127.0.0.1:9100", false),
            Err(TargetError::Url(_))
        ));
        assert!(matches!(
            check_url("http://user@127.0.0.1", false),
            Err(TargetError::Url(_))
        ));
        assert!(check_url("http://10.1.1.1:9100", true).is_ok());
    }
}
