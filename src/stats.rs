//! Program statistics: what funders follow — checkbooks issued → handed out
//! (*injectés*) → started (*entamés*, one ticket used); tickets redeemed, settled,
//! expired, cancelled, outstanding; breakdowns by prescriber, site, month,
//! beneficiaries' age band, situation, priority public ([`publics`]), département and
//! commune (full postcode).
//! Beneficiary breakdowns never single out a person: see [`disclosure`].
//!
//! Everything is computed by PostgreSQL with aggregates (`GROUP BY GROUPING SETS`),
//! never by loading tickets: a program may hold millions. Two statements, read in one
//! read-only REPEATABLE READ transaction so they see the same snapshot:
//! - checkbook side: tickets grouped per checkbook, then checkbooks grouped by
//!   prescriber, age band, situation, postcode prefix and in total;
//! - redemption side: redemptions grouped by site and by month.
//!
//! For the whole program (operator, funders, open data) both statements read the
//! rollups the database keeps instead ([`rollup`], `sql/functions/stats.sql`): the
//! same groups, equal to the raw rows by construction and by test.
//!
//! Definitions (the state of a ticket is one of these, so issued = redeemed + expired
//! + cancelled + outstanding):
//! - *redeemed*: the ticket has a live (not reversed) redemption; *settled* when a
//!   settlement's period `[starts_at, ends_at)` covers its arrival (`redeemed_at`);
//! - *cancelled*: unused when its checkbook was cancelled;
//! - *expired*: unused and expired, or still `issued` past its last day plus the
//!   program's tolerance (as `passnum expire` would mark it);
//! - *outstanding*: unused and still valid, stock included (its value is still in the
//!   ledger's outstanding account).
//!
//! A checkbook is *handed out* once it has been given to a beneficiary (cancelled
//! afterwards or not), *started* when at least one of its tickets is redeemed.
//! Beneficiary breakdowns cover handed-out checkbooks only (stock has no beneficiary).
//!
//! Scopes (see `PRODUCT.md`): the operator sees every program, a funder the programs it
//! funds, a prescriber its own checkbooks in a program it has an allocation in, a site
//! its own redemptions in a program it has redeemed in (a reversed scan counts: the
//! redemption is in its list). Otherwise 404, as for a program that does not exist.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::DbError;
use crate::domain::{OrgKind, french_date};
use crate::programs::{self, Program};
use crate::schema::{organizations, redemptions};

pub mod autonomy;
pub mod disclosure;
pub mod publics;
pub mod published;
mod raw;
mod rollup;
pub mod services;

pub use rollup::fold;

pub use disclosure::{GroupFigures, People};

/// Whose numbers the statistics hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole program (operator, funders).
    Program,
    /// A prescriber's own checkbooks.
    Prescriber(Uuid),
    /// A site's own redemptions.
    Site(Uuid),
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Program => "program",
            Scope::Prescriber(_) => "prescriber",
            Scope::Site(_) => "site",
        }
    }
}

/// Age bands of beneficiaries, in order; `unknown` when no birth year was given.
pub const AGE_BANDS: [&str; 5] = ["under_26", "26_44", "45_64", "65_plus", "unknown"];

/// Situations of beneficiaries, in order; `unknown` when none was given.
pub const SITUATIONS: [&str; 7] = [
    "job_seeker",
    "employed",
    "retired",
    "student",
    "inactive",
    "other",
    "unknown",
];

/// The label of groups without the information (age, situation, postcode).
pub const UNKNOWN: &str = "unknown";

/// Counts and face-value amounts of checkbooks and their tickets.
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct Counts {
    #[diesel(sql_type = BigInt)]
    pub checkbooks_issued: i64,
    #[diesel(sql_type = BigInt)]
    pub checkbooks_in_stock: i64,
    #[diesel(sql_type = BigInt)]
    pub checkbooks_handed_out: i64,
    #[diesel(sql_type = BigInt)]
    pub checkbooks_started: i64,
    #[diesel(sql_type = BigInt)]
    pub checkbooks_cancelled: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_issued: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_handed_out: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_in_stock: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_redeemed: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_settled: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_expired: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_cancelled: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets_outstanding: i64,
    #[diesel(sql_type = Numeric)]
    pub amount_issued: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount_handed_out: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount_redeemed: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount_settled: Decimal,
    #[diesel(sql_type = Numeric)]
    pub commission: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount_expired: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount_cancelled: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount_outstanding: Decimal,
}

