//! Program statistics, scoped to the caller.

use actix_web::{HttpResponse, get, web};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::services::ServiceStats;
use crate::auth::Caller;
use crate::csv_cells::{self, Cell};
use crate::domain::ValidationError;
use crate::error::{ApiError, ApiResult, Problem};
use crate::money::Money;
use crate::stats::{
    self, Counts, GroupFigures, Named, People, ProgramStats, Scope, StatsError, Usage,
};

mod breakdowns;

pub use breakdowns::{BreakdownRow, BreakdownView};

fn money(value: Decimal) -> String {
    Money::from_decimal_unchecked(value).to_string()
}

/// A program's statistics refused or failed, as the client sees it.
impl From<StatsError> for ApiError {
    fn from(err: StatsError) -> Self {
        match err {
            StatsError::NotFound => ApiError::not_found(),
            StatsError::Program(program) => program.into(),
            StatsError::Db(db) => db.into(),
        }
    }
}

/// Whose numbers these are.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsScope {
    /// The whole program (the operator, a funder of the program).
    Program,
    /// The caller prescriber's own checkbooks in the program.
    Prescriber,
    /// The tickets the caller site redeemed in the program.
    Site,
}

/// The checkbook funnel: issued → handed out → started.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckbookStats {
    /// Checkbooks issued, whatever became of them (cancelled included).
    pub issued: i64,
    /// Still in stock: printed, not yet handed out to a beneficiary.
    pub in_stock: i64,
    /// Handed out to a beneficiary (*injectés*), cancelled afterwards or not.
    pub handed_out: i64,
    /// With at least one ticket used (*entamés*): redeemed, settled or not.
    pub started: i64,
    /// Cancelled (lost, stolen, mistake), handed out before or not.
    pub cancelled: i64,
}

/// Tickets by state. Every ticket is in exactly one of `redeemed`, `expired`,
/// `cancelled`, `outstanding`, so they add up to `issued`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketStats {
    pub issued: i64,
    /// Tickets of checkbooks handed out (the base of the usage rate).
    pub handed_out: i64,
    /// With a live redemption (not reversed), settled or not.
    pub redeemed: i64,
    /// Of `redeemed`, those a settlement covers (the site has been paid).
    pub settled: i64,
    /// Unused past their last day plus the program's tolerance, or expired by the
    /// closing of the program.
    pub expired: i64,
    /// Unused when their checkbook was cancelled.
    pub cancelled: i64,
    /// Unused and still valid, stock included: value still in circulation.
    pub outstanding: i64,
    /// Of `outstanding`, tickets of checkbooks still in stock.
    pub in_stock: i64,
    /// Redemptions undone within the grace period (mistaken scans); their tickets are
    /// counted by their current state, not as redeemed.
    pub reversals: i64,
}

/// Face values in euros, strings with two decimals.
#[derive(Debug, Serialize, ToSchema)]
pub struct AmountStats {
    /// Face value of the tickets issued.
    #[schema(example = "1200.00")]
    pub issued: String,
    /// Face value of the tickets of checkbooks handed out.
    pub handed_out: String,
    /// Face value of the tickets redeemed (settled included).
    #[schema(example = "120.00")]
    pub redeemed: String,
    /// Face value of the tickets settled.
    pub settled: String,
    /// Operator's commission on the tickets redeemed.
    pub commission: String,
    /// What sites are owed or were paid for them: `redeemed` − `commission`.
    pub payable_to_sites: String,
    pub expired: String,
    pub cancelled: String,
    pub outstanding: String,
}

/// One prescriber's checkbooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriberStats {
    pub organization_id: Uuid,
    pub name: String,
    pub checkbooks_issued: i64,
    pub checkbooks_handed_out: i64,
    pub checkbooks_started: i64,
    pub checkbooks_cancelled: i64,
    pub tickets_issued: i64,
    pub tickets_handed_out: i64,
    pub tickets_redeemed: i64,
    pub tickets_settled: i64,
    pub tickets_expired: i64,
    pub tickets_cancelled: i64,
    pub tickets_outstanding: i64,
    pub amount_issued: String,
    pub amount_redeemed: String,
    pub amount_settled: String,
    /// As the top-level `usage_rate`, for this prescriber's checkbooks.
    pub usage_rate: Option<String>,
}

