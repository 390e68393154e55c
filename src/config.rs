//! Typed configuration: `config/default.toml`, then `config/<environment>.toml`, then
//! `PASSNUM_*` environment variables, then `DATABASE_URL`. Secrets are held in
//! [`SecretString`], which never prints its content (`Debug` shows `[REDACTED]`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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
    /// A session ends after this long without a refresh…
    pub session_idle_minutes: i64,
    /// …and at most this long after its login.
    pub session_max_hours: i64,
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
};

/// The secrets shipped in `config/development.toml`: known to everyone, so refused in
/// production.
const PUBLIC_SECRETS: &[&str] = &[
    "development-token-secret-not-for-production-use",
    "development-ticket-key-not-for-production-use",
];
const MIN_SECRET_LEN: usize = 32;

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
            .merge(Env::prefixed("PASSNUM_").ignore(&["ENV"]))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            );
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.check()?;
        Ok(settings)
    }

    /// Settings for tests: development defaults with fixed test secrets.
    pub fn for_tests(database_url: String, data_dir: PathBuf) -> Settings {
        Settings {
            environment: Environment::Test,
            bind: "127.0.0.1:0".into(),
            database_url: Some(database_url.into()),
            database_pool_size: 4,
            data_dir,
            log_format: LogFormat::Text,
            log_level: "warn".into(),
            token_secret: Some(
                "test-token-secret-test-token-secret-0123"
                    .to_string()
                    .into(),
            ),
            token_ttl_seconds: DEFAULTS.token_ttl_seconds,
            ticket_keys: Some(
                "t1:test-ticket-key-test-ticket-key-0123456789"
                    .to_string()
                    .into(),
            ),
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
            session_idle_minutes: DEFAULTS.session_idle_minutes,
            session_max_hours: DEFAULTS.session_max_hours,
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
        crate::mail::check_settings(self).map_err(ConfigError::Invalid)?;
        let token = self.token_secret.as_ref().map(|s| s.expose_secret());
        let keys = self.ticket_keys.as_ref().map(|s| s.expose_secret());
        match token {
            None | Some("") => {
                return Err(ConfigError::Invalid(
                    "PASSNUM_TOKEN_SECRET is missing: set a random secret of at least 32 characters".into(),
                ));
            }
            Some(secret) if self.environment == Environment::Production => {
                refuse_weak_secret("PASSNUM_TOKEN_SECRET", secret)?;
            }
            Some(_) => {}
        }
        let Some(keys) = keys.filter(|k| !k.trim().is_empty()) else {
            return Err(ConfigError::Invalid(
                "PASSNUM_TICKET_KEYS is missing: set \"key_id:secret\" with a random secret of at least 32 characters".into(),
            ));
        };
        let parsed = parse_ticket_keys(keys)?;
        if self.environment == Environment::Production {
            for (id, secret) in &parsed {
                refuse_weak_secret(&format!("PASSNUM_TICKET_KEYS (key {id})"), secret)?;
            }
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "PASSNUM_BIND must be an address and port such as 127.0.0.1:8080, not {:?}",
                self.bind
            ))
        })
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

fn refuse_weak_secret(name: &str, secret: &str) -> Result<(), ConfigError> {
    if PUBLIC_SECRETS.contains(&secret) {
        return Err(ConfigError::Invalid(format!(
            "{name} still holds the public development secret: set a random secret for production"
        )));
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(ConfigError::Invalid(format!(
            "{name} is too short for production: at least {MIN_SECRET_LEN} characters"
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
        s
    }

    #[test]
    fn production_refuses_missing_default_or_short_secrets() {
        type Mutation = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(&str, Mutation, &str)> = vec![
            (
                "missing token secret",
                Box::new(|s| s.token_secret = None),
                "PASSNUM_TOKEN_SECRET",
            ),
            (
                "development token secret",
                Box::new(|s| s.token_secret = Some(PUBLIC_SECRETS[0].to_string().into())),
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
                Box::new(|s| s.ticket_keys = Some(format!("dev1:{}", PUBLIC_SECRETS[1]).into())),
                "PASSNUM_TICKET_KEYS (key dev1)",
            ),
            (
                "malformed ticket keys",
                Box::new(|s| s.ticket_keys = Some("no-colon-here".to_string().into())),
                "PASSNUM_TICKET_KEYS",
            ),
        ];
        for (case, mutate, names) in cases {
            let mut settings = production();
            mutate(&mut settings);
            let err = settings.check().expect_err(case).to_string();
            assert!(err.contains(names), "{case}: {err}");
        }
        assert!(production().check().is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let settings = production();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("test-token-secret"), "{printed}");
        assert!(!printed.contains("test-ticket-key"), "{printed}");
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
