//! The public directory of labelled sites (`GET /public/sites`): who accepts tickets
//! today, and where they are.
//!
//! A site without coordinates is still found near a point: it is placed at the
//! middle of the organisations of ours in its postcode that have coordinates (other
//! sites, prescribers…) and its distance is marked approximate. With none located
//! there, it has no position and is found by its postcode only (`?postcode=`),
//! never by `?near=` — a distance we cannot tell is not invented.

use chrono::NaiveDate;
use diesel::dsl::avg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::DbError;
use crate::domain::{Coordinates, PostcodePrefix};
use crate::organizations::{self, Organization};
use crate::schema::organizations as orgs;

/// A labelled site and where the directory places it.
#[derive(Debug, Clone)]
pub struct DirectorySite {
    pub site: Organization,
    /// Its own position, else its postcode's (see the module), else none.
    pub position: Option<Coordinates>,
    /// Whether `position` is its postcode's rather than its own.
    pub approximate: bool,
}

/// Sites whose label is active on `day` (optionally in a postcode prefix), ordered by
/// postcode, name and id, each with its position.
pub async fn labelled_sites(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
    postcode: Option<&PostcodePrefix>,
) -> Result<Vec<DirectorySite>, DbError> {
    let sites = organizations::labelled_sites(conn, day, postcode).await?;
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
            DirectorySite {
                site,
                position,
                approximate,
            }
        })
        .collect())
}