/// Live redemptions of a group (a site, a month).
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct Usage {
    #[diesel(sql_type = BigInt)]
    pub tickets_redeemed: i64,
    #[diesel(sql_type = Numeric)]
    pub amount_redeemed: Decimal,
    #[diesel(sql_type = Numeric)]
    pub commission: Decimal,
    #[diesel(sql_type = BigInt)]
    pub tickets_settled: i64,
    #[diesel(sql_type = Numeric)]
    pub amount_settled: Decimal,
}

/// An organisation named in a breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: Uuid,
    pub name: String,
    pub postcode: String,
    pub city: String,
}

#[derive(Debug, Clone)]
pub struct ProgramStats {
    pub program_id: Uuid,
    pub program_name: String,
    pub scope: Scope,
    /// The French day the figures are computed for (ages, expiry).
    pub as_of: NaiveDate,
    pub totals: Counts,
    /// Redemptions undone within the grace period (mistaken scans), in scope.
    pub reversals: i64,
    pub by_prescriber: Vec<(Named, Counts)>,
    pub by_site: Vec<(Named, Usage)>,
    /// `YYYY-MM` (French time) → redemptions arrived that month.
    pub by_month: Vec<(String, Usage)>,
    pub by_age_band: Vec<(String, GroupFigures)>,
    pub by_situation: Vec<(String, GroupFigures)>,
    pub by_postcode_prefix: Vec<(String, GroupFigures)>,
    /// Full postcode (the commune); rare ones folded into [`disclosure::OTHER`].
    pub by_commune: Vec<(String, GroupFigures)>,
    /// Priority public (a person in each of theirs): [`publics`].
    pub by_public: Vec<(String, GroupFigures)>,
    /// By the theme and the format of the service the tickets paid for.
    pub services: services::ServiceBreakdowns,
    /// Levels of autonomy before and after, and gained (see [`autonomy`]).
    pub autonomy: autonomy::Autonomy,
}

impl ProgramStats {
    /// Tickets used ÷ tickets handed out, four decimals; `None` when none was handed
    /// out, and always for a site (its scope holds only tickets it redeemed).
    pub fn usage_rate(&self, counts: &Counts) -> Option<Decimal> {
        match self.scope {
            Scope::Site(_) => None,
            _ => usage_rate(counts.tickets_redeemed, counts.tickets_handed_out),
        }
    }
}

/// `used ÷ handed_out` rounded to four decimals (halves away from zero); `None` when
/// nothing was handed out.
pub fn usage_rate(used: i64, handed_out: i64) -> Option<Decimal> {
    if handed_out <= 0 {
        return None;
    }
    let mut rate = (Decimal::from(used) / Decimal::from(handed_out))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    rate.rescale(4);
    Some(rate)
}

/// Why a program's statistics are not given: not one the caller may see, or the
/// database.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("no such program for this caller")]
    NotFound,
    #[error(transparent)]
    Program(#[from] programs::ProgramError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for StatsError {
    fn from(err: diesel::result::Error) -> Self {
        StatsError::Db(err.into())
    }
}

/// The program and the scope of the caller's statistics, or not found.
async fn scope_of(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    program: Uuid,
) -> Result<(Program, Scope), StatsError> {
    match caller.kind {
        OrgKind::Operator | OrgKind::Funder => {
            let program = programs::visible_program(conn, caller, program).await?;
            Ok((program, Scope::Program))
        }
        // Visible when it has an allocation in the program.
        OrgKind::Prescriber => {
            let program = programs::visible_program(conn, caller, program).await?;
            Ok((program, Scope::Prescriber(caller.organization_id)))
        }
        // Visible when it has redeemed (even if reversed since) a ticket of it.
        OrgKind::Site => {
            let program = programs::find_program(conn, program)
                .await?
                .ok_or(StatsError::NotFound)?;
            let redeemed_there: bool = diesel::select(diesel::dsl::exists(
                redemptions::table
                    .filter(redemptions::program_id.eq(program.id))
                    .filter(redemptions::site_id.eq(caller.organization_id)),
            ))
            .get_result(conn)
            .await?;
            if !redeemed_there {
                return Err(StatsError::NotFound);
            }
            Ok((program, Scope::Site(caller.organization_id)))
        }
    }
}

