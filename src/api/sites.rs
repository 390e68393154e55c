//! Correcting an organisation (`PATCH /organizations/{id}`, a site's public entry and
//! IBAN included) and a site's history month by month (`GET /sites/{id}/history`).

use actix_web::http::StatusCode;
use actix_web::{get, patch, web};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::extract::ApiJson;
use crate::api::organizations::OrganizationView;
use crate::auth::Caller;
use crate::bank::Bic;
use crate::domain::{
    self, Coordinates, Email, Iban, OrgKind, Phone, Postcode, Siret, ValidationError, Website,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::money::Money;
use crate::organization_update::{self as update, OrganizationPatch, Refusal, UpdateError};
use crate::organizations::{self as orgs, Organization};
use crate::site_history;

/// Longest opening hours, in characters (several lines).
pub const MAX_OPENING_HOURS: usize = 500;
/// Longest accessibility note, in characters.
pub const MAX_ACCESSIBILITY: usize = 300;

/// A site's public entry and payout account, as an organisation carries them.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// Digits only: `0384751234`, or `+` and the international number.
    pub phone: Option<String>,
    pub website: Option<String>,
    /// Free text over several lines (`\n`), e.g. `Lundi 9 h – 12 h`.
    pub opening_hours: Option<String>,
    /// Free text: how the place welcomes people with a disability.
    pub accessibility: Option<String>,
    /// Whole (`FR7630006000011234567890189`) for the site's admins and the operator's
    /// admins, masked for everyone else (`FR76 …0189`).
    pub iban: Option<String>,
    /// The bank's BIC (`AGRIFRPP`): whole to the same people as the IBAN, masked
    /// (`AGRI…`) to everyone else.
    pub bic: Option<String>,
}

impl EntryView {
    pub fn new(org: &Organization, caller: &Caller) -> EntryView {
        let whole = update::may_see_iban(caller, org.id);
        EntryView {
            phone: org.phone.clone(),
            website: org.website.clone(),
            opening_hours: org.opening_hours.clone(),
            accessibility: org.accessibility.clone(),
            iban: org.iban.as_deref().map(|iban| {
                if whole {
                    iban.to_string()
                } else {
                    Iban::parse("iban", iban)
                        .map(|i| i.masked())
                        .unwrap_or_else(|_| "…".to_string())
                }
            }),
            bic: org.bic.as_deref().map(|bic| {
                if whole {
                    bic.to_string()
                } else {
                    Bic::parse("bic", bic)
                        .map(|b| b.masked())
                        .unwrap_or_else(|_| "…".to_string())
                }
            }),
        }
    }
}

/// Tells a field sent as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The fields to correct; a field left out stays as it is. An optional field sent as
/// `null` or `""` is cleared. `phone`, `website`, `opening_hours`, `accessibility`
/// and `iban` are for sites only.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    #[schema(example = "70000")]
    pub postcode: Option<String>,
    pub city: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    /// 14 digits; spaces are ignored.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub siret: Option<Option<String>>,
    /// With `longitude`; both `null` clear the position.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub longitude: Option<Option<f64>>,
    /// Ten digits (`03 84 75 12 34`) or `+` and an international number.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "03 84 75 12 34")]
    pub phone: Option<Option<String>>,
    /// `https://` is added when left out.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "https://mediatheque.vesoul.fr")]
    pub website: Option<Option<String>>,
    /// Free text, several lines, at most 500 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Mardi et jeudi 14 h – 18 h\nSamedi 9 h – 12 h")]
    pub opening_hours: Option<Option<String>>,
    /// Free text, at most 300 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Accès de plain-pied, boucle magnétique à l’accueil")]
    pub accessibility: Option<Option<String>>,
    /// ISO 13616, checked by its checksum; spaces are ignored. The operator's admins
    /// and the site's admins only.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "FR76 3000 6000 0112 3456 7890 189")]
    pub iban: Option<Option<String>>,
    /// ISO 9362, 8 or 11 characters, of the IBAN's country. The same people as the
    /// IBAN.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "AGRIFRPP")]
    pub bic: Option<Option<String>>,
}

/// An optional field: `null` or blank clears it, anything else is parsed.
fn clearable<T>(
    raw: Option<Option<String>>,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<Option<Option<T>>, ValidationError> {
    match raw {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(text)) if text.trim().is_empty() => Ok(Some(None)),
        Some(Some(text)) => parse(&text).map(|v| Some(Some(v))),
    }
}

impl TryFrom<UpdateOrganizationRequest> for OrganizationPatch {
    type Error = ValidationError;

