//! Delivery: the mail worker of `passnum serve`, and the transports it sends with —
//! SMTP (`PASSNUM_SMTP_URL`, `smtp://` or `smtps://`, credentials in the URL) or,
//! without a URL (development), `.eml` files under `<data_dir>/mail/`, one per
//! Message-ID (a resend rewrites the same file).
//!
//! See the module above for the life of a mail. Each step is one committed
//! statement: claiming (before sending), then recording the outcome.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Double, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lettre::message::header::ContentType;
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::{MailSettings, MailTransport, Settings};
use crate::db::{DbError, DbPool};
use crate::schema::outbox;

/// How long to wait before trying a mail again, and when to give up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt: base, 2 × base, 4 × base…
    /// up to `max`.
    pub fn delay_after(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base
            .saturating_mul(1u32 << doublings)
            .min(self.max)
            .max(Duration::from_millis(1))
    }

    /// What becomes of a mail whose attempt number `attempts` failed.
    pub fn after_failure(&self, attempts: i32, permanent: bool) -> AfterFailure {
        let exhausted = u32::try_from(attempts).unwrap_or(0) >= self.max_attempts;
        if permanent || exhausted {
            AfterFailure::GiveUp
        } else {
            AfterFailure::RetryIn(self.delay_after(attempts))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Worth trying again: the server is down or answered 4xx.
    Transient(String),
    /// Trying again would fail the same way: 5xx, an unusable address.
    Permanent(String),
}

/// A mail claimed for an attempt, with everything needed to send it.
#[derive(Clone, QueryableByName)]
#[diesel(table_name = outbox)]
pub struct PendingMail {
    pub id: Uuid,
    pub message_id: Option<String>,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attachment_name: Option<String>,
    pub attachment: Option<Vec<u8>>,
    pub attempts: i32,
}

impl std::fmt::Debug for PendingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingMail")
            .field("id", &self.id)
            .field("message_id", &self.message_id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish()
    }
}

enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port`, for the logs (never the credentials).
        server: String,
    },
    Files(PathBuf),
}

/// Sends mails and records what happened.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// The right-hand side of every Message-ID.
    domain: String,
    pub policy: RetryPolicy,
    /// An attempt still `sending` after this long was cut short: try again.
    pub sending_timeout: Duration,
    /// Mails claimed at once.
    pub batch: i64,
}

impl Mailer {
    /// The mailer of the checked mail settings (see [`Settings::mail`]).
    pub fn new(mail: &MailSettings) -> Result<Mailer, String> {
        let transport = match &mail.transport {
            MailTransport::Smtp {
                url,
                server,
                timeout,
            } => Transport::Smtp {
                // The error may quote the URL: never print it, it holds the password.
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map(|b| b.timeout(Some(*timeout)).build())
                    .map_err(|_| "PASSNUM_SMTP_URL is not a usable SMTP URL".to_string())?,
                server: server.clone(),
            },
            MailTransport::Files(dir) => Transport::Files(dir.clone()),
        };
        Ok(Mailer {
            transport,
            from: mail.from.clone(),
            domain: mail.domain.clone(),
            policy: RetryPolicy {
                base: mail.retry_base,
                max: mail.retry_max,
                max_attempts: mail.max_attempts,
            },
            sending_timeout: mail.sending_timeout,
            batch: 20,
        })
    }

    /// [`Mailer::new`] from the whole settings.
    pub fn from_settings(settings: &Settings) -> Result<Mailer, String> {
        let mail = settings.mail().map_err(|e| e.to_string())?;
        Mailer::new(&mail)
    }

    /// Where mails go, for the start-up log.
    pub fn destination(&self) -> String {
        match &self.transport {
            Transport::Smtp { server, .. } => format!("SMTP server {server}"),
            Transport::Files(dir) => format!(".eml files under {}", dir.display()),
        }
    }

    /// The folder of `.eml` files, in development.
    pub fn folder(&self) -> Option<&PathBuf> {
        match &self.transport {
            Transport::Files(dir) => Some(dir),
            Transport::Smtp { .. } => None,
        }
    }

    /// Claims the mails due (and those whose attempt was cut short), in one
    /// committed statement: each one `sending`, attempts + 1, its Message-ID fixed.
    pub async fn claim_due(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Vec<PendingMail>, DbError> {
        Ok(diesel::sql_query(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1,
                    last_attempt_at = now(),
                    message_id = COALESCE(message_id, '<' || id::text || '@' || $1 || '>')
             WHERE id IN (
                 SELECT id FROM outbox
                 WHERE (status = 'waiting' AND next_attempt_at <= now())
                    OR (status = 'sending' AND last_attempt_at < now() - make_interval(secs => $2))
                 ORDER BY next_attempt_at, id
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, message_id, kind, recipient, subject, body_text, body_html,
                       attachment_name, attachment, attempts",
        )
        .bind::<Text, _>(&self.domain)
        .bind::<Double, _>(self.sending_timeout.as_secs_f64())
        .bind::<BigInt, _>(self.batch)
        .load(conn)
        .await?)
    }

    /// The message as sent: plain text and HTML, the attachment, the stable
    /// Message-ID.
    pub fn message(&self, mail: &PendingMail) -> Result<Message, String> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| format!("adresse du destinataire inutilisable : {e}"))?;
        let alternative =
            MultiPart::alternative_plain_html(mail.body_text.clone(), mail.body_html.clone());
        let body = match (&mail.attachment_name, &mail.attachment) {
            (Some(name), Some(bytes)) => {
                let content_type = if name.ends_with(".pdf") {
                    ContentType::parse("application/pdf")
                } else {
                    ContentType::parse("application/octet-stream")
                }
                .map_err(|e| e.to_string())?;
                MultiPart::mixed().multipart(alternative).singlepart(
                    LettreAttachment::new(name.clone()).body(bytes.clone(), content_type),
                )
            }
            _ => alternative,
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone());
        if let Some(id) = &mail.message_id {
            builder = builder.message_id(Some(id.clone()));
        }
        builder.multipart(body).map_err(|e| e.to_string())
    }

    /// One attempt at sending a claimed mail.
    pub async fn send(&self, mail: &PendingMail) -> Outcome {
        let message = match self.message(mail) {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(e),
        };
        match &self.transport {
            Transport::Smtp { transport, .. } => match transport.send(message).await {
                Ok(_) => Outcome::Sent,
                Err(e) if e.is_permanent() => Outcome::Permanent(format!("{e}")),
                Err(e) => Outcome::Transient(format!("{e}")),
            },
            Transport::Files(dir) => {
                let name = mail
                    .message_id
                    .as_deref()
                    .unwrap_or_default()
                    .trim_matches(['<', '>'])
                    .replace(
                        |c: char| !(c.is_ascii_alphanumeric() || "@.-_".contains(c)),
                        "_",
                    );
                let name = if name.is_empty() {
                    mail.id.to_string()
                } else {
                    name
                };
                match write_file(dir, &name, message.formatted()).await {
                    Ok(path) => {
                        tracing::info!(path = %path.display(), kind = %mail.kind, "mail written");
                        Outcome::Sent
                    }
                    Err(e) => Outcome::Transient(format!("écriture du fichier : {e}")),
                }
            }
        }
    }

    /// Records the outcome of an attempt.
    pub async fn record(
        &self,
        conn: &mut AsyncPgConnection,
        mail: &PendingMail,
        outcome: &Outcome,
    ) -> Result<(), DbError> {
        let (error, permanent) = match outcome {
            Outcome::Sent => {
                diesel::sql_query(
                    "UPDATE outbox SET status = 'sent', sent_at = now(), last_error = NULL,
                            attachment = NULL
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind::<SqlUuid, _>(mail.id)
                .execute(conn)
                .await?;
                return Ok(());
            }
            Outcome::Transient(e) => (e, false),
            Outcome::Permanent(e) => (e, true),
        };
        let error: String = error.chars().take(2000).collect();
        match self.policy.after_failure(mail.attempts, permanent) {
            AfterFailure::GiveUp => {
                tracing::error!(mail = %mail.id, kind = %mail.kind, attempts = mail.attempts, error = %error, "mail failed: given up");
                diesel::sql_query(
                    "UPDATE outbox SET status = 'failed', last_error = $2
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind::<SqlUuid, _>(mail.id)
                .bind::<Text, _>(&error)
                .execute(conn)
                .await?;
            }
            AfterFailure::RetryIn(delay) => {
                tracing::warn!(mail = %mail.id, kind = %mail.kind, attempts = mail.attempts, error = %error, retry_in_ms = delay.as_millis() as u64, "mail not sent: will retry");
                diesel::sql_query(
                    "UPDATE outbox SET status = 'waiting', last_error = $2,
                            next_attempt_at = now() + make_interval(secs => $3)
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind::<SqlUuid, _>(mail.id)
                .bind::<Text, _>(&error)
                .bind::<Double, _>(delay.as_secs_f64())
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Claims, sends and records the mails due; returns how many were tried.
    pub async fn deliver_due(&self, conn: &mut AsyncPgConnection) -> Result<usize, DbError> {
        self.deliver_due_until(conn, &|| false).await
    }

    /// [`Mailer::deliver_due`], stopping between two mails once `stopping` says so:
    /// the mail being sent is finished and recorded, the others claimed with it are
    /// given back ([`Mailer::release`]). Returns how many were tried.
    pub async fn deliver_due_until(
        &self,
        conn: &mut AsyncPgConnection,
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> Result<usize, DbError> {
        let claimed = self.claim_due(conn).await?;
        for (tried, mail) in claimed.iter().enumerate() {
            if stopping() {
                self.release(conn, &claimed[tried..]).await?;
                return Ok(tried);
            }
            let outcome = self.send(mail).await;
            self.record(conn, mail, &outcome).await?;
        }
        Ok(claimed.len())
    }

    /// Gives back mails claimed but not tried: waiting again, due as before, their
    /// claim's attempt not counted; the next worker (of this node or another) takes
    /// them at once instead of after `mail_sending_timeout_seconds`.
    pub async fn release(
        &self,
        conn: &mut AsyncPgConnection,
        mails: &[PendingMail],
    ) -> Result<(), DbError> {
        let ids: Vec<Uuid> = mails.iter().map(|m| m.id).collect();
        diesel::sql_query(
            "UPDATE outbox SET status = 'waiting', attempts = attempts - 1
             WHERE id = ANY($1) AND status = 'sending'",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn write_file(dir: &Path, name: &str, content: Vec<u8>) -> std::io::Result<PathBuf> {
    let (dir, name) = (dir.to_path_buf(), name.to_string());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.eml"));
        let partial = dir.join(format!(".{name}.eml.partial"));
        std::fs::write(&partial, content)?;
        std::fs::rename(&partial, &path)?;
        Ok(path)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Runs the mail worker until `stop` turns true (or its sender is gone): delivers
/// what is due, then waits `interval` (at once again while there is more to do). A
/// database that does not answer is waited for. Asked to stop while sending, it
/// finishes the mail in hand and gives back the rest of its batch.
pub async fn run(
    pool: DbPool,
    mailer: Mailer,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(destination = %mailer.destination(), "mail worker started");
    while !*stop.borrow() {
        let stopping = || *stop.borrow();
        let tried = match pool.get().await {
            Ok(mut conn) => mailer.deliver_due_until(&mut conn, &stopping).await,
            Err(e) => Err(DbError::from(e)),
        };
        match tried {
            Ok(n) if i64::try_from(n).unwrap_or(0) >= mailer.batch => continue,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "mail worker: the database did not answer; trying again")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
    tracing::info!("mail worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let policy = RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(600),
            max_attempts: 5,
        };
        let delays: Vec<u64> = (1..=12).map(|a| policy.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(policy.delay_after(i32::MAX).as_secs(), 600);
        assert_eq!(
            policy.after_failure(1, false),
            AfterFailure::RetryIn(Duration::from_secs(1))
        );
        assert_eq!(policy.after_failure(1, true), AfterFailure::GiveUp);
        assert_eq!(
            policy.after_failure(4, false),
            AfterFailure::RetryIn(Duration::from_secs(8))
        );
        assert_eq!(policy.after_failure(5, false), AfterFailure::GiveUp);
    }

    #[test]
    fn the_mailer_names_where_mails_go_never_the_credentials() {
        let mut settings = Settings::for_tests("postgres://x".into(), PathBuf::from(".data"));
        settings.smtp_url = Some("smtp://user:s3cret@127.0.0.1:2525".to_string().into());
        let mailer = Mailer::from_settings(&settings).unwrap();
        assert_eq!(mailer.destination(), "SMTP server 127.0.0.1:2525");
        assert_eq!(mailer.domain, "pass-numerique.localhost");
        settings.smtp_url = None;
        let mailer = Mailer::from_settings(&settings).unwrap();
        assert!(mailer.folder().is_some_and(|f| f.ends_with("mail")));
        settings.mail_from = "not an address".into();
        assert!(
            Mailer::from_settings(&settings)
                .err()
                .unwrap()
                .contains("PASSNUM_MAIL_FROM")
        );
    }
}