/// One group of the checkbook side.
#[derive(Debug, QueryableByName)]
struct BookGroup {
    #[diesel(sql_type = Text)]
    grouping_set: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    prescriber_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    age_band: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    situation: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    postcode_prefix: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    postcode: Option<String>,
    /// The key of the rollups' other groups (`public`, `autonomy`, `theme`, `format`:
    /// see `rollup::BOOKS`); the raw query gives none.
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(embed)]
    counts: Counts,
}

/// One group of the redemption side.
#[derive(Debug, QueryableByName)]
struct RedemptionGroup {
    #[diesel(sql_type = Text)]
    grouping_set: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    site_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    month: Option<String>,
    #[diesel(sql_type = BigInt)]
    reversals: i64,
    #[diesel(embed)]
    usage: Usage,
}

/// The checkbook-side statement of the whole-program statistics (`$1` program, `$2`
/// year, `$3` last expired day), from the rollups or the raw rows, for a benchmark's
/// `EXPLAIN`.
#[doc(hidden)]
pub fn program_books_sql(rolled: bool) -> String {
    if rolled {
        rollup::BOOKS.to_string()
    } else {
        format!("{}{}", raw::BOOKS_HEAD, raw::BOOKS_TAIL)
    }
}

/// A program's open indicators: its whole statistics, for anyone, when the operator
/// made them public (`public_indicators`); `None` otherwise, whether the program
/// exists or not.
pub async fn public_indicators(
    conn: &mut AsyncPgConnection,
    program: Uuid,
) -> Result<Option<ProgramStats>, StatsError> {
    let now = Utc::now();
    fold(conn).await?;
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(
            async |conn| match programs::find_program(conn, program).await? {
                Some(program) if program.public_indicators => {
                    compute(conn, &program, Scope::Program, now, Source::Rollups)
                        .await
                        .map(Some)
                }
                _ => Ok(None),
            },
        )
        .await
}

/// The statistics of a program as `caller` may see them (404 otherwise).
pub async fn program_stats(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    program: Uuid,
) -> Result<ProgramStats, StatsError> {
    let now = Utc::now();
    if matches!(caller.kind, OrgKind::Operator | OrgKind::Funder) {
        fold(conn).await?;
    }
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| {
            let (program, scope) = scope_of(conn, caller, program).await?;
            compute(conn, &program, scope, now, Source::Rollups).await
        })
        .await
}

/// Where the whole-program figures are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The rollups (`rollup`), for the whole program; the raw rows for a prescriber's
    /// or a site's part.
    Rollups,
    /// Every ticket and redemption.
    RawRows,
}

/// The whole program's statistics computed from every ticket and redemption, as of
/// `now`, ignoring the rollups: what they must agree with (tests, benchmarks).
#[doc(hidden)]
pub async fn program_stats_from_raw_rows(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    now: DateTime<Utc>,
) -> Result<ProgramStats, StatsError> {
    program_stats_at(conn, program, now, Source::RawRows).await
}

/// The whole program's statistics from the rollups, as of `now` (tests, benchmarks).
#[doc(hidden)]
pub async fn program_stats_from_rollups(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    now: DateTime<Utc>,
) -> Result<ProgramStats, StatsError> {
    program_stats_at(conn, program, now, Source::Rollups).await
}

async fn program_stats_at(
    conn: &mut AsyncPgConnection,
    program: Uuid,
    now: DateTime<Utc>,
    source: Source,
) -> Result<ProgramStats, StatsError> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| {
            let program = programs::find_program(conn, program)
                .await?
                .ok_or(StatsError::NotFound)?;
            compute(conn, &program, Scope::Program, now, source).await
        })
        .await
}

async fn compute(
    conn: &mut AsyncPgConnection,
    program: &Program,
    scope: Scope,
    now: DateTime<Utc>,
    source: Source,
) -> Result<ProgramStats, StatsError> {
    let as_of = french_date(now);
    // Expired: past valid_until + tolerance, i.e. valid_until <= day - tolerance - 1.
    let last_expired = as_of
        .checked_sub_days(chrono::Days::new(
            u64::try_from(program.tolerance_days).unwrap_or(0) + 1,
        ))
        .unwrap_or(NaiveDate::MIN);

    let rolled = scope == Scope::Program && source == Source::Rollups;
    let (book_groups, redemption_groups): (Vec<BookGroup>, Vec<RedemptionGroup>) = if rolled {
        let books = diesel::sql_query(rollup::BOOKS)
            .bind::<SqlUuid, _>(program.id)
            .bind::<Integer, _>(as_of.year())
            .bind::<Date, _>(last_expired)
            .load(conn)
            .await?;
        let redeemed = diesel::sql_query(rollup::REDEMPTIONS)
            .bind::<SqlUuid, _>(program.id)
            .load(conn)
            .await?;
        (books, redeemed)
    } else {
        raw::raw_groups(conn, program.id, scope, as_of.year(), last_expired).await?
    };
    Ok(assemble(
        conn,
        program,
        scope,
        as_of,
        book_groups,
        redemption_groups,
        rolled,
    )
    .await?)
}

