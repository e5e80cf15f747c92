//! The web portal's wiring: `ofd-portal` owns the pages; this lends them what only the daemon
//! has — its clock (which tests shift), the mailer, the Kazakh pipeline's register state
//! (changed under the pipeline's per-register lock, like the API does), and the reading of
//! logged Kazakh exchanges (`kz_view`), which needs the protocol crate.

use std::sync::Arc;

use axum::Router;
use ofd_portal::{BoxFuture, KzCard, KzExchange, KzTicket, Portal, PortalConfig, Services};
use ofd_store::accounts::LinkPurpose;
use ofd_store::{KzLogEntry, Scoped};

use crate::app::App;
use crate::clock::unix_now;
use crate::kz::KzAdminError;

struct DaemonServices(Arc<App>);

impl Services for DaemonServices {
    fn now(&self) -> u64 {
        u64::from(unix_now())
    }

    fn mail_link<'a>(
        &'a self,
        to: &'a str,
        url: &'a str,
        purpose: LinkPurpose,
    ) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            crate::mail::send_link(self.0.config(), to, url, purpose)
                .await
                .map_err(|e| format!("the link could not be mailed: {e}"))
        })
    }

    fn kz_card(&self, scoped: &Scoped<'_>, system_id: u32) -> Result<Option<KzCard>, String> {
        let facts = match self.0.kz().facts(scoped, system_id) {
            Ok(f) => f,
            Err(KzAdminError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        Ok(Some(KzCard {
            system_id,
            org_inn: facts.reg.org_inn.clone(),
            org_name: facts.reg.org_title.clone(),
            address: facts.reg.pos_address.clone(),
            serial: facts.reg.serial_number.clone(),
            status: format!("{:?}", facts.status).to_lowercase(),
            next_ticket_number: facts.next_ticket_number,
            shift_open: facts.shift.as_ref().map(|s| s.number),
            last_shift_number: facts.last_shift_number,
        }))
    }

    fn kz_issue_token<'a>(
        &'a self,
        scoped: &'a Scoped<'a>,
        system_id: u32,
    ) -> BoxFuture<'a, Result<Option<u32>, String>> {
        Box::pin(async move {
            match self.0.kz().issue_token(scoped, system_id).await {
                Ok(t) => Ok(Some(t)),
                Err(KzAdminError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn kz_ticket(
        &self,
        registration_number: &str,
        ticket_number: u64,
    ) -> Result<Option<KzTicket>, String> {
        crate::kz_view::ticket(self.0.store(), registration_number, ticket_number)
    }

    fn kz_exchange(&self, entry: &KzLogEntry) -> KzExchange {
        crate::kz_view::exchange(entry)
    }
}

/// The portal's router, for the daemon's `portal_listen` listener.
pub fn router(app: Arc<App>) -> Router {
    let cfg = app.config();
    let config = PortalConfig {
        public_url: cfg.accounts.public_url.clone(),
        yellow_after_secs: u64::from(cfg.liveness.yellow_after_secs),
        red_after_secs: u64::from(cfg.liveness.red_after_secs),
        session_absolute_secs: cfg.accounts.session_absolute_secs,
        ..PortalConfig::default()
    };
    let portal = Portal::new(
        app.store().clone(),
        app.auth_arc(),
        config,
        Arc::new(DaemonServices(app.clone())),
    );
    ofd_portal::router(portal)
}
