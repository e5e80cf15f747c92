//! Monitoring: the organisation's registers as circles grouped by point of sale, counts per
//! colour, fiscal-drive trouble, and today's documents. Counts come from
//! `Scoped::liveness_counts` (the scope's registers only); circles from the register list.

use std::collections::BTreeMap;

use axum::extract::Query;
use axum::response::Html;
use maud::html;
use serde::Deserialize;

use super::Colour;
use super::registers::{ListQuery, Row, rows};
use crate::error::PageError;
use crate::i18n::M;
use crate::layout::{self, circle};
use crate::session::SignedIn;

/// Circles drawn on one page; the register list pages through the rest.
const MAX_CIRCLES: usize = 2000;

#[derive(Default, Deserialize)]
pub struct MonitoringQuery {
    /// `green`, `yellow`, `red`, `grey` or empty.
    #[serde(default)]
    colour: String,
    #[serde(default)]
    place: String,
}

/// `GET /monitoring`.
pub async fn page(
    s: SignedIn,
    Query(q): Query<MonitoringQuery>,
) -> Result<Html<String>, PageError> {
    let l = s.lang;
    let p = s.portal();
    let now = s.now();
    let (counts, health) =
        s.store()
            .liveness_counts(now, p.config.yellow_after_secs, p.config.red_after_secs)?;
    let (all, more) = rows(&s, &ListQuery::default(), MAX_CIRCLES)?;
    let want = |r: &Row| {
        let c = match r.colour {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
            Colour::Grey => "grey",
        };
        (q.colour.is_empty() || q.colour == c)
            && (q.place.is_empty() || r.place.to_lowercase().contains(&q.place.to_lowercase()))
    };
    let mut by_place: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in all.iter().filter(|r| want(r)) {
        by_place.entry(r.place.as_str()).or_default().push(r);
    }
    let body = html! {
        section.counts aria-label=(l.t(M::Counts)) {
            div.count { (circle(l, Colour::Green)) b { (counts.green) } (l.t(M::Online)) }
            div.count { (circle(l, Colour::Yellow)) b { (counts.yellow) } (l.t(M::Late)) }
            div.count { (circle(l, Colour::Red)) b { (counts.red) } (l.t(M::Silent)) }
            div.count { (circle(l, Colour::Grey)) b { (counts.deregistered) } (l.t(M::StatusDeregistered)) }
        }
        h2 { (l.t(M::FnTrouble)) }
        ul {
            li { (l.t(M::KeyExpiry30)) ": " strong { (health.key_expiry_soon) } }
            li { (l.t(M::KeyExpiry3)) ": " strong { (health.key_expiry_urgent) } }
            li { (l.t(M::Untransmitted)) ": " strong { (health.untransmitted) } }
            li { (l.t(M::MemoryFull)) ": " strong { (health.memory_nearly_full) } }
            li { (l.t(M::AckOverdue)) ": " strong { (health.ack_overdue) } }
        }
        form.filters method="get" action="/monitoring" {
            div.field { label for="colour" { (l.t(M::State)) }
                select #colour name="colour" {
                    option value="" { (l.t(M::Any)) }
                    option value="green" selected[q.colour == "green"] { (l.t(M::Online)) }
                    option value="yellow" selected[q.colour == "yellow"] { (l.t(M::Late)) }
                    option value="red" selected[q.colour == "red"] { (l.t(M::Silent)) }
                    option value="grey" selected[q.colour == "grey"] { (l.t(M::NoData)) }
                }
            }
            div.field { label for="place" { (l.t(M::Place)) } input #place name="place" value=(q.place); }
            button type="submit" { (l.t(M::Search)) }
        }
        @for (place, regs) in &by_place {
            section.place {
                h2 { @if place.is_empty() { (l.t(M::NoPlace)) } @else { (place) } " (" (regs.len()) ")" }
                ul {
                    @for r in regs {
                        li { (circle(l, r.colour)) a href=(r.link) { (r.kind) " " (r.id) } " " (r.name) }
                    }
                }
            }
        }
        @if by_place.is_empty() { p { (l.t(M::NothingFound)) } }
        @if more.is_some() { p { a href="/registers" { (l.t(M::MoreInList)) } } }
    };
    Ok(Html(
        layout::page(&s, l.t(M::Monitoring), body).into_string(),
    ))
}
