//! Typed configuration: `config/default.toml`, then `config/<environment>.toml`, then
//! `PASSNUM_*` environment variables, then `DATABASE_URL`. Secrets are held in
//! [`SecretString`], which never prints its content (`Debug` shows `[REDACTED]`).
//!
//! Signing secrets: production must be given its own (`PASSNUM_TOKEN_SECRET`,
//! `PASSNUM_TICKET_KEYS`); elsewhere, missing ones come from the data folder, where the
//! service makes them on first start ([`crate::secrets`]). A configured secret that was
//! published in the repository is refused in every environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveTime;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::operator_identity::{OperatorConfig, OperatorIdentity};

/// Where the service runs. Production refuses default or missing secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub environment: Environment,
    pub bind: String,
    /// `None`: the service starts its own PostgreSQL cluster under `data_dir`.
    pub database_url: Option<SecretString>,
    pub database_pool_size: usize,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_level: String,
    pub token_secret: Option<SecretString>,
    pub token_ttl_seconds: u64,
    /// `key_id:secret[,key_id:secret…]`; the first key signs, all verify.
    pub ticket_keys: Option<SecretString>,
    pub login_max_failures_per_email: u32,
    pub login_max_failures_per_ip: u32,
    pub login_failure_window_seconds: u64,
    pub max_body_bytes: usize,
    pub smtp_url: Option<SecretString>,
    /// Invalid codes and unknown serials tolerated per user and per IP address
    /// within the window, before scans are refused for a while.
    pub scan_max_failures_per_user: u32,
    pub scan_max_failures_per_ip: u32,
    pub scan_failure_window_seconds: u64,
    /// How long after a redemption its site may undo it.
    pub reversal_grace_minutes: i64,
    /// How old a phone's offline scan may be when it syncs.
    pub offline_scan_window_hours: i64,
    /// Sender of the mails: `Pass Numérique <ne-pas-repondre@example.org>`. Its
    /// domain also ends every Message-ID.
    pub mail_from: String,
    /// Where people reach the web app, for the links in mails (invitations).
    pub public_url: String,
    /// Whether `serve` runs the mail worker (several servers may run one each).
    pub mail_worker: bool,
    /// How often the mail worker looks for mails due, in milliseconds.
    pub mail_poll_interval_ms: u64,
    /// Wait before the second attempt of a mail, doubled after each failure…
    pub mail_retry_base_ms: u64,
    /// …up to this many seconds.
    pub mail_retry_max_seconds: u64,
    /// Attempts after which a mail that keeps failing is marked `failed`.
    pub mail_max_attempts: u32,
    /// An attempt still marked `sending` after this long was cut short (a crash):
    /// the mail is sent again, with the same Message-ID.
    pub mail_sending_timeout_seconds: u64,
    /// Longest wait for the SMTP server on one mail.
    pub smtp_timeout_seconds: u64,
    /// How long an invitation link stays valid.
    pub invitation_ttl_hours: i64,
    /// Reverse proxies whose `X-Forwarded-For` is believed (IPs or CIDRs; none by
    /// default): see [`crate::client_addr`].
    #[serde(default)]
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    /// The data folder's secrets file, when the signing secrets (or one of them) came
    /// from it; `true` when this start made it.
    #[serde(skip)]
    pub generated_secrets: Option<(PathBuf, bool)>,
    /// A session ends after this long without a refresh…
    pub session_idle_minutes: i64,
    /// …and at most this long after its login.
    pub session_max_hours: i64,
    /// Whether `serve` runs the daily jobs (`expire`, `remind`: [`crate::jobs`])…
    pub daily_jobs: bool,
    /// …from this time of day, `HH:MM`, Paris time.
    pub daily_jobs_at: String,
    /// How long after a checkbook's end its beneficiary's record is kept before
    /// `purge` erases it (RGPD; `docs/DATA.md`).
    pub beneficiary_retention_months: u32,
    /// The operator's legal identity as configured (`PASSNUM_OPERATOR_*`), raw.
    #[serde(flatten)]
    pub operator_config: OperatorConfig,
    /// The operator's legal identity, checked by [`Settings::load`]: the configured
    /// one, or outside production the demonstration identity (marked as such).
    #[serde(skip)]
    pub operator: OperatorIdentity,
    /// When set, `GET /metrics` answers only `Authorization: Bearer <this token>`
    /// (the money metrics name programs and amounts); unset, it answers everyone.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
}

