//! `passnum demo`: a believable territory (Haute-Saône) in an empty database, so that
//! the service can be tried at once. Every account has the same public password.

use std::fmt;

use chrono::{Datelike, Months, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::auth::{Caller, hash_password};
use crate::checkbooks::{self, Beneficiary, IssueOrder, Situation};
use crate::domain::{
    Coordinates, Email, LabelPeriod, OrgKind, Password, Postcode, PostcodePrefix, Role, Siret,
    french_date,
};
use crate::error::ApiError;
use crate::money::{Money, Rate, Share};
use crate::organizations::{self, NewOrganization, NewUser};
use crate::programs::{self, NewProgram, Validity};
use crate::schema::organizations as organizations_table;

/// Who the demo's changes are recorded as in the audit trail.
const DEMO: crate::audit::Actor = crate::audit::Actor::Service("passnum demo");

pub const DEMO_PASSWORD: &str = "demo-pass-numerique";

/// What the demo created, printed for the person who ran it.
pub struct DemoReport {
    pub already_filled: bool,
    pub accounts: Vec<(String, String, String)>,
    pub program: Option<String>,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.already_filled {
            return writeln!(
                f,
                "The database already holds organisations: the demo was not loaded again."
            );
        }
        writeln!(
            f,
            "Demo territory loaded (Haute-Saône). Every account's password: {DEMO_PASSWORD}"
        )?;
        writeln!(f, "{:<42} {:<12} organisation", "e-mail", "kind")?;
        for (email, kind, org) in &self.accounts {
            writeln!(f, "{email:<42} {kind:<12} {org}")?;
        }
        if let Some(program) = &self.program {
            writeln!(f, "Program: {program}")?;
        }
        Ok(())
    }
}

struct DemoOrg {
    kind: OrgKind,
    name: &'static str,
    login: &'static str,
    role: Role,
    postcode: &'static str,
    city: &'static str,
    address: &'static str,
    siret: Option<&'static str>,
    position: Option<(f64, f64)>,
}

const fn org(
    kind: OrgKind,
    name: &'static str,
    login: &'static str,
    postcode: &'static str,
    city: &'static str,
    address: &'static str,
    position: Option<(f64, f64)>,
) -> DemoOrg {
    let role = match kind {
        OrgKind::Funder | OrgKind::Operator => Role::Admin,
        _ => Role::Agent,
    };
    DemoOrg {
        kind,
        name,
        login,
        role,
        postcode,
        city,
        address,
        siret: None,
        position,
    }
}

const TERRITORY: &[DemoOrg] = &[
    org(
        OrgKind::Funder,
        "Département de la Haute-Saône",
        "financeur.departement@example.org",
        "70000",
        "Vesoul",
        "23 rue de la Préfecture",
        None,
    ),
    org(
        OrgKind::Funder,
        "Préfecture de la Haute-Saône (État)",
        "financeur.etat@example.org",
        "70000",
        "Vesoul",
        "1 rue de la Préfecture",
        None,
    ),
    org(
        OrgKind::Prescriber,
        "CCAS de Vesoul",
        "agent.ccas-vesoul@example.org",
        "70000",
        "Vesoul",
        "58 rue Paul Morel",
        None,
    ),
    org(
        OrgKind::Prescriber,
        "Mission locale de Lure",
        "agent.mission-locale-lure@example.org",
        "70200",
        "Lure",
        "2 rue de la Font",
        None,
    ),
    org(
        OrgKind::Prescriber,
        "France Travail Gray",
        "agent.france-travail-gray@example.org",
        "70100",
        "Gray",
        "7 avenue Carnot",
        None,
    ),
    org(
        OrgKind::Site,
        "Médiathèque de Vesoul",
        "mediateur.vesoul@example.org",
        "70000",
        "Vesoul",
        "Place du Grand Puits",
        Some((47.6226, 6.1557)),
    ),
    org(
        OrgKind::Site,
        "Espace France Services de Lure",
        "mediateur.lure@example.org",
        "70200",
        "Lure",
        "25 avenue de la République",
        Some((47.6836, 6.4969)),
    ),
    org(
        OrgKind::Site,
        "Tiers-lieu numérique de Gray",
        "mediateur.gray@example.org",
        "70100",
        "Gray",
        "12 quai Mavia",
        Some((47.4448, 5.5920)),
    ),
    org(
        OrgKind::Site,
        "Centre social de Luxeuil-les-Bains",
        "mediateur.luxeuil@example.org",
        "70300",
        "Luxeuil-les-Bains",
        "6 rue Victor Genoux",
        Some((47.8172, 6.3818)),
    ),
    org(
        OrgKind::Site,
        "Atelier numérique d’Héricourt",
        "mediateur.hericourt@example.org",
        "70400",
        "Héricourt",
        "3 rue du Général de Gaulle",
        Some((47.5780, 6.7620)),
    ),
];

const OPERATOR_LOGIN: &str = "operateur@example.org";

