//! Format-logic control (ФЛК): is this document one the operator may accept?
//!
//! [`validate`] walks the document tree once, checking every known tag's length and wire type
//! against the [`dict`](crate::dict) (recursively into STLVs; unknown tags are skipped, because
//! registers send vendor and newer tags), recording which tags are present and picking out the
//! fields the daemon needs. It then applies the document-level rules: mandatory tags per document
//! type and FFD version, digit formats of FN / RN / INN, INN and RN check digits, the time window,
//! and the cross-checks between session header, container header and document. The result is a
//! [`Document`] summary that borrows from the frame. Nothing here allocates, so a hostile
//! message costs CPU only in proportion to its (≤ 64 KiB) size.
//!
//! Which rules are hard and which are configurable is written up in `proto-spec/README.md` §7;
//! the short version: check digits are hard for the user INN (1018) and the operator INN
//! (1017) and only counted for cashier / supplier / buyer / agent INNs, because real devices
//! send unverified values there.

use crate::checks::{CheckError, verify_inn, verify_rn};
use crate::dict;
use crate::doctype::{DocType, FfdVersion};
use crate::error::{FnText, ProtoError, TagList};
use crate::forms;
use crate::message::Message;
use crate::tlv::Tlv;
use crate::value::{Cp866, Fvln, ValueType, read_byte, read_u16, read_u32, read_vln, trim_spaces};

/// 2016-09-01T00:00:00Z: no fiscal document can be older than the 54-FZ online registers.
pub const DEFAULT_MIN_TIME: u32 = 1_472_688_000;

/// STLVs nest at most 3 deep in any FFD (document → item → agent data); 4 leaves headroom.
pub const MAX_DEPTH: usize = 4;

/// Tunable ФЛК rules (part of the daemon's config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// Earliest acceptable document time (1012), unix seconds. Default 2016-09-01 UTC.
    pub min_time: u32,
    /// How far past `now` a document time may be, seconds. Default 86 400: document times are
    /// the register's local time without a zone, so this also absorbs UTC offsets.
    pub max_future_secs: u32,
    /// Accept a 10-digit INN written left-padded with `00` to 12 digits (some registers do),
    /// treating it as the 10-digit INN. Default `true`.
    pub accept_zero_left_padded_inn: bool,
    /// Verify the RN's six check digits against user INN and KKT serial in registration reports.
    /// Default `true`.
    pub check_rn_digits: bool,
    /// Verify the check digits of the user INN (1018) and operator INN (1017). Default `true`.
    pub check_inn_digits: bool,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            min_time: DEFAULT_MIN_TIME,
            max_future_secs: 86_400,
            accept_zero_left_padded_inn: true,
            check_rn_digits: true,
            check_inn_digits: true,
        }
    }
}

/// What the FN reports about its own state (shift close 5 and current-state report 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FnHealth {
    /// 1097: documents not yet acknowledged by the operator.
    pub untransmitted_count: Option<u32>,
    /// 1098: time of the first of them (a zero time means none).
    pub first_untransmitted_time: Option<u32>,
    /// 1116: number of the first of them (zero means none).
    pub first_untransmitted_number: Option<u32>,
    /// 1053: an operator acknowledgement is overdue.
    pub ack_overdue: bool,
    /// 1050: the FN's keys expire soon (≤ 30 days).
    pub key_expiry_soon: bool,
    /// 1051: the FN must be replaced urgently (≤ 3 days).
    pub key_expiry_urgent: bool,
    /// 1052: the FN's memory is over 99 % full.
    pub memory_nearly_full: bool,
}

