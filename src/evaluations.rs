//! The follow-up (*évaluation*, issue 14 point 3): the site that trained a person
//! records their autonomy before and after, on four levels, and the themes covered.
//!
//! **Who.** A site whose agent redeemed (and did not reverse) at least one ticket of
//! the checkbook records it; any other site gets `NotFound`, as for another
//! organisation's data. The issuing prescriber and the operator read every site's
//! evaluation of the checkbook; a site reads its own. Nobody else sees one.
//!
//! **One per checkbook and site; a second record corrects it.** A site fills the form
//! right after the last ticket, often in a hurry and with the person beside it; the
//! trainer notices a wrong tap the next week, or the person comes back for a
//! workshop the checkbook did not pay for. What a site expects then is to fix its
//! own answer, not a refusal that sends it to support. So a second `record` by the
//! same site replaces the values, and the audit trail keeps who changed what, with
//! the values before and after (levels and themes: no personal data). Recording the
//! same values again changes nothing and writes no entry.
//!
//! **No personal data.** Levels and themes only: erasing the beneficiary (at once or
//! by the purge) leaves the evaluation and the statistics' counts as they were.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Entity};
use crate::auth::Caller;
use crate::db::DbError;
use crate::domain::{OrgKind, ValidationError};
use crate::vocabulary::{self, Theme};

/// A level of digital autonomy, 1 (cannot start a device) to 4 (autonomous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    pub const ALL: [Level; 4] = [Level(1), Level(2), Level(3), Level(4)];

    /// `field` names the value in the refusal (`before`, `after`).
    pub fn parse(field: &str, raw: i64) -> Result<Level, ValidationError> {
        match u8::try_from(raw) {
            Ok(n @ 1..=4) => Ok(Level(n)),
            _ => Err(ValidationError::new(
                field,
                "Le niveau d’autonomie va de 1 (ne sait pas allumer l’appareil) à 4 (autonome).",
            )),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// In plain French, as the form says it.
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "Ne sait pas allumer l’appareil",
            2 => "A besoin d’aide à chaque étape",
            3 => "Se débrouille avec un peu d’aide",
            _ => "Autonome",
        }
    }

    /// A stored level (the database checks 1..4).
    fn stored(raw: i16) -> Level {
        Level(u8::try_from(raw.clamp(1, 4)).unwrap_or(1))
    }
}

/// What the site says: levels before and after, themes covered (sorted, once each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    pub before: Level,
    pub after: Level,
    pub themes: Vec<Theme>,
}

impl FollowUp {
    pub fn parse(before: i64, after: i64, themes: &[Theme]) -> Result<FollowUp, ValidationError> {
        let before = Level::parse("before", before)?;
        let after = Level::parse("after", after)?;
        let mut themes = themes.to_vec();
        themes.sort();
        themes.dedup();
        Ok(FollowUp {
            before,
            after,
            themes,
        })
    }
}