/// The statistics from the groups of both sides, whatever they were read from.
/// `rolled`: the book groups come from the rollups, with those by public, autonomy,
/// theme and format; otherwise those are read from the raw rows.
async fn assemble(
    conn: &mut AsyncPgConnection,
    program: &Program,
    scope: Scope,
    as_of: NaiveDate,
    book_groups: Vec<BookGroup>,
    redemption_groups: Vec<RedemptionGroup>,
    rolled: bool,
) -> Result<ProgramStats, DbError> {
    let (book_groups, other) = rollup::OtherGroups::split(book_groups);
    let rates = !matches!(scope, Scope::Site(_));
    let (by_public, services, autonomy) = if rolled {
        other.breakdowns(rates)
    } else {
        (
            publics::by_public(conn, program.id, scope, rates).await?,
            services::breakdowns(conn, program.id, scope).await?,
            autonomy::breakdown(conn, program.id, scope).await?,
        )
    };
    let mut stats = ProgramStats {
        program_id: program.id,
        program_name: program.name.clone(),
        scope,
        as_of,
        totals: Counts::default(),
        reversals: 0,
        by_prescriber: Vec::new(),
        by_site: Vec::new(),
        by_month: Vec::new(),
        by_age_band: Vec::new(),
        by_situation: Vec::new(),
        by_postcode_prefix: Vec::new(),
        by_commune: Vec::new(),
        by_public,
        services,
        autonomy,
    };

    // The checkbook side. A group whose key is NULL in its own grouping set holds
    // checkbooks never handed out (no beneficiary): left out of beneficiary groups.
    let mut prescribers: Vec<(Uuid, Counts)> = Vec::new();
    let mut age_bands: Vec<(String, Counts)> = Vec::new();
    let mut situations: Vec<(String, Counts)> = Vec::new();
    let mut prefixes: Vec<(String, Counts)> = Vec::new();
    let mut communes: Vec<(String, Counts)> = Vec::new();
    for g in book_groups {
        let BookGroup {
            grouping_set,
            prescriber_id,
            age_band,
            situation,
            postcode_prefix,
            postcode,
            key: _,
            counts,
        } = g;
        match (
            grouping_set.as_str(),
            prescriber_id,
            age_band,
            situation,
            postcode_prefix.or(postcode),
        ) {
            ("total", ..) => stats.totals = counts,
            ("prescriber", Some(id), ..) => prescribers.push((id, counts)),
            ("age_band", _, Some(key), ..) => age_bands.push((key, counts)),
            ("situation", _, _, Some(key), _) => situations.push((key, counts)),
            ("postcode_prefix", .., Some(key)) => prefixes.push((key, counts)),
            ("postcode", .., Some(key)) => communes.push((key, counts)),
            _ => {}
        }
    }
    stats.by_age_band = disclosure::disclose(fixed_order(&AGE_BANDS, age_bands), rates);
    stats.by_situation = disclosure::disclose(fixed_order(&SITUATIONS, situations), rates);
    for places in [&mut prefixes, &mut communes] {
        places.sort_by(|(a, _), (b, _)| (a == UNKNOWN, a).cmp(&(b == UNKNOWN, b)));
    }
    stats.by_postcode_prefix = disclosure::disclose(disclosure::fold_rare(prefixes), rates);
    stats.by_commune = disclosure::disclose(disclosure::fold_rare(communes), rates);

    // The redemption side.
    let mut sites: Vec<(Uuid, Usage)> = Vec::new();
    for g in redemption_groups {
        let RedemptionGroup {
            grouping_set,
            site_id,
            month,
            reversals,
            usage,
        } = g;
        match (grouping_set.as_str(), site_id, month) {
            ("total", ..) => stats.reversals = reversals,
            ("site", Some(id), _) if usage.tickets_redeemed > 0 => sites.push((id, usage)),
            ("month", _, Some(month)) if usage.tickets_redeemed > 0 => {
                stats.by_month.push((month, usage))
            }
            _ => {}
        }
    }
    stats.by_month.sort_by(|(a, _), (b, _)| a.cmp(b));

    let ids: Vec<Uuid> = prescribers
        .iter()
        .map(|(id, _)| *id)
        .chain(sites.iter().map(|(id, _)| *id))
        .collect();
    let names = names_of(conn, &ids).await?;
    stats.by_prescriber = with_names(prescribers, &names);
    stats.by_site = with_names(sites, &names);
    Ok(stats)
}