/// A validated document: the fields the daemon needs, borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document<'a> {
    pub doc_type: DocType,
    /// From tag 1209 (absent → 1.0); always 1.2 for marking documents (81–84), which exist only
    /// there and carry no 1209.
    pub ffd: FfdVersion,
    /// Tag 1041 as on the wire (a test drive may end in a space); the session header's FN for
    /// the marking documents whose form has no 1041 (83, 84).
    pub fn_number: [u8; 16],
    /// Tag 1040; the container's FD number for marking documents (their forms have no 1040).
    pub fd_number: u32,
    /// Tag 1012 (register local time, unix seconds). `None` only for the marking documents
    /// whose form has no time (81, 83).
    pub time: Option<u32>,
    /// Tag 1037, trailing spaces trimmed.
    pub rn: Option<&'a [u8]>,
    /// Tag 1018, trimmed; a `00`-left-padded 10-digit INN is normalised to its 10 digits.
    pub user_inn: Option<&'a [u8]>,
    /// Tag 1013, trimmed.
    pub kkt_serial: Option<&'a [u8]>,
    /// Tag 1048.
    pub user_name: Option<Cp866<'a>>,
    /// Tag 1009.
    pub address: Option<Cp866<'a>>,
    /// Tag 1187.
    pub place: Option<Cp866<'a>>,
    /// Tag 1038.
    pub shift_number: Option<u32>,
    /// Tag 1056 (registration reports): the FN encrypts its documents.
    pub encryption: Option<bool>,
    /// Tag 1077, the 6 raw bytes.
    pub fiscal_sign_raw: Option<&'a [u8; 6]>,
    pub health: FnHealth,
    /// Tag 1020, kopecks.
    pub total_sum: Option<u64>,
    /// Tag 1054, the kind of settlement: 1 sale (приход), 2 return of a sale, 3 purchase
    /// (расход), 4 return of a purchase.
    pub settlement: Option<u8>,
    /// Top-level cashier / supplier / buyer / transfer-operator INNs (1203, 1226, 1228, 1016)
    /// whose check digits fail: accepted (real devices send such values) but counted.
    pub unverified_inns: u8,
    /// The whole document TLV.
    pub tlv: Tlv<'a>,
    /// Bytes after the document TLV (message fiscal sign), byte-for-byte.
    pub trailer: &'a [u8],
}

impl Document<'_> {
    /// The ФПД as printed on paper: the last four bytes of 1077 as a big-endian number
    /// (at most 10 digits).
    pub fn fiscal_sign(&self) -> Option<u64> {
        self.fiscal_sign_raw
            .map(|s| u64::from(u32::from_be_bytes([s[2], s[3], s[4], s[5]])))
    }

    /// What the FN reports about itself, from the document types that carry it: a shift-close
    /// report (5) carries all of it, a current-state report (21) its untransmitted documents.
    pub fn health_report(&self) -> Option<HealthReport> {
        let h = &self.health;
        let flags = matches!(self.doc_type, DocType::ShiftClose);
        if !(flags || matches!(self.doc_type, DocType::CurrentState)) {
            return None;
        }
        Some(HealthReport {
            untransmitted: h.untransmitted_count.unwrap_or(0),
            first_untransmitted_time: h.first_untransmitted_time.unwrap_or(0),
            first_untransmitted_number: h.first_untransmitted_number.unwrap_or(0),
            key_expiry_soon: flags.then_some(h.key_expiry_soon),
            key_expiry_urgent: flags.then_some(h.key_expiry_urgent),
            memory_nearly_full: flags.then_some(h.memory_nearly_full),
            ack_overdue: flags.then_some(h.ack_overdue),
        })
    }
}

/// An FN's report on itself (see [`Document::health_report`]): the operator watches these to warn
/// taxpayers before a register stops (keys expiring, memory full, documents stuck).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthReport {
    /// 1097: documents the operator has not acknowledged yet.
    pub untransmitted: u32,
    /// 1098, 0 when none.
    pub first_untransmitted_time: u32,
    /// 1116, 0 when none.
    pub first_untransmitted_number: u32,
    /// 1050, 1051, 1052, 1053: only shift-close reports carry these flags.
    pub key_expiry_soon: Option<bool>,
    pub key_expiry_urgent: Option<bool>,
    pub memory_nearly_full: Option<bool>,
    pub ack_overdue: Option<bool>,
}

/// Mandatory top-level tags of a document type in FFD 1.05 / 1.1 (FFD 1.0 drops the tags it
/// did not have; FFD 1.2 has its own tables): the form [`forms::form`] gives for 1.05.
/// Document 11 additionally needs 1101 or 1205.
pub fn mandatory_tags(doc_type: DocType) -> &'static [u16] {
    forms::form(doc_type, FfdVersion::V1_05).mandatory
}

/// Mandatory tags inside each item 1059 of a receipt / БСО (FFD 1.05 / 1.1).
pub const ITEM_MANDATORY: [u16; 3] = [1030, 1023, 1043];
/// Mandatory tags inside the correction basis 1174 (FFD 1.05 / 1.1).
pub const CORRECTION_BASIS_MANDATORY: [u16; 3] = [1177, 1178, 1179];

