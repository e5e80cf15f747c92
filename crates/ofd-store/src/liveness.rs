//! The liveness index: per register, when it was last heard from and what its FN says about
//! itself, so "how many registers are silent" is a memory scan, not a database scan.
//!
//! One `LivenessRecord` per register, keyed by RN when known, else by FN (an FN sending before
//! its registration report). The committer updates records in the same `WriteBatch` as the
//! document, so the persisted index (CF `liveness`) never disagrees with the document log; the
//! in-memory copy is updated only after that batch is synced, and reloaded on open.
//!
//! Green/yellow/red age is measured from `last_doc_time`, the newest document time the FN wrote
//! (tag 1012), not from arrival: a register cut off for days that then delivers its backlog was
//! silent for those days, and its colour must say so (and operators can test the thresholds by
//! feeding dated documents). Tag 1012 is register-local time with no zone, up to 12 h off UTC;
//! the thresholds are days, so that offset does not change a colour that matters.
//! `last_received_at` (the daemon's clock) is kept too and served per register. The per-day
//! count is bucketed by document time (a register's day is its local day). Deregistered registers keep their record but are counted separately
//! (`LivenessCounts::deregistered`) and never in green/yellow/red or in the health counts.

use std::collections::HashMap;

use crate::keys::LiveKey;
use crate::record::{FnHealth, NewDocument};

const KEY_SOON: u8 = 1;
const KEY_URGENT: u8 = 2;
const MEMORY_FULL: u8 = 4;
const ACK_OVERDUE: u8 = 8;
const DEREGISTERED: u8 = 16;
/// The record before the shift's sums were kept (read, and rewritten longer on the next change).
const RECORD_LEN_V1: usize = 37;
const RECORD_LEN: usize = 53;

/// What the store knows about one register's activity and health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivenessRecord {
    /// Unix seconds (daemon clock) when the newest document arrived.
    pub last_received_at: u32,
    /// Greatest document time (tag 1012) seen.
    pub last_doc_time: u32,
    /// Day (doc_time / 86 400) that `docs_today` counts.
    pub day: u32,
    /// Documents stored with a doc time on `day`.
    pub docs_today: u32,
    /// Shift number of the newest document that had one (0 = none seen).
    pub shift: u32,
    /// 1097, 1098, 1116 from the newest health-carrying document.
    pub untransmitted: u32,
    pub first_untransmitted_time: u32,
    pub first_untransmitted_number: u32,
    /// Doc time of the document the health came from.
    pub health_time: u32,
    flags: u8,
    /// Sales (1054 = 1) and returns of sales (1054 = 2) of shift `shift`, kopecks, from the
    /// receipts stored so far: what a register list shows for the current shift.
    pub shift_sales: u64,
    pub shift_returns: u64,
}

impl LivenessRecord {
    pub fn key_expiry_soon(&self) -> bool {
        self.flags & KEY_SOON != 0
    }
    pub fn key_expiry_urgent(&self) -> bool {
        self.flags & KEY_URGENT != 0
    }
    pub fn memory_nearly_full(&self) -> bool {
        self.flags & MEMORY_FULL != 0
    }
    pub fn ack_overdue(&self) -> bool {
        self.flags & ACK_OVERDUE != 0
    }
    pub fn deregistered(&self) -> bool {
        self.flags & DEREGISTERED != 0
    }

    pub(crate) fn set_deregistered(&mut self, yes: bool) {
        if yes {
            self.flags |= DEREGISTERED;
        } else {
            self.flags &= !DEREGISTERED;
        }
    }

    /// A Kazakh register's exchange at daemon time `received` (Unix seconds), with the
    /// register's own time of the document (`doc_time`) and its shift, if any.
    pub(crate) fn apply_exchange(&mut self, received: u32, doc_time: u32, shift: Option<u32>) {
        self.last_received_at = self.last_received_at.max(received);
        let day = doc_time / 86_400;
        if day > self.day || self.docs_today == 0 {
            self.day = day;
            self.docs_today = 1;
        } else if day == self.day {
            self.docs_today = self.docs_today.saturating_add(1);
        }
        if doc_time >= self.last_doc_time {
            self.last_doc_time = doc_time;
            if let Some(s) = shift {
                self.enter_shift(s);
            }
        }
    }

