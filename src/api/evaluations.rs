//! The follow-up (issue 14 point 3): `POST /checkbooks/{id}/evaluation` by a site that
//! redeemed the checkbook's tickets, `GET /checkbooks/{id}/evaluations` to read them,
//! `GET /follow-ups` for a site's checkbooks to follow up; and the "autonomy gained"
//! breakdown of the statistics, as the client sees it. The rules (who, one per
//! checkbook and site, corrections) are in `crate::evaluations`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::stats::PeopleCount;
use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::pagination::{Page, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::evaluations::{self, Evaluation, EvaluationError, FollowUp, Outcome, Which};
use crate::stats::autonomy::Autonomy;
use crate::vocabulary::Theme;

impl From<EvaluationError> for ApiError {
    fn from(err: EvaluationError) -> Self {
        match err {
            EvaluationError::NotSite => ApiError::forbidden(
                "Seules les structures qui ont encaissé les chèques enregistrent le suivi.",
            ),
            EvaluationError::NotFound => ApiError::not_found(),
            EvaluationError::Db(db) => db.into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationRequest {
    /// Autonomy before the training: 1 (cannot start a device), 2 (needs help at
    /// every step), 3 (manages with a little help), 4 (autonomous).
    #[schema(minimum = 1, maximum = 4, example = 1)]
    pub before: i64,
    /// Autonomy after the training, same scale.
    #[schema(minimum = 1, maximum = 4, example = 3)]
    pub after: i64,
    /// The themes covered (the national list), possibly none.
    #[serde(default)]
    pub themes: Vec<Theme>,
}

/// A site's follow-up of a checkbook: levels and themes, no personal data.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationView {
    pub id: Uuid,
    pub checkbook_id: Uuid,
    pub site_id: Uuid,
    pub site_name: String,
    #[schema(minimum = 1, maximum = 4)]
    pub before: u8,
    #[schema(minimum = 1, maximum = 4)]
    pub after: u8,
    pub themes: Vec<Theme>,
    pub recorded_at: DateTime<Utc>,
    /// The last correction (`recorded_at` when never corrected).
    pub updated_at: DateTime<Utc>,
}

impl From<Evaluation> for EvaluationView {
    fn from(e: Evaluation) -> Self {
        EvaluationView {
            id: e.id,
            checkbook_id: e.checkbook_id,
            site_id: e.site_id,
            site_name: e.site_name,
            before: e.follow_up.before.get(),
            after: e.follow_up.after.get(),
            themes: e.follow_up.themes,
            recorded_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Records the person's autonomy before and after the training (1–4) and the themes
/// covered, by a site that redeemed (and did not reverse) at least one of the
/// checkbook's tickets. One evaluation per checkbook and site: a second call
/// corrects it (200, audited with the values before and after); the same values
/// again change nothing. No personal data: erasing the beneficiary keeps it.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = EvaluationRequest,
    responses(
        (status = 201, description = "recorded", body = EvaluationView),
        (status = 200, description = "corrected (or unchanged)", body = EvaluationView),
        (status = 403, description = "`forbidden`: only training sites record a follow-up", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: absent, or none of its tickets redeemed by the caller's site", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, naming the field (`before`, `after`, `themes`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/checkbooks/{id}/evaluation")]
pub async fn record(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<EvaluationRequest>,
) -> ApiResult<HttpResponse> {
    let follow_up =
        FollowUp::parse(body.before, body.after, &body.themes).map_err(ApiError::validation)?;
    let mut conn = state.conn().await?;
    let (saved, outcome) =
        evaluations::record(&mut conn, &caller, id.into_inner(), follow_up).await?;
    let status = match outcome {
        Outcome::Created => StatusCode::CREATED,
        Outcome::Corrected | Outcome::Unchanged => StatusCode::OK,
    };
    Ok(HttpResponse::build(status).json(EvaluationView::from(saved)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationList {
    pub items: Vec<EvaluationView>,
}

/// The follow-ups of a checkbook: every site's for its issuing prescriber (and the
/// operator), the caller's own for a site that redeemed one of its tickets.
#[utoipa::path(
    tag = "checkbooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = EvaluationList),
        (status = 404, description = "`not_found`: absent, or not the caller's to read", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/checkbooks/{id}/evaluations")]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<EvaluationList>> {
    let mut conn = state.conn().await?;
    let found = evaluations::of_checkbook(&mut conn, &caller, id.into_inner()).await?;
    Ok(web::Json(EvaluationList {
        items: found.into_iter().map(EvaluationView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowUpQuery {
    /// Only the checkbook of this redemption of the caller's site (the scan page,
    /// after a scan).
    pub redemption_id: Option<Uuid>,
}

/// A checkbook the caller's site redeemed tickets of.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpItem {
    pub checkbook_id: Uuid,
    pub checkbook_number: String,
    pub tickets_redeemed_here: i64,
    /// Tickets still usable: 0 once the last one is used (the moment to record).
    pub tickets_left: i64,
    pub last_redeemed_at: DateTime<Utc>,
    /// The site's evaluation: `null` until recorded.
    pub evaluation: Option<FollowUpLevels>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpLevels {
    pub before: u8,
    pub after: u8,
    pub themes: Vec<Theme>,
}

/// The checkbooks the caller's site redeemed tickets of (live scans), latest scan
/// first, each with its follow-up when recorded; `?redemption_id=` gives the one
/// checkbook of that scan.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    params(FollowUpQuery, PageQuery),
    responses(
        (status = 200, body = Page<FollowUpItem>),
        (status = 403, description = "`forbidden`: sites only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/follow-ups")]
pub async fn to_follow(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<FollowUpQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<FollowUpItem>>> {
    let limit = page.limit()?;
    let offset = page.offset()?;
    let which = match query.redemption_id {
        Some(id) => Which::OfRedemption(id),
        None => Which::Page {
            offset: i64::try_from(offset).unwrap_or(i64::MAX),
            limit: i64::from(limit) + 1,
        },
    };
    let mut conn = state.conn().await?;
    let mut rows = evaluations::to_follow(&mut conn, &caller, which).await?;
    let more = query.redemption_id.is_none() && rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| (offset + limit as usize).to_string());
    let items = rows
        .into_iter()
        .map(|r| FollowUpItem {
            evaluation: r.evaluation().map(|f| FollowUpLevels {
                before: f.before.get(),
                after: f.after.get(),
                themes: f.themes,
            }),
            checkbook_id: r.checkbook_id,
            checkbook_number: r.checkbook_number,
            tickets_redeemed_here: r.tickets_redeemed_here,
            tickets_left: r.tickets_left,
            last_redeemed_at: r.last_redeemed_at,
        })
        .collect();
    Ok(web::Json(Page { items, next_cursor }))
}

/// People evaluated, by autonomy level before and after the training and by levels
/// gained. One person = one checkbook (its latest evaluation when several sites
/// made one). A cell under five people is `"<5"` (and, when it would be the only
/// hidden one of its list, the smallest other one too).
#[derive(Debug, Serialize, ToSchema)]
pub struct AutonomyStats {
    /// People with a follow-up recorded.
    pub evaluated: PeopleCount,
    /// Levels 1 to 4, always all four, in order.
    pub by_level_before: Vec<LevelCount>,
    pub by_level_after: Vec<LevelCount>,
    /// Levels gained, `-3` to `3`, always all seven, in order.
    pub by_gain: Vec<GainCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LevelCount {
    #[schema(minimum = 1, maximum = 4)]
    pub level: u8,
    pub people: PeopleCount,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GainCount {
    #[schema(minimum = -3, maximum = 3)]
    pub gain: i8,
    pub people: PeopleCount,
}

impl From<&Autonomy> for AutonomyStats {
    fn from(a: &Autonomy) -> Self {
        AutonomyStats {
            evaluated: a.evaluated.into(),
            by_level_before: a
                .by_level_before
                .iter()
                .map(|(level, p)| LevelCount {
                    level: level.get(),
                    people: (*p).into(),
                })
                .collect(),
            by_level_after: a
                .by_level_after
                .iter()
                .map(|(level, p)| LevelCount {
                    level: level.get(),
                    people: (*p).into(),
                })
                .collect(),
            by_gain: a
                .by_gain
                .iter()
                .map(|(gain, p)| GainCount {
                    gain: *gain,
                    people: (*p).into(),
                })
                .collect(),
        }
    }
}
