//! What a connection does with a frame once its pipeline has settled it (both protocols).

use bytes::Bytes;

#[derive(Debug)]
pub enum Response {
    /// Write these bytes (an answer, positive or negative). Shared with the stored copy.
    Ack(Bytes),
    /// Write nothing; keep the connection (encrypted body under the silent policy).
    Silent,
    /// Write nothing and close the connection; the label says why.
    Close(&'static str),
}