/// Every key of `order` (zero when absent), then keys found outside it, sorted, before
/// `unknown` (which `order` ends with).
fn fixed_order(order: &[&str], mut found: Vec<(String, Counts)>) -> Vec<(String, Counts)> {
    let mut out: Vec<(String, Counts)> = Vec::with_capacity(order.len());
    for key in order.iter().filter(|k| **k != UNKNOWN) {
        let counts = take(&mut found, key);
        out.push(((*key).to_string(), counts));
    }
    let unknown = take(&mut found, UNKNOWN);
    found.sort_by(|(a, _), (b, _)| a.cmp(b));
    out.extend(found);
    out.push((UNKNOWN.to_string(), unknown));
    out
}

fn take(found: &mut Vec<(String, Counts)>, key: &str) -> Counts {
    match found.iter().position(|(k, _)| k == key) {
        Some(i) => found.swap_remove(i).1,
        None => Counts::default(),
    }
}

async fn names_of(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<Vec<Named>, DbError> {
    let rows: Vec<(Uuid, String, String, String)> = organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((
            organizations::id,
            organizations::name,
            organizations::postcode,
            organizations::city,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, postcode, city)| Named {
            id,
            name,
            postcode,
            city,
        })
        .collect())
}

/// Rows with their organisation, by name then id.
fn with_names<T>(rows: Vec<(Uuid, T)>, names: &[Named]) -> Vec<(Named, T)> {
    // By id: a national program names 2,000 sites.
    let by_id: std::collections::HashMap<Uuid, &Named> = names.iter().map(|n| (n.id, n)).collect();
    let mut out: Vec<(Named, T)> = rows
        .into_iter()
        .map(|(id, value)| {
            let named = by_id.get(&id).map(|n| (*n).clone()).unwrap_or(Named {
                id,
                name: String::new(),
                postcode: String::new(),
                city: String::new(),
            });
            (named, value)
        })
        .collect();
    out.sort_by(|(a, _), (b, _)| (&a.name, a.id).cmp(&(&b.name, b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_rate_has_four_decimals_and_none_without_hand_out() {
        assert_eq!(usage_rate(0, 0), None);
        assert_eq!(
            usage_rate(5, 20).map(|r| r.to_string()).as_deref(),
            Some("0.2500")
        );
        assert_eq!(
            usage_rate(0, 10).map(|r| r.to_string()).as_deref(),
            Some("0.0000")
        );
        assert_eq!(
            usage_rate(10, 10).map(|r| r.to_string()).as_deref(),
            Some("1.0000")
        );
        assert_eq!(
            usage_rate(1, 3).map(|r| r.to_string()).as_deref(),
            Some("0.3333")
        );
        assert_eq!(
            usage_rate(2, 3).map(|r| r.to_string()).as_deref(),
            Some("0.6667")
        );
        // 1/16 = 0.0625 exactly; 1/32 = 0.03125 rounds half away from zero.
        assert_eq!(
            usage_rate(1, 32).map(|r| r.to_string()).as_deref(),
            Some("0.0313")
        );
    }

    #[test]
    fn fixed_categories_are_all_listed_in_order_with_unknown_last() {
        let one = Counts {
            checkbooks_issued: 1,
            ..Counts::default()
        };
        let found = vec![
            ("unknown".to_string(), one.clone()),
            ("zz_new".to_string(), one.clone()),
            ("retired".to_string(), one.clone()),
        ];
        let listed = fixed_order(&SITUATIONS, found);
        let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "job_seeker",
                "employed",
                "retired",
                "student",
                "inactive",
                "other",
                "zz_new",
                "unknown"
            ]
        );
        assert_eq!(listed[2].1, one);
        assert_eq!(listed[0].1, Counts::default());
        assert_eq!(listed[7].1, one);
    }
}
