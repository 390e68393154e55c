//! Correcting an organisation (`PATCH /organizations/{id}`): contact details,
//! address and position for every kind; for sites also the public entry (phone,
//! website, opening hours, accessibility) and the account payouts go to (IBAN, BIC).
//!
//! Who may change what — the rule's one home, [`may_change`]:
//! - the operator's admins: every field of every organisation;
//! - the operator's agents: the same but the IBAN and BIC (where the money goes is a money
//!   matter, the admins' alone);
//! - a site's admins: their own site's public entry, IBAN and BIC, not its name, e-mail,
//!   address or position (they decide where the label holds and the directory points);
//! - nobody else (an agent, a funder's or prescriber's admin for their own
//!   organisation): refused; another organisation's id is not found.
//!
//! One transaction: the row is locked, the changed fields compared, written, and one
//! audit entry records them before and after (the IBAN only by its last four
//! characters: the trail is kept for ever and read by more people than the account;
//! the BIC whole, it names a bank, not an account). A BIC must be of the IBAN's
//! country, whichever of the two changes.
//! A PATCH that changes nothing writes nothing.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::audit::{self, Actor, Change, Entity};
use crate::auth::Caller;
use crate::bank::Bic;
use crate::db::DbError;
use crate::domain::{Coordinates, Email, Iban, OrgKind, Phone, Postcode, Role, Siret, Website};
use crate::organizations::Organization;
use crate::schema::organizations;

/// The fields to change: `None` leaves a field as it is; for the optional ones,
/// `Some(None)` clears it. Values are parsed already.
#[derive(Debug, Clone, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub postcode: Option<Postcode>,
    pub city: Option<String>,
    pub address: Option<Option<String>>,
    pub siret: Option<Option<Siret>>,
    pub coordinates: Option<Option<Coordinates>>,
    pub phone: Option<Option<Phone>>,
    pub website: Option<Option<Website>>,
    pub opening_hours: Option<Option<String>>,
    pub accessibility: Option<Option<String>>,
    pub iban: Option<Option<Iban>>,
    pub bic: Option<Option<Bic>>,
}

/// A field of the patch, by its name in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Email,
    Postcode,
    City,
    Address,
    Siret,
    Position,
    Phone,
    Website,
    OpeningHours,
    Accessibility,
    Iban,
    Bic,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Email => "email",
            Field::Postcode => "postcode",
            Field::City => "city",
            Field::Address => "address",
            Field::Siret => "siret",
            Field::Position => "latitude",
            Field::Phone => "phone",
            Field::Website => "website",
            Field::OpeningHours => "opening_hours",
            Field::Accessibility => "accessibility",
            Field::Iban => "iban",
            Field::Bic => "bic",
        }
    }

    /// The site's public entry and account: only sites have them.
    pub fn sites_only(self) -> bool {
        matches!(
            self,
            Field::Phone
                | Field::Website
                | Field::OpeningHours
                | Field::Accessibility
                | Field::Iban
                | Field::Bic
        )
    }
}

impl OrganizationPatch {
    /// The fields the patch names, in the request's order of fields.
    pub fn fields(&self) -> Vec<Field> {
        let named = [
            (self.name.is_some(), Field::Name),
            (self.email.is_some(), Field::Email),
            (self.postcode.is_some(), Field::Postcode),
            (self.city.is_some(), Field::City),
            (self.address.is_some(), Field::Address),
            (self.siret.is_some(), Field::Siret),
            (self.coordinates.is_some(), Field::Position),
            (self.phone.is_some(), Field::Phone),
            (self.website.is_some(), Field::Website),
            (self.opening_hours.is_some(), Field::OpeningHours),
            (self.accessibility.is_some(), Field::Accessibility),
            (self.iban.is_some(), Field::Iban),
            (self.bic.is_some(), Field::Bic),
        ];
        named
            .into_iter()
            .filter_map(|(named, field)| named.then_some(field))
            .collect()
    }
}