/// Presence of tags 1000..=1399 and 2000..=2399 (the dictionary's ranges, where every
/// mandatory tag lives), one bit each.
#[derive(Default)]
struct Seen([u64; 13]);

impl Seen {
    #[inline]
    fn index(tag: u16) -> Option<usize> {
        match tag {
            1000..=1399 => Some(usize::from(tag - 1000)),
            2000..=2399 => Some(usize::from(tag - 2000) + 400),
            _ => None,
        }
    }

    #[inline]
    fn set(&mut self, tag: u16) {
        if let Some(i) = Self::index(tag)
            && let Some(word) = self.0.get_mut(i / 64)
        {
            *word |= 1 << (i % 64);
        }
    }

    #[inline]
    fn has(&self, tag: u16) -> bool {
        Self::index(tag)
            .and_then(|i| self.0.get(i / 64).map(|w| w & (1 << (i % 64)) != 0))
            .unwrap_or(false)
    }
}

/// The STLVs whose children some form makes mandatory (1059 items, 1174 correction basis, 1068),
/// each with the union of those children over every form (at most 8). The walk records, per
/// parent, which of them *every* occurrence holds; the version's form is applied after the walk,
/// because 1209 may come anywhere in the document.
struct Watched {
    parents: [(u16, [u16; 8], usize); 4],
    len: usize,
}

fn watched() -> &'static Watched {
    static WATCHED: std::sync::OnceLock<Watched> = std::sync::OnceLock::new();
    WATCHED.get_or_init(|| {
        let mut w = Watched {
            parents: [(0, [0; 8], 0); 4],
            len: 0,
        };
        for n in forms::all().iter().flat_map(|f| f.nested) {
            let slot = match w.parents[..w.len].iter().position(|p| p.0 == n.parent) {
                Some(i) => i,
                None if w.len < w.parents.len() => {
                    w.parents[w.len].0 = n.parent;
                    w.len += 1;
                    w.len - 1
                }
                None => continue, // build.rs keeps this to a handful; see the test below
            };
            let (_, children, count) = &mut w.parents[slot];
            for &c in n.mandatory {
                if !children[..*count].contains(&c) && *count < children.len() {
                    children[*count] = c;
                    *count += 1;
                }
            }
        }
        w
    })
}

impl Watched {
    /// The watched children of `parent`, if it is watched.
    #[inline]
    fn children(&self, parent: u16) -> Option<(usize, &[u16])> {
        self.parents[..self.len]
            .iter()
            .position(|p| p.0 == parent)
            .map(|i| (i, &self.parents[i].1[..self.parents[i].2]))
    }
}

/// Per watched parent: how many occurrences, and which watched children all of them hold.
#[derive(Clone, Copy)]
struct NestedSeen {
    count: u32,
    all_have: u8,
}

