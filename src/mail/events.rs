//! Events that cause mails: each function records its mails in the caller's
//! transaction, so the mails exist exactly when the event committed.
//!
//! - [`checkbook_mail`]: a checkbook's PDF to its beneficiary (the caller renders the
//!   PDF, which needs the ticket signing keys);
//! - [`statements_ready`]: at the end of a settlement, one mail to each organisation
//!   that got a statement;
//! - [`queue_expiry_reminders`]: `passnum remind`, unused tickets that expire within
//!   [`REMINDER_DAYS`] days; one reminder per checkbook and expiry date, ever.

use chrono::NaiveDate;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Date, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::DbError;
use crate::documents::CheckbookSheet;
use crate::domain::Coordinates;
use crate::french;
use crate::mail::templates::{self, SiteLine};
use crate::mail::{Attachment, MailKind, NewMail, enqueue, enqueue_many};
use crate::organizations::{self, NearbySite};
use crate::schema::sql_types;
use crate::statuses::{CheckbookStatus, StatementKind, TicketStatus};

/// How many days before expiry beneficiaries are reminded of unused tickets.
pub const REMINDER_DAYS: u64 = 30;

/// Why an event's mails could not be made or recorded: a template that does not
/// render (a bug), or the database.
#[derive(Debug, thiserror::Error)]
pub enum MailEventError {
    #[error("a mail template failed: {0}")]
    Template(#[from] templates::TemplateError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for MailEventError {
    fn from(err: diesel::result::Error) -> Self {
        MailEventError::Db(err.into())
    }
}

fn site_lines(
    sites: impl IntoIterator<Item = (String, Option<String>, String, String, Option<f64>)>,
) -> Vec<SiteLine> {
    sites
        .into_iter()
        .map(|(name, address, postcode, city, km)| SiteLine {
            name,
            address,
            postcode,
            city,
            distance: km.and_then(french::distance_km),
        })
        .collect()
}

/// The mail carrying a checkbook's PDF (`pdf`) to `recipient`.
pub fn checkbook_mail(
    checkbook_id: Uuid,
    sheet: &CheckbookSheet,
    prescriber: Option<String>,
    recipient: &str,
    pdf: Vec<u8>,
) -> Result<NewMail, MailEventError> {
    let total: Decimal = sheet.tickets.iter().map(|t| t.value).sum();
    let content = templates::checkbook(&templates::CheckbookMail {
        number: sheet.number.clone(),
        program: sheet.program_name.clone(),
        tickets: sheet.tickets.len(),
        total: french::euros(total),
        valid_until: french::date(sheet.expires_on),
        prescriber,
        notice: sheet.notice.clone(),
        sites: site_lines(sheet.nearby_sites.iter().map(|s| {
            (
                s.name.clone(),
                s.address.clone(),
                s.postcode.clone(),
                s.city.clone(),
                s.distance_km,
            )
        })),
    })?;
    Ok(NewMail {
        kind: MailKind::Checkbook,
        related_id: Some(checkbook_id),
        recipient: recipient.to_string(),
        content,
        attachment: Some(Attachment {
            filename: format!("{}.pdf", sheet.number),
            content_type: "application/pdf",
            bytes: pdf,
        }),
        dedupe_key: None,
    })
}

fn statement_kind_words(kind: StatementKind) -> &'static str {
    match kind {
        StatementKind::SitePayout => "paiement des chèques encaissés",
        StatementKind::FunderBill => "facture",
        StatementKind::Commission => "relevé des commissions",
        StatementKind::CreditNote => "avoir",
    }
}

/// A statement a settlement made, as its "statement ready" mail tells it. (Mail
/// events take plain values: the settlement, a use case beside this one, calls them
/// in its transaction, so they cannot depend on its types.)
#[derive(Debug, Clone)]
pub struct ReadyStatement<'a> {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number: &'a str,
    /// `site_payout`, `funder_bill`, `commission` or `credit_note`.
    pub kind: StatementKind,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub lines: i32,
    pub total: Decimal,
}

/// One "statement ready" mail per statement made, to its organisation's address.
/// Called once, at the end of the settlement's transaction.
pub async fn statements_ready(
    conn: &mut AsyncPgConnection,
    statements: &[ReadyStatement<'_>],
) -> Result<usize, MailEventError> {
    let ids: Vec<Uuid> = statements.iter().map(|s| s.organization_id).collect();
    let organizations: std::collections::HashMap<Uuid, organizations::Organization> =
        organizations::find_organizations(conn, &ids)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
    let mut mails = Vec::with_capacity(statements.len());
    for statement in statements {
        let Some(org) = organizations.get(&statement.organization_id) else {
            continue;
        };
        let content = templates::statement_ready(&templates::StatementReadyMail {
            organization: org.name.clone(),
            number: statement.number.to_string(),
            kind: statement_kind_words(statement.kind).to_string(),
            period_start: french::date(statement.period_start),
            period_end: french::date(statement.period_end),
            total: french::euros(statement.total),
            lines: statement.lines,
        })?;
        mails.push(NewMail {
            kind: MailKind::StatementReady,
            related_id: Some(statement.id),
            recipient: org.email.clone(),
            content,
            attachment: None,
            dedupe_key: Some(format!("statement_ready:{}", statement.id)),
        });
    }
    Ok(enqueue_many(conn, mails).await?)
}

#[derive(Debug, QueryableByName)]
struct ReminderDue {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    number: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Nullable<Text>)]
    postcode: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    prescriber_id: Uuid,
    #[diesel(sql_type = Date)]
    valid_until: NaiveDate,
    #[diesel(sql_type = Text)]
    program_name: String,
    #[diesel(sql_type = BigInt)]
    unused: i64,
    #[diesel(sql_type = Numeric)]
    unused_value: Decimal,
}

