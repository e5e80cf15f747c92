//! Encrypted documents. An FN registered with encryption (tag 1056 = 1) sends its documents
//! encrypted for the operator's certified crypto module; without that module the daemon cannot
//! read them. They are stored raw and counted either way; whether the FN gets an acknowledgement
//! is the operator's policy (default: no, so the FN keeps the document until it can be read).
//!
//! A certified module plugs in through [`Decryptor`]: given the container payload it returns the
//! plaintext (the document TLV and the trailing message sign), which then takes the normal path.

/// Why a payload could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error("no decryptor is installed (the operator's certified crypto module is required)")]
    Unavailable,
    #[error("decryption failed: {0}")]
    Failed(String),
}

pub trait Decryptor: Send + Sync {
    /// `fn_number` is the 16 ASCII bytes of the session header; `payload` the container bytes
    /// after its 32-byte header.
    fn decrypt(&self, fn_number: &[u8; 16], payload: &[u8]) -> Result<Vec<u8>, DecryptError>;
}

/// The default: nothing can be decrypted.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDecryptor;

impl Decryptor for NoDecryptor {
    fn decrypt(&self, _fn_number: &[u8; 16], _payload: &[u8]) -> Result<Vec<u8>, DecryptError> {
        Err(DecryptError::Unavailable)
    }
}
