//! Changes to an issued checkbook by its prescriber: handing it out, correcting its
//! beneficiary's record, preparing a mail, cancelling it. Each locks the checkbook
//! first.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{
    Beneficiary, BeneficiaryPatch, Checkbook, CheckbookAction, CheckbookError, IssuedCheckbook,
    own_checkbook_for_update, visible_checkbook,
};
use crate::audit::{self, Entity};
use crate::auth::Caller;
use crate::domain::{Email, ValidationError, french_date};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::mail;
use crate::schema::{checkbooks, tickets};
use crate::statuses::{CheckbookStatus, TicketStatus};

/// Sending and correcting need a beneficiary: a checkbook handed out, not cancelled,
/// whose record was not erased.
fn require_handed_out(
    checkbook: &Checkbook,
    action: CheckbookAction,
) -> Result<(), CheckbookError> {
    if checkbook.beneficiary_erased_at.is_some() {
        return Err(CheckbookError::BeneficiaryErased);
    }
    match checkbook.status {
        CheckbookStatus::HandedOut => Ok(()),
        CheckbookStatus::Stock => Err(CheckbookError::NotHandedOut),
        CheckbookStatus::Cancelled => Err(CheckbookError::Cancelled { action }),
    }
}

/// Hands a stock checkbook out to a beneficiary: its tickets become usable.
pub async fn hand_out(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    beneficiary: Beneficiary,
) -> Result<IssuedCheckbook, CheckbookError> {
    conn.transaction::<_, CheckbookError, _>(async move |conn| {
        let checkbook = own_checkbook_for_update(conn, caller, id).await?;
        match checkbook.status {
            CheckbookStatus::Stock => {}
            CheckbookStatus::HandedOut => return Err(CheckbookError::AlreadyHandedOut),
            CheckbookStatus::Cancelled => {
                return Err(CheckbookError::Cancelled {
                    action: CheckbookAction::HandOut,
                });
            }
        }
        // Its tickets carry their last day: handed out after it, they would be
        // refused at the first scan.
        if checkbook.valid_until < french_date(Utc::now()) {
            return Err(CheckbookError::Expired {
                valid_until: checkbook.valid_until,
            });
        }
        diesel::update(checkbooks::table.find(id))
            .set((
                checkbooks::status.eq(CheckbookStatus::HandedOut),
                checkbooks::beneficiary_reference.eq(&beneficiary.reference),
                checkbooks::beneficiary_email.eq(beneficiary.email.as_ref().map(|e| e.as_str())),
                checkbooks::beneficiary_birth_year.eq(beneficiary.birth_year),
                checkbooks::beneficiary_postcode
                    .eq(beneficiary.postcode.as_ref().map(|p| p.as_str())),
                checkbooks::beneficiary_situation.eq(beneficiary.situation.map(|s| s.as_str())),
                checkbooks::beneficiary_publics.eq(beneficiary.stored_publics()),
                checkbooks::beneficiary_needs.eq(beneficiary.stored_needs()),
                checkbooks::handed_out_at.eq(Utc::now()),
                checkbooks::handed_out_by.eq(caller.user_id),
            ))
            .execute(conn)
            .await?;
        visible_checkbook(conn, caller, id).await
    })
    .await
}

/// A beneficiary's record corrected: the checkbook as it now is, and the record
/// before and after (the same when the correction changed nothing).
#[derive(Debug)]
pub struct Correction {
    pub book: IssuedCheckbook,
    pub before: Beneficiary,
    pub after: Beneficiary,
}

impl Correction {
    pub fn changed(&self) -> bool {
        self.before.fields() != self.after.fields()
    }
}

/// Corrects the beneficiary's record of a handed-out checkbook (its issuing
/// prescriber), checked as at creation. A corrected e-mail is where the next mails
/// go: "send again", the expiry reminder, and the checkbook's mails still waiting in
/// the outbox (re-addressed; an address removed leaves them failed, never sent to
/// the wrong person). One audit entry names the fields changed (not their values).
/// Runs in the caller's transaction.
pub async fn correct(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    patch: &BeneficiaryPatch,
) -> Result<Correction, CheckbookError> {
    let checkbook = own_checkbook_for_update(conn, caller, id).await?;
    require_handed_out(&checkbook, CheckbookAction::Correct)?;
    let today = french_date(Utc::now());
    let before = checkbook
        .beneficiary(today)?
        .ok_or(CheckbookError::NotHandedOut)?;
    let after = before.corrected(patch, today)?;
    if before.fields() != after.fields() {
        diesel::update(checkbooks::table.find(id))
            .set((
                checkbooks::beneficiary_reference.eq(&after.reference),
                checkbooks::beneficiary_email.eq(after.email.as_ref().map(|e| e.as_str())),
                checkbooks::beneficiary_birth_year.eq(after.birth_year),
                checkbooks::beneficiary_postcode.eq(after.postcode.as_ref().map(|p| p.as_str())),
                checkbooks::beneficiary_situation.eq(after.situation.map(|s| s.as_str())),
                checkbooks::beneficiary_publics.eq(after.stored_publics()),
                checkbooks::beneficiary_needs.eq(after.stored_needs()),
            ))
            .execute(conn)
            .await?;
        // Which fields changed, never their values: the trail is kept for ever, a
        // beneficiary's data must stay erasable.
        let changed: serde_json::Map<String, serde_json::Value> = before
            .fields()
            .into_iter()
            .zip(after.fields())
            .filter(|(was, is)| was.1 != is.1)
            .map(|((name, _), _)| (name.to_string(), serde_json::Value::from("modifié")))
            .collect();
        audit::record(
            conn,
            audit::Change {
                actor: caller.into(),
                organization_id: Some(checkbook.prescriber_id),
                entity: Entity::Checkbook,
                entity_id: id,
                action: "checkbook.beneficiary_corrected",
                before: None,
                after: Some(serde_json::Value::Object(changed)),
                reason: None,
            },
        )
        .await?;
        if let Some(old) = &before.email
            && before.email.as_ref().map(Email::as_str) != after.email.as_ref().map(Email::as_str)
        {
            mail::readdress_waiting(
                conn,
                id,
                old.as_str(),
                after.email.as_ref().map(Email::as_str),
            )
            .await?;
        }
    }
    let book = visible_checkbook(conn, caller, id).await?;
    Ok(Correction {
        book,
        before,
        after,
    })
}

