//! A builder of valid, realistic, deterministic messages of every document type.
//!
//! Tests, benches, fuzz seeds and the load generator (≈100k documents/s) all need messages that a
//! real FN could have sent: correct CRCs in the chosen session CRC mode, the FN number in both
//! ASCII and BCD, an RN whose check digits match the user INN and KKT serial, every mandatory tag
//! of the document type and FFD version, CP866 names, and receipts whose item sums, VAT and totals
//! add up. [`build_message`] writes straight into a caller-owned buffer (reuse it: a message is
//! built with no allocation beyond the buffer's growth), and the same inputs always give the same
//! bytes.
//!
//! The builder does not police odd combinations (an FFD 1.0 marking document is built as asked);
//! [`crate::validate`] is the judge. For an FN registered with encryption (1056 = 1) it can also
//! produce an "encrypted" body: the plain payload XORed with a keystream derived from FN and FD.
//! That is **not** the FN's cipher, just opaque bytes of a realistic size for exercising the
//! daemon's encrypted path.

use crate::checks::{make_inn, make_rn};
use crate::container::{CONTAINER_VERSION, ContainerHeader, REQUEST_MESSAGE_TYPE, ascii_to_bcd};
use crate::doctype::{DocType, FfdVersion};
use crate::error::ProtoError;
use crate::message::{begin_message, finish_message};
use crate::session::{CrcMode, Flags, SessionHeader};
use crate::tlv::{begin_stlv, end_stlv, write_tlv};
use crate::value::vln_bytes;

/// Who is sending: the register, its FN and its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KktIdentity {
    /// FN number, 16 ASCII digits (or 15 and a space for a test drive).
    pub fn_number: [u8; 16],
    /// Registration number, 16 digits with valid check digits.
    pub rn: [u8; 16],
    /// User (taxpayer) INN, 10 or 12 digits.
    pub user_inn: Vec<u8>,
    /// KKT serial number (1013), up to 20 ASCII characters.
    pub kkt_serial: Vec<u8>,
    pub user_name: String,
    pub address: String,
    pub place: String,
    pub cashier: String,
    /// The operator's INN written in registration reports (1017).
    pub operator_inn: Vec<u8>,
}

impl KktIdentity {
    /// A valid, deterministic identity for `seed`: FN `9960…`, an INN with correct check digits
    /// (a 12-digit individual's INN for every third seed), an RN matching INN and serial.
    pub fn generate(seed: u64) -> KktIdentity {
        let mut fn_number = *b"9960000000000000";
        write_digits(&mut fn_number[4..], seed % 1_000_000_000_000);
        let user_inn = make_inn(mix(seed ^ 0x5EED), seed.is_multiple_of(3));
        let mut serial = *b"0000000000000000";
        write_digits(&mut serial[4..], mix(seed) % 1_000_000_000_000);
        let kkt_serial = serial.to_vec();
        // make_rn only fails for a sequence ≥ 10^10, an INN > 12 or a serial > 20 characters.
        let rn = make_rn(seed % 10_000_000_000, &user_inn, &kkt_serial).unwrap_or([b'0'; 16]);
        KktIdentity {
            fn_number,
            rn,
            user_inn,
            kkt_serial,
            user_name: format!("ООО \"Ромашка-{}\"", seed % 100_000),
            address: format!(
                "г. Москва, ул. Тверская, д. {}, стр. {}",
                seed % 200 + 1,
                seed % 7 + 1
            ),
            place: format!("Магазин №{}", seed % 1000 + 1),
            cashier: "Кассир Иванова А. В.".to_owned(),
            operator_inn: b"7704358518".to_vec(),
        }
    }
}

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocSpec {
    pub doc_type: DocType,
    /// FFD version: decides tag 1209, the P-version and which FFD 1.05+ tags are written.
    pub ffd: FfdVersion,
    /// FD number (tag 1040 and the container), < 2^24.
    pub fd_number: u32,
    /// Document time (1012).
    pub time: u32,
    /// Shift number (1038).
    pub shift: u32,
    /// Items (1059) in receipts and БСО (and FFD 1.2 corrections; at least one in FFD 1.2).
    pub items: u16,
    /// Registration reports: write 1056 = 1. Other documents: an opaque body instead of the TLV.
    pub encrypted: bool,
    /// Session CRC mode.
    pub crc_mode: CrcMode,
    /// Untransmitted documents reported in 21 and 5 (1097; 1098 and 1116 follow from it).
    pub untransmitted: u32,
}

