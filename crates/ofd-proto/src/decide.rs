//! What a framed FN–OFD message gets, as a value.
//!
//! [`decide`] is the operator's whole judgement of one message: parse, format-logic control,
//! admission by the FN's standing in the registry, and the answer's code and target. It reads
//! no clock and touches no store (quinn-proto style): the daemon performs the [`Decision`]
//! (store, audit, answer, close) and every fuzz target calls this very function, so the fuzzer
//! tests the code that runs, not a copy of it.
//!
//! Encrypted bodies take two steps, because decryption is the daemon's business (a module of the
//! FN's vendor): [`Decision::Decrypt`] hands the message back; the daemon decides the plaintext
//! with [`decide_message`], or, when nothing can decrypt it, asks [`keep_encrypted`].

use crate::ack::{AckTarget, ResponseCode};
use crate::doctype::DocType;
use crate::error::{Disposition, ProtoError};
use crate::framing::FrameLimits;
use crate::message::{Message, parse_message_with};
use crate::validate::{Document, ValidationConfig, validate};

/// What the registry says about the FN a message comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FnStanding {
    /// No register is bound to this FN.
    Unknown,
    /// Bound to a register in service; `encrypted`: its FN encrypts documents.
    Registered { encrypted: bool },
    /// Bound to a deregistered register.
    Deregistered { encrypted: bool },
}

impl FnStanding {
    fn encrypted(self) -> bool {
        matches!(
            self,
            FnStanding::Registered { encrypted: true }
                | FnStanding::Deregistered { encrypted: true }
        )
    }
}

/// The operator's policy for validation and admission.
#[derive(Clone, Debug)]
pub struct Policy {
    pub validation: ValidationConfig,
    /// Store and acknowledge documents of FNs bound to no register (otherwise refuse them).
    pub accept_unknown_fn: bool,
    /// The code a refused document gets.
    pub refuse_code: ResponseCode,
    /// Acknowledge (code 0) an encrypted body nothing could decrypt, instead of staying silent.
    pub acknowledge_encrypted: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            validation: ValidationConfig::default(),
            accept_unknown_fn: true,
            refuse_code: ResponseCode::FormatLogic,
            acknowledge_encrypted: false,
        }
    }
}

/// Why a message is answered with a code other than 0 and kept in the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Format-logic control failed, or the content is unrecognisable (codes 14 and 11).
    Invalid(ProtoError),
    /// The register is deregistered.
    Deregistered,
    /// No register is bound to the FN and unknown FNs are refused.
    UnknownFn,
}

impl Refusal {
    /// The metric label of the result: `rejected` (invalid) or `refused` (admission).
    pub fn result(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "rejected",
            Refusal::Deregistered | Refusal::UnknownFn => "refused",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Invalid(e) => e.fmt(f),
            Refusal::Deregistered => f.write_str("register is deregistered"),
            Refusal::UnknownFn => f.write_str("FN is not bound to a registered KKT"),
        }
    }
}

/// What to do with one framed message. It lives on the stack for one call: boxing the large
/// `Accept` would put an allocation on every message.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Decision<'a> {
    /// Store the document; once it is durable, acknowledge it with code 0.
    Accept { msg: Message<'a>, doc: Document<'a> },
    /// Keep the message in the audit log; once that is durable, answer `code` to `target`.
    Refuse {
        target: AckTarget,
        code: ResponseCode,
        /// The FD the message names (from the container header).
        fd: u32,
        /// The document type, when the headers named a known one.
        doc_type: Option<DocType>,
        why: Refusal,
    },
    /// Store the encrypted body as received; once durable, acknowledge with code 0 if
    /// `acknowledge`, else say nothing (the FN keeps the document and resends it).
    KeepEncrypted { msg: Message<'a>, acknowledge: bool },
    /// The FN is registered with encryption and the body is not a document: decrypt it, then
    /// [`decide_message`] the plaintext (or [`keep_encrypted`] when it cannot be decrypted).
    Decrypt {
        msg: Message<'a>,
        standing: FnStanding,
    },
    /// Nothing can be answered (broken framing, headers that cannot be addressed): close.
    Close(ProtoError),
}

/// Decide one whole frame (as [`crate::framing::check_frame`] delimited it). `standing` is asked
/// once, with the session header's FN, after the headers parse.
pub fn decide<'a>(
    frame: &'a [u8],
    limits: &FrameLimits,
    standing: impl FnOnce(&[u8; 16]) -> FnStanding,
    policy: &Policy,
    now: u32,
) -> Decision<'a> {
    let msg = match parse_message_with(frame, limits) {
        Ok(m) => m,
        Err(e) => return unparsed(frame, e),
    };
    let standing = standing(&msg.session.fn_number);
    if standing.encrypted() && msg.document().is_err() {
        return Decision::Decrypt { msg, standing };
    }
    decide_message(msg, standing, policy, now)
}

/// Decide a parsed message (a plaintext one after decryption too): format-logic control, then
/// admission.
pub fn decide_message<'a>(
    msg: Message<'a>,
    standing: FnStanding,
    policy: &Policy,
    now: u32,
) -> Decision<'a> {
    let doc = match validate(&msg, &policy.validation, now) {
        Ok(doc) => doc,
        Err(e) => {
            return match e.disposition() {
                Disposition::Nack(code) => refuse(&msg, code, Refusal::Invalid(e)),
                Disposition::Close => Decision::Close(e),
            };
        }
    };
    match admission(standing, policy) {
        Some(why) => refuse(&msg, policy.refuse_code, why),
        None => Decision::Accept { msg, doc },
    }
}