/// Values every environment starts from, before any file is read.
#[derive(Serialize)]
struct Defaults {
    environment: Environment,
    bind: &'static str,
    database_pool_size: usize,
    data_dir: &'static str,
    log_format: LogFormat,
    log_level: &'static str,
    token_ttl_seconds: u64,
    login_max_failures_per_email: u32,
    login_max_failures_per_ip: u32,
    login_failure_window_seconds: u64,
    max_body_bytes: usize,
    scan_max_failures_per_user: u32,
    scan_max_failures_per_ip: u32,
    scan_failure_window_seconds: u64,
    reversal_grace_minutes: i64,
    offline_scan_window_hours: i64,
    mail_from: &'static str,
    public_url: &'static str,
    mail_worker: bool,
    mail_poll_interval_ms: u64,
    mail_retry_base_ms: u64,
    mail_retry_max_seconds: u64,
    mail_max_attempts: u32,
    mail_sending_timeout_seconds: u64,
    smtp_timeout_seconds: u64,
    invitation_ttl_hours: i64,
    session_idle_minutes: i64,
    session_max_hours: i64,
    daily_jobs: bool,
    daily_jobs_at: &'static str,
    beneficiary_retention_months: u32,
}

const DEFAULTS: Defaults = Defaults {
    environment: Environment::Development,
    bind: "127.0.0.1:8080",
    database_pool_size: 16,
    data_dir: ".data",
    log_format: LogFormat::Text,
    log_level: "info",
    token_ttl_seconds: 900,
    login_max_failures_per_email: 5,
    login_max_failures_per_ip: 30,
    login_failure_window_seconds: 900,
    max_body_bytes: 256 * 1024,
    scan_max_failures_per_user: 20,
    scan_max_failures_per_ip: 60,
    scan_failure_window_seconds: 600,
    reversal_grace_minutes: 15,
    offline_scan_window_hours: 72,
    mail_from: "Pass Numérique <ne-pas-repondre@pass-numerique.localhost>",
    public_url: "http://127.0.0.1:8080",
    mail_worker: true,
    mail_poll_interval_ms: 1000,
    mail_retry_base_ms: 1000,
    mail_retry_max_seconds: 600,
    mail_max_attempts: 12,
    mail_sending_timeout_seconds: 300,
    smtp_timeout_seconds: 30,
    invitation_ttl_hours: 72,
    session_idle_minutes: 120,
    session_max_hours: 12,
    daily_jobs: true,
    daily_jobs_at: "03:30",
    beneficiary_retention_months: 12,
};

const MIN_SECRET_LEN: usize = 32;

/// Parses `daily_jobs_at`: `HH:MM`, Paris time.
pub fn parse_time_of_day(raw: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| {
        format!("PASSNUM_DAILY_JOBS_AT must be a time of day HH:MM (Paris time), such as 03:30, not {raw:?}")
    })
}

/// Where the mails go.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// An SMTP server (`PASSNUM_SMTP_URL`, `smtp://` or `smtps://`, credentials in
    /// the URL), waited for at most `timeout` per mail.
    Smtp {
        url: SecretString,
        /// `host:port`, for the logs (never the credentials).
        server: String,
        timeout: Duration,
    },
    /// No SMTP URL (development): `.eml` files in this folder, `<data_dir>/mail/`.
    Files(PathBuf),
}

/// The mail settings, parsed and checked at start-up: what the mail worker needs.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The sender (`PASSNUM_MAIL_FROM`).
    pub from: Mailbox,
    /// The sender's domain, the right-hand side of every Message-ID.
    pub domain: String,
    pub transport: MailTransport,
    /// Wait before the second attempt of a mail, doubled after each failure…
    pub retry_base: Duration,
    /// …up to this long.
    pub retry_max: Duration,
    /// Attempts after which a mail that keeps failing is marked `failed` (≥ 1).
    pub max_attempts: u32,
    /// An attempt still `sending` after this long was cut short: try again.
    pub sending_timeout: Duration,
    /// How often the worker looks for mails due.
    pub poll_interval: Duration,
}