/// Run ФЛК on a parsed message. `now` is the current unix time (the crate reads no clock).
pub fn validate<'a>(
    msg: &Message<'a>,
    cfg: &ValidationConfig,
    now: u32,
) -> Result<Document<'a>, ProtoError> {
    let (tlv, trailer) = msg.document()?;
    let doc_type = msg.doc_type;
    let doc_u8 = doc_type.as_u8();

    // One pass over the top level. The loop body is branch-light on purpose (it dominates the
    // cost of ФЛК): each element is checked against a precomputed per-tag rule, and the fields
    // the summary needs are dropped into slots by index; they are decoded after the loop.
    let rules = rules();
    let watched = watched();
    let mut nested = [NestedSeen {
        count: 0,
        all_have: u8::MAX,
    }; 4];
    let mut seen = Seen::default();
    let mut slots: [Option<&'a [u8]>; FIELDS.len() + 1] = [None; FIELDS.len() + 1];
    for item in tlv.children() {
        let t = item?;
        let rule = rules.get(t.tag);
        if !rule.fast_ok(t.value) {
            let watch = watched.children(t.tag);
            let found = check_slow(&t, rule.kind, watch.map(|(i, _)| i))?;
            if let Some(n) = watch.and_then(|(i, _)| nested.get_mut(i)) {
                n.count += 1;
                n.all_have &= found;
            }
        }
        seen.set(t.tag);
        if let Some(slot) = slots.get_mut(usize::from(rule.field)) {
            *slot = Some(t.value);
        }
    }
    // Same order as FIELDS.
    let [
        _,
        v1209,
        v1041,
        v1040,
        v1012,
        v1037,
        v1018,
        v1017,
        v1013,
        v1048,
        v1009,
        v1187,
        v1038,
        v1056,
        v1077,
        v1020,
        v1097,
        v1098,
        v1116,
        v1053,
        v1050,
        v1051,
        v1052,
        v1203,
        v1226,
        v1228,
        v1016,
        v1173,
        v1054,
    ] = slots;
    let ffd_raw = byte_at(1209, v1209)?;
    let fn_tag = v1041;
    let fd = u32_at(1040, v1040)?;
    let time = u32_at(1012, v1012)?;
    let rn = v1037;
    let user_inn_raw = v1018;
    let operator_inn_raw = v1017;
    let kkt_serial = v1013.map(trim_spaces);
    let user_name = v1048.map(Cp866);
    let address = v1009.map(Cp866);
    let place = v1187.map(Cp866);
    let shift_number = u32_at(1038, v1038)?;
    let settlement = byte_at(1054, v1054)?;
    let encryption = byte_at(1056, v1056)?.map(|b| b != 0);
    let fiscal_sign_raw = v1077.and_then(|v| <&[u8; 6]>::try_from(v).ok());
    let total_sum = v1020
        .map(|v| read_vln(v).map_err(|err| ProtoError::Value { tag: 1020, err }))
        .transpose()?;
    let health = FnHealth {
        untransmitted_count: u32_at(1097, v1097)?,
        first_untransmitted_time: u32_at(1098, v1098)?.filter(|&x| x != 0),
        first_untransmitted_number: u32_at(1116, v1116)?.filter(|&x| x != 0),
        ack_overdue: flag_at(1053, v1053)?,
        key_expiry_soon: flag_at(1050, v1050)?,
        key_expiry_urgent: flag_at(1051, v1051)?,
        memory_nearly_full: flag_at(1052, v1052)?,
    };
    let unverified_inns = [v1203, v1226, v1228, v1016]
        .into_iter()
        .map(|v| u8::from(v.is_some_and(|v| verify_inn(trim_spaces(v)).is_err())))
        .sum::<u8>();

    // FFD version, then the form of this document type in it: nested, then top-level tags.
    let ffd = match ffd_raw {
        None => FfdVersion::V1_0,
        Some(v) => FfdVersion::from_tag_value(v).ok_or(ProtoError::UnknownFfdVersion(v))?,
    };
    let form = forms::form(doc_type, ffd);
    for rule in form.nested {
        let Some((i, watch)) = watched.children(rule.parent) else {
            continue;
        };
        let Some(n) = nested.get(i).filter(|n| n.count > 0) else {
            continue; // the parent itself is absent: a top-level rule's business
        };
        check_children(rule.parent, rule.mandatory, watch, n.all_have)?;
    }
    // FFD 1.2 correction by order of the tax authority (1173 = 1): its basis names the order.
    if forms::judged_as(doc_type, ffd) == FfdVersion::V1_2
        && doc_type.is_correction()
        && byte_at(1173, v1173)? == Some(1)
        && let Some((i, watch)) = watched.children(1174)
        && let Some(n) = nested.get(i).filter(|n| n.count > 0)
    {
        check_children(1174, &[1179], watch, n.all_have)?;
    }
    let mut missing = TagList::default();
    for &tag in form.mandatory {
        if !seen.has(tag) {
            missing.push(tag);
        }
    }
    for group in form.any_of {
        if !group.iter().any(|&t| seen.has(t)) {
            missing.push(group.first().copied().unwrap_or_default());
        }
    }
    match missing.as_slice() {
        [] => {}
        &[tag] => {
            return Err(ProtoError::MissingTag {
                doc_type: doc_u8,
                tag,
            });
        }
        _ => {
            return Err(ProtoError::MissingTags {
                doc_type: doc_u8,
                ffd,
                tags: missing,
            });
        }
    }
    // Marking documents without 1041 / 1040 / 1012 in their form: the session's FN, the
    // container's FD number, no time.
    let fn_tag = fn_tag.unwrap_or(&msg.session.fn_number);
    let fd_number = fd.unwrap_or(msg.container.fd_number);

    // FN: format, then session == container == 1041.
    let fn_number = check_fn_format(fn_tag)?;
    if msg.session.fn_number != msg.container_fn {
        return Err(ProtoError::FnMismatch {
            session: FnText(msg.session.fn_number),
            other: FnText(msg.container_fn),
            other_source: "container",
        });
    }
    if msg.session.fn_number != fn_number {
        return Err(ProtoError::FnMismatch {
            session: FnText(msg.session.fn_number),
            other: FnText(fn_number),
            other_source: "tag 1041",
        });
    }
    if fd_number != msg.container.fd_number {
        return Err(ProtoError::FdMismatch {
            container: msg.container.fd_number,
            document: fd_number,
        });
    }

    // RN format, INNs, RN check digits.
    let rn = rn.map(check_rn_format).transpose()?;
    let user_inn = user_inn_raw.map(|v| check_inn(1018, v, cfg)).transpose()?;
    if let Some(v) = operator_inn_raw {
        check_inn(1017, v, cfg)?;
    }
    if cfg.check_rn_digits
        && doc_type.is_registration()
        && let (Some(rn), Some(inn), Some(serial)) = (rn, user_inn, kkt_serial)
    {
        verify_rn(rn, inn, serial).map_err(ProtoError::BadRn)?;
    }

    // Time window: 1012 when present (always, but in marking documents 81 and 83), 1098 unless
    // zero ("none").
    if let Some(time) = time {
        check_time(1012, time, cfg, now)?;
    }
    if let Some(t) = health.first_untransmitted_time {
        check_time(1098, t, cfg, now)?;
    }

    Ok(Document {
        doc_type,
        ffd: forms::judged_as(doc_type, ffd),
        fn_number,
        fd_number,
        time,
        rn,
        user_inn,
        kkt_serial,
        user_name,
        address,
        place,
        shift_number,
        encryption,
        fiscal_sign_raw,
        health,
        total_sum,
        settlement,
        unverified_inns,
        tlv,
        trailer,
    })
}

