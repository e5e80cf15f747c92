//! Passwords: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), a minimum policy,
//! and nothing else — no password is ever logged, stored or returned; only the PHC string.
//!
//! Hashing and verifying take tens of milliseconds by design: callers run them off the async
//! threads (`spawn_blocking`) and never on the store's committer.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest (argon2 takes any length; this bounds the work a request can ask for).
pub const MAX_LEN: usize = 256;

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password is refused, in words for the form.
pub fn check_policy(password: &str, login: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!("at least {MIN_LEN} characters"));
    }
    if n > MAX_LEN {
        return Err(format!("at most {MAX_LEN} characters"));
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err("not one character repeated".into());
    }
    let lower = password.to_lowercase();
    if !login.is_empty() && lower.contains(&login.to_lowercase()) {
        return Err("must not contain the login".into());
    }
    let local = login.split('@').next().unwrap_or("");
    if local.len() >= 4 && lower.contains(&local.to_lowercase()) {
        return Err("must not contain the login".into());
    }
    Ok(())
}

/// The argon2id PHC string of a password, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no random bytes from the OS: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the stored PHC string (constant-time inside argon2).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of nothing, to verify against when the login is unknown, so the answer takes as long
/// as for a known login.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("dummy password for timing").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_policy_names_the_rule() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterz", &h));
        assert!(!verify("x", "not a phc string"));
        assert_eq!(
            check_policy("short", "a@b.ru").unwrap_err(),
            "at least 10 characters"
        );
        assert!(check_policy("aaaaaaaaaaaa", "a@b.ru").is_err());
        assert!(check_policy("ivanov-secret-1", "ivanov@shop.ru").is_err());
        assert!(check_policy("a good long one", "ivanov@shop.ru").is_ok());
    }
}
