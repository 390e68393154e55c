//! The public directory of labelled sites: where a beneficiary can go.

use actix_web::{get, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::pagination::{Page, PageQuery};
use crate::directory::{self, DirectorySite};
use crate::domain::{Coordinates, PostcodePrefix, ValidationError, french_date};
use crate::error::{ApiError, ApiResult};
use crate::services::{Format, Service};
use crate::vocabulary::Theme;

pub const DEFAULT_RADIUS_KM: f64 = 20.0;
pub const MAX_RADIUS_KM: f64 = 500.0;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteSearch {
    /// Start of a postcode: `70` for a département, `70000` for a town.
    pub postcode: Option<String>,
    /// A position `LAT,LON` in decimal degrees; sites come nearest first.
    pub near: Option<String>,
    /// With `near`: how far to look, in km (default 20, at most 500).
    pub radius_km: Option<f64>,
    /// Only the sites offering a service of this theme (`GET /public/themes`).
    pub theme: Option<String>,
}

/// A theme of the national list, with its French label.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThemeView {
    /// e.g. `premiers_pas`.
    pub id: Theme,
    /// e.g. `Premiers pas avec l’ordinateur`.
    pub label: &'static str,
}

/// A site's service, as the directory and the site's pages show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub id: Uuid,
    pub title: String,
    pub theme: Theme,
    /// The theme's French label.
    pub theme_label: &'static str,
    pub format: Format,
    pub duration_minutes: u16,
}

impl ServiceView {
    pub fn of(s: &Service) -> ServiceView {
        ServiceView {
            id: s.id,
            title: s.title.clone(),
            theme: s.theme,
            theme_label: s.theme.label(),
            format: s.format,
            duration_minutes: s.duration_minutes,
        }
    }
}

/// The fixed national list of themes that services, beneficiaries' needs and
/// follow-ups are filed under, in its order. No token.
#[utoipa::path(tag = "public", responses((status = 200, body = Vec<ThemeView>)))]
#[get("/public/themes")]
pub async fn themes() -> web::Json<Vec<ThemeView>> {
    web::Json(
        Theme::ALL
            .into_iter()
            .map(|id| ThemeView {
                id,
                label: id.label(),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicSite {
    pub id: Uuid,
    pub name: String,
    pub address: Option<String>,
    pub postcode: String,
    pub city: String,
    /// The site's own position; `null` when it gave none.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// With `near`: distance as the crow flies, in km (two decimals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// With `near`: `true` when the site gave no position and the distance is taken
    /// from its postcode (the middle of our organisations located there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_approximate: Option<bool>,
    /// Digits only: `0384751234`, or `+` and the international number.
    pub phone: Option<String>,
    pub website: Option<String>,
    /// Free text over several lines (`\n`).
    pub opening_hours: Option<String>,
    /// Free text: how the place welcomes people with a disability.
    pub accessibility: Option<String>,
    /// What it offers, in its order.
    pub services: Vec<ServiceView>,
}

/// Sites whose label is active today, by postcode prefix or nearest a point, with
/// their phone, opening hours and accessibility. No token.
///
/// Paged by `cursor` (a position in the list, stable between pages: by postcode,
/// name and id, or by distance, name and id with `near`). A site that gave no
/// position is placed near a point by its postcode (`distance_approximate`), from
/// the organisations of ours located there; with none, it is found by `postcode`
/// only.
#[utoipa::path(
    tag = "public",
    params(SiteSearch, PageQuery),
    responses(
        (status = 200, body = Page<PublicSite>),
        (status = 422, description = "`validation_failed`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/public/sites")]
pub async fn list_sites(
    state: web::Data<AppState>,
    search: web::Query<SiteSearch>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<PublicSite>>> {
    let limit = page.limit()? as usize;
    let offset = page.offset()?;
    let prefix = search
        .postcode
        .as_deref()
        .map(|p| PostcodePrefix::parse("postcode", p))
        .transpose()?;
    let near = search
        .near
        .as_deref()
        .map(|p| Coordinates::parse_pair("near", p))
        .transpose()?;
    let radius = match search.radius_km {
        None => DEFAULT_RADIUS_KM,
        Some(r) if r.is_finite() && r > 0.0 && r <= MAX_RADIUS_KM => r,
        Some(_) => {
            return Err(ValidationError::new(
                "radius_km",
                format!("Le rayon doit être compris entre 0 et {MAX_RADIUS_KM} km."),
            )
            .into());
        }
    };
    let theme = match search.theme.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(Theme::parse(raw).ok_or_else(|| {
            ValidationError::new(
                "theme",
                "Ce thème n’est pas dans la liste nationale (voir /public/themes).",
            )
        })?),
    };
    let mut conn = state.conn().await?;
    let today = french_date(Utc::now());
    let sites = directory::labelled_sites(&mut conn, today, prefix.as_ref(), theme).await?;
    let mut found: Vec<PublicSite> = sites
        .into_iter()
        .filter_map(
            |DirectorySite {
                 site,
                 position,
                 approximate,
                 services,
             }| {
                let distance = match (near, position) {
                    (Some(from), Some(to)) => {
                        let d = from.distance_km(&to);
                        if d > radius {
                            return None;
                        }
                        Some((d * 100.0).round() / 100.0)
                    }
                    (Some(_), None) => return None,
                    (None, _) => None,
                };
                Some(PublicSite {
                    id: site.id,
                    name: site.name,
                    address: site.address,
                    postcode: site.postcode,
                    city: site.city,
                    latitude: site.latitude,
                    longitude: site.longitude,
                    distance_km: distance,
                    distance_approximate: distance.map(|_| approximate),
                    phone: site.phone,
                    website: site.website,
                    opening_hours: site.opening_hours,
                    accessibility: site.accessibility,
                    services: services.iter().map(ServiceView::of).collect(),
                })
            },
        )
        .collect();
    if near.is_some() {
        found.sort_by(|a, b| {
            a.distance_km
                .partial_cmp(&b.distance_km)
                .unwrap_or(std::cmp::Ordering::Equal)
                // At the same distance, a site's own position before a postcode's.
                .then_with(|| a.distance_approximate.cmp(&b.distance_approximate))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.id.cmp(&b.id))
        });
    }
    let total = found.len();
    if offset > total {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            "Le curseur de pagination n’est pas valide : reprenez la liste depuis le début.",
        ));
    }
    let items: Vec<PublicSite> = found.into_iter().skip(offset).take(limit).collect();
    let next = offset + items.len();
    let next_cursor = (next < total).then(|| next.to_string());
    Ok(web::Json(Page { items, next_cursor }))
}