/// Every `mandatory` child must be among the watched children that every occurrence of
/// `parent` holds (`all_have`, one bit per `watch` entry).
fn check_children(
    parent: u16,
    mandatory: &[u16],
    watch: &[u16],
    all_have: u8,
) -> Result<(), ProtoError> {
    for &tag in mandatory {
        let held = watch
            .iter()
            .position(|&w| w == tag)
            .is_some_and(|bit| all_have & (1 << bit) != 0);
        if !held {
            return Err(ProtoError::MissingNestedTag { parent, tag });
        }
    }
    Ok(())
}

#[inline]
fn byte_at(tag: u16, v: Option<&[u8]>) -> Result<Option<u8>, ProtoError> {
    v.map(|v| read_byte(v).map_err(|err| ProtoError::Value { tag, err }))
        .transpose()
}

#[inline]
fn u32_at(tag: u16, v: Option<&[u8]>) -> Result<Option<u32>, ProtoError> {
    v.map(|v| read_u32(v).map_err(|err| ProtoError::Value { tag, err }))
        .transpose()
}

#[inline]
fn flag_at(tag: u16, v: Option<&[u8]>) -> Result<bool, ProtoError> {
    byte_at(tag, v).map(|b| b.is_some_and(|b| b != 0))
}

/// Tags whose values the summary needs, each with a slot (slot 0 collects everything else).
/// Then the cashier / supplier / buyer / transfer-operator INNs, whose check digits are only
/// counted, never enforced (real devices send unverified values there), and the correction type.
const FIELDS: [u16; 28] = [
    1209, 1041, 1040, 1012, 1037, 1018, 1017, 1013, 1048, 1009, 1187, 1038, 1056, 1077, 1020, 1097,
    1098, 1116, 1053, 1050, 1051, 1052, 1203, 1226, 1228, 1016, 1173, 1054,
];

fn field_slot(tag: u16) -> u8 {
    FIELDS
        .iter()
        .position(|&f| f == tag)
        .map_or(0, |i| (i + 1) as u8)
}

/// How an element is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not in the dictionary: skipped.
    Unknown,
    /// Fully checked by `lo <= len <= hi` (byte, U16, U32, UnixTime, string, bytes, VLN).
    Simple,
    /// Length range plus a scale byte ≤ 19.
    Fvln,
    /// Length range, then the children.
    Stlv,
}

/// A per-tag rule, derived once from the dictionary.
#[derive(Debug, Clone, Copy)]
struct Rule {
    lo: u16,
    hi: u16,
    kind: Kind,
    field: u8,
    /// Per watched parent (the index [`Watched::children`] gives): this tag's bit among that
    /// parent's watched children, 0 when it is not one of them. A child's presence is then one
    /// OR, not a scan of the watch list per element.
    watch: [u8; 4],
}

