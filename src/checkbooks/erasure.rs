//! Erasing beneficiaries' records (RGPD): at once on the issuing prescriber's
//! request, or by the purge once the checkbook has ended and the retention delay
//! (`beneficiary_retention_months`) has passed.
//!
//! Erasing sets the person's fields (reference, e-mail, birth year, postcode,
//! situation, publics, needs) to NULL or empty and records when. Nothing else
//! moves: the checkbook, its tickets, their redemptions, the ledger and the
//! statements (and their SHA-256) stay exactly as they were. The mails about the
//! checkbook still waiting are given up, and every mail about it forgets its
//! address and its PDF (`mail::forget_beneficiaries`).

use chrono::NaiveDate;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Date, Integer, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{CheckbookError, IssuedCheckbook, own_checkbook_for_update, visible_checkbook};
use crate::audit::{self, Actor, Entity};
use crate::auth::Caller;
use crate::db::DbError;
use crate::mail;
use crate::statuses::CheckbookStatus;

/// The one statement that empties a record; `$1` is the checkbooks' ids.
const ERASE: &str = "UPDATE checkbooks
    SET beneficiary_reference = NULL, beneficiary_email = NULL,
        beneficiary_birth_year = NULL, beneficiary_postcode = NULL,
        beneficiary_situation = NULL, beneficiary_publics = '{}',
        beneficiary_needs = '{}', beneficiary_erased_at = now()
    WHERE id = ANY($1) AND beneficiary_erased_at IS NULL";

/// The names of the fields a record held (never their values), for the trail.
const FIELDS: [&str; 7] = [
    "reference",
    "email",
    "birth_year",
    "postcode",
    "situation",
    "publics",
    "needs",
];

/// What the prescriber's erasure did.
#[derive(Debug)]
pub struct Erasure {
    pub book: IssuedCheckbook,
    /// `false` when the record was already erased (nothing written again).
    pub erased_now: bool,
}

/// Erases the beneficiary's record of one of the caller's checkbooks, at once.
/// Idempotent: an erased record stays erased, with its first date and one audit
/// entry naming the fields that held something. A stock checkbook has no record
/// (`NotHandedOut`).
pub async fn erase_beneficiary(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Erasure, CheckbookError> {
    conn.transaction::<_, CheckbookError, _>(async move |conn| {
        let checkbook = own_checkbook_for_update(conn, caller, id).await?;
        if checkbook.beneficiary_erased_at.is_some() {
            let book = visible_checkbook(conn, caller, id).await?;
            return Ok(Erasure {
                book,
                erased_now: false,
            });
        }
        if checkbook.beneficiary_reference.is_none() {
            return Err(match checkbook.status {
                CheckbookStatus::Cancelled => CheckbookError::Cancelled {
                    action: super::CheckbookAction::Erase,
                },
                _ => CheckbookError::NotHandedOut,
            });
        }
        let held = [
            checkbook.beneficiary_reference.is_some(),
            checkbook.beneficiary_email.is_some(),
            checkbook.beneficiary_birth_year.is_some(),
            checkbook.beneficiary_postcode.is_some(),
            checkbook.beneficiary_situation.is_some(),
            !checkbook.beneficiary_publics.is_empty(),
            !checkbook.beneficiary_needs.is_empty(),
        ];
        diesel::sql_query(ERASE)
            .bind::<Array<SqlUuid>, _>(vec![id])
            .execute(conn)
            .await?;
        let withdrawn = mail::forget_beneficiaries(conn, &[id]).await?;
        let erased: serde_json::Map<String, serde_json::Value> = FIELDS
            .iter()
            .zip(held)
            .filter(|(_, held)| *held)
            .map(|(name, _)| (name.to_string(), serde_json::Value::from("effacé")))
            .collect();
        audit::record(
            conn,
            audit::Change {
                actor: caller.into(),
                organization_id: Some(checkbook.prescriber_id),
                entity: Entity::Checkbook,
                entity_id: id,
                action: "checkbook.beneficiary_erased",
                before: None,
                after: Some(serde_json::json!({
                    "fields": erased,
                    "mails_withdrawn": withdrawn,
                })),
                reason: Some("Demande d’effacement transmise par le prescripteur".into()),
            },
        )
        .await?;
        let book = visible_checkbook(conn, caller, id).await?;
        Ok(Erasure {
            book,
            erased_now: true,
        })
    })
    .await
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Records erased.
    pub erased: usize,
    /// Mails still waiting for those people, given up.
    pub mails_withdrawn: usize,
}

/// Erases every beneficiary's record whose checkbook ended more than
/// `retention_months` before `today`, in the caller's transaction. The checkbook's
/// end is its validity's last day, or the (Paris) day it was cancelled when earlier;
/// a record is kept through end + delay and erased from the next day. One audit
/// entry per run (the count, no one's data; zero too). Safe to run again: an erased
/// record is not touched twice.
pub async fn purge(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    today: NaiveDate,
    retention_months: u32,
) -> Result<Purged, DbError> {
    // `valid_until < $1` lets the partial index on `valid_until` find the ended
    // checkbooks; the cancelled ones may have ended earlier.
    let due: Vec<Due> = diesel::sql_query(
        "SELECT id FROM checkbooks
         WHERE beneficiary_erased_at IS NULL AND beneficiary_reference IS NOT NULL
           AND ((valid_until < $1 AND valid_until + make_interval(months => $2) < $1)
                OR (cancelled_at IS NOT NULL
                    AND (cancelled_at AT TIME ZONE 'Europe/Paris')::date
                        + make_interval(months => $2) < $1))
         ORDER BY id
         FOR UPDATE",
    )
    .bind::<Date, _>(today)
    .bind::<Integer, _>(i32::try_from(retention_months).unwrap_or(i32::MAX))
    .load(conn)
    .await?;
    let ids: Vec<Uuid> = due.into_iter().map(|d| d.id).collect();
    let (erased, mails_withdrawn) = if ids.is_empty() {
        (0, 0)
    } else {
        let erased = diesel::sql_query(ERASE)
            .bind::<Array<SqlUuid>, _>(&ids)
            .execute(conn)
            .await?;
        (erased, mail::forget_beneficiaries(conn, &ids).await?)
    };
    audit::record(
        conn,
        audit::Change {
            actor,
            organization_id: None,
            entity: Entity::Checkbook,
            entity_id: Uuid::nil(),
            action: "checkbook.beneficiaries_purged",
            before: None,
            after: Some(serde_json::json!({
                "erased": erased,
                "mails_withdrawn": mails_withdrawn,
                "retention_months": retention_months,
            })),
            reason: Some(format!(
                "Durée de conservation passée ({retention_months} mois après la fin du chéquier)"
            )),
        },
    )
    .await?;
    Ok(Purged {
        erased,
        mails_withdrawn,
    })
}