    fn try_from(req: UpdateOrganizationRequest) -> Result<Self, Self::Error> {
        let coordinates = match (req.latitude, req.longitude) {
            (None, None) => None,
            (Some(None), Some(None)) => Some(None),
            (Some(Some(lat)), Some(Some(lon))) => Some(Some(Coordinates::new(lat, lon)?)),
            (Some(_), _) => {
                return Err(ValidationError::new(
                    "longitude",
                    "Donnez la latitude et la longitude ensemble (ou effacez-les ensemble).",
                ));
            }
            (None, Some(_)) => {
                return Err(ValidationError::new(
                    "latitude",
                    "Donnez la latitude et la longitude ensemble (ou effacez-les ensemble).",
                ));
            }
        };
        Ok(OrganizationPatch {
            name: req
                .name
                .map(|n| domain::text("name", &n, 200))
                .transpose()?,
            email: req.email.map(|e| Email::parse("email", &e)).transpose()?,
            postcode: req
                .postcode
                .map(|p| Postcode::parse("postcode", &p))
                .transpose()?,
            city: req
                .city
                .map(|c| domain::text("city", &c, 100))
                .transpose()?,
            address: clearable(req.address, |a| domain::text("address", a, 300))?,
            siret: clearable(req.siret, |s| Siret::parse("siret", s))?,
            coordinates,
            phone: clearable(req.phone, |p| Phone::parse("phone", p))?,
            website: clearable(req.website, |w| Website::parse("website", w))?,
            opening_hours: clearable(req.opening_hours, |h| {
                domain::multiline_text("opening_hours", h, MAX_OPENING_HOURS)
            })?,
            accessibility: clearable(req.accessibility, |a| {
                domain::text("accessibility", a, MAX_ACCESSIBILITY)
            })?,
            iban: clearable(req.iban, |i| Iban::parse("iban", i))?,
            bic: clearable(req.bic, |b| Bic::parse("bic", b))?,
        })
    }
}

impl From<UpdateError> for ApiError {
    fn from(err: UpdateError) -> ApiError {
        match err {
            UpdateError::NotFound => ApiError::not_found(),
            UpdateError::Forbidden { field, by } => ApiError::forbidden(match by {
                Refusal::NotAnEditor => {
                    "Seuls l’opérateur, et les administrateurs d’un lieu pour sa fiche, modifient une organisation."
                }
                Refusal::OperatorsField => {
                    "Le nom, l’e-mail, l’adresse, le SIRET et la position du lieu sont corrigés par l’opérateur : demandez-le-lui. Vous pouvez modifier le téléphone, le site web, les horaires, l’accessibilité et l’IBAN."
                }
                Refusal::AdminsOnly => {
                    "Seuls les administrateurs de l’opérateur, ou ceux du lieu, modifient l’IBAN et le BIC : c’est le compte où partent les paiements."
                }
            })
            .with_field(field.as_str()),
            UpdateError::OnlyForSites { field } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Ce champ ne concerne que les lieux de formation.",
            )
            .with_field(field.as_str()),
            UpdateError::BicMismatch(invalid) => ApiError::validation(invalid),
            UpdateError::Db(e) => e.into(),
        }
    }
}

/// Corrects an organisation: contact details, address and position (the operator);
/// for a site also its public entry — `phone`, `website`, `opening_hours`,
/// `accessibility` — and the `iban` its payouts go to (the operator's admins, or the
/// site's admins for their own site; the operator's agents all but the IBAN).
///
/// Validated like creation; the IBAN by its checksum, stored without spaces. One
/// audit entry per change, in the same transaction, with the fields before and after
/// (the IBAN by its last four characters). Sending the values already there changes
/// nothing and writes no entry.
#[utoipa::path(
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, body = OrganizationView),
        (status = 403, description = "`forbidden`: not allowed to change this field (`field` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a value refused (`field` names it), nothing to change, or a site's field for another kind", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/organizations/{id}")]
pub async fn update_organization(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateOrganizationRequest>,
) -> ApiResult<web::Json<OrganizationView>> {
    let id = id.into_inner();
    if !caller.can_see_organization(id) {
        return Err(ApiError::not_found());
    }
    let patch = OrganizationPatch::try_from(body.0)?;
    if patch.fields().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Rien à modifier : indiquez au moins un champ.",
        ));
    }
    let mut conn = state.conn().await?;
    let org = update::update_organization(&mut conn, &caller, id, patch).await?;
    let label = if org.kind() == OrgKind::Site {
        orgs::find_label(&mut conn, id).await?
    } else {
        None
    };
    Ok(web::Json(OrganizationView::new(
        org,
        label.as_ref(),
        &caller,
    )))
}