const UNKNOWN: Rule = Rule {
    lo: 0,
    hi: 0,
    kind: Kind::Unknown,
    field: 0,
    watch: [0; 4],
};

impl Rule {
    /// The common case, decided without calls: the value is fine as it is. `false` sends the
    /// element to the precise (slow) check, which either finds it fine or names the problem.
    #[inline(always)]
    fn fast_ok(&self, v: &[u8]) -> bool {
        let len = v.len();
        // Written without short-circuits or a `match`: children of an item alternate between
        // kinds, and a mispredicted jump per element costs more than all of this arithmetic.
        let in_range = (usize::from(self.lo) <= len) & (len <= usize::from(self.hi));
        let scale_ok = v.first().is_some_and(|&scale| scale <= 19);
        in_range & ((self.kind == Kind::Simple) | ((self.kind == Kind::Fvln) & scale_ok))
    }
}

/// Rules for tags 1000..=1399 and 2000..=2399 (the dictionary's ranges), flat.
struct Rules([Rule; 800]);

impl Rules {
    /// By reference: copying the rule out and reading its fields back stalls on the copy.
    #[inline(always)]
    fn get(&self, tag: u16) -> &Rule {
        static NONE: Rule = UNKNOWN;
        let i = match tag {
            1000..=1399 => usize::from(tag - 1000),
            2000..=2399 => usize::from(tag - 2000) + 400,
            _ => return &NONE,
        };
        self.0.get(i).unwrap_or(&NONE)
    }
}

/// Built on first use (no heap: the table lives in the static).
fn rules() -> &'static Rules {
    static RULES: std::sync::OnceLock<Rules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let watched = watched();
        let mut table = [UNKNOWN; 800];
        for (i, slot) in (0u16..).zip(table.iter_mut()) {
            let tag = if i < 400 { 1000 + i } else { 1600 + i };
            let field = field_slot(tag);
            let mut watch = [0u8; 4];
            for (mask, (_, children, count)) in watch.iter_mut().zip(&watched.parents) {
                if let Some(bit) = children[..*count].iter().position(|&c| c == tag) {
                    *mask = 1 << bit;
                }
            }
            *slot = match dict::lookup(tag) {
                None => Rule {
                    field,
                    watch,
                    ..UNKNOWN
                },
                Some(info) => {
                    let (min, max) = match limits(info) {
                        (true, _, max) => (max, max),
                        (false, min, max) => (min, max),
                    };
                    let (lo, hi, kind) = match info.ty {
                        ValueType::Byte => (0, 1, Kind::Simple),
                        ValueType::U16 => (2, 2, Kind::Simple),
                        ValueType::U32 | ValueType::UnixTime => (4, 4, Kind::Simple),
                        ValueType::Vln => (min, max.min(8), Kind::Simple),
                        ValueType::String | ValueType::Bytes => (min, max, Kind::Simple),
                        ValueType::Fvln => (min.max(1), max.min(9), Kind::Fvln),
                        ValueType::Stlv => (min, max, Kind::Stlv),
                    };
                    Rule {
                        lo,
                        hi,
                        kind,
                        field,
                        watch,
                    }
                }
            };
        }
        Rules(table)
    })
}

/// Everything the fast rule did not settle: STLVs (content, nesting), unknown tags, and values
/// that broke the fast rule (to name the specific error). For a watched STLV (see [`Watched`])
/// returns which of its watched children it holds, one bit each.
#[cold]
#[inline(never)]
fn check_slow(t: &Tlv<'_>, kind: Kind, watch: Option<usize>) -> Result<u8, ProtoError> {
    match kind {
        Kind::Unknown => Ok(0),
        Kind::Stlv => check_stlv(t, 0, watch),
        Kind::Simple | Kind::Fvln => check_value(t).map(|()| 0),
    }
}

