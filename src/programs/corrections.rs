//! Corrections of a program after its opening: its name, its budget, whether its
//! indicators are published, and the end of validity of its outstanding tickets.
//!
//! What moves money (the budget) moves it in the ledger, never in place: a budget
//! raised or lowered changes each funder's pledge by its share, as a `commitment`
//! transaction. The face value, the shares and the rates never change (the
//! database refuses it: `programs_keep_terms`). Each correction writes one audit
//! entry, with only the fields that changed, in its own transaction; a refused one
//! writes nothing.

use chrono::{Days, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{BudgetRule, Program, ProgramError, budget_rule, funders_of, funding, lock_program};
use crate::audit::{self, Actor, Change, Entity};
use crate::domain::{ValidationError, french_date};
use crate::ledger::{self, AccountKind, AccountRef, TransactionKind};
use crate::money::Money;
use crate::schema::programs;

/// What a `PATCH /programs/{id}` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProgramChanges {
    pub name: Option<String>,
    pub budget: Option<Money>,
    pub public_indicators: Option<bool>,
}

/// Applies `changes` to a program in one transaction: the budget never below what
/// is committed (see `Funding::least_budget`) and validated as at creation, each
/// funder's pledge moved by its share. Returns the program as it is now.
pub async fn update_program(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    id: Uuid,
    changes: ProgramChanges,
) -> Result<Program, ProgramError> {
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let program = lock_program(conn, id).await?;
        let mut before = Map::new();
        let mut after = Map::new();
        if let Some(name) = changes.name.filter(|n| *n != program.name) {
            before.insert("name".into(), json!(program.name));
            after.insert("name".into(), json!(name));
            diesel::update(programs::table.find(id))
                .set(programs::name.eq(&name))
                .execute(conn)
                .await?;
        }
        if let Some(flag) = changes
            .public_indicators
            .filter(|f| *f != program.public_indicators)
        {
            before.insert("public_indicators".into(), json!(program.public_indicators));
            after.insert("public_indicators".into(), json!(flag));
            diesel::update(programs::table.find(id))
                .set(programs::public_indicators.eq(flag))
                .execute(conn)
                .await?;
        }
        if let Some(budget) = changes.budget.filter(|b| b.decimal() != program.budget) {
            change_budget(conn, &program, budget).await?;
            before.insert(
                "budget".into(),
                json!(Money::from_decimal_unchecked(program.budget).to_string()),
            );
            after.insert("budget".into(), json!(budget.to_string()));
        }
        if !after.is_empty() {
            audit::record(
                conn,
                Change {
                    actor,
                    organization_id: None,
                    entity: Entity::Program,
                    entity_id: id,
                    action: "program.updated",
                    before: Some(Value::Object(before)),
                    after: Some(Value::Object(after)),
                    reason: None,
                },
            )
            .await?;
        }
        lock_program(conn, id).await
    })
    .await
}

/// Moves the budget to `budget`: refused below what is committed, or when it breaks
/// the rules of creation; otherwise each funder's pledge changes by its share.
async fn change_budget(
    conn: &mut AsyncPgConnection,
    program: &Program,
    budget: Money,
) -> Result<(), ProgramError> {
    if !program.is_open() {
        return Err(ProgramError::Closed);
    }
    let shares = funders_of(conn, program.id).await?;
    let current = funding(conn, program.id).await?;
    let least = current.least_budget(&shares);
    if budget.decimal() < least {
        return Err(ProgramError::BudgetBelowCommitted { least });
    }
    let parts: Vec<Decimal> = shares.iter().map(|f| f.share).collect();
    let checkbook = program
        .ticket_value()
        .times(u32::try_from(program.tickets_per_checkbook).unwrap_or(0));
    match budget_rule(budget, checkbook, &parts) {
        Ok(()) => {}
        Err(BudgetRule::BelowOneCheckbook { checkbook }) => {
            return Err(ValidationError::new(
                "budget",
                format!("Le budget ({budget}) ne couvre pas même un chéquier ({checkbook})."),
            )
            .into());
        }
        Err(BudgetRule::PartBetweenCents { part, .. }) => {
            return Err(ValidationError::new(
                "budget",
                format!(
                    "Avec ce budget, la part d’un financeur ({part} €) tombe entre deux centimes : choisissez un montant qui se partage au centime."
                ),
            )
            .into());
        }
    }
    let delta = budget.decimal() - program.budget;
    let mut postings = Vec::new();
    for f in &shares {
        let moved = delta * f.share;
        postings.push((
            AccountRef::of(AccountKind::FunderUnpaid, program.id, f.funder_id),
            moved,
        ));
        postings.push((
            AccountRef::of(AccountKind::FunderCommitment, program.id, f.funder_id),
            -moved,
        ));
    }
    ledger::post(
        conn,
        TransactionKind::Commitment,
        &format!(
            "Budget modifié : {} → {budget}",
            Money::from_decimal_unchecked(program.budget)
        ),
        program.id,
        &postings,
    )
    .await?;
    diesel::update(programs::table.find(program.id))
        .set(programs::budget.eq(budget.decimal()))
        .execute(conn)
        .await?;
    Ok(())
}

