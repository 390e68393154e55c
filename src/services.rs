//! What a ticket pays for: a site's services (a title, a theme of the national list,
//! a format and a duration) and the collective sessions that redeem several
//! beneficiaries' tickets for one service.
//!
//! A site's list is replaced whole (`PUT /sites/{id}/services`): an item sent with
//! its `id` keeps it (its redemptions keep pointing to it), an item without one is a
//! new service, and a live service left out is *retired*, never deleted — a
//! redemption that named it still reads it, and the statistics still count it. The
//! site's row is locked (`FOR NO KEY UPDATE`) for the length of the replacement, so
//! two replacements of the same list follow each other. One audit entry per
//! replacement that changes something, in the same transaction.
//!
//! A collective session is opened (once: its id comes from the client, so a retry
//! opens nothing more) before its scans; each scan is then a redemption of its own
//! (`redemptions::redeem`, with its own idempotency key), naming the session and its
//! service.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Actor, Change, Entity};
use crate::auth::Caller;
use crate::db::DbError;
use crate::domain::{OrgKind, Role, ValidationError};
use crate::schema::{organizations, service_sessions, site_services};
use crate::vocabulary::Theme;

/// Longest service title, in characters.
pub const MAX_TITLE: usize = 120;
/// Longest service, in minutes (a whole day of training).
pub const MAX_DURATION: u16 = 600;
/// Most services a site publishes.
pub const MAX_SERVICES: usize = 30;

/// How a service is given: to one person, or to a group (a collective session).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Individual,
    Collective,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Individual, Format::Collective];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Individual => "individual",
            Format::Collective => "collective",
        }
    }

    /// In plain French.
    pub fn label(self) -> &'static str {
        match self {
            Format::Individual => "Individuel",
            Format::Collective => "Collectif",
        }
    }

    pub fn parse(raw: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == raw)
    }
}

/// A service as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = site_services)]
pub struct ServiceRow {
    pub id: Uuid,
    pub site_id: Uuid,
    pub title: String,
    pub theme: String,
    pub format: String,
    pub duration_minutes: i32,
    pub position: i32,
    pub retired_at: Option<DateTime<Utc>>,
}

/// A service, read back into the vocabularies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: Uuid,
    pub site_id: Uuid,
    pub title: String,
    pub theme: Theme,
    pub format: Format,
    pub duration_minutes: u16,
    pub retired: bool,
}

impl Service {
    /// `None` for a row whose theme or format is no longer known (left out of reads
    /// rather than failing them).
    fn of(row: ServiceRow) -> Option<Service> {
        Some(Service {
            id: row.id,
            site_id: row.site_id,
            title: row.title,
            theme: Theme::parse(&row.theme)?,
            format: Format::parse(&row.format)?,
            duration_minutes: u16::try_from(row.duration_minutes).ok()?,
            retired: row.retired_at.is_some(),
        })
    }

    fn audited(&self) -> serde_json::Value {
        json!({
            "id": self.id, "title": self.title, "theme": self.theme,
            "format": self.format, "duration_minutes": self.duration_minutes,
        })
    }
}

/// A service as a replacement lists it, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    /// The id of the service it keeps, or `None` for a new one.
    pub id: Option<Uuid>,
    pub title: String,
    pub theme: Theme,
    pub format: Format,
    pub duration_minutes: u16,
}

impl NewService {
    /// Parses one item of a replacement (`index`: its place, for the field paths).
    pub fn parse(
        index: usize,
        id: Option<Uuid>,
        title: &str,
        theme: Theme,
        format: Format,
        duration_minutes: i64,
    ) -> Result<NewService, ValidationError> {
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(ValidationError::new(
                format!("[{index}].title"),
                format!("L’intitulé d’un service compte de 1 à {MAX_TITLE} caractères."),
            ));
        }
        let duration_minutes = u16::try_from(duration_minutes)
            .ok()
            .filter(|d| (1..=MAX_DURATION).contains(d))
            .ok_or_else(|| {
                ValidationError::new(
                    format!("[{index}].duration_minutes"),
                    format!("La durée d’un service va de 1 à {MAX_DURATION} minutes."),
                )
            })?;
        Ok(NewService {
            id,
            title,
            theme,
            format,
            duration_minutes,
        })
    }
}

