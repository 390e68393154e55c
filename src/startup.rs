//! Building and running the HTTP server, and stopping it.
//!
//! **Stopping.** `SIGTERM` (or `SIGINT`, Ctrl-C) starts a graceful stop: the listener
//! is closed at once (new connections are refused), the requests in flight finish
//! within [`SHUTDOWN_GRACE`], each answered with `Connection: close` so that clients
//! do not send another request on a connection about to end; then the mail worker
//! finishes the mail it is sending and gives back the ones it had claimed
//! (`mail::worker`), within [`MAIL_GRACE`]. A second signal stops at once.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, header};
use actix_web::middleware::Next;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, AppState, extract};
use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::{ApiError, PROBLEM_JSON};
use crate::limits::{Brakes, FailureLimiter};
use crate::mail::{self, worker::Mailer};
use crate::telemetry::{self, Metrics};

/// Connections of the background pool: the mail worker, the daily jobs and the
/// watch of revoked sessions, one each.
const BACKGROUND_POOL_SIZE: usize = 3;

/// How long the requests in flight get to finish once a stop is asked.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How long the mail worker gets, after the server stopped, to finish the mail it is
/// sending; then it is cut (that mail is claimed again after
/// `mail_sending_timeout_seconds`, with the same Message-ID).
pub const MAIL_GRACE: Duration = Duration::from_secs(10);

/// Set once a stop was asked: answers then close their connection.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct Application {
    port: u16,
    server: Server,
    draining: Draining,
    /// The mail worker, stopped with the server: told by `stop_mail`, then awaited.
    mail_worker: Option<tokio::task::JoinHandle<()>>,
    stop_mail: tokio::sync::watch::Sender<bool>,
    /// Reads the sessions revoked recently, stopped with the server.
    revocation_watch: tokio::task::JoinHandle<()>,
    /// The daily jobs (`crate::jobs`), stopped with the server.
    daily_jobs: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Binds the listener and prepares the server over an existing pool.
    pub fn build(settings: Settings, pool: DbPool) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.bind_addr()?)?;
        let port = listener.local_addr()?.port();
        let settings = Arc::new(settings);
        let (stop_mail, mail_stop) = tokio::sync::watch::channel(false);
        // The mail worker and the daily jobs outlive the HTTP workers: their own pool
        // (`db::build_pool` says why).
        let background = db::background_pool(&pool, BACKGROUND_POOL_SIZE)?;
        let mail_worker = if settings.mail_worker {
            let mail_settings = settings.mail()?;
            let mailer = Mailer::new(&mail_settings).map_err(|e| anyhow::anyhow!(e))?;
            if let Some(folder) = mailer.folder() {
                if settings.environment == crate::config::Environment::Production {
                    tracing::warn!(
                        folder = %folder.display(),
                        "no PASSNUM_SMTP_URL in production: mails are only written as .eml files in this folder, nobody receives them"
                    );
                } else {
                    tracing::info!(
                        folder = %folder.display(),
                        "no PASSNUM_SMTP_URL: mails are written as .eml files in this folder"
                    );
                }
            }
            let interval = mail_settings.poll_interval;
            Some(tokio::spawn(mail::worker::run(
                background.clone(),
                mailer,
                interval,
                mail_stop,
            )))
        } else {
            None
        };
        if settings.environment == crate::config::Environment::Development
            && settings.public_url_is_local()
        {
            tracing::warn!(public_url = %settings.public_url, "PASSNUM_PUBLIC_URL is not set: the links of the mails (invitations, password resets) point to this machine and open nowhere else");
        }
        if settings.environment == crate::config::Environment::Production
            && settings.metrics_token().is_none()
        {
            tracing::warn!(
                "no PASSNUM_METRICS_TOKEN in production: GET /metrics shows the programs' money to whoever reaches this node (docs/OPERATIONS.md)"
            );
        }
        let daily_jobs = if settings.daily_jobs {
            let at = settings.daily_jobs_time()?;
            Some(tokio::spawn(crate::jobs::run(
                background.clone(),
                at,
                settings.beneficiary_retention_months,
            )))
        } else {
            None
        };
        let revocations = crate::sessions::Revocations::new();
        let window = Duration::from_secs(settings.login_failure_window_seconds);
        // The metrics and the trusted proxies are app data of their own: the
        // middleware of `telemetry` reads them without knowing the API's state.
        let metrics = web::Data::new(Metrics::new()?);
        let trusted_proxies = web::Data::new(settings.trusted_proxies.clone());
        let state = web::Data::new(AppState {
            pool,
            login: Brakes {
                per_account: FailureLimiter::new(settings.login_max_failures_per_email, window),
                per_address: FailureLimiter::new(settings.login_max_failures_per_ip, window),
            },
            metrics: metrics.clone(),
            scan_limits: Brakes {
                per_account: FailureLimiter::new(
                    settings.scan_max_failures_per_user,
                    Duration::from_secs(settings.scan_failure_window_seconds),
                ),
                per_address: FailureLimiter::new(
                    settings.scan_max_failures_per_ip,
                    Duration::from_secs(settings.scan_failure_window_seconds),
                ),
            },
            reset_limits: crate::passwords::reset_limits(),
            revocations: revocations.clone(),
            codes: crate::codes::CodeKeys::new(settings.ticket_keys())
                .map_err(|e| anyhow::anyhow!("PASSNUM_TICKET_KEYS: {e}"))?,
            settings: settings.clone(),
        });
        let revocation_watch = tokio::spawn(crate::sessions::watch(
            background,
            revocations,
            settings.token_ttl_seconds,
        ));
        let keys = web::Data::new(TokenKeys::new(
            settings.token_secret_bytes(),
            settings.token_ttl_seconds,
        ));
        let body_limit = settings.max_body_bytes;
        let draining = Draining::default();
        let draining_data = web::Data::new(draining.clone());
        let server = HttpServer::new(move || {
            let (app, openapi) = App::new()
                .into_utoipa_app()
                .openapi(api::base_document())
                .app_data(state.clone())
                .app_data(keys.clone())
                .app_data(metrics.clone())
                .app_data(trusted_proxies.clone())
                .app_data(draining_data.clone())
                .configure(|cfg| extract::configure_extractors(cfg, body_limit))
                .configure(api::routes)
                .split_for_parts();
            app.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi))
                .service(web::redirect("/docs", "/docs/"))
                .service(web::resource("/app/{path:.*}").route(web::get().to(crate::web::asset)))
                .default_service(web::to(crate::web::fallback))
                .wrap(from_fn(crate::web::compress_large_answers))
                .wrap(from_fn(telemetry::record_metrics))
                .wrap(from_fn(problem_safety_net))
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .wrap(TracingLogger::<telemetry::RedactingRootSpan>::new())
                .wrap(from_fn(close_when_draining))
        })
        .listen(listener)?
        // The signals are ours (`run_until_stopped`): the drain must be known to the
        // middleware, and the mail worker stopped after the server.
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .run();
        Ok(Application {
            port,
            server,
            draining,
            mail_worker,
            stop_mail,
            revocation_watch,
            daily_jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a stop signal (see the module's doc), then stops the workers.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let draining = self.draining.clone();
        let signals = tokio::spawn(async move {
            stop_signal().await;
            draining.start();
            tracing::info!(
                grace_seconds = SHUTDOWN_GRACE.as_secs(),
                "stop asked: new connections refused, the requests in flight finish"
            );
            let graceful = handle.stop(true);
            tokio::select! {
                () = graceful => {}
                () = stop_signal() => {
                    tracing::warn!("second stop signal: the requests in flight are cut");
                    handle.stop(false).await;
                }
            }
        });
        let result = self.server.await;
        signals.abort();
        // Nobody listens any more once the worker is gone: nothing to report.
        let _ = self.stop_mail.send(true);
        if let Some(mut worker) = self.mail_worker
            && tokio::time::timeout(MAIL_GRACE, &mut worker).await.is_err()
        {
            tracing::warn!(
                grace_seconds = MAIL_GRACE.as_secs(),
                "the mail worker did not finish its mail in time: cut"
            );
            worker.abort();
        }
        self.revocation_watch.abort();
        if let Some(jobs) = self.daily_jobs {
            jobs.abort();
        }
        result
    }
}

/// Resolves the database (starting the private cluster if needed), migrates it and
/// builds the pool.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<DbPool> {
    let url = db::resolve_database_url(settings).await?;
    let applied = db::run_migrations(&url).await?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    db::build_pool(&url, settings.database_pool_size)
}

