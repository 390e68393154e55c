//! Allocations (*dotations*): how many checkbooks a prescriber may issue from a
//! program, and how many it still may.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::{Program, ProgramError, lock_program};
use crate::audit::{self, Actor, Change, Entity};
use crate::db::DbError;
use crate::domain::{OrgKind, ValidationError};
use crate::organizations;
use crate::schema::allocations;

/// Checkbooks a prescriber may still issue from a program: its allocations minus its
/// checkbooks, except cancelled ones that were never used (they give their place back).
pub async fn remaining_allocation(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    prescriber: Uuid,
) -> Result<i64, DbError> {
    let allowed = total_allocated(conn, program, prescriber).await?;
    // Every checkbook counts, but a cancelled one none of whose tickets was used
    // (a lost carnet replaced).
    #[derive(QueryableByName)]
    struct Used {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        used: i64,
    }
    let used = diesel::sql_query(
        "SELECT count(*) AS used FROM checkbooks c
         WHERE c.program_id = $1 AND c.prescriber_id = $2
           AND (c.status <> $3
                OR EXISTS (SELECT 1 FROM tickets t WHERE t.checkbook_id = c.id AND t.status IN ($4, $5)))",
    )
    .bind::<diesel::sql_types::Uuid, _>(program)
    .bind::<diesel::sql_types::Uuid, _>(prescriber)
    .bind::<crate::schema::sql_types::CheckbookStatus, _>(crate::statuses::CheckbookStatus::Cancelled)
    .bind::<crate::schema::sql_types::TicketStatus, _>(crate::statuses::TicketStatus::Redeemed)
    .bind::<crate::schema::sql_types::TicketStatus, _>(crate::statuses::TicketStatus::Settled)
    .get_result::<Used>(conn)
    .await?
    .used;
    Ok(allowed - used)
}

/// Whether an allocation may go past what the program's budget pays for: refused
/// unless the operator confirms it (issuance stays bounded by the budget anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudget {
    Refuse,
    Confirmed,
}

/// How many checkbooks a budget pays for in all: the budget divided by the value of
/// one checkbook (tickets × face value), rounded down.
pub fn checkbooks_paid_by(budget: rust_decimal::Decimal, checkbook: rust_decimal::Decimal) -> i64 {
    if checkbook <= rust_decimal::Decimal::ZERO {
        return 0;
    }
    i64::try_from((budget / checkbook).trunc()).unwrap_or(i64::MAX)
}

/// The checkbooks the budget may still pay for beyond `allocated` (every prescriber's
/// allocations added up, never below zero); `Err` with that number when `more` would
/// go past it.
pub fn within_budget(paid_for: i64, allocated: i64, more: i64) -> Result<(), i64> {
    let affordable = (paid_for - allocated).max(0);
    if more > affordable {
        Err(affordable)
    } else {
        Ok(())
    }
}

/// Refuses `more` checkbooks of allocation when the program's budget does not pay for
/// them on top of every allocation made (all prescribers), unless confirmed.
async fn check_allocation_budget(
    conn: &mut AsyncPgConnection,
    program: &Program,
    more: i64,
    over: OverBudget,
) -> Result<(), ProgramError> {
    if over == OverBudget::Confirmed || more <= 0 {
        return Ok(());
    }
    let allocated: Option<i64> = allocations::table
        .filter(allocations::program_id.eq(program.id))
        .select(diesel::dsl::sum(allocations::checkbooks))
        .first(conn)
        .await?;
    let checkbook =
        program.ticket_value * rust_decimal::Decimal::from(program.tickets_per_checkbook);
    within_budget(
        checkbooks_paid_by(program.budget, checkbook),
        allocated.unwrap_or(0),
        more,
    )
    .map_err(|affordable| ProgramError::AllocationOverBudget {
        affordable,
        asked: more,
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = allocations)]
pub struct Allocation {
    pub id: Uuid,
    pub program_id: Uuid,
    pub prescriber_id: Uuid,
    pub checkbooks: i32,
    pub created_at: DateTime<Utc>,
}

/// Gives a prescriber `checkbooks` more checkbooks to issue from a program; past what
/// the budget pays for only when `over` confirms it.
pub async fn add_allocation(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    program: Uuid,
    prescriber: Uuid,
    count: u32,
    over: OverBudget,
) -> Result<(Allocation, i64), ProgramError> {
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let program = lock_program(conn, program).await?;
        if !program.is_open() {
            return Err(ProgramError::Closed);
        }
        match organizations::find_organization(conn, prescriber).await? {
            Some(org) if org.kind() == OrgKind::Prescriber => {}
            _ => {
                return Err(ValidationError::new(
                    "prescriber_id",
                    "Cet identifiant ne désigne pas un prescripteur.",
                )
                .into());
            }
        }
        check_allocation_budget(conn, &program, i64::from(count), over).await?;
        let allocation = diesel::insert_into(allocations::table)
            .values((
                allocations::id.eq(Uuid::now_v7()),
                allocations::program_id.eq(program.id),
                allocations::prescriber_id.eq(prescriber),
                allocations::checkbooks.eq(i32::try_from(count).unwrap_or(i32::MAX)),
            ))
            .returning(Allocation::as_returning())
            .get_result(conn)
            .await?;
        let remaining = remaining_allocation(conn, program.id, prescriber).await?;
        let total = total_allocated(conn, program.id, prescriber).await?;
        audit::record(
            conn,
            allocation_change(
                actor,
                program.id,
                prescriber,
                "allocation.added",
                total - i64::from(allocation.checkbooks),
                total,
            ),
        )
        .await?;
        Ok((allocation, remaining))
    })
    .await
}

