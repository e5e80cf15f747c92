//! Partner links, made the way operators' partner cabinets make them: one side asks, the other
//! accepts or declines; either side ends it. While a link is active the partner acts on the
//! taxpayer's registers (`scope.rs` reads `clients_of`), and on no one else's.

use super::types::*;
use super::{get, key, not_found, scan_keys};
use crate::error::StoreError;
use crate::future::StoreFuture;
use crate::store::Store;

fn org_of_kind(tx: &super::Tx<'_>, inn: &str, kind: OrgKind) -> Result<Org, StoreError> {
    let org: Org = tx
        .get(&key(b'O', &[inn.as_bytes()]))?
        .ok_or_else(|| not_found(format!("organisation {inn}")))?;
    if org.kind != kind {
        return Err(StoreError::InvalidInput(format!(
            "organisation {inn} is a {}, not a {}",
            org.kind.as_str(),
            kind.as_str()
        )));
    }
    Ok(org)
}

fn link_key(taxpayer: &str, partner: &str) -> Vec<u8> {
    key(b'P', &[taxpayer.as_bytes(), partner.as_bytes()])
}

impl Store {
    /// A request by one side to link `partner` to `taxpayer`; made at once when the operator
    /// asks, or when the other side had already asked.
    pub fn request_partner(
        &self,
        taxpayer: String,
        partner: String,
        by: Side,
        note: String,
        now: u64,
    ) -> StoreFuture<PartnerLink> {
        self.accounts_tx(move |tx| {
            org_of_kind(tx, &taxpayer, OrgKind::Taxpayer)?;
            org_of_kind(tx, &partner, OrgKind::Partner)?;
            let k = link_key(&taxpayer, &partner);
            let old: Option<PartnerLink> = tx.get(&k)?;
            let status = match &old {
                Some(l) if l.status == LinkStatus::Active => {
                    return Err(StoreError::Exists(format!(
                        "partner {partner} already serves {taxpayer}"
                    )));
                }
                Some(l) if l.status == LinkStatus::Requested && l.requested_by != by => {
                    LinkStatus::Active
                }
                _ if by == Side::Operator => LinkStatus::Active,
                _ => LinkStatus::Requested,
            };
            let link = PartnerLink {
                taxpayer: taxpayer.clone(),
                partner: partner.clone(),
                status,
                requested_by: by,
                changed_by: None,
                note,
                created_at: old.as_ref().map_or(now, |l| l.created_at),
                updated_at: now,
            };
            tx.put(&k, &link)?;
            tx.put_raw(&key(b'p', &[partner.as_bytes(), taxpayer.as_bytes()]), b"")?;
            Ok(link)
        })
    }

    /// The asked side (or the operator) accepts or declines a pending request.
    pub fn answer_partner(
        &self,
        taxpayer: String,
        partner: String,
        by: Side,
        accept: bool,
        now: u64,
    ) -> StoreFuture<PartnerLink> {
        let to = if accept {
            LinkStatus::Active
        } else {
            LinkStatus::Declined
        };
        self.change_link(taxpayer, partner, by, to, now)
    }

    /// Either side ends a link (or withdraws a pending request).
    pub fn end_partner(
        &self,
        taxpayer: String,
        partner: String,
        by: Side,
        now: u64,
    ) -> StoreFuture<PartnerLink> {
        self.change_link(taxpayer, partner, by, LinkStatus::Ended, now)
    }

    /// Moves a link to `to` when its current status allows it: a pending request is answered
    /// (by the side that was asked) or withdrawn; an active link is ended.
    fn change_link(
        &self,
        taxpayer: String,
        partner: String,
        by: Side,
        to: LinkStatus,
        now: u64,
    ) -> StoreFuture<PartnerLink> {
        self.accounts_tx(move |tx| {
            let k = link_key(&taxpayer, &partner);
            let answering = to != LinkStatus::Ended;
            let mut link: PartnerLink = tx
                .get(&k)?
                .filter(|l: &PartnerLink| match l.status {
                    LinkStatus::Requested => true,
                    LinkStatus::Active => !answering,
                    LinkStatus::Declined | LinkStatus::Ended => false,
                })
                .ok_or_else(|| {
                    let what = if answering {
                        "a pending request"
                    } else {
                        "a link"
                    };
                    not_found(format!("{what} between {taxpayer} and {partner}"))
                })?;
            if answering && link.requested_by == by {
                return Err(StoreError::InvalidInput(
                    "the side that asked cannot answer its own request; the other side does".into(),
                ));
            }
            link.status = to;
            link.changed_by = Some(by);
            link.updated_at = now;
            tx.put(&k, &link)?;
            Ok(link)
        })
    }

    pub fn partner_link(
        &self,
        taxpayer: &str,
        partner: &str,
    ) -> Result<Option<PartnerLink>, StoreError> {
        get(&self.shared().db()?, &link_key(taxpayer, partner))
    }

    /// Every link (any status), by taxpayer then partner, a page at a time after the link
    /// `after` (taxpayer, partner): the operator's list of all partner links.
    pub fn partner_links(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<PartnerLink>, StoreError> {
        let db = self.shared().db()?;
        let after = after.map(|(t, p)| link_key(t, p)[1..].to_vec());
        scan_keys(&db, b"P", after.as_deref(), limit)?
            .into_iter()
            .map(|(_, v)| super::decode(&v, "partner link"))
            .collect()
    }

    /// Every link (any status) an organisation is part of, on either side.
    pub fn partner_links_of(&self, inn: &str) -> Result<Vec<PartnerLink>, StoreError> {
        let db = self.shared().db()?;
        let mut out = Vec::new();
        let as_taxpayer = key(b'P', &[inn.as_bytes(), b""]);
        for (_, v) in scan_keys(&db, &as_taxpayer, None, usize::MAX)? {
            out.push(super::decode(&v, "partner link")?);
        }
        let as_partner = key(b'p', &[inn.as_bytes(), b""]);
        for (taxpayer, _) in scan_keys(&db, &as_partner, None, usize::MAX)? {
            if let Some(l) = get::<PartnerLink>(&db, &key(b'P', &[&taxpayer, inn.as_bytes()]))? {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// The taxpayers a partner serves now (active links).
    pub fn clients_of(&self, partner: &str) -> Result<Vec<String>, StoreError> {
        let db = self.shared().db()?;
        let prefix = key(b'p', &[partner.as_bytes(), b""]);
        let mut out = Vec::new();
        for (taxpayer, _) in scan_keys(&db, &prefix, None, usize::MAX)? {
            let l = get::<PartnerLink>(&db, &key(b'P', &[&taxpayer, partner.as_bytes()]))?;
            if l.is_some_and(|l| l.status == LinkStatus::Active) {
                out.push(String::from_utf8_lossy(&taxpayer).into_owned());
            }
        }
        Ok(out)
    }
}
