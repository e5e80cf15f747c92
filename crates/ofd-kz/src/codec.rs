//! Whole messages: header + protobuf body, in both directions.
//!
//! Decoding takes exactly one frame (what [`crate::framing::check_frame`] delimited). prost
//! allocates while decoding — unlike the header, the protobuf body is not zero-copy — and never
//! panics on arbitrary bytes (proptest `arbitrary_bytes_never_panic`).

use prost::Message;

use crate::error::KzError;
use crate::framing::split_frame;
use crate::header::{HEADER_LEN, Header};
use crate::kkm;

/// Why a whole message could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The header or the frame length is wrong: close the connection.
    #[error(transparent)]
    Frame(#[from] KzError),
    /// The body is not a valid protobuf message of the expected type: code 3.
    #[error("undecodable protobuf body: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// `header` (its SIZE replaced by the real one) followed by `body` encoded. `None` only if the
/// message would exceed 4 GiB, which no prost message built here can.
pub fn encode_frame(header: Header, body: &impl Message) -> Option<Vec<u8>> {
    let len = body.encoded_len();
    let header = header.answer(header.token, len)?;
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&header.encode());
    body.encode(&mut out).ok()?;
    Some(out)
}

/// A register's request as bytes. `header.size` is ignored (computed).
pub fn encode_request(header: Header, request: &kkm::Request) -> Option<Vec<u8>> {
    encode_frame(header, request)
}

/// A server answer as bytes. `header.size` is ignored (computed).
pub fn encode_response(header: Header, response: &kkm::Response) -> Option<Vec<u8>> {
    encode_frame(header, response)
}

/// One whole request frame → header and request.
pub fn decode_request(frame: &[u8]) -> Result<(Header, kkm::Request), DecodeError> {
    let (header, body) = split_frame(frame)?;
    Ok((header, kkm::Request::decode(body)?))
}

/// One whole answer frame → header and response.
pub fn decode_response(frame: &[u8]) -> Result<(Header, kkm::Response), DecodeError> {
    let (header, body) = split_frame(frame)?;
    Ok((header, kkm::Response::decode(body)?))
}
