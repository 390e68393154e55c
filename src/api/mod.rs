//! The HTTP API under `/api/v1`: thin handlers that parse, call one use case and map
//! the answer. Routes are registered through utoipa-actix-web, so the OpenAPI
//! document is generated from them.

use std::sync::Arc;

use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};

use crate::config::Settings;
use crate::db::DbPool;
use crate::error::{ApiError, ApiResult};
use crate::limits::Brakes;
use crate::telemetry::Metrics;

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod caller;
pub mod checkbooks;
pub mod evaluations;
pub mod extract;
pub mod indicators;
pub mod invitations;
pub mod ledger;
pub mod lookup;
pub mod ops;
pub mod organizations;
pub mod outbox;
pub mod pagination;
pub mod payouts;
pub mod program_corrections;
pub mod programs;
pub mod public;
pub mod redemptions;
pub mod services;
pub mod settlements;
pub mod sites;
pub mod stats;

/// What handlers share.
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    /// Brakes on password guessing: per (e-mail, address) pair, per address.
    pub login: Brakes,
    /// The same registry as the app data the metrics middleware reads.
    pub metrics: actix_web::web::Data<Metrics>,
    /// Signs and checks ticket codes.
    pub codes: crate::codes::CodeKeys,
    /// Brakes on guessing codes and serials (per user, per IP address).
    pub scan_limits: Brakes,
    /// Brakes on password reset requests (per e-mail, per IP address).
    pub reset_limits: Brakes,
    /// This node's view of the sessions revoked recently (see [`crate::sessions`]).
    pub revocations: Arc<crate::sessions::Revocations>,
}

impl AppState {
    pub async fn conn(&self) -> ApiResult<crate::db::DbConn> {
        self.pool.get().await.map_err(ApiError::from)
    }

    /// The client's address (see [`crate::client_addr`]).
    pub fn client_ip(&self, req: &actix_web::HttpRequest) -> Option<std::net::IpAddr> {
        crate::client_addr::client_ip(req, &self.settings.trusted_proxies)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pass Numérique",
        description = "Chèques de formation au numérique : émission, encaissement, remboursement. \
Les erreurs sont des problèmes RFC 9457 (application/problem+json) avec un `code` stable.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The base document that the routes complete.
pub fn base_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Every route of `/api/v1`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/api/v1")
            .service(auth::login)
            .service(auth::me)
            .service(auth::refresh)
            .service(auth::logout)
            .service(auth::change_password)
            .service(auth::request_password_reset)
            .service(auth::confirm_password_reset)
            .service(invitations::accept)
            .service(organizations::create_organization)
            .service(organizations::list_organizations)
            .service(organizations::get_organization)
            .service(organizations::list_users)
            .service(organizations::create_user)
            .service(organizations::reinvite_user)
            .service(organizations::update_user)
            .service(sites::update_organization)
            .service(sites::history)
            .service(services::list)
            .service(services::replace)
            .service(organizations::grant_label)
            .service(organizations::suspend_label)
            .service(organizations::reinstate_label)
            .service(programs::create_program)
            .service(programs::list_programs)
            .service(programs::get_program)
            .service(programs::record_payment)
            .service(programs::add_allocation)
            .service(program_corrections::update_program)
            .service(program_corrections::update_allocation)
            .service(program_corrections::extend)
            .service(audit::list)
            .service(stats::program_stats)
            .service(stats::program_stats_csv)
            .service(programs::close_program)
            .service(checkbooks::issue_checkbook)
            .service(checkbooks::list_checkbooks)
            .service(checkbooks::get_checkbook)
            .service(checkbooks::correct_checkbook)
            .service(checkbooks::erase_beneficiary)
            .service(evaluations::record)
            .service(evaluations::list)
            .service(evaluations::to_follow)
            .service(checkbooks::hand_out)
            .service(checkbooks::cancel)
            .service(checkbooks::checkbook_pdf)
            .service(checkbooks::send)
            .service(checkbooks::issue_print_run)
            .service(checkbooks::list_print_runs)
            .service(checkbooks::get_print_run)
            .service(checkbooks::print_run_pdf)
            .service(checkbooks::ticket_qr_svg)
            .service(checkbooks::ticket_qr_png)
            .service(redemptions::verify)
            .service(redemptions::redeem)
            .service(redemptions::redeem_batch)
            .service(services::redeem_session)
            .service(redemptions::reverse)
            .service(redemptions::list)
            .service(settlements::create)
            .service(settlements::get)
            .service(settlements::list)
            .service(settlements::get_statement)
            .service(settlements::statement_csv)
            .service(settlements::statement_pdf)
            .service(payouts::sepa_file)
            .service(payouts::mark_paid)
            .service(ledger::accounts)
            .service(ledger::trial_balance)
            .service(ledger::cover)
            .service(outbox::list)
            .service(outbox::resend)
            .service(lookup::search)
            .service(alerts::dashboard_alerts)
            .service(public::list_sites)
            .service(indicators::published_programs)
            .service(public::themes)
            .service(indicators::program_indicators),
    );
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics);
}

/// The OpenAPI document generated from the routes, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    actix_web::App::new()
        .into_utoipa_app()
        .openapi(base_document())
        .configure(routes)
        .split_for_parts()
        .1
}