/// The live redemptions at one site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteStats {
    pub organization_id: Uuid,
    pub name: String,
    pub postcode: String,
    pub city: String,
    pub tickets_redeemed: i64,
    /// Face value.
    pub amount_redeemed: String,
    pub commission: String,
    /// Owed or paid to the site: face value − commission.
    pub amount_payable: String,
    pub tickets_settled: i64,
    pub amount_settled: String,
}

/// The live redemptions that arrived in one month.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthStats {
    /// `YYYY-MM`, French time of arrival (`redeemed_at`).
    #[schema(example = "2026-11")]
    pub month: String,
    pub tickets_redeemed: i64,
    pub amount_redeemed: String,
    pub tickets_settled: i64,
    pub amount_settled: String,
}

/// A number of people, or `"<5"` when it is not given: fewer than five people (zero
/// included), or hidden with such a cell so that it cannot be worked out from the
/// total (statistical secrecy, `src/stats/disclosure.rs`).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PeopleCount {
    Count(i64),
    Hidden(Secret),
}

/// The mark of a hidden count of people.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum Secret {
    #[serde(rename = "<5")]
    #[schema(rename = "<5")]
    UnderFive,
}

impl From<People> for PeopleCount {
    fn from(p: People) -> Self {
        match p {
            People::Shown(n) => PeopleCount::Count(n),
            People::Hidden => PeopleCount::Hidden(Secret::UnderFive),
        }
    }
}

/// Beneficiary breakdowns share their counters; only the key differs. They count
/// people: a cell under five people is `"<5"`, and the figures about those people
/// (tickets, amount, rate) are then `null`.
macro_rules! beneficiary_group {
    ($(#[$meta:meta])* $name:ident, $key:ident, $key_doc:literal, $example:literal) => {
        $(#[$meta])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            #[doc = $key_doc]
            #[schema(example = $example)]
            pub $key: String,
            /// Checkbooks handed out to beneficiaries of the group (one per person).
            pub checkbooks_handed_out: PeopleCount,
            /// Of those, checkbooks with at least one ticket used.
            pub checkbooks_started: PeopleCount,
            /// `null` when `checkbooks_handed_out` is `"<5"`.
            pub tickets_handed_out: Option<i64>,
            /// `null` when `checkbooks_started` is `"<5"`.
            pub tickets_redeemed: Option<i64>,
            /// `null` when `checkbooks_started` is `"<5"`.
            pub amount_redeemed: Option<String>,
            /// As the top-level `usage_rate`, for this group; `null` as well when
            /// `checkbooks_started` is `"<5"`.
            pub usage_rate: Option<String>,
        }

        impl $name {
            fn new((key, f): &(String, GroupFigures)) -> Self {
                $name {
                    $key: key.clone(),
                    checkbooks_handed_out: f.handed_out.into(),
                    checkbooks_started: f.started.into(),
                    tickets_handed_out: f.tickets_handed_out,
                    tickets_redeemed: f.tickets_redeemed,
                    amount_redeemed: f.amount_redeemed.map(money),
                    usage_rate: f.usage_rate.map(|r| r.to_string()),
                }
            }
        }
    };
}

beneficiary_group!(
    /// Handed-out checkbooks by the beneficiary's age on the day of the statistics
    /// (that year minus the birth year).
    AgeBandStats,
    age_band,
    "`under_26`, `26_44`, `45_64`, `65_plus` or `unknown` (no birth year); all five are always listed, in this order.",
    "under_26"
);
beneficiary_group!(
    /// Handed-out checkbooks by the beneficiary's situation.
    SituationStats,
    situation,
    "`job_seeker`, `employed`, `retired`, `student`, `inactive`, `other` or `unknown` (not given); all are always listed, in this order.",
    "job_seeker"
);
beneficiary_group!(
    /// Handed-out checkbooks by the first two digits of the beneficiary's postcode.
    PostcodePrefixStats,
    postcode_prefix,
    "Two digits (`70`, `97`…), `other` (those with fewer than five people, together) or `unknown` (no postcode); only those present, in order, `other` and `unknown` last.",
    "70"
);
beneficiary_group!(
    /// Handed-out checkbooks by the beneficiary's full postcode (the commune).
    CommuneStats,
    postcode,
    "A postcode (`70000`), `other` (communes with fewer than five people, together, never named) or `unknown` (no postcode); only those present, in order, `other` and `unknown` last.",
    "70000"
);

beneficiary_group!(
    /// Handed-out checkbooks by the beneficiary's priority publics: a person counts
    /// once in each of theirs, so the rows do not add up to the people.
    PublicStats,
    public,
    "`rsa`, `jeunes`, `demandeur_emploi`, `senior`, `handicap`, `sans_diplome`, or `unknown` (no public recorded); all are always listed, in this order.",
    "rsa"
);

/// A program's statistics, as the caller may see them. Counts are numbers, amounts
/// strings with two decimals, rates strings with four decimals.
///
/// Scopes: the operator and the program's funders see the whole program
/// (`scope: "program"`); a prescriber with an allocation in it sees only its own
/// checkbooks (`"prescriber"`: every figure and breakdown restricted to them); a site
/// that has redeemed one of its tickets (even if reversed since) sees only the tickets
/// it redeemed (`"site"`: checkbooks and tickets are those it redeemed, so nothing is
/// expired, cancelled or outstanding there, and usage rates are `null`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramStatsView {
    pub program_id: Uuid,
    /// The program's name, for a page that shows its figures (the open indicators).
    pub program_name: String,
    pub scope: StatsScope,
    /// The French day of the figures: ages and expiry are computed for it.
    pub as_of: NaiveDate,
    pub checkbooks: CheckbookStats,
    pub tickets: TicketStats,
    pub amounts: AmountStats,
    /// Tickets used (redeemed, settled or not) ÷ tickets of checkbooks handed out,
    /// four decimals (`"0.2500"`); `null` when none was handed out, and for a site.
    #[schema(example = "0.2500")]
    pub usage_rate: Option<String>,
    /// Prescribers with checkbooks in scope, by name.
    pub by_prescriber: Vec<PrescriberStats>,
    /// Sites with live redemptions in scope, by name.
    pub by_site: Vec<SiteStats>,
    /// Months with live redemptions in scope, oldest first.
    pub by_month: Vec<MonthStats>,
    pub by_age_band: Vec<AgeBandStats>,
    pub by_situation: Vec<SituationStats>,
    pub by_postcode_prefix: Vec<PostcodePrefixStats>,
    pub by_commune: Vec<CommuneStats>,
    pub by_public: Vec<PublicStats>,
    /// Every breakdown of people above (age band, situation, public, département,
    /// commune, and those to come) in one generic shape, with French titles and
    /// labels, in the order the app shows them.
    pub breakdowns: Vec<BreakdownView>,
    /// By the theme of the service the tickets paid for: every theme of the national
    /// list, in order, then `unknown` (the scan named no service).
    pub by_theme: Vec<ServiceStats>,
    /// By the format of that service: `individual`, `collective`, `unknown`.
    pub by_format: Vec<ServiceStats>,
    pub autonomy_gained: super::evaluations::AutonomyStats,
}