impl DocSpec {
    /// FFD 1.05, shift 1, 3 items, plain, no session CRC (flags `0x0014`, as real registers
    /// send), nothing pending.
    pub fn new(doc_type: DocType, fd_number: u32, time: u32) -> DocSpec {
        DocSpec {
            doc_type,
            ffd: FfdVersion::V1_05,
            fd_number,
            time,
            shift: 1,
            items: 3,
            encrypted: false,
            crc_mode: CrcMode::None,
            untransmitted: 0,
        }
    }
}

/// Append one whole message for `spec` from `id` to `out`. On error nothing is appended (the only
/// errors: an FD number ≥ 2^24, too many items for a 65535-byte body, an FN that is not digits).
pub fn build_message(
    id: &KktIdentity,
    spec: &DocSpec,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    let fn_bcd = ascii_to_bcd(&id.fn_number)?;
    let start = begin_message(out);
    let payload_start = out.len();
    let seed = mix(u64::from(spec.fd_number) ^ fold(&id.fn_number));
    let doc = begin_stlv(out, u16::from(spec.doc_type.as_u8()));
    write_document(id, spec, seed, out);
    let doc_len = out.len() - doc;
    if doc_len > usize::from(u16::MAX) {
        out.truncate(start);
        return Err(ProtoError::Overflow {
            what: "document length",
            value: doc_len as u64,
            max: 65535,
        });
    }
    end_stlv(out, doc);
    // Trailer: 10 bytes where real messages carry the message fiscal sign.
    out.extend_from_slice(&mix(seed ^ 1).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    if spec.encrypted && !spec.doc_type.is_registration() {
        let mut ks = seed ^ 0xC1FE_C1FE;
        for chunk in out
            .get_mut(payload_start..)
            .unwrap_or_default()
            .chunks_mut(8)
        {
            ks = mix(ks);
            for (b, k) in chunk.iter_mut().zip(ks.to_le_bytes()) {
                *b ^= k;
            }
        }
    }
    let session = SessionHeader {
        p_version: spec.ffd.p_version(),
        fn_number: id.fn_number,
        body_len: 0,
        flags: Flags::new(spec.crc_mode),
        crc: 0,
    };
    let container = ContainerHeader {
        len: 0,
        crc: 0,
        message_type: REQUEST_MESSAGE_TYPE,
        doc_type: spec.doc_type.as_u8(),
        version: CONTAINER_VERSION,
        service1: [0x10, 0x09],
        fn_bcd,
        fd_number: spec.fd_number,
        service2: [0; 12],
    };
    finish_message(out, start, &session, &container)
}

fn write_document(id: &KktIdentity, spec: &DocSpec, seed: u64, out: &mut Vec<u8>) {
    use DocType::*;
    if spec.doc_type == OperatorAck {
        // Not a fiscal document: none of the common head below, no ФПД.
        return write_operator_ack(id, spec, seed, out);
    }
    if spec.doc_type.is_marking() {
        // FFD 1.2 marking exchange: its own tables, no common head (no 1209, no 1040).
        return write_marking(id, spec, seed, out);
    }
    let modern = spec.ffd != FfdVersion::V1_0;
    let v12 = spec.ffd == FfdVersion::V1_2;
    // Common head: FFD version, identifiers, number, time, shift.
    if modern {
        write_byte(out, 1209, spec.ffd.tag_value());
    }
    write_tlv(out, 1041, &id.fn_number);
    write_tlv(out, 1040, &spec.fd_number.to_le_bytes());
    write_tlv(out, 1012, &spec.time.to_le_bytes());
    write_padded(out, 1037, &id.rn, 20);
    write_padded(out, 1018, &id.user_inn, 12);
    match spec.doc_type {
        Registration | RegistrationChange => {
            if modern {
                if !v12 {
                    write_byte(out, 1221, 0);
                }
                write_tlv(out, 1188, b"3.0");
                write_byte(out, 1189, spec.ffd.tag_value());
                write_tlv(out, 1013, &id.kkt_serial);
                write_cp866(out, 1187, &id.place);
            }
            write_cp866(out, 1048, &id.user_name);
            write_cp866(out, 1009, &id.address);
            write_byte(out, 1062, 0b0000_0001);
            write_byte(out, 1002, 0);
            if v12 {
                // FFD 1.2 (table 87): the 1290 bit field replaces 1108/1109/1110/1221.
                write_tlv(out, 1290, &0u32.to_le_bytes());
                write_byte(out, 1190, spec.ffd.tag_value());
                write_tlv(out, 1213, &KEY_RESOURCE_DAYS.to_le_bytes());
            } else {
                write_byte(out, 1110, 0);
                write_byte(out, 1109, 0);
            }
            write_byte(out, 1056, u8::from(spec.encrypted));
            write_byte(out, 1001, 0);
            if !v12 {
                write_byte(out, 1108, 0);
            }
            write_cp866(out, 1021, &id.cashier);
            write_padded(out, 1017, &id.operator_inn, 12);
            write_tlv(out, 1046, b"OOO TAXCOM");
            write_tlv(out, 1060, b"www.nalog.gov.ru");
            if spec.doc_type == RegistrationChange {
                if matches!(spec.ffd, FfdVersion::V1_0 | FfdVersion::V1_05) {
                    write_byte(out, 1101, 1);
                } else {
                    write_tlv(out, 1205, &(1u32 << 3).to_le_bytes());
                }
            }
        }
        ShiftOpen => {
            write_tlv(out, 1038, &spec.shift.to_le_bytes());
            write_cp866(out, 1048, &id.user_name);
            write_cp866(out, 1009, &id.address);
            write_cp866(out, 1021, &id.cashier);
            if modern {
                write_cp866(out, 1187, &id.place);
            }
            if v12 {
                write_tlv(out, 1188, b"3.0");
                write_byte(out, 1189, spec.ffd.tag_value());
            }
        }
        CurrentState => {
            write_tlv(out, 1038, &spec.shift.to_le_bytes());
            write_byte(out, 1002, 0);
            write_untransmitted(out, spec);
            if v12 {
                write_tlv(out, 1213, &KEY_RESOURCE_DAYS.to_le_bytes());
                write_counters(out, 1157, seed);
            }
        }
        ShiftClose => {
            write_tlv(out, 1038, &spec.shift.to_le_bytes());
            write_cp866(out, 1021, &id.cashier);
            let receipts = u32::try_from(seed % 200).unwrap_or(0);
            write_tlv(out, 1118, &receipts.to_le_bytes());
            write_tlv(out, 1111, &(receipts + 2).to_le_bytes());
            write_untransmitted(out, spec);
            write_byte(out, 1053, 0);
            write_byte(out, 1051, 0);
            write_byte(out, 1052, 0);
            write_byte(out, 1050, 0);
            if v12 {
                write_tlv(out, 1213, &KEY_RESOURCE_DAYS.to_le_bytes());
                write_counters(out, 1194, seed);
                write_counters(out, 1157, seed ^ 1);
            }
        }
        FnClose => {
            write_cp866(out, 1048, &id.user_name);
            write_cp866(out, 1009, &id.address);
            write_cp866(out, 1021, &id.cashier);
            if modern {
                write_cp866(out, 1187, &id.place);
            }
            if v12 {
                write_tlv(out, 1038, &spec.shift.to_le_bytes());
                write_counters(out, 1157, seed);
            }
        }
        Receipt | Bso | ReceiptCorrection | BsoCorrection => write_receipt(id, spec, seed, out),
        OperatorAck
        | MarkingRequest
        | MarkingNotification
        | MarkingResponse
        | MarkingNotificationReceipt => {}
    }
    // Fiscal sign of the document (ФПД), 6 bytes.
    write_tlv(out, 1077, &mix(seed ^ 2).to_be_bytes()[..6]);
}

/// Document 7 as a production operator writes it (`crate::ack`): 1017, 1078 (`88 06` + 6 bytes),
/// 1041, 1040, 1012, 1068 {1022 = 0}.
fn write_operator_ack(id: &KktIdentity, spec: &DocSpec, seed: u64, out: &mut Vec<u8>) {
    write_padded(out, 1017, &id.operator_inn, 12);
    let mut fpo = [0x88, 0x06, 0, 0, 0, 0, 0, 0];
    fpo[2..].copy_from_slice(&mix(seed ^ 7).to_le_bytes()[..6]);
    write_tlv(out, 1078, &fpo);
    write_tlv(out, 1041, &id.fn_number);
    write_tlv(out, 1040, &spec.fd_number.to_le_bytes());
    write_tlv(out, 1012, &spec.time.to_le_bytes());
    let msg = begin_stlv(out, 1068);
    write_byte(out, 1022, 0);
    end_stlv(out, msg);
}

/// Days of FN key resource reported in FFD 1.2 documents (1213).
const KEY_RESOURCE_DAYS: u16 = 410;

/// A counters STLV (1157 FN totals, 1194 shift totals): the receipt count and the "income"
/// operation counters.
fn write_counters(out: &mut Vec<u8>, tag: u16, seed: u64) {
    let receipts = u32::try_from(seed % 5_000).unwrap_or(0);
    let counters = begin_stlv(out, tag);
    write_tlv(out, 1134, &receipts.to_le_bytes());
    let income = begin_stlv(out, 1129);
    write_tlv(out, 1135, &receipts.to_le_bytes());
    write_vln(out, 1136, seed % 10_000_000);
    end_stlv(out, income);
    end_stlv(out, counters);
}

/// The FFD 1.2 marking documents by their own tables (FFD 1.2 tables 127–133): 81 request and
/// 83 answer about a marking code, 82 notification of a sale and 84 its receipt. None carries
/// 1209 or 1040; 1012 only 82 and 84; 1041 only 81 and 82; the ФПД only 81 and 82.
fn write_marking(id: &KktIdentity, spec: &DocSpec, seed: u64, out: &mut Vec<u8>) {
    use DocType::*;
    let number = spec.fd_number.to_le_bytes();
    match spec.doc_type {
        MarkingRequest => {
            write_tlv(out, 2001, &number);
            write_padded(out, 1018, &id.user_inn, 12);
            write_tlv(out, 2114, &spec.time.to_le_bytes());
            write_tlv(out, 1041, &id.fn_number);
            write_byte(out, 2004, 0b1111);
            write_byte(out, 2003, 1);
            write_byte(out, 2100, 5);
            write_marking_code(out, seed);
            write_byte(out, 2102, 0);
            write_tlv(out, 1023, &[0, 1]);
            write_byte(out, 2108, 0);
        }
        MarkingNotification => {
            write_tlv(out, 2002, &number);
            write_tlv(out, 1012, &spec.time.to_le_bytes());
            write_tlv(out, 1041, &id.fn_number);
            write_padded(out, 1018, &id.user_inn, 12);
            write_byte(out, 1055, 0b0000_0001);
            write_byte(out, 1054, 1);
            write_byte(out, 2116, 0);
            for i in 0..spec.items.max(1) {
                let item = begin_stlv(out, 2007);
                write_marking_code(out, seed ^ u64::from(i));
                write_byte(out, 2100, 5);
                write_byte(out, 2102, 0);
                write_byte(out, 2110, 2);
                write_byte(out, 2106, 0);
                write_byte(out, 1214, 4);
                write_cp866(out, 1030, "Молоко 3,2 %");
                write_vln(out, 1079, 8_990);
                write_tlv(out, 1023, &[0, 1]);
                write_vln(out, 1043, 8_990);
                write_byte(out, 1199, 2);
                write_vln(out, 1200, 817);
                end_stlv(out, item);
            }
        }
        MarkingResponse => {
            write_tlv(out, 2001, &number);
            write_tlv(out, 2114, &spec.time.to_le_bytes());
            write_byte(out, 2105, 0);
            write_byte(out, 2005, 0b1111);
            write_byte(out, 2109, 1);
        }
        MarkingNotificationReceipt => {
            write_tlv(out, 2002, &number);
            write_tlv(out, 1012, &spec.time.to_le_bytes());
            write_byte(out, 2111, 0);
            write_byte(out, 2006, 0);
        }
        _ => {}
    }
    if matches!(spec.doc_type, MarkingRequest | MarkingNotification) {
        write_tlv(out, 1077, &mix(seed ^ 2).to_be_bytes()[..6]);
    }
}

fn write_untransmitted(out: &mut Vec<u8>, spec: &DocSpec) {
    let (time, number) = if spec.untransmitted == 0 {
        (0, 0)
    } else {
        (
            spec.time.saturating_sub(3600),
            spec.fd_number.saturating_sub(spec.untransmitted).max(1),
        )
    };
    write_tlv(out, 1097, &spec.untransmitted.to_le_bytes());
    write_tlv(out, 1098, &time.to_le_bytes());
    write_tlv(out, 1116, &number.to_le_bytes());
}

fn write_marking_code(out: &mut Vec<u8>, seed: u64) {
    let mut code = *b"010460406000590021N4N57RSCBUZTQ\x1d2403004002910161218\x1d1724010191ffd0";
    write_digits(&mut code[2..16], mix(seed) % 100_000_000_000_000);
    write_tlv(out, 2000, &code);
}

/// Items with name, price, quantity, VAT; then totals that add up.
fn write_receipt(id: &KktIdentity, spec: &DocSpec, seed: u64, out: &mut Vec<u8>) {
    let modern = spec.ffd != FfdVersion::V1_0;
    let correction = spec.doc_type.is_correction();
    write_tlv(out, 1038, &spec.shift.to_le_bytes());
    write_tlv(out, 1042, &(spec.fd_number % 10_000).max(1).to_le_bytes());
    write_byte(out, 1054, 1); // income
    write_byte(out, 1055, 0b0000_0001); // general taxation system
    write_cp866(out, 1021, &id.cashier);
    write_cp866(out, 1048, &id.user_name);
    write_cp866(out, 1009, &id.address);
    if modern {
        write_cp866(out, 1187, &id.place);
    }
    if correction {
        write_byte(out, 1173, 0); // self-initiated correction
        let basis = begin_stlv(out, 1174);
        if spec.ffd != FfdVersion::V1_2 {
            write_cp866(out, 1177, "Акт сверки"); // gone in FFD 1.2
        }
        write_tlv(out, 1178, &spec.time.saturating_sub(86_400).to_le_bytes());
        write_tlv(out, 1179, b"17/2");
        end_stlv(out, basis);
    }

    let with_items = !correction || spec.ffd == FfdVersion::V1_2;
    let mut total: u64 = 0;
    let (mut vat20, mut vat10) = (0u64, 0u64);
    let mut rng = seed;
    let items = match (with_items, spec.ffd) {
        (false, _) => 0,
        // FFD 1.2 (tables 96, 120): a receipt always has at least one item.
        (true, FfdVersion::V1_2) => spec.items.max(1),
        (true, _) => spec.items,
    };
    for i in 0..items {
        rng = mix(rng);
        let price = 1_000 + rng % 99_000; // 10.00 ..= 999.99 ₽
        let by_weight = rng >> 40 & 7 == 0;
        let (quantity_scale, quantity, sum) = if by_weight {
            let grams = 100 + (rng >> 20) % 2_900;
            (3u8, grams, (price * grams).div_ceil(1_000))
        } else {
            let units = 1 + (rng >> 20) % 5;
            (0u8, units, price * units)
        };
        let rate_10 = rng >> 50 & 3 == 0;
        let vat = if rate_10 {
            sum * 10 / 110
        } else {
            sum * 20 / 120
        };
        if rate_10 {
            vat10 += vat;
        } else {
            vat20 += vat;
        }
        total += sum;

        let item = begin_stlv(out, 1059);
        let name = begin_stlv(out, 1030);
        write_cp866_raw(
            out,
            if by_weight {
                "Яблоки Гала, кг, арт. "
            } else {
                "Товар №"
            },
        );
        let mut digits = [b'0'; 5];
        write_digits(&mut digits, u64::from(i) + 1);
        out.extend_from_slice(&digits);
        end_stlv(out, name);
        write_vln(out, 1079, price);
        let mut q = [0u8; 9];
        q[0] = quantity_scale;
        let (m, len) = vln_bytes(quantity);
        q[1..=len].copy_from_slice(&m[..len]);
        write_tlv(out, 1023, &q[..=len]);
        write_byte(out, 1199, if rate_10 { 2 } else { 1 });
        write_vln(out, 1043, sum);
        if modern {
            write_vln(out, 1200, vat);
            write_byte(out, 1212, 1); // goods
            write_byte(out, 1214, 4); // full payment
        }
        end_stlv(out, item);
    }
    if !with_items {
        total = 1_000 + seed % 500_000;
        vat20 = total * 20 / 120;
    }
    let cash = if seed & 1 == 0 { total } else { 0 };
    write_vln(out, 1020, total);
    write_vln(out, 1031, cash);
    write_vln(out, 1081, total - cash);
    if modern {
        write_vln(out, 1215, 0);
        write_vln(out, 1216, 0);
        write_vln(out, 1217, 0);
    }
    if vat20 > 0 {
        write_vln(out, 1102, vat20);
    }
    if vat10 > 0 {
        write_vln(out, 1103, vat10);
    }
}

#[inline]
fn write_byte(out: &mut Vec<u8>, tag: u16, v: u8) {
    write_tlv(out, tag, &[v]);
}

#[inline]
fn write_vln(out: &mut Vec<u8>, tag: u16, v: u64) {
    let (bytes, len) = vln_bytes(v);
    write_tlv(out, tag, &bytes[..len]);
}

/// `v` right-padded with spaces to `width` (INN to 12, RN to 20).
fn write_padded(out: &mut Vec<u8>, tag: u16, v: &[u8], width: usize) {
    let start = begin_stlv(out, tag);
    out.extend_from_slice(v);
    for _ in v.len()..width {
        out.push(b' ');
    }
    end_stlv(out, start);
}

fn write_cp866(out: &mut Vec<u8>, tag: u16, s: &str) {
    let start = begin_stlv(out, tag);
    write_cp866_raw(out, s);
    end_stlv(out, start);
}

/// CP866 without an intermediate buffer: ASCII and Cyrillic map arithmetically; anything else
/// goes through `encoding_rs` (unmappable → `?`).
fn write_cp866_raw(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        out.push(cp866_byte(c));
    }
}

