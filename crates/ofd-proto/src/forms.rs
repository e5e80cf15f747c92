//! Which tags each document form must carry, per document type and FFD version.
//!
//! The tables live in `proto-spec/forms.toml` (FFD 1.05/1.1 from the FNS tables; FFD 1.2 from its
//! own tables, which replaced several tags: registration 1290/1190/1213 instead of
//! 1108/1109/1110/1221, receipts with mandatory address, place and items, corrections without
//! 1177, …). `build.rs` checks them against the dictionary and generates the static data included
//! below, so ФЛК ([`crate::validate`]) and the spec cannot drift. Lookups are O(1) and
//! allocation-free.

use crate::doctype::{DocType, FfdVersion};

/// Tags every `parent` STLV of the document must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nested {
    pub parent: u16,
    pub mandatory: &'static [u16],
}

/// The mandatory content of one document form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    /// Document types (bytes) the form applies to.
    pub docs: &'static [u8],
    /// FFD versions as tag 1209's values (1 = 1.0 … 4 = 1.2).
    pub ffd: &'static [u8],
    /// Top-level tags that must be present, in the table's order.
    pub mandatory: &'static [u16],
    /// Groups of which at least one tag must be present (document 11 in 1.05: 1101 or 1205).
    pub any_of: &'static [&'static [u16]],
    /// Mandatory children of STLVs (items 1059, correction basis 1174, …).
    pub nested: &'static [Nested],
    /// `ffd105` or `ffd12` (see `proto-spec/forms.toml`).
    pub source: &'static str,
    /// What the form deliberately does not enforce, and why.
    pub lenient: &'static str,
}

impl Form {
    /// The mandatory children of `parent`, if the form names any.
    #[inline]
    pub fn nested(&self, parent: u16) -> Option<&'static [u16]> {
        self.nested
            .iter()
            .find(|n| n.parent == parent)
            .map(|n| n.mandatory)
    }
}

include!(concat!(env!("OUT_DIR"), "/forms.rs"));

/// The version whose form judges a document: marking documents (81–84) exist only in FFD 1.2
/// and carry no 1209, so they are judged by their 1.2 form whatever they claim.
#[inline]
pub fn judged_as(doc_type: DocType, ffd: FfdVersion) -> FfdVersion {
    if doc_type.is_marking() {
        FfdVersion::V1_2
    } else {
        ffd
    }
}

/// The form of `doc_type` in `ffd` (after [`judged_as`]). Every pair has one: `build.rs`
/// refuses a forms.toml that leaves one out.
#[inline]
pub fn form(doc_type: DocType, ffd: FfdVersion) -> &'static Form {
    let ffd = judged_as(doc_type, ffd);
    form_index(doc_type.as_u8(), ffd.tag_value())
        .and_then(|i| FORMS.get(i))
        .unwrap_or(&EMPTY)
}

/// Unreachable in practice (see [`form`]); keeps the lookup total without a panic.
static EMPTY: Form = Form {
    docs: &[],
    ffd: &[],
    mandatory: &[],
    any_of: &[],
    nested: &[],
    source: "",
    lenient: "",
};

/// Every form, the derived FFD 1.0 ones last.
pub fn all() -> &'static [Form] {
    &FORMS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_type_and_version_has_its_form() {
        for d in DocType::ALL {
            for v in FfdVersion::ALL {
                let f = form(d, v);
                assert!(f.docs.contains(&d.as_u8()), "{d} {v}");
                assert!(f.ffd.contains(&judged_as(d, v).tag_value()), "{d} {v}");
            }
        }
    }

    #[test]
    fn ffd_1_2_registration_replaced_its_tags() {
        let f12 = form(DocType::Registration, FfdVersion::V1_2);
        let f105 = form(DocType::Registration, FfdVersion::V1_05);
        for t in [1290, 1190, 1213, 1009] {
            assert!(
                f12.mandatory.contains(&t) && !f105.mandatory.contains(&t),
                "{t}"
            );
        }
        for t in [1108, 1109, 1110, 1221] {
            assert!(
                !f12.mandatory.contains(&t) && f105.mandatory.contains(&t),
                "{t}"
            );
        }
        let f10 = form(DocType::Registration, FfdVersion::V1_0);
        assert!(!f10.mandatory.contains(&1209) && f10.mandatory.contains(&1048));
    }

    #[test]
    fn every_form_tag_is_placed_there_by_the_dictionary() {
        for f in all() {
            for &d in f.docs {
                for &t in f
                    .mandatory
                    .iter()
                    .chain(f.any_of.iter().flat_map(|g| g.iter()))
                {
                    let info = crate::dict::lookup(t).expect("build.rs checked it is known");
                    assert!(info.allowed_in_doc(d), "tag {t} not placed in document {d}");
                }
            }
            for n in f.nested {
                for &t in n.mandatory {
                    let info = crate::dict::lookup(t).expect("known");
                    assert!(
                        info.allowed_in(n.parent),
                        "tag {t} not placed inside {}",
                        n.parent
                    );
                }
            }
        }
    }
}
