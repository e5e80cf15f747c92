//! Random bytes from the kernel (`getrandom(2)`), for credential secrets and salts.
//!
//! The store needs only a few dozen random bytes per issued credential, so it asks the kernel
//! directly instead of pulling in a random-number crate.

use crate::error::StoreError;

pub(crate) fn fill(buf: &mut [u8]) -> Result<(), StoreError> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length describe `rest`, a live, writable byte slice.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(StoreError::InvalidInput(format!("getrandom failed: {err}")));
        }
        done += usize::try_from(n).unwrap_or(0);
    }
    Ok(())
}
