//! What a funder's Factur-X invoice needs beyond the statement: the funder's Chorus
//! Pro service code and the engagement number of its line in the statement's
//! programs (issue 17). Read-only.

use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::DbError;

/// A public funder's references, when it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuyerReferences {
    pub chorus_service_code: Option<String>,
    /// The engagement numbers of the programs billed, joined by `; ` when several.
    pub engagement_number: Option<String>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    chorus_service_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    engagement_numbers: Option<String>,
}

/// The references of `funder` for a statement: of its `program` (a credit note at
/// closing), or of the programs its `settlement` recorded (a bill: the programs
/// whose tickets were used in the period), whatever they are called today.
pub async fn buyer_references(
    conn: &mut AsyncPgConnection,
    funder: Uuid,
    program: Option<Uuid>,
    settlement: Option<Uuid>,
) -> Result<BuyerReferences, DbError> {
    let sql = "SELECT o.chorus_service_code,
                      (SELECT string_agg(DISTINCT pf.engagement_number, '; ')
                       FROM program_funders pf
                       WHERE pf.funder_id = o.id AND pf.engagement_number IS NOT NULL
                         AND (pf.program_id = $2
                              OR ($2 IS NULL AND pf.program_id IN
                                  (SELECT named_id FROM settlement_names WHERE settlement_id = $3)))
                      ) AS engagement_numbers
               FROM organizations o WHERE o.id = $1";
    let rows: Vec<Row> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(funder)
        .bind::<Nullable<SqlUuid>, _>(program)
        .bind::<Nullable<SqlUuid>, _>(settlement)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .next()
        .map(|r| BuyerReferences {
            chorus_service_code: r.chorus_service_code,
            engagement_number: r.engagement_numbers,
        })
        .unwrap_or_default())
}