/// The `host:port` of an SMTP URL, once the URL is known to be usable. The error
/// never quotes the URL: it holds the password.
fn smtp_server(url: &str) -> Result<String, ConfigError> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err(ConfigError::Invalid(
            "PASSNUM_SMTP_URL must start with smtp:// or smtps://".into(),
        ));
    }
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url).map_err(|_| {
        ConfigError::Invalid(
            "PASSNUM_SMTP_URL is not a usable SMTP URL: smtp://[user:password@]host[:port][?tls=required|opportunistic] or smtps://[user:password@]host[:port]".into(),
        )
    })?;
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    Ok(rest
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Reads `config/` (relative to `config_dir`) and the environment.
    pub fn load(config_dir: &Path) -> Result<Settings, ConfigError> {
        let environment = std::env::var("PASSNUM_ENV").unwrap_or_else(|_| "development".into());
        let figment = Figment::from(Serialized::defaults(DEFAULTS))
            .merge(Toml::file(config_dir.join("default.toml")))
            .merge(Toml::file(config_dir.join(format!("{environment}.toml"))))
            .merge(Serialized::default("environment", &environment))
            // The operator's identity is text (a SIREN or a postcode such as 07000 is
            // not a number): read as written, below, not parsed by figment.
            .merge(
                Env::prefixed("PASSNUM_")
                    .ignore(&["ENV"])
                    .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("operator_")),
            )
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            );
        let mut settings: Settings = figment.extract().map_err(Box::new)?;
        settings
            .operator_config
            .merge_environment(|name| std::env::var(name).ok());
        settings.fill_missing_secrets()?;
        settings.check()?;
        settings.operator = settings.operator_identity()?;
        Ok(settings)
    }

    /// Outside production, a signing secret the configuration does not give comes from
    /// the data folder (made there on first start). Production keeps what it was given,
    /// and [`Settings::check`] refuses it when something is missing.
    fn fill_missing_secrets(&mut self) -> Result<(), ConfigError> {
        let missing = |s: &Option<SecretString>| {
            s.as_ref()
                .is_none_or(|s| s.expose_secret().trim().is_empty())
        };
        let token_missing = missing(&self.token_secret);
        let keys_missing = missing(&self.ticket_keys);
        if self.environment == Environment::Production || !(token_missing || keys_missing) {
            return Ok(());
        }
        let generated =
            crate::secrets::load_or_create(&self.data_dir).map_err(ConfigError::Invalid)?;
        if token_missing {
            self.token_secret = Some(generated.token_secret);
        }
        if keys_missing {
            self.ticket_keys = Some(generated.ticket_keys);
        }
        self.generated_secrets = Some((generated.path, generated.created));
        Ok(())
    }

    /// Settings for tests: development defaults with random secrets of their own (no
    /// secret written in the repository signs anything a test server accepts).
    pub fn for_tests(database_url: String, data_dir: PathBuf) -> Settings {
        Settings {
            environment: Environment::Test,
            bind: "127.0.0.1:0".into(),
            database_url: Some(database_url.into()),
            database_pool_size: 4,
            data_dir,
            log_format: LogFormat::Text,
            log_level: "warn".into(),
            token_secret: Some(crate::secrets::random_hex(32).into()),
            token_ttl_seconds: DEFAULTS.token_ttl_seconds,
            ticket_keys: Some(format!("t1:{}", crate::secrets::random_hex(32)).into()),
            login_max_failures_per_email: DEFAULTS.login_max_failures_per_email,
            login_max_failures_per_ip: DEFAULTS.login_max_failures_per_ip,
            login_failure_window_seconds: DEFAULTS.login_failure_window_seconds,
            max_body_bytes: DEFAULTS.max_body_bytes,
            smtp_url: None,
            scan_max_failures_per_user: DEFAULTS.scan_max_failures_per_user,
            scan_max_failures_per_ip: DEFAULTS.scan_max_failures_per_ip,
            scan_failure_window_seconds: DEFAULTS.scan_failure_window_seconds,
            reversal_grace_minutes: DEFAULTS.reversal_grace_minutes,
            offline_scan_window_hours: DEFAULTS.offline_scan_window_hours,
            mail_from: DEFAULTS.mail_from.into(),
            public_url: DEFAULTS.public_url.into(),
            // Tests that look at mails turn the worker on (and shorten its waits).
            mail_worker: false,
            mail_poll_interval_ms: 100,
            mail_retry_base_ms: 200,
            mail_retry_max_seconds: 2,
            mail_max_attempts: DEFAULTS.mail_max_attempts,
            mail_sending_timeout_seconds: DEFAULTS.mail_sending_timeout_seconds,
            smtp_timeout_seconds: 10,
            invitation_ttl_hours: DEFAULTS.invitation_ttl_hours,
            trusted_proxies: Default::default(),
            generated_secrets: None,
            session_idle_minutes: DEFAULTS.session_idle_minutes,
            session_max_hours: DEFAULTS.session_max_hours,
            // Tests that look at the daily jobs turn them on.
            daily_jobs: false,
            daily_jobs_at: DEFAULTS.daily_jobs_at.into(),
            beneficiary_retention_months: DEFAULTS.beneficiary_retention_months,
            metrics_token: None,
            operator_config: OperatorConfig::default(),
            operator: OperatorIdentity::demonstration(),
        }
    }

    /// The operator's identity the configuration gives: the configured one, whole and
    /// valid; none configured, the demonstration identity, except in production,
    /// which refuses to start without its own.
    pub fn operator_identity(&self) -> Result<OperatorIdentity, ConfigError> {
        let invalid =
            |e: crate::operator_identity::IdentityError| ConfigError::Invalid(e.to_string());
        match self.operator_config.identity().map_err(invalid)? {
            Some(identity) => Ok(identity),
            None if self.environment == Environment::Production => {
                Err(invalid(crate::operator_identity::IdentityError::Missing(
                    "PASSNUM_OPERATOR_NAME, PASSNUM_OPERATOR_SIREN, PASSNUM_OPERATOR_VAT_NUMBER, \
                     PASSNUM_OPERATOR_ADDRESS, PASSNUM_OPERATOR_POSTCODE, PASSNUM_OPERATOR_CITY, \
                     PASSNUM_OPERATOR_IBAN and PASSNUM_OPERATOR_BIC"
                        .into(),
                )))
            }
            None => Ok(OperatorIdentity::demonstration()),
        }
    }

    /// Refuses settings the service must not run with, naming what to fix.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        if self.database_pool_size == 0 {
            return Err(ConfigError::Invalid(
                "PASSNUM_DATABASE_POOL_SIZE must be at least 1".into(),
            ));
        }
        if !(0..=43_200).contains(&self.reversal_grace_minutes) {
            return Err(ConfigError::Invalid(
                "PASSNUM_REVERSAL_GRACE_MINUTES must be between 0 and 43200 (30 days)".into(),
            ));
        }
        if !(1..=720).contains(&self.offline_scan_window_hours) {
            return Err(ConfigError::Invalid(
                "PASSNUM_OFFLINE_SCAN_WINDOW_HOURS must be between 1 and 720 (30 days)".into(),
            ));
        }
        if !(1..=10_080).contains(&self.session_idle_minutes) {
            return Err(ConfigError::Invalid(
                "PASSNUM_SESSION_IDLE_MINUTES must be between 1 and 10080 (7 days)".into(),
            ));
        }
        if !(1..=720).contains(&self.session_max_hours) {
            return Err(ConfigError::Invalid(
                "PASSNUM_SESSION_MAX_HOURS must be between 1 and 720 (30 days)".into(),
            ));
        }
        if self.beneficiary_retention_months > 120 {
            return Err(ConfigError::Invalid(
                "PASSNUM_BENEFICIARY_RETENTION_MONTHS must be between 0 and 120 (10 years)".into(),
            ));
        }
        self.check_public_url()?;
        self.mail()?;
        self.operator_identity()?;
        self.daily_jobs_time()?;
        let token = self.token_secret.as_ref().map(|s| s.expose_secret());
        let keys = self.ticket_keys.as_ref().map(|s| s.expose_secret());
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            return Err(ConfigError::Invalid(
                "PASSNUM_TOKEN_SECRET is missing: production needs its own random secret of at least 32 characters".into(),
            ));
        };
        refuse_weak_secret("PASSNUM_TOKEN_SECRET (token_secret)", token)?;
        let Some(keys) = keys.filter(|k| !k.trim().is_empty()) else {
            return Err(ConfigError::Invalid(
                "PASSNUM_TICKET_KEYS is missing: production needs \"key_id:secret\" with its own random secret of at least 32 characters".into(),
            ));
        };
        for (id, secret) in parse_ticket_keys(keys)? {
            refuse_weak_secret(
                &format!("PASSNUM_TICKET_KEYS (ticket_keys, key {id})"),
                &secret,
            )?;
        }
        if let Some(metrics_token) = self.metrics_token() {
            refuse_weak_secret("PASSNUM_METRICS_TOKEN (metrics_token)", metrics_token)?;
        }
        if self.environment == Environment::Production && self.public_url_is_local() {
            return Err(ConfigError::Invalid(format!(
                "PASSNUM_PUBLIC_URL is not set (it is {:?}, this machine): in production the links \
                 of the mails (invitations, password resets) must reach the web app, e.g. \
                 PASSNUM_PUBLIC_URL=https://pass.example.org",
                self.public_url
            )));
        }
        Ok(())
    }

    /// `public_url` starts the links of the mails: an `http(s)://` address.
    fn check_public_url(&self) -> Result<(), ConfigError> {
        let url = self.public_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.contains(char::is_whitespace)
        {
            return Err(ConfigError::Invalid(format!(
                "PASSNUM_PUBLIC_URL must be the web app's address, such as https://pass.example.org, not {:?}",
                self.public_url
            )));
        }
        Ok(())
    }

    /// The mail settings, parsed (see [`MailSettings`]); an error names what to fix
    /// and never quotes the SMTP URL, which holds the password.
    pub fn mail(&self) -> Result<MailSettings, ConfigError> {
        let from: Mailbox = self.mail_from.parse().map_err(|e| {
            ConfigError::Invalid(format!(
                "PASSNUM_MAIL_FROM must be an address such as \"Pass Numérique <ne-pas-repondre@example.org>\", not {:?} ({e})",
                self.mail_from
            ))
        })?;
        let domain = from.email.domain().to_string();
        let transport = match self
            .smtp_url
            .as_ref()
            .map(|u| u.expose_secret().trim())
            .filter(|u| !u.is_empty())
        {
            Some(url) => MailTransport::Smtp {
                server: smtp_server(url)?,
                url: url.to_string().into(),
                timeout: Duration::from_secs(self.smtp_timeout_seconds),
            },
            None => {
                let dir = self.data_dir.join("mail");
                MailTransport::Files(std::path::absolute(&dir).unwrap_or(dir))
            }
        };
        if self.mail_max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "PASSNUM_MAIL_MAX_ATTEMPTS must be at least 1".into(),
            ));
        }
        Ok(MailSettings {
            from,
            domain,
            transport,
            retry_base: Duration::from_millis(self.mail_retry_base_ms.max(1)),
            retry_max: Duration::from_secs(self.mail_retry_max_seconds.max(1)),
            max_attempts: self.mail_max_attempts,
            sending_timeout: Duration::from_secs(self.mail_sending_timeout_seconds),
            poll_interval: Duration::from_millis(self.mail_poll_interval_ms.max(10)),
        })
    }

    /// Whether `public_url` points to this machine (the default, `http://127.0.0.1:8080`):
    /// links in mails then open only here.
    pub fn public_url_is_local(&self) -> bool {
        let rest = self.public_url.trim();
        let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host.is_empty()
            || host == "localhost"
            || host.ends_with(".localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
    }

    /// `daily_jobs_at`, parsed (see [`parse_time_of_day`]).
    pub fn daily_jobs_time(&self) -> Result<NaiveTime, ConfigError> {
        parse_time_of_day(&self.daily_jobs_at).map_err(ConfigError::Invalid)
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "PASSNUM_BIND must be an address and port such as 127.0.0.1:8080, not {:?}",
                self.bind
            ))
        })
    }

    /// The token `GET /metrics` asks for, if any (a blank one is none).
    pub fn metrics_token(&self) -> Option<&str> {
        self.metrics_token
            .as_ref()
            .map(|t| t.expose_secret())
            .filter(|t| !t.trim().is_empty())
    }

    pub fn token_secret_bytes(&self) -> &[u8] {
        self.token_secret
            .as_ref()
            .map(|s| s.expose_secret().as_bytes())
            .unwrap_or_default()
    }

    /// The ticket signing keys, newest (signing) first.
    pub fn ticket_keys(&self) -> Vec<(String, String)> {
        self.ticket_keys
            .as_ref()
            .and_then(|k| parse_ticket_keys(k.expose_secret()).ok())
            .unwrap_or_default()
    }
}

