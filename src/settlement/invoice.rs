//! What a funder's Factur-X invoice needs beyond the statement: the funder's Chorus
//! Pro service code and the engagement number of its line in the statement's
//! programs (issue 17). Read-only.

use diesel::QueryableByName;
use diesel::sql_types::{Array, Nullable, Text, Uuid as SqlUuid};
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

/// The references of `funder` for a statement of `program` (a credit note) or of the
/// programs named in its lines (a bill).
pub async fn buyer_references(
    conn: &mut AsyncPgConnection,
    funder: Uuid,
    program: Option<Uuid>,
    program_names: &[String],
) -> Result<BuyerReferences, DbError> {
    let sql = "SELECT o.chorus_service_code,
                      (SELECT string_agg(DISTINCT pf.engagement_number, '; ')
                       FROM program_funders pf JOIN programs p ON p.id = pf.program_id
                       WHERE pf.funder_id = o.id AND pf.engagement_number IS NOT NULL
                         AND (p.id = $2 OR ($2 IS NULL AND p.name = ANY($3)))) AS engagement_numbers
               FROM organizations o WHERE o.id = $1";
    let rows: Vec<Row> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(funder)
        .bind::<Nullable<SqlUuid>, _>(program)
        .bind::<Array<Text>, _>(program_names)
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