/// Why a correction was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No such organisation, or another organisation's (the same answer).
    #[error("organisation not found")]
    NotFound,
    /// The caller may not change this field of this organisation.
    #[error("the caller may not change {}", field.as_str())]
    Forbidden { field: Field, by: Refusal },
    /// A field of a site's entry sent for another kind of organisation.
    #[error("{} is for sites only", field.as_str())]
    OnlyForSites { field: Field },
    /// The BIC is not of the IBAN's country (the sentence names both).
    #[error("the BIC does not match the IBAN: {0}")]
    BicMismatch(crate::domain::ValidationError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The transaction's own errors (begin, commit) are the database's.
impl From<diesel::result::Error> for UpdateError {
    fn from(err: diesel::result::Error) -> Self {
        UpdateError::Db(DbError::from(err))
    }
}

/// Which rule refused a field (for the sentence the edge writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An agent, or the admin of a funder or a prescriber: the operator corrects it.
    NotAnEditor,
    /// A site's admin and a field of the operator's (name, address, position…).
    OperatorsField,
    /// An operator's agent and the IBAN or the BIC.
    AdminsOnly,
}

/// Whether `caller` may change `field` of the organisation `target` (of `kind`).
pub fn may_change(
    caller: &Caller,
    target: Uuid,
    kind: OrgKind,
    field: Field,
) -> Result<(), UpdateError> {
    if !caller.can_see_organization(target) {
        return Err(UpdateError::NotFound);
    }
    if caller.is_operator() {
        if matches!(field, Field::Iban | Field::Bic) && caller.role != Role::Admin {
            return Err(UpdateError::Forbidden {
                field,
                by: Refusal::AdminsOnly,
            });
        }
        return Ok(());
    }
    if kind != OrgKind::Site || caller.role != Role::Admin {
        return Err(UpdateError::Forbidden {
            field,
            by: Refusal::NotAnEditor,
        });
    }
    if !field.sites_only() {
        return Err(UpdateError::Forbidden {
            field,
            by: Refusal::OperatorsField,
        });
    }
    Ok(())
}

