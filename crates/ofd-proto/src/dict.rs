//! The FFD tag dictionary: what every tag of FFD 1.05 / 1.1 / 1.2 is called in FNS JSON, its wire
//! type, its length limits and where it may appear.
//!
//! The data lives in `proto-spec/tags.toml`, the single source of truth; `build.rs` checks it and
//! generates the static table included below, so the spec and the code cannot drift. Lookups are
//! O(1) and allocation-free: a generated index maps each tag of the two covered ranges
//! (1000..=1399 and the FFD 1.2 marking tags 2000..=2399) to its entry. The validator asks this
//! module for types and lengths; the JSON renderer asks it for names and for which tags repeat.
//!
//! A JSON name is unique within each object it can appear in — one document type's root object,
//! one STLV — not across the dictionary, because FNS JSON reuses names in disjoint places (1020
//! and 1201 are both `totalSum`: the receipt's total, and a counter's total inside 1129…). So
//! going back from a name to a tag needs the object it was found in: [`lookup_name`].

use crate::value::ValueType;

/// One dictionary entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    pub tag: u16,
    /// FNS JSON name, camelCase, e.g. `"fiscalDriveNumber"`.
    pub name: &'static str,
    pub ty: ValueType,
    pub min_len: u16,
    pub max_len: u16,
    /// The length is exact (`min_len == max_len`), e.g. 1041 FN = 16, 1077 ФПД = 6, INN = 12.
    pub fixed: bool,
    /// Document types (1, 11, 2, 21, 3, 31, 4, 41, 5, 6, 7, 81..=84) where the tag may appear at
    /// the top level; empty = only nested inside an STLV.
    pub docs: &'static [u8],
    /// STLV tags it may appear inside (e.g. 1030 inside 1059); empty = top level only.
    pub parents: &'static [u16],
    /// Short Russian name from the FFD tables ("заводской номер ФН").
    pub description: &'static str,
}

impl TagInfo {
    /// May the tag appear at the top level of document type `doc_type`?
    #[inline]
    pub fn allowed_in_doc(&self, doc_type: u8) -> bool {
        self.docs.contains(&doc_type)
    }

    /// May the tag appear inside the STLV `parent`?
    #[inline]
    pub fn allowed_in(&self, parent: u16) -> bool {
        self.parents.contains(&parent)
    }
}

include!(concat!(env!("OUT_DIR"), "/tags.rs"));

/// The entry for `tag`, or `None` if the dictionary does not know it. O(1), no allocation.
#[inline]
pub fn lookup(tag: u16) -> Option<&'static TagInfo> {
    let slot = match tag {
        1000..=1399 => INDEX_1000.get(usize::from(tag - 1000)),
        2000..=2399 => INDEX_2000.get(usize::from(tag - 2000)),
        _ => None,
    }?;
    TAGS.get(usize::from(*slot).checked_sub(1)?)
}

/// The JSON object a name was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The root object of a document of this type.
    Document(u8),
    /// The object of this STLV tag.
    Stlv(u16),
}

/// What a name means in a [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameMatch {
    /// The tag declared with this name in this object, or else the only tag anywhere with this
    /// name (registers send tags outside their declared places; the renderer names them anyway).
    Tag(&'static TagInfo),
    /// Not declared in this object, and several tags elsewhere carry the name.
    Ambiguous(&'static [u16]),
    /// No tag has this name.
    Unknown,
}

/// The tag `name` stands for in the object `scope`. Allocation-free (binary searches).
pub fn lookup_name(scope: Scope, name: &str) -> NameMatch {
    let local = match scope {
        Scope::Document(d) => DOC_NAMES.iter().find(|(t, _)| *t == d).map(|(_, n)| *n),
        Scope::Stlv(p) => STLV_NAMES
            .binary_search_by_key(&p, |(t, _)| *t)
            .ok()
            .map(|i| STLV_NAMES[i].1),
    };
    if let Some(names) = local
        && let Ok(i) = names.binary_search_by_key(&name, |(n, _)| n)
        && let Some(info) = lookup(names[i].1)
    {
        return NameMatch::Tag(info);
    }
    match NAMES.binary_search_by_key(&name, |(n, _)| n) {
        Ok(i) => match NAMES[i].1 {
            [one] => lookup(*one).map_or(NameMatch::Unknown, NameMatch::Tag),
            several => NameMatch::Ambiguous(several),
        },
        Err(_) => NameMatch::Unknown,
    }
}

/// Every entry, sorted by tag.
#[inline]
pub fn all() -> &'static [TagInfo] {
    &TAGS
}

/// Tags that may repeat within one parent and are therefore always rendered as a JSON array
/// (1059 items, 1084 user properties, agent phones, ...). A tag that actually repeats in a
/// document is rendered as an array regardless.
#[inline]
pub fn is_repeatable(tag: u16) -> bool {
    REPEATABLE.binary_search(&tag).is_ok()
}

