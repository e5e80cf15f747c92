//! Helpers shared by the integration tests.
#![allow(dead_code)]

use ofd_store::{
    ConnectionType, DocFlags, FnHealth, FnNumber, KktStatus, NewDocument, NewKkt, Outcome, Rn,
};

pub fn fn_n(i: u64) -> FnNumber {
    FnNumber::new(format!("{:016}", 9_999_000_000_000_000u64 + i).as_bytes()).unwrap()
}

pub fn rn_n(i: u64) -> Rn {
    Rn::new(format!("{:016}", 5_000_000_000u64 + i).as_bytes()).unwrap()
}

/// Deterministic raw bytes for (fn, fd, variant): the parent of the crash test regenerates them.
pub fn raw_for(f: &FnNumber, fd: u32, variant: u8) -> Vec<u8> {
    let len = 100 + (fd as usize * 7 + usize::from(variant)) % 400;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(f.as_bytes());
    v.extend_from_slice(&fd.to_be_bytes());
    v.push(variant);
    let mut x = (u64::from(fd) * 0x9E37_79B9_7F4A_7C15) ^ u64::from(variant);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x >> 24) as u8);
    }
    v
}

pub fn doc(f: FnNumber, fd: u32, rn: Option<Rn>, doc_time: u32, variant: u8) -> NewDocument {
    NewDocument {
        fn_number: f,
        fd,
        rn,
        received_at_ms: u64::from(doc_time) * 1000,
        doc_type: 3,
        ffd: 2,
        outcome: Outcome::Accepted,
        flags: DocFlags::default(),
        doc_time,
        shift: Some(1 + fd / 10),
        health: None,
        settlement: None,
        raw: raw_for(&f, fd, variant).into(),
        ack: format!("ack-{}-{fd}", f.as_str()).into_bytes().into(),
    }
}

pub fn health(untransmitted: u32, soon: bool) -> FnHealth {
    FnHealth {
        untransmitted,
        first_untransmitted_time: 0,
        first_untransmitted_number: 0,
        key_expiry_soon: Some(soon),
        key_expiry_urgent: Some(false),
        memory_nearly_full: Some(false),
        ack_overdue: Some(false),
    }
}

/// A register as an operator registers it (SIM, base tariff, registered).
pub fn new_kkt(rn: Rn, f: Option<FnNumber>, name: &str) -> NewKkt {
    NewKkt {
        rn,
        kkt_serial: "0149060006000651".into(),
        fn_number: f,
        user_inn: "7702203276".into(),
        user_name: name.into(),
        address: "Москва".into(),
        place: "магазин".into(),
        connection: ConnectionType::Sim,
        tariff: "base".into(),
        status: KktStatus::Registered,
        encrypted: false,
    }
}
