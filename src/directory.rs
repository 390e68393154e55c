//! The public directory of labelled sites (`GET /public/sites`): who accepts tickets
//! today, and where they are.
//!
//! A site without coordinates is still found near a point: it is placed at the
//! middle of the organisations of ours in its postcode that have coordinates (other
//! sites, prescribers…) and its distance is marked approximate. With none located
//! there, it has no position and is found by its postcode only (`?postcode=`),
//! never by `?near=` — a distance we cannot tell is not invented.
//!
//! Each site comes with its live services (`crate::services`); with a theme, only
//! the sites offering a service of that theme are listed.

use chrono::NaiveDate;
use diesel::dsl::avg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::DbError;
use crate::domain::{Coordinates, PostcodePrefix};
use crate::organizations::{self, Organization};
use crate::schema::organizations as orgs;
use crate::services::{self, Service};
use crate::vocabulary::Theme;

/// A labelled site and where the directory places it.
#[derive(Debug, Clone)]
pub struct DirectorySite {
    pub site: Organization,
    /// Its own position, else its postcode's (see the module), else none.
    pub position: Option<Coordinates>,
    /// Whether `position` is its postcode's rather than its own.
    pub approximate: bool,
    /// Its live services, in its order.
    pub services: Vec<Service>,
}

/// Sites whose label is active on `day` (optionally in a postcode prefix, offering a
/// service of `theme`), ordered by postcode, name and id, each with its position and
/// its services.
pub async fn labelled_sites(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
    postcode: Option<&PostcodePrefix>,
    theme: Option<Theme>,
) -> Result<Vec<DirectorySite>, DbError> {
    let sites = organizations::labelled_sites(conn, day, postcode).await?;
    let ids: Vec<uuid::Uuid> = sites.iter().map(|s| s.id).collect();
    let offered = services::live_of(conn, &ids).await?;
    let sites: Vec<Organization> = match theme {
        None => sites,
        Some(theme) => sites
            .into_iter()
            .filter(|site| {
                offered
                    .iter()
                    .any(|s| s.site_id == site.id && s.theme == theme)
            })
            .collect(),
    };
    let mut unplaced: Vec<&str> = sites
        .iter()
        .filter(|s| s.latitude.is_none() || s.longitude.is_none())
        .map(|s| s.postcode.as_str())
        .collect();
    unplaced.sort_unstable();
    unplaced.dedup();
    let centres: Vec<(String, Option<f64>, Option<f64>)> = if unplaced.is_empty() {
        Vec::new()
    } else {
        orgs::table
            .filter(orgs::postcode.eq_any(&unplaced))
            .filter(orgs::latitude.is_not_null())
            .filter(orgs::longitude.is_not_null())
            .group_by(orgs::postcode)
            .select((orgs::postcode, avg(orgs::latitude), avg(orgs::longitude)))
            .load(conn)
            .await?
    };
    let centre_of = |postcode: &str| {
        centres.iter().find_map(|(p, lat, lon)| {
            if p == postcode {
                Coordinates::new((*lat)?, (*lon)?).ok()
            } else {
                None
            }
        })
    };
    Ok(sites
        .into_iter()
        .map(|site| {
            let own = site
                .latitude
                .zip(site.longitude)
                .map(|(latitude, longitude)| Coordinates {
                    latitude,
                    longitude,
                });
            let (position, approximate) = match own {
                Some(p) => (Some(p), false),
                None => {
                    let centre = centre_of(&site.postcode);
                    (centre, centre.is_some())
                }
            };
            let services = offered
                .iter()
                .filter(|s| s.site_id == site.id)
                .cloned()
                .collect();
            DirectorySite {
                site,
                position,
                approximate,
                services,
            }
        })
        .collect())
}