/// An STLV: its own length, then each child (fast rule first), recursively. `watch` is the
/// index of a watched parent; returns which of its watched children are present, one bit each.
fn check_stlv(t: &Tlv<'_>, depth: usize, watch: Option<usize>) -> Result<u8, ProtoError> {
    let rules = rules();
    // The precomputed range accepts exactly what `check_len` accepts; only a value outside it
    // (or an unknown tag) takes the dictionary path, which names the error.
    let own = rules.get(t.tag);
    let len = t.value.len();
    if (own.kind == Kind::Unknown || len < usize::from(own.lo) || len > usize::from(own.hi))
        && let Some(info) = dict::lookup(t.tag)
    {
        check_len(t, limits(info))?;
    }
    if depth >= MAX_DEPTH {
        return Err(ProtoError::TooDeep {
            tag: t.tag,
            max: MAX_DEPTH,
        });
    }
    let mut found = 0u8;
    for child in t.children() {
        let c = child?;
        let rule = rules.get(c.tag);
        if !rule.fast_ok(c.value) {
            match rule.kind {
                Kind::Unknown => {}
                Kind::Stlv => drop(check_stlv(&c, depth + 1, None)?),
                Kind::Simple | Kind::Fvln => check_value(&c)?,
            }
        }
        if let Some(i) = watch {
            found |= rule.watch.get(i).copied().unwrap_or(0);
        }
    }
    Ok(found)
}

/// `(fixed, min, max)` length limits enforced for a tag. Where the dictionary's limits are a best
/// guess (`uncertain` in tags.toml) none are: a guessed limit must never make a real device's
/// document fail control. Type-implied sizes (U32 = 4, VLN ≤ 8, …) still apply.
fn limits(info: &dict::TagInfo) -> (bool, u16, u16) {
    if dict::uncertain().contains(&info.tag) {
        (false, 0, u16::MAX)
    } else {
        (info.fixed, info.min_len, info.max_len)
    }
}

fn check_len(t: &Tlv<'_>, (fixed, min, max): (bool, u16, u16)) -> Result<(), ProtoError> {
    let (tag, len) = (t.tag, t.value.len());
    if fixed && len != usize::from(max) {
        return Err(ProtoError::TagWrongLength {
            tag,
            len,
            expected: max,
        });
    }
    if len > usize::from(max) {
        return Err(ProtoError::TagTooLong { tag, len, max });
    }
    if len < usize::from(min) {
        return Err(ProtoError::TagTooShort { tag, len, min });
    }
    Ok(())
}

/// The precise check of a non-STLV value against the dictionary, naming what is wrong.
/// Unknown tags pass.
fn check_value(t: &Tlv<'_>) -> Result<(), ProtoError> {
    let Some(info) = dict::lookup(t.tag) else {
        return Ok(());
    };
    let tag = t.tag;
    let value_err = |err| ProtoError::Value { tag, err };
    match info.ty {
        // Natural sizes: the readers check them (a zero-length byte reads as 0, NOTES §3).
        ValueType::Byte => read_byte(t.value).map(drop).map_err(value_err),
        ValueType::U16 => read_u16(t.value).map(drop).map_err(value_err),
        ValueType::U32 | ValueType::UnixTime => read_u32(t.value).map(drop).map_err(value_err),
        ValueType::String | ValueType::Bytes => check_len(t, limits(info)),
        ValueType::Vln => {
            check_len(t, limits(info))?;
            read_vln(t.value).map(drop).map_err(value_err)
        }
        ValueType::Fvln => {
            check_len(t, limits(info))?;
            Fvln::read(t.value).map(drop).map_err(value_err)
        }
        ValueType::Stlv => check_stlv(t, 0, None).map(drop),
    }
}

/// FN number 1041: 16 digits, or 15 digits and a space (test drives).
fn check_fn_format(v: &[u8]) -> Result<[u8; 16], ProtoError> {
    let fn_number: [u8; 16] = v.try_into().map_err(|_| ProtoError::TagWrongLength {
        tag: 1041,
        len: v.len(),
        expected: 16,
    })?;
    let digits = match fn_number[15] {
        b' ' => &fn_number[..15],
        _ => &fn_number[..],
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtoError::BadFormat {
            tag: 1041,
            reason: "FN number must be 16 digits, or 15 digits and a space",
        });
    }
    Ok(fn_number)
}

/// RN 1037: 16 digits, right-padded with spaces (to 20 on the wire). Returns the 16 digits.
fn check_rn_format(v: &[u8]) -> Result<&[u8], ProtoError> {
    let rn = trim_spaces(v);
    if rn.len() != 16 || !rn.iter().all(u8::is_ascii_digit) {
        return Err(ProtoError::BadFormat {
            tag: 1037,
            reason: "RN must be 16 digits right-padded with spaces",
        });
    }
    Ok(rn)
}