    /// Makes `s` the current shift; a different shift starts its sums from zero.
    fn enter_shift(&mut self, s: u32) {
        if s != self.shift {
            self.shift_sales = 0;
            self.shift_returns = 0;
        }
        self.shift = s;
    }

    fn add_settlement(&mut self, kind: u8, total: u64) {
        match kind {
            1 => self.shift_sales = self.shift_sales.saturating_add(total),
            2 => self.shift_returns = self.shift_returns.saturating_add(total),
            _ => {}
        }
    }

    /// Folds one newly stored document in.
    pub(crate) fn apply(&mut self, doc: &NewDocument) {
        let received = u32::try_from(doc.received_at_ms / 1000).unwrap_or(u32::MAX);
        self.last_received_at = self.last_received_at.max(received);
        let day = doc.doc_time / 86_400;
        if day > self.day || self.docs_today == 0 {
            self.day = day;
            self.docs_today = 1;
        } else if day == self.day {
            self.docs_today = self.docs_today.saturating_add(1);
        }
        if doc.doc_time >= self.last_doc_time {
            self.last_doc_time = doc.doc_time;
            if let Some(s) = doc.shift {
                self.enter_shift(s);
            }
        }
        // A receipt counts for the shift it names, if that is the current one (a late receipt of
        // an older shift does not).
        if let (Some(st), Some(s)) = (doc.settlement, doc.shift)
            && s == self.shift
        {
            self.add_settlement(st.kind, st.total);
        }
        if let Some(h) = &doc.health
            && doc.doc_time >= self.health_time
        {
            self.set_health(doc.doc_time, h);
        }
    }

    fn set_health(&mut self, time: u32, h: &FnHealth) {
        self.health_time = time;
        self.untransmitted = h.untransmitted;
        self.first_untransmitted_time = h.first_untransmitted_time;
        self.first_untransmitted_number = h.first_untransmitted_number;
        for (value, bit) in [
            (h.key_expiry_soon, KEY_SOON),
            (h.key_expiry_urgent, KEY_URGENT),
            (h.memory_nearly_full, MEMORY_FULL),
            (h.ack_overdue, ACK_OVERDUE),
        ] {
            match value {
                Some(true) => self.flags |= bit,
                Some(false) => self.flags &= !bit,
                None => {}
            }
        }
    }

    /// Merges the record another key accumulated (an FN's activity before its RN was known).
    pub(crate) fn merge(&mut self, other: &LivenessRecord) {
        self.last_received_at = self.last_received_at.max(other.last_received_at);
        if other.day > self.day || self.docs_today == 0 {
            self.day = other.day;
            self.docs_today = other.docs_today;
        } else if other.day == self.day {
            self.docs_today = self.docs_today.saturating_add(other.docs_today);
        }
        if other.shift != 0 && other.shift == self.shift {
            self.shift_sales = self.shift_sales.saturating_add(other.shift_sales);
            self.shift_returns = self.shift_returns.saturating_add(other.shift_returns);
        }
        if other.last_doc_time >= self.last_doc_time {
            self.last_doc_time = other.last_doc_time;
            if other.shift != 0 && other.shift != self.shift {
                self.shift = other.shift;
                self.shift_sales = other.shift_sales;
                self.shift_returns = other.shift_returns;
            }
        }
        if other.health_time > self.health_time {
            self.health_time = other.health_time;
            self.untransmitted = other.untransmitted;
            self.first_untransmitted_time = other.first_untransmitted_time;
            self.first_untransmitted_number = other.first_untransmitted_number;
            let health_bits = KEY_SOON | KEY_URGENT | MEMORY_FULL | ACK_OVERDUE;
            self.flags = (self.flags & !health_bits) | (other.flags & health_bits);
        }
    }

    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut v = [0u8; RECORD_LEN];
        for (i, x) in [
            self.last_received_at,
            self.last_doc_time,
            self.day,
            self.docs_today,
            self.shift,
            self.untransmitted,
            self.first_untransmitted_time,
            self.first_untransmitted_number,
            self.health_time,
        ]
        .into_iter()
        .enumerate()
        {
            v[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
        }
        v[36] = self.flags;
        v[37..45].copy_from_slice(&self.shift_sales.to_be_bytes());
        v[45..53].copy_from_slice(&self.shift_returns.to_be_bytes());
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Option<Self> {
        if v.len() != RECORD_LEN && v.len() != RECORD_LEN_V1 {
            return None;
        }
        let w64 = |at: usize| -> u64 {
            v.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_be_bytes)
        };
        let w = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes(
                v.get(i * 4..i * 4 + 4)?.try_into().ok()?,
            ))
        };
        Some(LivenessRecord {
            last_received_at: w(0)?,
            last_doc_time: w(1)?,
            day: w(2)?,
            docs_today: w(3)?,
            shift: w(4)?,
            untransmitted: w(5)?,
            first_untransmitted_time: w(6)?,
            first_untransmitted_number: w(7)?,
            health_time: w(8)?,
            flags: v[36],
            shift_sales: w64(37),
            shift_returns: w64(45),
        })
    }
}