impl From<ProgramStats> for ProgramStatsView {
    fn from(s: ProgramStats) -> Self {
        let rate = |c: &Counts| s.usage_rate(c).map(|r| r.to_string());
        let t = &s.totals;
        ProgramStatsView {
            program_id: s.program_id,
            program_name: s.program_name.clone(),
            scope: match s.scope {
                Scope::Program => StatsScope::Program,
                Scope::Prescriber(_) => StatsScope::Prescriber,
                Scope::Site(_) => StatsScope::Site,
            },
            as_of: s.as_of,
            checkbooks: CheckbookStats {
                issued: t.checkbooks_issued,
                in_stock: t.checkbooks_in_stock,
                handed_out: t.checkbooks_handed_out,
                started: t.checkbooks_started,
                cancelled: t.checkbooks_cancelled,
            },
            tickets: TicketStats {
                issued: t.tickets_issued,
                handed_out: t.tickets_handed_out,
                redeemed: t.tickets_redeemed,
                settled: t.tickets_settled,
                expired: t.tickets_expired,
                cancelled: t.tickets_cancelled,
                outstanding: t.tickets_outstanding,
                in_stock: t.tickets_in_stock,
                reversals: s.reversals,
            },
            amounts: AmountStats {
                issued: money(t.amount_issued),
                handed_out: money(t.amount_handed_out),
                redeemed: money(t.amount_redeemed),
                settled: money(t.amount_settled),
                commission: money(t.commission),
                payable_to_sites: money(t.amount_redeemed - t.commission),
                expired: money(t.amount_expired),
                cancelled: money(t.amount_cancelled),
                outstanding: money(t.amount_outstanding),
            },
            usage_rate: rate(t),
            by_prescriber: s
                .by_prescriber
                .iter()
                .map(|(n, c)| prescriber(n, c, rate(c)))
                .collect(),
            by_site: s.by_site.iter().map(|(n, u)| site(n, u)).collect(),
            by_month: s
                .by_month
                .iter()
                .map(|(month, u)| MonthStats {
                    month: month.clone(),
                    tickets_redeemed: u.tickets_redeemed,
                    amount_redeemed: money(u.amount_redeemed),
                    tickets_settled: u.tickets_settled,
                    amount_settled: money(u.amount_settled),
                })
                .collect(),
            by_age_band: s.by_age_band.iter().map(AgeBandStats::new).collect(),
            by_situation: s.by_situation.iter().map(SituationStats::new).collect(),
            by_postcode_prefix: s
                .by_postcode_prefix
                .iter()
                .map(PostcodePrefixStats::new)
                .collect(),
            by_commune: s.by_commune.iter().map(CommuneStats::new).collect(),
            by_public: s.by_public.iter().map(PublicStats::new).collect(),
            breakdowns: breakdowns::views(&s),
            by_theme: s.services.by_theme.iter().map(ServiceStats::of).collect(),
            by_format: s.services.by_format.iter().map(ServiceStats::of).collect(),
            autonomy_gained: (&s.autonomy).into(),
        }
    }
}