/// Waits for `SIGTERM` or `SIGINT`. Without signal handling (it could not be set up),
/// waits forever: the server then stops only when dropped.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        (Err(err), _) | (_, Err(err)) => {
            tracing::error!(error = %err, "stop signals cannot be handled: SIGTERM will not drain");
            std::future::pending::<()>().await;
        }
    }
}

/// Middleware: once a stop is asked, every answer closes its connection, so that a
/// client's next request opens a new one (refused here, taken by another node)
/// instead of being cut with the connection at the end of the grace period.
async fn close_when_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = req.app_data::<web::Data<Draining>>().cloned();
    let mut res = next.call(req).await?;
    if draining.is_some_and(|d| d.is_on()) {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// Middleware: an error answered by actix itself (not by our handlers) still leaves as
/// problem+json, so that every error a client sees has the same shape.
async fn problem_safety_net(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !status.is_client_error() && !status.is_server_error() || is_problem {
        return Ok(res.map_into_boxed_body());
    }
    let (code, detail) = match status.as_u16() {
        404 => (
            "not_found",
            "Cette adresse ne correspond à aucune ressource de l’API.",
        ),
        405 => (
            "method_not_allowed",
            "Cette méthode n’est pas permise sur cette adresse.",
        ),
        413 => (
            "payload_too_large",
            "Le corps de la requête dépasse la taille permise.",
        ),
        s if s >= 500 => (
            "internal_error",
            "Une erreur interne est survenue ; elle a été enregistrée.",
        ),
        _ => ("bad_request", "La requête n’a pas pu être comprise."),
    };
    let (req, _) = res.into_parts();
    let response = ApiError::new(status, code, detail).error_response();
    Ok(ServiceResponse::new(req, response))
}