/// Applies `patch` to the organisation `id` for `caller`: the organisation as it is
/// now, with the audit entry written when something changed.
pub async fn update_organization(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    patch: OrganizationPatch,
) -> Result<Organization, UpdateError> {
    if !caller.can_see_organization(id) {
        return Err(UpdateError::NotFound);
    }
    let caller = caller.clone();
    conn.transaction::<_, UpdateError, _>(async move |conn| {
        let current: Organization = organizations::table
            .find(id)
            .select(Organization::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
            .map_err(DbError::from)?
            .ok_or(UpdateError::NotFound)?;
        let kind = current.kind();
        for field in patch.fields() {
            may_change(&caller, id, kind, field)?;
            if field.sites_only() && kind != OrgKind::Site {
                return Err(UpdateError::OnlyForSites { field });
            }
        }
        let next = apply(&current, &patch);
        check_bank_details(&next)?;
        let (before, after) = differences(&current, &next);
        if before.is_empty() {
            return Ok(current);
        }
        let updated = diesel::update(organizations::table.find(id))
            .set((
                organizations::name.eq(&next.name),
                organizations::email.eq(&next.email),
                organizations::postcode.eq(&next.postcode),
                organizations::city.eq(&next.city),
                organizations::address.eq(&next.address),
                organizations::siret.eq(&next.siret),
                organizations::latitude.eq(next.latitude),
                organizations::longitude.eq(next.longitude),
                organizations::phone.eq(&next.phone),
                organizations::website.eq(&next.website),
                organizations::opening_hours.eq(&next.opening_hours),
                organizations::accessibility.eq(&next.accessibility),
                organizations::iban.eq(&next.iban),
                organizations::bic.eq(&next.bic),
            ))
            .returning(Organization::as_returning())
            .get_result(conn)
            .await
            .map_err(DbError::from)?;
        audit::record(
            conn,
            Change {
                actor: Actor::from(&caller),
                organization_id: Some(id),
                entity: Entity::Organization,
                entity_id: id,
                action: "organization.updated",
                before: Some(Value::Object(before)),
                after: Some(Value::Object(after)),
                reason: None,
            },
        )
        .await?;
        Ok(updated)
    })
    .await
}

/// The organisation once `patch` is applied (nothing written).
fn apply(current: &Organization, patch: &OrganizationPatch) -> Organization {
    let mut next = current.clone();
    if let Some(name) = &patch.name {
        next.name = name.clone();
    }
    if let Some(email) = &patch.email {
        next.email = email.as_str().to_string();
    }
    if let Some(postcode) = &patch.postcode {
        next.postcode = postcode.as_str().to_string();
    }
    if let Some(city) = &patch.city {
        next.city = city.clone();
    }
    if let Some(address) = &patch.address {
        next.address = address.clone();
    }
    if let Some(siret) = &patch.siret {
        next.siret = siret.as_ref().map(|s| s.as_str().to_string());
    }
    if let Some(position) = &patch.coordinates {
        next.latitude = position.map(|c| c.latitude);
        next.longitude = position.map(|c| c.longitude);
    }
    if let Some(phone) = &patch.phone {
        next.phone = phone.as_ref().map(|p| p.as_str().to_string());
    }
    if let Some(website) = &patch.website {
        next.website = website.as_ref().map(|w| w.as_str().to_string());
    }
    if let Some(hours) = &patch.opening_hours {
        next.opening_hours = hours.clone();
    }
    if let Some(accessibility) = &patch.accessibility {
        next.accessibility = accessibility.clone();
    }
    if let Some(iban) = &patch.iban {
        next.iban = iban.as_ref().map(|i| i.as_str().to_string());
    }
    if let Some(bic) = &patch.bic {
        next.bic = bic.as_ref().map(|b| b.as_str().to_string());
    }
    next
}

/// A BIC and an IBAN both given must be of one country (a BIC alone, or an IBAN
/// alone, is accepted: the other may follow).
fn check_bank_details(org: &Organization) -> Result<(), UpdateError> {
    let (Some(iban), Some(bic)) = (org.iban.as_deref(), org.bic.as_deref()) else {
        return Ok(());
    };
    let field = "bic";
    let iban = Iban::parse("iban", iban).map_err(UpdateError::BicMismatch)?;
    let bic = Bic::parse(field, bic).map_err(UpdateError::BicMismatch)?;
    bic.check_matches(field, &iban)
        .map_err(UpdateError::BicMismatch)
}

/// The fields that differ, before and after, as the audit entry keeps them.
fn differences(old: &Organization, new: &Organization) -> (Map<String, Value>, Map<String, Value>) {
    let mut before = Map::new();
    let mut after = Map::new();
    let mut note = |name: &str, was: Value, is: Value| {
        if was != is {
            before.insert(name.to_string(), was);
            after.insert(name.to_string(), is);
        }
    };
    note("name", json!(old.name), json!(new.name));
    note("email", json!(old.email), json!(new.email));
    note("postcode", json!(old.postcode), json!(new.postcode));
    note("city", json!(old.city), json!(new.city));
    note("address", json!(old.address), json!(new.address));
    note("siret", json!(old.siret), json!(new.siret));
    note("latitude", json!(old.latitude), json!(new.latitude));
    note("longitude", json!(old.longitude), json!(new.longitude));
    note("phone", json!(old.phone), json!(new.phone));
    note("website", json!(old.website), json!(new.website));
    note(
        "opening_hours",
        json!(old.opening_hours),
        json!(new.opening_hours),
    );
    note(
        "accessibility",
        json!(old.accessibility),
        json!(new.accessibility),
    );
    note(
        "iban",
        json!(old.iban.as_deref().map(iban_in_trail)),
        json!(new.iban.as_deref().map(iban_in_trail)),
    );
    note("bic", json!(old.bic), json!(new.bic));
    if old.iban != new.iban && before.get("iban") == after.get("iban") {
        // Two accounts ending alike: the entry still says the account changed.
        after.insert("iban".to_string(), json!("modifié"));
    }
    (before, after)
}

/// An IBAN as the trail keeps it: its last four characters only (`…0189`).
fn iban_in_trail(iban: &str) -> String {
    format!("…{}", &iban[iban.len().saturating_sub(4)..])
}

/// Whether `caller` sees the IBAN and BIC of the organisation `id` whole: the operator's
/// admins and the organisation's own admins; everyone else sees it masked.
pub fn may_see_iban(caller: &Caller, id: Uuid) -> bool {
    caller.role == Role::Admin && (caller.is_operator() || caller.organization_id == id)
}