/// An encrypted body nothing could decrypt: refused by admission, or kept as it is.
pub fn keep_encrypted<'a>(msg: Message<'a>, standing: FnStanding, policy: &Policy) -> Decision<'a> {
    match admission(standing, policy) {
        Some(why) => refuse(&msg, policy.refuse_code, why),
        None => Decision::KeepEncrypted {
            msg,
            acknowledge: policy.acknowledge_encrypted,
        },
    }
}

fn admission(standing: FnStanding, policy: &Policy) -> Option<Refusal> {
    match standing {
        FnStanding::Deregistered { .. } => Some(Refusal::Deregistered),
        FnStanding::Unknown if !policy.accept_unknown_fn => Some(Refusal::UnknownFn),
        _ => None,
    }
}

fn refuse<'a>(msg: &Message<'a>, code: ResponseCode, why: Refusal) -> Decision<'a> {
    Decision::Refuse {
        target: AckTarget::from(msg),
        code,
        fd: msg.container.fd_number,
        doc_type: Some(msg.doc_type),
        why,
    }
}

/// The message did not parse. Broken framing closes; intact headers with unrecognisable content
/// get their code (11) at the address the headers give.
fn unparsed(frame: &[u8], e: ProtoError) -> Decision<'_> {
    match (e.disposition(), AckTarget::from_frame(frame)) {
        (Disposition::Nack(code), Some(target)) => Decision::Refuse {
            fd: target.fd_number,
            target,
            code,
            doc_type: None,
            why: Refusal::Invalid(e),
        },
        _ => Decision::Close(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{DocSpec, KktIdentity, build_message};

    const NOW: u32 = 1_700_000_000;

    fn message(fd: u32, time: u32) -> Vec<u8> {
        let mut out = Vec::new();
        build_message(
            &KktIdentity::generate(1),
            &DocSpec::new(DocType::Receipt, fd, time),
            &mut out,
        )
        .unwrap();
        out
    }

    fn receipt() -> Vec<u8> {
        message(1, NOW - 60)
    }

    #[test]
    fn a_valid_receipt_is_accepted_unless_admission_refuses_it() {
        let frame = receipt();
        let limits = FrameLimits::default();
        let policy = Policy::default();
        let registered = FnStanding::Registered { encrypted: false };
        assert!(matches!(
            decide(&frame, &limits, |_| registered, &policy, NOW),
            Decision::Accept { .. }
        ));
        assert!(matches!(
            decide(&frame, &limits, |_| FnStanding::Unknown, &policy, NOW),
            Decision::Accept { .. }
        ));
        let strict = Policy {
            accept_unknown_fn: false,
            refuse_code: ResponseCode::from_u8(3),
            ..Policy::default()
        };
        match decide(&frame, &limits, |_| FnStanding::Unknown, &strict, NOW) {
            Decision::Refuse { code, why, fd, .. } => {
                assert_eq!((code.as_u8(), why, fd), (3, Refusal::UnknownFn, 1));
            }
            other => panic!("{other:?}"),
        }
        let gone = FnStanding::Deregistered { encrypted: false };
        match decide(&frame, &limits, |_| gone, &policy, NOW) {
            Decision::Refuse { why, .. } => assert_eq!(why, Refusal::Deregistered),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_and_invalid_messages_close_or_get_their_code() {
        let limits = FrameLimits::default();
        let policy = Policy::default();
        let mut frame = receipt();
        frame[0] ^= 0xFF; // session signature
        assert!(matches!(
            decide(&frame, &limits, |_| FnStanding::Unknown, &policy, NOW),
            Decision::Close(_)
        ));
        // A document dated far in the future fails control: 14 at the message's address.
        let future = message(2, NOW + 10 * 86_400);
        match decide(&future, &limits, |_| FnStanding::Unknown, &policy, NOW) {
            Decision::Refuse { code, why, fd, .. } => {
                assert_eq!((code, fd), (ResponseCode::FormatLogic, 2));
                assert_eq!(why.result(), "rejected");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_encrypted_register_hands_non_documents_to_the_decryptor() {
        let frame = receipt();
        let limits = FrameLimits::default();
        let policy = Policy::default();
        let enc = FnStanding::Registered { encrypted: true };
        // A plaintext document of an encrypting FN still decides as usual.
        assert!(matches!(
            decide(&frame, &limits, |_| enc, &policy, NOW),
            Decision::Accept { .. }
        ));
        let msg = crate::message::parse_message(&frame).unwrap();
        let garbled = Message {
            payload: &[0x5A; 40],
            ..msg
        };
        assert!(matches!(
            keep_encrypted(garbled, enc, &policy),
            Decision::KeepEncrypted {
                acknowledge: false,
                ..
            }
        ));
        assert!(matches!(
            keep_encrypted(
                garbled,
                FnStanding::Deregistered { encrypted: true },
                &policy
            ),
            Decision::Refuse { .. }
        ));
    }
}