/// Checks a whole list: at most [`MAX_SERVICES`], no id twice.
pub fn check_list(services: &[NewService]) -> Result<(), ValidationError> {
    if services.len() > MAX_SERVICES {
        return Err(ValidationError::new(
            "",
            format!("Un lieu publie au plus {MAX_SERVICES} services."),
        ));
    }
    for (i, s) in services.iter().enumerate() {
        if let Some(id) = s.id
            && services[..i].iter().any(|o| o.id == Some(id))
        {
            return Err(ValidationError::new(
                format!("[{i}].id"),
                "Ce service figure deux fois dans la liste.",
            ));
        }
    }
    Ok(())
}

/// Why services could not be replaced, or a session opened.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such site, or another organisation's.
    #[error("site not found")]
    NotFound,
    /// The caller may read the site but not edit its services.
    #[error("not an editor of this site's services")]
    Forbidden,
    /// An item names an id that is not one of the site's live services.
    #[error("item {index} names an unknown service")]
    UnknownId { index: usize },
    /// A session names a service that is not one of the caller's site's live services.
    #[error("unknown service")]
    UnknownService,
    /// A session names an individual service.
    #[error("the service is not collective")]
    NotCollective,
    /// A session id already opened for another service (or by another site).
    #[error("session opened for another service")]
    SessionMismatch,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ServiceError {
    fn from(err: diesel::result::Error) -> Self {
        ServiceError::Db(err.into())
    }
}

