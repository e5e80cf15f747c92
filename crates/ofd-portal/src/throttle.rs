//! A fixed-window limit per client address, for the public pages anyone can hit (the receipt
//! check): enough to stop enumeration of fiscal signs, small enough to forget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub struct PerAddress {
    max: u32,
    window: u64,
    seen: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

impl PerAddress {
    pub fn new(max: u32, window: u64) -> PerAddress {
        PerAddress {
            max: max.max(1),
            window: window.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request; `Err(seconds)` to wait when over the limit.
    pub fn hit(&self, addr: IpAddr, now: u64) -> Result<(), u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded memory: a spray of addresses cannot grow the map without end.
        if seen.len() > 100_000 {
            let window = self.window;
            seen.retain(|_, (start, _)| now < *start + window);
        }
        let entry = seen.entry(addr).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            return Err((entry.0 + self.window).saturating_sub(now).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_window() {
        let t = PerAddress::new(2, 60);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.hit(a, 100).is_ok());
        assert!(t.hit(a, 101).is_ok());
        assert_eq!(t.hit(a, 110), Err(50));
        assert!(t.hit(b, 110).is_ok(), "another address is not affected");
        assert!(t.hit(a, 160).is_ok(), "a new window");
    }
}
