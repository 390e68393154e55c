//! E-mail that is never lost: an outbox in PostgreSQL.
//!
//! A mail is recorded ([`enqueue`]) in the same database transaction as the event
//! that causes it — a checkbook issued or sent, a user invited, a settlement, an
//! expiry reminder — so it exists exactly when its event committed. The mail worker
//! of `passnum serve` ([`worker`]) sends what is due:
//!
//! 1. it claims due mails in a committed statement of its own (`FOR UPDATE SKIP
//!    LOCKED`, so several servers share the work): status `sending`, attempts + 1,
//!    and the mail's Message-ID fixed on the first attempt and kept afterwards;
//! 2. it sends (SMTP with lettre, or an `.eml` file in development);
//! 3. it records the outcome: `sent`; or back to `waiting` with a doubling delay
//!    after a transient failure (server down, 4xx); or `failed` after a permanent
//!    one (5xx, an address the server refuses) or too many attempts, with the error
//!    kept for the operator (`GET /api/v1/outbox?status=failed`).
//!
//! A crash between sending and recording leaves the mail `sending`; after
//! `mail_sending_timeout_seconds` it is sent again with the same Message-ID, which
//! mail clients use to show it once. Nothing committed is ever dropped.
//!
//! Layers: [`templates`] renders words (pure); this module stores and lists mails;
//! [`events`] turns events into mails; [`worker`] delivers them.

pub mod events;
pub mod templates;
pub mod worker;

use std::fmt;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::DbError;
use crate::schema::outbox;

pub use templates::Rendered;

/// Why a mail is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// A checkbook PDF to its beneficiary.
    Checkbook,
    /// A new user chooses a password.
    Invitation,
    /// A settlement made a statement for an organisation.
    StatementReady,
    /// Unused tickets expire within 30 days.
    ExpiryReminder,
    /// A link to choose a new password.
    PasswordReset,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Checkbook => "checkbook",
            MailKind::Invitation => "invitation",
            MailKind::StatementReady => "statement_ready",
            MailKind::ExpiryReminder => "expiry_reminder",
            MailKind::PasswordReset => "password_reset",
        }
    }

    pub fn parse(raw: &str) -> Option<MailKind> {
        [
            MailKind::Checkbook,
            MailKind::Invitation,
            MailKind::StatementReady,
            MailKind::ExpiryReminder,
            MailKind::PasswordReset,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// Where a mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Due now or after a retry delay.
    Waiting,
    /// An attempt is under way (or was cut short by a crash: retried later).
    Sending,
    Sent,
    /// Given up: the error says why.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Waiting => "waiting",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<OutboxStatus> {
        [
            OutboxStatus::Waiting,
            OutboxStatus::Sending,
            OutboxStatus::Sent,
            OutboxStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A file sent with a mail.
#[derive(Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Attachment({}, {} bytes)",
            self.filename,
            self.bytes.len()
        )
    }
}

/// A mail to record.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub kind: MailKind,
    /// What it is about: a checkbook, a user, a statement.
    pub related_id: Option<Uuid>,
    /// An address already parsed ([`crate::domain::Email`]).
    pub recipient: String,
    pub content: Rendered,
    pub attachment: Option<Attachment>,
    /// At most one mail per key: a second one with the same key is not recorded.
    pub dedupe_key: Option<String>,
}

/// A mail of the outbox, without its bodies and attachment.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxMail {
    pub id: Uuid,
    pub message_id: Option<String>,
    pub kind: String,
    pub related_id: Option<Uuid>,
    pub recipient: String,
    pub subject: String,
    pub attachment_name: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Records a mail in the caller's transaction. `None` when a mail with the same