/// Refuses, in every environment, a secret published in the repository or too short
/// to resist guessing.
fn refuse_weak_secret(name: &str, secret: &str) -> Result<(), ConfigError> {
    if crate::secrets::is_public(secret) {
        return Err(ConfigError::Invalid(format!(
            "{name} holds a value published in the passnum repository (such as the old \
             development defaults): anyone could sign with it. Remove it (outside production \
             the service then makes its own in the data folder) or set a random secret of at \
             least {MIN_SECRET_LEN} characters"
        )));
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(ConfigError::Invalid(format!(
            "{name} is too short: at least {MIN_SECRET_LEN} random characters"
        )));
    }
    Ok(())
}

fn parse_ticket_keys(raw: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut keys = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((id, secret)) = part.split_once(':') else {
            return Err(ConfigError::Invalid(
                "PASSNUM_TICKET_KEYS must read \"key_id:secret[,key_id:secret…]\"".into(),
            ));
        };
        let valid_id =
            !id.is_empty() && id.len() <= 4 && id.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid_id || secret.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "PASSNUM_TICKET_KEYS: key id {id:?} must be 1 to 4 letters or digits, with a non-empty secret"
            )));
        }
        if keys
            .iter()
            .any(|(known, _): &(String, String)| known.eq_ignore_ascii_case(id))
        {
            return Err(ConfigError::Invalid(format!(
                "PASSNUM_TICKET_KEYS: key id {id:?} appears twice"
            )));
        }
        keys.push((id.to_string(), secret.to_string()));
    }
    if keys.is_empty() {
        return Err(ConfigError::Invalid(
            "PASSNUM_TICKET_KEYS holds no key".into(),
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> Settings {
        let mut s = Settings::for_tests("postgres://x".into(), PathBuf::from(".data"));
        s.environment = Environment::Production;
        s.public_url = "https://pass.example.org".into();
        s.operator_config = OperatorConfig {
            operator_name: Some("Les Assembleurs".into()),
            operator_siren: Some("912345675".into()),
            operator_vat_number: Some("FR65912345675".into()),
            operator_address: Some("1 rue de la Paix".into()),
            operator_postcode: Some("75002".into()),
            operator_city: Some("Paris".into()),
            operator_country: None,
            operator_iban: Some("FR7630006000011234567890189".into()),
            operator_bic: Some("AGRIFRPP".into()),
        };
        s
    }

    #[test]
    fn production_refuses_to_start_without_the_operator_s_identity() {
        let mut settings = production();
        assert!(settings.check().is_ok());
        assert!(!settings.operator_identity().unwrap().fictitious);
        settings.operator_config = OperatorConfig::default();
        let err = settings.check().unwrap_err().to_string();
        for name in [
            "PASSNUM_OPERATOR_NAME",
            "PASSNUM_OPERATOR_SIREN",
            "PASSNUM_OPERATOR_IBAN",
            "PASSNUM_OPERATOR_BIC",
        ] {
            assert!(err.contains(name), "{err}");
        }
        // Elsewhere the demonstration identity stands in, marked as such…
        settings.environment = Environment::Development;
        let demo = settings.operator_identity().unwrap();
        assert!(demo.fictitious && demo.mark().is_some());
        // …but a partial or wrong one is refused everywhere.
        settings.operator_config.operator_name = Some("Les Assembleurs".into());
        let err = settings.check().unwrap_err().to_string();
        assert!(err.contains("PASSNUM_OPERATOR_SIREN"), "{err}");
    }

    #[test]
    fn the_operator_s_identity_is_read_with_the_other_settings() {
        let toml = r#"
            operator_name = "Les Assembleurs"
            operator_siren = "912345675"
            operator_vat_number = "FR65912345675"
            operator_address = "1 rue de la Paix"
            operator_postcode = "75002"
            operator_city = "Paris"
            operator_iban = "FR76 3000 6000 0112 3456 7890 189"
            operator_bic = "AGRIFRPP"
        "#;
        let settings: Settings = Figment::from(Serialized::defaults(DEFAULTS))
            .merge(Toml::string(toml))
            .extract()
            .unwrap();
        let identity = settings.operator_identity().unwrap();
        assert_eq!(identity.name, "Les Assembleurs");
        assert_eq!(identity.bic.as_str(), "AGRIFRPP");
        assert!(!identity.fictitious);
        // Nothing configured: the demonstration identity, until `load` sets it.
        let bare: Settings = Figment::from(Serialized::defaults(DEFAULTS))
            .extract()
            .unwrap();
        assert!(bare.operator.fictitious);
        assert!(bare.operator_identity().unwrap().fictitious);
    }

    #[test]
    fn the_time_of_day_is_parsed_or_refused_by_name() {
        assert_eq!(
            parse_time_of_day(" 00:00 ").unwrap(),
            NaiveTime::from_hms_opt(0, 0, 0).unwrap()
        );
        for bad in ["", "3h30", "25:00", "03:60", "03:30:00"] {
            let err = parse_time_of_day(bad).unwrap_err();
            assert!(err.contains("PASSNUM_DAILY_JOBS_AT"), "{bad}: {err}");
        }
    }

    #[test]
    fn mail_settings_are_parsed_and_smtp_credentials_never_printed() {
        let mut settings = Settings::for_tests("postgres://x".into(), PathBuf::from(".data"));
        let mail = settings.mail().unwrap();
        assert_eq!(mail.domain, "pass-numerique.localhost");
        assert!(matches!(&mail.transport, MailTransport::Files(dir) if dir.ends_with("mail")));
        assert_eq!(mail.max_attempts, settings.mail_max_attempts);
        settings.smtp_url = Some("smtp://user:s3cret@127.0.0.1:2525".to_string().into());
        match settings.mail().unwrap().transport {
            MailTransport::Smtp { server, .. } => assert_eq!(server, "127.0.0.1:2525"),
            other => panic!("{other:?}"),
        }
        for good in [
            "smtps://user:s3cret@mail.example.org",
            "smtp://mail.example.org:587?tls=required",
        ] {
            settings.smtp_url = Some(good.to_string().into());
            assert!(settings.mail().is_ok(), "{good}");
        }
        for bad in [
            "http://user:s3cret@host",
            "smtp://user:s3cret@",
            "smtp://host?tls=maybe",
        ] {
            settings.smtp_url = Some(bad.to_string().into());
            let err = settings.mail().unwrap_err().to_string();
            assert!(err.contains("PASSNUM_SMTP_URL"), "{bad}: {err}");
            assert!(!err.contains("s3cret"), "{bad}: {err}");
            assert!(settings.check().is_err(), "{bad}");
        }
        settings.smtp_url = None;
        settings.public_url = "pass.example.org".into();
        assert!(
            settings
                .check_public_url()
                .unwrap_err()
                .to_string()
                .contains("PASSNUM_PUBLIC_URL")
        );
        settings.public_url = "https://pass.example.org".into();
        assert!(settings.check_public_url().is_ok());
        settings.mail_max_attempts = 0;
        assert!(
            settings
                .mail()
                .unwrap_err()
                .to_string()
                .contains("PASSNUM_MAIL_MAX_ATTEMPTS")
        );
        settings.mail_max_attempts = 3;
        settings.mail_from = "not an address".into();
        assert!(
            settings
                .mail()
                .unwrap_err()
                .to_string()
                .contains("PASSNUM_MAIL_FROM")
        );
    }

    #[test]
    fn production_refuses_a_public_url_of_this_machine() {
        for (url, local) in [
            ("http://127.0.0.1:8080", true),
            ("http://localhost:8080/", true),
            ("https://pass.localhost", true),
            ("http://[::1]:8080", true),
            ("http://0.0.0.0:8080", true),
            ("http://127.0.1.1", true),
            ("https://pass.example.org", false),
            ("https://user@pass.example.org:8443/app", false),
            ("http://192.168.1.20:8080", false),
        ] {
            let mut settings = production();
            settings.public_url = url.into();
            assert_eq!(settings.public_url_is_local(), local, "{url}");
            let checked = settings.check();
            assert_eq!(checked.is_err(), local, "{url}: {checked:?}");
            if let Err(err) = checked {
                assert!(err.to_string().contains("PASSNUM_PUBLIC_URL"), "{err}");
            }
            settings.environment = Environment::Development;
            assert!(settings.check().is_ok(), "development: {url}");
        }
    }

    #[test]
    fn missing_published_or_short_secrets_are_refused_and_named() {
        type Mutation = Box<dyn Fn(&mut Settings)>;
        let public = crate::secrets::public_values();
        let cases: Vec<(&str, Mutation, &str)> = vec![
            (
                "missing token secret",
                Box::new(|s| s.token_secret = None),
                "PASSNUM_TOKEN_SECRET",
            ),
            (
                "development token secret",
                Box::new(|s| s.token_secret = Some(public[0].to_string().into())),
                "PASSNUM_TOKEN_SECRET",
            ),
            (
                "short token secret",
                Box::new(|s| s.token_secret = Some("short".to_string().into())),
                "PASSNUM_TOKEN_SECRET",
            ),
            (
                "missing ticket keys",
                Box::new(|s| s.ticket_keys = None),
                "PASSNUM_TICKET_KEYS",
            ),
            (
                "development ticket key",
                Box::new(|s| s.ticket_keys = Some(format!("dev1:{}", public[1]).into())),
                "PASSNUM_TICKET_KEYS (ticket_keys, key dev1)",
            ),
            (
                "published key behind a good one",
                Box::new(|s| {
                    s.ticket_keys = Some(
                        format!("k2:{},k1:{}", crate::secrets::random_hex(32), public[3]).into(),
                    )
                }),
                "key k1",
            ),
            (
                "short metrics token",
                Box::new(|s| s.metrics_token = Some("short".to_string().into())),
                "PASSNUM_METRICS_TOKEN",
            ),
            (
                "published metrics token",
                Box::new(|s| s.metrics_token = Some(public[0].to_string().into())),
                "PASSNUM_METRICS_TOKEN",
            ),
            (
                "malformed ticket keys",
                Box::new(|s| s.ticket_keys = Some("no-colon-here".to_string().into())),
                "PASSNUM_TICKET_KEYS",
            ),
        ];
        for environment in [
            Environment::Production,
            Environment::Development,
            Environment::Test,
        ] {
            for (case, mutate, names) in &cases {
                let mut settings = production();
                settings.environment = environment;
                mutate(&mut settings);
                let err = settings
                    .check()
                    .expect_err(&format!("{environment:?}: {case}"))
                    .to_string();
                assert!(err.contains(names), "{environment:?}: {case}: {err}");
            }
        }
        assert!(production().check().is_ok());
    }

    #[test]
    fn every_published_value_is_refused_as_either_secret() {
        for value in crate::secrets::public_values() {
            let mut settings = production();
            settings.environment = Environment::Development;
            settings.token_secret = Some(value.to_string().into());
            let err = settings.check().unwrap_err().to_string();
            assert!(err.contains("published"), "{value}: {err}");
            let mut settings = production();
            settings.ticket_keys = Some(format!("x1:{value}").into());
            let err = settings.check().unwrap_err().to_string();
            assert!(err.contains("published"), "{value}: {err}");
        }
    }

    /// Outside production a missing secret comes from the data folder; production
    /// never reads that file.
    #[test]
    fn missing_secrets_come_from_the_data_folder_except_in_production() {
        let dir =
            std::env::temp_dir().join(format!("passnum-config-{}", crate::secrets::random_hex(8)));
        let mut settings = Settings::for_tests("postgres://x".into(), dir.clone());
        settings.environment = Environment::Development;
        settings.token_secret = None;
        settings.ticket_keys = None;
        let mut production = settings.clone();
        production.environment = Environment::Production;

        settings.fill_missing_secrets().unwrap();
        settings.check().unwrap();
        assert_eq!(
            settings.generated_secrets,
            Some((dir.join(crate::secrets::FILE_NAME), true))
        );
        assert_eq!(
            settings.ticket_keys()[0].0,
            crate::secrets::GENERATED_KEY_ID
        );

        production.fill_missing_secrets().unwrap();
        assert!(production.token_secret.is_none() && production.generated_secrets.is_none());
        assert!(production.check().is_err());

        // A configured secret is kept; only the missing one is filled.
        let mut partly = Settings::for_tests("postgres://x".into(), dir.clone());
        partly.environment = Environment::Development;
        let own = partly.token_secret_bytes().to_vec();
        partly.ticket_keys = None;
        partly.fill_missing_secrets().unwrap();
        assert_eq!(partly.token_secret_bytes(), own.as_slice());
        assert_eq!(partly.ticket_keys(), settings.ticket_keys());
        assert_eq!(
            partly.generated_secrets,
            Some((dir.join(crate::secrets::FILE_NAME), false))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `config/` is published with the code: it must hold no signing secret.
    #[test]
    fn config_files_hold_no_secret() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let table: figment::value::Dict = Figment::from(Toml::string(&text)).extract().unwrap();
            for key in ["token_secret", "ticket_keys", "database_url", "smtp_url"] {
                assert!(!table.contains_key(key), "{} sets {key}", path.display());
            }
        }
    }

    #[test]
    fn test_settings_have_secrets_of_their_own() {
        let a = Settings::for_tests("postgres://x".into(), PathBuf::from(".data"));
        let b = Settings::for_tests("postgres://x".into(), PathBuf::from(".data"));
        assert_ne!(a.token_secret_bytes(), b.token_secret_bytes());
        assert_ne!(a.ticket_keys(), b.ticket_keys());
    }

    #[test]
    fn secrets_never_print() {
        let settings = production();
        let printed = format!("{settings:?}");
        let token = String::from_utf8(settings.token_secret_bytes().to_vec()).unwrap();
        assert!(!printed.contains(&token), "{printed}");
        assert!(!printed.contains(&settings.ticket_keys()[0].1), "{printed}");
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn ticket_keys_keep_their_order() {
        let keys = parse_ticket_keys("k2:new-secret, k1:old-secret").unwrap();
        assert_eq!(keys[0].0, "k2");
        assert_eq!(keys[1], ("k1".to_string(), "old-secret".to_string()));
        assert!(parse_ticket_keys("k1:a,K1:b").is_err());
    }
}
