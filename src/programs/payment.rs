//! Money received from a funder.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::{ProgramError, funders_of, funding, lock_program};
use crate::audit::{self, Actor, Change, Entity};
use crate::db::DbError;
use crate::domain::ValidationError;
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::money::Money;
use crate::schema::payments;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: Uuid,
    pub program_id: Uuid,
    pub funder_id: Uuid,
    pub amount: Decimal,
    pub reference: String,
    pub received_on: NaiveDate,
    pub created_at: DateTime<Utc>,
}

/// Records money received from a funder: it becomes available budget.
pub async fn record_payment(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    program: Uuid,
    funder: Uuid,
    amount: Money,
    reference: String,
    received_on: NaiveDate,
) -> Result<Payment, ProgramError> {
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let program = lock_program(conn, program).await?;
        if !program.is_open() {
            return Err(ProgramError::Closed);
        }
        let shares = funders_of(conn, program.id).await?;
        if !shares.iter().any(|f| f.funder_id == funder) {
            return Err(ValidationError::new(
                "funder_id",
                "Cette organisation ne finance pas ce dispositif.",
            )
            .into());
        }
        let current = funding(conn, program.id).await?;
        let pledged = current.pledged.get(&funder).copied().unwrap_or_default();
        let paid = current.paid.get(&funder).copied().unwrap_or_default();
        if paid + amount.decimal() > pledged {
            return Err(ProgramError::PaymentExceedsCommitment { pledged, paid });
        }
        let row = diesel::insert_into(payments::table)
            .values((
                payments::id.eq(Uuid::now_v7()),
                payments::program_id.eq(program.id),
                payments::funder_id.eq(funder),
                payments::amount.eq(amount.decimal()),
                payments::reference.eq(&reference),
                payments::received_on.eq(received_on),
            ))
            .returning(Payment::as_returning())
            .get_result(conn)
            .await
            .map_err(DbError::from);
        let payment = match row {
            Err(DbError::Unique { .. }) => {
                return Err(ProgramError::PaymentAlreadyRecorded { reference });
            }
            other => other?,
        };
        ledger::post(
            conn,
            TransactionKind::Payment,
            &format!("Versement reçu, réf. {reference}"),
            program.id,
            &[
                (
                    AccountRef::program(AccountKind::Available, program.id),
                    amount.decimal(),
                ),
                (
                    AccountRef::of(AccountKind::FunderUnpaid, program.id, funder),
                    -amount.decimal(),
                ),
            ],
        )
        .await?;
        audit::record(
            conn,
            Change {
                actor,
                organization_id: Some(funder),
                entity: Entity::Payment,
                // The program's: its history lists its payments.
                entity_id: program.id,
                action: "payment.recorded",
                before: None,
                after: Some(json!({
                    "payment_id": payment.id,
                    "funder_id": funder,
                    "amount": amount.to_string(),
                    "reference": payment.reference,
                    "received_on": payment.received_on,
                })),
                reason: None,
            },
        )
        .await?;
        Ok(payment)
    })
    .await
}
