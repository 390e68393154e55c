//! Changes to an issued checkbook by its prescriber: handing it out, preparing a
//! mail, cancelling it. Each locks the checkbook first.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{
    Beneficiary, CheckbookAction, CheckbookError, IssuedCheckbook, own_checkbook_for_update,
    visible_checkbook,
};
use crate::auth::Caller;
use crate::domain::{Email, ValidationError};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::schema::{checkbooks, tickets};
use crate::statuses::{CheckbookStatus, TicketStatus};

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
        diesel::update(checkbooks::table.find(id))
            .set((
                checkbooks::status.eq(CheckbookStatus::HandedOut),
                checkbooks::beneficiary_reference.eq(&beneficiary.reference),
                checkbooks::beneficiary_email.eq(beneficiary.email.as_ref().map(|e| e.as_str())),
                checkbooks::beneficiary_birth_year.eq(beneficiary.birth_year),
                checkbooks::beneficiary_postcode
                    .eq(beneficiary.postcode.as_ref().map(|p| p.as_str())),
                checkbooks::beneficiary_situation.eq(beneficiary.situation.map(|s| s.as_str())),
                checkbooks::handed_out_at.eq(Utc::now()),
                checkbooks::handed_out_by.eq(caller.user_id),
            ))
            .execute(conn)
            .await?;
        visible_checkbook(conn, caller, id).await
    })
    .await
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
    match checkbook.status {
        CheckbookStatus::HandedOut => {}
        CheckbookStatus::Stock => return Err(CheckbookError::NotHandedOut),
        CheckbookStatus::Cancelled => {
            return Err(CheckbookError::Cancelled {
                action: CheckbookAction::Send,
            });
        }
    }
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
                "Ce chéquier n'a pas d'adresse e-mail de bénéficiaire : indiquez-la dans « email ».",
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
        visible_checkbook(conn, caller, id).await
    })
    .await
}