/// Registers by age of their last document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivenessCounts {
    /// Heard from less than `yellow_after_secs` ago (or "in the future").
    pub green: u64,
    /// Between `yellow_after_secs` and `red_after_secs` inclusive.
    pub yellow: u64,
    /// Silent for more than `red_after_secs`.
    pub red: u64,
    /// Deregistered registers (not in the three above).
    pub deregistered: u64,
}

/// Registers whose latest FN health report raises each alarm (deregistered ones excluded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthCounts {
    /// 1097 > 0.
    pub untransmitted: u64,
    pub key_expiry_soon: u64,
    pub key_expiry_urgent: u64,
    pub memory_nearly_full: u64,
    pub ack_overdue: u64,
}

/// The in-memory copy: a dense vector (scanned for counts) and a key → slot map.
#[derive(Default)]
pub(crate) struct LivenessIndex {
    slots: HashMap<LiveKey, u32>,
    records: Vec<LivenessRecord>,
    keys: Vec<LiveKey>,
}

impl LivenessIndex {
    pub(crate) fn get(&self, key: &LiveKey) -> Option<LivenessRecord> {
        let slot = usize::try_from(*self.slots.get(key)?).ok()?;
        self.records.get(slot).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Approximate heap bytes held (hash table with its control bytes, the two vectors).
    pub(crate) fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.slots.capacity() * (size_of::<(LiveKey, u32)>() + 1)
            + self.records.capacity() * size_of::<LivenessRecord>()
            + self.keys.capacity() * size_of::<LiveKey>()
    }

    pub(crate) fn set(&mut self, key: LiveKey, rec: LivenessRecord) {
        if let Some(&slot) = self.slots.get(&key)
            && let Some(r) = usize::try_from(slot)
                .ok()
                .and_then(|s| self.records.get_mut(s))
        {
            *r = rec;
            return;
        }
        let Ok(slot) = u32::try_from(self.records.len()) else {
            return; // over 4 billion registers: not a real deployment
        };
        self.slots.insert(key, slot);
        self.records.push(rec);
        self.keys.push(key);
    }

    /// Removes a key (swap-remove keeps the vector dense).
    pub(crate) fn remove(&mut self, key: &LiveKey) {
        let Some(slot) = self.slots.remove(key) else {
            return;
        };
        let Ok(slot) = usize::try_from(slot) else {
            return;
        };
        if slot >= self.records.len() {
            return;
        }
        self.records.swap_remove(slot);
        self.keys.swap_remove(slot);
        if let Some(moved) = self.keys.get(slot)
            && let Ok(s) = u32::try_from(slot)
        {
            self.slots.insert(*moved, s);
        }
    }

    pub(crate) fn counts(&self, now: u64, yellow_after: u64, red_after: u64) -> LivenessCounts {
        let mut c = LivenessCounts::default();
        for r in &self.records {
            c.add(r, now, yellow_after, red_after);
        }
        c
    }