/// A hard-checked INN (1018 user, 1017 operator): 10 or 12 digits right-padded with spaces;
/// a `00`-left-padded 10-digit INN is normalised when configured. Returns the trimmed digits.
fn check_inn<'a>(tag: u16, v: &'a [u8], cfg: &ValidationConfig) -> Result<&'a [u8], ProtoError> {
    let trimmed = trim_spaces(v);
    let inn = match trimmed {
        [b'0', b'0', rest @ ..] if cfg.accept_zero_left_padded_inn && rest.len() == 10 => rest,
        _ => trimmed,
    };
    if inn.len() != 10 && inn.len() != 12 {
        return Err(ProtoError::BadInn {
            tag,
            reason: CheckError::Length {
                expected: "10 or 12",
                got: inn.len(),
            },
        });
    }
    if cfg.check_inn_digits {
        verify_inn(inn).map_err(|reason| ProtoError::BadInn { tag, reason })?;
    } else if let Some(i) = inn.iter().position(|b| !b.is_ascii_digit()) {
        return Err(ProtoError::BadInn {
            tag,
            reason: CheckError::NotDigit(i),
        });
    }
    Ok(inn)
}

fn check_time(tag: u16, time: u32, cfg: &ValidationConfig, now: u32) -> Result<(), ProtoError> {
    if time < cfg.min_time {
        return Err(ProtoError::TimeTooOld {
            tag,
            time,
            min: cfg.min_time,
        });
    }
    if time > now.saturating_add(cfg.max_future_secs) {
        return Err(ProtoError::TimeInFuture {
            tag,
            time,
            now,
            max_future: cfg.max_future_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_bits() {
        let mut s = Seen::default();
        for t in [1000, 1041, 1399, 999, 1400, 2000, 2399, 2400] {
            s.set(t);
        }
        assert!(s.has(1000) && s.has(1041) && s.has(1399) && s.has(2000) && s.has(2399));
        assert!(!s.has(999) && !s.has(1400) && !s.has(2400) && !s.has(1040) && !s.has(2001));
    }

    #[test]
    fn watched_parents_hold_every_nested_rule() {
        let w = watched();
        for n in forms::all().iter().flat_map(|f| f.nested) {
            let (_, children) = w.children(n.parent).expect("parent watched");
            for c in n.mandatory {
                assert!(children.contains(c), "{} in {}", c, n.parent);
            }
        }
    }

    /// The per-tag watch masks can only mark tags the rule table holds: every watched child must
    /// be in the dictionary's ranges, and its mask must name its place in the watch list.
    #[test]
    fn watched_children_have_their_bit_in_the_rule_table() {
        let w = watched();
        for (i, (parent, children, count)) in w.parents[..w.len].iter().enumerate() {
            for (bit, &c) in children[..*count].iter().enumerate() {
                assert!(
                    matches!(c, 1000..=1399 | 2000..=2399),
                    "{c} (child of {parent}) is outside the rule table"
                );
                assert_eq!(rules().get(c).watch[i], 1 << bit, "{c} in {parent}");
            }
        }
    }

    #[test]
    fn fn_and_rn_formats() {
        assert!(check_fn_format(b"9999078900005488").is_ok());
        assert!(check_fn_format(b"999907891234567 ").is_ok());
        assert!(check_fn_format(b"99990789123456  ").is_err());
        assert!(check_fn_format(b"99990789000054x8").is_err());
        assert_eq!(
            check_rn_format(b"0000000005008570    ").unwrap(),
            b"0000000005008570"
        );
        assert!(check_rn_format(b"000000000500857     ").is_err());
    }

    #[test]
    fn inn_padding() {
        let cfg = ValidationConfig::default();
        assert_eq!(
            check_inn(1018, b"7702203276  ", &cfg).unwrap(),
            b"7702203276"
        );
        assert_eq!(
            check_inn(1018, b"007702203276", &cfg).unwrap(),
            b"7702203276"
        );
        let strict = ValidationConfig {
            accept_zero_left_padded_inn: false,
            ..cfg
        };
        assert!(matches!(
            check_inn(1018, b"007702203276", &strict),
            Err(ProtoError::BadInn { tag: 1018, .. })
        ));
        assert!(check_inn(1017, b"504404744207", &cfg).is_ok());
    }

    #[test]
    fn default_min_time_is_2016_09_01() {
        // 2016-01-01 is 1_451_606_400; Jan..Aug 2016 have 244 days.
        assert_eq!(DEFAULT_MIN_TIME, 1_451_606_400 + 244 * 86_400);
    }
}
