//! Organisations, their users and site labels: the use cases, each one database
//! transaction taking `&mut AsyncPgConnection`, with inputs already parsed. They
//! refuse with [`OrganizationError`] (and [`ManageRefusal`] for who may change a
//! user), worded at the HTTP edge (`api/organizations.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor, Change, Entity};
use crate::db::DbError;
use crate::domain::ValidationError;
use crate::domain::{
    Coordinates, Email, LabelPeriod, LabelStatus, OrgKind, Password, Postcode, PostcodePrefix,
    Role, Siret,
};
use crate::schema::{organizations, site_labels, users};

/// Why an organisation, a user or a label was not created or changed.
#[derive(Debug, thiserror::Error)]
pub enum OrganizationError {
    /// There is one operator organisation, and it exists.
    #[error("the operator organisation exists already")]
    OperatorExists,
    /// Another user has this e-mail address.
    #[error("an account with the address {email} exists already")]
    EmailTaken { email: Email },
    /// No such organisation, or not a site.
    #[error("not found")]
    NotFound,
    /// The site has no label to suspend or reinstate.
    #[error("the site has no label")]
    NoLabel,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("the password could not be hashed: {0:#}")]
    PasswordHash(anyhow::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for OrganizationError {
    fn from(err: diesel::result::Error) -> Self {
        OrganizationError::Db(err.into())
    }
}

/// Why the caller may not change a user (see [`may_manage_user`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManageRefusal {
    /// An agent of an organisation other than the operator.
    #[error("only the organisation's admins manage its users")]
    NotAnAdmin,
    /// An operator's agent, about an admin (or to make one).
    #[error("an agent neither creates, promotes nor changes an admin")]
    AdminsByAdminsOnly,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub email: String,
    pub postcode: String,
    pub city: String,
    pub address: Option<String>,
    pub siret: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub created_at: DateTime<Utc>,
    /// A site's public entry and payout account (`PATCH /organizations/{id}`,
    /// src/organization_update.rs); the IBAN is stored normalised.
    pub phone: Option<String>,
    pub website: Option<String>,
    pub opening_hours: Option<String>,
    pub accessibility: Option<String>,
    pub iban: Option<String>,
    /// ISO 9362, upper case, of the IBAN's country.
    pub bic: Option<String>,
}

impl Organization {
    pub fn kind(&self) -> OrgKind {
        OrgKind::parse(&self.kind).unwrap_or(OrgKind::Site)
    }
}

/// An organisation ready to be created.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub kind: OrgKind,
    pub name: String,
    pub email: Email,
    pub postcode: Postcode,
    pub city: String,
    pub address: Option<String>,
    pub siret: Option<Siret>,
    pub coordinates: Option<Coordinates>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub password_hash: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// A deactivated user cannot log in; its sessions were ended.
    pub active: bool,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Agent)
    }
}

/// A user ready to be created: with a password already hashed, or invited (none).
#[derive(Debug)]
pub struct NewUser {
    pub organization_id: Uuid,
    pub email: Email,
    pub password_hash: Option<String>,
    pub role: Role,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = site_labels)]
pub struct SiteLabel {
    pub site_id: Uuid,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub suspended_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl SiteLabel {
    pub fn status_on(&self, day: NaiveDate) -> LabelStatus {
        let period = LabelPeriod {
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        };
        LabelStatus::on(period, self.suspended_at.is_some(), day)
    }
}

pub async fn create_organization(
    conn: &mut AsyncPgConnection,
    new: &NewOrganization,
) -> Result<Organization, OrganizationError> {
    let row = diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(Uuid::now_v7()),
            organizations::kind.eq(new.kind.as_str()),
            organizations::name.eq(&new.name),
            organizations::email.eq(new.email.as_str()),
            organizations::postcode.eq(new.postcode.as_str()),
            organizations::city.eq(&new.city),
            organizations::address.eq(new.address.as_deref()),
            organizations::siret.eq(new.siret.as_ref().map(Siret::as_str)),
            organizations::latitude.eq(new.coordinates.map(|c| c.latitude)),
            organizations::longitude.eq(new.coordinates.map(|c| c.longitude)),
        ))
        .returning(Organization::as_returning())
        .get_result(conn)
        .await
        .map_err(DbError::from);
    match row {
        Err(DbError::Unique { constraint }) if constraint == "organizations_single_operator" => {
            Err(OrganizationError::OperatorExists)
        }
        other => Ok(other?),
    }
}

