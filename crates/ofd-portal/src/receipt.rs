//! A stored document as a person reads it: a Russian receipt's lines, totals, VAT, payment
//! kinds and fiscal sign, read from the document's FNS JSON (the same rendering the API
//! serves), and the QR string a buyer scans (`t=…&s=…&fn=…&i=…&fp=…&n=…`).

use serde_json::{Map, Value};

use crate::format;

pub struct Item {
    pub name: String,
    pub price: Option<i64>,
    pub quantity: String,
    pub sum: Option<i64>,
    pub vat: Option<i64>,
}

/// What a receipt shows. Every field is optional: a document of another type, or one that
/// lacks a tag, still renders with what it has.
#[derive(Default)]
pub struct Receipt {
    /// The FNS JSON root (`receipt`, `openShift`, …).
    pub root: String,
    pub user: Option<String>,
    pub user_inn: Option<String>,
    pub address: Option<String>,
    pub place: Option<String>,
    pub kkt_reg_id: Option<String>,
    pub date_time: Option<u64>,
    pub operation: Option<i64>,
    pub shift: Option<i64>,
    pub request: Option<i64>,
    pub items: Vec<Item>,
    pub total: Option<i64>,
    /// (tag name, kopecks): payment kinds present.
    pub payments: Vec<(&'static str, i64)>,
    /// (tag name, kopecks): VAT sums present.
    pub vat: Vec<(&'static str, i64)>,
    pub fiscal_sign: Option<u64>,
    pub fn_number: Option<String>,
    pub fd: Option<i64>,
}

const PAYMENTS: [&str; 5] = [
    "cashTotalSum",
    "ecashTotalSum",
    "prepaidSum",
    "creditSum",
    "provisionSum",
];
const VATS: [&str; 6] = ["nds18", "nds10", "nds0", "ndsNo", "nds18118", "nds10110"];

fn str_of(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int_of(m: &Map<String, Value>, k: &str) -> Option<i64> {
    match m.get(k)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok())),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Receipt {
    /// Reads the FNS JSON of one document (`{"receipt": {…}}`).
    pub fn from_fns_json(doc: &Value) -> Option<Receipt> {
        let (root, body) = doc.as_object()?.iter().next()?;
        let body = body.as_object()?;
        let items = body
            .get("items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|it| Item {
                        name: str_of(it, "name").unwrap_or_default(),
                        price: int_of(it, "price"),
                        quantity: str_of(it, "quantity").unwrap_or_default(),
                        sum: int_of(it, "sum"),
                        vat: int_of(it, "nds"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Receipt {
            root: root.clone(),
            user: str_of(body, "user"),
            user_inn: str_of(body, "userInn"),
            address: str_of(body, "retailPlaceAddress"),
            place: str_of(body, "retailPlace"),
            kkt_reg_id: str_of(body, "kktRegId"),
            date_time: int_of(body, "dateTime").and_then(|t| u64::try_from(t).ok()),
            operation: int_of(body, "operationType"),
            shift: int_of(body, "shiftNumber"),
            request: int_of(body, "requestNumber"),
            items,
            total: int_of(body, "totalSum"),
            payments: PAYMENTS
                .iter()
                .filter_map(|k| int_of(body, k).filter(|v| *v != 0).map(|v| (*k, v)))
                .collect(),
            vat: VATS
                .iter()
                .filter_map(|k| int_of(body, k).map(|v| (*k, v)))
                .collect(),
            fiscal_sign: int_of(body, "fiscalSign").and_then(|v| u64::try_from(v).ok()),
            fn_number: str_of(body, "fiscalDriveNumber"),
            fd: int_of(body, "fiscalDocumentNumber"),
        })
    }

    /// The QR string printed on the receipt (54-FZ): `None` unless every part is present.
    pub fn qr_string(&self) -> Option<String> {
        Some(format!(
            "t={}&s={}&fn={}&i={}&fp={}&n={}",
            format::qr_time(self.date_time?),
            format::qr_sum(self.total?),
            self.fn_number.as_deref()?,
            self.fd?,
            self.fiscal_sign?,
            self.operation?
        ))
    }
}

/// The QR code of `text` as inline SVG.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(180, 180)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_receipt_and_its_qr_string() {
        let doc = serde_json::json!({"receipt": {
            "dateTime": 1_507_371_840u64, "totalSum": 12990, "cashTotalSum": 12990,
            "fiscalDriveNumber": "8710000100240299", "fiscalDocumentNumber": 40143,
            "fiscalSign": 1_324_042_032u64, "operationType": 1, "nds18": 1982,
            "items": [{"name": "Хлеб", "price": 4330, "quantity": 3, "sum": 12990, "nds": 1}]
        }});
        let r = Receipt::from_fns_json(&doc).expect("a receipt");
        assert_eq!(r.items.len(), 1);
        assert_eq!(r.items[0].name, "Хлеб");
        assert_eq!(r.payments, vec![("cashTotalSum", 12990)]);
        assert_eq!(
            r.qr_string().as_deref(),
            Some("t=20171007T1024&s=129.90&fn=8710000100240299&i=40143&fp=1324042032&n=1")
        );
        assert!(
            qr_svg(&r.qr_string().unwrap())
                .unwrap()
                .starts_with("<?xml")
        );
    }
}