/// An evaluation as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub id: Uuid,
    pub checkbook_id: Uuid,
    pub site_id: Uuid,
    pub site_name: String,
    pub follow_up: FollowUp,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What [`record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Corrected,
    /// The same values again: nothing written.
    Unchanged,
}

/// Why an evaluation is refused.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// Only training sites record follow-ups.
    #[error("only training sites record follow-ups")]
    NotSite,
    /// No such checkbook, or not one the caller may see (for a site: none of its
    /// tickets redeemed there).
    #[error("checkbook not found for this caller")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for EvaluationError {
    fn from(err: diesel::result::Error) -> Self {
        EvaluationError::Db(err.into())
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    checkbook_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    site_id: Uuid,
    #[diesel(sql_type = Text)]
    site_name: String,
    #[diesel(sql_type = SmallInt)]
    level_before: i16,
    #[diesel(sql_type = SmallInt)]
    level_after: i16,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    themes: Vec<Option<String>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

impl From<Row> for Evaluation {
    fn from(r: Row) -> Evaluation {
        Evaluation {
            id: r.id,
            checkbook_id: r.checkbook_id,
            site_id: r.site_id,
            site_name: r.site_name,
            follow_up: FollowUp {
                before: Level::stored(r.level_before),
                after: Level::stored(r.level_after),
                themes: vocabulary::read_all(&r.themes, Theme::parse),
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT e.id, e.checkbook_id, e.site_id, o.name AS site_name,
        e.level_before, e.level_after, e.themes, e.created_at, e.updated_at
    FROM evaluations e JOIN organizations o ON o.id = e.site_id";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The checkbook's program when `site` has a live redemption of one of its tickets.
async fn redeemed_by(
    conn: &mut AsyncPgConnection,
    checkbook: Uuid,
    site: Uuid,
) -> Result<Option<Uuid>, DbError> {
    #[derive(QueryableByName)]
    struct Program {
        #[diesel(sql_type = SqlUuid)]
        program_id: Uuid,
    }
    let found: Option<Program> = diesel::sql_query(
        "SELECT t.program_id FROM tickets t
         JOIN redemptions r ON r.ticket_id = t.id AND r.status <> 'reversed'::redemption_status
         WHERE t.checkbook_id = $1 AND r.site_id = $2
         LIMIT 1",
    )
    .bind::<SqlUuid, _>(checkbook)
    .bind::<SqlUuid, _>(site)
    .get_result(conn)
    .await
    .optional()?;
    Ok(found.map(|p| p.program_id))
}

async fn one(
    conn: &mut AsyncPgConnection,
    checkbook: Uuid,
    site: Uuid,
    lock: bool,
) -> Result<Option<Evaluation>, DbError> {
    let sql = format!(
        "{SELECT} WHERE e.checkbook_id = $1 AND e.site_id = $2{}",
        if lock { " FOR UPDATE OF e" } else { "" }
    );
    let rows: Vec<Row> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(checkbook)
        .bind::<SqlUuid, _>(site)
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().map(Evaluation::from))
}

fn values(f: &FollowUp) -> serde_json::Value {
    json!({
        "before": f.before.get(),
        "after": f.after.get(),
        "themes": f.themes.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
    })
}

/// The audit entry of a recording or a correction (levels and themes only), in the
/// transaction of the change; the site's admins read it.
async fn audited(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    checkbook: Uuid,
    action: &'static str,
    before: Option<&FollowUp>,
    after: &FollowUp,
) -> Result<(), DbError> {
    audit::record(
        conn,
        audit::Change {
            actor: caller.into(),
            organization_id: Some(caller.organization_id),
            entity: Entity::Checkbook,
            entity_id: checkbook,
            action,
            before: before.map(values),
            after: Some(values(after)),
            reason: None,
        },
    )
    .await?;
    Ok(())
}

/// Records (or corrects) the caller site's evaluation of a checkbook, audited in
/// the same transaction.
pub async fn record(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    checkbook: Uuid,
    follow_up: FollowUp,
) -> Result<(Evaluation, Outcome), EvaluationError> {
    if caller.kind != OrgKind::Site {
        return Err(EvaluationError::NotSite);
    }
    let site = caller.organization_id;
    conn.transaction::<_, EvaluationError, _>(async move |conn| {
        let program = redeemed_by(conn, checkbook, site)
            .await?
            .ok_or(EvaluationError::NotFound)?;
        // Two agents of the site saving at once: the second waits, then corrects.
        let _ = diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 27))")
            .bind::<Text, _>(format!("{checkbook}/{site}"))
            .execute(conn)
            .await?;
        let themes = vocabulary::stored(&follow_up.themes, Theme::as_str);
        let before_level = i16::from(follow_up.before.get());
        let after_level = i16::from(follow_up.after.get());
        let outcome = match one(conn, checkbook, site, true).await? {
            Some(old) if old.follow_up == follow_up => Outcome::Unchanged,
            Some(old) => {
                diesel::sql_query(
                    "UPDATE evaluations SET level_before = $3, level_after = $4, themes = $5,
                         recorded_by = $6, updated_at = now()
                     WHERE checkbook_id = $1 AND site_id = $2",
                )
                .bind::<SqlUuid, _>(checkbook)
                .bind::<SqlUuid, _>(site)
                .bind::<SmallInt, _>(before_level)
                .bind::<SmallInt, _>(after_level)
                .bind::<Array<Nullable<Text>>, _>(&themes)
                .bind::<SqlUuid, _>(caller.user_id)
                .execute(conn)
                .await?;
                audited(
                    conn,
                    caller,
                    checkbook,
                    "checkbook.evaluation_corrected",
                    Some(&old.follow_up),
                    &follow_up,
                )
                .await?;
                Outcome::Corrected
            }
            None => {
                diesel::sql_query(
                    "INSERT INTO evaluations (id, checkbook_id, site_id, program_id,
                         level_before, level_after, themes, recorded_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind::<SqlUuid, _>(Uuid::now_v7())
                .bind::<SqlUuid, _>(checkbook)
                .bind::<SqlUuid, _>(site)
                .bind::<SqlUuid, _>(program)
                .bind::<SmallInt, _>(before_level)
                .bind::<SmallInt, _>(after_level)
                .bind::<Array<Nullable<Text>>, _>(&themes)
                .bind::<SqlUuid, _>(caller.user_id)
                .execute(conn)
                .await?;
                audited(
                    conn,
                    caller,
                    checkbook,
                    "checkbook.evaluation_recorded",
                    None,
                    &follow_up,
                )
                .await?;
                Outcome::Created
            }
        };
        let saved = one(conn, checkbook, site, false)
            .await?
            .ok_or(EvaluationError::NotFound)?;
        Ok((saved, outcome))
    })
    .await
}

/// The evaluations of a checkbook the caller may read: every site's for the issuing
/// prescriber and the operator, its own for a site that redeemed one of its tickets.
pub async fn of_checkbook(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    checkbook: Uuid,
) -> Result<Vec<Evaluation>, EvaluationError> {
    let rows: Vec<Row> = match caller.kind {
        OrgKind::Operator | OrgKind::Prescriber => {
            let visible: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM checkbooks WHERE id = $1 AND ($2 OR prescriber_id = $3)",
            )
            .bind::<SqlUuid, _>(checkbook)
            .bind::<diesel::sql_types::Bool, _>(caller.is_operator())
            .bind::<SqlUuid, _>(caller.organization_id)
            .get_result(conn)
            .await?;
            if visible.n == 0 {
                return Err(EvaluationError::NotFound);
            }
            diesel::sql_query(format!(
                "{SELECT} WHERE e.checkbook_id = $1 ORDER BY o.name, e.site_id"
            ))
            .bind::<SqlUuid, _>(checkbook)
            .load(conn)
            .await?
        }
        OrgKind::Site => {
            if redeemed_by(conn, checkbook, caller.organization_id)
                .await?
                .is_none()
            {
                return Err(EvaluationError::NotFound);
            }
            diesel::sql_query(format!(
                "{SELECT} WHERE e.checkbook_id = $1 AND e.site_id = $2"
            ))
            .bind::<SqlUuid, _>(checkbook)
            .bind::<SqlUuid, _>(caller.organization_id)
            .load(conn)
            .await?
        }
        OrgKind::Funder => return Err(EvaluationError::NotFound),
    };
    Ok(rows.into_iter().map(Evaluation::from).collect())
}

/// A checkbook a site redeemed tickets of, to follow up.
#[derive(Debug, Clone, QueryableByName)]
pub struct ToFollow {
    #[diesel(sql_type = SqlUuid)]
    pub checkbook_id: Uuid,
    #[diesel(sql_type = Text)]
    pub checkbook_number: String,
    /// Tickets of the checkbook the site redeemed (live).
    #[diesel(sql_type = BigInt)]
    pub tickets_redeemed_here: i64,
    /// Tickets of the checkbook still usable (issued, not used anywhere).
    #[diesel(sql_type = BigInt)]
    pub tickets_left: i64,
    #[diesel(sql_type = Timestamptz)]
    pub last_redeemed_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    level_before: Option<i16>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    level_after: Option<i16>,
    #[diesel(sql_type = Nullable<Array<Nullable<Text>>>)]
    themes: Option<Vec<Option<String>>>,
}

impl ToFollow {
    /// The site's evaluation, when it made one.
    pub fn evaluation(&self) -> Option<FollowUp> {
        match (self.level_before, self.level_after) {
            (Some(b), Some(a)) => Some(FollowUp {
                before: Level::stored(b),
                after: Level::stored(a),
                themes: vocabulary::read_all(
                    self.themes.as_deref().unwrap_or_default(),
                    Theme::parse,
                ),
            }),
            _ => None,
        }
    }
}

/// Which of the site's checkbooks: all of them, latest scan first (`offset`,
/// `limit`), or the one a redemption of the site belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    Page { offset: i64, limit: i64 },
    OfRedemption(Uuid),
}

/// The checkbooks the caller site redeemed tickets of, with its evaluation if any.
pub async fn to_follow(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    which: Which,
) -> Result<Vec<ToFollow>, EvaluationError> {
    if caller.kind != OrgKind::Site {
        return Err(EvaluationError::NotSite);
    }
    let head = "SELECT c.id AS checkbook_id, c.number AS checkbook_number,
            h.tickets_redeemed_here, h.last_redeemed_at,
            (SELECT count(*) FROM tickets l
             WHERE l.checkbook_id = c.id AND l.status = 'issued'::ticket_status) AS tickets_left,
            e.level_before, e.level_after, e.themes
        FROM (SELECT t.checkbook_id, count(*) AS tickets_redeemed_here,
                     max(r.redeemed_at) AS last_redeemed_at
              FROM redemptions r JOIN tickets t ON t.id = r.ticket_id
              WHERE r.site_id = $1 AND r.status <> 'reversed'::redemption_status";
    let tail = " GROUP BY t.checkbook_id) h
        JOIN checkbooks c ON c.id = h.checkbook_id
        LEFT JOIN evaluations e ON e.checkbook_id = c.id AND e.site_id = $1
        ORDER BY h.last_redeemed_at DESC, c.id";
    let query = diesel::sql_query(head)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<SqlUuid, _>(caller.organization_id);
    let rows = match which {
        Which::OfRedemption(redemption) => {
            query
                .sql(
                    " AND t.checkbook_id = (SELECT t2.checkbook_id FROM redemptions r2
                       JOIN tickets t2 ON t2.id = r2.ticket_id WHERE r2.id = $2 AND r2.site_id = $1)",
                )
                .bind::<SqlUuid, _>(redemption)
                .sql(tail)
                .load(conn)
                .await?
        }
        Which::Page { offset, limit } => {
            query
                .sql(tail)
                .sql(" OFFSET $2 LIMIT $3")
                .bind::<BigInt, _>(offset)
                .bind::<BigInt, _>(limit)
                .load(conn)
                .await?
        }
    };
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_one_to_four_and_name_their_field() {
        for n in 1..=4 {
            assert_eq!(Level::parse("before", n).map(Level::get), Ok(n as u8));
        }
        for n in [0, 5, -1, 256, i64::MAX] {
            let err = Level::parse("after", n).unwrap_err();
            assert_eq!(err.field, "after", "case {n}");
            assert!(!err.message.contains('\''), "typographic apostrophe");
        }
        assert_eq!(Level::ALL.len(), 4);
        assert_eq!(Level(4).label(), "Autonome");
    }

    #[test]
    fn themes_are_kept_once_and_sorted() {
        let f = FollowUp::parse(
            1,
            3,
            &[Theme::Securite, Theme::PremiersPas, Theme::Securite],
        )
        .unwrap();
        assert_eq!(f.themes, [Theme::PremiersPas, Theme::Securite]);
        assert_eq!(FollowUp::parse(0, 3, &[]).unwrap_err().field, "before");
        assert_eq!(FollowUp::parse(2, 9, &[]).unwrap_err().field, "after");
    }
}
