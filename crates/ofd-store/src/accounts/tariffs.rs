//! Tariff plans ("тарифный план"): the operator's staff define them (a price per register per
//! month); a register names its plan (`KktRecord::tariff`); an organisation's monthly statement
//! is its registers × days in service × price (computed by the portal from these and the
//! registry, through `Scoped`).

use serde::{Deserialize, Serialize};

use super::{get, key, scan_keys};
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::store::Store;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    /// What registers name (`tariff` in the registry): letters, digits, `-`, `_`.
    pub code: String,
    pub name: String,
    /// Kopecks per register per month.
    pub monthly_price: u64,
}

fn tariff_key(code: &str) -> Vec<u8> {
    key(b'T', &[code.as_bytes()])
}

impl Store {
    pub fn tariffs(&self) -> Result<Vec<Tariff>, StoreError> {
        let db = self.shared().db()?;
        scan_keys(&db, b"T", None, 10_000)?
            .into_iter()
            .map(|(_, v)| super::decode(&v, "tariff"))
            .collect()
    }

    pub fn tariff(&self, code: &str) -> Result<Option<Tariff>, StoreError> {
        get(&self.shared().db()?, &tariff_key(code))
    }

    /// Creates or changes a plan (the operator's staff only: callers check).
    pub fn put_tariff(&self, t: Tariff) -> StoreFuture<Tariff> {
        let ok = !t.code.is_empty()
            && t.code.len() <= 32
            && t.code
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if !ok {
            return StoreFuture::ready(Err(StoreError::InvalidInput(format!(
                "tariff code {:?}: 1 to 32 letters, digits, - or _",
                t.code
            ))));
        }
        self.accounts_tx(move |tx| {
            tx.put(&tariff_key(&t.code), &t)?;
            Ok(t)
        })
    }
}