/// What an extension changed.
#[derive(Debug, Clone)]
pub struct Extension {
    pub program: Program,
    /// The end of validity before: the program's fixed day, or its outstanding
    /// tickets' latest.
    pub previous: NaiveDate,
    pub valid_until: NaiveDate,
    pub tickets: i64,
    pub checkbooks: i64,
}

#[derive(QueryableByName)]
struct LatestEnd {
    #[diesel(sql_type = diesel::sql_types::Nullable<Date>)]
    latest: Option<NaiveDate>,
}

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    moved: i64,
}

/// Pushes back to `valid_until` the end of validity of the program's outstanding
/// tickets (issued, whether their checkbook is handed out or still in stock), of
/// their checkbooks and, for a program with a fixed day, of the program itself. The
/// day is to come, within ten years (as at creation), and after the current end.
pub async fn extend_validity(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    id: Uuid,
    valid_until: NaiveDate,
    reason: String,
) -> Result<Extension, ProgramError> {
    let today = french_date(Utc::now());
    if valid_until < today || valid_until > today + Days::new(3650) {
        return Err(ValidationError::new(
            "valid_until",
            "La nouvelle date de fin de validité doit être à venir, et dans moins de dix ans.",
        )
        .into());
    }
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let program = lock_program(conn, id).await?;
        if !program.is_open() {
            return Err(ProgramError::Closed);
        }
        let latest = diesel::sql_query(
            "SELECT max(valid_until) AS latest FROM tickets WHERE program_id = $1 AND status = 'issued'",
        )
        .bind::<SqlUuid, _>(id)
        .get_result::<LatestEnd>(conn)
        .await?
        .latest;
        let previous = match (program.valid_until, latest) {
            (Some(day), _) => day,
            (None, Some(day)) => day,
            (None, None) => return Err(ProgramError::NothingToExtend),
        };
        if valid_until <= previous {
            return Err(ProgramError::ValidityNotLater { current: previous });
        }
        let tickets = diesel::sql_query(
            "WITH moved AS (UPDATE tickets SET valid_until = $2, updated_at = now()
                            WHERE program_id = $1 AND status = 'issued' AND valid_until < $2
                            RETURNING 1)
             SELECT count(*) AS moved FROM moved",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Date, _>(valid_until)
        .get_result::<Moved>(conn)
        .await?
        .moved;
        let checkbooks = diesel::sql_query(
            "WITH moved AS (UPDATE checkbooks c SET valid_until = $2
                            WHERE c.program_id = $1 AND c.status <> 'cancelled' AND c.valid_until < $2
                              AND EXISTS (SELECT 1 FROM tickets t WHERE t.checkbook_id = c.id AND t.status = 'issued')
                            RETURNING 1)
             SELECT count(*) AS moved FROM moved",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Date, _>(valid_until)
        .get_result::<Moved>(conn)
        .await?
        .moved;
        if program.valid_until.is_some() {
            diesel::update(programs::table.find(id))
                .set(programs::valid_until.eq(valid_until))
                .execute(conn)
                .await?;
        }
        audit::record(
            conn,
            Change {
                actor,
                organization_id: None,
                entity: Entity::Program,
                entity_id: id,
                action: "program.extended",
                before: Some(json!({ "valid_until": previous })),
                after: Some(json!({
                    "valid_until": valid_until,
                    "tickets": tickets,
                    "checkbooks": checkbooks,
                })),
                reason: Some(reason),
            },
        )
        .await?;
        Ok(Extension {
            program: lock_program(conn, id).await?,
            previous,
            valid_until,
            tickets,
            checkbooks,
        })
    })
    .await
}
