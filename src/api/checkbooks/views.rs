//! What a reader sees of a checkbook: its tickets (their secrets for the issuing
//! prescriber only) and where its mail stands.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::checkbooks::{self, Checkbook, IssuedCheckbook, Ticket};
use crate::codes::{CodeKeys, Serial};
use crate::domain::end_of_french_day;
use crate::error::{ApiError, ApiResult};
use crate::mail::{self, OutboxMail, OutboxStatus};
use crate::money::Money;
use crate::statuses::{CheckbookStatus, ShownTicketStatus, TicketStatus};
use crate::vocabulary::{self, Public, Theme};

/// A ticket as its reader may see it. Its `code` and full `serial` are bearer
/// secrets: only the users of the prescriber that issued the checkbook get them;
/// everyone else (the operator included) gets `serial_hint` and the status, and the
/// two fields are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    /// Typed by hand when the camera fails, e.g. `7K3M-9QX2-ZA4`. Issuing prescriber
    /// only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The signed string carried by the QR code. Issuing prescriber only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The serial's last four symbols, e.g. `2ZA4`: for every reader.
    #[schema(example = "2ZA4")]
    pub serial_hint: String,
    pub value: String,
    /// `stock`, `issued`, `redeemed`, `settled`, `cancelled` or `expired`.
    pub status: ShownTicketStatus,
    /// The last day printed on the ticket.
    pub valid_until: NaiveDate,
    /// When validity ends (midnight in Paris after `valid_until`), in UTC.
    pub expires_at: DateTime<Utc>,
}

/// The beneficiary's record. Once erased (RGPD), every field is `null` and
/// `erased_at` says when.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeneficiaryView {
    pub reference: Option<String>,
    pub email: Option<String>,
    pub birth_year: Option<i32>,
    pub postcode: Option<String>,
    pub situation: Option<String>,
    /// The person's publics: for the issuing prescriber only (absent for anyone
    /// else, the operator included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publics: Option<Vec<Public>>,
    /// The person's needs (themes): for the issuing prescriber only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<Theme>>,
    /// When the record was erased, after its retention delay or on request.
    pub erased_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckbookView {
    pub id: Uuid,
    /// Human-readable number, e.g. `CH-2026-000042`.
    pub number: String,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub print_run_id: Option<Uuid>,
    /// `stock`, `handed_out` or `cancelled`.
    pub status: CheckbookStatus,
    pub beneficiary: Option<BeneficiaryView>,
    pub valid_until: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub handed_out_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub tickets: Vec<TicketView>,
    /// The last mail carrying this checkbook's PDF; `null` when none was sent.
    pub mail: Option<CheckbookMailView>,
}

pub(super) fn code_of(keys: &CodeKeys, ticket: &Ticket) -> ApiResult<String> {
    let serial = Serial::parse(&ticket.serial).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "stored serial {} unreadable: {e}",
            ticket.serial
        ))
    })?;
    Ok(keys.sign(&serial, Money::from_decimal_unchecked(ticket.value).cents()))
}

pub(super) fn display_serial(serial: &str) -> String {
    Serial::parse(serial)
        .map(|s| s.display())
        .unwrap_or_else(|_| serial.to_string())
}

fn serial_hint(serial: &str) -> String {
    match Serial::parse(serial) {
        Ok(serial) => serial.hint(),
        Err(_) => {
            let n = serial.chars().count();
            serial.chars().skip(n.saturating_sub(4)).collect()
        }
    }
}

/// What a reader may know of a checkbook's tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// The issuing prescriber: codes and full serials.
    Shown,
    /// Everyone else: the serial's last four symbols.
    Hidden,
}

impl Secrets {
    pub fn for_reader(caller: &Caller, checkbook: &Checkbook) -> Secrets {
        if checkbooks::is_issuer(caller, checkbook.prescriber_id) {
            Secrets::Shown
        } else {
            Secrets::Hidden
        }
    }
}

pub fn ticket_view(
    keys: &CodeKeys,
    checkbook: &Checkbook,
    ticket: &Ticket,
    secrets: Secrets,
) -> ApiResult<TicketView> {
    let status =
        if ticket.status == TicketStatus::Issued && checkbook.status == CheckbookStatus::Stock {
            ShownTicketStatus::Stock
        } else {
            ShownTicketStatus::from(ticket.status)
        };
    Ok(TicketView {
        id: ticket.id,
        serial: (secrets == Secrets::Shown).then(|| display_serial(&ticket.serial)),
        code: match secrets {
            Secrets::Shown => Some(code_of(keys, ticket)?),
            Secrets::Hidden => None,
        },
        serial_hint: serial_hint(&ticket.serial),
        value: Money::from_decimal_unchecked(ticket.value).to_string(),
        status,
        valid_until: ticket.valid_until,
        expires_at: end_of_french_day(ticket.valid_until),
    })
}