/// Whether a month's scans are paid already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonthStatus {
    /// Not settled yet: `amount_payable` is what the site will be paid.
    Pending,
    /// Settled: `statement` paid it.
    Settled,
}

/// The payout statement that paid a settled month.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaidBy {
    pub id: Uuid,
    pub number: String,
    /// The statement's whole total (it may cover several months).
    #[schema(example = "120.00")]
    pub total: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryMonth {
    /// `YYYY-MM`, in Paris time.
    #[schema(example = "2026-10")]
    pub month: String,
    pub status: MonthStatus,
    /// Tickets redeemed and kept.
    pub tickets: i64,
    /// Scans undone during the grace period (not paid).
    pub reversed: i64,
    #[schema(example = "120.00")]
    pub face_value: String,
    /// What the site is paid for these tickets (face value minus commission).
    #[schema(example = "120.00")]
    pub amount_payable: String,
    /// Settled months: the settlement's period and the statement that paid it.
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    pub statement: Option<PaidBy>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteHistory {
    pub site_id: Uuid,
    /// The latest month first.
    pub months: Vec<HistoryMonth>,
    /// What the site will be paid at the next settlements (the pending months).
    #[schema(example = "40.00")]
    pub pending_total: String,
}

/// A site's scans month by month (Paris time): for a month not yet settled, what the
/// site will be paid; for a settled one, the payout statement that paid it (a
/// monthly settlement's month adds up to its statement to the cent). The site's own
/// users and the operator.
#[utoipa::path(
    tag = "redemptions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = SiteHistory),
        (status = 404, description = "`not_found`: another organisation, or not a site", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sites/{id}/history")]
pub async fn history(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SiteHistory>> {
    let site = id.into_inner();
    if !caller.can_see_organization(site) {
        return Err(ApiError::not_found());
    }
    let mut conn = state.conn().await?;
    match orgs::find_organization(&mut conn, site).await? {
        Some(org) if org.kind() == OrgKind::Site => {}
        _ => return Err(ApiError::not_found()),
    }
    let rows = site_history::site_history(&mut conn, site).await?;
    let money = |d| Money::from_decimal_unchecked(d).to_string();
    let mut pending = rust_decimal::Decimal::ZERO;
    let months = rows
        .into_iter()
        .map(|row| {
            let status = if row.settlement_id.is_some() {
                MonthStatus::Settled
            } else {
                pending += row.amount_payable;
                MonthStatus::Pending
            };
            HistoryMonth {
                month: row.month,
                status,
                tickets: row.tickets,
                reversed: row.reversed,
                face_value: money(row.face_value),
                amount_payable: money(row.amount_payable),
                period_start: row.period_start,
                period_end: row.period_end,
                statement: match (row.statement_id, row.statement_number, row.statement_total) {
                    (Some(id), Some(number), Some(total)) => Some(PaidBy {
                        id,
                        number,
                        total: money(total),
                    }),
                    _ => None,
                },
            }
        })
        .collect();
    Ok(web::Json(SiteHistory {
        site_id: site,
        months,
        pending_total: money(pending),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::organization_update::Field;

    fn parse(body: serde_json::Value) -> Result<OrganizationPatch, ValidationError> {
        let req: UpdateOrganizationRequest = serde_json::from_value(body).unwrap();
        OrganizationPatch::try_from(req)
    }

    #[test]
    fn left_out_null_and_blank_are_told_apart() {
        let patch = parse(serde_json::json!({"phone": null, "website": "", "iban": "FR76 3000 6000 0112 3456 7890 189"})).unwrap();
        assert_eq!(patch.phone, Some(None));
        assert_eq!(patch.website, Some(None));
        assert!(patch.opening_hours.is_none());
        assert_eq!(
            patch.fields(),
            vec![Field::Phone, Field::Website, Field::Iban]
        );
        let err = parse(serde_json::json!({"latitude": 47.6})).unwrap_err();
        assert_eq!(err.field, "longitude");
        assert_eq!(
            parse(serde_json::json!({"latitude": null, "longitude": null}))
                .unwrap()
                .coordinates,
            Some(None)
        );
        assert_eq!(
            parse(serde_json::json!({"iban": "FR76 3000 6000 0112 3456 7890 188"}))
                .unwrap_err()
                .field,
            "iban"
        );
    }
}
