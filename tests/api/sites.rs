//! A site's year: correcting an organisation (`PATCH /organizations/{id}`, the
//! site's public entry and IBAN, who may do what, one audit entry per change) and the
//! site's history month by month against its settled statement.

use chrono::{Datelike, Days, Months};
use diesel::QueryableByName;
use diesel::sql_types::{Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Actor, TestApp};
use crate::settlements::{backdate, redeem};

const IBAN: &str = "fr76 3000 6000 0112 3456 7890 189";
const IBAN_STORED: &str = "FR7630006000011234567890189";

#[derive(QueryableByName, Debug)]
struct EntryRow {
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_user_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    before: Option<Value>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    after: Option<Value>,
}

/// The audit entries of corrections to the organisation `entity` (its label and users
/// have entries of their own).
async fn entries(app: &TestApp, entity: &str) -> Vec<EntryRow> {
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "SELECT action, actor_user_id, before, after FROM audit_entries WHERE entity_id = '{entity}' AND entity_kind = 'organization' ORDER BY seq"
    ))
    .load(&mut conn)
    .await
    .unwrap()
}

/// A labelled site, its admin and its agent.
async fn site(app: &TestApp) -> (String, Actor, Actor) {
    let agent = app.labelled_site_agent(json!({})).await;
    let id = agent.org_id.to_string();
    let admin = app.user_in(&id, "admin").await;
    (id, admin, agent)
}

async fn patch(app: &TestApp, who: &Actor, id: &str, body: Value) -> crate::helpers::Response {
    app.patch(&format!("/api/v1/organizations/{id}"), &who.token, body)
        .await
}

#[tokio::test]
async fn a_site_admin_keeps_its_public_entry_and_iban_with_one_audit_entry_per_change() {
    let app = TestApp::spawn().await;
    let (id, admin, agent) = site(&app).await;
    let res = patch(
        &app,
        &admin,
        &id,
        json!({
            "phone": "03 84 75 12 34",
            "website": "mediatheque.vesoul.fr",
            "opening_hours": "Mardi 14 h – 18 h\r\nSamedi 9 h – 12 h",
            "accessibility": "Accès de plain-pied",
            "iban": IBAN,
        }),
    )
    .await;
    let body = res.ok(200);
    assert_eq!(body["phone"], "0384751234");
    assert_eq!(body["website"], "https://mediatheque.vesoul.fr");
    assert_eq!(
        body["opening_hours"],
        "Mardi 14 h – 18 h\nSamedi 9 h – 12 h"
    );
    assert_eq!(body["accessibility"], "Accès de plain-pied");
    assert_eq!(body["iban"], IBAN_STORED, "the site's admin sees it whole");
    assert!(body["label"]["active"].as_bool().unwrap());

    let written = entries(&app, &id).await;
    assert_eq!(written.len(), 1, "one entry per PATCH");
    let entry = &written[0];
    assert_eq!(entry.action, "organization.updated");
    assert_eq!(entry.actor_user_id, Some(admin.user_id));
    assert_eq!(
        entry.before,
        Some(
            json!({"phone": null, "website": null, "opening_hours": null, "accessibility": null, "iban": null})
        )
    );
    let after = entry.after.clone().unwrap();
    assert_eq!(after["iban"], "…0189", "the trail keeps the last four only");
    assert_eq!(after["phone"], "0384751234");
    assert!(!after.to_string().contains("30006000"), "{after}");

    // Who sees the IBAN whole: the site's admins and the operator's admins.
    let masked = "FR76 …0189";
    let path = format!("/api/v1/organizations/{id}");
    assert_eq!(app.get(&path, &agent.token).await.ok(200)["iban"], masked);
    let op_agent = app
        .user_in(&app.operator().await.org_id.to_string(), "agent")
        .await;
    assert_eq!(
        app.get(&path, &op_agent.token).await.ok(200)["iban"],
        masked
    );
    let operator = app.operator().await;
    assert_eq!(
        app.get(&path, &operator.token).await.ok(200)["iban"],
        IBAN_STORED
    );

    // The same values again change nothing and write nothing.
    patch(
        &app,
        &admin,
        &id,
        json!({"phone": "0384751234", "iban": IBAN_STORED}),
    )
    .await
    .ok(200);
    assert_eq!(entries(&app, &id).await.len(), 1);

    // Cleared with null or a blank; the entry says what was there.
    let cleared = patch(
        &app,
        &admin,
        &id,
        json!({"website": null, "accessibility": " "}),
    )
    .await;
    assert!(cleared.ok(200)["website"].is_null());
    assert!(cleared.body["accessibility"].is_null());
    let written = entries(&app, &id).await;
    assert_eq!(written.len(), 2);
    assert_eq!(
        written[1].before,
        Some(
            json!({"website": "https://mediatheque.vesoul.fr", "accessibility": "Accès de plain-pied"})
        )
    );
    assert_eq!(
        written[1].after,
        Some(json!({"website": null, "accessibility": null}))
    );
}