/// A prescriber's allowance in a program: checkbooks allocated in all, and how many it
/// may still issue.
#[derive(Debug, Clone)]
pub struct AllowanceSummary {
    pub prescriber_id: Uuid,
    pub prescriber_name: String,
    pub checkbooks: i64,
    pub remaining_checkbooks: i64,
}

/// The allowances of a program's prescribers (only `prescriber`'s when given), by name.
pub async fn allowances(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    prescriber: Option<Uuid>,
) -> Result<Vec<AllowanceSummary>, DbError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        prescriber_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        checkbooks: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT a.prescriber_id, o.name, sum(a.checkbooks)::bigint AS checkbooks
         FROM allocations a JOIN organizations o ON o.id = a.prescriber_id
         WHERE a.program_id = $1 AND ($2::uuid IS NULL OR a.prescriber_id = $2)
         GROUP BY a.prescriber_id, o.name
         ORDER BY o.name",
    )
    .bind::<diesel::sql_types::Uuid, _>(program)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Uuid>, _>(prescriber)
    .load(conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(AllowanceSummary {
            prescriber_id: row.prescriber_id,
            prescriber_name: row.name,
            checkbooks: row.checkbooks,
            remaining_checkbooks: remaining_allocation(conn, program, row.prescriber_id).await?,
        });
    }
    Ok(out)
}

/// The checkbooks allocated to `prescriber` in `program`, all movements added up;
/// `None` when it has none.
async fn total_allocated_or_none(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    prescriber: Uuid,
) -> Result<Option<i64>, DbError> {
    Ok(allocations::table
        .filter(allocations::program_id.eq(program))
        .filter(allocations::prescriber_id.eq(prescriber))
        .select(diesel::dsl::sum(allocations::checkbooks))
        .first::<Option<i64>>(conn)
        .await?)
}

async fn total_allocated(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    prescriber: Uuid,
) -> Result<i64, DbError> {
    Ok(total_allocated_or_none(conn, program, prescriber)
        .await?
        .unwrap_or(0))
}

/// The audit entry of an allocation's change: the program's history (its id), readable
/// by the prescriber's admins.
fn allocation_change(
    actor: Actor,
    program: Uuid,
    prescriber: Uuid,
    action: &'static str,
    before: i64,
    after: i64,
) -> Change {
    Change {
        actor,
        organization_id: Some(prescriber),
        entity: Entity::Allocation,
        entity_id: program,
        action,
        before: Some(json!({ "prescriber_id": prescriber, "checkbooks": before })),
        after: Some(json!({ "prescriber_id": prescriber, "checkbooks": after })),
        reason: None,
    }
}

/// A prescriber's allocation after a correction.
#[derive(Debug, Clone)]
pub struct ChangedAllocation {
    pub checkbooks: i64,
    pub remaining_checkbooks: i64,
}

/// Sets a prescriber's allocation in a program to `checkbooks` in all: never below
/// the checkbooks it issued (a cancelled one never used gives its place back, as in
/// [`remaining_allocation`]), nor raised past what the budget pays for unless `over`
/// confirms it. The change is recorded as one more movement.
pub async fn change_allocation(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    program: Uuid,
    prescriber: Uuid,
    checkbooks: u32,
    over: OverBudget,
) -> Result<ChangedAllocation, ProgramError> {
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let program = lock_program(conn, program).await?;
        if !program.is_open() {
            return Err(ProgramError::Closed);
        }
        let Some(total) = total_allocated_or_none(conn, program.id, prescriber).await? else {
            return Err(ProgramError::NoAllocation);
        };
        let issued = total - remaining_allocation(conn, program.id, prescriber).await?;
        let wanted = i64::from(checkbooks);
        if wanted < issued {
            return Err(ProgramError::AllocationBelowIssued { issued });
        }
        check_allocation_budget(conn, &program, wanted - total, over).await?;
        if wanted != total {
            diesel::insert_into(allocations::table)
                .values((
                    allocations::id.eq(Uuid::now_v7()),
                    allocations::program_id.eq(program.id),
                    allocations::prescriber_id.eq(prescriber),
                    allocations::checkbooks.eq(i32::try_from(wanted - total).unwrap_or(i32::MAX)),
                ))
                .execute(conn)
                .await?;
            audit::record(
                conn,
                allocation_change(
                    actor,
                    program.id,
                    prescriber,
                    "allocation.updated",
                    total,
                    wanted,
                ),
            )
            .await?;
        }
        Ok(ChangedAllocation {
            checkbooks: wanted,
            remaining_checkbooks: wanted - issued,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn a_budget_pays_for_whole_checkbooks() {
        let cases = [
            ("2000.00", "100.00", 20),
            ("2050.00", "100.00", 20),
            ("99.99", "100.00", 0),
            ("3000.00", "50.00", 60),
            ("100.00", "0", 0),
        ];
        for (budget, checkbook, paid_for) in cases {
            let (b, c) = (
                budget.parse::<Decimal>().unwrap(),
                checkbook.parse::<Decimal>().unwrap(),
            );
            assert_eq!(checkbooks_paid_by(b, c), paid_for, "{budget} / {checkbook}");
        }
    }

    #[test]
    fn an_allocation_within_the_budget_passes_and_past_it_names_what_is_left() {
        assert_eq!(within_budget(200, 0, 200), Ok(()));
        assert_eq!(within_budget(200, 0, 2000), Err(200));
        assert_eq!(within_budget(200, 150, 51), Err(50));
        assert_eq!(within_budget(200, 150, 50), Ok(()));
        // Already over (a confirmed allocation): nothing left, never negative.
        assert_eq!(within_budget(200, 300, 1), Err(0));
    }
}