fn prescriber(n: &Named, c: &Counts, usage_rate: Option<String>) -> PrescriberStats {
    PrescriberStats {
        organization_id: n.id,
        name: n.name.clone(),
        checkbooks_issued: c.checkbooks_issued,
        checkbooks_handed_out: c.checkbooks_handed_out,
        checkbooks_started: c.checkbooks_started,
        checkbooks_cancelled: c.checkbooks_cancelled,
        tickets_issued: c.tickets_issued,
        tickets_handed_out: c.tickets_handed_out,
        tickets_redeemed: c.tickets_redeemed,
        tickets_settled: c.tickets_settled,
        tickets_expired: c.tickets_expired,
        tickets_cancelled: c.tickets_cancelled,
        tickets_outstanding: c.tickets_outstanding,
        amount_issued: money(c.amount_issued),
        amount_redeemed: money(c.amount_redeemed),
        amount_settled: money(c.amount_settled),
        usage_rate,
    }
}

fn site(n: &Named, u: &Usage) -> SiteStats {
    SiteStats {
        organization_id: n.id,
        name: n.name.clone(),
        postcode: n.postcode.clone(),
        city: n.city.clone(),
        tickets_redeemed: u.tickets_redeemed,
        amount_redeemed: money(u.amount_redeemed),
        commission: money(u.commission),
        amount_payable: money(u.amount_redeemed - u.commission),
        tickets_settled: u.tickets_settled,
        amount_settled: money(u.amount_settled),
    }
}

/// A program's statistics: checkbooks issued, handed out, started, cancelled;
/// tickets and amounts redeemed, settled, expired, cancelled, outstanding; usage
/// rate; breakdowns by prescriber, site, month, age band, situation and postcode.
/// The operator and the program's funders see it all; a prescriber only its own
/// checkbooks; a site only its own redemptions. Another organisation's program: 404.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ProgramStatsView),
        (status = 404, description = "`not_found`: no such program, or not the caller's (a funder not funding it, a prescriber without allocation in it, a site that never redeemed one of its tickets)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/programs/{id}/stats")]
pub async fn program_stats(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ProgramStatsView>> {
    let mut conn = state.conn().await?;
    let stats = stats::program_stats(&mut conn, &caller, id.into_inner()).await?;
    Ok(web::Json(ProgramStatsView::from(stats)))
}

/// The breakdowns a statistics CSV gives, one table each (the charts of the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    /// The usage funnel: checkbooks issued → handed out → started, tickets used and
    /// expired.
    Funnel,
    Month,
    Prescriber,
    Site,
    AgeBand,
    Situation,
    PostcodePrefix,
    Commune,
    Public,
    /// People by the theme, then the format, of the services their tickets paid for.
    Theme,
    Format,
    /// People evaluated by the levels of autonomy they gained.
    AutonomyGained,
}

impl Breakdown {
    /// Every table, in the order of the open-data file.
    pub const ALL: [Breakdown; 12] = [
        Breakdown::Funnel,
        Breakdown::Month,
        Breakdown::Prescriber,
        Breakdown::Site,
        Breakdown::AgeBand,
        Breakdown::Situation,
        Breakdown::Public,
        Breakdown::PostcodePrefix,
        Breakdown::Commune,
        Breakdown::Theme,
        Breakdown::Format,
        Breakdown::AutonomyGained,
    ];