#[tokio::test]
async fn refusals_name_the_field_in_french_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (id, admin, agent) = site(&app).await;
    let before = app
        .get(&format!("/api/v1/organizations/{id}"), &admin.token)
        .await
        .ok(200)
        .clone();

    // A wrong checksum, with a valid field beside it: nothing is written.
    let res = patch(
        &app,
        &admin,
        &id,
        json!({"phone": "0384751234", "iban": "FR76 3000 6000 0112 3456 7890 188"}),
    )
    .await;
    let problem = res.problem(422, "validation_failed");
    assert_eq!(problem["field"], "iban");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("clé de contrôle"),
        "{problem}"
    );
    let short = patch(&app, &admin, &id, json!({"iban": "FR76 3000 6000 0112"})).await;
    assert!(
        short.problem(422, "validation_failed")["detail"]
            .as_str()
            .unwrap()
            .contains("27 caractères")
    );
    let phone = patch(&app, &admin, &id, json!({"phone": "12 34"})).await;
    assert_eq!(phone.problem(422, "validation_failed")["field"], "phone");
    let hours = patch(&app, &admin, &id, json!({"opening_hours": "x".repeat(501)})).await;
    assert_eq!(
        hours.problem(422, "validation_failed")["field"],
        "opening_hours"
    );
    patch(&app, &admin, &id, json!({}))
        .await
        .problem(422, "validation_failed");
    patch(&app, &admin, &id, json!({"color": "red"}))
        .await
        .problem(422, "validation_failed");

    // A site's admin corrects its entry, not its identity: the operator does.
    let name = patch(&app, &admin, &id, json!({"name": "Autre nom"})).await;
    let problem = name.problem(403, "forbidden");
    assert_eq!(problem["field"], "name");
    assert!(problem["detail"].as_str().unwrap().contains("opérateur"));
    // An agent of the site, the admin of another site, a funder's admin.
    patch(&app, &agent, &id, json!({"phone": "0384751234"}))
        .await
        .problem(403, "forbidden");
    let (_, other_admin, _) = site(&app).await;
    patch(&app, &other_admin, &id, json!({"phone": "0384751234"}))
        .await
        .problem(404, "not_found");
    let funder = app.member_of_new("funder", "admin").await;
    patch(
        &app,
        &funder,
        &funder.org_id.to_string(),
        json!({"address": "2 rue Neuve"}),
    )
    .await
    .problem(403, "forbidden");
    // The operator's agents correct organisations, but the IBAN is for admins.
    let op_agent = app
        .user_in(&app.operator().await.org_id.to_string(), "agent")
        .await;
    let iban = patch(&app, &op_agent, &id, json!({"iban": IBAN})).await;
    assert_eq!(iban.problem(403, "forbidden")["field"], "iban");
    // A site's field for a funder.
    let operator = app.operator().await;
    let wrong_kind = patch(
        &app,
        &operator,
        &funder.org_id.to_string(),
        json!({"phone": "0384751234"}),
    )
    .await;
    assert_eq!(
        wrong_kind.problem(422, "validation_failed")["field"],
        "phone"
    );
    // Nothing changed, nothing written.
    let after = app
        .get(&format!("/api/v1/organizations/{id}"), &admin.token)
        .await
        .ok(200)
        .clone();
    assert_eq!(before, after);
    assert!(entries(&app, &id).await.is_empty());
    assert!(entries(&app, &funder.org_id.to_string()).await.is_empty());
    // Unknown organisation.
    patch(
        &app,
        &operator,
        &Uuid::now_v7().to_string(),
        json!({"city": "Vesoul"}),
    )
    .await
    .problem(404, "not_found");
}

#[tokio::test]
async fn the_operator_corrects_an_address_and_position_and_clears_them() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let op_agent = app.user_in(&operator.org_id.to_string(), "agent").await;
    let prescriber = app
        .organization("prescriber", json!({"address": "1 rue de la Gare"}))
        .await;
    let id = prescriber["id"].as_str().unwrap();
    let res = patch(
        &app,
        &op_agent,
        id,
        json!({"address": "12 place du Marché", "postcode": "70100", "city": "Gray", "latitude": 47.44, "longitude": 5.59}),
    )
    .await;
    let body = res.ok(200);
    assert_eq!(body["address"], "12 place du Marché");
    assert_eq!(body["postcode"], "70100");
    assert_eq!(body["latitude"], 47.44);
    let bad = patch(&app, &operator, id, json!({"postcode": "7010"})).await;
    assert_eq!(bad.problem(422, "validation_failed")["field"], "postcode");
    let half = patch(&app, &operator, id, json!({"latitude": 47.0})).await;
    assert_eq!(half.problem(422, "validation_failed")["field"], "longitude");
    let cleared = patch(
        &app,
        &operator,
        id,
        json!({"latitude": null, "longitude": null, "address": null}),
    )
    .await;
    assert!(cleared.ok(200)["latitude"].is_null());
    assert!(cleared.body["address"].is_null());
    let written = entries(&app, id).await;
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].actor_user_id, Some(op_agent.user_id));
    assert_eq!(
        written[0].before,
        Some(
            json!({"address": "1 rue de la Gare", "postcode": "70000", "city": "Vesoul", "latitude": null, "longitude": null})
        )
    );
    assert_eq!(
        written[1].after,
        Some(json!({"address": null, "latitude": null, "longitude": null}))
    );
}