/// Loads the demo unless the database already holds organisations.
pub async fn fill(conn: &mut AsyncPgConnection) -> anyhow::Result<DemoReport> {
    let hash = hash_password(DEMO_PASSWORD)?;
    let password = Password::parse("password", DEMO_PASSWORD).map_err(|e| anyhow::anyhow!(e))?;
    let report = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            let existing: i64 = organizations_table::table.count().get_result(conn).await?;
            if existing > 0 {
                return Ok(DemoReport {
                    already_filled: true,
                    accounts: vec![],
                    program: None,
                });
            }
            let mut accounts = Vec::new();
            let mut funders = Vec::new();
            let mut prescribers = Vec::new();
            let operator_email = Email::parse("email", OPERATOR_LOGIN)?;
            let (operator, _) =
                organizations::bootstrap_operator(conn, operator_email, &password).await?;
            // The operator's organisation where the demonstration identity (the one
            // printed on the documents when none is configured) says it is.
            let demo_identity = crate::operator_identity::OperatorIdentity::demonstration();
            diesel::update(organizations_table::table.find(operator.id))
                .set((
                    organizations_table::name.eq("Hub numérique de Haute-Saône (opérateur)"),
                    organizations_table::address.eq(Some(demo_identity.address.clone())),
                    organizations_table::postcode.eq(demo_identity.postcode.clone()),
                    organizations_table::city.eq(demo_identity.city.clone()),
                ))
                .execute(conn)
                .await?;
            accounts.push((
                OPERATOR_LOGIN.to_string(),
                "operator".into(),
                "Hub numérique de Haute-Saône".into(),
            ));
            let today = french_date(Utc::now());
            let label_start = today.with_day(1).unwrap_or(today);
            let label_end = label_start
                .checked_add_months(Months::new(36))
                .unwrap_or(today);
            for demo in TERRITORY {
                let new = NewOrganization {
                    kind: demo.kind,
                    name: demo.name.into(),
                    email: Email::parse("email", demo.login)?,
                    postcode: Postcode::parse("postcode", demo.postcode)?,
                    city: demo.city.into(),
                    address: Some(demo.address.into()),
                    siret: demo.siret.map(|s| Siret::parse("siret", s)).transpose()?,
                    coordinates: demo
                        .position
                        .map(|(lat, lon)| Coordinates::new(lat, lon))
                        .transpose()?,
                };
                let created = organizations::create_organization(conn, &new).await?;
                let user = organizations::create_user(
                    conn,
                    DEMO,
                    &NewUser {
                        organization_id: created.id,
                        email: new.email.clone(),
                        password_hash: Some(hash.clone()),
                        role: demo.role,
                    },
                )
                .await?;
                match demo.kind {
                    OrgKind::Funder => funders.push(created.id),
                    OrgKind::Prescriber => prescribers.push((created.id, user.id)),
                    _ => {}
                }
                if demo.kind == OrgKind::Site {
                    organizations::grant_label(
                        conn,
                        DEMO,
                        created.id,
                        LabelPeriod::new(label_start, label_end)?,
                    )
                    .await?;
                }
                accounts.push((
                    demo.login.to_string(),
                    demo.kind.as_str().to_string(),
                    demo.name.to_string(),
                ));
            }
            let program = demo_program(conn, &funders, &prescribers).await?;
            Ok(DemoReport {
                already_filled: false,
                accounts,
                program: Some(program),
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?;
    Ok(report)
}

/// A program funded 60 % by the département and 40 % by the State, paid in full,
/// with allocations to every prescriber and two checkbooks already issued.
async fn demo_program(
    conn: &mut AsyncPgConnection,
    funders: &[uuid::Uuid],
    prescribers: &[(uuid::Uuid, uuid::Uuid)],
) -> Result<String, ApiError> {
    let shares = ["0.60", "0.40"];
    let budget = Money::parse("budget", "50000.00")?;
    let new = NewProgram {
        name: "Pass Numérique Haute-Saône 2026".into(),
        ticket_value: Money::parse("ticket_value", "10.00")?,
        tickets_per_checkbook: 10,
        validity: Validity::DaysFromIssue(365),
        tolerance_days: 30,
        commission_rate: Rate::parse("commission_rate", "0")?,
        funder_fee_rate: Rate::parse("funder_fee_rate", "0.04")?,
        budget,
        funders: funders
            .iter()
            .zip(shares)
            .map(|(id, share)| Ok((*id, Share::parse("share", share)?)))
            .collect::<Result<_, crate::domain::ValidationError>>()?,
        territory: vec![PostcodePrefix::parse("territory", "70")?],
    };
    let program = programs::create_program(conn, new).await?;
    let today = french_date(Utc::now());
    for (i, (funder, share)) in funders.iter().zip(shares).enumerate() {
        let amount = Money::from_decimal_unchecked(
            budget.decimal() * Share::parse("share", share)?.decimal(),
        );
        programs::record_payment(
            conn,
            DEMO,
            program.id,
            *funder,
            amount,
            format!("VIR-DEMO-{}", i + 1),
            today,
        )
        .await?;
    }
    for (prescriber, _) in prescribers {
        programs::add_allocation(
            conn,
            DEMO,
            program.id,
            *prescriber,
            50,
            programs::OverBudget::Refuse,
        )
        .await?;
    }
    if let Some((prescriber, agent)) = prescribers.first() {
        let caller = Caller {
            user_id: *agent,
            organization_id: *prescriber,
            kind: OrgKind::Prescriber,
            role: Role::Agent,
        };
        let beneficiary = Beneficiary::parse(
            "CCAS-2026-0001",
            None,
            Some(1958),
            Some("70000"),
            Some(Situation::Retired),
            today,
        )?;
        for beneficiary in [Some(beneficiary), None] {
            let order = IssueOrder {
                program: program.id,
                count: 1,
                beneficiary,
                print_run: false,
            };
            checkbooks::issue(conn, &caller, &order).await?;
        }
    }
    Ok(format!(
        "{} (budget 50 000 €, paid, 50 checkbooks allocated to each prescriber)",
        program.name
    ))
}