fn cp866_byte(c: char) -> u8 {
    let u = u32::from(c);
    let offset = |base: u32, to: u8| to.wrapping_add(u8::try_from(u - base).unwrap_or(0));
    match c {
        '\0'..='\x7f' => u8::try_from(u).unwrap_or(b'?'),
        'А'..='П' => offset(0x410, 0x80),
        'Р'..='Я' => offset(0x420, 0x90),
        'а'..='п' => offset(0x430, 0xA0),
        'р'..='я' => offset(0x440, 0xE0),
        'Ё' => 0xF0,
        'ё' => 0xF1,
        _ => {
            let mut buf = [0u8; 4];
            let (bytes, _, unmappable) = encoding_rs::IBM866.encode(c.encode_utf8(&mut buf));
            match (&*bytes, unmappable) {
                ([b], false) => *b,
                _ => b'?',
            }
        }
    }
}

/// Write `n` as zero-padded decimal digits filling `dst` (high digits dropped if too large).
fn write_digits(dst: &mut [u8], mut n: u64) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// SplitMix64: the deterministic source of every "random" value.
#[inline]
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fold(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse_message;
    use crate::validate::{ValidationConfig, validate};
    use crate::value::encode_cp866;

    #[test]
    fn cp866_fast_path_matches_encoding_rs() {
        let mut sample = String::new();
        for u in (0x20..0x7f)
            .chain(0x410..0x450)
            .chain([0x401, 0x451, 0x2116, 0xB0])
        {
            if let Some(c) = char::from_u32(u) {
                sample.push(c);
            }
        }
        let mut fast = Vec::new();
        write_cp866_raw(&mut fast, &sample);
        assert_eq!(fast, encode_cp866(&sample));
        assert_eq!(cp866_byte('€'), b'?');
    }

    #[test]
    fn identity_is_valid_and_deterministic() {
        let a = KktIdentity::generate(42);
        assert_eq!(a, KktIdentity::generate(42));
        crate::checks::verify_inn(&a.user_inn).unwrap();
        crate::checks::verify_rn(&a.rn, &a.user_inn, &a.kkt_serial).unwrap();
    }

    #[test]
    fn deterministic_and_valid_receipt() {
        let id = KktIdentity::generate(7);
        let spec = DocSpec {
            items: 10,
            ..DocSpec::new(DocType::Receipt, 1234, 1_700_000_000)
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        build_message(&id, &spec, &mut a).unwrap();
        build_message(&id, &spec, &mut b).unwrap();
        assert_eq!(a, b);
        let m = parse_message(&a).unwrap();
        let d = validate(&m, &ValidationConfig::default(), 1_700_000_000).unwrap();
        assert_eq!(d.fd_number, 1234);
        assert!(d.total_sum.unwrap() > 0);
    }

    #[test]
    fn errors_append_nothing() {
        let id = KktIdentity::generate(7);
        let mut out = vec![1, 2, 3];
        let spec = DocSpec::new(DocType::Receipt, 1 << 24, 1_700_000_000);
        assert!(matches!(
            build_message(&id, &spec, &mut out),
            Err(ProtoError::Overflow { .. })
        ));
        let spec = DocSpec {
            items: 5000,
            ..DocSpec::new(DocType::Receipt, 1, 1_700_000_000)
        };
        assert!(matches!(
            build_message(&id, &spec, &mut out),
            Err(ProtoError::Overflow { .. })
        ));
        assert_eq!(out, [1, 2, 3]);
    }
}