    pub(crate) fn health(&self) -> HealthCounts {
        let mut h = HealthCounts::default();
        for r in &self.records {
            h.add(r);
        }
        h
    }
}

impl LivenessCounts {
    /// Counts one register by the age of its last document (see `Store::liveness_counts`).
    pub fn add(&mut self, r: &LivenessRecord, now: u64, yellow_after: u64, red_after: u64) {
        if r.deregistered() {
            self.deregistered += 1;
            return;
        }
        let age = now.saturating_sub(u64::from(r.last_doc_time));
        if age < yellow_after {
            self.green += 1;
        } else if age <= red_after {
            self.yellow += 1;
        } else {
            self.red += 1;
        }
    }
}

impl HealthCounts {
    /// Counts one register's FN health alarms (deregistered ones raise none).
    pub fn add(&mut self, r: &LivenessRecord) {
        if r.deregistered() {
            return;
        }
        self.untransmitted += u64::from(r.untransmitted > 0);
        self.key_expiry_soon += u64::from(r.flags & KEY_SOON != 0);
        self.key_expiry_urgent += u64::from(r.flags & KEY_URGENT != 0);
        self.memory_nearly_full += u64::from(r.flags & MEMORY_FULL != 0);
        self.ack_overdue += u64::from(r.flags & ACK_OVERDUE != 0);
    }
}

impl crate::Store {
    /// Registers by age of their last document: green below `yellow_after_secs`, yellow up to
    /// `red_after_secs`, red beyond; deregistered ones apart. `now` is unix seconds.
    /// A memory scan (no database access).
    pub fn liveness_counts(
        &self,
        now: u64,
        yellow_after_secs: u64,
        red_after_secs: u64,
    ) -> LivenessCounts {
        self.shared()
            .liveness_read()
            .counts(now, yellow_after_secs, red_after_secs)
    }

    /// How many registers raise each FN health alarm. A memory scan.
    pub fn health_counts(&self) -> HealthCounts {
        self.shared().liveness_read().health()
    }

    /// The liveness record of a register (by RN).
    pub fn liveness_of(&self, rn: &crate::Rn) -> Option<LivenessRecord> {
        self.shared().liveness_read().get(&LiveKey::Rn(*rn))
    }

    /// The liveness record of an FN whose register is not known yet.
    /// The liveness record of a Kazakh register.
    pub fn liveness_of_kz(&self, system_id: u32) -> Option<LivenessRecord> {
        self.shared().liveness_read().get(&LiveKey::Kz(system_id))
    }

    pub fn liveness_of_unbound_fn(&self, fn_number: &crate::FnNumber) -> Option<LivenessRecord> {
        self.shared().liveness_read().get(&LiveKey::Fn(*fn_number))
    }

    /// Approximate heap bytes of the in-memory liveness index.
    pub fn liveness_memory_bytes(&self) -> usize {
        self.shared().liveness_read().memory_bytes()
    }

