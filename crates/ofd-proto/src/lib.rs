//! # ofd-proto — the FN–OFD wire protocol, sans IO
//!
//! Owns everything about the bytes a fiscal drive (FN) exchanges with a fiscal data operator
//! (OFD): the 30-byte session header and its CRC modes, incremental framing of a byte stream,
//! the 32-byte container header, the zero-copy TLV/STLV document tree, the FFD tag dictionary,
//! format-logic control (ФЛК), the operator acknowledgement (document 7) and a builder of valid
//! messages for tests, benches, fuzzing and load generation.
//!
//! It must not do I/O, spawn, lock, or read a clock: bytes and "now" come in as values, results
//! go out as values. That keeps it deterministic, fuzzable and benchmarkable, and lets the daemon
//! (`ofdd`) stay a thin tokio layer over it. Parsing and validating a message never allocates.
//!
//! The data path, in module order:
//! [`framing`] (is a whole frame buffered?) → [`message`] (session + container headers, CRCs,
//! borrowed document) → [`validate`] (ФЛК against [`dict`] and [`forms`]) → [`decide`] (what the
//! message gets: accept, refuse with a code, keep encrypted, close — as a value) → [`ack`] (the
//! answer, by an [`ack::AckEncoder`] built once).

pub mod ack;
pub mod builder;
pub mod checks;
pub mod container;
pub mod crc;
pub mod decide;
pub mod dict;
pub mod doctype;
pub mod error;
pub mod forms;
pub mod framing;
pub mod json;
pub mod message;
pub mod session;
pub mod sign;
pub mod tlv;
pub mod validate;
pub mod value;
