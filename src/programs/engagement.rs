//! The engagement number (*numéro d'engagement juridique*) of a funder's line in a
//! program: the reference a public funder's accounting gives to its commitment,
//! which Chorus Pro expects on every invoice (the Factur-X order reference, BT-13).
//! It usually comes after the program opened, once the convention is signed, so it
//! is set (or cleared) on the line at any time; the line's share never changes (the
//! database refuses it: `program_funders_immutable`). One audit entry per change,
//! readable by the funder's admins too.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::ProgramError;
use crate::audit::{self, Actor, Change, Entity};
use crate::schema::program_funders;

/// A funder's line in a program, as it is after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunderLine {
    pub program_id: Uuid,
    pub funder_id: Uuid,
    pub share: Decimal,
    pub engagement_number: Option<String>,
}

/// Sets (`Some`) or clears (`None`) the engagement number of `funder`'s line in
/// `program`, in one transaction. No such line (or no such program): `NotFound`.
/// Setting it to what it is already writes nothing.
pub async fn set_engagement_number(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    program: Uuid,
    funder: Uuid,
    engagement_number: Option<String>,
) -> Result<FunderLine, ProgramError> {
    conn.transaction::<_, ProgramError, _>(async move |conn| {
        let line = program_funders::table
            .find((program, funder))
            .select((program_funders::share, program_funders::engagement_number))
            .for_update()
            .first::<(Decimal, Option<String>)>(conn)
            .await
            .optional()?;
        let Some((share, before)) = line else {
            return Err(ProgramError::NotFound);
        };
        if before != engagement_number {
            diesel::update(program_funders::table.find((program, funder)))
                .set(program_funders::engagement_number.eq(&engagement_number))
                .execute(conn)
                .await?;
            audit::record(
                conn,
                Change {
                    actor,
                    organization_id: Some(funder),
                    entity: Entity::Program,
                    entity_id: program,
                    action: "program.engagement_number_set",
                    before: Some(json!({"funder_id": funder, "engagement_number": before})),
                    after: Some(
                        json!({"funder_id": funder, "engagement_number": engagement_number}),
                    ),
                    reason: None,
                },
            )
            .await?;
        }
        Ok(FunderLine {
            program_id: program,
            funder_id: funder,
            share,
            engagement_number,
        })
    })
    .await
}