/// A checkbook as `reader` may see it (see [`TicketView`] for its tickets' secrets).
pub fn checkbook_view(
    keys: &CodeKeys,
    reader: &Caller,
    book: &IssuedCheckbook,
    mails: &HashMap<Uuid, OutboxMail>,
) -> ApiResult<CheckbookView> {
    let c = &book.checkbook;
    let secrets = Secrets::for_reader(reader, c);
    Ok(CheckbookView {
        id: c.id,
        number: c.number.clone(),
        program_id: c.program_id,
        prescriber_id: c.prescriber_id,
        print_run_id: c.print_run_id,
        status: c.status,
        beneficiary: (c.beneficiary_reference.is_some() || c.beneficiary_erased_at.is_some()).then(
            || BeneficiaryView {
                reference: c.beneficiary_reference.clone(),
                email: c.beneficiary_email.clone(),
                birth_year: c.beneficiary_birth_year,
                postcode: c.beneficiary_postcode.clone(),
                situation: c.beneficiary_situation.clone(),
                publics: (secrets == Secrets::Shown)
                    .then(|| vocabulary::read_all(&c.beneficiary_publics, Public::parse)),
                needs: (secrets == Secrets::Shown)
                    .then(|| vocabulary::read_all(&c.beneficiary_needs, Theme::parse)),
                erased_at: c.beneficiary_erased_at,
            },
        ),
        valid_until: c.valid_until,
        expires_at: end_of_french_day(c.valid_until),
        issued_at: c.issued_at,
        handed_out_at: c.handed_out_at,
        cancelled_at: c.cancelled_at,
        cancel_reason: c.cancel_reason.clone(),
        tickets: book
            .tickets
            .iter()
            .map(|t| ticket_view(keys, c, t, secrets))
            .collect::<ApiResult<_>>()?,
        mail: mails.get(&c.id).map(CheckbookMailView::from),
    })
}

/// Where the checkbook's last mail stands: the PDF sent to its beneficiary at issue,
/// hand-out or "send again".
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckbookMailView {
    pub id: Uuid,
    /// `waiting` (en attente), `sending`, `sent` (envoyé le `sent_at`) or `failed`
    /// (échec: `failure` says why).
    pub status: OutboxStatus,
    pub recipient: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the next attempt is due, while it waits after a failed attempt.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, in French, for the person in front of the screen.
    #[schema(example = "Le serveur d’envoi des e-mails ne répondait pas.")]
    pub failure: Option<String>,
}

impl From<&OutboxMail> for CheckbookMailView {
    fn from(m: &OutboxMail) -> Self {
        let status = OutboxStatus::parse(&m.status).unwrap_or(OutboxStatus::Waiting);
        CheckbookMailView {
            id: m.id,
            status,
            recipient: m.recipient.clone(),
            created_at: m.created_at,
            sent_at: m.sent_at,
            attempts: m.attempts,
            last_attempt_at: m.last_attempt_at,
            next_attempt_at: (status == OutboxStatus::Waiting && m.attempts > 0)
                .then_some(m.next_attempt_at),
            failure: match status {
                OutboxStatus::Sent => None,
                _ => m.last_error.as_deref().map(mail::explain_failure),
            },
        }
    }
}

/// Checkbooks as `reader` may see them, each with where its last mail stands.
pub async fn checkbook_views(
    conn: &mut AsyncPgConnection,
    keys: &CodeKeys,
    reader: &Caller,
    books: &[IssuedCheckbook],
) -> ApiResult<Vec<CheckbookView>> {
    let ids: Vec<Uuid> = books.iter().map(|b| b.checkbook.id).collect();
    let mails = checkbooks::mails_of(conn, &ids).await?;
    books
        .iter()
        .map(|book| checkbook_view(keys, reader, book, &mails))
        .collect()
}

/// One checkbook as `reader` may see it, with where its last mail stands.
pub async fn one_checkbook_view(
    conn: &mut AsyncPgConnection,
    keys: &CodeKeys,
    reader: &Caller,
    book: &IssuedCheckbook,
) -> ApiResult<CheckbookView> {
    let mails = checkbooks::mails_of(conn, &[book.checkbook.id]).await?;
    checkbook_view(keys, reader, book, &mails)
}
