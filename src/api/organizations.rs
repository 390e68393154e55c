//! Organisations, their users, and site labels.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::pagination::{Page, PageQuery, split_page};
use crate::auth::{Caller, hash_password};
use crate::domain::{
    self, Coordinates, Email, LabelPeriod, LabelStatus, NewOrgKind, OrgKind, Password, Postcode,
    Role, Siret, french_date,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::invitations::{self, InvitationSettings};
use crate::organizations::{
    self as orgs, ManageRefusal, NewOrganization, NewUser, Organization, OrganizationError,
    SiteLabel, User,
};
use crate::team::TeamError;

/// An organisation, a user or a label not created or changed, as the client sees it.
impl From<OrganizationError> for ApiError {
    fn from(err: OrganizationError) -> Self {
        match err {
            OrganizationError::OperatorExists => ApiError::conflict(
                "operator_exists",
                "L’organisation opératrice existe déjà : il n’y en a qu’une.",
            ),
            OrganizationError::EmailTaken { email } => ApiError::conflict(
                "email_taken",
                format!("Un compte existe déjà avec l’adresse {email}."),
            )
            .with_field("email"),
            OrganizationError::NotFound => ApiError::not_found(),
            OrganizationError::NoLabel => ApiError::conflict(
                "no_label",
                "Ce lieu n’a pas de label : attribuez-le d’abord.",
            ),
            OrganizationError::Invalid(invalid) => invalid.into(),
            OrganizationError::PasswordHash(_) => ApiError::internal(err),
            OrganizationError::Db(db) => db.into(),
        }
    }
}

/// Who may not change a user, as the client sees it.
impl From<ManageRefusal> for ApiError {
    fn from(refusal: ManageRefusal) -> Self {
        ApiError::forbidden(match refusal {
            ManageRefusal::NotAnAdmin => {
                "Seuls les administrateurs de l’organisation gèrent ses utilisateurs."
            }
            ManageRefusal::AdminsByAdminsOnly => {
                "Un agent ne crée, ne promeut ni ne modifie d’administrateur : demandez-le à un administrateur de l’opérateur."
            }
        })
    }
}

/// A user's change refused, as the client sees it.
impl From<TeamError> for ApiError {
    fn from(err: TeamError) -> Self {
        match err {
            TeamError::NotFound => ApiError::not_found(),
            TeamError::Refused(refusal) => refusal.into(),
            TeamError::LastAdmin => ApiError::conflict(
                "last_admin",
                "C’est le dernier administrateur actif de l’organisation : nommez-en un autre avant de le retirer.",
            ),
            TeamError::Db(db) => db.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    pub kind: NewOrgKind,
    #[schema(example = "Médiathèque de Vesoul")]
    pub name: String,
    pub email: String,
    #[schema(example = "70000")]
    pub postcode: String,
    pub city: String,
    pub address: Option<String>,
    /// 14 digits; spaces are ignored.
    pub siret: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl TryFrom<CreateOrganizationRequest> for NewOrganization {
    type Error = domain::ValidationError;

    fn try_from(req: CreateOrganizationRequest) -> Result<Self, Self::Error> {
        Ok(NewOrganization {
            kind: req.kind.into(),
            name: domain::text("name", &req.name, 200)?,
            email: Email::parse("email", &req.email)?,
            postcode: Postcode::parse("postcode", &req.postcode)?,
            city: domain::text("city", &req.city, 100)?,
            address: domain::optional_text("address", req.address.as_deref(), 300)?,
            siret: match req.siret.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(raw) => Some(Siret::parse("siret", raw)?),
            },
            coordinates: Coordinates::from_optional(req.latitude, req.longitude)?,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LabelView {
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub suspended_at: Option<DateTime<Utc>>,
    /// Where the label stands today (French calendar day).
    pub status: LabelStatus,
    /// Whether the site may redeem tickets today.
    pub active: bool,
}

impl From<&SiteLabel> for LabelView {
    fn from(label: &SiteLabel) -> Self {
        let status = label.status_on(french_date(Utc::now()));
        LabelView {
            valid_from: label.valid_from,
            valid_until: label.valid_until,
            suspended_at: label.suspended_at,
            status,
            active: status == LabelStatus::Active,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub kind: OrgKind,
    pub name: String,
    pub email: String,
    pub postcode: String,
    pub city: String,
    pub address: Option<String>,
    pub siret: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub created_at: DateTime<Utc>,
    /// Sites only: the APTIC label, `null` when never granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelView>,
    /// A site's public entry and payout account (`PATCH /organizations/{id}`).
    #[serde(flatten)]
    pub entry: crate::api::sites::EntryView,
}

impl OrganizationView {
    /// The organisation as `caller` may see it (the IBAN whole or masked).
    pub fn new(org: Organization, label: Option<&SiteLabel>, caller: &Caller) -> Self {
        let entry = crate::api::sites::EntryView::new(&org, caller);
        OrganizationView {
            entry,
            kind: org.kind(),
            id: org.id,
            name: org.name,
            email: org.email,
            postcode: org.postcode,
            city: org.city,
            address: org.address,
            siret: org.siret,
            latitude: org.latitude,
            longitude: org.longitude,
            created_at: org.created_at,
            label: label.map(LabelView::from),
        }
    }
}

/// Creates a funder, a prescriber or a training site (operator).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    request_body = CreateOrganizationRequest,
    responses(
        (status = 201, body = OrganizationView),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/organizations")]
pub async fn create_organization(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<CreateOrganizationRequest>,
) -> ApiResult<HttpResponse> {
    caller.require_operator()?;
    let new = NewOrganization::try_from(body.0)?;
    let mut conn = state.conn().await?;
    let org = orgs::create_organization(&mut conn, &new).await?;
    Ok(HttpResponse::Created().json(OrganizationView::new(org, None, &caller)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    /// Only organisations of this kind.
    pub kind: Option<OrgKind>,
}

/// Lists organisations: all of them for the operator, one's own for everyone else.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(OrganizationFilter, PageQuery),
    responses((status = 200, body = Page<OrganizationView>))
)]
#[get("/organizations")]
pub async fn list_organizations(
    caller: Caller,
    state: web::Data<AppState>,
    filter: web::Query<OrganizationFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<OrganizationView>>> {
    let limit = page.limit()?;
    let after = page.after_id()?;
    let only = (!caller.is_operator()).then_some(caller.organization_id);
    let mut conn = state.conn().await?;
    let rows =
        orgs::list_organizations(&mut conn, filter.kind, only, after, i64::from(limit) + 1).await?;
    let (rows, next_cursor) = split_page(rows, limit, |o| o.id);
    let mut items = Vec::with_capacity(rows.len());
    for org in rows {
        let label = if org.kind() == OrgKind::Site {
            orgs::find_label(&mut conn, org.id).await?
        } else {
            None
        };
        items.push(OrganizationView::new(org, label.as_ref(), &caller));
    }
    Ok(web::Json(Page { items, next_cursor }))
}

/// One organisation: any for the operator, one's own for everyone else (404 otherwise).
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = OrganizationView),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{id}")]
pub async fn get_organization(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<OrganizationView>> {
    let id = id.into_inner();
    if !caller.can_see_organization(id) {
        return Err(ApiError::not_found());
    }
    let mut conn = state.conn().await?;
    let org = orgs::find_organization(&mut conn, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let label = orgs::find_label(&mut conn, id).await?;
    Ok(web::Json(OrganizationView::new(
        org,
        label.as_ref(),
        &caller,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    /// At least 12 characters. Without one, the user is invited by e-mail to choose it.
    pub password: Option<String>,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Has a password and may log in.
    Active,
    /// Waits for the invitation to be accepted.
    Invited,
    /// Deactivated: cannot log in until reactivated.
    Deactivated,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    /// `false` once deactivated (`PATCH …/users/{user_id}` `{active: false}`): the
    /// user cannot log in and its sessions were ended.
    pub active: bool,
    /// The last successful login, `null` when never.
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            role: user.role(),
            status: if !user.active {
                UserStatus::Deactivated
            } else if user.password_hash.is_some() {
                UserStatus::Active
            } else {
                UserStatus::Invited
            },
            active: user.active,
            last_login_at: user.last_login_at,
            id: user.id,
            organization_id: user.organization_id,
            email: user.email,
            created_at: user.created_at,
        }
    }
}

/// The users of an organisation, oldest first (the operator for any, an
/// organisation's admin for its own): who may log in, who is still invited.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, body = Page<UserView>),
        (status = 403, description = "`forbidden`: an agent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organizations/{id}/users")]
pub async fn list_users(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<UserView>>> {
    let organization_id = id.into_inner();
    if !caller.can_see_organization(organization_id) {
        return Err(ApiError::not_found());
    }
    if !caller.is_operator() && caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "Seuls les administrateurs de l’organisation voient ses utilisateurs.",
        ));
    }
    let limit = page.limit()?;
    let mut conn = state.conn().await?;
    if orgs::find_organization(&mut conn, organization_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found());
    }
    let rows = orgs::list_users(
        &mut conn,
        organization_id,
        page.after_id()?,
        i64::from(limit) + 1,
    )
    .await?;
    let (rows, next_cursor) = split_page(rows, limit, |u| u.id);
    Ok(web::Json(Page {
        items: rows.into_iter().map(UserView::from).collect(),
        next_cursor,
    }))
}

/// Adds a user to an organisation (the operator for any, an organisation's admin for
/// its own; the operator's agents add agents only). Without a password, the user is
/// invited by e-mail to choose one (a single-use link, see `POST
/// /auth/invitations/accept`) and cannot log in until then.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserView),
        (status = 403, description = "`forbidden`: an agent of an organisation, or an agent creating an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/organizations/{id}/users")]
pub async fn create_user(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    let organization_id = id.into_inner();
    if !caller.can_see_organization(organization_id) {
        return Err(ApiError::not_found());
    }
    if !caller.is_operator() && caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "Seuls les administrateurs de l’organisation peuvent ajouter des utilisateurs.",
        ));
    }
    let req = body.0;
    // An agent (the operator's) never creates an admin.
    orgs::may_manage_user(&caller, Role::Agent, req.role)?;
    let email = Email::parse("email", &req.email)?;
    let password = req
        .password
        .as_deref()
        .map(|p| Password::parse("password", p))
        .transpose()?;
    let password_hash = match password {
        Some(p) => Some(
            web::block(move || hash_password(p.expose()))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let mut conn = state.conn().await?;
    if orgs::find_organization(&mut conn, organization_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found());
    }
    let new = NewUser {
        organization_id,
        email,
        password_hash,
        role: req.role,
    };
    let user = if new.password_hash.is_some() {
        orgs::create_user(&mut conn, (&caller).into(), &new).await?
    } else {
        // Without a password: the user and its invitation e-mail, in one transaction.
        let settings = InvitationSettings::from_settings(&state.settings);
        invitations::create_invited_user(&mut conn, (&caller).into(), &new, &settings).await?
    };
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Invites again a user who has not chosen a password yet (the operator, or the
/// organisation's admin; the operator's agents for users who are not admins): a new
/// link is e-mailed, earlier ones stop working.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses(
        (status = 202, body = UserView),
        (status = 403, description = "`forbidden`: an agent, or an operator agent inviting an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`user_active`: the user has a password already", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/organizations/{id}/users/{user_id}/invitation")]
pub async fn reinvite_user(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (organization_id, user_id) = path.into_inner();
    if !caller.can_see_organization(organization_id) {
        return Err(ApiError::not_found());
    }
    if !caller.is_operator() && caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "Seuls les administrateurs de l’organisation peuvent inviter des utilisateurs.",
        ));
    }
    let settings = InvitationSettings::from_settings(&state.settings);
    let mut conn = state.conn().await?;
    if caller.role != Role::Admin {
        // The operator's agents manage users who are not admins only.
        if let Some((user, _)) = orgs::find_user(&mut conn, user_id).await? {
            orgs::may_manage_user(&caller, user.role(), user.role())?;
        }
    }
    let user = invitations::reinvite(&mut conn, organization_id, user_id, &settings).await?;
    Ok(HttpResponse::Accepted().json(UserView::from(user)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// The new role.
    pub role: Option<Role>,
    /// `false` deactivates the user (it cannot log in, its sessions end within 5
    /// seconds on every server); `true` reactivates it.
    pub active: Option<bool>,
}

/// Changes a user's role or deactivates (reactivates) it: an organisation's admin for
/// its own users, the operator's admins for anyone, the operator's agents for users
/// who are not admins (and never to make one).
///
/// A deactivated user cannot log in (401 `invalid_credentials`) and every token
/// already issued to it answers 401 `session_revoked` within 5 seconds; demoting an
/// admin ends its sessions too. An organisation always keeps one active admin.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserView),
        (status = 403, description = "`forbidden`: an agent, or an operator agent touching an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: another organisation's user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: the organisation would have no active admin left", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/organizations/{id}/users/{user_id}")]
pub async fn update_user(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<UpdateUserRequest>,
) -> ApiResult<web::Json<UserView>> {
    let (organization_id, user_id) = path.into_inner();
    if !caller.can_see_organization(organization_id) {
        return Err(ApiError::not_found());
    }
    let change = crate::team::UserChange {
        role: body.role,
        active: body.active,
    };
    let mut conn = state.conn().await?;
    let (user, ended) =
        crate::team::update_user(&mut conn, &caller, organization_id, user_id, change).await?;
    state.revocations.note(&ended);
    Ok(web::Json(UserView::from(user)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    #[schema(example = "2026-01-01")]
    pub valid_from: NaiveDate,
    #[schema(example = "2028-12-31")]
    pub valid_until: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteLabelView {
    pub site_id: Uuid,
    #[serde(flatten)]
    pub label: LabelView,
}

impl From<SiteLabel> for SiteLabelView {
    fn from(label: SiteLabel) -> Self {
        SiteLabelView {
            site_id: label.site_id,
            label: LabelView::from(&label),
        }
    }
}

/// Grants or renews a site's APTIC label for a period (operator). A suspended label
/// stays suspended.
#[utoipa::path(
    tag = "labels",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = LabelRequest,
    responses(
        (status = 200, body = SiteLabelView),
        (status = 404, description = "`not_found`: no site with this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sites/{id}/label")]
pub async fn grant_label(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<LabelRequest>,
) -> ApiResult<web::Json<SiteLabelView>> {
    caller.require_operator()?;
    let period = LabelPeriod::new(body.valid_from, body.valid_until)?;
    let mut conn = state.conn().await?;
    let label = orgs::grant_label(&mut conn, (&caller).into(), id.into_inner(), period).await?;
    Ok(web::Json(label.into()))
}

/// Suspends a site's label: it can no longer redeem tickets (operator).
#[utoipa::path(
    tag = "labels",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = SiteLabelView),
        (status = 409, description = "`no_label`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sites/{id}/label/suspend")]
pub async fn suspend_label(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SiteLabelView>> {
    caller.require_operator()?;
    let mut conn = state.conn().await?;
    let label =
        orgs::set_label_suspended(&mut conn, (&caller).into(), id.into_inner(), true).await?;
    Ok(web::Json(label.into()))
}

/// Lifts a suspension (operator).
#[utoipa::path(
    tag = "labels",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = SiteLabelView),
        (status = 409, description = "`no_label`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sites/{id}/label/reinstate")]
pub async fn reinstate_label(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SiteLabelView>> {
    caller.require_operator()?;
    let mut conn = state.conn().await?;
    let label =
        orgs::set_label_suspended(&mut conn, (&caller).into(), id.into_inner(), false).await?;
    Ok(web::Json(label.into()))
}