    /// The `breakdown` of the CSV, the `key` of the JSON's `breakdowns`.
    pub fn key(self) -> &'static str {
        match self {
            Breakdown::Funnel => "funnel",
            Breakdown::Month => "month",
            Breakdown::Prescriber => "prescriber",
            Breakdown::Site => "site",
            Breakdown::AgeBand => "age_band",
            Breakdown::Situation => "situation",
            Breakdown::PostcodePrefix => "postcode_prefix",
            Breakdown::Commune => "commune",
            Breakdown::Public => "public",
            Breakdown::Theme => "theme",
            Breakdown::Format => "format",
            Breakdown::AutonomyGained => "autonomy_gained",
        }
    }

    fn parse(text: &str) -> Option<Breakdown> {
        Breakdown::ALL.into_iter().find(|b| b.key() == text)
    }

    /// In French, for file names (`par-age`) and the open data's tables (`par_age`).
    pub fn file_name(self) -> &'static str {
        match self {
            Breakdown::Funnel => "entonnoir",
            Breakdown::Month => "par-mois",
            Breakdown::Prescriber => "par-prescripteur",
            Breakdown::Site => "par-lieu",
            Breakdown::AgeBand => "par-age",
            Breakdown::Situation => "par-situation",
            Breakdown::PostcodePrefix => "par-departement",
            Breakdown::Commune => "par-commune",
            Breakdown::Public => "par-public",
            Breakdown::Theme => "par-theme",
            Breakdown::Format => "par-format",
            Breakdown::AutonomyGained => "par-autonomie-gagnee",
        }
    }
}

/// Which table, in which form.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsCsvQuery {
    /// `funnel`, `month`, `prescriber`, `site`, `age_band`, `situation`, `public`,
    /// `postcode_prefix`, `commune`, `theme`, `format` or `autonomy_gained`.
    pub breakdown: Option<String>,
    /// Absent (or `excel`): French Excel's form (BOM, `;`, decimal comma, CRLF);
    /// `rfc4180`: the plain form for scripts (no BOM, `,`, decimal point, CRLF).
    pub format: Option<String>,
}

fn text(value: &str) -> Cell {
    Cell::Text(value.to_owned())
}

fn rate_cell(rate: Option<Decimal>) -> Cell {
    rate.map_or(Cell::Empty, Cell::Number)
}

