//! The programs whose indicators the operator made public (`public_indicators`): the
//! open-data list anyone reads, without a token, to find a program's indicators.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::DbError;
use crate::schema::programs;

/// A program whose indicators are public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub id: Uuid,
    pub name: String,
}

/// Every program with public indicators, by name.
pub async fn published_programs(conn: &mut AsyncPgConnection) -> Result<Vec<Published>, DbError> {
    let rows: Vec<(Uuid, String)> = programs::table
        .filter(programs::public_indicators.eq(true))
        .select((programs::id, programs::name))
        .order((programs::name, programs::id))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| Published { id, name })
        .collect())
}