/// The organisation `id` as the caller may see it: another organisation's is absent.
pub async fn find_organization(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<Organization>, DbError> {
    Ok(organizations::table
        .find(id)
        .select(Organization::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Several organisations at once, by id.
pub async fn find_organizations(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<Organization>, DbError> {
    Ok(organizations::table
        .filter(organizations::id.eq_any(ids))
        .select(Organization::as_select())
        .load(conn)
        .await?)
}

/// One page of organisations in creation order (ids are UUIDv7), after `after`.
pub async fn list_organizations(
    conn: &mut AsyncPgConnection,
    kind: Option<OrgKind>,
    only: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Organization>, DbError> {
    let mut query = organizations::table
        .select(Organization::as_select())
        .order(organizations::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(kind) = kind {
        query = query.filter(organizations::kind.eq(kind.as_str()));
    }
    if let Some(id) = only {
        query = query.filter(organizations::id.eq(id));
    }
    if let Some(after) = after {
        query = query.filter(organizations::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

pub async fn create_user(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    new: &NewUser,
) -> Result<User, OrganizationError> {
    conn.transaction::<_, OrganizationError, _>(async move |conn| {
        let row = diesel::insert_into(users::table)
            .values((
                users::id.eq(Uuid::now_v7()),
                users::organization_id.eq(new.organization_id),
                users::email.eq(new.email.as_str()),
                users::password_hash.eq(new.password_hash.as_deref()),
                users::role.eq(new.role.as_str()),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .map_err(DbError::from);
        let user = match row {
            Err(DbError::Unique { constraint }) if constraint == "users_email_unique" => {
                return Err(OrganizationError::EmailTaken {
                    email: new.email.clone(),
                });
            }
            other => other?,
        };
        audit::record(
            conn,
            Change {
                actor,
                organization_id: Some(user.organization_id),
                entity: Entity::User,
                entity_id: user.id,
                action: "user.created",
                before: None,
                after: Some(json!({"email": user.email, "role": user.role().as_str()})),
                reason: None,
            },
        )
        .await?;
        Ok(user)
    })
    .await
}

pub async fn find_user_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<(User, Organization)>, DbError> {
    Ok(users::table
        .inner_join(organizations::table)
        .filter(users::email.eq(email.to_lowercase()))
        .select((User::as_select(), Organization::as_select()))
        .first(conn)
        .await
        .optional()?)
}

/// One page of an organisation's users in creation order, after `after`.
pub async fn list_users(
    conn: &mut AsyncPgConnection,
    organization: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<User>, DbError> {
    let mut query = users::table
        .filter(users::organization_id.eq(organization))
        .select(User::as_select())
        .order(users::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    Ok(query.load(conn).await?)
}

pub async fn find_user(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<(User, Organization)>, DbError> {
    Ok(users::table
        .inner_join(organizations::table)
        .filter(users::id.eq(id))
        .select((User::as_select(), Organization::as_select()))
        .first(conn)
        .await
        .optional()?)
}

/// The operator organisation, once bootstrapped.
pub async fn operator(conn: &mut AsyncPgConnection) -> Result<Option<Organization>, DbError> {
    Ok(organizations::table
        .filter(organizations::kind.eq(OrgKind::Operator.as_str()))
        .select(Organization::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Creates the operator organisation and its first admin, in one transaction.
pub async fn bootstrap_operator(
    conn: &mut AsyncPgConnection,
    email: Email,
    password: &Password,
) -> Result<(Organization, User), OrganizationError> {
    let password_hash =
        crate::auth::hash_password(password.expose()).map_err(OrganizationError::PasswordHash)?;
    conn.transaction::<_, OrganizationError, _>(async move |conn| {
        if find_user_by_email(conn, email.as_str()).await?.is_some() {
            return Err(OrganizationError::EmailTaken { email });
        }
        let existing: Option<Organization> = organizations::table
            .filter(organizations::kind.eq(OrgKind::Operator.as_str()))
            .select(Organization::as_select())
            .first(conn)
            .await
            .optional()?;
        let operator = match existing {
            Some(org) => org,
            None => {
                let new = NewOrganization {
                    kind: OrgKind::Operator,
                    name: "Opérateur Pass Numérique".into(),
                    email: email.clone(),
                    postcode: Postcode::parse("postcode", "75001")?,
                    city: "Paris".into(),
                    address: None,
                    siret: None,
                    coordinates: None,
                };
                create_organization(conn, &new).await?
            }
        };
        let user = create_user(
            conn,
            Actor::Service("passnum create-operator"),
            &NewUser {
                organization_id: operator.id,
                email,
                password_hash: Some(password_hash),
                role: Role::Admin,
            },
        )
        .await?;
        Ok((operator, user))
    })
    .await
}

pub async fn find_label(
    conn: &mut AsyncPgConnection,
    site: Uuid,
) -> Result<Option<SiteLabel>, DbError> {
    Ok(site_labels::table
        .find(site)
        .select(SiteLabel::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The site `id`, or not found when it is absent or not a site.
async fn require_site(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Organization, OrganizationError> {
    match find_organization(conn, id).await? {
        Some(org) if org.kind() == OrgKind::Site => Ok(org),
        _ => Err(OrganizationError::NotFound),
    }
}

/// Grants (or renews) a site's label for a period. A suspension stays in force.
pub async fn grant_label(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    site: Uuid,
    period: LabelPeriod,
) -> Result<SiteLabel, OrganizationError> {
    conn.transaction::<_, OrganizationError, _>(async move |conn| {
        require_site(conn, site).await?;
        let before = find_label(conn, site).await?;
        let label = diesel::insert_into(site_labels::table)
            .values((
                site_labels::site_id.eq(site),
                site_labels::valid_from.eq(period.valid_from),
                site_labels::valid_until.eq(period.valid_until),
            ))
            .on_conflict(site_labels::site_id)
            .do_update()
            .set((
                site_labels::valid_from.eq(period.valid_from),
                site_labels::valid_until.eq(period.valid_until),
                site_labels::updated_at.eq(diesel::dsl::now),
            ))
            .returning(SiteLabel::as_returning())
            .get_result(conn)
            .await?;
        let period_of =
            |l: &SiteLabel| json!({"valid_from": l.valid_from, "valid_until": l.valid_until});
        audit::record(
            conn,
            label_change(
                actor,
                site,
                if before.is_some() {
                    "label.renewed"
                } else {
                    "label.granted"
                },
                before.as_ref().map(period_of),
                Some(period_of(&label)),
            ),
        )
        .await?;
        Ok(label)
    })
    .await
}

/// The audit entry of a change to a site's label (the site's own entry).
fn label_change(
    actor: Actor,
    site: Uuid,
    action: &'static str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Change {
    Change {
        actor,
        organization_id: Some(site),
        entity: Entity::Label,
        entity_id: site,
        action,
        before,
        after,
        reason: None,
    }
}

/// Suspends (`true`) or reinstates (`false`) a site's label. Doing it twice changes
/// nothing the second time.
pub async fn set_label_suspended(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    site: Uuid,
    suspended: bool,
) -> Result<SiteLabel, OrganizationError> {
    conn.transaction::<_, OrganizationError, _>(async move |conn| {
        require_site(conn, site).await?;
        let Some(current) = find_label(conn, site).await? else {
            return Err(OrganizationError::NoLabel);
        };
        if current.suspended_at.is_some() == suspended {
            return Ok(current);
        }
        let suspended_at = suspended.then(Utc::now);
        let label = diesel::update(site_labels::table.find(site))
            .set((
                site_labels::suspended_at.eq(suspended_at),
                site_labels::updated_at.eq(diesel::dsl::now),
            ))
            .returning(SiteLabel::as_returning())
            .get_result(conn)
            .await?;
        audit::record(
            conn,
            label_change(
                actor,
                site,
                if suspended {
                    "label.suspended"
                } else {
                    "label.reinstated"
                },
                Some(json!({"suspended": !suspended})),
                Some(json!({"suspended": suspended})),
            ),
        )
        .await?;
        Ok(label)
    })
    .await
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// Whether a label is active on a day (sql/functions/references.sql): the rule's
    /// one home, which the redemption verdict asks too.
    fn label_active(
        suspended_at: diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        valid_from: diesel::sql_types::Date,
        valid_until: diesel::sql_types::Date,
        day: diesel::sql_types::Date,
    ) -> diesel::sql_types::Bool;
}

/// Sites whose label is active on `day`, optionally in a postcode prefix.
pub async fn labelled_sites(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
    postcode: Option<&PostcodePrefix>,
) -> Result<Vec<Organization>, DbError> {
    let mut query = organizations::table
        .inner_join(site_labels::table)
        .filter(organizations::kind.eq(OrgKind::Site.as_str()))
        .filter(label_active(
            site_labels::suspended_at,
            site_labels::valid_from,
            site_labels::valid_until,
            day,
        ))
        .select(Organization::as_select())
        .order((
            organizations::postcode.asc(),
            organizations::name.asc(),
            organizations::id.asc(),
        ))
        .into_boxed();
    if let Some(prefix) = postcode {
        query = query.filter(organizations::postcode.like(format!("{}%", prefix.as_str())));
    }
    Ok(query.load(conn).await?)
}

/// A labelled site near somebody, for the documents that tell where to go.
#[derive(Debug, Clone)]
pub struct NearbySite {
    pub site: Organization,
    pub distance_km: Option<f64>,
}

/// The labelled sites nearest a postcode, at most `n`. We hold no map of postcodes:
/// the point of reference is an organisation of ours in that postcode (a site, a
/// prescriber…) that has coordinates, else `fallback` (e.g. the prescriber's own
/// position). Without any point, the sites of the same département come first.
pub async fn nearby_sites(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
    postcode: Option<&str>,
    fallback: Option<Coordinates>,
    n: usize,
) -> Result<Vec<NearbySite>, DbError> {
    let mut reference = None;
    if let Some(postcode) = postcode {
        let located: Option<(Option<f64>, Option<f64>)> = organizations::table
            .filter(organizations::postcode.eq(postcode))
            .filter(organizations::latitude.is_not_null())
            .select((organizations::latitude, organizations::longitude))
            .first(conn)
            .await
            .optional()?;
        reference = located.and_then(|(lat, lon)| {
            Some(Coordinates {
                latitude: lat?,
                longitude: lon?,
            })
        });
    }
    let reference = reference.or(fallback);
    let sites = labelled_sites(conn, day, None).await?;
    let mut found: Vec<NearbySite> = sites
        .into_iter()
        .map(|site| {
            let distance = match (reference, site.latitude.zip(site.longitude)) {
                (Some(from), Some((latitude, longitude))) => Some(from.distance_km(&Coordinates {
                    latitude,
                    longitude,
                })),
                _ => None,
            };
            NearbySite {
                site,
                distance_km: distance,
            }
        })
        .collect();
    let departement = postcode.map(|p| p.chars().take(2).collect::<String>());
    found.sort_by(|a, b| {
        let same_dep = |s: &NearbySite| {
            departement
                .as_ref()
                .is_some_and(|d| s.site.postcode.starts_with(d.as_str()))
        };
        let key = |s: &NearbySite| s.distance_km.unwrap_or(f64::MAX);
        same_dep(b)
            .cmp(&same_dep(a))
            .then_with(|| {
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .then_with(|| a.site.name.cmp(&b.site.name))
    });
    if reference.is_some() {
        // With a point, distance alone decides.
        found.sort_by(|a, b| {
            a.distance_km
                .unwrap_or(f64::MAX)
                .partial_cmp(&b.distance_km.unwrap_or(f64::MAX))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    found.truncate(n);
    Ok(found)
}

/// Who may change a user, given the caller and the user's role before and after:
/// an organisation's admins (the operator's for any organisation); the operator's
/// agents only for users who are not admins and stay so. Organisation scoping (404)
/// is the caller's business.
pub fn may_manage_user(
    caller: &crate::auth::Caller,
    current: Role,
    wanted: Role,
) -> Result<(), ManageRefusal> {
    if caller.role == Role::Admin {
        return Ok(());
    }
    if !caller.is_operator() {
        return Err(ManageRefusal::NotAnAdmin);
    }
    if current == Role::Admin || wanted == Role::Admin {
        return Err(ManageRefusal::AdminsByAdminsOnly);
    }
    Ok(())
}