/// Tags whose FNS JSON name or limits are a best guess (`uncertain = true` in tags.toml).
#[inline]
pub fn uncertain() -> &'static [u16] {
    &UNCERTAIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_core_tags_with_their_limits() {
        let fn_number = lookup(1041).expect("1041 is in the dictionary");
        assert_eq!(fn_number.name, "fiscalDriveNumber");
        assert_eq!(fn_number.ty, ValueType::String);
        assert_eq!(
            (fn_number.min_len, fn_number.max_len, fn_number.fixed),
            (16, 16, true)
        );
        assert!(fn_number.allowed_in_doc(11) && fn_number.allowed_in_doc(7));

        let sign = lookup(1077).unwrap();
        assert_eq!(
            (sign.ty, sign.max_len, sign.fixed),
            (ValueType::Bytes, 6, true)
        );
        let quantity = lookup(1023).unwrap();
        assert_eq!((quantity.ty, quantity.max_len), (ValueType::Fvln, 8));
        assert!(quantity.allowed_in(1059));
        assert_eq!(lookup(1059).unwrap().ty, ValueType::Stlv);
        assert_eq!(lookup(1037).unwrap().max_len, 20);
        assert_eq!(lookup(1078).map(|t| (t.min_len, t.max_len)), Some((8, 18)));
        assert_eq!(lookup(2000).map(|t| t.name), Some("labelCode"));
    }

    #[test]
    fn lookup_rejects_unknown_tags_at_every_range_edge() {
        for tag in [0, 1, 7, 999, 1000, 1399, 1400, 1999, 2399, 2400, u16::MAX] {
            assert!(lookup(tag).is_none(), "tag {tag}");
        }
    }

    #[test]
    fn table_is_sorted_and_every_entry_is_reachable() {
        assert!(all().windows(2).all(|w| w[0].tag < w[1].tag));
        for info in all() {
            assert!(
                std::ptr::eq(lookup(info.tag).unwrap(), info),
                "tag {}",
                info.tag
            );
        }
        let found = (0..=u16::MAX).filter(|t| lookup(*t).is_some()).count();
        assert_eq!(found, all().len());
    }

    #[test]
    fn names_are_looked_up_in_their_object() {
        let tag = |scope, name| match lookup_name(scope, name) {
            NameMatch::Tag(t) => Some(t.tag),
            _ => None,
        };
        // The five names FNS JSON reuses, each in its own object.
        assert_eq!(tag(Scope::Document(3), "totalSum"), Some(1020));
        assert_eq!(tag(Scope::Stlv(1129), "totalSum"), Some(1201));
        assert_eq!(tag(Scope::Stlv(1233), "provisionSum"), Some(1220));
        assert_eq!(tag(Scope::Document(31), "prepaidSum"), Some(1215));
        assert_eq!(tag(Scope::Stlv(1146), "prepaidSum"), Some(1218));
        assert_eq!(tag(Scope::Stlv(1130), "creditSum"), Some(1219));
        assert_eq!(tag(Scope::Document(3), "creditSum"), Some(1216));
        assert_eq!(tag(Scope::Document(3), "dateTime"), Some(1012));
        assert_eq!(tag(Scope::Stlv(1270), "dateTime"), Some(1273));
        // A name outside its declared place: the only tag with it.
        assert_eq!(tag(Scope::Stlv(1059), "fiscalDriveNumber"), Some(1041));
        // Outside their declared places, the reused names are ambiguous.
        assert_eq!(
            lookup_name(Scope::Stlv(1059), "totalSum"),
            NameMatch::Ambiguous(&[1020, 1201])
        );
        assert_eq!(
            lookup_name(Scope::Document(3), "noSuchName"),
            NameMatch::Unknown
        );
        assert_eq!(
            lookup_name(Scope::Stlv(9999), "noSuchName"),
            NameMatch::Unknown
        );
        // A document type without a table: the global, unique name.
        assert!(matches!(
            lookup_name(Scope::Document(0), "userInn"),
            NameMatch::Tag(t) if t.tag == 1018
        ));
    }

    #[test]
    fn every_tag_is_found_by_its_name_in_each_of_its_places() {
        for t in all() {
            for d in t.docs {
                assert_eq!(lookup_name(Scope::Document(*d), t.name), NameMatch::Tag(t));
            }
            for p in t.parents {
                assert_eq!(lookup_name(Scope::Stlv(*p), t.name), NameMatch::Tag(t));
            }
        }
    }

    #[test]
    fn repeatable_and_uncertain_sets() {
        assert!(is_repeatable(1059) && is_repeatable(1084));
        assert!(!is_repeatable(1041) && !is_repeatable(1030));
        assert!(uncertain().contains(&1078));
        assert!(!uncertain().contains(&1041));
        assert!(uncertain().iter().all(|t| lookup(*t).is_some()));
    }
}