/// Who edits a site's services: the operator, and the site's admins.
fn may_edit(caller: &Caller, site: Uuid) -> Result<(), ServiceError> {
    if !caller.can_see_organization(site) {
        return Err(ServiceError::NotFound);
    }
    if caller.is_operator() || caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// The live services of `site`, in their order.
pub async fn live(conn: &mut AsyncPgConnection, site: Uuid) -> Result<Vec<Service>, DbError> {
    live_of(conn, &[site]).await
}

/// The live services of several sites, by site then in their order.
pub async fn live_of(
    conn: &mut AsyncPgConnection,
    sites: &[Uuid],
) -> Result<Vec<Service>, DbError> {
    let rows: Vec<ServiceRow> = site_services::table
        .filter(site_services::site_id.eq_any(sites))
        .filter(site_services::retired_at.is_null())
        .order((site_services::site_id, site_services::position))
        .select(ServiceRow::as_select())
        .load(conn)
        .await?;
    Ok(rows.into_iter().filter_map(Service::of).collect())
}

/// Replaces the live services of `site` with `wanted` (see the module), in the
/// caller's transaction; answers the live list.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    site: Uuid,
    wanted: Vec<NewService>,
) -> Result<Vec<Service>, ServiceError> {
    may_edit(caller, site)?;
    let kind: Option<String> = organizations::table
        .find(site)
        .select(organizations::kind)
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?;
    if kind.as_deref() != Some(OrgKind::Site.as_str()) {
        return Err(ServiceError::NotFound);
    }
    let before = live(conn, site).await?;
    for (index, item) in wanted.iter().enumerate() {
        if let Some(id) = item.id
            && !before.iter().any(|s| s.id == id)
        {
            return Err(ServiceError::UnknownId { index });
        }
    }
    let now = Utc::now();
    let kept: Vec<Uuid> = wanted.iter().filter_map(|s| s.id).collect();
    diesel::update(
        site_services::table
            .filter(site_services::site_id.eq(site))
            .filter(site_services::retired_at.is_null())
            .filter(site_services::id.ne_all(&kept)),
    )
    .set((
        site_services::retired_at.eq(now),
        site_services::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    for (position, item) in wanted.iter().enumerate() {
        let position = i32::try_from(position).unwrap_or(i32::MAX);
        let values = (
            site_services::title.eq(&item.title),
            site_services::theme.eq(item.theme.as_str()),
            site_services::format.eq(item.format.as_str()),
            site_services::duration_minutes.eq(i32::from(item.duration_minutes)),
            site_services::position.eq(position),
        );
        match item.id {
            Some(id) => {
                diesel::update(site_services::table.find(id))
                    .set((values, site_services::updated_at.eq(now)))
                    .execute(conn)
                    .await?;
            }
            None => {
                diesel::insert_into(site_services::table)
                    .values((
                        site_services::id.eq(Uuid::now_v7()),
                        site_services::site_id.eq(site),
                        values,
                    ))
                    .execute(conn)
                    .await?;
            }
        }
    }
    let after = live(conn, site).await?;
    if before != after {
        audit::record(
            conn,
            Change {
                actor: Actor::from(caller),
                organization_id: Some(site),
                entity: Entity::Organization,
                entity_id: site,
                action: "organization.services_replaced",
                before: Some(
                    json!({"services": before.iter().map(Service::audited).collect::<Vec<_>>()}),
                ),
                after: Some(
                    json!({"services": after.iter().map(Service::audited).collect::<Vec<_>>()}),
                ),
                reason: None,
            },
        )
        .await?;
    }
    Ok(after)
}

/// Opens the collective session `session` of the caller's site for `service` (a live
/// collective service of that site); opening it again for the same service is a
/// no-op, so a retried session opens nothing more.
pub async fn open_session(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    session: Uuid,
    service: Uuid,
) -> Result<(), ServiceError> {
    let site = caller.organization_id;
    let found: Option<ServiceRow> = site_services::table
        .find(service)
        .select(ServiceRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let found = found
        .filter(|s| s.site_id == site && s.retired_at.is_none())
        .and_then(Service::of)
        .ok_or(ServiceError::UnknownService)?;
    if found.format != Format::Collective {
        return Err(ServiceError::NotCollective);
    }
    diesel::insert_into(service_sessions::table)
        .values((
            service_sessions::id.eq(session),
            service_sessions::site_id.eq(site),
            service_sessions::service_id.eq(service),
            service_sessions::opened_by.eq(caller.user_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let (of_site, of_service): (Uuid, Uuid) = service_sessions::table
        .find(session)
        .select((service_sessions::site_id, service_sessions::service_id))
        .first(conn)
        .await?;
    if of_site != site || of_service != service {
        return Err(ServiceError::SessionMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str, minutes: i64) -> Result<NewService, ValidationError> {
        NewService::parse(
            2,
            None,
            title,
            Theme::Smartphone,
            Format::Individual,
            minutes,
        )
    }

    #[test]
    fn items_parse_with_their_field_paths() {
        assert_eq!(
            item("  Prise  en main ", 60).unwrap().title,
            "Prise en main"
        );
        assert_eq!(item("   ", 60).unwrap_err().field, "[2].title");
        assert_eq!(item(&"x".repeat(121), 60).unwrap_err().field, "[2].title");
        assert!(item(&"é".repeat(120), 60).is_ok());
        for bad in [0, -5, 601, 100_000] {
            assert_eq!(
                item("Atelier", bad).unwrap_err().field,
                "[2].duration_minutes",
                "{bad}"
            );
        }
        assert_eq!(item("Atelier", 600).unwrap().duration_minutes, 600);
        assert!(item("Atelier", 1).is_ok());
    }

    #[test]
    fn a_list_names_each_service_once() {
        let id = Uuid::now_v7();
        let mut a = item("A", 30).unwrap();
        a.id = Some(id);
        let b = a.clone();
        assert_eq!(check_list(&[a.clone(), b]).unwrap_err().field, "[1].id");
        assert!(check_list(&[a, item("C", 30).unwrap()]).is_ok());
        let many: Vec<NewService> = (0..=MAX_SERVICES).map(|_| item("A", 30).unwrap()).collect();
        assert!(check_list(&many).is_err());
    }

    #[test]
    fn formats_parse_back() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
    }
}