fn reminder_key(checkbook: Uuid, valid_until: NaiveDate) -> String {
    format!("expiry_reminder:{checkbook}:{valid_until}")
}

/// A reminder queued by [`queue_expiry_reminders`].
#[derive(Debug, Clone)]
pub struct QueuedReminder {
    pub checkbook_number: String,
    pub valid_until: NaiveDate,
    pub unused: i64,
}

/// Queues a reminder for every checkbook handed out with an e-mail whose unused
/// tickets expire between `today` and `today` + [`REMINDER_DAYS`], unless one was
/// queued already for that checkbook and expiry date. Running it again queues
/// nothing new (the dedupe key is unique, so even two runs at once cannot both).
pub async fn queue_expiry_reminders(
    conn: &mut AsyncPgConnection,
    today: NaiveDate,
) -> Result<Vec<QueuedReminder>, MailEventError> {
    let horizon = today + chrono::Days::new(REMINDER_DAYS);
    let due: Vec<ReminderDue> = diesel::sql_query(
        "SELECT c.id, c.number, c.beneficiary_email AS email, c.beneficiary_postcode AS postcode,
                c.prescriber_id, c.valid_until, p.name AS program_name,
                count(t.id) AS unused, sum(t.value) AS unused_value
         FROM checkbooks c
         JOIN programs p ON p.id = c.program_id
         JOIN tickets t ON t.checkbook_id = c.id AND t.status = $3
         WHERE c.status = $4 AND c.beneficiary_email IS NOT NULL
           AND c.valid_until BETWEEN $1 AND $2
           AND NOT EXISTS (SELECT 1 FROM outbox o
                           WHERE o.dedupe_key = 'expiry_reminder:' || c.id::text || ':'
                                                || to_char(c.valid_until, 'YYYY-MM-DD'))
         GROUP BY c.id, p.name
         ORDER BY c.valid_until, c.number",
    )
    .bind::<Date, _>(today)
    .bind::<Date, _>(horizon)
    .bind::<sql_types::TicketStatus, _>(TicketStatus::Issued)
    .bind::<sql_types::CheckbookStatus, _>(CheckbookStatus::HandedOut)
    .load(conn)
    .await?;
    let mut queued = Vec::with_capacity(due.len());
    for book in due {
        let prescriber = organizations::find_organization(conn, book.prescriber_id).await?;
        let fallback = prescriber.as_ref().and_then(|p| {
            Some(Coordinates {
                latitude: p.latitude?,
                longitude: p.longitude?,
            })
        });
        let postcode = book
            .postcode
            .clone()
            .or_else(|| prescriber.as_ref().map(|p| p.postcode.clone()));
        let nearby =
            organizations::nearby_sites(conn, today, postcode.as_deref(), fallback, 3).await?;
        let content = templates::expiry_reminder(&templates::ExpiryReminderMail {
            number: book.number.clone(),
            program: book.program_name.clone(),
            unused: book.unused,
            value: french::euros(book.unused_value),
            valid_until: french::date(book.valid_until),
            sites: nearby_lines(nearby),
        })?;
        let mail = NewMail {
            kind: MailKind::ExpiryReminder,
            related_id: Some(book.id),
            recipient: book.email.clone(),
            content,
            attachment: None,
            dedupe_key: Some(reminder_key(book.id, book.valid_until)),
        };
        if enqueue(conn, mail).await?.is_some() {
            queued.push(QueuedReminder {
                checkbook_number: book.number,
                valid_until: book.valid_until,
                unused: book.unused,
            });
        }
    }
    Ok(queued)
}

fn nearby_lines(nearby: Vec<NearbySite>) -> Vec<SiteLine> {
    site_lines(nearby.into_iter().map(|n| {
        (
            n.site.name,
            n.site.address,
            n.site.postcode,
            n.site.city,
            n.distance_km,
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_keys_name_the_checkbook_and_its_expiry_date() {
        let id = Uuid::nil();
        let day = NaiveDate::from_ymd_opt(2027, 1, 5).unwrap();
        assert_eq!(
            reminder_key(id, day),
            "expiry_reminder:00000000-0000-0000-0000-000000000000:2027-01-05"
        );
    }
}