    /// Number of liveness records in memory (registers plus unbound FNs).
    pub fn liveness_len(&self) -> usize {
        self.shared().liveness_read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{FnNumber, Rn};
    use crate::record::{DocFlags, Outcome};

    fn doc(received_s: u64, doc_time: u32, health: Option<FnHealth>) -> NewDocument {
        NewDocument {
            fn_number: FnNumber::new(b"1").unwrap(),
            fd: 1,
            rn: None,
            received_at_ms: received_s * 1000,
            doc_type: 21,
            ffd: 2,
            outcome: Outcome::Accepted,
            flags: DocFlags::default(),
            doc_time,
            shift: Some(3),
            health,
            settlement: None,
            raw: bytes::Bytes::new(),
            ack: bytes::Bytes::new(),
        }
    }

    #[test]
    fn apply_counts_days_and_keeps_newest_health() {
        let mut r = LivenessRecord::default();
        let h = FnHealth {
            untransmitted: 5,
            key_expiry_soon: Some(true),
            ..FnHealth::default()
        };
        r.apply(&doc(1000, 86_400 * 10 + 5, Some(h)));
        r.apply(&doc(1001, 86_400 * 10 + 6, None));
        assert_eq!((r.day, r.docs_today), (10, 2));
        // An older document resent late changes neither the day count nor the health.
        let old = FnHealth {
            untransmitted: 0,
            key_expiry_soon: Some(false),
            ..FnHealth::default()
        };
        r.apply(&doc(1002, 86_400 * 9, Some(old)));
        assert_eq!((r.day, r.docs_today, r.untransmitted), (10, 2, 5));
        assert!(r.key_expiry_soon());
        assert_eq!(r.last_received_at, 1002);
        r.apply(&doc(1003, 86_400 * 11, None));
        assert_eq!((r.day, r.docs_today), (11, 1));
        assert_eq!(LivenessRecord::decode(&r.encode()), Some(r));
    }

    #[test]
    fn counts_bucket_by_age_and_skip_deregistered() {
        let mut idx = LivenessIndex::default();
        let now = 10_000_000u64;
        let mut k = 0u64;
        for (age, dereg) in [
            (10, false),
            (86_399, false),
            (86_400, false),
            (259_200, false),
            (259_201, false),
            (5, true),
        ] {
            let mut r = LivenessRecord {
                last_doc_time: u32::try_from(now - age).unwrap(),
                ..Default::default()
            };
            r.set_deregistered(dereg);
            k += 1;
            idx.set(
                LiveKey::Rn(Rn::new(format!("{k:016}").as_bytes()).unwrap()),
                r,
            );
        }
        let c = idx.counts(now, 86_400, 259_200);
        assert_eq!(
            c,
            LivenessCounts {
                green: 2,
                yellow: 2,
                red: 1,
                deregistered: 1
            }
        );
        idx.remove(&LiveKey::Rn(Rn::new(b"0000000000000001").unwrap()));
        assert_eq!(idx.counts(now, 86_400, 259_200).green, 1);
        assert!(
            idx.get(&LiveKey::Rn(Rn::new(b"0000000000000006").unwrap()))
                .is_some()
        );
    }

    #[test]
    fn the_current_shift_sums_its_sales_and_returns() {
        let receipt = |t: u32, shift: u32, kind: u8, total: u64| NewDocument {
            doc_type: 3,
            shift: Some(shift),
            settlement: Some(crate::record::Settlement { kind, total }),
            ..doc(1000, t, None)
        };
        let mut r = LivenessRecord::default();
        r.apply(&receipt(100, 7, 1, 12_990));
        r.apply(&receipt(101, 7, 1, 1_010));
        r.apply(&receipt(102, 7, 2, 500));
        r.apply(&receipt(103, 7, 3, 999_999));
        assert_eq!((r.shift, r.shift_sales, r.shift_returns), (7, 14_000, 500));
        // Late receipts of an older shift do not count; a new shift starts from zero.
        r.apply(&receipt(90, 6, 1, 777));
        assert_eq!(r.shift_sales, 14_000);
        r.apply(&NewDocument {
            doc_type: 2,
            shift: Some(8),
            ..doc(1000, 200, None)
        });
        assert_eq!((r.shift, r.shift_sales, r.shift_returns), (8, 0, 0));
        r.apply(&receipt(201, 8, 1, 300));
        assert_eq!(LivenessRecord::decode(&r.encode()), Some(r));
        // A record written before the sums were kept reads with zero sums.
        let old = &r.encode()[..RECORD_LEN_V1];
        let back = LivenessRecord::decode(old).unwrap();
        assert_eq!(
            (back.shift, back.shift_sales, back.last_doc_time),
            (8, 0, 201)
        );
        // An FN's record merged into its register's: the same shift adds, a newer one replaces.
        let mut a = LivenessRecord::default();
        a.apply(&receipt(300, 9, 1, 100));
        let mut b = LivenessRecord::default();
        b.apply(&receipt(301, 9, 1, 50));
        a.merge(&b);
        assert_eq!(a.shift_sales, 150);
        let mut c = LivenessRecord::default();
        c.apply(&receipt(400, 10, 2, 70));
        a.merge(&c);
        assert_eq!((a.shift, a.shift_sales, a.shift_returns), (10, 0, 70));
    }
}