/// dedupe key exists already (nothing recorded).
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    mail: NewMail,
) -> Result<Option<OutboxMail>, DbError> {
    let (attachment_name, attachment) = match mail.attachment {
        Some(a) => (Some(a.filename), Some(a.bytes)),
        None => (None, None),
    };
    let row = diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(Uuid::now_v7()),
            outbox::kind.eq(mail.kind.as_str()),
            outbox::related_id.eq(mail.related_id),
            outbox::recipient.eq(&mail.recipient),
            outbox::subject.eq(&mail.content.subject),
            outbox::body_text.eq(&mail.content.text),
            outbox::body_html.eq(&mail.content.html),
            outbox::attachment_name.eq(attachment_name),
            outbox::attachment.eq(attachment),
            outbox::dedupe_key.eq(&mail.dedupe_key),
        ))
        .on_conflict_do_nothing()
        .returning(OutboxMail::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    Ok(row)
}

/// Records several mails in one statement (a mail whose dedupe key exists already is
/// left out). Returns how many were recorded.
pub async fn enqueue_many(
    conn: &mut AsyncPgConnection,
    mails: Vec<NewMail>,
) -> Result<usize, DbError> {
    if mails.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = mails
        .iter()
        .map(|mail| {
            (
                outbox::id.eq(Uuid::now_v7()),
                outbox::kind.eq(mail.kind.as_str()),
                outbox::related_id.eq(mail.related_id),
                outbox::recipient.eq(&mail.recipient),
                outbox::subject.eq(&mail.content.subject),
                outbox::body_text.eq(&mail.content.text),
                outbox::body_html.eq(&mail.content.html),
                outbox::dedupe_key.eq(&mail.dedupe_key),
            )
        })
        .collect();
    Ok(diesel::insert_into(outbox::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?)
}

/// One page of the outbox, oldest first, optionally of one status.
pub async fn list(
    conn: &mut AsyncPgConnection,
    status: Option<OutboxStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OutboxMail>, DbError> {
    let mut query = outbox::table
        .select(OutboxMail::as_select())
        .order(outbox::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(outbox::status.eq(status.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(outbox::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

/// Why a mail was given up when its recipient's address was withdrawn before it left.
pub const ADDRESS_WITHDRAWN: &str = "address withdrawn before sending";

/// A corrected address: the mails about `related_id` still waiting for `old` go to
/// `new` instead, or, with no new address, are given up (never sent to the wrong
/// person). A mail being sent at this instant is left as it is. Returns how many
/// mails were changed.
pub async fn readdress_waiting(
    conn: &mut AsyncPgConnection,
    related_id: Uuid,
    old: &str,
    new: Option<&str>,
) -> Result<usize, DbError> {
    let waiting = outbox::table
        .filter(outbox::related_id.eq(related_id))
        .filter(outbox::recipient.eq(old))
        .filter(outbox::status.eq(OutboxStatus::Waiting.as_str()));
    Ok(match new {
        Some(new) => {
            diesel::update(waiting)
                .set(outbox::recipient.eq(new))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(waiting)
                .set((
                    outbox::status.eq(OutboxStatus::Failed.as_str()),
                    outbox::last_error.eq(ADDRESS_WITHDRAWN),
                ))
                .execute(conn)
                .await?
        }
    })
}

/// A beneficiary's record erased (RGPD): the mails about these checkbooks still
/// waiting are given up (never sent), and every mail about them forgets its
/// recipient's address and its attachment (the checkbook's PDF). Their subject and
/// dates stay, as the record that a mail was sent. Returns how many mails were given
/// up.
pub async fn forget_beneficiaries(
    conn: &mut AsyncPgConnection,
    related: &[Uuid],
) -> Result<usize, DbError> {
    if related.is_empty() {
        return Ok(0);
    }
    let withdrawn = diesel::update(
        outbox::table
            .filter(outbox::related_id.eq_any(related))
            .filter(outbox::status.eq(OutboxStatus::Waiting.as_str())),
    )
    .set((
        outbox::status.eq(OutboxStatus::Failed.as_str()),
        outbox::last_error.eq(ADDRESS_WITHDRAWN),
    ))
    .execute(conn)
    .await?;
    diesel::update(outbox::table.filter(outbox::related_id.eq_any(related)))
        .set((
            outbox::recipient.eq(ERASED_RECIPIENT),
            outbox::attachment.eq(None::<Vec<u8>>),
            outbox::attachment_name.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    Ok(withdrawn)
}

/// What a mail's recipient reads once the beneficiary's record was erased.
pub const ERASED_RECIPIENT: &str = "adresse effacée";

/// The last mail of `kind` about each of `related` (newest first by creation), for
/// showing where it stands.
pub async fn latest_about(
    conn: &mut AsyncPgConnection,
    kind: MailKind,
    related: &[Uuid],
) -> Result<Vec<OutboxMail>, DbError> {
    if related.is_empty() {
        return Ok(Vec::new());
    }
    Ok(outbox::table
        .filter(outbox::kind.eq(kind.as_str()))
        .filter(outbox::related_id.eq_any(related))
        .distinct_on(outbox::related_id)
        .order((
            outbox::related_id,
            outbox::created_at.desc(),
            outbox::id.desc(),
        ))
        .select(OutboxMail::as_select())
        .load(conn)
        .await?)
}

/// Why the operator's "Renvoyer" was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    #[error("no such mail")]
    NotFound,
    /// It is waiting or being sent: it will go by itself.
    #[error("the mail is not finished")]
    NotFinished,
    /// A sent invitation or password-reset link: single use, ask for a new one.
    #[error("a single-use link is not sent twice")]
    SingleUseLink(MailKind),
    /// A sent mail's attachment is dropped once sent (the checkbook PDF): the
    /// prescriber sends the checkbook again from its page.
    #[error("the attachment of a sent mail is gone")]
    AttachmentGone,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ResendError {
    fn from(err: diesel::result::Error) -> Self {
        ResendError::Db(err.into())
    }
}

/// "Renvoyer" from the outbox page: a failed mail is tried again now, with a fresh
/// round of attempts; a sent one is copied into a new mail (its own Message-ID),
/// except a single-use link or a mail whose attachment was dropped once sent. A mail
/// still waiting or being sent is left alone. Returns the mail that will go.
pub async fn resend(conn: &mut AsyncPgConnection, id: Uuid) -> Result<OutboxMail, ResendError> {
    conn.transaction(async |conn| resend_in(conn, id).await)
        .await
}

async fn resend_in(conn: &mut AsyncPgConnection, id: Uuid) -> Result<OutboxMail, ResendError> {
    let mail: OutboxMail = outbox::table
        .find(id)
        .select(OutboxMail::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(ResendError::NotFound)?;
    match OutboxStatus::parse(&mail.status) {
        Some(OutboxStatus::Failed) => Ok(diesel::update(outbox::table.find(id))
            .set((
                outbox::status.eq(OutboxStatus::Waiting.as_str()),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(diesel::dsl::now),
            ))
            .returning(OutboxMail::as_returning())
            .get_result(conn)
            .await?),
        Some(OutboxStatus::Sent) => {
            let kind = MailKind::parse(&mail.kind);
            if let Some(kind @ (MailKind::Invitation | MailKind::PasswordReset)) = kind {
                return Err(ResendError::SingleUseLink(kind));
            }
            if mail.attachment_name.is_some() {
                return Err(ResendError::AttachmentGone);
            }
            let (text, html): (String, String) = outbox::table
                .find(id)
                .select((outbox::body_text, outbox::body_html))
                .first(conn)
                .await?;
            Ok(diesel::insert_into(outbox::table)
                .values((
                    outbox::id.eq(Uuid::now_v7()),
                    outbox::kind.eq(&mail.kind),
                    outbox::related_id.eq(mail.related_id),
                    outbox::recipient.eq(&mail.recipient),
                    outbox::subject.eq(&mail.subject),
                    outbox::body_text.eq(text),
                    outbox::body_html.eq(html),
                ))
                .returning(OutboxMail::as_returning())
                .get_result(conn)
                .await?)
        }
        _ => Err(ResendError::NotFinished),
    }
}

/// Why a mail was not sent, in plain French for the operator and the prescriber,
/// from the error the worker recorded (the SMTP library's words, in English).
pub fn explain_failure(error: &str) -> String {
    let lower = error.to_lowercase();
    let said = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let smtp_code = lower
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 3 && matches!(part.as_bytes()[0], b'4' | b'5'))
        .unwrap_or_default();
    if error == ADDRESS_WITHDRAWN {
        "L’adresse e-mail a été retirée avant l’envoi : le message n’est pas parti.".into()
    } else if said(&["connection refused", "os error 111"]) {
        "Le serveur d’envoi des e-mails a refusé la connexion : il est arrêté ou mal configuré. Vérifiez le réglage SMTP du service, puis renvoyez.".into()
    } else if said(&["timed out", "timeout"]) {
        "Le serveur d’envoi des e-mails n’a pas répondu à temps. Renvoyez plus tard ; si cela se répète, vérifiez le réglage SMTP.".into()
    } else if said(&[
        "dns",
        "failed to lookup",
        "name or service not known",
        "no such host",
    ]) {
        "Le nom du serveur d’envoi des e-mails est introuvable. Vérifiez le réglage SMTP du service.".into()
    } else if said(&["authentication", "auth", "credentials"]) || smtp_code == "535" {
        "Le serveur d’envoi des e-mails a refusé l’identifiant ou le mot de passe du service. Vérifiez le réglage SMTP.".into()
    } else if said(&["tls", "certificate", "handshake"]) {
        "La connexion chiffrée avec le serveur d’envoi des e-mails a échoué (certificat ou TLS). Vérifiez le réglage SMTP.".into()
    } else if matches!(smtp_code, "550" | "551" | "553")
        || said(&[
            "mailbox unavailable",
            "user unknown",
            "no such user",
            "recipient",
        ])
    {
        "L’adresse du destinataire est refusée (boîte inexistante ou mal écrite). Corrigez l’adresse, puis renvoyez.".into()
    } else if smtp_code == "552" || said(&["too large", "size"]) {
        "Le message est trop lourd pour la boîte du destinataire.".into()
    } else if smtp_code.starts_with('4') {
        "Le serveur de messagerie a demandé de réessayer plus tard (refus temporaire). Renvoyez dans quelques minutes.".into()
    } else if said(&["écriture du fichier"]) {
        "Le message n’a pas pu être écrit dans le dossier des e-mails du service (disque plein ou droits). Vérifiez le dossier, puis renvoyez.".into()
    } else {
        "L’envoi a échoué pour une raison que le service ne sait pas expliquer : le détail technique ci-dessous aide l’équipe technique.".into()
    }
}

#[cfg(test)]
mod tests {
    use super::explain_failure;

    #[test]
    fn failures_are_explained_in_french() {
        for (error, expected) in [
            ("Connection refused (os error 111)", "refusé la connexion"),
            ("connection error: timed out", "pas répondu à temps"),
            (
                "permanent error (550): 5.1.1 <x@y.fr>: Recipient address rejected: User unknown",
                "adresse du destinataire",
            ),
            (
                "permanent error (535): 5.7.8 Authentication credentials invalid",
                "identifiant ou le mot de passe",
            ),
            (
                "transient error (451): 4.3.0 try again later",
                "réessayer plus tard",
            ),
            (
                "écriture du fichier : No space left on device",
                "dossier des e-mails",
            ),
            ("something else entirely", "ne sait pas expliquer"),
            (super::ADDRESS_WITHDRAWN, "retirée avant l’envoi"),
        ] {
            let said = explain_failure(error);
            assert!(said.contains(expected), "{error} → {said}");
        }
    }
}
