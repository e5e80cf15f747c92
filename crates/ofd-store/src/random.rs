//! Random bytes from the operating system (the `getrandom` crate), for credential secrets and
//! salts.

use crate::error::StoreError;

pub(crate) fn fill(buf: &mut [u8]) -> Result<(), StoreError> {
    getrandom::fill(buf)
        .map_err(|e| StoreError::Internal(format!("no random bytes from the OS: {e}")))
}
