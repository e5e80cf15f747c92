//! A daemon in miniature for tests: keeps one register's state and its last answer, applies
//! decisions the way the daemon must (persist, then send; a retry resends the stored bytes).

#![allow(dead_code)]

use ofd_kz::builder::Kkm;
use ofd_kz::kkm;
use ofd_kz::time::LocalDateTime;
use ofd_kz::{Decision, Input, Policy, RegInfo, RegisterFacts, decide, split_frame};

pub const ID: u32 = 22_656;
pub const TOKEN: u32 = 0x1234_5678;
/// 2023-11-14T22:13:20Z.
pub const NOW: u64 = 1_700_000_000;

pub fn local(now: u64) -> LocalDateTime {
    LocalDateTime::from_unix(now, 5 * 3600)
}

pub fn reg() -> RegInfo {
    RegInfo {
        registration_number: "010101012345".into(),
        serial_number: "SN-1".into(),
        kkm_id: ID.to_string(),
        org_title: "ТОО Ромашка".into(),
        org_inn: "123456789012".into(),
        pos_title: "Магазин".into(),
        ..RegInfo::default()
    }
}

pub struct Server {
    pub facts: Option<RegisterFacts>,
    pub stored: Option<Vec<u8>>,
    pub policy: Policy,
    pub now: u64,
    pub store_available: bool,
    pub next_token: u32,
    pub events: Vec<ofd_kz::Event>,
}

impl Server {
    pub fn new() -> Server {
        Server {
            facts: Some(RegisterFacts::new(reg(), TOKEN)),
            stored: None,
            policy: Policy::default(),
            now: NOW,
            store_available: true,
            next_token: 1000,
            events: Vec::new(),
        }
    }

    /// Feed one frame; returns the decision and the bytes sent.
    pub fn exchange(&mut self, frame: &[u8]) -> (Decision, Vec<u8>) {
        let (header, body) = split_frame(frame).expect("test frames are well-formed");
        self.next_token = self.next_token.wrapping_mul(2_654_435_761).wrapping_add(7);
        let d = decide(&Input {
            header,
            body,
            register: self.facts.as_ref(),
            policy: &self.policy,
            now: self.now,
            store_available: self.store_available,
            fresh_token: self.next_token,
        });
        let sent = match &d {
            Decision::Retry => self.stored.clone().expect("a retry has a stored answer"),
            Decision::Answer(a) => {
                if let Some(state) = &a.state {
                    self.facts = Some(state.clone());
                    self.stored = Some(a.bytes.clone());
                }
                self.events.extend(a.events.iter().cloned());
                a.bytes.clone()
            }
        };
        (d, sent)
    }

    /// Send `req` as `kkm`'s next request, follow a rotated token, return the decoded answer.
    pub fn call(&mut self, kkm: &mut Kkm, req: &kkm::Request) -> kkm::Response {
        let frame = kkm.frame(req);
        let (_, sent) = self.exchange(&frame);
        let (h, resp) = ofd_kz::codec::decode_response(&sent).expect("answers decode");
        assert_eq!((h.id, h.reqnum), (kkm.id, kkm.reqnum));
        assert_eq!(
            resp.command, req.command,
            "the answer carries the request's command"
        );
        kkm.accept(&h);
        resp
    }

    pub fn facts(&self) -> &RegisterFacts {
        self.facts.as_ref().expect("registered")
    }
}

pub fn code(resp: &kkm::Response) -> u32 {
    resp.result.result_code
}