#[tokio::test]
async fn the_history_of_a_settled_month_matches_its_statement_to_the_cent() {
    let app = TestApp::spawn().await;
    let operator = app.operator().await;
    let (program, funders) = app
        .program(&["0.60", "0.40"], json!({"commission_rate": "0.035"}))
        .await;
    app.pay(&program, &funders[0], "6000.00").await.ok(201);
    app.pay(&program, &funders[1], "4000.00").await.ok(201);
    let prescriber = app.member_of_new("prescriber", "agent").await;
    app.allocate(&program, &prescriber.org_id.to_string(), 2)
        .await
        .ok(201);
    let book = app
        .issue(&prescriber, &program, Some(json!({"reference": "HIST-1"})))
        .await;
    let tickets = book.ok(201)["tickets"].as_array().unwrap().clone();
    let (site_id, admin, agent) = site(&app).await;

    // Three tickets last month (one of them undone), then settled by month.
    for ticket in &tickets[..3] {
        redeem(&app, &agent, ticket).await;
    }
    let listed = app.get("/api/v1/redemptions", &agent.token).await;
    let undo = listed.ok(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/redemptions/{undo}/reverse"),
        &agent.token,
        json!({}),
    )
    .await
    .ok(200);
    let today = passnum::domain::french_date(chrono::Utc::now());
    let this_month = today.with_day(1).unwrap();
    let last_month = this_month - Months::new(1);
    let day = last_month + Days::new(14);
    backdate(&app, day).await;
    let settled = app
        .post(
            "/api/v1/settlements",
            &operator.token,
            json!({"period_start": last_month, "period_end": this_month - Days::new(1)}),
        )
        .await;
    settled.ok(201);
    // Two more this month: not settled yet.
    for ticket in &tickets[3..5] {
        redeem(&app, &agent, ticket).await;
    }

    let statements = app
        .get(
            &format!("/api/v1/statements?organization_id={site_id}"),
            &admin.token,
        )
        .await;
    let statement = statements.ok(200)["items"][0].clone();
    assert_eq!(statement["kind"], "site_payout");

    let history = app
        .get(&format!("/api/v1/sites/{site_id}/history"), &agent.token)
        .await;
    let body = history.ok(200);
    let months = body["months"].as_array().unwrap();
    assert_eq!(months.len(), 2, "{body}");
    let current = &months[0];
    assert_eq!(current["month"], this_month.format("%Y-%m").to_string());
    assert_eq!(current["status"], "pending");
    assert_eq!(current["tickets"], 2);
    assert_eq!(current["face_value"], "20.00");
    // 10.00 − 3.5 % commission (0.35) each.
    assert_eq!(current["amount_payable"], "19.30");
    assert!(current["statement"].is_null());
    assert_eq!(body["pending_total"], "19.30");

    let past = &months[1];
    assert_eq!(past["month"], last_month.format("%Y-%m").to_string());
    assert_eq!(past["status"], "settled");
    assert_eq!(past["tickets"], 2);
    assert_eq!(past["reversed"], 1);
    assert_eq!(past["statement"]["id"], statement["id"]);
    assert_eq!(past["statement"]["number"], statement["number"]);
    assert_eq!(
        past["amount_payable"], statement["total"],
        "the month adds up to its statement"
    );
    assert_eq!(past["amount_payable"], "19.30");
    assert_eq!(past["period_start"], json!(last_month));

    // The payout statement names the account recorded when it was settled: none
    // here, even once the site gives one (tests/api/payouts.rs has one named).
    patch(&app, &admin, &site_id, json!({"iban": IBAN}))
        .await
        .ok(200);
    let text = crate::settlements::pdf(&app, &admin.token, &statement).await;
    assert!(!text.contains("Virement sur le compte"), "{text}");
    assert!(!text.contains("30006000"), "the account is masked on paper");

    // The operator reads it; other organisations do not.
    app.get(&format!("/api/v1/sites/{site_id}/history"), &operator.token)
        .await
        .ok(200);
    let (_, other_admin, _) = site(&app).await;
    app.get(
        &format!("/api/v1/sites/{site_id}/history"),
        &other_admin.token,
    )
    .await
    .problem(404, "not_found");
    app.get(
        &format!("/api/v1/sites/{}/history", prescriber.org_id),
        &prescriber.token,
    )
    .await
    .problem(404, "not_found");
    app.assert_ledger_invariants().await;
}