/// The checkbook to e-mail and to whom: the prescriber's own checkbook, handed out
/// and not cancelled, locked; to `email` when given, else to its beneficiary's
/// address. A given address is kept as the beneficiary's when none was known, so
/// that the expiry reminder reaches it too. Runs in the caller's transaction.
pub async fn prepare_send(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    email: Option<Email>,
) -> Result<(IssuedCheckbook, String), CheckbookError> {
    let checkbook = own_checkbook_for_update(conn, caller, id).await?;
    require_handed_out(&checkbook, CheckbookAction::Send)?;
    let recipient = match (email, &checkbook.beneficiary_email) {
        (Some(email), known) => {
            if known.is_none() {
                diesel::update(checkbooks::table.find(id))
                    .set(checkbooks::beneficiary_email.eq(email.as_str()))
                    .execute(conn)
                    .await?;
            }
            email.as_str().to_string()
        }
        (None, Some(known)) => known.clone(),
        (None, None) => {
            return Err(ValidationError::new(
                "email",
                "Ce chéquier n’a pas d’adresse e-mail de bénéficiaire : indiquez-la dans « email ».",
            )
            .into());
        }
    };
    Ok((visible_checkbook(conn, caller, id).await?, recipient))
}

/// Cancels a checkbook (lost, stolen): its unused tickets are cancelled and their
/// value returns to the program's available budget. Used tickets stay as they are.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    reason: String,
) -> Result<IssuedCheckbook, CheckbookError> {
    conn.transaction::<_, CheckbookError, _>(async move |conn| {
        let checkbook = own_checkbook_for_update(conn, caller, id).await?;
        if checkbook.status == CheckbookStatus::Cancelled {
            return Err(CheckbookError::Cancelled {
                action: CheckbookAction::Cancel,
            });
        }
        let values: Vec<Decimal> = diesel::update(
            tickets::table
                .filter(tickets::checkbook_id.eq(id))
                .filter(tickets::status.eq(TicketStatus::Issued)),
        )
        .set((
            tickets::status.eq(TicketStatus::Cancelled),
            tickets::updated_at.eq(Utc::now()),
        ))
        .returning(tickets::value)
        .get_results(conn)
        .await?;
        diesel::update(checkbooks::table.find(id))
            .set((
                checkbooks::status.eq(CheckbookStatus::Cancelled),
                checkbooks::cancelled_at.eq(Utc::now()),
                checkbooks::cancel_reason.eq(&reason),
            ))
            .execute(conn)
            .await?;
        let returned: Decimal = values.iter().sum();
        if !returned.is_zero() {
            ledger::post(
                conn,
                TransactionKind::Cancellation,
                &format!(
                    "Annulation du chéquier {} ({} chèque(s) inutilisé(s))",
                    checkbook.number,
                    values.len()
                ),
                checkbook.program_id,
                &[
                    (
                        AccountRef::program(AccountKind::Available, checkbook.program_id),
                        returned,
                    ),
                    (
                        AccountRef::program(AccountKind::Outstanding, checkbook.program_id),
                        -returned,
                    ),
                ],
            )
            .await?;
        }
        audit::record(
            conn,
            audit::Change {
                actor: caller.into(),
                organization_id: Some(checkbook.prescriber_id),
                entity: Entity::Checkbook,
                entity_id: id,
                action: "checkbook.cancelled",
                before: Some(serde_json::json!({"status": checkbook.status})),
                after: Some(serde_json::json!({
                    "status": CheckbookStatus::Cancelled,
                    "tickets_cancelled": values.len(),
                    "value_returned": returned.to_string(),
                })),
                reason: Some(reason),
            },
        )
        .await?;
        visible_checkbook(conn, caller, id).await
    })
    .await
}