/// One breakdown of the statistics as a table: its header and its rows (amounts in
/// euros, rates as fractions: `0,2500` is 25 %).
pub fn breakdown_table(
    stats: &ProgramStats,
    breakdown: Breakdown,
) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    match breakdown {
        Breakdown::Funnel => {
            let t = &stats.totals;
            let rows = [
                ("chequiers_emis", "Chéquiers émis", t.checkbooks_issued),
                (
                    "chequiers_remis",
                    "Chéquiers remis aux bénéficiaires",
                    t.checkbooks_handed_out,
                ),
                (
                    "chequiers_entames",
                    "Chéquiers entamés (un chèque utilisé)",
                    t.checkbooks_started,
                ),
                ("cheques_emis", "Chèques émis", t.tickets_issued),
                ("cheques_utilises", "Chèques utilisés", t.tickets_redeemed),
                ("cheques_expires", "Chèques expirés", t.tickets_expired),
                ("cheques_annules", "Chèques annulés", t.tickets_cancelled),
                (
                    "cheques_en_circulation",
                    "Chèques en circulation",
                    t.tickets_outstanding,
                ),
            ];
            (
                vec!["etape", "libelle", "nombre"],
                rows.iter()
                    .map(|(key, label, n)| vec![text(key), text(label), Cell::Count(*n)])
                    .collect(),
            )
        }
        Breakdown::Month => (
            vec![
                "mois",
                "cheques_utilises",
                "montant_utilise",
                "cheques_rembourses",
                "montant_rembourse",
            ],
            stats
                .by_month
                .iter()
                .map(|(month, u)| {
                    vec![
                        text(month),
                        Cell::Count(u.tickets_redeemed),
                        Cell::Number(u.amount_redeemed),
                        Cell::Count(u.tickets_settled),
                        Cell::Number(u.amount_settled),
                    ]
                })
                .collect(),
        ),
        Breakdown::Prescriber => (
            vec![
                "prescripteur",
                "chequiers_emis",
                "chequiers_remis",
                "chequiers_entames",
                "chequiers_annules",
                "cheques_emis",
                "cheques_utilises",
                "cheques_expires",
                "cheques_annules",
                "cheques_en_circulation",
                "montant_emis",
                "montant_utilise",
                "taux_usage",
            ],
            stats
                .by_prescriber
                .iter()
                .map(|(n, c)| {
                    vec![
                        text(&n.name),
                        Cell::Count(c.checkbooks_issued),
                        Cell::Count(c.checkbooks_handed_out),
                        Cell::Count(c.checkbooks_started),
                        Cell::Count(c.checkbooks_cancelled),
                        Cell::Count(c.tickets_issued),
                        Cell::Count(c.tickets_redeemed),
                        Cell::Count(c.tickets_expired),
                        Cell::Count(c.tickets_cancelled),
                        Cell::Count(c.tickets_outstanding),
                        Cell::Number(c.amount_issued),
                        Cell::Number(c.amount_redeemed),
                        rate_cell(stats.usage_rate(c)),
                    ]
                })
                .collect(),
        ),
        Breakdown::Site => (
            vec![
                "lieu",
                "code_postal",
                "commune",
                "cheques_utilises",
                "montant_utilise",
                "commission",
                "montant_du_au_lieu",
                "cheques_rembourses",
                "montant_rembourse",
            ],
            stats
                .by_site
                .iter()
                .map(|(n, u)| {
                    vec![
                        text(&n.name),
                        text(&n.postcode),
                        text(&n.city),
                        Cell::Count(u.tickets_redeemed),
                        Cell::Number(u.amount_redeemed),
                        Cell::Number(u.commission),
                        Cell::Number(u.amount_redeemed - u.commission),
                        Cell::Count(u.tickets_settled),
                        Cell::Number(u.amount_settled),
                    ]
                })
                .collect(),
        ),
        Breakdown::AgeBand
        | Breakdown::Situation
        | Breakdown::Public
        | Breakdown::PostcodePrefix
        | Breakdown::Commune
        | Breakdown::Theme
        | Breakdown::Format
        | Breakdown::AutonomyGained => {
            breakdowns::people_table(stats, breakdown).unwrap_or_default()
        }
    }
}

/// One breakdown of a program's statistics as CSV, for a spreadsheet or a script:
/// the same figures, scope and refusals as `GET /programs/{id}/stats` (404 for
/// another organisation's program). `breakdown`: `funnel` (etape, libelle, nombre),
/// `month`, `prescriber`, `site`, `age_band`, `situation`, `public`,
/// `postcode_prefix`, `commune` (the last five count people: key, French label, checkbooks handed out
/// and started, tickets handed out and used, amount used, usage rate; a count under
/// five people is `<5` and the figures about those people are empty). Amounts in euros with two decimals, rates
/// as fractions with four (`0,2500` = 25 %), an empty cell where a rate has no
/// meaning. Named `statistiques-{breakdown in French}.csv`. Form: as `format` says (default
/// French Excel: BOM, `;`, decimal comma, CRLF; `rfc4180`: no BOM, `,`, decimal
/// point, CRLF); text cells never start a formula.
#[utoipa::path(
    tag = "programs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), StatsCsvQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 404, description = "`not_found`: as for the statistics", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a missing or unknown `breakdown`, an unknown `format`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/programs/{id}/stats.csv")]
pub async fn program_stats_csv(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<StatsCsvQuery>,
) -> ApiResult<HttpResponse> {
    let breakdown = query
        .breakdown
        .as_deref()
        .and_then(Breakdown::parse)
        .ok_or_else(|| {
            ApiError::validation(ValidationError::new(
                "breakdown",
                "Précisez le tableau voulu : funnel, month, prescriber, site, age_band, situation, public, postcode_prefix ou commune.",
            ))
        })?;
    let dialect = crate::api::settlements::requested_dialect(query.format.as_deref())?;
    let mut conn = state.conn().await?;
    let stats = stats::program_stats(&mut conn, &caller, id.into_inner()).await?;
    drop(conn);
    let (header, rows) = breakdown_table(&stats, breakdown);
    let body = csv_cells::file(dialect, &header, &rows);
    let name = format!("statistiques-{}", breakdown.file_name());
    Ok(crate::api::settlements::csv_response(&name).body(body))
}
